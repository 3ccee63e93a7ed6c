//! A record has at most one upgrade into each version.
use strata::UpcastError;

#[derive(strata::Record)]
#[strata(upgrade(in = 2, with = "first"), upgrade(in = 2, with = "second"))]
pub struct Thing {
    #[strata(changed(in = 2, from = "String"))]
    pub id: i64,
}

fn first(v1: ThingV1) -> Result<Thing, UpcastError> {
    Ok(Thing { id: v1.id.len() as i64 })
}

fn second(v1: ThingV1) -> Result<Thing, UpcastError> {
    first(v1)
}

fn main() {}
