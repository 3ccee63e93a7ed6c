//! The example domain of strata: two aggregates whose events went through every kind of change
//! the derives support. Their full history is committed in `schemas/`, and the integration
//! tests in `tests/tests/` exercise strata through its public API against it.

pub mod balances;
pub mod bank;
pub mod ledger;
pub mod shop;

/// `E`'s committed history (`schemas/`) as a schema source, under ids 1 to its latest version
/// (id = version): how the tests frame the example domain's records.
pub fn history_source<E: strata::Event>() -> std::sync::Arc<strata::LocalSource> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let source = strata::LocalSource::new();
    for version in 1..=E::VERSION {
        let path = root.join(format!("schemas/{}/v{version}.avsc", E::subject()));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        source.insert(version, &E::subject(), &text).expect("a committed schema is valid");
    }
    std::sync::Arc::new(source)
}

/// Links this crate, and so registers its event types, into a program that names nothing
/// else from it (the xtask binary).
pub fn link() {}
