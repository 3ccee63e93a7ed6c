//! An Avro field has one name for writing and reading.
#[derive(strata::Record)]
pub struct Payment {
    #[serde(rename(serialize = "id", deserialize = "ident"))]
    pub id: i64,
}

fn main() {}
