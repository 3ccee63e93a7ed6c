//! An Avro enum has at most one default symbol.
#[derive(strata::Enum)]
pub enum Colour {
    #[strata(default)]
    Unknown,
    #[strata(default)]
    Red,
}

fn main() {}
