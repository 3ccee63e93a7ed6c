//! The example domain of strata: two aggregates whose events went through every kind of change
//! the derives support. Their full history is committed in `schemas/`, and the integration
//! tests in `tests/tests/` exercise strata through its public API against it.

#[cfg(feature = "services")]
pub mod balances;
pub mod bank;
#[cfg(feature = "services")]
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

/// The decoders the fuzzer drives (`fuzz/fuzz_targets/decode.rs`) and `test_fuzz_corpus`
/// replays its corpus through: both example aggregates over the committed history, plus a
/// foreign writer of each topic under ids 900 and 901 (the latest schema with its fields
/// reversed and one field strata never declared), so resolution is fuzzed too.
pub fn fuzz_decoders() -> (strata::Decoder<bank::AccountEvent>, strata::Decoder<shop::OrderEvent>) {
    use strata::Event;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let source = strata::LocalSource::from_history(&root).expect("the committed history reads");
    for (id, mut json, subject) in [
        (
            900,
            bank::AccountEvent::schema(3).expect("version 3 derives").to_json(),
            "bank.accounts-value",
        ),
        (
            901,
            shop::OrderEvent::schema(4).expect("version 4 derives").to_json(),
            "shop.orders-value",
        ),
    ] {
        let fields = json[0]["fields"].as_array_mut().expect("the first branch is a record");
        fields.reverse();
        fields.push(serde_json::json!({"name": "extra", "type": ["null", "string"]}));
        source.insert(id, subject, &json.to_string()).expect("the foreign schema is valid");
    }
    let source = std::sync::Arc::new(source);
    (
        strata::Decoder::new(source.clone()).expect("the bank's decoder"),
        strata::Decoder::new(source).expect("the shop's decoder"),
    )
}

/// Links this crate, and so registers its event types, into a program that names nothing
/// else from it (the xtask binary).
pub fn link() {}
