//! A field has one default.
#[derive(strata::Record)]
pub struct Thing {
    #[strata(added(in = 2, default = 1), default = 2)]
    pub count: i64,
}

fn main() {}
