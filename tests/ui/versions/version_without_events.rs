//! Every version of an event type has at least one event.
#[derive(strata::Record)]
pub struct Opened {
    pub id: i64,
}

#[derive(strata::Event)]
#[strata(topic = "accounts", version = 2)]
pub enum AccountEvent {
    #[strata(added = 2)]
    Opened(Opened),
}

fn main() {}
