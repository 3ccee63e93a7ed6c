//! A removed field's name is not used by a live field while both exist.
#[derive(strata::Record)]
#[strata(removed(field = "label", ty = "String", in = 3, discard))]
pub struct Thing {
    #[strata(added(in = 2, default = 0))]
    pub label: i64,
}

fn main() {}
