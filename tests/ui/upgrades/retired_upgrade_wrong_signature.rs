//! A retired variant's upgrade function with the wrong signature is reported at the attribute.
#[derive(strata::Record)]
pub struct Opened {
    pub id: i64,
}

#[derive(strata::Record)]
pub struct Closed {
    pub id: i64,
}

fn closed_into_opened(closed: Closed) -> Opened {
    Opened { id: closed.id }
}

#[derive(strata::Event)]
#[strata(topic = "accounts", version = 2)]
#[strata(retired(variant = "Closed", ty = "Closed", in = 2, upgrade = "closed_into_opened"))]
pub enum AccountEvent {
    Opened(Opened),
}

fn main() {}
