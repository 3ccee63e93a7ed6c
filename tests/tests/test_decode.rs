//! Decoding any historical version into the latest type: data written by apache-avro with the
//! schema of every version of the example domain decodes, consuming every byte; data written
//! with the latest schema decodes and re-encodes to the very same bytes.

mod support;

use apache_avro::Schema;
use apache_avro::types::Value;
use strata::decode::Reader;
use strata::{Event, VersionedType};
use strata_tests::bank::AccountEvent;
use strata_tests::shop::OrderEvent;

fn parse(event: &VersionedType, version: u32) -> Schema {
    Schema::parse_str(&event.schema(version).expect("derives").to_json().to_string())
        .expect("parses")
}

fn registration<E: Event>() -> VersionedType {
    let source = strata::history::catalog::SourceLocation { file: file!(), line: line!() };
    VersionedType::of::<E>(std::any::type_name::<E>(), source)
}

/// Every version's samples decode into the latest type and leave no byte unread.
fn every_version_decodes<E: Event + std::fmt::Debug>() {
    let event = registration::<E>();
    for version in 1..=E::VERSION {
        let schema = parse(&event, version);
        let decode = E::decoder(version).expect("a decoder for every version");
        for (i, value) in
            support::samples_per_branch(&schema, 20, u64::from(version)).into_iter().enumerate()
        {
            let bytes = support::write_datum(&schema, value.clone()).expect("fits");
            let mut r = Reader::new(&bytes);
            match decode(&mut r) {
                Ok(_) => {
                    assert!(r.is_empty(), "v{version} sample {i}: {} byte(s) left", r.remaining())
                }
                Err(e) => panic!("v{version} sample {i}: {e}\nvalue: {value:?}"),
            }
        }
    }
    assert!(E::decoder(0).is_none() && E::decoder(E::VERSION + 1).is_none());
}

#[test]
fn every_version_of_the_bank_events_decodes() {
    every_version_decodes::<AccountEvent>();
}

#[test]
fn every_version_of_the_shop_events_decodes() {
    every_version_decodes::<OrderEvent>();
}

/// Latest samples decode and re-encode to apache-avro's bytes. Maps of more than one entry are
/// left out: their order is not part of the value, so bytes may differ.
fn latest_round_trips_to_the_same_bytes<E: Event + std::fmt::Debug + PartialEq>() {
    let event = registration::<E>();
    let schema = parse(&event, E::VERSION);
    let mut checked = 0;
    for value in support::samples_per_branch(&schema, 30, 99) {
        if has_map_with_several_entries(&value) {
            continue;
        }
        let bytes = support::write_datum(&schema, value).expect("fits");
        let decoded = E::decoder(E::VERSION).unwrap()(&mut Reader::new(&bytes)).expect("decodes");
        let mut out = Vec::new();
        decoded.encode(&mut out);
        assert_eq!(out, bytes, "{decoded:?}");
        let again = E::decoder(E::VERSION).unwrap()(&mut Reader::new(&out)).expect("decodes");
        assert_eq!(again, decoded);
        checked += 1;
    }
    assert!(checked > 30, "enough samples without multi-entry maps: {checked}");
}

#[test]
fn latest_bank_events_round_trip_to_apache_avros_bytes() {
    latest_round_trips_to_the_same_bytes::<AccountEvent>();
}

#[test]
fn latest_shop_events_round_trip_to_apache_avros_bytes() {
    latest_round_trips_to_the_same_bytes::<OrderEvent>();
}

fn has_map_with_several_entries(value: &Value) -> bool {
    match value {
        Value::Map(m) => m.len() > 1 || m.values().any(has_map_with_several_entries),
        Value::Record(fields) => fields.iter().any(|(_, v)| has_map_with_several_entries(v)),
        Value::Array(items) => items.iter().any(has_map_with_several_entries),
        Value::Union(_, inner) => has_map_with_several_entries(inner),
        _ => false,
    }
}
