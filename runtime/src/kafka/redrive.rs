//! Dead-letter redrive (feature `kafka`): dead letters back into a topic, once each.
//!
//! Replay, read models and migration send records they cannot take to a dead-letter topic,
//! each with its key, timestamp and headers, plus where it came from (`strata.source.*`) and
//! why (`strata.error`). Once the cause is fixed (an upgrade function, a schema the registry
//! lacked), [`redrive`] reads the dead-letter topic up to its end, decodes every dead letter
//! through the current upcasters and writes it to the target in the latest schema, with its
//! original key, timestamp and headers (the dead-lettering's own headers taken off), plus
//! `strata.redrive.from` (`<dead-letter topic>/<partition>/<offset>`) and
//! `strata.redrive.count` (how often it was redriven).
//!
//! # Only where the record is not yet
//!
//! A migration's dead letters are records its target does not hold: redriving them there
//! writes each once. A consumer's dead letters (a replay, a read model, the stream) are records
//! whose original is still in the topic it read: writing them there again would put a second
//! copy of the event in the log for every reader, out of its aggregate's order. A dead letter
//! whose provenance (`strata.source.topic`) is the target is refused with
//! [`RedriveError::OriginalInTarget`], before anything of it is written.
//!
//! # Once each, across crashes
//!
//! The redrive's consumer group (default `strata-redrive-<from>-<to>`) holds, per dead-letter
//! partition, the first offset not yet settled, and for each target partition a mark: the
//! target's end offset when the dead-letter offsets were last committed (offsets a group
//! commits for the target's partitions, so any broker keeps them; commit metadata would do,
//! but not every Kafka-protocol broker returns it). A batch is committed only after every
//! record of it is acknowledged, dead-letter offsets first, marks second, so whatever a
//! crashed run wrote past its last commit lies after the marks: the next run reads the target
//! from there (only that tail, other writers' records included) for `strata.redrive.from`
//! headers and skips the dead letters it finds. The marks stay put while a record in the
//! target may still have to be found: while a dead letter that still fails holds its partition
//! back (the records redriven after it), and while a letter this run found at its start lies
//! past its partition's committed offset (a crashed run's record: moving the marks past it
//! before reading up to its letter let the next run redrive that letter again, the duplicated
//! batch a kill once produced). One idempotent producer writes, so retries within a run
//! duplicate nothing.
//!
//! A run that writes first holds the group: it joins it on the dead-letter topic
//! ([`RedriveConfig::session_timeout`]) and starts only once the group assigns it every
//! partition. Another run still in the group keeps it waiting ([`RedriveError::GroupHeld`]
//! past its timeouts), and one that died is out only after its session timed out, when
//! whatever it had sent has long been appended, so the scan sees it. A run that another joins
//! meanwhile stops before writing more ([`RedriveError::LeaseLost`]). What it does not cover:
//! a zombie, a run cut off from the group coordinator but not from the target's leaders,
//! which may still deliver what it had queued (as for migration; transactions would fence it).
//!
//! # What stays behind
//!
//! - A dead letter that still does not decode stays in the dead-letter topic, reported with
//!   its coordinates and error; its partition's committed offset stays before it, so the next
//!   run (after another fix) tries it again, while the records after it are redriven now and
//!   skipped then (found in the target).
//! - A dead letter whose writer schema the schema source failed to give (unreachable,
//!   refusing) is no fault of the letter: the run stops there ([`RedriveError::SchemaSource`])
//!   as a crash would, and the next one goes on.
//! - A loop guard: a dead letter already redriven [`RedriveConfig::max_redrives`] times (its
//!   `strata.redrive.count` header, which dead-lettering keeps) came back after being
//!   redriven: it is counted and reported ([`RedriveReport::looped`]), not redriven forever.
//!
//! Records are written as the latest schema frames them (the topic name strategy); keyed
//! records go to their key's partition (murmur2, as the appender and Java clients place
//! them), keyless ones to the partition they were dead-lettered from when the target has it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::codec::Transcode;
use crate::error::DecodeError;
use crate::kafka::ClientError;
use crate::kafka::record::{
    ERROR, Headers, Provenance, SOURCE_OFFSET, SOURCE_PARTITION, SOURCE_SCHEMA_ID, SOURCE_TOPIC,
};

pub use crate::kafka::record::{REDRIVE_COUNT, REDRIVE_FROM};

/// The dead-lettering's own headers, taken off a record redriven.
const DEAD_LETTER_HEADERS: [&str; 5] =
    [SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET, SOURCE_SCHEMA_ID, ERROR];

/// What to redrive, and how.
#[derive(Debug, Clone)]
pub struct RedriveConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The dead-letter topic read.
    pub from: String,
    /// The topic written.
    pub to: String,
    /// The consumer group holding the progress (default `strata-redrive-<from>-<to>`).
    pub group: Option<String>,
    /// A dead letter redriven this many times already is held back (default 1: one that came
    /// back after a redrive is not sent again).
    pub max_redrives: u32,
    /// Records per batch: each batch is acknowledged, then committed.
    pub batch: usize,
    /// Read and decode only: write and commit nothing.
    pub dry_run: bool,
    /// How long to wait for the broker (metadata, acknowledgements).
    pub timeout: Duration,
    /// The redrive's session in its consumer group (`session.timeout.ms`): a run holds the
    /// group while it writes, and a run that died is taken as gone (its last requests long
    /// processed by the broker) this long after its last heartbeat, when the next run may
    /// start writing.
    pub session_timeout: Duration,
    /// Extra librdkafka settings for every client.
    pub kafka: Vec<(String, String)>,
}

impl RedriveConfig {
    /// Redriving `from` into `to` on `brokers`, with the defaults.
    pub fn new(brokers: impl Into<String>, from: impl Into<String>, to: impl Into<String>) -> Self {
        RedriveConfig {
            brokers: brokers.into(),
            from: from.into(),
            to: to.into(),
            group: None,
            max_redrives: 1,
            batch: 500,
            dry_run: false,
            timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(10),
            kafka: Vec::new(),
        }
    }

    /// The consumer group holding the progress.
    pub fn group(&self) -> String {
        self.group.clone().unwrap_or_else(|| format!("strata-redrive-{}-{}", self.from, self.to))
    }
}

/// A dead letter left in the dead-letter topic.
#[derive(Debug)]
pub struct Held {
    /// Its partition in the dead-letter topic.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
    /// Where it was dead-lettered from (`strata.source.*`), when the headers say.
    pub source: Option<Provenance>,
    /// How often it was redriven before.
    pub redrives: u32,
    /// Why it still fails to decode; `None` for a dead letter held by the loop guard.
    pub error: Option<DecodeError>,
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "partition {} offset {}", self.partition, self.offset)?;
        if let Some(Provenance { topic, partition, offset }) = &self.source {
            write!(f, " (from `{topic}` partition {partition} offset {offset})")?;
        }
        match &self.error {
            Some(error) => write!(f, ": {}", crate::error::Chain(error)),
            None => write!(f, ": redriven {} time(s) already, dead-lettered again", self.redrives),
        }
    }
}

/// What a redrive did (or, in a dry run, would do).
#[derive(Debug, Default)]
pub struct RedriveReport {
    /// Dead letters read.
    pub read: u64,
    /// Dead letters written to the target (in a dry run: that would be).
    pub redriven: u64,
    /// Dead letters a crashed run had written already (found in the target), skipped.
    pub already_redriven: u64,
    /// Dead letters found in the target's tail at the start (written past the last commit by
    /// a run that crashed): those this run skips.
    pub found_at_start: u64,
    /// Dead letters that still do not decode, left behind.
    pub still_failing: Vec<Held>,
    /// Dead letters held by the loop guard.
    pub looped: Vec<Held>,
}

/// A redrive could not run to the end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedriveError {
    /// The client or the broker failed.
    #[error(transparent)]
    Kafka(#[from] ClientError),
    /// A topic the redrive needs does not exist.
    #[error("{role} `{topic}` does not exist")]
    MissingTopic {
        /// `dead-letter topic` or `target`.
        role: &'static str,
        /// The topic.
        topic: String,
    },
    /// Reading and writing one topic would redrive its own records.
    #[error("redriving `{topic}` into itself")]
    SameTopic {
        /// The topic.
        topic: String,
    },
    /// A dead letter whose original is still in the target: a consumer of that topic (a
    /// replay, a read model, a stream) dead-lettered it, so writing it there again would put a
    /// second copy of the event in the log, for every reader.
    #[error(
        "dead letter at `{from}` partition {partition} offset {offset} came from `{target}` \
         partition {source_partition} offset {source_offset}, which still holds it: redriving \
         it there would put the event in the log twice for every reader. A consumer's dead \
         letters go back to that consumer (a read model's: `Projector::redrive`); redrive \
         writes only where the record is not yet (a migration's target)"
    )]
    OriginalInTarget {
        /// The dead-letter topic.
        from: String,
        /// The dead letter's partition.
        partition: i32,
        /// The dead letter's offset.
        offset: i64,
        /// The target, where the original is.
        target: String,
        /// The original's partition.
        source_partition: i32,
        /// The original's offset.
        source_offset: i64,
    },
    /// Another run holds the redrive's group: it is running, or it stopped less than its
    /// session timeout ago.
    #[error(
        "another redrive holds consumer group `{group}` (it is running, or it stopped less than \
         its session timeout ago): waited {waited:?} for every partition of `{topic}`"
    )]
    GroupHeld {
        /// The redrive's group.
        group: String,
        /// The dead-letter topic.
        topic: String,
        /// How long this run waited.
        waited: Duration,
    },
    /// Another run joined the group while this one ran: this one stopped before writing more.
    #[error(
        "another member joined consumer group `{group}` while this redrive ran: it stopped \
         (what it wrote after its last commit is found by the next run)"
    )]
    LeaseLost {
        /// The redrive's group.
        group: String,
    },
    /// The schema source failed to give a dead letter's writer schema (unreachable,
    /// refusing): no fault of the letter, so the run stops instead of holding it back as one
    /// that still fails; run it again once the source answers.
    #[error("dead letter at `{from}` partition {partition} offset {offset}")]
    SchemaSource {
        /// The dead-letter topic.
        from: String,
        /// The dead letter's partition.
        partition: i32,
        /// The dead letter's offset.
        offset: i64,
        /// The decoder's error, whose source is the schema source's.
        #[source]
        source: DecodeError,
    },
    /// Records up to a partition's end did not arrive within the timeout.
    #[error("reading `{topic}`: no record arrived within the timeout at {positions}")]
    Stalled {
        /// The topic read.
        topic: String,
        /// Where each unfinished partition stood.
        positions: String,
    },
    /// Records were not acknowledged: nothing after the last commit is taken as written.
    #[error("writing to `{topic}`: {failed} record(s) not acknowledged")]
    Delivery {
        /// The target.
        topic: String,
        /// How many.
        failed: usize,
        /// The first failure; `None` when the timeout passed without a report.
        #[source]
        source: Option<KafkaError>,
    },
}

/// Counts a batch's delivery failures.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<(usize, Option<KafkaError>)>,
}

impl rdkafka::ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            failed.0 += 1;
            failed.1.get_or_insert_with(|| e.clone());
        }
    }
}

/// Where a run stands on each dead-letter partition: the next offset to read, the first letter
/// that still fails, the offset committed; and the letters a crashed run wrote that this run
/// found in the target.
struct Tally {
    next: BTreeMap<i32, i64>,
    blocked: BTreeMap<i32, i64>,
    committed: BTreeMap<i32, i64>,
    found: HashSet<(i32, i64)>,
}

/// The redrive's hold on its consumer group: the dead-letter partitions the group assigned to
/// it, and whether one was taken away after it held them all.
#[derive(Default)]
struct Lease {
    assigned: Mutex<BTreeSet<i32>>,
    held: AtomicBool,
    lost: AtomicBool,
}

impl rdkafka::ClientContext for Lease {}

impl ConsumerContext for Lease {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            if self.held.load(Ordering::Acquire) {
                self.lost.store(true, Ordering::Release);
            }
            let mut assigned = self.assigned.lock().unwrap_or_else(|e| e.into_inner());
            for element in list.elements() {
                assigned.remove(&element.partition());
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let mut assigned = self.assigned.lock().unwrap_or_else(|e| e.into_inner());
            assigned.extend(list.elements().iter().map(|e| e.partition()));
        }
    }
}

impl Lease {
    /// An error once another run joined the group after this one held it.
    fn check(&self, group: &str) -> Result<(), RedriveError> {
        if self.lost.load(Ordering::Acquire) {
            return Err(RedriveError::LeaseLost { group: group.to_owned() });
        }
        Ok(())
    }
}

/// Joins the redrive's group on the dead-letter topic and waits until the group assigns this
/// run every one of its `partitions`: then no other run is a member, and one that died has been
/// gone for its session timeout, so nothing it sent can still land. Records polled meanwhile
/// are dropped (the caller seeks where it starts).
fn take_lease(
    consumer: &BaseConsumer<Lease>,
    config: &RedriveConfig,
    partitions: &[i32],
) -> Result<(), RedriveError> {
    consumer
        .subscribe(&[&config.from])
        .map_err(|e| ClientError::new("joining the redrive's group", e).at(&config.from, None))?;
    let started = Instant::now();
    let wait = config.timeout + config.session_timeout;
    loop {
        if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
            return Err(ClientError::new("joining the redrive's group", e)
                .at(&config.from, None)
                .into());
        }
        let assigned = consumer.context().assigned.lock().unwrap_or_else(|e| e.into_inner()).len();
        if assigned == partitions.len() {
            consumer.context().held.store(true, Ordering::Release);
            return Ok(());
        }
        if started.elapsed() > wait {
            return Err(RedriveError::GroupHeld {
                group: config.group(),
                topic: config.from.clone(),
                waited: started.elapsed(),
            });
        }
    }
}

/// Redrives `config.from` into `config.to` up to the dead-letter topic's end when it starts,
/// transcoding with `transcoder`; `on_batch` sees the report after every committed batch.
pub fn redrive(
    config: &RedriveConfig,
    transcoder: &dyn Transcode,
    on_batch: &mut dyn FnMut(&RedriveReport),
) -> Result<RedriveReport, RedriveError> {
    if config.from == config.to {
        return Err(RedriveError::SameTopic { topic: config.from.clone() });
    }
    let group = config.group();
    let session = config.session_timeout.as_millis().to_string();
    let consumer: BaseConsumer<Lease> = crate::kafka::client(
        &config.brokers,
        &[
            ("group.id", &group),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", &session),
        ],
        &config.kafka,
    )
    .create_with_context(Lease::default())
    .map_err(|e| ClientError::new("creating the dead-letter consumer", e))?;
    let dead = existing(&consumer, &config.from, "dead-letter topic", config.timeout)?;
    let targets = existing(&consumer, &config.to, "target", config.timeout)?;
    // A run that writes holds the group first (a dry run writes nothing and reads by itself).
    if !config.dry_run {
        take_lease(&consumer, config, &dead)?;
    }

    // Where each dead-letter partition stands, and from where the target must be scanned.
    let mut wanted = TopicPartitionList::new();
    for &p in &dead {
        wanted.add_partition(&config.from, p);
    }
    for &q in &targets {
        wanted.add_partition(&config.to, q);
    }
    let committed = consumer
        .committed_offsets(wanted, config.timeout)
        .map_err(|e| ClientError::new("reading the redrive's offsets", e).at(&config.from, None))?;
    let offset_of =
        |topic: &str, p: i32| match committed.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(offset)) => Some(offset),
            _ => None,
        };
    // Both topics' (low, high) offsets now: the dead letters are read up to these ends.
    let letters = watermarks(&consumer, &config.from, &dead, config.timeout)?;
    let target = watermarks(&consumer, &config.to, &targets, config.timeout)?;
    let ends_now: BTreeMap<i32, i64> = target.iter().map(|(&q, &(_, high))| (q, high)).collect();
    let start: BTreeMap<i32, i64> = letters
        .iter()
        .map(|(&p, &(low, _))| (p, offset_of(&config.from, p).unwrap_or(low)))
        .collect();
    let first_run = dead.iter().all(|&p| offset_of(&config.from, p).is_none());
    // A first run has nothing to find in the target; it commits where it starts before writing
    // anything, so a crash before its first batch's commit finds what it wrote. Later runs scan
    // from the marks (none: a crash between the first batch's two commits; the whole target).
    let scan_from: BTreeMap<i32, i64> = if first_run {
        if !config.dry_run {
            commit(&consumer, &config.from, &start)?;
            commit(&consumer, &config.to, &ends_now)?;
        }
        BTreeMap::new()
    } else {
        target.iter().map(|(&q, &(low, _))| (q, offset_of(&config.to, q).unwrap_or(low))).collect()
    };

    let already = redriven_since(config, &targets, &scan_from, &ends_now)?;

    // Read the dead letters up to their ends.
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for (&p, &(_, high)) in &letters {
        if high > start[&p] {
            ends.insert(p, high);
            assignment
                .add_partition_offset(&config.from, p, Offset::Offset(start[&p]))
                .map_err(|e| ClientError::new("assigning", e).at(&config.from, Some(p)))?;
        }
    }
    let mut report =
        RedriveReport { found_at_start: already.len() as u64, ..RedriveReport::default() };
    if ends.is_empty() {
        return Ok(report);
    }
    if config.dry_run {
        consumer
            .assign(&assignment)
            .map_err(|e| ClientError::new("assigning", e).at(&config.from, None))?;
    } else {
        // The group assigned every partition; read each from where this run starts.
        for &p in ends.keys() {
            consumer
                .seek(&config.from, p, Offset::Offset(start[&p]), config.timeout)
                .map_err(|e| ClientError::new("seeking", e).at(&config.from, Some(p)))?;
        }
    }

    let producer: Option<BaseProducer<Deliveries>> = if config.dry_run {
        None
    } else {
        let timeout = config.timeout.as_millis().to_string();
        Some(
            crate::kafka::client(
                &config.brokers,
                &[("enable.idempotence", "true"), ("message.timeout.ms", &timeout)],
                &config.kafka,
            )
            .create_with_context(Deliveries::default())
            .map_err(|e| ClientError::new("creating the producer", e).at(&config.to, None))?,
        )
    };
    let mut at = Tally {
        next: start.clone(),
        blocked: BTreeMap::new(),
        committed: start.clone(),
        found: already,
    };
    let mut in_batch = 0usize;
    let mut out = Vec::new();
    let mut idle_since = Instant::now();
    while ends.iter().any(|(p, end)| at.next[p] < *end) {
        let stalled = || {
            ends.iter()
                .filter(|(p, end)| at.next[p] < **end)
                .map(|(p, end)| format!("partition {p} at offset {} of {end}", at.next[p]))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let polled = poll(
            &consumer,
            &config.from,
            "reading dead letters",
            &mut idle_since,
            config.timeout,
            stalled,
        )?;
        let Some(message) = polled else { continue };
        let (p, offset) = (message.partition(), message.offset());
        // A letter past the end seen at start (dead-lettered since) is left for the next run:
        // the committed offset must not move past it. One before the next to read was taken
        // already (fetched again after the seek that follows joining the group).
        if offset >= ends.get(&p).copied().unwrap_or(0) || offset < at.next[&p] {
            continue;
        }
        at.next.insert(p, offset + 1);
        report.read += 1;
        if at.found.contains(&(p, offset)) {
            report.already_redriven += 1;
            continue;
        }
        let headers = Headers::of(message.headers());
        let redrives =
            headers.get_str(REDRIVE_COUNT).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
        let source = Provenance::read(headers);
        if let Some(original) = source.as_ref().filter(|s| s.topic == config.to) {
            return Err(RedriveError::OriginalInTarget {
                from: config.from.clone(),
                partition: p,
                offset,
                target: config.to.clone(),
                source_partition: original.partition,
                source_offset: original.offset,
            });
        }
        if redrives >= config.max_redrives {
            report.looped.push(Held { partition: p, offset, source, redrives, error: None });
            continue;
        }
        let payload = message.payload().unwrap_or_default();
        if let Err(error) = transcoder.transcode(payload, &mut out) {
            if error.is_source_unavailable() {
                // No fault of the letter: stop, as a crash would, with what was sent
                // acknowledged first; the next run finds it past the marks.
                if let Some(producer) = &producer {
                    let _ = producer.flush(config.timeout);
                }
                return Err(RedriveError::SchemaSource {
                    from: config.from.clone(),
                    partition: p,
                    offset,
                    source: error,
                });
            }
            at.blocked.entry(p).or_insert(offset);
            report.still_failing.push(Held {
                partition: p,
                offset,
                source,
                redrives,
                error: Some(error),
            });
            continue;
        }
        report.redriven += 1;
        let Some(producer) = &producer else { continue };
        let from = format!("{}/{p}/{offset}", config.from);
        let count = (redrives + 1).to_string();
        let headers = kept_headers(message.headers())
            .insert(Header { key: REDRIVE_FROM, value: Some(&from) })
            .insert(Header { key: REDRIVE_COUNT, value: Some(&count) });
        let mut record: BaseRecord<'_, [u8], [u8]> =
            BaseRecord::to(&config.to).payload(&out[..]).headers(headers);
        let partitions = targets.len() as i32;
        if let Some(key) = message.key() {
            record = record.key(key).partition(crate::kafka::partition_of(key, partitions));
        } else if let Some(Provenance { partition: original, .. }) = &source
            && targets.contains(original)
        {
            record = record.partition(*original);
        }
        if let Some(millis) = message.timestamp().to_millis() {
            record = record.timestamp(millis);
        }
        consumer.context().check(&group)?;
        send(producer, record, config)?;
        in_batch += 1;
        if in_batch >= config.batch {
            crate::kafka::crash_point("redrive.sent");
            settle(config, &consumer, producer, &targets, &mut at)?;
            in_batch = 0;
            on_batch(&report);
        }
    }
    if let Some(producer) = &producer {
        settle(config, &consumer, producer, &targets, &mut at)?;
    }
    on_batch(&report);
    Ok(report)
}

/// The partitions of `topic`, which must exist.
fn existing<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    role: &'static str,
    timeout: Duration,
) -> Result<Vec<i32>, RedriveError> {
    let partitions = crate::kafka::partitions(consumer, topic, timeout)
        .map_err(|e| ClientError::new("reading metadata", e).at(topic, None))?;
    if partitions.is_empty() {
        return Err(RedriveError::MissingTopic { role, topic: topic.to_owned() });
    }
    Ok(partitions)
}

/// The (low, high) offsets of each of `topic`'s `partitions`.
fn watermarks<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> Result<BTreeMap<i32, (i64, i64)>, RedriveError> {
    partitions
        .iter()
        .map(|&q| {
            consumer
                .fetch_watermarks(topic, q, timeout)
                .map(|marks| (q, marks))
                .map_err(|e| ClientError::new("reading offsets", e).at(topic, Some(q)).into())
        })
        .collect()
}

/// Sends one record, waiting while the producer's queue is full.
fn send(
    producer: &BaseProducer<Deliveries>,
    mut record: BaseRecord<'_, [u8], [u8]>,
    config: &RedriveConfig,
) -> Result<(), RedriveError> {
    let deadline = Instant::now() + config.timeout;
    loop {
        match producer.send(record) {
            Ok(()) => {
                producer.poll(Duration::ZERO);
                return Ok(());
            }
            Err((
                KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                back,
            )) if Instant::now() < deadline => {
                producer.poll(Duration::from_millis(10));
                record = back;
            }
            Err((e, _)) => {
                return Err(ClientError::new("producing", e).at(&config.to, None).into());
            }
        }
    }
}

/// Waits for every record sent to be acknowledged, then commits each dead-letter partition's
/// first unsettled offset (where it advanced), then the target's end offsets as its marks.
fn settle(
    config: &RedriveConfig,
    consumer: &BaseConsumer<Lease>,
    producer: &BaseProducer<Deliveries>,
    targets: &[i32],
    at: &mut Tally,
) -> Result<(), RedriveError> {
    let flushed = producer.flush(config.timeout);
    let (failed, first) = {
        let mut failed = producer.context().failed.lock().unwrap_or_else(|e| e.into_inner());
        (failed.0, failed.1.take())
    };
    if failed > 0 || flushed.is_err() {
        let unacknowledged = producer.in_flight_count().max(0) as usize;
        return Err(RedriveError::Delivery {
            topic: config.to.clone(),
            failed: failed + unacknowledged,
            source: first.or(flushed.err()),
        });
    }
    crate::kafka::crash_point("redrive.acknowledged");
    consumer.context().check(&config.group())?;
    let mut advanced = BTreeMap::new();
    for (&p, &next) in &at.next {
        let settled = at.blocked.get(&p).copied().unwrap_or(next);
        if settled > at.committed[&p] {
            advanced.insert(p, settled);
        }
    }
    if !advanced.is_empty() {
        commit(consumer, &config.from, &advanced)?;
        at.committed.extend(advanced);
    }
    crate::kafka::crash_point("redrive.offsets");
    // The marks must stay at or before every record in the target whose dead letter's offset
    // is not committed yet: those a partition held back by a dead letter that still fails has
    // redriven past it, and those a crashed run wrote that this run found but has not read up
    // to yet (moving the marks past them would let the next run redrive them again).
    let found_pending = at.found.iter().any(|(p, offset)| *offset >= at.committed[p]);
    if at.blocked.is_empty() && !found_pending {
        let ends = watermarks(consumer, &config.to, targets, config.timeout)?
            .into_iter()
            .map(|(q, (_, high))| (q, high))
            .collect();
        commit(consumer, &config.to, &ends)?;
    }
    crate::kafka::crash_point("redrive.marks");
    Ok(())
}

/// Commits `positions` of `topic` in the redrive's group.
fn commit<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    positions: &BTreeMap<i32, i64>,
) -> Result<(), RedriveError> {
    let mut list = TopicPartitionList::new();
    for (&p, &offset) in positions {
        list.add_partition_offset(topic, p, Offset::Offset(offset))
            .map_err(|e| ClientError::new("committing", e).at(topic, Some(p)))?;
    }
    consumer
        .commit(&list, rdkafka::consumer::CommitMode::Sync)
        .map_err(|e| ClientError::new("committing the redrive's offsets", e).at(topic, None))?;
    // A sync commit writes each partition's own answer into the list: one refused while the
    // request succeeded must not pass for committed (the marks protocol rests on it).
    for element in list.elements() {
        if let Err(e) = element.error() {
            let e = ClientError::new("committing the redrive's offsets", e);
            return Err(e.at(topic, Some(element.partition())).into());
        }
    }
    Ok(())
}

/// The dead letters (partition, offset) a run wrote into the target from `scan_from` (the
/// end offsets of the last commit) to `ends`.
fn redriven_since(
    config: &RedriveConfig,
    targets: &[i32],
    scan_from: &BTreeMap<i32, i64>,
    ends: &BTreeMap<i32, i64>,
) -> Result<HashSet<(i32, i64)>, RedriveError> {
    let mut found = HashSet::new();
    let mut assignment = TopicPartitionList::new();
    let mut remaining: BTreeMap<i32, i64> = BTreeMap::new();
    for &q in targets {
        let Some(&from) = scan_from.get(&q) else { continue };
        let end = ends.get(&q).copied().unwrap_or(0);
        if end > from {
            remaining.insert(q, end);
            assignment
                .add_partition_offset(&config.to, q, Offset::Offset(from))
                .map_err(|e| ClientError::new("assigning", e).at(&config.to, Some(q)))?;
        }
    }
    if remaining.is_empty() {
        return Ok(found);
    }
    let scanner: BaseConsumer =
        crate::kafka::client(&config.brokers, &[("enable.auto.commit", "false")], &config.kafka)
            .set("group.id", format!("{}-scan", config.group()))
            .create()
            .map_err(|e| ClientError::new("creating a consumer", e).at(&config.to, None))?;
    scanner
        .assign(&assignment)
        .map_err(|e| ClientError::new("assigning", e).at(&config.to, None))?;
    let prefix = format!("{}/", config.from);
    let mut idle_since = Instant::now();
    while !remaining.is_empty() {
        let stalled = || {
            remaining
                .iter()
                .map(|(q, end)| format!("partition {q} (end {end})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let polled = poll(
            &scanner,
            &config.to,
            "reading the target's tail",
            &mut idle_since,
            config.timeout,
            stalled,
        )?;
        let Some(message) = polled else { continue };
        let provenance = Headers::of(message.headers())
            .get_str(REDRIVE_FROM)
            .and_then(|v| v.strip_prefix(&prefix))
            .and_then(|from| from.split_once('/'))
            .and_then(|(p, offset)| Some((p.parse().ok()?, offset.parse().ok()?)));
        if let Some(dead_letter) = provenance {
            found.insert(dead_letter);
        }
        if message.offset() + 1 >= remaining.get(&message.partition()).copied().unwrap_or(0) {
            remaining.remove(&message.partition());
        }
    }
    Ok(found)
}

/// The next record of `consumer` reading `topic`, `None` after an idle poll; an error once
/// nothing arrived for `timeout` (`stalled` says where each unfinished partition stood).
fn poll<'c, C: ConsumerContext>(
    consumer: &'c BaseConsumer<C>,
    topic: &str,
    action: &'static str,
    idle_since: &mut Instant,
    timeout: Duration,
    stalled: impl FnOnce() -> String,
) -> Result<Option<rdkafka::message::BorrowedMessage<'c>>, RedriveError> {
    match consumer.poll(Duration::from_millis(100)) {
        Some(message) => {
            *idle_since = Instant::now();
            Ok(Some(message.map_err(|e| ClientError::new(action, e).at(topic, None))?))
        }
        None if idle_since.elapsed() > timeout => {
            Err(RedriveError::Stalled { topic: topic.to_owned(), positions: stalled() })
        }
        None => Ok(None),
    }
}

/// A dead letter's headers without the dead-lettering's own (the last of each name) and
/// without an earlier redrive's.
fn kept_headers(headers: Option<&rdkafka::message::BorrowedHeaders>) -> OwnedHeaders {
    let mut kept = OwnedHeaders::new();
    let Some(headers) = headers else { return kept };
    let all: Vec<_> = headers.iter().collect();
    let dropped: Vec<usize> = DEAD_LETTER_HEADERS
        .iter()
        .filter_map(|name| all.iter().rposition(|h| h.key == *name))
        .collect();
    for (i, header) in all.into_iter().enumerate() {
        if dropped.contains(&i) || header.key == REDRIVE_FROM || header.key == REDRIVE_COUNT {
            continue;
        }
        kept = kept.insert(header);
    }
    kept
}
