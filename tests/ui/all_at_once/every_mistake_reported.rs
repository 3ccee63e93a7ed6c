//! Every attribute mistake of a type is reported in one compile, and nothing else: code using
//! the broken type (the event enum here) raises no secondary errors.
#[derive(strata::Record)]
#[strata(removed(field = "branch_code", ty = "String", in = 3))]
pub struct AccountOpened {
    #[strata(added(in = 2))]
    pub currency: String,
    #[strata(changed(in = 2, from = "String"))]
    pub limit: i64,
    #[strata(renamd(from = "x", in = 2))]
    pub holder: String,
}

#[derive(strata::Event)]
#[strata(topic = "accounts", version = 3)]
pub enum AccountEvent {
    Opened(AccountOpened),
}

fn main() {}
