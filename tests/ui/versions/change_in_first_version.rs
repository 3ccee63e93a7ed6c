//! A rename takes effect after the field's first version.
#[derive(strata::Record)]
pub struct Thing {
    #[strata(renamed(from = "name", in = 1))]
    pub label: String,
}

fn main() {}
