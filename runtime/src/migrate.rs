//! Topic migration (feature `kafka`): rewrite a topic so every record carries the latest schema,
//! partition for partition, without losing, duplicating or reordering a record.
//!
//! Source partition p goes to target partition p. A missing target is created with the
//! source's partition count, replication factor and own settings of retention, compaction,
//! record size, timestamp type, `min.insync.replicas` and compression; an existing one with
//! another partition count is refused. Each record keeps its key, timestamp and
//! headers; its value is decoded (any version, upcasters included) and re-encoded with the latest
//! schema; provenance headers (`strata.source.topic`, `.partition`, `.offset`, `.schema_id`) are
//! added. Reading (consume, decode, re-encode) and writing (produce) run on two threads.
//!
//! # Exactly once, on any broker
//!
//! There are no transactions here: the target itself is the record of progress. Every start,
//! and every partition a consumer group assigns, reads the last record of target partition p
//! and resumes right after the source offset it names. What makes that exact:
//!
//! - one idempotent producer writes each partition in order; a batch that fails for good stops
//!   it (`enable.gapless.guarantee`) instead of leaving a gap behind later records, and the
//!   migration then fails with the record's coordinates;
//! - a crash loses only records not yet acknowledged, which are after the target's last record:
//!   the rerun writes them; nothing before it is written twice;
//! - in a consumer group, an instance delivers every record it queued for a partition before
//!   giving the partition up (in the revocation callback), so the next owner reads a complete
//!   tail;
//! - a source whose records right after the target's tail were already deleted (retention)
//!   is refused, never skipped.
//!
//! What it does not cover: a zombie. An instance that lost its partitions without knowing it
//! (stalled past the group's session timeout, or cut off from the group coordinator but not
//! from the partition leaders) may still deliver records it had queued after the next owner
//! read the tail: those records are then in the target twice, never missing, and in order
//! within each writer's run. `verify` reports them (a target record naming a source offset out
//! of sequence), and consumers can drop them by provenance (a source offset not above the last
//! one seen). Two separate runs started by hand on the same partitions without a group are the
//! same case. Transactions would fence a zombie (a new producer epoch aborts the old one's
//! writes); strata does not use them yet (see ARCHITECTURE.md).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigSource, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::producer::Producer;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

mod writer;

pub use crate::codec::{Transcode, Transcoder};
use crate::error::DecodeError;
use writer::{Deliveries, MigrationProducer, Pipe};

/// Provenance headers added to every migrated record and dead letter (the same names as
/// replay's dead letters).
pub use crate::kafka::{ERROR, SOURCE_OFFSET, SOURCE_PARTITION, SOURCE_SCHEMA_ID, SOURCE_TOPIC};

/// What to migrate, and how.
#[derive(Debug, Clone)]
pub struct MigrateConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The source topic.
    pub from: String,
    /// The target topic (created with the source's partition count when missing).
    pub to: String,
    /// Where records that cannot be decoded go (with their coordinates as headers); `None`:
    /// the migration stops at the first one.
    pub dead_letter_topic: Option<String>,
    /// Extra librdkafka settings.
    pub kafka: Vec<(String, String)>,
    /// How long metadata, offsets and flushes may take.
    pub timeout: Duration,
    /// Keep migrating new source records until the progress callback says stop.
    pub follow: bool,
    /// How often the progress callback is called.
    pub progress_every: Duration,
    /// A consumer group: instances sharing it split the source partitions between them.
    /// `None`: this instance migrates every partition.
    pub group: Option<String>,
}

impl MigrateConfig {
    /// Migrate `from` into `to` on `brokers`, stopping at the first bad record.
    pub fn new(brokers: impl Into<String>, from: &str, to: &str) -> Self {
        MigrateConfig {
            brokers: brokers.into(),
            from: from.to_owned(),
            to: to.to_owned(),
            dead_letter_topic: None,
            kafka: Vec::new(),
            timeout: Duration::from_secs(30),
            follow: false,
            progress_every: Duration::from_secs(1),
            group: None,
        }
    }

    fn client(&self) -> ClientConfig {
        self.client_with(&[])
    }

    /// A client with `tuning` (which the user's `kafka` settings override).
    fn client_with(&self, tuning: &[(&str, &str)]) -> ClientConfig {
        let group = format!("strata-migrate-{}", self.from);
        let mut settings = vec![("enable.auto.commit", "false"), ("group.id", group.as_str())];
        settings.extend_from_slice(tuning);
        crate::kafka::client(&self.brokers, &settings, &self.kafka)
    }
}

/// What a migration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Records written to the target in this run.
    pub migrated: u64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Per partition, the source offset this run started from (resumed after the target's
    /// last record, or the source's first offset).
    pub resumed_from: BTreeMap<i32, i64>,
    /// Per partition, the source's end offset when the run started: everything before it is
    /// in the target now.
    pub ends: BTreeMap<i32, i64>,
    /// Per partition, where the run stopped in both topics.
    pub offset_map: BTreeMap<i32, OffsetPair>,
}

/// The same place in both topics: the next source offset to migrate, and the target offset
/// its record gets (or got).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPair {
    /// The source offset.
    pub source: i64,
    /// The equivalent target offset.
    pub target: i64,
}

/// A migration or verification that could not run or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The client or the broker failed.
    #[error(transparent)]
    Kafka(#[from] crate::kafka::ClientError),
    /// A topic the migration needs does not exist.
    #[error("{role} `{topic}` does not exist")]
    MissingTopic {
        /// `source` or `target`.
        role: &'static str,
        /// The topic.
        topic: String,
    },
    /// The target exists with another partition count than the source: partition p must go to
    /// partition p.
    #[error(
        "target `{target}` exists with {target_partitions} partition(s), the source `{source_topic}` has {source_partitions}: partition p must go to partition p, so the counts must match"
    )]
    PartitionCountMismatch {
        /// The source topic.
        source_topic: String,
        /// Its partition count.
        source_partitions: usize,
        /// The target topic.
        target: String,
        /// Its partition count.
        target_partitions: usize,
    },
    /// Source records right after the target's tail were deleted (retention) before they were
    /// migrated: refused, never skipped.
    #[error(
        "source `{topic}` partition {partition} starts at offset {low}, but the target holds records up to source offset {migrated} only: offsets {} to {} were deleted before they were migrated",
        migrated + 1,
        low - 1
    )]
    RetentionGap {
        /// The source topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The last source offset in the target.
        migrated: i64,
        /// The partition's first offset now.
        low: i64,
    },
    /// A target record that this migration did not write (no provenance from the source
    /// partition): the target is not this migration's.
    #[error(
        "target `{target}` partition {partition} offset {offset} has no provenance from source partition {partition}: it was not written by this migration"
    )]
    ForeignTarget {
        /// The target topic.
        target: String,
        /// The partition.
        partition: i32,
        /// The target record's offset.
        offset: i64,
    },
    /// The producer's queue stayed full for the whole timeout.
    #[error("producing to `{topic}`: the queue stayed full for {timeout:?}")]
    QueueFull {
        /// The topic written.
        topic: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// A Kafka call did not finish in time.
    #[error("{action} of `{topic}` partition {partition} timed out after {timeout:?}")]
    Timeout {
        /// What was being done.
        action: &'static str,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// How long it waited.
        timeout: Duration,
    },
    /// The writing half's thread could not be started.
    #[error("cannot start the migration's writer thread")]
    Thread(#[source] std::io::Error),
    /// The writing half of the migration stopped (it panicked).
    #[error("the migration's writer thread stopped (it panicked)")]
    WriterStopped,
    /// The broker names no replicas of the source, so the target cannot copy its replication.
    #[error(
        "the broker names no replicas of source `{topic}`: cannot create the target with the same replication factor"
    )]
    NoReplicas {
        /// The source topic.
        topic: String,
    },
    /// A source record could not be decoded, and no dead-letter topic is configured. The
    /// records before it are migrated; a rerun resumes right before it.
    #[error("cannot migrate the record at topic `{topic}` partition {partition} offset {offset}")]
    Record {
        /// The source topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
        /// Why.
        source: DecodeError,
    },
}

fn kafka(action: &'static str) -> impl Fn(rdkafka::error::KafkaError) -> MigrateError {
    move |e| MigrateError::Kafka(crate::kafka::ClientError::new(action, e))
}

fn missing(role: &'static str, topic: &str) -> MigrateError {
    MigrateError::MissingTopic { role, topic: topic.to_owned() }
}

/// The same, at `topic` partition `partition`.
fn kafka_at<'a>(
    action: &'static str,
    topic: &'a str,
    partition: i32,
) -> impl Fn(rdkafka::error::KafkaError) -> MigrateError + 'a {
    move |e| {
        MigrateError::Kafka(crate::kafka::ClientError::new(action, e).at(topic, Some(partition)))
    }
}

/// The partitions of `topic`, or `None` when it does not exist.
fn partitions<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    timeout: Duration,
) -> Result<Option<Vec<i32>>, MigrateError> {
    let found =
        crate::kafka::partitions(consumer, topic, timeout).map_err(kafka("reading metadata"))?;
    Ok((!found.is_empty()).then_some(found))
}

fn header<'a>(message: &'a BorrowedMessage<'_>, name: &str) -> Option<&'a str> {
    let headers = message.headers()?;
    headers.iter().find(|h| h.key == name).and_then(|h| std::str::from_utf8(h.value?).ok())
}

/// The source offset named by the last record of target partition `partition`, if any, read
/// with `consumer` (a helper of its own: never a group member's handle).
fn target_tail(
    consumer: &BaseConsumer,
    config: &MigrateConfig,
    partition: i32,
) -> Result<Option<i64>, MigrateError> {
    let (low, high) = consumer
        .fetch_watermarks(&config.to, partition, config.timeout)
        .map_err(kafka_at("reading the target's offsets", &config.to, partition))?;
    if high <= low {
        return Ok(None);
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&config.to, partition, Offset::Offset(high - 1))
        .map_err(kafka_at("reading the target's tail", &config.to, partition))?;
    consumer.assign(&assignment).map_err(kafka_at(
        "reading the target's tail",
        &config.to,
        partition,
    ))?;
    let deadline = Instant::now() + config.timeout;
    loop {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message =
                message.map_err(kafka_at("reading the target's tail", &config.to, partition))?;
            let source_partition = header(&message, SOURCE_PARTITION);
            let offset = header(&message, SOURCE_OFFSET).and_then(|o| o.parse::<i64>().ok());
            return match (source_partition, offset) {
                (Some(p), Some(offset)) if p == partition.to_string() => Ok(Some(offset)),
                _ => Err(MigrateError::ForeignTarget {
                    target: config.to.clone(),
                    partition,
                    offset: message.offset(),
                }),
            };
        }
        if Instant::now() > deadline {
            return Err(MigrateError::Timeout {
                action: "reading the target's last record",
                topic: config.to.clone(),
                partition,
                timeout: config.timeout,
            });
        }
    }
}

/// Where one source partition's migration resumes.
#[derive(Debug, Clone, Copy)]
struct Resume {
    partition: i32,
    /// The next source offset to migrate: right after the one the target's last record names.
    next: i64,
    /// The source's end offset when resumed.
    end: i64,
}

/// Where each of `partitions` resumes, from the target's tail. Refuses when the source no
/// longer holds the records right after it (deleted by retention before being migrated).
fn resume_points(config: &MigrateConfig, partitions: &[i32]) -> Result<Vec<Resume>, MigrateError> {
    let consumer: BaseConsumer = config.client().create().map_err(kafka("creating a consumer"))?;
    partitions
        .iter()
        .map(|&partition| {
            let (low, end) = consumer
                .fetch_watermarks(&config.from, partition, config.timeout)
                .map_err(kafka_at("reading the source's offsets", &config.from, partition))?;
            let next = match target_tail(&consumer, config, partition)? {
                Some(done) if done + 1 < low => {
                    return Err(MigrateError::RetentionGap {
                        topic: config.from.clone(),
                        partition,
                        migrated: done,
                        low,
                    });
                }
                Some(done) => done + 1,
                None => low,
            };
            Ok(Resume { partition, next, end })
        })
        .collect()
}

/// Fails with the producer's first failure, if any.
fn delivered(producer: &MigrationProducer) -> Result<(), MigrateError> {
    producer.context().check()
}

/// What a rebalance changed, for the migration loop to apply after its poll.
enum Change {
    Assigned(Vec<Resume>),
    /// Partitions revoked (their records flushed); `reassigned`: an assignment follows (the
    /// eager protocol revokes everything first).
    Revoked {
        partitions: Vec<i32>,
        reassigned: bool,
    },
    Failed(MigrateError),
}

/// The source consumer's context. In a consumer group it resumes each assigned partition from
/// the target's tail, and delivers every record of a revoked partition before letting it go,
/// so that the next owner reads a complete tail.
struct Membership {
    config: MigrateConfig,
    producer: Arc<MigrationProducer>,
    pipe: Arc<Pipe>,
    changes: Mutex<Vec<Change>>,
    changed: AtomicBool,
}

impl Membership {
    fn push(&self, change: Change) {
        self.changes.lock().unwrap_or_else(PoisonError::into_inner).push(change);
        self.changed.store(true, Ordering::Release);
    }

    fn take(&self) -> Vec<Change> {
        if !self.changed.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ClientContext for Membership {}

impl ConsumerContext for Membership {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        assignment: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let partitions: Vec<i32> = assignment
            .elements_for_topic(&self.config.from)
            .iter()
            .map(|e| e.partition())
            .collect();
        let done = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let points = resume_points(&self.config, &partitions).and_then(|points| {
                    for point in &points {
                        assignment
                            .set_partition_offset(
                                &self.config.from,
                                point.partition,
                                Offset::Offset(point.next),
                            )
                            .map_err(kafka("assigning"))?;
                    }
                    Ok(points)
                });
                match points {
                    Ok(points) => {
                        self.push(Change::Assigned(points));
                        if cooperative {
                            consumer.incremental_assign(assignment)
                        } else {
                            consumer.assign(assignment)
                        }
                    }
                    Err(e) => {
                        self.push(Change::Failed(e));
                        consumer.assign(&TopicPartitionList::new())
                    }
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let flushed = self.pipe.drain().and_then(|()| {
                    self.producer
                        .flush(self.config.timeout)
                        .map_err(kafka("delivering the records of revoked partitions"))?;
                    delivered(&self.producer)
                });
                if let Err(e) = flushed {
                    self.push(Change::Failed(e));
                }
                self.push(Change::Revoked { partitions, reassigned: !cooperative });
                if cooperative {
                    consumer.incremental_unassign(assignment)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                let code: RDKafkaErrorCode = other.into();
                let e = rdkafka::error::KafkaError::Rebalance(code);
                self.push(Change::Failed(kafka("rebalancing")(e)));
                consumer.unassign()
            }
        };
        if let Err(e) = done {
            self.push(Change::Failed(kafka("rebalancing")(e)));
        }
    }
}

/// Creates the target with the source's partition count, or checks the existing one has it.
fn prepare_target(config: &MigrateConfig, source: &[i32]) -> Result<(), MigrateError> {
    let consumer: BaseConsumer = config.client().create().map_err(kafka("creating a consumer"))?;
    match partitions(&consumer, &config.to, config.timeout)? {
        Some(target) if target.len() == source.len() => Ok(()),
        Some(target) => Err(MigrateError::PartitionCountMismatch {
            source_topic: config.from.clone(),
            source_partitions: source.len(),
            target: config.to.clone(),
            target_partitions: target.len(),
        }),
        None => {
            let admin: AdminClient<DefaultClientContext> =
                config.client().create().map_err(kafka("creating the admin client"))?;
            let options = AdminOptions::new().operation_timeout(Some(config.timeout));
            let carried = carried_settings(config, &admin, &options)?;
            let replicas = source_replicas(&consumer, config)?;
            let mut topic =
                NewTopic::new(&config.to, source.len() as i32, TopicReplication::Fixed(replicas));
            for (name, value) in &carried {
                topic = topic.set(name, value);
            }
            for result in futures_executor::block_on(admin.create_topics([&topic], &options))
                .map_err(kafka("creating the target"))?
            {
                result.map_err(|(t, code)| {
                    let e = rdkafka::error::KafkaError::AdminOp(code);
                    MigrateError::Kafka(
                        crate::kafka::ClientError::new("creating the target", e).at(&t, None),
                    )
                })?;
            }
            Ok(())
        }
    }
}

/// Topic settings a target created for the source takes from it (where set on the source):
/// what the topic keeps, what it accepts and how it stamps records.
const CARRIED: [&str; 9] = [
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "delete.retention.ms",
    "min.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "min.insync.replicas",
    "compression.type",
];

/// The source's own values of the [`CARRIED`] settings.
fn carried_settings(
    config: &MigrateConfig,
    admin: &AdminClient<DefaultClientContext>,
    options: &AdminOptions,
) -> Result<Vec<(String, String)>, MigrateError> {
    let source = ResourceSpecifier::Topic(&config.from);
    let described = futures_executor::block_on(admin.describe_configs([&source], options))
        .map_err(kafka("reading the source's settings"))?;
    let mut carried = Vec::new();
    for resource in described {
        let resource = resource.map_err(|code| {
            let e = rdkafka::error::KafkaError::AdminOp(code);
            let e = crate::kafka::ClientError::new("reading the source's settings", e);
            MigrateError::Kafka(e.at(&config.from, None))
        })?;
        for entry in resource.entries {
            let own = matches!(entry.source, ConfigSource::DynamicTopic) && !entry.is_default;
            if let (true, Some(value)) =
                (own && CARRIED.contains(&entry.name.as_str()), entry.value)
            {
                carried.push((entry.name, value));
            }
        }
    }
    Ok(carried)
}

/// The source's replication factor (that of its first partition).
fn source_replicas(consumer: &BaseConsumer, config: &MigrateConfig) -> Result<i32, MigrateError> {
    let metadata = consumer
        .fetch_metadata(Some(&config.from), config.timeout)
        .map_err(kafka("reading the source's metadata"))?;
    let replicas = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == config.from)
        .flat_map(|t| t.partitions().iter().map(|p| p.replicas().len()))
        .next()
        .unwrap_or(0);
    match i32::try_from(replicas) {
        Ok(replicas) if replicas > 0 => Ok(replicas),
        _ => Err(MigrateError::NoReplicas { topic: config.from.clone() }),
    }
}

/// Where a migration is.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrateProgress {
    /// Records migrated in this run.
    pub migrated: u64,
    /// Records per second since the run started.
    pub rate: f64,
    /// Source records not migrated yet, up to the end offsets seen at start (catch-up) or
    /// last seen (follow), in the partitions this instance holds.
    pub lag: i64,
    /// The source partitions this instance holds now (all of them without a group).
    pub partitions: Vec<i32>,
}

/// Migrates every source record up to the end offsets seen at start, resuming after what the
/// target already holds.
pub fn migrate(
    config: &MigrateConfig,
    transcoder: &dyn Transcode,
) -> Result<MigrationReport, MigrateError> {
    migrate_with(config, transcoder, &mut |_| true)
}

/// [`migrate`] reporting progress about every `progress_every`; the callback returns `false` to
/// stop (the way to end a follow migration: `config.follow`).
///
/// With `config.group`, instances sharing the group split the source partitions through
/// Kafka's consumer-group protocol: each resumes every partition it is assigned from the
/// target's tail, and delivers everything it wrote to a partition before giving it up. In
/// catch-up mode an instance stops once the partitions it holds are migrated up to their end
/// offsets when assigned (the others' partitions are theirs to finish).
pub fn migrate_with(
    config: &MigrateConfig,
    transcoder: &dyn Transcode,
    on_progress: &mut dyn FnMut(&MigrateProgress) -> bool,
) -> Result<MigrationReport, MigrateError> {
    let producer: Arc<MigrationProducer> = Arc::new(
        config
            .client_with(&[("linger.ms", "5"), ("message.timeout.ms", "0")])
            // What exactly once rests on, whatever the user's settings: an idempotent producer
            // whose failed batch stops it rather than leave a gap behind later records. Records
            // never expire locally (by default): an unreachable broker fails the final flush.
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("enable.gapless.guarantee", "true")
            .create_with_context(Deliveries::new())
            .map_err(kafka("creating the producer"))?,
    );
    let (pipe, writer_end) = writer::pipe();
    let pipe = Arc::new(pipe);
    std::thread::scope(|scope| {
        let writer = std::thread::Builder::new()
            .name("strata-migrate-writer".into())
            .spawn_scoped(scope, || writer::write(writer_end, &pipe, &producer, config))
            .map_err(MigrateError::Thread)?;
        let stop = StopWriter(&pipe);
        let result = read(config, transcoder, on_progress, &producer, &pipe);
        if result.is_err() {
            // Best effort: what was read before the failure is written (a rerun resumes after
            // it either way).
            let _ = pipe.drain().map(|()| producer.flush(config.timeout));
        }
        drop(stop);
        if writer.join().is_err() {
            return Err(MigrateError::WriterStopped);
        }
        result
    })
}

/// Stops the writer thread however the reading half ends, a panicking progress callback
/// included (the scope would otherwise wait for the writer forever).
struct StopWriter<'a>(&'a Pipe);

impl Drop for StopWriter<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The reading half of [`migrate_with`]: consumes, decodes and re-encodes, hands the records to
/// the writer thread through `pipe`.
fn read(
    config: &MigrateConfig,
    transcoder: &dyn Transcode,
    on_progress: &mut dyn FnMut(&MigrateProgress) -> bool,
    producer: &Arc<MigrationProducer>,
    pipe: &Arc<Pipe>,
) -> Result<MigrationReport, MigrateError> {
    let membership = Membership {
        config: config.clone(),
        producer: Arc::clone(producer),
        pipe: Arc::clone(pipe),
        changes: Mutex::new(Vec::new()),
        changed: AtomicBool::new(false),
    };
    // Large fetches: a fetch per few records costs the broker and librdkafka's thread more
    // than the records themselves (measured: 60% of a bare copy's rate with these, 42% without).
    let mut client =
        config.client_with(&[("fetch.min.bytes", "500000"), ("fetch.wait.max.ms", "100")]);
    if let Some(group) = &config.group {
        client.set("group.id", group);
    }
    let consumer: BaseConsumer<Membership> =
        client.create_with_context(membership).map_err(kafka("creating a consumer"))?;
    let source = partitions(&consumer, &config.from, config.timeout)?
        .ok_or_else(|| missing("source", &config.from))?;
    prepare_target(config, &source)?;
    if config.group.is_some() {
        consumer.subscribe(&[config.from.as_str()]).map_err(kafka("joining the group"))?;
    } else {
        let points = resume_points(config, &source)?;
        let mut assignment = TopicPartitionList::new();
        for point in &points {
            assignment
                .add_partition_offset(&config.from, point.partition, Offset::Offset(point.next))
                .map_err(kafka("assigning"))?;
        }
        consumer.assign(&assignment).map_err(kafka("assigning"))?;
        consumer.context().push(Change::Assigned(points));
    }

    let mut report = MigrationReport::default();
    let mut held = Held::default();
    let mut value = Vec::with_capacity(256);
    let started = Instant::now();
    let mut ticker = crate::kafka::Ticker::new(config.progress_every);
    let mut idle = false;
    loop {
        held.apply(consumer.context().take(), &mut report)?;
        if held.done() && !config.follow {
            break;
        }
        if ticker.due(idle) {
            delivered(producer)?;
            let progress = MigrateProgress {
                migrated: report.migrated,
                rate: crate::kafka::rate(report.migrated, started),
                lag: crate::kafka::lag(&held.positions, &held.ends),
                partitions: held.positions.keys().copied().collect(),
            };
            if !on_progress(&progress) {
                break;
            }
        }
        let polled = consumer.poll(Duration::from_millis(100));
        idle = polled.is_none();
        let Some(message) = polled else {
            continue;
        };
        let message = message.map_err(kafka("consuming"))?;
        let (partition, offset) = (message.partition(), message.offset());
        held.apply(consumer.context().take(), &mut report)?;
        // A record of a partition no longer held, or from before it was resumed: its owner
        // migrates it (after the target's tail).
        let (Some(end), Some(next)) =
            (held.ends.get_mut(&partition), held.positions.get(&partition))
        else {
            continue;
        };
        if offset < *next {
            continue;
        }
        if offset >= *end {
            if !config.follow {
                held.positions.insert(partition, offset + 1);
                continue;
            }
            *end = offset + 1;
            report.ends.insert(partition, offset + 1);
        }
        let payload = message.payload().unwrap_or_default();
        match transcoder.transcode(payload, &mut value) {
            Ok(()) => {
                let schema_id = crate::wire::split_frame(payload).ok().map(|(id, _)| id);
                pipe.add(&message, Ok((&value, schema_id)))?;
                report.migrated += 1;
            }
            Err(source) if config.dead_letter_topic.is_some() => {
                pipe.add(&message, Err(&source.to_string()))?;
                report.dead_lettered += 1;
            }
            Err(source) => {
                return Err(MigrateError::Record {
                    topic: config.from.clone(),
                    partition,
                    offset,
                    source,
                });
            }
        }
        held.positions.insert(partition, offset + 1);
    }
    pipe.drain()?;
    producer.flush(config.timeout).map_err(kafka("delivering the migrated records"))?;
    delivered(producer)?;
    // The offset map: where each partition stands, in both topics.
    let mut stood = held.left;
    stood.extend(held.positions);
    for (partition, next) in stood {
        let (_, high) = consumer
            .fetch_watermarks(&config.to, partition, config.timeout)
            .map_err(kafka_at("reading the target's offsets", &config.to, partition))?;
        report.offset_map.insert(partition, OffsetPair { source: next, target: high });
    }
    Ok(report)
}

/// The source partitions an instance holds, and where they stand.
#[derive(Default)]
struct Held {
    /// Per held partition: the next source offset to migrate.
    positions: BTreeMap<i32, i64>,
    /// Per held partition: the end offset to reach (catch-up), or the highest seen (follow).
    ends: BTreeMap<i32, i64>,
    /// Where the partitions given up stood (for the offset map).
    left: BTreeMap<i32, i64>,
    /// Whether partitions are assigned (none may be) and no assignment is pending.
    assigned: bool,
}

impl Held {
    fn apply(
        &mut self,
        changes: Vec<Change>,
        report: &mut MigrationReport,
    ) -> Result<(), MigrateError> {
        for change in changes {
            match change {
                Change::Assigned(points) => {
                    self.assigned = true;
                    for Resume { partition, next, end } in points {
                        self.positions.insert(partition, next);
                        self.ends.insert(partition, end);
                        report.resumed_from.insert(partition, next);
                        report.ends.insert(partition, end);
                    }
                }
                Change::Revoked { partitions, reassigned } => {
                    self.assigned = !reassigned;
                    for partition in partitions {
                        self.ends.remove(&partition);
                        if let Some(next) = self.positions.remove(&partition) {
                            self.left.insert(partition, next);
                        }
                    }
                }
                Change::Failed(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Every held partition migrated up to its end offset.
    fn done(&self) -> bool {
        self.assigned && self.positions.iter().all(|(p, next)| *next >= self.ends[p])
    }
}

/// One partition's verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCheck {
    /// The partition.
    pub partition: i32,
    /// Records in the source.
    pub source: u64,
    /// Records in the target.
    pub target: u64,
    /// Source records found in the dead-letter topic instead of the target.
    pub dead_lettered: u64,
    /// The first difference, if any.
    pub problem: Option<String>,
}

/// Reads both topics and checks each partition: target record i names the i-th source record
/// that was not dead-lettered (no gap, no duplicate, same order); the same key and timestamp;
/// the target value is the source value re-encoded as the latest version.
///
/// With [`MigrateConfig::dead_letter_topic`], the source records the migration sent there
/// (found by their provenance headers) are accounted for as dead letters, not as missing.
pub fn verify(
    config: &MigrateConfig,
    transcoder: &dyn Transcode,
) -> Result<Vec<PartitionCheck>, MigrateError> {
    let consumer: BaseConsumer = config.client().create().map_err(kafka("creating a consumer"))?;
    let source = partitions(&consumer, &config.from, config.timeout)?
        .ok_or_else(|| missing("source", &config.from))?;
    let target = partitions(&consumer, &config.to, config.timeout)?
        .ok_or_else(|| missing("target", &config.to))?;
    if target.len() != source.len() {
        return Err(MigrateError::PartitionCountMismatch {
            source_topic: config.from.clone(),
            source_partitions: source.len(),
            target: config.to.clone(),
            target_partitions: target.len(),
        });
    }
    let dead = match &config.dead_letter_topic {
        Some(topic) => dead_letters(config, &consumer, topic)?,
        None => BTreeMap::new(),
    };
    let unaccounted = if config.dead_letter_topic.is_some() {
        ""
    } else {
        "; if the migration dead-lettered it, verify with the dead-letter topic"
    };
    let latest = transcoder.latest_id().to_be_bytes();
    let mut checks = Vec::new();
    for &partition in &source {
        // Both partitions streamed side by side: memory stays flat whatever their size.
        let mut sources = partition_records(config, &config.from, partition)?;
        let mut targets = partition_records(config, &config.to, partition)?;
        let dead_here = dead.get(&partition);
        let (mut source_count, mut target_count, mut dead_lettered) = (0u64, 0u64, 0u64);
        let mut problem = None;
        for s in sources.by_ref() {
            let s = s?;
            source_count += 1;
            if dead_here.is_some_and(|offsets| offsets.contains(&s.offset)) {
                dead_lettered += 1;
                continue;
            }
            let Some(t) = targets.next().transpose()? else {
                problem = Some(format!(
                    "source offset {} and after are missing from the target{unaccounted}",
                    s.offset
                ));
                break;
            };
            target_count += 1;
            let named = t.headers.get(SOURCE_OFFSET).and_then(|o| o.parse::<i64>().ok());
            let why = match named {
                None => Some(format!(
                    "target offset {} names no source offset (header `{SOURCE_OFFSET}`)",
                    t.offset
                )),
                Some(n) if n > s.offset => Some(format!(
                    "source offset {} is missing from the target (target offset {} names source offset {n}){unaccounted}",
                    s.offset, t.offset
                )),
                Some(n) if n < s.offset => Some(format!(
                    "target offset {} names source offset {n} again or out of order, expected {}",
                    t.offset, s.offset
                )),
                Some(_) if t.key != s.key => {
                    Some(format!("target offset {}: the key differs", t.offset))
                }
                Some(_) if t.timestamp != s.timestamp => {
                    Some(format!("target offset {}: the timestamp differs", t.offset))
                }
                Some(_) if t.value.get(1..5) != Some(&latest[..]) => Some(format!(
                    "target offset {}: not framed with the latest schema id",
                    t.offset
                )),
                Some(_) => match transcoder.same(&s.value, &t.value) {
                    Ok(true) => None,
                    Ok(false) => Some(format!("target offset {}: the value differs", t.offset)),
                    Err(e) => Some(format!("offset {} or its source: {e}", t.offset)),
                },
            };
            if why.is_some() {
                problem = why;
                break;
            }
        }
        // The rest of both partitions, counted (the first difference is reported already).
        let mut extra = None;
        for t in targets.by_ref() {
            let t = t?;
            extra.get_or_insert(t.offset);
            target_count += 1;
        }
        for s in sources {
            s?;
            source_count += 1;
        }
        if problem.is_none()
            && let Some(extra) = extra
        {
            problem = Some(format!(
                "{source_count} source record(s) ({dead_lettered} dead-lettered), {target_count} target record(s): target offset {extra} and after name no further source record"
            ));
        }
        checks.push(PartitionCheck {
            partition,
            source: source_count,
            target: target_count,
            dead_lettered,
            problem,
        });
    }
    Ok(checks)
}

/// The source offsets, per source partition, of the records a migration of `config.from`
/// sent to the dead-letter topic (read from their provenance headers).
fn dead_letters(
    config: &MigrateConfig,
    consumer: &BaseConsumer,
    topic: &str,
) -> Result<BTreeMap<i32, std::collections::BTreeSet<i64>>, MigrateError> {
    let mut dead: BTreeMap<i32, std::collections::BTreeSet<i64>> = BTreeMap::new();
    let Some(partitions) = partitions(consumer, topic, config.timeout)? else {
        return Ok(dead);
    };
    for partition in partitions {
        for record in partition_records(config, topic, partition)? {
            let record = record?;
            let header = |name| record.headers.get(name).map(String::as_str);
            if header(SOURCE_TOPIC) != Some(config.from.as_str()) {
                continue;
            }
            let source_partition = header(SOURCE_PARTITION).and_then(|p| p.parse().ok());
            let source_offset = header(SOURCE_OFFSET).and_then(|o| o.parse().ok());
            if let (Some(p), Some(o)) = (source_partition, source_offset) {
                dead.entry(p).or_default().insert(o);
            }
        }
    }
    Ok(dead)
}

/// A record as stored: what `verify` compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its offset.
    pub offset: i64,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its timestamp (milliseconds since the epoch), if any.
    pub timestamp: Option<i64>,
    /// Its value.
    pub value: Vec<u8>,
    /// Its headers (values read as UTF-8, lossily).
    pub headers: BTreeMap<String, String>,
}

/// Every record of one partition, up to its end offset when read, in memory: for tests and
/// small topics; [`partition_records`] streams them.
pub fn read_partition(
    config: &MigrateConfig,
    topic: &str,
    partition: i32,
) -> Result<Vec<StoredRecord>, MigrateError> {
    partition_records(config, topic, partition)?.collect()
}

/// The records of one partition up to its end offset when opened, read one at a time: memory
/// stays flat whatever the partition's size (librdkafka's prefetch is capped at 16 MiB).
pub fn partition_records(
    config: &MigrateConfig,
    topic: &str,
    partition: i32,
) -> Result<PartitionRecords, MigrateError> {
    let consumer: BaseConsumer = config
        .client()
        .set("queued.max.messages.kbytes", "16384")
        .create()
        .map_err(kafka("creating a consumer"))?;
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, config.timeout)
        .map_err(kafka_at("reading offsets", topic, partition))?;
    if high > low {
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition, Offset::Offset(low))
            .map_err(kafka_at("assigning", topic, partition))?;
        consumer.assign(&assignment).map_err(kafka_at("assigning", topic, partition))?;
    }
    Ok(PartitionRecords {
        consumer,
        topic: topic.to_owned(),
        partition,
        next: low,
        high,
        timeout: config.timeout,
    })
}

/// See [`partition_records`].
pub struct PartitionRecords {
    consumer: BaseConsumer,
    topic: String,
    partition: i32,
    next: i64,
    high: i64,
    timeout: Duration,
}

impl std::fmt::Debug for PartitionRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionRecords")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("next", &self.next)
            .field("high", &self.high)
            .finish_non_exhaustive()
    }
}

impl Iterator for PartitionRecords {
    type Item = Result<StoredRecord, MigrateError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.high {
            return None;
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    self.next = message.offset() + 1;
                    return Some(Ok(stored(&message)));
                }
                Some(Err(e)) => {
                    self.next = self.high;
                    return Some(Err(kafka_at("reading", &self.topic, self.partition)(e)));
                }
                None if Instant::now() > deadline => {
                    self.next = self.high;
                    return Some(Err(MigrateError::Timeout {
                        action: "reading",
                        topic: self.topic.clone(),
                        partition: self.partition,
                        timeout: self.timeout,
                    }));
                }
                None => {}
            }
        }
    }
}

/// A consumed record, copied out.
fn stored(message: &BorrowedMessage<'_>) -> StoredRecord {
    let headers = message
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| {
                    let value = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                    (h.key.to_owned(), value.into_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    StoredRecord {
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        timestamp: message.timestamp().to_millis(),
        value: message.payload().unwrap_or_default().to_vec(),
        headers,
    }
}

/// The first record at or after `offset` of `topic` partition `partition` (`None`: none
/// before `high`), read with `consumer` alone.
fn record_at(
    consumer: &BaseConsumer,
    config: &MigrateConfig,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<StoredRecord, MigrateError> {
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Offset(offset)).map_err(kafka_at(
        "assigning",
        topic,
        partition,
    ))?;
    consumer.assign(&assignment).map_err(kafka_at("assigning", topic, partition))?;
    let deadline = Instant::now() + config.timeout;
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(message) => {
                let message = message.map_err(kafka_at("reading", topic, partition))?;
                if message.offset() >= offset {
                    return Ok(stored(&message));
                }
            }
            None if Instant::now() > deadline => {
                return Err(MigrateError::Timeout {
                    action: "reading one record",
                    topic: topic.to_owned(),
                    partition,
                    timeout: config.timeout,
                });
            }
            None => {}
        }
    }
}

/// What a dry run found: every source record read and decoded, nothing written.
#[derive(Debug, Default)]
pub struct DryRunReport {
    /// Records read.
    pub records: u64,
    /// Records per writer schema id.
    pub by_schema_id: BTreeMap<u32, SchemaIdCount>,
    /// Every record that cannot be decoded, with its coordinates and why.
    pub undecodable: Vec<Undecodable>,
}

/// The records of one writer schema id in a dry run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaIdCount {
    /// The declared version the id is read as (`None`: the id cannot be read).
    pub read_as: Option<u32>,
    /// Whether the writer schema is one of the declared versions (`false`: a foreign schema,
    /// resolved into `read_as`).
    pub declared: bool,
    /// Records written with it.
    pub records: u64,
    /// Records per event type: the full name of the writer's union branch (`?` where the
    /// record cannot be read that far).
    pub by_event: BTreeMap<String, u64>,
}

/// A source record that cannot be decoded.
#[derive(Debug)]
pub struct Undecodable {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Why.
    pub error: DecodeError,
}

/// Reads and decodes every source record up to the end offsets seen at start; writes nothing.
/// Streams the partitions (memory stays flat), and does no schema work per record: each
/// schema id's version and event names come from its decoding plan, built once.
pub fn dry_run(
    config: &MigrateConfig,
    transcoder: &dyn Transcode,
) -> Result<DryRunReport, MigrateError> {
    let consumer: BaseConsumer = config.client().create().map_err(kafka("creating a consumer"))?;
    let source = partitions(&consumer, &config.from, config.timeout)?
        .ok_or_else(|| missing("source", &config.from))?;
    let mut report = DryRunReport::default();
    let mut value = Vec::new();
    for partition in source {
        for record in partition_records(config, &config.from, partition)? {
            let record = record?;
            report.records += 1;
            if let Ok((id, _)) = crate::wire::split_frame(&record.value) {
                let count = report.by_schema_id.entry(id).or_insert_with(|| {
                    let read_as = transcoder.writer_version(id).ok();
                    SchemaIdCount {
                        read_as: read_as.map(|(v, _)| v),
                        declared: read_as.is_some_and(|(_, exact)| exact),
                        ..SchemaIdCount::default()
                    }
                });
                count.records += 1;
                let event = transcoder.event_name(&record.value).unwrap_or_else(|| "?".into());
                *count.by_event.entry(event).or_default() += 1;
            }
            if let Err(error) = transcoder.transcode(&record.value, &mut value) {
                report.undecodable.push(Undecodable { partition, offset: record.offset, error });
            }
        }
    }
    Ok(report)
}

/// Sets consumer group `group`'s committed offsets on the target to the positions equivalent to
/// its committed offsets on the source: per partition, the first target record migrated from
/// the source offset the group would read next (or the target's end, when that record is not
/// migrated yet). The group must have no active members. Returns the offsets set, by
/// partition.
///
/// A target partition is in source order (each record names its source offset), so the
/// position is found by binary search, reading one record per step: a few dozen records
/// whatever the partition's size.
pub fn translate_group(
    config: &MigrateConfig,
    group: &str,
) -> Result<BTreeMap<i32, OffsetPair>, MigrateError> {
    let mut client = config.client();
    client.set("group.id", group);
    let consumer: BaseConsumer = client.create().map_err(kafka("creating a consumer"))?;
    let source = partitions(&consumer, &config.from, config.timeout)?
        .ok_or_else(|| missing("source", &config.from))?;
    let mut asked = TopicPartitionList::new();
    for &partition in &source {
        asked.add_partition(&config.from, partition);
    }
    let committed = consumer
        .committed_offsets(asked, config.timeout)
        .map_err(kafka("reading the group's committed offsets"))?;
    // Another consumer reads the target, so the group's own handle assigns nothing.
    let reader: BaseConsumer = config.client().create().map_err(kafka("creating a consumer"))?;
    let mut moves = BTreeMap::new();
    let mut target = TopicPartitionList::new();
    for element in committed.elements() {
        let Offset::Offset(next) = element.offset() else {
            continue; // nothing committed for this partition: nothing to translate
        };
        let partition = element.partition();
        let position = first_migrated_from(&reader, config, partition, next)?;
        target
            .add_partition_offset(&config.to, partition, Offset::Offset(position))
            .map_err(kafka_at("translating offsets", &config.to, partition))?;
        moves.insert(partition, OffsetPair { source: next, target: position });
    }
    if target.count() > 0 {
        consumer
            .commit(&target, rdkafka::consumer::CommitMode::Sync)
            .map_err(kafka("committing the group's offsets on the target"))?;
    }
    Ok(moves)
}

/// The offset of the first record of target partition `partition` migrated from source offset
/// `next` or later (the target's end when there is none), by binary search over the target's
/// offsets: each step reads one record and compares the source offset it names.
fn first_migrated_from(
    reader: &BaseConsumer,
    config: &MigrateConfig,
    partition: i32,
    next: i64,
) -> Result<i64, MigrateError> {
    let topic = config.to.as_str();
    let (mut low, high) = reader
        .fetch_watermarks(topic, partition, config.timeout)
        .map_err(kafka_at("reading the target's offsets", topic, partition))?;
    // The answer is `found` or lies in [low, hi): records past `low` that name an earlier
    // source offset come before it.
    let (mut hi, mut found) = (high, high);
    while low < hi {
        let mid = low + (hi - low) / 2;
        let record = record_at(reader, config, topic, partition, mid)?;
        let named = record.headers.get(SOURCE_OFFSET).and_then(|o| o.parse::<i64>().ok());
        if record.offset >= hi {
            // No record lies in [mid, hi).
            hi = mid;
        } else if named.is_some_and(|source| source >= next) {
            // No record lies in [mid, record.offset): the first qualifying one from mid on
            // is this one.
            found = found.min(record.offset);
            hi = mid;
        } else {
            low = record.offset + 1;
        }
    }
    Ok(found)
}
