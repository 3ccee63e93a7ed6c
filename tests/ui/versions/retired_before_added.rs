//! A variant is retired after the version that added it.
use strata::UpcastError;

#[derive(strata::Record)]
pub struct Opened {
    pub id: i64,
}

#[derive(strata::Record)]
pub struct Paused {
    pub id: i64,
}

fn paused_into_opened(p: Paused) -> Result<AccountEvent, UpcastError> {
    Ok(AccountEvent::Opened(Opened { id: p.id }))
}

#[derive(strata::Event)]
#[strata(topic = "accounts", version = 3)]
#[strata(retired(variant = "Paused", ty = "Paused", added = 3, in = 2, upgrade = "paused_into_opened"))]
pub enum AccountEvent {
    Opened(Opened),
}

fn main() {}
