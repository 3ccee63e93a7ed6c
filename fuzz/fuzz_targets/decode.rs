//! Fuzzes the decoder with arbitrary framed records: any magic byte, any schema id (declared
//! versions, a foreign schema that resolves, unknown ids), any datum. It must never panic and
//! never allocate beyond what the input justifies; every failure is an error value.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use strata::{Decoder, LocalSource};
use strata_tests::bank::AccountEvent;
use strata_tests::shop::OrderEvent;

fn decoders() -> &'static (Decoder<AccountEvent>, Decoder<OrderEvent>) {
    static DECODERS: OnceLock<(Decoder<AccountEvent>, Decoder<OrderEvent>)> = OnceLock::new();
    DECODERS.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
        let source = Arc::new(LocalSource::from_history(&root).expect("schemas/ reads"));
        strata_fuzz_support::add_foreign_schemas(&source);
        (Decoder::new(source.clone()).unwrap(), Decoder::new(source).unwrap())
    })
}

mod strata_fuzz_support {
    /// A foreign writer of each topic: the latest schema with its fields reversed and one
    /// field strata never declared, held under id 900 and 901.
    pub fn add_foreign_schemas(source: &strata::LocalSource) {
        use strata::Event;
        for (id, mut json, subject) in [
            (900, strata_tests::bank::AccountEvent::schema(3).unwrap().to_json(), "bank.accounts-value"),
            (901, strata_tests::shop::OrderEvent::schema(4).unwrap().to_json(), "shop.orders-value"),
        ] {
            let fields = json[0]["fields"].as_array_mut().unwrap();
            fields.reverse();
            fields.push(serde_json::json!({"name": "extra", "type": ["null", "string"]}));
            source.insert(id, subject, &json.to_string()).unwrap();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (bank, shop) = decoders();
    let _ = bank.decode(data);
    let _ = shop.decode(data);
});
