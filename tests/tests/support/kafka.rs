//! Kafka helpers shared by the tests that need the broker: the example domain's history as
//! framed records, topics, producing.

#![allow(dead_code)] // Each test binary uses its own part of the helpers.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use strata::{Event, LocalSource};

use super::broker::Broker;

pub fn history<E: Event>(version: u32) -> String {
    let path = super::root().join(format!("schemas/{}/v{version}.avsc", E::subject()));
    std::fs::read_to_string(path).unwrap()
}

/// `E`'s committed history under ids 1 to its latest version (id = version).
pub fn source_of<E: Event>() -> Arc<LocalSource> {
    strata_tests::history_source::<E>()
}

/// Framed records of every version of `E` (`per_branch` events of each event type it had),
/// keyed by `keys` keys in turn (`<prefix>-<n>`).
pub fn records_of<E: Event>(
    per_branch: usize,
    seed: u64,
    prefix: &str,
    keys: usize,
) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for version in 1..=E::VERSION {
        let schema = apache_avro::Schema::parse_str(&history::<E>(version)).unwrap();
        for value in super::samples_per_branch(&schema, per_branch, seed + u64::from(version)) {
            let mut framed = vec![0];
            framed.extend_from_slice(&version.to_be_bytes());
            framed.extend(super::write_datum(&schema, value).unwrap());
            out.push((format!("{prefix}-{}", out.len() % keys), framed));
        }
    }
    out
}

pub fn client(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers).set("broker.address.family", "v4");
    config
}

pub fn create_topic(broker: &Broker, topic: &str, partitions: i32) {
    create_topic_at(&broker.brokers(), topic, partitions);
}

/// A topic of `partitions` partitions (replication 1) on `brokers`.
pub fn create_topic_at(brokers: &str, topic: &str, partitions: i32) {
    create_topic_with(brokers, topic, partitions, &[]);
}

/// The same, with topic `settings` (`max.message.bytes`, say).
pub fn create_topic_with(brokers: &str, topic: &str, partitions: i32, settings: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = client(brokers).create().unwrap();
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (name, value) in settings {
        new = new.set(name, value);
    }
    let results = futures_executor::block_on(admin.create_topics([&new], &AdminOptions::new()))
        .expect("the broker answers CreateTopics");
    for result in results {
        result.unwrap_or_else(|(topic, e)| panic!("creating {topic}: {e}"));
    }
}

pub fn produce(broker: &Broker, topic: &str, records: &[(String, Vec<u8>)]) {
    let producer: BaseProducer =
        client(&broker.brokers()).set("enable.idempotence", "true").create().unwrap();
    for (key, value) in records {
        producer.send(BaseRecord::to(topic).key(key.as_bytes()).payload(value)).unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).expect("every record is acknowledged");
}

/// A broker with a fresh topic of `partitions` partitions.
pub fn start(name: &str, partitions: i32) -> (Broker, String) {
    let broker = Broker::start();
    let topic = topic(name);
    create_topic(&broker, &topic, partitions);
    (broker, topic)
}

pub fn topic(name: &str) -> String {
    format!("bank.accounts.{name}.{}", std::process::id())
}

/// The first `count` records of `topic` from the beginning, as a new consumer group reads
/// them (all partitions, each in order); fails after 30 s without them.
pub fn read(brokers: &str, topic: &str, count: usize) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = client(brokers)
        .set("group.id", format!("read-{topic}-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("a consumer");
    consumer.subscribe(&[topic]).expect("subscribed");
    let mut read = Vec::with_capacity(count);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while read.len() < count {
        assert!(std::time::Instant::now() < deadline, "read {} of {count}", read.len());
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            read.push(message.expect("a record").detach());
        }
    }
    read
}

/// Assigns partitions 0 to `partitions - 1` of `topic` to `consumer` from their first offsets;
/// returns each one's (low, high) offsets.
pub fn assign_from_start(
    consumer: &rdkafka::consumer::BaseConsumer,
    topic: &str,
    partitions: i32,
) -> Vec<(i64, i64)> {
    use rdkafka::consumer::Consumer;
    use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
    let mut assignment = TopicPartitionList::new();
    let mut ends = Vec::new();
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).unwrap();
        assignment.add_partition_offset(topic, p, Offset::Offset(low)).unwrap();
        ends.push((low, high));
    }
    consumer.assign(&assignment).unwrap();
    ends
}

/// Every record of `topic` up to its end offsets now, partition by partition.
pub fn read_available(brokers: &str, topic: &str) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer =
        client(brokers).set("group.id", "read-available").create().expect("a consumer");
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    let partitions = metadata.topics()[0].partitions().len() as i32;
    // Each partition's end; an empty one has nothing to wait for.
    let mut ends: std::collections::BTreeMap<i32, i64> =
        assign_from_start(&consumer, topic, partitions)
            .into_iter()
            .zip(0..)
            .filter(|((low, high), _)| high > low)
            .map(|((_, high), p)| (p, high))
            .collect();
    let mut read = Vec::new();
    while !ends.is_empty() {
        let message = consumer
            .poll(Duration::from_secs(30))
            .expect("the records up to the end arrive")
            .expect("a record");
        if message.offset() + 1 >= ends.get(&message.partition()).copied().unwrap_or(0) {
            ends.remove(&message.partition());
        }
        read.push(message.detach());
    }
    read
}
