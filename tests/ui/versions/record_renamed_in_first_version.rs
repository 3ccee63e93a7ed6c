//! A record rename takes effect in version 2 or later.
#[derive(strata::Record)]
#[strata(renamed(from = "Old", in = 1))]
pub struct Thing {
    pub id: i64,
}

fn main() {}
