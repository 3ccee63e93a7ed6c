//! An event type is an enum of the aggregate's events.
#[derive(strata::Event)]
#[strata(topic = "accounts", version = 1)]
pub struct AccountEvent {
    pub id: i64,
}

fn main() {}
