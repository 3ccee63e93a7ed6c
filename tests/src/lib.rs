//! The example domain of strata: two aggregates whose events went through every kind of change
//! the derives support. Their full history is committed in `schemas/`, and the integration
//! tests in `tests/tests/` exercise strata through its public API against it.

pub mod bank;
pub mod ledger;
pub mod shop;

/// Links this crate, and so registers its event types, into a program that names nothing
/// else from it (the xtask binary).
pub fn link() {}
