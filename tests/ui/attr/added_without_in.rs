//! `added` says in which version the field appeared.
#[derive(strata::Record)]
pub struct Thing {
    #[strata(added(default = 0))]
    pub count: i64,
}

fn main() {}
