//! A variant is retired in a version no later than the latest one.
use strata::UpcastError;

#[derive(strata::Record)]
pub struct Opened {
    pub id: i64,
}

#[derive(strata::Record)]
pub struct Suspended {
    pub id: i64,
}

fn suspended_into_opened(s: Suspended) -> Result<AccountEvent, UpcastError> {
    Ok(AccountEvent::Opened(Opened { id: s.id }))
}

#[derive(strata::Event)]
#[strata(topic = "accounts", version = 2)]
#[strata(retired(variant = "Suspended", ty = "Suspended", in = 3, upgrade = "suspended_into_opened"))]
pub enum AccountEvent {
    Opened(Opened),
}

fn main() {}
