//! `after` names a field of the record.
#[derive(strata::Record)]
#[strata(removed(field = "note", ty = "String", in = 2, after = "nmae", discard))]
pub struct Thing {
    pub name: String,
}

fn main() {}
