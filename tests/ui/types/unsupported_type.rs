//! An unsupported field type is named, with the supported ones listed.
#[derive(strata::Record)]
pub struct Timer {
    pub elapsed: std::time::Duration,
}

fn main() {}
