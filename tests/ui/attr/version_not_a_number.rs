//! A version is a positive whole number.
#[derive(strata::Record)]
pub struct Thing {
    #[strata(added(in = 2.5, default = 0))]
    pub count: i64,
}

fn main() {}
