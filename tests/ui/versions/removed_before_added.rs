//! A removed field is removed after the version that added it.
#[derive(strata::Record)]
#[strata(removed(field = "note", ty = "String", added = 3, in = 2, discard))]
pub struct Thing {
    pub id: i64,
}

fn main() {}
