//! A bank account aggregate: topic `bank.accounts`, keyed by account id.
//!
//! History:
//! - version 1: `Opened`, `Deposited` (then named `FundsDeposited`), `Closed`.
//! - version 2: `AccountOpened.owner` renamed to `holder`; `currency` added with a default;
//!   `FundsDeposited` renamed to `MoneyDeposited` and given an optional `reference`;
//!   `Frozen` added.
//! - version 3: `overdraft_limit_cents` promoted from int to long; `holder_kind` computed from
//!   the version 2 record; `branch_code` removed; `Closed` retired into `Frozen`.

use strata::UpcastError;
use time::OffsetDateTime;
use uuid::Uuid;

/// Everything that happens to a bank account; topic `bank.accounts`, keyed by account id.
#[derive(strata::Event, Debug, Clone, PartialEq)]
#[strata(topic = "bank.accounts", namespace = "com.example.bank", version = 3)]
#[strata(retired(
    variant = "Closed",
    ty = "AccountClosed",
    in = 3,
    upgrade = "closed_into_frozen"
))]
#[strata(breaks(
    in = 3,
    reason = "`AccountClosed` leaves the union; `closed_into_frozen` reads old closings"
))]
pub enum AccountEvent {
    Opened(AccountOpened),
    Deposited(MoneyDeposited),
    #[strata(added = 2)]
    Frozen(AccountFrozen),
}

/// An account was opened.
#[derive(strata::Record, Debug, Clone, PartialEq)]
#[strata(removed(field = "branch_code", ty = "String", in = 3, discard))]
pub struct AccountOpened {
    pub account_id: Uuid,
    /// Who holds the account.
    #[strata(renamed(from = "owner", in = 2))]
    pub holder: String,
    /// ISO 4217 code; accounts opened before version 2 are in euros.
    #[strata(added(in = 2, default = "EUR"))]
    pub currency: String,
    /// How far the balance may go below zero, in cents.
    #[strata(changed(in = 3, from = "i32"))]
    pub overdraft_limit_cents: i64,
    /// Whether a person or a company holds the account.
    #[strata(added(in = 3, upgrade = "holder_kind_from_v2", default = HolderKind::Unknown))]
    pub holder_kind: HolderKind,
}

/// Before version 3 the holder's kind was implied by the name: companies carry a legal form.
fn holder_kind_from_v2(v2: &AccountOpenedV2) -> Result<HolderKind, UpcastError> {
    const LEGAL_FORMS: [&str; 4] = [" GmbH", " AG", " Ltd", " Inc"];
    let company = LEGAL_FORMS.iter().any(|form| v2.holder.ends_with(form));
    Ok(if company { HolderKind::Company } else { HolderKind::Person })
}

/// Who holds an account.
#[derive(strata::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderKind {
    #[strata(default)]
    Unknown,
    Person,
    Company,
}

/// Money was paid into an account.
#[derive(strata::Record, Debug, Clone, PartialEq)]
#[strata(renamed(from = "FundsDeposited", in = 2))]
pub struct MoneyDeposited {
    pub account_id: Uuid,
    pub amount_cents: i64,
    pub at: OffsetDateTime,
    /// The payer's reference, when given.
    #[strata(added(in = 2))]
    pub reference: Option<String>,
}

/// An account was frozen: no money moves until it is unfrozen.
#[derive(strata::Record, Debug, Clone, PartialEq)]
pub struct AccountFrozen {
    pub account_id: Uuid,
    pub reason: FreezeReason,
}

/// Why an account was frozen.
#[derive(strata::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezeReason {
    #[strata(default)]
    Other,
    Fraud,
    /// Added in version 3, when `AccountClosed` was retired.
    #[strata(added = 3)]
    Closed,
}

/// An account was closed. Retired in version 3: a closed account is frozen for good.
#[derive(strata::Record, Debug, Clone, PartialEq)]
pub struct AccountClosed {
    pub account_id: Uuid,
}

fn closed_into_frozen(closed: AccountClosed) -> Result<AccountEvent, UpcastError> {
    Ok(AccountEvent::Frozen(AccountFrozen {
        account_id: closed.account_id,
        reason: FreezeReason::Closed,
    }))
}
