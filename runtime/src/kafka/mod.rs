//! strata on Kafka (feature `kafka`): one set of consumers and producers of one codec.
//!
//! This module holds what every job shares: the client settings strata always uses, a topic's
//! partitions and Kafka's partitioner ([`partition_of`]), [`Mode`] and [`Progress`], the
//! progress cadence; [`error`] is the one shape of a failed Kafka call, [`record`] what every
//! consumer shares (positions, headers, failed records, dead letters, provenance). Then one
//! module per job: [`append`] (and expected versions), [`replay`], [`stream`] (feature
//! `async`), [`migrate`], [`redrive`], [`snapshot`] (snapshots in a compacted topic) and
//! [`readmodel`] (feature `postgres`).

pub mod append;
pub mod error;
pub mod migrate;
#[cfg(feature = "postgres")]
pub mod readmodel;
pub mod record;
pub mod redrive;
pub mod replay;
pub mod snapshot;
#[cfg(feature = "async")]
pub mod stream;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;

pub use error::ClientError;

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

/// A crash point for the kill tests: with `STRATA_CRASH_AT=<point>[:<n>[:stop|:pause]]` in the environment,
/// the `n`th time (default the first) a job reaches `point` the process aborts at once
/// (`std::process::abort`: nothing flushed, nothing committed, as a SIGKILL would leave it), so
/// a test lands a crash exactly where a protocol is at risk instead of hoping that timing puts
/// it there. Without the variable (always, in production) a point costs one load of a
/// `OnceLock`. The points: `redrive.sent` (a batch produced, not yet acknowledged),
/// `redrive.acknowledged` (acknowledged, nothing committed), `redrive.offsets` (the
/// dead-letter offsets committed, not the marks), `redrive.marks` (both committed);
/// `append.sent` (the nth event of the process handed to the producer, and every event sent so
/// far delivered first: a prefix of a command landed, the caller told nothing),
/// `append.acknowledged` (a call's events all acknowledged, the caller told nothing);
/// `replay.applied` (the nth record of the run applied to the state in memory),
/// `replay.snapshot` (the nth snapshot of the run saved, the replay going on);
/// `projector.applied` (the nth record applied in an open batch, nothing committed),
/// `projector.lettered` (a dead letter acknowledged, its batch not committed),
/// `projector.committed` (a batch committed in PostgreSQL, the consumer not told);
/// `migrate.sent` (the nth record queued to the target, those before it in flight or
/// delivered).
pub(crate) fn crash_point(point: &'static str) {
    crash_point_after(point, || {});
}

/// [`crash_point`], running `before` first when it crashes (to make something land that a
/// crash at that point may or may not let through, so the test knows which).
pub(crate) fn crash_point_after(point: &'static str, before: impl FnOnce()) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static TARGET: OnceLock<Option<(String, u64, String)>> = OnceLock::new();
    static REACHED: AtomicU64 = AtomicU64::new(0);
    let target = TARGET.get_or_init(|| {
        let value = std::env::var("STRATA_CRASH_AT").ok()?;
        let mut parts = value.split(':');
        let name = parts.next()?.to_owned();
        let nth = parts.next().map_or(Some(1), |n| n.parse().ok())?;
        let mode = parts.next().unwrap_or("abort").to_owned();
        Some((name, nth, mode))
    });
    if let Some((name, nth, mode)) = target
        && name == point
        && REACHED.fetch_add(1, Ordering::Relaxed) + 1 == *nth
    {
        before();
        match mode.as_str() {
            // `<point>:<n>:stop`: the process freezes there (SIGSTOP, every thread, as a paused
            // VM would), holding what it holds, until the test kills or continues it.
            "stop" => {
                eprintln!("strata: crash point `{point}` reached ({nth}): stopping");
                let pid = std::process::id().to_string();
                let _ = std::process::Command::new("kill").args(["-STOP", &pid]).status();
            }
            // `<point>:<n>:pause`: this thread waits there (the client's own threads go on:
            // heartbeats, a rebalance starting) until the file `STRATA_CRASH_RESUME` names
            // exists; `<that file>.reached` tells the test it is there.
            "pause" => {
                let resume = std::env::var_os("STRATA_CRASH_RESUME").map(std::path::PathBuf::from);
                let resume = resume.expect("a pause needs STRATA_CRASH_RESUME");
                eprintln!("strata: crash point `{point}` reached ({nth}): pausing");
                let mut reached = resume.clone().into_os_string();
                reached.push(".reached");
                let _ = std::fs::write(reached, b"");
                while !resume.exists() {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
            _ => {
                eprintln!("strata: crash point `{point}` reached ({nth}): aborting");
                std::process::abort();
            }
        }
    }
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
