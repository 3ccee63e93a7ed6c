//! A serde name that is not a valid Avro name is reported.
#[derive(strata::Record)]
#[serde(rename_all = "kebab-case")]
pub struct Payment {
    pub account_id: i64,
}

fn main() {}
