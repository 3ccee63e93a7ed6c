//! Replays the fuzzer's committed corpus (`fuzz/corpus/decode/`) through the decoders on
//! stable Rust: every input decodes or fails with an error, and none panics.

mod support;

#[test]
fn no_input_of_the_fuzzing_corpus_panics_the_decoder() {
    let (bank, shop) = strata_tests::fuzz_decoders();
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
