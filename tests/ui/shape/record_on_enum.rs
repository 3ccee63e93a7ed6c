//! `Record` derives on structs; unit-only enums derive `Enum`.
#[derive(strata::Record)]
pub enum Colour {
    Red,
    Green,
}

fn main() {}
