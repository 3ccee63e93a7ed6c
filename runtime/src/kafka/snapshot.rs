//! [`KafkaStore`]: snapshots in a compacted Kafka topic (feature `kafka`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::snapshot::{Snapshot, SnapshotError, SnapshotStore};

/// Snapshots in a compacted Kafka topic: each saved as a record keyed by the snapshot's name
/// (so compaction keeps the latest), written by an idempotent producer with `acks=all` and
/// flushed before `save` returns. The topic is created compacted when missing.
#[derive(Debug, Clone)]
pub struct KafkaStore {
    brokers: String,
    topic: String,
    name: String,
    timeout: Duration,
    kafka: Vec<(String, String)>,
}

impl KafkaStore {
    /// Snapshots named `name` in `topic` on `brokers`.
    pub fn new(brokers: impl Into<String>, topic: &str, name: &str) -> Self {
        KafkaStore {
            brokers: brokers.into(),
            topic: topic.to_owned(),
            name: name.to_owned(),
            timeout: Duration::from_secs(30),
            kafka: Vec::new(),
        }
    }

    /// Extra librdkafka settings (security, `message.max.bytes` for large states).
    pub fn with_kafka(mut self, settings: Vec<(String, String)>) -> Self {
        self.kafka = settings;
        self
    }

    fn client(&self) -> ClientConfig {
        crate::kafka::client(&self.brokers, &[], &self.kafka)
    }

    /// A failure of `action` on the snapshot topic.
    fn error(&self, action: &'static str) -> impl Fn(KafkaError) -> SnapshotError + '_ {
        move |e| SnapshotError::Store {
            store: self.topic.clone(),
            source: Box::new(crate::kafka::ClientError::new(action, e).at(&self.topic, None)),
        }
    }

    fn ensure_topic(&self) -> Result<(), SnapshotError> {
        use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
        use rdkafka::client::DefaultClientContext;
        use rdkafka::types::RDKafkaErrorCode;
        let admin: AdminClient<DefaultClientContext> =
            self.client().create().map_err(self.error("creating the admin client"))?;
        let topic = NewTopic::new(&self.topic, 1, TopicReplication::Fixed(1))
            .set("cleanup.policy", "compact");
        let options = AdminOptions::new().operation_timeout(Some(self.timeout));
        let results = futures_executor::block_on(admin.create_topics([&topic], &options))
            .map_err(self.error("creating the topic"))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => {
                    return Err(self.error("creating the topic")(KafkaError::AdminOp(code)));
                }
            }
        }
        Ok(())
    }
}

impl SnapshotStore for KafkaStore {
    fn save(&self, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        self.ensure_topic()?;
        let producer: BaseProducer = self
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .create()
            .map_err(self.error("creating the producer"))?;
        let bytes = snapshot.to_bytes();
        producer
            .send(BaseRecord::to(&self.topic).key(self.name.as_bytes()).payload(&bytes))
            .map_err(|(e, _)| self.error("writing a snapshot")(e))?;
        producer.flush(self.timeout).map_err(self.error("flushing the snapshot"))?;
        Ok(())
    }

    fn load(&self) -> Result<Vec<Result<Snapshot, SnapshotError>>, SnapshotError> {
        let consumer: BaseConsumer = self
            .client()
            .set("group.id", format!("strata-snapshots-{}", self.topic))
            .set("enable.auto.commit", "false")
            .create()
            .map_err(self.error("creating the consumer"))?;
        let mut found = Vec::new();
        let partitions = crate::kafka::partitions(&consumer, &self.topic, self.timeout)
            .map_err(self.error("reading metadata"))?;
        let mut assignment = TopicPartitionList::new();
        let mut ends = BTreeMap::new();
        for partition in partitions {
            let (low, high) = consumer
                .fetch_watermarks(&self.topic, partition, self.timeout)
                .map_err(self.error("reading offsets"))?;
            if high > low {
                ends.insert(partition, high);
                assignment
                    .add_partition_offset(&self.topic, partition, Offset::Offset(low))
                    .map_err(self.error("assigning"))?;
            }
        }
        if ends.is_empty() {
            return Ok(found);
        }
        consumer.assign(&assignment).map_err(self.error("assigning"))?;
        let deadline = Instant::now() + self.timeout;
        let mut positions: BTreeMap<i32, i64> = BTreeMap::new();
        while ends.iter().any(|(p, end)| positions.get(p).copied().unwrap_or(0) < *end) {
            if Instant::now() > deadline {
                return Err(SnapshotError::Timeout {
                    store: self.topic.clone(),
                    timeout: self.timeout,
                });
            }
            let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = message.map_err(self.error("reading snapshots"))?;
            positions.insert(message.partition(), message.offset() + 1);
            if message.key() == Some(self.name.as_bytes()) {
                let at = crate::snapshot::Location::Record {
                    topic: self.topic.clone(),
                    partition: message.partition(),
                    offset: message.offset(),
                };
                found.push(Snapshot::from_bytes(message.payload().unwrap_or_default(), at));
            }
        }
        found.reverse();
        Ok(found)
    }
}
