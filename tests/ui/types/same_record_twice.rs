//! A union holds each record once.
#[derive(strata::Record)]
pub struct Moved {
    pub to: String,
}

#[derive(strata::Event)]
#[strata(topic = "parcels", version = 1)]
pub enum ParcelEvent {
    Sent(Moved),
    Returned(Moved),
}

fn main() {}
