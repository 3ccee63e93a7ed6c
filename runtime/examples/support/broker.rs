//! What the Kafka examples share: finding the broker (or saying how to start one), a fresh
//! topic, producing raw records.

#![allow(dead_code)] // Each example uses its own part.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

fn client(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers).set("broker.address.family", "v4");
    config
}

/// `KAFKA_BOOTSTRAP_SERVERS` (default `127.0.0.1:9092`) when a broker answers there; else says
/// how to start the development broker, and exits.
pub fn reachable_or_exit() -> String {
    let brokers =
        std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let answers = client(&brokers)
        .set("log_level", "0")
        .create::<BaseConsumer>()
        .and_then(|consumer| consumer.fetch_metadata(None, Duration::from_secs(5)));
    if let Err(e) = answers {
        eprintln!("no Kafka broker answers at {brokers} ({e}).");
        eprintln!("Start the development broker in another terminal, from a checkout of strata:");
        eprintln!(
            "    scripts/broker.sh          # nisshi on 127.0.0.1:9092, installed when missing"
        );
        eprintln!("or point KAFKA_BOOTSTRAP_SERVERS at a broker of yours.");
        std::process::exit(1);
    }
    brokers
}

/// A new topic named after `prefix`, with 2 partitions.
pub fn fresh_topic(brokers: &str, prefix: &str) -> Result<String, Box<dyn std::error::Error>> {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    let topic = format!("{prefix}.{stamp}");
    let admin: AdminClient<DefaultClientContext> = client(brokers).create()?;
    let new = NewTopic::new(&topic, 2, TopicReplication::Fixed(1));
    let created = futures_executor::block_on(admin.create_topics([&new], &AdminOptions::new()))?;
    for result in created {
        result.map_err(|(topic, e)| format!("creating {topic}: {e}"))?;
    }
    Ok(topic)
}

/// Produces `(key, value)` records to `topic` and waits for every acknowledgement.
pub fn produce(
    brokers: &str,
    topic: &str,
    records: &[(String, Vec<u8>)],
) -> Result<(), Box<dyn std::error::Error>> {
    let producer: BaseProducer = client(brokers).set("enable.idempotence", "true").create()?;
    for (key, value) in records {
        producer
            .send(BaseRecord::to(topic).key(key.as_bytes()).payload(value))
            .map_err(|(e, _)| e)?;
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(())
}
