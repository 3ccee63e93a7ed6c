//! Where a record upgrade builds a whole version, a field upgrade into it would never run.
use strata::UpcastError;

#[derive(strata::Record)]
#[strata(upgrade(in = 2, with = "thing_v1_to_v2"))]
pub struct Thing {
    pub id: i64,
    #[strata(added(in = 2, upgrade = "label_from_v1"))]
    pub label: String,
}

fn thing_v1_to_v2(v1: ThingV1) -> Result<Thing, UpcastError> {
    Ok(Thing { id: v1.id, label: String::new() })
}

fn label_from_v1(v1: &ThingV1) -> Result<String, UpcastError> {
    Ok(v1.id.to_string())
}

fn main() {}
