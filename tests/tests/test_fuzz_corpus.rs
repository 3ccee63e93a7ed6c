//! Replays the fuzzer's committed corpus (`fuzz/corpus/decode/`) through the decoders on
//! stable Rust: every input decodes or fails with an error, and none panics.

mod support;

use std::sync::Arc;

use strata::{Decoder, Event, LocalSource};
use strata_tests::bank::AccountEvent;
use strata_tests::shop::OrderEvent;

#[test]
fn no_input_of_the_fuzzing_corpus_panics_the_decoder() {
    let source = Arc::new(LocalSource::from_history(&support::root().join("schemas")).unwrap());
    // The same foreign writers as the fuzz target.
    for (id, mut json, subject) in [
        (900, AccountEvent::schema(3).unwrap().to_json(), "bank.accounts-value"),
        (901, OrderEvent::schema(4).unwrap().to_json(), "shop.orders-value"),
    ] {
        let fields = json[0]["fields"].as_array_mut().unwrap();
        fields.reverse();
        fields.push(serde_json::json!({"name": "extra", "type": ["null", "string"]}));
        source.insert(id, subject, &json.to_string()).unwrap();
    }
    let bank = Decoder::<AccountEvent>::new(source.clone()).unwrap();
    let shop = Decoder::<OrderEvent>::new(source).unwrap();
    let corpus = support::root().join("fuzz/corpus/decode");
    let mut inputs = 0;
    let mut decoded = 0;
    for entry in std::fs::read_dir(&corpus).expect("the corpus is committed") {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        decoded +=
            usize::from(bank.decode(&data).is_ok()) + usize::from(shop.decode(&data).is_ok());
        inputs += 1;
    }
    assert!(inputs >= 50, "the corpus holds {inputs} inputs");
    assert!(decoded > 0, "some corpus inputs are valid records");
}
