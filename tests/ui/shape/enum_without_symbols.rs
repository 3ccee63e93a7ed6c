//! An Avro enum has at least one symbol.
#[derive(strata::Enum)]
pub enum Nothing {}

fn main() {}
