//! A retype that is not an Avro promotion names an upgrade function.
#[derive(strata::Record)]
pub struct Reading {
    #[strata(changed(in = 2, from = "String"))]
    pub celsius: f64,
}

fn main() {}
