//! A variant is added in a version no later than the latest one.
#[derive(strata::Record)]
pub struct Opened {
    pub id: i64,
}

#[derive(strata::Record)]
pub struct Closed {
    pub id: i64,
}

#[derive(strata::Event)]
#[strata(topic = "accounts", version = 2)]
pub enum AccountEvent {
    Opened(Opened),
    #[strata(added = 3)]
    Closed(Closed),
}

fn main() {}
