//! strata's `name` and serde's `rename` agree, or the Avro and serde names would drift apart.
#[derive(strata::Record)]
#[strata(name = "Payment")]
#[serde(rename = "PaymentMade")]
pub struct Payment {
    pub id: i64,
}

fn main() {}
