//! Decoding allocates what the output value holds, and nothing more: strings and collections
//! of the event, no schema work, no intermediate values, no buffers per record.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use strata::{Decoder, Encoder, LocalSource};
use strata_tests::bank::{AccountEvent, MoneyDeposited};
use uuid::Uuid;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: forwards to the system allocator; only counts, per thread, how often it is called.
#[allow(unsafe_code, reason = "a global allocator is unsafe to implement; this one only counts")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (out, ALLOCATIONS.with(Cell::get) - before)
}

#[test]
fn decoding_allocates_only_what_the_event_holds() {
    let source = Arc::new(LocalSource::from_history(&support::root().join("schemas")).unwrap());
    let decoder = Decoder::<AccountEvent>::new(source.clone()).unwrap();
    let encoder = Encoder::<AccountEvent>::new(source.as_ref()).unwrap();
    let event = AccountEvent::Deposited(MoneyDeposited {
        account_id: Uuid::from_u128(4),
        amount_cents: 1_250,
        at: time::OffsetDateTime::UNIX_EPOCH,
        reference: Some("invoice 17".into()),
    });
    let mut record = Vec::new();
    encoder.encode(&event, &mut record);
    decoder.decode(&record).unwrap(); // the plan for the schema id is built once, here

    // The event holds one heap value: the reference string.
    let (decoded, allocations) = allocations_of(|| decoder.decode(&record).unwrap());
    assert_eq!(decoded, event);
    assert_eq!(allocations, 1);

    // Encoding into a reused buffer allocates nothing.
    let (_, allocations) = allocations_of(|| encoder.encode(&event, &mut record));
    assert_eq!(allocations, 0);
}

#[test]
fn old_data_decoded_straight_into_the_latest_type_allocates_no_more() {
    // Version 1's `FundsDeposited` (renamed since, `reference` added since) goes straight into
    // the latest `MoneyDeposited`: every step is automatic.
    let source = Arc::new(LocalSource::from_history(&support::root().join("schemas")).unwrap());
    let decoder = Decoder::<AccountEvent>::new(source.clone()).unwrap();
    let v1 = apache_avro::Schema::parse_str(
        &std::fs::read_to_string(support::root().join("schemas/bank.accounts-value/v1.avsc"))
            .unwrap(),
    )
    .unwrap();
    let value = apache_avro::types::Value::Union(
        1,
        Box::new(apache_avro::types::Value::Record(vec![
            ("account_id".into(), apache_avro::types::Value::Uuid(Uuid::from_u128(4))),
            ("amount_cents".into(), apache_avro::types::Value::Long(9)),
            ("at".into(), apache_avro::types::Value::TimestampMicros(0)),
        ])),
    );
    let mut record = vec![0, 0, 0, 0, 1];
    record.extend(support::write_datum(&v1, value).unwrap());
    decoder.decode(&record).unwrap();
    let (decoded, allocations) = allocations_of(|| decoder.decode(&record).unwrap());
    assert!(matches!(decoded, AccountEvent::Deposited(MoneyDeposited { reference: None, .. })));
    assert_eq!(allocations, 0);
}
