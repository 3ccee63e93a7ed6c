//! What replay, migration and the Kafka snapshot store share: the client settings strata always
//! uses, and a topic's partitions.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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

/// When a consumer loop reports progress: about every `every`, with the clock read once per
/// 256 polls and on every idle one (a record's worth of work is far below a clock read's cost
/// on some machines).
pub(crate) struct Ticker {
    every: Duration,
    last: Instant,
    polls: u32,
}

impl Ticker {
    pub(crate) fn new(every: Duration) -> Self {
        Ticker { every, last: Instant::now(), polls: 0 }
    }

    /// Whether a tick is due before the next poll; `idle`: the last poll returned nothing.
    pub(crate) fn due(&mut self, idle: bool) -> bool {
        self.polls = self.polls.wrapping_add(1);
        if (idle || self.polls.is_multiple_of(256)) && self.last.elapsed() >= self.every {
            self.last = Instant::now();
            return true;
        }
        false
    }
}

/// Records per second over the time since `started`.
pub(crate) fn rate(records: u64, started: Instant) -> f64 {
    records as f64 / started.elapsed().as_secs_f64().max(1e-9)
}

/// Records between each partition's next offset and its end offset, summed.
pub(crate) fn lag(positions: &BTreeMap<i32, i64>, ends: &BTreeMap<i32, i64>) -> i64 {
    positions.iter().map(|(p, next)| (ends.get(p).unwrap_or(next) - next).max(0)).sum()
}
