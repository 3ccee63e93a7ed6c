//! `ty` and `from` name Rust types.
#[derive(strata::Record)]
#[strata(removed(field = "note", ty = "not a type", in = 2, discard))]
pub struct Thing {
    pub id: i64,
}

fn main() {}
