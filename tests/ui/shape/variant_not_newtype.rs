//! Each variant of an event type carries exactly one record.
#[derive(strata::Record)]
pub struct Opened {
    pub id: i64,
}

#[derive(strata::Event)]
#[strata(topic = "accounts", version = 1)]
pub enum AccountEvent {
    Opened(Opened),
    Closed,
}

fn main() {}
