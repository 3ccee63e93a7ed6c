//! A retired variant's name is not a live variant's.
use strata::UpcastError;

#[derive(strata::Record)]
pub struct Opened {
    pub id: i64,
}

#[derive(strata::Record)]
pub struct OldOpened {
    pub id: i64,
}

fn old_into_new(o: OldOpened) -> Result<AccountEvent, UpcastError> {
    Ok(AccountEvent::Opened(Opened { id: o.id }))
}

#[derive(strata::Event)]
#[strata(topic = "accounts", version = 2)]
#[strata(retired(variant = "Opened", ty = "OldOpened", in = 2, upgrade = "old_into_new"))]
pub enum AccountEvent {
    #[strata(added = 2)]
    Opened(Opened),
}

fn main() {}
