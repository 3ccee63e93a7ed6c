//! A declared break names a version from 2 to the latest and says why.
#[derive(strata::Record)]
pub struct Opened {
    pub id: i64,
}

#[derive(strata::Event)]
#[strata(topic = "accounts", version = 2)]
#[strata(breaks(in = 3, reason = "too late"))]
pub enum AccountEvent {
    Opened(Opened),
}

fn main() {}
