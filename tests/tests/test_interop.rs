//! Interoperability with Confluent's own Python client: records its `AvroSerializer` writes
//! with every version of a subject decode with strata into the latest type, and records strata
//! encodes are read back by its `AvroDeserializer`, with the same values.

mod support;

use std::sync::Arc;

use serde_json::{Value, json};
use strata::codec::{Decoder, Encoder};
use strata::{Event, LocalSource};
use strata_tests::bank::AccountEvent;
use strata_tests::shop::OrderEvent;

fn schemas<E: Event>() -> Vec<String> {
    let dir = support::root().join("schemas").join(E::subject());
    (1..=E::VERSION)
        .map(|v| std::fs::read_to_string(dir.join(format!("v{v}.avsc"))).unwrap())
        .collect()
}

fn job<E: Event>() -> Value {
    json!({"subject": E::subject(), "topic": E::TOPIC, "schemas": schemas::<E>()})
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

fn round_trip_with_confluent<E: Event + std::fmt::Debug + PartialEq>() {
    let out =
        support::run_python("confluent_interop.py", &["produce", "25"], &job::<E>().to_string());
    let produced: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(produced.len(), 25 * E::VERSION as usize);

    // The registry gave the versions ids 1, 2, ... in order; a local source holds the same.
    let source = Arc::new(LocalSource::new());
    for (i, text) in schemas::<E>().iter().enumerate() {
        source.insert(i as u32 + 1, &E::subject(), text).unwrap();
    }
    let decoder = Decoder::<E>::new(source.clone()).unwrap();
    let mut events = Vec::new();
    for record in &produced {
        let version = record["version"].as_u64().unwrap() as u32;
        assert_eq!(record["id"].as_u64().unwrap() as u32, version);
        let event = decoder
            .decode(&unhex(record["framed"].as_str().unwrap()))
            .unwrap_or_else(|e| panic!("{e}\nrecord: {record}"));
        if version == E::VERSION {
            // Written with the latest schema: the very values Python wrote.
            assert_eq!(event.to_json().unwrap(), record["value"], "{event:?}");
        }
        events.push(event);
    }

    let encoder = Encoder::<E>::new(source.as_ref()).unwrap();
    assert_eq!(encoder.schema_id(), E::VERSION);
    let records: Vec<String> = events
        .iter()
        .map(|event| {
            let mut framed = Vec::new();
            encoder.encode(event, &mut framed);
            hex(&framed)
        })
        .collect();
    let mut consume = job::<E>();
    consume["records"] = json!(records);
    let out = support::run_python("confluent_interop.py", &["consume"], &consume.to_string());
    let read: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(read.len(), events.len());
    for (event, theirs) in events.iter().zip(&read) {
        assert_eq!(theirs["id"], json!(E::VERSION));
        assert_eq!(theirs["value"], event.to_json().unwrap(), "{event:?}");
    }
}

#[test]
fn bank_records_cross_the_confluent_python_client_both_ways() {
    round_trip_with_confluent::<AccountEvent>();
}

#[test]
fn shop_records_cross_the_confluent_python_client_both_ways() {
    round_trip_with_confluent::<OrderEvent>();
}
