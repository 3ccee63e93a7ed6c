//! `key` names the topic's Avro key type, not a string.
#[derive(strata::Record)]
pub struct Thing {
    pub id: i64,
}

#[derive(strata::Event)]
#[strata(topic = "things", version = 1, key = "String")]
pub enum ThingEvent {
    Thing(Thing),
}

fn main() {}
