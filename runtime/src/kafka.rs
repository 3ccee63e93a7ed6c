//! What replay, migration and the Kafka snapshot store share: the client settings strata always
//! uses, and a topic's partitions.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;

/// A client of `brokers` with strata's settings, then `settings`, then the user's `extras`
/// (which override both).
pub(crate) fn client(
    brokers: &str,
    settings: &[(&str, &str)],
    extras: &[(String, String)],
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("broker.address.family", "v4")
        // librdkafka 2.x waits 1 s before fetching again once its queue passed its thresholds;
        // a consumer that decodes as fast as the queue fills would then starve.
        .set("fetch.queue.backoff.ms", "10");
    for (key, value) in settings {
        config.set(*key, *value);
    }
    for (key, value) in extras {
        config.set(key, value);
    }
    config
}

/// The partitions of `topic`; empty when it does not exist.
pub(crate) fn partitions<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    timeout: Duration,
) -> KafkaResult<Vec<i32>> {
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}
