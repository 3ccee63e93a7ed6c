//! A removed field says where its value goes: an upgrade function, or `discard`.
#[derive(strata::Record)]
#[strata(removed(field = "branch_code", ty = "String", in = 3))]
pub struct AccountOpened {
    pub id: i64,
}

fn main() {}
