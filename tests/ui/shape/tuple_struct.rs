//! An Avro record's fields have names.
#[derive(strata::Record)]
pub struct Point(pub i32, pub i32);

fn main() {}
