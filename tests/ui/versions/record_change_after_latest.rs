//! A record changes in no version after its event type's latest version.
#[derive(strata::Record)]
pub struct Opened {
    pub id: i64,
    #[strata(added(in = 3, default = 0))]
    pub limit: i64,
}

#[derive(strata::Event)]
#[strata(topic = "accounts", version = 2)]
pub enum AccountEvent {
    Opened(Opened),
}

fn main() {}
