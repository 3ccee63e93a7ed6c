//! A record upgrade function with the wrong signature is reported at the attribute.
use strata::UpcastError;

#[derive(strata::Record)]
#[strata(removed(field = "note", ty = "String", in = 2, upgrade = "thing_v1_to_v2"))]
pub struct Thing {
    pub id: i64,
}

fn thing_v1_to_v2(v1: &ThingV1) -> Result<Thing, UpcastError> {
    Ok(Thing { id: v1.id })
}

fn main() {}
