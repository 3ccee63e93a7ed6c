//! A removed field's name is a valid field name.
#[derive(strata::Record)]
#[strata(removed(field = "not valid", ty = "String", in = 2, discard))]
pub struct Thing {
    pub id: i64,
}

fn main() {}
