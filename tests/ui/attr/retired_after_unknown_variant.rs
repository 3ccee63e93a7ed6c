//! `after` names a variant of the event type.
use strata::UpcastError;

#[derive(strata::Record)]
pub struct Opened {
    pub id: i64,
}

#[derive(strata::Record)]
pub struct Closed {
    pub id: i64,
}

fn closed_into_opened(c: Closed) -> Result<AccountEvent, UpcastError> {
    Ok(AccountEvent::Opened(Opened { id: c.id }))
}

#[derive(strata::Event)]
#[strata(topic = "accounts", version = 2)]
#[strata(retired(variant = "Closed", ty = "Closed", in = 2, after = "Opend", upgrade = "closed_into_opened"))]
pub enum AccountEvent {
    Opened(Opened),
}

fn main() {}
