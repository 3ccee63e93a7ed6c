//! `renamed` names the earlier name and the version of the change.
#[derive(strata::Record)]
pub struct Thing {
    #[strata(renamed(in = 2))]
    pub label: String,
}

fn main() {}
