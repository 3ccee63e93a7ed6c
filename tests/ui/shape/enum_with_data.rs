//! An Avro enum's symbols carry no data.
#[derive(strata::Enum)]
pub enum Shape {
    Circle,
    Square(u32),
}

fn main() {}
