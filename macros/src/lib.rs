//! Derive macros for strata. Users depend on `strata-es` (imported as `strata`), which
//! re-exports them and documents every attribute.
//!
//! Each derive parses its input into `ast`, runs the rules of `check`, and expands with
//! `expand`. On invalid input it emits every error found together with the runtime traits'
//! impls it can still generate, so secondary errors do not bury the real ones.

#![warn(missing_docs)]

mod ast;
mod attr;
mod case;
mod check;
mod expand;
mod fallback;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

use attr::Errors;

/// Derives the history of a record: its schema at every version, typed views of its earlier
/// shapes and the upgrade steps between them.
///
/// Every key is documented in `strata::guide`.
#[proc_macro_derive(Record, attributes(strata, serde))]
pub fn derive_record(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let mut errors = Errors::default();
    let record = ast::record(&input, &mut errors);
    if let Some(record) = &record {
        check::record(record, &mut errors);
    }
    match (errors.finish(), record) {
        (Ok(()), Some(record)) => expand::record::expand(&record).into(),
        (Err(e), _) => fallback::emit(&input, e, fallback::Derive::Record).into(),
        (Ok(()), None) => unreachable!("ast::record reports an error whenever it returns None"),
    }
}

/// Derives an aggregate's event type: the topic schema of every version and its
/// registration.
///
/// Every key is documented in `strata::guide`.
#[proc_macro_derive(Event, attributes(strata, serde))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let mut errors = Errors::default();
    let event = ast::event(&input, &mut errors);
    if let Some(event) = &event {
        check::event(event, &mut errors);
    }
    match (errors.finish(), event) {
        (Ok(()), Some(event)) => expand::event::expand(&event).into(),
        (Err(e), _) => fallback::emit(&input, e, fallback::Derive::Event).into(),
        (Ok(()), None) => unreachable!("ast::event reports an error whenever it returns None"),
    }
}

/// Derives an Avro enum from a unit-only Rust enum.
///
/// Every key is documented in `strata::guide`.
#[proc_macro_derive(Enum, attributes(strata, serde))]
pub fn derive_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let mut errors = Errors::default();
    let parsed = expand::avro_enum::parse(&input, &mut errors);
    match (errors.finish(), parsed) {
        (Ok(()), Some(parsed)) => expand::avro_enum::expand(&parsed).into(),
        (Err(e), _) => fallback::emit(&input, e, fallback::Derive::Enum).into(),
        (Ok(()), None) => {
            unreachable!("avro_enum::parse reports an error whenever it returns None")
        }
    }
}
