//! A field added after version 1 says what older data gets: a default or an upgrade function.
#[derive(strata::Record)]
pub struct Thing {
    pub id: i64,
    #[strata(added(in = 2))]
    pub currency: String,
}

fn main() {}
