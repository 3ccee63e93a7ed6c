//! Fuzzes the decoder with arbitrary framed records: any magic byte, any schema id (declared
//! versions, a foreign schema that resolves, unknown ids), any datum. It must never panic and
//! never allocate beyond what the input justifies; every failure is an error value.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use strata::Decoder;
use strata_tests::bank::AccountEvent;
use strata_tests::shop::OrderEvent;

fn decoders() -> &'static (Decoder<AccountEvent>, Decoder<OrderEvent>) {
    static DECODERS: OnceLock<(Decoder<AccountEvent>, Decoder<OrderEvent>)> = OnceLock::new();
    DECODERS.get_or_init(strata_tests::fuzz_decoders)
}

fuzz_target!(|data: &[u8]| {
    let (bank, shop) = decoders();
    let _ = bank.decode(data);
    let _ = shop.decode(data);
});
