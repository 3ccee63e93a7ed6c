//! The bank's read model in PostgreSQL: one row per account (by record key), and a log of every
//! record applied, which shows any record applied twice or never.
//!
//! Version 2 adds the holder's kind (person or company), a column version 1 did not keep: raising
//! the version rebuilds the tables from the first offset beside version 1, which serves until
//! version 2 is caught up.

use strata::kafka::readmodel::ReadModel;
use strata::kafka::readmodel::postgres::{Client, Statement, Transaction};
use strata::kafka::record::{ApplyError, Position};

use crate::bank::{AccountEvent, HolderKind};

/// The read model `bank_balances` at version `V` (1 or 2).
#[derive(Debug, Default)]
pub struct Balances<const V: u32> {
    statements: Option<Statements>,
}

#[derive(Debug)]
struct Statements {
    opened: Statement,
    deposited: Statement,
    frozen: Statement,
    applied: Statement,
}

impl<const V: u32> ReadModel<AccountEvent> for Balances<V> {
    const NAME: &'static str = "bank_balances";
    const VERSION: u32 = V;

    fn create(&mut self, tx: &mut Transaction<'_>) -> Result<(), ApplyError> {
        let kind = if V >= 2 { "holder_kind text NOT NULL DEFAULT 'unknown'," } else { "" };
        tx.batch_execute(&format!(
            "CREATE TABLE accounts (
                 account text PRIMARY KEY,
                 holder text NOT NULL DEFAULT '',
                 currency text NOT NULL DEFAULT '',
                 {kind}
                 balance_cents numeric NOT NULL DEFAULT 0,
                 deposits integer NOT NULL DEFAULT 0,
                 frozen boolean NOT NULL DEFAULT false
             );
             CREATE TABLE applied (partition integer NOT NULL, \"offset\" bigint NOT NULL, kind text NOT NULL);"
        ))?;
        Ok(())
    }

    fn prepare(&mut self, client: &mut Client) -> Result<(), ApplyError> {
        // Unqualified names: they resolve in the version's schema, the connection's
        // `search_path` while the projector runs.
        let opened = if V >= 2 {
            "INSERT INTO accounts (account, holder, currency, holder_kind) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account) DO UPDATE SET holder = $2, currency = $3, holder_kind = $4"
        } else {
            "INSERT INTO accounts (account, holder, currency) VALUES ($1, $2, $3) \
             ON CONFLICT (account) DO UPDATE SET holder = $2, currency = $3"
        };
        let statements = Statements {
            opened: client.prepare(opened)?,
            deposited: client.prepare(
                "INSERT INTO accounts (account, balance_cents, deposits) VALUES ($1, $2::bigint, 1) \
                 ON CONFLICT (account) DO UPDATE \
                 SET balance_cents = accounts.balance_cents + $2::bigint, deposits = accounts.deposits + 1",
            )?,
            frozen: client.prepare(
                "INSERT INTO accounts (account, frozen) VALUES ($1, true) \
                 ON CONFLICT (account) DO UPDATE SET frozen = true",
            )?,
            applied: client
                .prepare("INSERT INTO applied (partition, \"offset\", kind) VALUES ($1, $2, $3)")?,
        };
        self.statements = Some(statements);
        Ok(())
    }

    fn apply(
        &mut self,
        tx: &mut Transaction<'_>,
        event: AccountEvent,
        at: &Position<'_>,
    ) -> Result<(), ApplyError> {
        let s = self.statements.as_ref().ok_or("statements are prepared before any event")?;
        let key = at.key.ok_or("an account event needs the account as its key")?;
        let account = std::str::from_utf8(key)?;
        let kind = match event {
            AccountEvent::Opened(opened) => {
                if V >= 2 {
                    let holder_kind = kind_name(opened.holder_kind);
                    tx.execute(
                        &s.opened,
                        &[&account, &opened.holder, &opened.currency, &holder_kind],
                    )?;
                } else {
                    tx.execute(&s.opened, &[&account, &opened.holder, &opened.currency])?;
                }
                "opened"
            }
            AccountEvent::Deposited(deposit) => {
                tx.execute(&s.deposited, &[&account, &deposit.amount_cents])?;
                "deposited"
            }
            AccountEvent::Frozen(_) => {
                tx.execute(&s.frozen, &[&account])?;
                "frozen"
            }
        };
        tx.execute(&s.applied, &[&at.partition, &at.offset, &kind])?;
        Ok(())
    }
}

/// A holder kind as the `holder_kind` column writes it.
pub fn kind_name(kind: HolderKind) -> &'static str {
    match kind {
        HolderKind::Unknown => "unknown",
        HolderKind::Person => "person",
        HolderKind::Company => "company",
    }
}
