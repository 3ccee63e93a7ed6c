//! An event variant carries a type deriving `strata::Record`.
#[derive(strata::Event)]
#[strata(topic = "notes", version = 1)]
pub enum NoteEvent {
    Written(String),
}

fn main() {}
