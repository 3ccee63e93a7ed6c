//! A topic name is a valid Kafka topic name.
#[derive(strata::Record)]
pub struct Thing {
    pub id: i64,
}

#[derive(strata::Event)]
#[strata(topic = "things and stuff", version = 1)]
pub enum ThingEvent {
    Thing(Thing),
}

fn main() {}
