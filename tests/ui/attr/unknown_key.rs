//! An unknown key is named, with the keys that are allowed there.
#[derive(strata::Record)]
pub struct Thing {
    #[strata(renamd(from = "name", in = 2))]
    pub label: String,
}

fn main() {}
