//! Read models (feature `postgres`): tables in PostgreSQL kept from an event topic exactly
//! once, versioned, rebuilt beside the serving version and switched to atomically.
//!
//! A [`ReadModel`] creates its tables and applies decoded events (always the latest event
//! type: every historical version goes through its upcasters first) inside a database
//! transaction. A [`Projector`] runs it: it reads the topic (every partition, or its share in
//! a consumer group), applies a batch of records in one transaction, and stores the next offset of each partition the batch
//! touched **in the same transaction**. A crash loses the open batch entirely and nothing
//! else; a restart resumes from the stored offsets. Kafka's committed offsets are written
//! after each batch for monitoring tools only: the stored offsets decide where a partition's
//! new owner starts.
//!
//! ```no_run
//! use std::sync::Arc;
//! use strata::kafka::readmodel::{postgres, Projector, ProjectorConfig, ReadModel};
//! use strata::kafka::record::{ApplyError, Position};
//! # #[derive(strata::Record, Debug, Clone, PartialEq)] struct Opened { id: String, holder: String }
//! # #[derive(strata::Event, Debug, Clone, PartialEq)]
//! # #[strata(topic = "bank.accounts", namespace = "bank", version = 1)]
//! # enum AccountEvent { Opened(Opened) }
//!
//! /// Every account holder, by account.
//! struct Holders;
//!
//! impl ReadModel<AccountEvent> for Holders {
//!     const NAME: &'static str = "holders";
//!     const VERSION: u32 = 1;
//!
//!     fn create(&mut self, tx: &mut postgres::Transaction<'_>) -> Result<(), ApplyError> {
//!         tx.batch_execute("CREATE TABLE holders (id text PRIMARY KEY, holder text NOT NULL)")?;
//!         Ok(())
//!     }
//!
//!     fn apply(
//!         &mut self,
//!         tx: &mut postgres::Transaction<'_>,
//!         event: AccountEvent,
//!         _: &Position<'_>,
//!     ) -> Result<(), ApplyError> {
//!         let AccountEvent::Opened(opened) = event;
//!         tx.execute("INSERT INTO holders VALUES ($1, $2)", &[&opened.id, &opened.holder])?;
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Arc::new(strata::LocalSource::from_history("schemas".as_ref())?);
//! let mut db = postgres::Client::connect("host=127.0.0.1 user=app", postgres::NoTls)?;
//! let mut projector = Projector::new(ProjectorConfig::new("127.0.0.1:9092"), source, Holders)?;
//! // Follows the topic until the callback returns `false`; readers query `holders.holders`.
//! projector.run(&mut db, &mut |progress| {
//!     println!("{} applied, lag {}", progress.applied, progress.lag);
//!     true
//! })?;
//! # Ok(()) }
//! ```
//!
//! # Where the tables live
//!
//! Version `V` of read model `name` owns the PostgreSQL schema `name_vV`: [`ReadModel::create`]
//! and [`ReadModel::apply`] run with `search_path` set to it (the projector sets it on the
//! connection it is given), so their SQL names tables unqualified. Readers query the schema `name`, which holds one view per table of the version
//! that serves. strata keeps its own books in the schema `strata` (`strata.read_models`: each
//! version and its state; `strata.read_model_offsets`: the next offset per partition).
//!
//! # Versions
//!
//! Raise [`ReadModel::VERSION`] when `apply` changes meaning. The new version starts in its own
//! schema from the first offset, while the old version's projectors keep its tables current and
//! readers keep reading them. Once the new version is caught up (its stored offsets within
//! [`ProjectorConfig::switch_at_lag`] records of every partition's end), its projector replaces
//! the views in `name` in one transaction: readers see the old tables or the new ones, never a
//! mix. The old version is then `retired`: its projectors stop with
//! [`ProjectorError::Superseded`], and [`drop_version`] removes its tables.
//!
//! # Exactly once, and what it rests on
//!
//! Each batch's transaction locks the offset rows of the partitions it touches and checks they
//! still hold the offsets this projector read, so two projectors that both believe they own a
//! partition (during a rebalance, or a paused one coming back) cannot both apply it: the later
//! one's transaction is rolled back and it re-reads the stored offset. The guarantee covers what
//! `apply` writes through the transaction it is given. Side effects outside it (an e-mail, a
//! call to another service) can happen again for a batch that was rolled back.
//!
//! # Bad records
//!
//! A record that does not decode, or that `apply` refuses, stops the projector with its topic,
//! partition, offset and schema id, after committing every record before it; or, with a
//! [`ProjectorConfig::dead_letter_topic`], goes there with its coordinates as headers (as in
//! replay) and the projector moves on. A dead letter is delivered before the transaction that
//! moves past it commits, so a crash in between sends it again (at least once, never lost).
//! Deadlocks and serialization failures (SQLSTATE `40P01`, `40001`) are not bad records: the
//! batch is rolled back and applied again.
//!
//! A key with a dead letter is **parked** (`strata.read_model_parked`, changed in the batches'
//! transactions: how many letters it has outstanding, and the last source offset of it
//! applied): its later records follow it into the dead-letter topic unapplied
//! ([`crate::kafka::record::RecordError::Parked`]), so an aggregate's events are never applied
//! out of order, while every other key goes on. Records without a key count as one key per
//! partition. [`Projector::redrive`] hands the letters back once their cause is fixed: it reads
//! the dead-letter topic to its end at start, with its offsets stored in the same transactions
//! as the rows, applies each letter with its original record's position, skips a copy of one
//! already applied (a letter's source offset not above the key's last applied), and unparks a
//! key when its last letter is applied; a letter that fails again is sent back with its key's
//! later letters behind it. [`ProjectorConfig::breaker`] stops the projector when most records
//! go to the dead-letter topic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod batch;
mod books;
mod projector;

pub use books::{VersionInfo, VersionState, drop_version, versions};
use books::{
    database, lag, parked_keys, register, serving_version, stored_offsets, switch, validate_name,
    version_schema, version_state,
};
pub use postgres;
use postgres::{Client, Statement, Transaction};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, Rebalance};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::codec::source::SchemaSource;
use crate::codec::{CodecError, Decoder};
use crate::event::Event;
use crate::kafka::error::failed;
use crate::kafka::record::{ApplyError, FailedRecord, Position, Provenance, RecordError};
use crate::kafka::{ClientError, Mode};

/// A read model: tables in PostgreSQL built from the events of one topic.
pub trait ReadModel<E> {
    /// The read model's name, a lowercase SQL identifier (`[a-z_][a-z0-9_]*`, at most 40
    /// characters): readers query the schema of that name.
    const NAME: &'static str;
    /// The version of what `apply` means. Raising it rebuilds the read model from the first
    /// offset into new tables, beside the serving ones.
    const VERSION: u32;

    /// Creates this version's tables, once, in the transaction that registers the version
    /// (`search_path` is the version's own schema).
    fn create(&mut self, tx: &mut Transaction<'_>) -> Result<(), ApplyError>;

    /// Prepares statements on the projector's connection, before the first batch (optional): a
    /// prepared statement saves a round trip per `execute`. The connection's `search_path` is
    /// the version's schema, as in `apply`.
    fn prepare(&mut self, client: &mut Client) -> Result<(), ApplyError> {
        let _ = client;
        Ok(())
    }

    /// Applies one event, in its partition's order, inside the batch's transaction. An error
    /// rolls the batch back (see the module documentation for what follows).
    fn apply(
        &mut self,
        tx: &mut Transaction<'_>,
        event: E,
        position: &Position<'_>,
    ) -> Result<(), ApplyError>;
}

/// How a projector runs.
#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The topic (default: the event type's).
    pub topic: Option<String>,
    /// Scale out: the consumer group several instances share, each applying the partitions the
    /// group gives it. When a member dies, the group hands its partitions over after the
    /// member's `session.timeout.ms` (librdkafka's default: 45 s; set it in
    /// [`ProjectorConfig::kafka`]). `None` (the default): this instance reads every partition
    /// and a restart resumes at once. Either way the stored offsets decide where reading starts,
    /// and two instances that both read a partition cannot both apply it.
    pub group: Option<String>,
    /// Follow (the default) or catch up: stop once the stored offsets reach the end offsets
    /// observed at start, on every partition (whichever instances applied them).
    pub mode: Mode,
    /// Records per transaction, at most.
    pub batch_records: usize,
    /// How long a transaction gathers records, at most, before it commits.
    pub batch_wait: Duration,
    /// A building version takes over from the serving one when its stored offsets are at most
    /// this many records behind the partitions' ends, summed.
    pub switch_at_lag: i64,
    /// Where records that cannot be decoded or applied go; `None` (the default): the projector
    /// stops at the first one. A key with a dead letter is parked: its later records follow
    /// it into the dead-letter topic, unapplied, until [`Projector::redrive`] has applied its
    /// letters, so no aggregate's events are applied out of order.
    pub dead_letter_topic: Option<String>,
    /// Stop instead of dead-lettering when most records fail (a missing schema, a bug in
    /// `apply`): `None` dead-letters whatever fails.
    pub breaker: Option<Breaker>,
    /// How often the progress callback is called (and the version's state checked).
    pub progress_every: Duration,
    /// Extra librdkafka settings, such as security ones.
    pub kafka: Vec<(String, String)>,
    /// How long metadata and watermark requests may take.
    pub timeout: Duration,
}

impl ProjectorConfig {
    /// A projector following the topic on `brokers`, in batches of up to 1,000 records or
    /// 200 ms, stopping at the first bad record.
    pub fn new(brokers: impl Into<String>) -> Self {
        ProjectorConfig {
            brokers: brokers.into(),
            topic: None,
            group: None,
            mode: Mode::Follow,
            batch_records: 1000,
            batch_wait: Duration::from_millis(200),
            switch_at_lag: 0,
            dead_letter_topic: None,
            breaker: Some(Breaker::default()),
            progress_every: Duration::from_secs(1),
            kafka: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The projector's breaker: when more than `max_failed` of the last `window` records would go
/// to the dead-letter topic (failing to decode or apply, or parked behind their key's dead
/// letter), it stops with [`ProjectorError::Breaker`], after committing what precedes the
/// record that tripped it, instead of dead-lettering on: a missing schema or a bug in `apply`
/// stops the projector within a window instead of emptying the topic into dead letters. The
/// count starts afresh with each run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    /// Records looked back over.
    pub window: u32,
    /// Dead-lettered records among them that are still tolerated.
    pub max_failed: u32,
}

impl Default for Breaker {
    /// More than 50 of the last 100 records.
    fn default() -> Self {
        Breaker { window: 100, max_failed: 50 }
    }
}

/// The breaker's look back: whether each of the last `window` records failed.
#[derive(Debug, Default)]
struct Window {
    last: std::collections::VecDeque<bool>,
    failed: u32,
}

impl Window {
    /// Records one record's outcome; whether `breaker` trips.
    fn record(&mut self, failed: bool, breaker: Option<Breaker>) -> bool {
        let Some(breaker) = breaker else { return false };
        self.last.push_back(failed);
        self.failed += u32::from(failed);
        while self.last.len() > breaker.window as usize {
            let dropped = self.last.pop_front().unwrap_or(false);
            self.failed -= u32::from(dropped);
        }
        self.failed > breaker.max_failed
    }
}

/// What a projector reports while it runs: its metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectorProgress {
    /// Events applied and committed in this run.
    pub applied: u64,
    /// Events applied per second since the run started.
    pub rate: f64,
    /// Records behind each partition's high watermark, for the partitions this instance holds.
    pub lag_by_partition: BTreeMap<i32, i64>,
    /// Their sum.
    pub lag: i64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Batches rolled back and applied again: another instance had moved a partition on
    /// (a rebalance), or the database reported a deadlock or serialization failure.
    pub retried: u64,
    /// Whether this version serves readers now.
    pub serving: bool,
}

/// What a projector did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectorReport {
    /// Events applied and committed.
    pub applied: u64,
    /// Records sent to the dead-letter topic (in a redrive: sent back, failing again).
    pub dead_lettered: u64,
    /// Of those, records parked behind an earlier dead letter of their key, not tried.
    pub parked: u64,
    /// In a redrive: dead letters whose record was applied already (a copy sent again by a
    /// batch that was rolled back after sending it), skipped.
    pub duplicates: u64,
    /// Batches rolled back and applied again.
    pub retried: u64,
    /// Whether this run made its version the serving one.
    pub switched: bool,
    /// Whether the version serves when the run stops.
    pub serving: bool,
}

/// A projector that could not run or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectorError {
    /// A read model name that is not a lowercase SQL identifier.
    #[error(
        "read model name `{name}`: use a lowercase SQL identifier (`[a-z_][a-z0-9_]*`, at most 40 characters)"
    )]
    Name {
        /// The name.
        name: String,
    },
    /// A version number of 0.
    #[error("read model `{name}`: versions start at 1")]
    VersionZero {
        /// The read model.
        name: String,
    },
    /// A PostgreSQL statement failed.
    #[error("postgresql: {action} (read model `{name}` version {version})")]
    Database {
        /// What was being done.
        action: &'static str,
        /// The read model.
        name: String,
        /// Its version.
        version: u32,
        /// The client's error.
        #[source]
        source: postgres::Error,
    },
    /// The read model's `create` failed.
    #[error("read model `{name}` version {version}: creating its tables failed")]
    Create {
        /// The read model.
        name: String,
        /// Its version.
        version: u32,
        /// Why.
        #[source]
        source: ApplyError,
    },
    /// The read model's `prepare` failed.
    #[error("read model `{name}` version {version}: preparing its statements failed")]
    Prepare {
        /// The read model.
        name: String,
        /// Its version.
        version: u32,
        /// Why.
        #[source]
        source: ApplyError,
    },
    /// The version is registered for another topic.
    #[error(
        "read model `{name}` version {version} is built from topic `{registered}`, not `{topic}`: raise the version to build it from another topic"
    )]
    OtherTopic {
        /// The read model.
        name: String,
        /// Its version.
        version: u32,
        /// The topic it was registered with.
        registered: String,
        /// The topic asked for.
        topic: String,
    },
    /// A later version serves: this one is retired.
    #[error(
        "read model `{name}` version {version} is retired: version {serving} serves readers now (deploy it, or drop version {version})"
    )]
    Superseded {
        /// The read model.
        name: String,
        /// This version.
        version: u32,
        /// The version that serves.
        serving: u32,
    },
    /// A version below one already registered: an older program, which must not take the
    /// readers from the newer version once caught up.
    #[error(
        "read model `{name}` version {version} is older than version {newer}, registered already: \
         an older program is running (deploy version {newer}'s, or drop version {newer} first)"
    )]
    Older {
        /// The read model.
        name: String,
        /// This version.
        version: u32,
        /// The newest version registered.
        newer: u32,
    },
    /// The serving version cannot be dropped.
    #[error(
        "read model `{name}` version {version} serves readers: a later version must take over before it is dropped"
    )]
    DropServing {
        /// The read model.
        name: String,
        /// The version.
        version: u32,
    },
    /// The version is not registered.
    #[error("read model `{name}` has no version {version}")]
    UnknownVersion {
        /// The read model.
        name: String,
        /// The version.
        version: u32,
    },
    /// `strata.read_models` holds a state strata does not write.
    #[error("read model `{name}` version {version}: unknown state `{state}` in strata.read_models")]
    UnknownState {
        /// The read model.
        name: String,
        /// The version.
        version: u32,
        /// The state found.
        state: String,
    },
    /// The client or the broker failed.
    #[error(transparent)]
    Kafka(#[from] ClientError),
    /// The topic does not exist (it has no partitions).
    #[error("topic `{topic}` does not exist: it has no partitions")]
    MissingTopic {
        /// The topic.
        topic: String,
    },
    /// Records the stored offsets had not reached were deleted (retention) before this version
    /// applied them.
    #[error(
        "topic `{topic}` partition {partition}: read model `{name}` version {version} stopped before offset {stored}, but the partition starts at {low}: records in between were deleted before they were applied (rebuild the version from a topic that keeps them)"
    )]
    Gap {
        /// The read model.
        name: String,
        /// Its version.
        version: u32,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The stored next offset.
        stored: i64,
        /// The partition's first offset.
        low: i64,
    },
    /// The decoder could not be built.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A record could not be applied, and no dead-letter topic is configured. Every record
    /// before it is applied.
    #[error(transparent)]
    Record(#[from] FailedRecord),
    /// Most records fail: the breaker stopped the projector at this one, every record before
    /// it applied or dead-lettered.
    #[error(
        "read model `{name}` version {version}: more than {max_failed} of the last {window} \
         records failed, so the projector stopped instead of dead-lettering on (the breaker, \
         `ProjectorConfig::breaker`); fix the cause and run it again. The last one"
    )]
    Breaker {
        /// The read model.
        name: String,
        /// Its version.
        version: u32,
        /// The records looked back over.
        window: u32,
        /// The failures tolerated among them.
        max_failed: u32,
        /// The record that tripped it.
        #[source]
        last: FailedRecord,
    },
    /// [`Projector::redrive`] without a dead-letter topic configured.
    #[error(
        "read model `{name}` version {version}: redrive reads the dead-letter topic, and none \
         is configured (`ProjectorConfig::dead_letter_topic`)"
    )]
    NoDeadLetterTopic {
        /// The read model.
        name: String,
        /// Its version.
        version: u32,
    },
}

/// What a projector reads: the event topic, or the dead letters it sent, handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Log,
    DeadLetters,
}

/// A change of the run's memory made in the open batch, undone if it rolls back (the
/// database's changes roll back with it).
enum Undo {
    Parked(i32, Vec<u8>),
    Unparked(i32, Vec<u8>),
    FailedAgain(i32, Vec<u8>),
    /// A quarantined record taken as bad: quarantined again.
    Quarantined((i32, i64), ApplyError),
}

/// A progress callback: return `false` to stop (the way to end a follow run).
pub type OnProgress<'a> = &'a mut dyn FnMut(&ProjectorProgress) -> bool;

/// Runs read model `M` from a topic of event type `E`.
pub struct Projector<E: Event, M: ReadModel<E>> {
    config: ProjectorConfig,
    topic: String,
    group: String,
    decoder: Decoder<E>,
    model: M,
}

impl<E: Event, M: ReadModel<E>> std::fmt::Debug for Projector<E, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("name", &M::NAME)
            .field("version", &M::VERSION)
            .field("topic", &self.topic)
            .field("group", &self.group)
            .finish()
    }
}

/// The version's books: its name and version, and the statements on its offset rows and its
/// parked keys.
#[derive(Clone)]
struct Books {
    name: &'static str,
    version: i32,
    /// The topic read (offset rows): the event topic, or its dead-letter topic in a redrive.
    topic: String,
    /// The event topic (parked keys).
    log: String,
    lock: Statement,
    store: Statement,
    /// Counts one more dead letter of a key (parking it).
    park: Statement,
    /// A key's outstanding dead letters and the last source offset handled, locked.
    parked: Statement,
    /// Counts `$6` dead letters of a key applied, and records the source offset `$7` handled.
    settle: Statement,
}

impl Books {
    fn database(&self, action: &'static str) -> impl FnOnce(postgres::Error) -> ProjectorError {
        database(self.name, self.version as u32, action)
    }
}

/// What this instance knows of a partition it holds.
#[derive(Debug, Clone, Copy)]
struct Part {
    /// The stored next offset, as of this instance's last commit or load.
    committed: i64,
    /// The next offset to apply in the open batch.
    next: i64,
    /// A seek to `next` was made: the next record at or past it is the one to apply.
    sought: bool,
    /// The open batch locked this partition's offset row.
    locked: bool,
}

/// What the consumer's callbacks tell the loop: partitions the group took from this instance,
/// and each held partition's high watermark from librdkafka's statistics (no broker request).
struct Watch {
    topic: String,
    any: AtomicBool,
    partitions: Mutex<Vec<i32>>,
    highs: Mutex<BTreeMap<i32, i64>>,
}

impl rdkafka::client::ClientContext for Watch {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else { return };
        let mut highs = self.highs.lock().unwrap_or_else(|e| e.into_inner());
        for partition in topic.partitions.values() {
            // -1 is librdkafka's unassigned pseudo-partition; a negative offset is unknown.
            if partition.partition >= 0 && partition.hi_offset >= 0 {
                highs.insert(partition.partition, partition.hi_offset);
            }
        }
    }
}

impl rdkafka::consumer::ConsumerContext for Watch {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(revoked) = rebalance {
            let mut partitions = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
            partitions.extend(revoked.elements().iter().map(|e| e.partition()));
            self.any.store(true, Ordering::Release);
        }
    }
}

/// How a batch ended.
enum Outcome<'c> {
    /// Commit it (full, timed out, idle, a partition revoked, or a record to admit first).
    Commit,
    /// Commit it, then stop with this error (a bad record, no dead-letter topic).
    CommitThenFail(ProjectorError),
    /// Roll it back and rewind, then apply again; `forget`: a partition whose stored offset
    /// moved, re-read first.
    Rewind { forget: Option<i32> },
    /// A record of a partition this batch cannot take yet: commit, then admit it.
    Pending(BorrowedMessage<'c>),
}

/// Where a record stands against what this instance holds of its partition.
enum Admission {
    /// Apply it.
    Apply,
    /// Skip it (before the stored offset, or one a seek will replace).
    Skip,
    /// Its partition is not loaded yet.
    Load,
}

/// One run's bookkeeping.
struct Run {
    parts: HashMap<i32, Part>,
    /// Records `apply` refused (each rolled its batch back), with why: each is a bad record
    /// when it comes round again. Several at once, so two refused records of different
    /// partitions, read in turns after each rollback, cannot keep rolling each other back.
    quarantine: HashMap<(i32, i64), ApplyError>,
    report: ProjectorReport,
    started: Instant,
    source: Source,
    /// In catch-up, each partition's end offset at start.
    ends: BTreeMap<i32, i64>,
    /// Keys with dead letters outstanding, per partition of the event topic.
    parked: HashMap<i32, HashSet<Vec<u8>>>,
    /// In a redrive: keys (by their event partition) whose letter failed again; their later
    /// letters go back behind it.
    failed_again: HashSet<(i32, Vec<u8>)>,
    /// The open batch's changes of the three above.
    undo: Vec<Undo>,
    breaker: Window,
}
