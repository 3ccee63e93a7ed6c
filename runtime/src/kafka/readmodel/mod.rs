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

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
use crate::kafka::record::{ApplyError, FailedRecord, Position, RecordError};
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
    /// stops at the first one.
    pub dead_letter_topic: Option<String>,
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
            progress_every: Duration::from_secs(1),
            kafka: Vec::new(),
            timeout: Duration::from_secs(10),
        }
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
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Batches rolled back and applied again.
    pub retried: u64,
    /// Whether this run made its version the serving one.
    pub switched: bool,
    /// Whether the version serves when the run stops.
    pub serving: bool,
}

/// A version's state in `strata.read_models`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionState {
    /// Being built; readers do not see it.
    Building,
    /// Readers' views point at its tables.
    Serving,
    /// A later version took over; its tables stay until dropped.
    Retired,
}

impl VersionState {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "building" => Some(VersionState::Building),
            "serving" => Some(VersionState::Serving),
            "retired" => Some(VersionState::Retired),
            _ => None,
        }
    }

    /// The state's name in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionState::Building => "building",
            VersionState::Serving => "serving",
            VersionState::Retired => "retired",
        }
    }
}

/// One version of a read model, as [`versions`] lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionInfo {
    /// The read model.
    pub name: String,
    /// The version.
    pub version: u32,
    /// Its state.
    pub state: VersionState,
    /// The topic it is built from.
    pub topic: String,
    /// The next offset to apply, per partition.
    pub offsets: BTreeMap<i32, i64>,
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

/// The version's books: its name and version, and the statements on its offset rows.
struct Books {
    name: &'static str,
    version: i32,
    topic: String,
    lock: Statement,
    store: Statement,
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
    /// Roll it back and rewind, then apply again; `quarantine`: a record `apply` refused,
    /// handled as a bad record when it comes round again.
    Rewind { quarantine: Option<(i32, i64)>, forget: Option<i32> },
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

impl<E: Event, M: ReadModel<E>> Projector<E, M> {
    /// A projector of `model`, reading writer schemas from `source`.
    pub fn new(
        config: ProjectorConfig,
        source: Arc<dyn SchemaSource>,
        model: M,
    ) -> Result<Self, ProjectorError> {
        validate_name(M::NAME)?;
        if M::VERSION == 0 {
            return Err(ProjectorError::VersionZero { name: M::NAME.to_owned() });
        }
        let topic = config.topic.clone().unwrap_or_else(|| E::TOPIC.to_owned());
        // Outside a group, the id only names the offsets written for monitoring tools.
        let group = config
            .group
            .clone()
            .unwrap_or_else(|| format!("strata-readmodel-{}-v{}", M::NAME, M::VERSION));
        Ok(Projector { config, topic, group, decoder: Decoder::new(source)?, model })
    }

    /// The read model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Registers the version (creating its tables the first time), then applies the topic
    /// into it until the callback returns `false` (follow) or every partition is applied
    /// (catch-up); switches readers to this version once it is caught up.
    pub fn run(
        &mut self,
        db: &mut Client,
        on_progress: OnProgress<'_>,
    ) -> Result<ProjectorReport, ProjectorError> {
        let span = tracing::info_span!("projector", name = M::NAME, version = M::VERSION, topic = %self.topic);
        let _entered = span.enter();
        let books = register(db, &mut self.model, M::NAME, M::VERSION, &self.topic)?;
        // The connection's tables are the version's: `prepare` and `apply` name them unqualified.
        db.batch_execute(&format!("SET search_path TO \"{}\"", version_schema(&books)))
            .map_err(books.database("setting the search path"))?;
        self.model.prepare(db).map_err(|source| ProjectorError::Prepare {
            name: M::NAME.to_owned(),
            version: M::VERSION,
            source,
        })?;

        let stats_every = self.config.progress_every.as_millis().clamp(100, 60_000).to_string();
        let settings = [
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("group.id", self.group.as_str()),
            ("statistics.interval.ms", stats_every.as_str()),
        ];
        let context = Watch {
            topic: self.topic.clone(),
            any: AtomicBool::new(false),
            partitions: Mutex::new(Vec::new()),
            highs: Mutex::new(BTreeMap::new()),
        };

        let consumer: BaseConsumer<Watch> =
            crate::kafka::client(&self.config.brokers, &settings, &self.config.kafka)
                .create_with_context(context)
                .map_err(failed("creating the consumer"))?;
        let topic = self.topic.clone();
        let partitions = crate::kafka::partitions(&consumer, &topic, self.config.timeout)
            .map_err(failed("reading the topic's metadata"))?;
        if partitions.is_empty() {
            return Err(ProjectorError::MissingTopic { topic });
        }
        // Read once: the first offsets (where a new partition's stored offset starts) and, in
        // catch-up, the ends to reach.
        let watermarks = self.watermarks(&consumer, &partitions)?;
        let ends = (self.config.mode == Mode::CatchUp).then(|| watermarks.clone());
        let dead_letters = match &self.config.dead_letter_topic {
            Some(_) => Some(
                crate::kafka::client(
                    &self.config.brokers,
                    &[("enable.idempotence", "true")],
                    &self.config.kafka,
                )
                .create::<BaseProducer>()
                .map_err(failed("creating the dead-letter producer"))?,
            ),
            None => None,
        };

        let mut run = Run {
            parts: HashMap::new(),
            quarantine: None,
            last_refusal: None,
            report: ProjectorReport::default(),
            started: Instant::now(),
        };
        if self.config.group.is_some() {
            // Partitions are loaded as their first records arrive.
            consumer.subscribe(&[&topic]).map_err(failed("joining the consumer group"))?;
        } else {
            let mut assignment = TopicPartitionList::new();
            for (&partition, &(low, _)) in &watermarks {
                let next = self.load(db, &books, partition, low, &mut run)?;
                assignment
                    .add_partition_offset(&topic, partition, Offset::Offset(next))
                    .map_err(failed("assigning partitions"))?;
            }
            consumer.assign(&assignment).map_err(failed("assigning partitions"))?;
        }
        // A batch's worth of work is far above a clock read's cost: one read per loop.
        let mut last_tick = Instant::now();
        let mut pending: Option<BorrowedMessage<'_>> = None;
        let mut idle = false;
        let mut state = self.check_state(db, &books, &consumer, &partitions, &mut run, false)?;
        loop {
            let tick = last_tick.elapsed() >= self.config.progress_every;
            if tick {
                last_tick = Instant::now();
            }
            if tick || (idle && ends.is_some()) {
                state = self.check_state(db, &books, &consumer, &partitions, &mut run, idle)?;
                if let Some(ends) = &ends
                    && lag(&stored_offsets(db, &books)?, ends) == 0
                {
                    break;
                }
            }
            if tick {
                let progress = self.progress(db, &books, &consumer, &run, state)?;
                if !on_progress(&progress) {
                    break;
                }
            }
            let message = match pending.take() {
                Some(message) => message,
                None => match consumer.poll(Duration::from_millis(100)) {
                    None => {
                        idle = true;
                        continue;
                    }
                    Some(polled) => polled.map_err(failed("consuming"))?,
                },
            };
            idle = false;
            self.forget_revoked(&consumer, &mut run);
            match run.admit(&consumer, &message)? {
                Admission::Skip => continue,
                Admission::Apply => {}
                Admission::Load => {
                    let partition = message.partition();
                    let (low, _) = self.watermark(&consumer, partition)?;
                    self.load(db, &books, partition, low, &mut run)?;
                    pending = Some(message);
                    continue;
                }
            }
            let outcome = self.batch(db, &books, &consumer, message, &dead_letters, &mut run)?;
            if let Outcome::Pending(message) = outcome {
                pending = Some(message);
            }
        }
        // Nothing is open here: every batch ends committed or rolled back.
        state = self.check_state(db, &books, &consumer, &partitions, &mut run, true)?;
        on_progress(&self.progress(db, &books, &consumer, &run, state)?);
        run.report.serving = state == VersionState::Serving;
        tracing::info!(applied = run.report.applied, "projector stopped");
        Ok(run.report)
    }

    /// Applies one batch, starting with `first`, in one transaction, and commits it or rolls it
    /// back.
    fn batch<'c>(
        &mut self,
        db: &mut Client,
        books: &Books,
        consumer: &'c BaseConsumer<Watch>,
        first: BorrowedMessage<'c>,
        dead_letters: &Option<BaseProducer>,
        run: &mut Run,
    ) -> Result<Outcome<'c>, ProjectorError> {
        let mut tx = db.transaction().map_err(books.database("beginning a batch"))?;
        let began = Instant::now();
        let mut applied = 0u64;
        let mut message = first;
        let outcome = loop {
            let partition = message.partition();
            let part = run.parts.get_mut(&partition).expect("an admitted record's partition");
            if !part.locked {
                let row = tx
                    .query_one(
                        &books.lock,
                        &[&books.name, &books.version, &books.topic, &partition],
                    )
                    .map_err(books.database("locking a partition's offset"));
                let stored: i64 = match row {
                    Ok(row) => row.get(0),
                    Err(e) if transient(&e) => {
                        break Outcome::Rewind { quarantine: None, forget: None };
                    }
                    Err(e) => return Err(e),
                };
                if stored != part.committed {
                    tracing::info!(
                        partition,
                        stored,
                        held = part.committed,
                        "another instance moved the partition on; re-reading it"
                    );
                    break Outcome::Rewind { quarantine: None, forget: Some(partition) };
                }
                part.locked = true;
            }
            let offset = message.offset();
            let position = Position {
                topic: &books.topic,
                partition,
                offset,
                key: message.key(),
                timestamp: message.timestamp().to_millis(),
                headers: crate::kafka::record::Headers::of(message.headers()),
            };
            let quarantined = run.quarantine == Some((partition, offset));
            let refused = match message.payload() {
                None => Some((None, RecordError::Tombstone)),
                Some(_) if quarantined => None,
                Some(bytes) => match self.decoder.decode(bytes) {
                    Err(e) => Some((e.schema_id(), RecordError::Decode(e))),
                    Ok(event) => match self.model.apply(&mut tx, event, &position) {
                        Ok(()) => None,
                        Err(e) if transient_apply(&*e) => {
                            break Outcome::Rewind { quarantine: None, forget: None };
                        }
                        // The transaction may be aborted: roll back, and treat the record as
                        // bad when it comes round again.
                        Err(e) => {
                            tracing::warn!(partition, offset, error = %crate::error::Chain(&*e), "apply refused a record; rolling the batch back");
                            run.last_refusal = Some(e);
                            break Outcome::Rewind {
                                quarantine: Some((partition, offset)),
                                forget: None,
                            };
                        }
                    },
                },
            };
            let bad = match refused {
                Some(bad) => Some(bad),
                None if quarantined => {
                    let refusal = run.last_refusal.take().unwrap_or_else(|| "refused".into());
                    Some((
                        message.payload().and_then(crate::kafka::record::frame_id),
                        RecordError::Refused(refusal),
                    ))
                }
                None => None,
            };
            if quarantined {
                run.quarantine = None;
            }
            match bad {
                None => applied += 1,
                Some((schema_id, source)) => match (dead_letters, &self.config.dead_letter_topic) {
                    (Some(producer), Some(dlt)) => {
                        crate::kafka::record::dead_letter(
                            producer, dlt, &message, schema_id, &source,
                        )?;
                        producer
                            .flush(self.config.timeout)
                            .map_err(failed("delivering a dead letter"))?;
                        tracing::warn!(partition, offset, %source, "record sent to the dead-letter topic");
                        run.report.dead_lettered += 1;
                    }
                    _ => {
                        break Outcome::CommitThenFail(ProjectorError::Record(FailedRecord {
                            topic: books.topic.clone(),
                            partition,
                            offset,
                            schema_id,
                            source,
                        }));
                    }
                },
            }
            let part = run.parts.get_mut(&partition).expect("an admitted record's partition");
            part.next = offset + 1;
            if applied as usize >= self.config.batch_records
                || began.elapsed() >= self.config.batch_wait
            {
                break Outcome::Commit;
            }
            // The next record this batch can take; skipped ones (before a partition's stored
            // offset, or ahead of a seek) are polled past.
            let next = loop {
                let Some(polled) = consumer.poll(Duration::from_millis(10)) else {
                    break None;
                };
                let polled = polled.map_err(failed("consuming"))?;
                if consumer.context().any.load(Ordering::Acquire) {
                    break Some(Err(polled));
                }
                match run.admit(consumer, &polled)? {
                    Admission::Apply => break Some(Ok(polled)),
                    Admission::Skip => continue,
                    Admission::Load => break Some(Err(polled)),
                }
            };
            match next {
                None => break Outcome::Commit,
                Some(Ok(polled)) => message = polled,
                Some(Err(polled)) => break Outcome::Pending(polled),
            }
        };
        match outcome {
            Outcome::Rewind { quarantine, forget } => {
                tx.rollback().map_err(books.database("rolling a batch back"))?;
                run.report.retried += 1;
                if quarantine.is_some() {
                    run.quarantine = quarantine;
                }
                run.rewind(consumer, &books.topic, forget);
                Ok(Outcome::Commit)
            }
            Outcome::Commit | Outcome::Pending(_) | Outcome::CommitThenFail(_) => {
                let mut stored = TopicPartitionList::new();
                for (&partition, part) in run.parts.iter().filter(|(_, p)| p.locked) {
                    let params: [&(dyn postgres::types::ToSql + Sync); 5] =
                        [&part.next, &books.name, &books.version, &books.topic, &partition];
                    tx.execute(&books.store, &params).map_err(books.database("storing offsets"))?;
                    let _ = stored.add_partition_offset(
                        &books.topic,
                        partition,
                        Offset::Offset(part.next),
                    );
                }
                match tx.commit() {
                    Ok(()) => {}
                    Err(e) if is_transient(&e) => {
                        run.report.retried += 1;
                        run.rewind(consumer, &books.topic, None);
                        return Ok(Outcome::Commit);
                    }
                    Err(e) => return Err(books.database("committing a batch")(e)),
                }
                for part in run.parts.values_mut().filter(|p| p.locked) {
                    part.committed = part.next;
                    part.locked = false;
                }
                run.report.applied += applied;
                if stored.count() > 0 {
                    // For monitoring tools only; the stored offsets decide.
                    let _ = consumer.commit(&stored, CommitMode::Async);
                }
                match outcome {
                    Outcome::CommitThenFail(e) => Err(e),
                    other => Ok(other),
                }
            }
        }
    }

    /// Drops what this instance held of partitions the group took from it.
    fn forget_revoked(&self, consumer: &BaseConsumer<Watch>, run: &mut Run) {
        let context = consumer.context();
        if context.any.swap(false, Ordering::AcqRel) {
            let revoked =
                std::mem::take(&mut *context.partitions.lock().unwrap_or_else(|e| e.into_inner()));
            for partition in revoked {
                run.parts.remove(&partition);
                tracing::debug!(partition, "partition revoked");
            }
        }
    }

    /// Reads (or creates, at the partition's first offset `low`) the stored offset of a
    /// partition this instance now holds.
    fn load(
        &self,
        db: &mut Client,
        books: &Books,
        partition: i32,
        low: i64,
        run: &mut Run,
    ) -> Result<i64, ProjectorError> {
        db.execute(
            "INSERT INTO strata.read_model_offsets (name, version, topic, partition, next_offset) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&books.name, &books.version, &books.topic, &partition, &low],
        )
        .map_err(books.database("creating a partition's offset"))?;
        let stored: i64 = db
            .query_one(
                "SELECT next_offset FROM strata.read_model_offsets \
                 WHERE name = $1 AND version = $2 AND topic = $3 AND partition = $4",
                &[&books.name, &books.version, &books.topic, &partition],
            )
            .map_err(books.database("reading a partition's offset"))?
            .get(0);
        if stored < low {
            return Err(ProjectorError::Gap {
                name: books.name.to_owned(),
                version: books.version as u32,
                topic: books.topic.clone(),
                partition,
                stored,
                low,
            });
        }
        tracing::debug!(partition, stored, "partition loaded");
        run.parts.insert(
            partition,
            Part { committed: stored, next: stored, sought: false, locked: false },
        );
        Ok(stored)
    }

    /// The first offset and the high watermark of each partition.
    fn watermarks(
        &self,
        consumer: &BaseConsumer<Watch>,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, (i64, i64)>, ProjectorError> {
        partitions.iter().map(|&p| Ok((p, self.watermark(consumer, p)?))).collect()
    }

    /// The first offset and the high watermark of `partition` (a broker request).
    fn watermark(
        &self,
        consumer: &BaseConsumer<Watch>,
        partition: i32,
    ) -> Result<(i64, i64), ProjectorError> {
        consumer.fetch_watermarks(&self.topic, partition, self.config.timeout).map_err(|e| {
            let e = ClientError::new("reading the partition's offsets", e);
            ProjectorError::Kafka(e.at(&self.topic, Some(partition)))
        })
    }

    /// The version's state, taking over from the serving version when this one is building
    /// and caught up; a retired version stops the run. Whether every partition is caught up
    /// (a broker request per partition) is asked only when this instance's own partitions are,
    /// or it has nothing to read (`idle`).
    fn check_state(
        &self,
        db: &mut Client,
        books: &Books,
        consumer: &BaseConsumer<Watch>,
        partitions: &[i32],
        run: &mut Run,
        idle: bool,
    ) -> Result<VersionState, ProjectorError> {
        let state = version_state(db, books)?;
        match state {
            VersionState::Serving => Ok(state),
            VersionState::Retired => Err(ProjectorError::Superseded {
                name: books.name.to_owned(),
                version: books.version as u32,
                serving: serving_version(db, books)?.unwrap_or(0),
            }),
            VersionState::Building => {
                let own_caught_up =
                    run.lag(consumer.context()).is_some_and(|lag| lag <= self.config.switch_at_lag);
                if !idle && !own_caught_up {
                    return Ok(state);
                }
                let ends = self.watermarks(consumer, partitions)?;
                let lag = lag(&stored_offsets(db, books)?, &ends);
                if lag > self.config.switch_at_lag {
                    return Ok(state);
                }
                if switch(db, books)? {
                    run.report.switched = true;
                    tracing::info!(lag, "this version serves readers now");
                }
                version_state(db, books)
            }
        }
    }

    /// The metrics: lag of every partition the instance holds (assigned, whether or not a
    /// record of it arrived yet), from the stored offsets and the last known high watermarks.
    fn progress(
        &self,
        db: &mut Client,
        books: &Books,
        consumer: &BaseConsumer<Watch>,
        run: &Run,
        state: VersionState,
    ) -> Result<ProjectorProgress, ProjectorError> {
        let assigned = consumer.assignment().map_err(failed("reading the assignment"))?;
        let stored = stored_offsets(db, books)?;
        let highs = consumer.context().highs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let lag_by_partition: BTreeMap<i32, i64> = assigned
            .elements_for_topic(&self.topic)
            .iter()
            .map(|element| {
                let partition = element.partition();
                let next = run.parts.get(&partition).map(|p| p.committed);
                let next = next.or_else(|| stored.get(&partition).copied()).unwrap_or(0);
                let high = highs.get(&partition).copied().unwrap_or(next);
                (partition, (high - next).max(0))
            })
            .collect();
        Ok(ProjectorProgress {
            applied: run.report.applied,
            rate: crate::kafka::rate(run.report.applied, run.started),
            lag: lag_by_partition.values().sum(),
            lag_by_partition,
            dead_lettered: run.report.dead_lettered,
            retried: run.report.retried,
            serving: state == VersionState::Serving,
        })
    }
}

/// One run's bookkeeping.
struct Run {
    parts: HashMap<i32, Part>,
    /// A record `apply` refused: handled as bad when it comes round again.
    quarantine: Option<(i32, i64)>,
    last_refusal: Option<ApplyError>,
    report: ProjectorReport,
    started: Instant,
}

impl Run {
    /// The loaded partitions' lag behind their last known high watermarks, summed; `None`
    /// while any is unknown (librdkafka's statistics know a partition once it fetched from it).
    fn lag(&self, watch: &Watch) -> Option<i64> {
        let highs = watch.highs.lock().unwrap_or_else(|e| e.into_inner());
        self.parts
            .iter()
            .map(|(partition, part)| {
                highs.get(partition).map(|high| (high - part.committed).max(0))
            })
            .sum()
    }

    /// Where `message` stands; seeks back when it is past the partition's next offset.
    fn admit(
        &mut self,
        consumer: &BaseConsumer<Watch>,
        message: &BorrowedMessage<'_>,
    ) -> Result<Admission, ProjectorError> {
        let Some(part) = self.parts.get_mut(&message.partition()) else {
            return Ok(Admission::Load);
        };
        let offset = message.offset();
        if offset == part.next || (part.sought && offset > part.next) {
            part.sought = false;
            return Ok(Admission::Apply);
        }
        if offset > part.next {
            // Past the stored offset: the group's start (Kafka's commit) is ahead of it.
            seek(consumer, message.topic(), message.partition(), part.next)?;
            part.sought = true;
        }
        Ok(Admission::Skip)
    }

    /// After a rollback: every partition the batch touched goes back to its stored offset;
    /// `forget`: a partition whose stored offset moved, re-read before its next record.
    fn rewind(&mut self, consumer: &BaseConsumer<Watch>, topic: &str, forget: Option<i32>) {
        let mut unsought = Vec::new();
        for (&partition, part) in self.parts.iter_mut() {
            if part.next != part.committed || part.locked || Some(partition) == forget {
                part.next = part.committed;
                part.locked = false;
                part.sought = true;
                if let Err(e) = seek(consumer, topic, partition, part.next) {
                    // Taken from this instance meanwhile, most likely. Forgotten, a partition
                    // is reloaded by its next record, and one past the stored offset is sought
                    // back then (`admit`), so nothing is skipped.
                    tracing::warn!(partition, error = %crate::error::Chain(&e), "seek after a rollback failed");
                    unsought.push(partition);
                }
            }
        }
        // A partition whose stored offset moved is read again from its stored offset once
        // reloaded: the seek above makes its next record arrive for the load.
        for partition in unsought.into_iter().chain(forget) {
            self.parts.remove(&partition);
        }
    }
}

fn seek(
    consumer: &BaseConsumer<Watch>,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<(), ProjectorError> {
    consumer.seek(topic, partition, Offset::Offset(offset), Duration::from_secs(10)).map_err(|e| {
        ProjectorError::Kafka(
            ClientError::new("seeking to the stored offset", e)
                .at(topic, Some(partition))
                .at_offset(Some(offset)),
        )
    })
}

/// Whether a database error is worth a retry: a deadlock or a serialization failure.
fn transient(e: &ProjectorError) -> bool {
    match e {
        ProjectorError::Database { source, .. } => is_transient(source),
        _ => false,
    }
}

fn is_transient(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// Whether an error of `apply` comes from a transient database failure.
fn transient_apply(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = current {
        if let Some(pg) = error.downcast_ref::<postgres::Error>() {
            return is_transient(pg);
        }
        current = error.source();
    }
    false
}

fn validate_name(name: &str) -> Result<(), ProjectorError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && name.len() <= 40 {
        Ok(())
    } else {
        Err(ProjectorError::Name { name: name.to_owned() })
    }
}

fn version_schema(books: &Books) -> String {
    format!("{}_v{}", books.name, books.version)
}

/// The key of the advisory lock that serializes changes to `strata.read_models`.
const CATALOG_LOCK: i64 = 0x5354_5241_5441_524d; // "STRATARM"

/// Creates strata's books if missing, and the version (with its tables) if new.
fn register<E, M: ReadModel<E>>(
    db: &mut Client,
    model: &mut M,
    name: &'static str,
    version: u32,
    topic: &str,
) -> Result<Books, ProjectorError> {
    let database = |action| database(name, version, action);
    let version_i32 = i32::try_from(version).unwrap_or(i32::MAX);
    let mut tx = db.transaction().map_err(database("beginning registration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CATALOG_LOCK])
        .map_err(database("locking strata.read_models"))?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS strata;
         CREATE TABLE IF NOT EXISTS strata.read_models (
             name text NOT NULL,
             version integer NOT NULL,
             state text NOT NULL CHECK (state IN ('building', 'serving', 'retired')),
             topic text NOT NULL,
             created_at timestamptz NOT NULL DEFAULT now(),
             serving_since timestamptz,
             PRIMARY KEY (name, version)
         );
         CREATE TABLE IF NOT EXISTS strata.read_model_offsets (
             name text NOT NULL,
             version integer NOT NULL,
             topic text NOT NULL,
             partition integer NOT NULL,
             next_offset bigint NOT NULL,
             PRIMARY KEY (name, version, topic, partition)
         );",
    )
    .map_err(database("creating strata's tables"))?;
    let row = tx
        .query_opt(
            "SELECT topic FROM strata.read_models WHERE name = $1 AND version = $2",
            &[&name, &version_i32],
        )
        .map_err(database("reading strata.read_models"))?;
    match row {
        Some(row) => {
            let registered: String = row.get(0);
            if registered != topic {
                return Err(ProjectorError::OtherTopic {
                    name: name.to_owned(),
                    version,
                    registered,
                    topic: topic.to_owned(),
                });
            }
        }
        None => {
            tx.execute(
                "INSERT INTO strata.read_models (name, version, state, topic) \
                 VALUES ($1, $2, 'building', $3)",
                &[&name, &version_i32, &topic],
            )
            .map_err(database("registering the version"))?;
            let schema = format!("{name}_v{version}");
            tx.batch_execute(&format!(
                "CREATE SCHEMA \"{schema}\"; SET LOCAL search_path TO \"{schema}\""
            ))
            .map_err(database("creating the version's schema"))?;
            model.create(&mut tx).map_err(|source| ProjectorError::Create {
                name: name.to_owned(),
                version,
                source,
            })?;
            tracing::info!(name, version, "read model version registered");
        }
    }
    tx.commit().map_err(database("committing registration"))?;
    let lock = db
        .prepare(
            "SELECT next_offset FROM strata.read_model_offsets \
             WHERE name = $1 AND version = $2 AND topic = $3 AND partition = $4 FOR UPDATE",
        )
        .map_err(database("preparing statements"))?;
    let store = db
        .prepare(
            "UPDATE strata.read_model_offsets SET next_offset = $1 \
             WHERE name = $2 AND version = $3 AND topic = $4 AND partition = $5",
        )
        .map_err(database("preparing statements"))?;
    Ok(Books { name, version: version_i32, topic: topic.to_owned(), lock, store })
}

fn version_state(db: &mut Client, books: &Books) -> Result<VersionState, ProjectorError> {
    let state: String = db
        .query_one(
            "SELECT state FROM strata.read_models WHERE name = $1 AND version = $2",
            &[&books.name, &books.version],
        )
        .map_err(books.database("reading the version's state"))?
        .get(0);
    VersionState::parse(&state).ok_or_else(|| ProjectorError::UnknownState {
        name: books.name.to_owned(),
        version: books.version as u32,
        state,
    })
}

fn serving_version(db: &mut Client, books: &Books) -> Result<Option<u32>, ProjectorError> {
    let row = db
        .query_opt(
            "SELECT version FROM strata.read_models WHERE name = $1 AND state = 'serving'",
            &[&books.name],
        )
        .map_err(books.database("reading the serving version"))?;
    Ok(row.map(|row| row.get::<_, i32>(0) as u32))
}

fn stored_offsets(db: &mut Client, books: &Books) -> Result<BTreeMap<i32, i64>, ProjectorError> {
    let rows = db
        .query(
            "SELECT partition, next_offset FROM strata.read_model_offsets \
             WHERE name = $1 AND version = $2 AND topic = $3",
            &[&books.name, &books.version, &books.topic],
        )
        .map_err(books.database("reading the stored offsets"))?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Records between the stored offsets and the partitions' ends (`watermarks`: first offset
/// and end of each), summed; a partition without a stored offset starts at its first offset.
fn lag(stored: &BTreeMap<i32, i64>, watermarks: &BTreeMap<i32, (i64, i64)>) -> i64 {
    watermarks
        .iter()
        .map(|(p, (low, high))| (high - stored.get(p).copied().unwrap_or(*low)).max(0))
        .sum()
}

/// Points the readers' views at this version's tables and retires the serving version, in
/// one transaction; `false` when another instance switched first.
fn switch(db: &mut Client, books: &Books) -> Result<bool, ProjectorError> {
    let mut tx = db.transaction().map_err(books.database("beginning the switch"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CATALOG_LOCK])
        .map_err(books.database("locking strata.read_models"))?;
    let state: String = tx
        .query_one(
            "SELECT state FROM strata.read_models WHERE name = $1 AND version = $2",
            &[&books.name, &books.version],
        )
        .map_err(books.database("reading the version's state"))?
        .get(0);
    if state != "building" {
        return Ok(false);
    }
    let serving = books.name;
    let own = version_schema(books);
    let views = tx
        .query(
            "SELECT table_name FROM information_schema.views WHERE table_schema = $1",
            &[&serving],
        )
        .map_err(books.database("listing the serving views"))?;
    let tables = tx
        .query(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = $1 ORDER BY table_name",
            &[&own],
        )
        .map_err(books.database("listing the version's tables"))?;
    let mut sql = format!("CREATE SCHEMA IF NOT EXISTS \"{serving}\";");
    for view in &views {
        let view: String = view.get(0);
        sql.push_str(&format!("DROP VIEW \"{serving}\".\"{}\";", view.replace('"', "\"\"")));
    }
    for table in &tables {
        let table: String = table.get(0);
        let table = table.replace('"', "\"\"");
        sql.push_str(&format!(
            "CREATE VIEW \"{serving}\".\"{table}\" AS SELECT * FROM \"{own}\".\"{table}\";"
        ));
    }
    tx.batch_execute(&sql).map_err(books.database("pointing the views at the version"))?;
    tx.execute(
        "UPDATE strata.read_models SET state = 'retired' WHERE name = $1 AND state = 'serving'",
        &[&books.name],
    )
    .map_err(books.database("retiring the serving version"))?;
    tx.execute(
        "UPDATE strata.read_models SET state = 'serving', serving_since = now() \
         WHERE name = $1 AND version = $2",
        &[&books.name, &books.version],
    )
    .map_err(books.database("making the version serve"))?;
    tx.commit().map_err(books.database("committing the switch"))?;
    Ok(true)
}

/// The error of a statement that failed while `action` ran, for read model `name` at `version`.
fn database<'a>(
    name: &'a str,
    version: u32,
    action: &'static str,
) -> impl FnOnce(postgres::Error) -> ProjectorError + 'a {
    move |source| ProjectorError::Database { action, name: name.to_owned(), version, source }
}

/// Whether strata's books (`strata.read_models`) exist in the database.
fn books_exist(db: &mut impl postgres::GenericClient) -> Result<bool, postgres::Error> {
    Ok(db.query_one("SELECT to_regclass('strata.read_models') IS NOT NULL", &[])?.get(0))
}

/// Every version of the read models in `db` (of `name` only, when given), oldest first.
pub fn versions(db: &mut Client, name: Option<&str>) -> Result<Vec<VersionInfo>, ProjectorError> {
    let database = |action| database(name.unwrap_or("*"), 0, action);
    if !books_exist(db).map_err(database("looking for strata.read_models"))? {
        return Ok(Vec::new());
    }
    let rows = db
        .query(
            "SELECT m.name, m.version, m.state, m.topic, o.partition, o.next_offset \
             FROM strata.read_models m LEFT JOIN strata.read_model_offsets o \
               ON o.name = m.name AND o.version = m.version AND o.topic = m.topic \
             WHERE $1::text IS NULL OR m.name = $1 ORDER BY m.name, m.version, o.partition",
            &[&name],
        )
        .map_err(database("reading strata.read_models"))?;
    let mut out: Vec<VersionInfo> = Vec::new();
    for row in rows {
        let (model, version, state): (String, i32, String) = (row.get(0), row.get(1), row.get(2));
        let version = version as u32;
        let fresh = out.last().is_none_or(|last| last.name != model || last.version != version);
        if fresh {
            let state = VersionState::parse(&state).ok_or_else(|| {
                ProjectorError::UnknownState { name: model.clone(), version, state: state.clone() }
            })?;
            out.push(VersionInfo {
                name: model,
                version,
                state,
                topic: row.get(3),
                offsets: BTreeMap::new(),
            });
        }
        let partition: Option<i32> = row.get(4);
        let next: Option<i64> = row.get(5);
        if let (Some(partition), Some(next), Some(last)) = (partition, next, out.last_mut()) {
            last.offsets.insert(partition, next);
        }
    }
    Ok(out)
}

/// Drops a version that does not serve: its schema and tables, its offsets, its registration.
pub fn drop_version(db: &mut Client, name: &str, version: u32) -> Result<(), ProjectorError> {
    validate_name(name)?;
    let database = |action| database(name, version, action);
    let version_i32 = i32::try_from(version).unwrap_or(i32::MAX);
    let mut tx = db.transaction().map_err(database("beginning the drop"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CATALOG_LOCK])
        .map_err(database("locking strata.read_models"))?;
    let exists = books_exist(&mut tx).map_err(database("looking for strata.read_models"))?;
    let state: Option<String> = if exists {
        tx.query_opt(
            "SELECT state FROM strata.read_models WHERE name = $1 AND version = $2",
            &[&name, &version_i32],
        )
        .map_err(database("reading the version's state"))?
        .map(|row| row.get(0))
    } else {
        None
    };
    match state.as_deref() {
        None => {
            return Err(ProjectorError::UnknownVersion { name: name.to_owned(), version });
        }
        Some("serving") => {
            return Err(ProjectorError::DropServing { name: name.to_owned(), version });
        }
        Some(_) => {}
    }
    tx.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}_v{version}\" CASCADE"))
        .map_err(database("dropping the version's schema"))?;
    tx.execute(
        "DELETE FROM strata.read_model_offsets WHERE name = $1 AND version = $2",
        &[&name, &version_i32],
    )
    .map_err(database("deleting the version's offsets"))?;
    tx.execute(
        "DELETE FROM strata.read_models WHERE name = $1 AND version = $2",
        &[&name, &version_i32],
    )
    .map_err(database("deleting the version"))?;
    tx.commit().map_err(database("committing the drop"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_identifiers() {
        for good in ["balances", "_x", "a1_b2"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Balances", "1a", "a-b", "a\"b", &"a".repeat(41)] {
            let e = validate_name(bad).unwrap_err();
            assert!(e.to_string().contains("lowercase SQL identifier"), "{e}");
        }
    }
}
