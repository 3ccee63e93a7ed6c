//! Versions are numbered from 1, like a Schema Registry subject's.
#[derive(strata::Record)]
pub struct Thing {
    pub id: i64,
}

#[derive(strata::Event)]
#[strata(topic = "things", version = 0)]
pub enum ThingEvent {
    Thing(Thing),
}

fn main() {}
