//! The state folded from the bank's events, for replay and snapshots: every account by record
//! key. It is versioned like an event record, so a snapshot written by an older program is
//! upcast: version 2 added `events` and the accounts' `deposits`.

use std::collections::BTreeMap;

use strata::kafka::record::{ApplyError, Position};
use strata::kafka::replay::Projection;

use crate::bank::AccountEvent;

/// Every account, by record key.
// A state type: its history is locked in `schemas/` (`com.example.bank.state.Ledger-state`),
// so a change without a version bump fails the check, as an event type's does.
#[derive(strata::Record, Debug, Clone, PartialEq, Default)]
#[strata(namespace = "com.example.bank.state", state)]
pub struct Ledger {
    pub accounts: BTreeMap<String, Account>,
    /// How many events the ledger holds.
    #[strata(added(in = 2, default = 0))]
    pub events: i64,
}

/// One account's state.
#[derive(strata::Record, Debug, Clone, PartialEq, Default)]
#[strata(namespace = "com.example.bank.state")]
pub struct Account {
    pub holder: String,
    pub currency: String,
    pub balance_cents: i64,
    pub frozen: bool,
    /// Deposits made.
    #[strata(added(in = 2, default = 0))]
    pub deposits: i32,
}

impl Projection<AccountEvent> for Ledger {
    fn apply(&mut self, event: AccountEvent, at: &Position<'_>) -> Result<(), ApplyError> {
        let key = at.key.ok_or("an account event needs the account as its key")?;
        let key = std::str::from_utf8(key)?;
        let account = self.accounts.entry(key.to_owned()).or_default();
        match event {
            AccountEvent::Opened(opened) => {
                account.holder = opened.holder;
                account.currency = opened.currency;
            }
            AccountEvent::Deposited(deposit) => {
                account.balance_cents = account.balance_cents.wrapping_add(deposit.amount_cents);
                account.deposits += 1;
            }
            AccountEvent::Frozen(_) => account.frozen = true,
        }
        self.events += 1;
        Ok(())
    }
}
