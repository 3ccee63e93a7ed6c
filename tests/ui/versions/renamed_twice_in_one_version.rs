//! A field is renamed at most once per version.
#[derive(strata::Record)]
pub struct Thing {
    #[strata(renamed(from = "name", in = 2), renamed(from = "title", in = 2))]
    pub label: String,
}

fn main() {}
