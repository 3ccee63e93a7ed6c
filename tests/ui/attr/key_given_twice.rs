//! A key may be given once.
#[derive(strata::Record)]
pub struct Thing {
    pub id: i64,
}

#[derive(strata::Event)]
#[strata(topic = "things", topic = "stuff", version = 1)]
pub enum ThingEvent {
    Thing(Thing),
}

fn main() {}
