//! A retired variant names the function mapping its record into a current event.
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
#[strata(retired(variant = "Closed", ty = "Closed", in = 2))]
pub enum AccountEvent {
    Opened(Opened),
}

fn main() {}
