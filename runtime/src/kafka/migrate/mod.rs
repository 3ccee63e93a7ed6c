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

mod dry_run;
mod group;
mod offsets;
mod read;
mod resume;
mod run;
mod target;
mod verify;
mod writer;

use crate::kafka::error::failed;
use crate::kafka::{Mode, Progress};
pub use dry_run::{DryRunReport, SchemaIdCount, Undecodable, dry_run};
use group::*;
pub use offsets::translate_group;
use read::*;
pub use read::{PartitionRecords, StoredRecord, partition_records};
use resume::*;
pub use run::{migrate, migrate_with};
use target::*;
pub use verify::{PartitionCheck, verify};

use crate::codec::Transcode;
use crate::error::DecodeError;
use writer::{Deliveries, MigrationProducer, Pipe};

use crate::kafka::record::{ERROR, Provenance, SOURCE_OFFSET, SOURCE_SCHEMA_ID, add_provenance};

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
    /// Catch up (stop at the end offsets seen at start) or follow (keep migrating new source
    /// records until the progress callback says stop).
    pub mode: Mode,
    /// How often the progress callback is called.
    pub progress_every: Duration,
    /// A consumer group: instances sharing it split the source partitions between them.
    /// `None`: this instance migrates every partition.
    pub group: Option<String>,
}

impl MigrateConfig {
    /// Checks what the configuration asks for before anything connects: every entry point
    /// (`migrate`, `verify`, `dry_run`, `translate_group`) calls it first.
    pub fn validate(&self) -> Result<(), MigrateError> {
        let refuse = |reason| Err(MigrateError::Config { reason });
        if self.from.is_empty() || self.to.is_empty() {
            return refuse("the source and target topics must be named");
        }
        if self.from == self.to {
            return refuse("the target must be another topic than the source");
        }
        if let Some(dead) = &self.dead_letter_topic
            && (*dead == self.from || *dead == self.to)
        {
            return refuse("the dead-letter topic must be neither the source nor the target");
        }
        if self.group.as_deref() == Some("") {
            return refuse("a consumer group needs a name");
        }
        Ok(())
    }

    /// Migrate `from` into `to` on `brokers`, stopping at the first bad record.
    pub fn new(brokers: impl Into<String>, from: &str, to: &str) -> Self {
        MigrateConfig {
            brokers: brokers.into(),
            from: from.to_owned(),
            to: to.to_owned(),
            dead_letter_topic: None,
            kafka: Vec::new(),
            timeout: Duration::from_secs(30),
            mode: Mode::CatchUp,
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
    /// The configuration asks for something a migration cannot do (refused before anything
    /// connects).
    #[error("migration configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: &'static str,
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
    #[error(transparent)]
    Record(crate::kafka::record::FailedRecord),
}

fn missing(role: &'static str, topic: &str) -> MigrateError {
    MigrateError::MissingTopic { role, topic: topic.to_owned() }
}

/// The partitions of `topic`, or `None` when it does not exist.
fn partitions<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    timeout: Duration,
) -> Result<Option<Vec<i32>>, MigrateError> {
    let found =
        crate::kafka::partitions(consumer, topic, timeout).map_err(failed("reading metadata"))?;
    Ok((!found.is_empty()).then_some(found))
}
