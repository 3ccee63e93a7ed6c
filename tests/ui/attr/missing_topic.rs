//! An event type names its topic and its latest version.
#[derive(strata::Record)]
pub struct Thing {
    pub id: i64,
}

#[derive(strata::Event)]
#[strata(namespace = "com.example")]
pub enum ThingEvent {
    Thing(Thing),
}

fn main() {}
