//! A record's schema is one fixed type, so records are not generic.
#[derive(strata::Record)]
pub struct Wrapper<T> {
    pub value: T,
}

fn main() {}
