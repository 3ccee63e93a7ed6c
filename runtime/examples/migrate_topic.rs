//! Migrate a topic holding two versions of an event type into a new topic where every record
//! carries the latest schema, exactly once, then verify the two topics against each other.
//!
//! Needs a Kafka-protocol broker: `scripts/broker.sh` in a checkout of strata starts the
//! development one on 127.0.0.1:9092 (set `KAFKA_BOOTSTRAP_SERVERS` for another).
//!
//! ```sh
//! cargo run -p strata-es --features kafka --example migrate_topic
//! ```

use std::sync::Arc;

use strata::codec::Transcoder;
use strata::kafka::migrate::{MigrateConfig, migrate, verify};
use strata::{Event, LocalSource};

#[path = "support/broker.rs"]
mod broker;

/// A parcel's events.
#[derive(strata::Event, Debug, Clone, PartialEq)]
#[strata(topic = "examples.parcels", namespace = "com.example.parcels", version = 2)]
pub enum ParcelEvent {
    Shipped(Shipped),
}

/// A parcel left.
#[derive(strata::Record, Debug, Clone, PartialEq)]
pub struct Shipped {
    pub parcel: String,
    /// Grams: an `int` in version 1.
    #[strata(changed(in = 2, from = "i32"))]
    pub grams: i64,
    #[strata(added(in = 2, default = "standard"))]
    pub service: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let brokers = broker::reachable_or_exit();
    let from = broker::fresh_topic(&brokers, "examples.parcels")?;
    let to = format!("{from}.v2");
    let source = Arc::new(LocalSource::new());
    for version in 1..=ParcelEvent::VERSION {
        let schema = ParcelEvent::schema(version)?.to_json().to_string();
        source.insert(version, &ParcelEvent::subject(), &schema)?;
    }

    // Half the records as a version 1 producer wrote them (schema id 1), half in version 2.
    let mut records = Vec::new();
    for n in 0..100i64 {
        let mut framed = vec![0, 0, 0, 0, if n % 2 == 0 { 1 } else { 2 }];
        strata::encode::write_long(&mut framed, 0); // the union branch: Shipped
        strata::encode::write_bytes(&mut framed, format!("parcel-{n}").as_bytes());
        strata::encode::write_long(&mut framed, 100 + n); // grams
        if n % 2 == 1 {
            strata::encode::write_bytes(&mut framed, b"express");
        }
        records.push((format!("parcel-{n}"), framed));
    }
    broker::produce(&brokers, &from, &records)?;

    let transcoder = Transcoder::<ParcelEvent>::new(source)?;
    let config = MigrateConfig::new(&brokers, &from, &to);
    let report = migrate(&config, &transcoder)?;
    println!("migrated {} record(s) from `{from}` to `{to}`", report.migrated);
    for check in verify(&config, &transcoder)? {
        println!(
            "partition {}: {} source, {} target record(s): {}",
            check.partition,
            check.source,
            check.target,
            check.problem.as_deref().unwrap_or("identical")
        );
        assert!(check.problem.is_none());
    }
    Ok(())
}
