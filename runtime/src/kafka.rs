//! What replay, migration and the Kafka snapshot store share: the client settings strata always
//! uses, a topic's partitions, and the error of a failed Kafka call.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;

/// Dead letters (from replay and migration alike) and migrated records name their source record
/// with these headers: its topic, partition, offset and writer schema id.
pub const SOURCE_TOPIC: &str = "strata.source.topic";
/// The source partition.
pub const SOURCE_PARTITION: &str = "strata.source.partition";
/// The source offset.
pub const SOURCE_OFFSET: &str = "strata.source.offset";
/// The source record's writer schema id (empty when its framing is unreadable).
pub const SOURCE_SCHEMA_ID: &str = "strata.source.schema_id";
/// Why a dead letter could not be used.
pub const ERROR: &str = "strata.error";

/// A Kafka client or broker failure: what was being done, where (topic, partition, offset, as
/// far as known), and rdkafka's error as the cause. Boxed: errors stay small on the happy path.
#[derive(Debug)]
pub struct ClientError(Box<Failure>);

#[derive(Debug)]
struct Failure {
    action: &'static str,
    topic: Option<String>,
    partition: Option<i32>,
    offset: Option<i64>,
    source: rdkafka::error::KafkaError,
}

impl ClientError {
    /// A failure of `action`, nowhere in particular.
    pub(crate) fn new(action: &'static str, source: rdkafka::error::KafkaError) -> Self {
        ClientError(Box::new(Failure {
            action,
            topic: None,
            partition: None,
            offset: None,
            source,
        }))
    }

    /// The same, at `topic` (and `partition`).
    pub(crate) fn at(mut self, topic: &str, partition: Option<i32>) -> Self {
        self.0.topic = Some(topic.to_owned());
        self.0.partition = partition;
        self
    }

    /// The same, at `offset`.
    pub(crate) fn at_offset(mut self, offset: Option<i64>) -> Self {
        self.0.offset = offset;
        self
    }

    /// What was being done, such as `reading the target's offsets`.
    pub fn action(&self) -> &'static str {
        self.0.action
    }

    /// The topic, when the call concerned one.
    pub fn topic(&self) -> Option<&str> {
        self.0.topic.as_deref()
    }

    /// The partition, when the call concerned one.
    pub fn partition(&self) -> Option<i32> {
        self.0.partition
    }

    /// The offset, when the call concerned one.
    pub fn offset(&self) -> Option<i64> {
        self.0.offset
    }

    /// rdkafka's error.
    pub fn kafka_error(&self) -> &rdkafka::error::KafkaError {
        &self.0.source
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = &self.0;
        write!(f, "kafka: {}", e.action)?;
        let Some(topic) = &e.topic else { return Ok(()) };
        write!(f, " (topic `{topic}`")?;
        if let Some(partition) = e.partition {
            write!(f, " partition {partition}")?;
        }
        if let Some(offset) = e.offset {
            write!(f, " offset {offset}")?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0.source)
    }
}

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

/// The partition Kafka's Java clients give `key` among `partitions` (murmur2, as librdkafka's
/// `murmur2_random` partitioner, which the appender uses): where an aggregate's events are.
pub fn partition_of(key: &[u8], partitions: i32) -> i32 {
    let positive = murmur2(key) & 0x7fff_ffff;
    // `positive` < 2^31, so it fits an i32.
    (positive % partitions.max(1) as u32) as i32
}

/// Kafka's `Utils.murmur2`: MurmurHash2, 32-bit, seed `0x9747b28c`.
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

/// Catch up or keep following: how a replay or a migration ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Stop at the end offsets observed at start.
    #[default]
    CatchUp,
    /// Keep consuming until the progress callback asks to stop.
    Follow,
}

/// Where a replay or a migration is, for progress callbacks.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Records handled in this run: events applied (replay), records migrated (migration).
    pub records: u64,
    /// Records per second since the run started.
    pub rate: f64,
    /// Records between the positions and the end offsets observed at start (catch-up), or the
    /// high watermarks last seen (follow), in the partitions this instance holds.
    pub lag: i64,
    /// The partitions this instance holds now (all of them outside a consumer group).
    pub partitions: Vec<i32>,
}

impl Progress {
    /// The progress of a run that started at `started`, with `records` handled, each held
    /// partition's next offset (`positions`) and end (`ends`).
    pub(crate) fn of(
        records: u64,
        started: Instant,
        positions: &BTreeMap<i32, i64>,
        ends: &BTreeMap<i32, i64>,
    ) -> Self {
        Progress {
            records,
            rate: rate(records, started),
            lag: lag(positions, ends),
            partitions: positions.keys().copied().collect(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::partition_of;

    #[test]
    fn keys_partition_as_kafkas_java_client_does() {
        // Values from Kafka's `Utils.murmur2` (its own test vectors) and its default
        // partitioner (`toPositive(murmur2(key)) % partitions`).
        assert_eq!(super::murmur2(b"21") as i32, -973932308);
        assert_eq!(super::murmur2(b"foobar") as i32, -790332482);
        assert_eq!(super::murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(super::murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(
            super::murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58897971
        );
        assert_eq!(super::murmur2(b"abc") as i32, 479470107);
        for partitions in [1, 3, 7] {
            assert!((0..partitions).contains(&partition_of(b"account-1", partitions)));
        }
    }
}
