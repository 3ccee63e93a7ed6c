//! An unknown `rename_all` rule is named, with the rules there are.
#[derive(strata::Record)]
#[serde(rename_all = "camel")]
pub struct Payment {
    pub account_id: i64,
}

fn main() {}
