//! A field upgrade function with the wrong signature is reported at the attribute.
#[derive(strata::Record)]
pub struct Thing {
    pub id: i64,
    #[strata(added(in = 2, upgrade = "label_from_v1"))]
    pub label: String,
}

fn label_from_v1(v1: ThingV1) -> String {
    v1.id.to_string()
}

fn main() {}
