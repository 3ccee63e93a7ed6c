//! An upgrade function is named by its path.
#[derive(strata::Record)]
pub struct Thing {
    #[strata(added(in = 2, upgrade = "label from v1"))]
    pub label: String,
}

fn main() {}
