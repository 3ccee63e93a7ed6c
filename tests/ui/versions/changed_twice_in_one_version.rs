//! A field is retyped at most once per version.
#[derive(strata::Record)]
pub struct Thing {
    #[strata(changed(in = 2, from = "i32"), changed(in = 2, from = "i16"))]
    pub count: i64,
}

fn main() {}
