//! Encode events in Confluent's wire format and decode them back, with the schema ids of a
//! schema source: here the committed-history style `LocalSource`; in production the Schema
//! Registry client (`strata::codec::registry::Registry`), the same trait. Bad bytes are an error that
//! says what and where, never a panic.
//!
//! ```sh
//! cargo run -p strata-es --example decode_encode
//! ```

use std::sync::Arc;

use strata::{Decoder, Encoder, LocalSource};

/// A sensor's events; topic `plant.sensors`.
#[derive(strata::Event, Debug, Clone, PartialEq)]
#[strata(topic = "plant.sensors", namespace = "com.example.plant", version = 1)]
pub enum SensorEvent {
    Measured(Measured),
}

/// One measurement.
#[derive(strata::Record, Debug, Clone, PartialEq)]
pub struct Measured {
    pub sensor: String,
    pub celsius: f64,
    pub tags: Vec<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source = Arc::new(LocalSource::new());
    // The encoder looks the latest schema's id up once (a local source registers it).
    let encoder = Encoder::<SensorEvent>::new(source.as_ref())?;
    let decoder = Decoder::<SensorEvent>::new(source.clone())?;

    let event = SensorEvent::Measured(Measured {
        sensor: "boiler-2".into(),
        celsius: 81.5,
        tags: vec!["hall-a".into()],
    });
    let mut framed = Vec::new();
    encoder.encode(&event, &mut framed);
    println!("schema id {}, {} bytes: {framed:02x?}", encoder.schema_id(), framed.len());
    assert_eq!(decoder.decode(&framed)?, event);

    // Truncated bytes: an error naming the schema id, the field and the offset.
    let error = decoder.decode(&framed[..framed.len() - 3]).unwrap_err();
    println!("truncated: {error}");
    Ok(())
}
