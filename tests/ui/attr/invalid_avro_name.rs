//! Earlier names are valid Avro names.
#[derive(strata::Record)]
pub struct Thing {
    #[strata(renamed(from = "first-name", in = 2))]
    pub first_name: String,
}

fn main() {}
