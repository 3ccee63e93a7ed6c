//! A topic's Avro key is a primitive keys are made of, or a record: not a float.
#[derive(strata::Record)]
pub struct Thing {
    pub id: i64,
}

#[derive(strata::Event)]
#[strata(topic = "things", version = 1, key = f64)]
pub enum ThingEvent {
    Thing(Thing),
}

fn main() {}
