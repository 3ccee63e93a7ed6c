//! Replay (feature `kafka`): rebuild state from an aggregate topic, decoding every record into
//! the latest event type through the same plans as everywhere else, applying in per-partition
//! order, with snapshots that survive type changes.
//!
//! ```no_run
//! use std::sync::Arc;
//! use strata::kafka::replay::{Replay, ReplayConfig};
//! # #[derive(strata::Record, Debug, Clone, PartialEq)] struct Opened { id: String }
//! # #[derive(strata::Event, Debug, Clone, PartialEq)]
//! # #[strata(topic = "bank.accounts", namespace = "bank", version = 1)]
//! # enum AccountEvent { Opened(Opened) }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Arc::new(strata::LocalSource::from_history("schemas".as_ref())?);
//! let replay = Replay::<AccountEvent>::new(ReplayConfig::new("127.0.0.1:9092"), source)?;
//! let mut opened = 0;
//! let report = replay.run(&mut |event: AccountEvent, _: &strata::kafka::record::Position<'_>| {
//!     if matches!(event, AccountEvent::Opened(_)) { opened += 1 }
//! })?;
//! println!("{} events, {opened} accounts opened", report.events);
//! # Ok(()) }
//! ```
//!
//! Memory is the state's: records are applied as they are polled, never collected.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, RebalanceProtocol};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::codec::source::SchemaSource;
use crate::codec::{CodecError, Decoder};
use crate::event::{Event, Record};
use crate::kafka::error::failed;
use crate::kafka::record::{
    ApplyError, FailedRecord, Headers, Position, RecordError, dead_letter, frame_id,
};
use crate::snapshot::{Snapshot, SnapshotError, SnapshotStore};

/// A fold over events: any projection. Closures `FnMut(E, &Position)` are projections.
pub trait Projection<E> {
    /// Applies one event, in its partition's order.
    fn apply(&mut self, event: E, position: &Position<'_>) -> Result<(), ApplyError>;
}

impl<E, F: FnMut(E, &Position<'_>)> Projection<E> for F {
    fn apply(&mut self, event: E, position: &Position<'_>) -> Result<(), ApplyError> {
        self(event, position);
        Ok(())
    }
}

/// An aggregate: one instance per record key, built by applying that key's events in order.
pub trait Aggregate<E>: Default {
    /// Applies one event of this aggregate.
    fn apply(&mut self, event: E);
}

/// Every aggregate of a topic, by record key: the projection of [`Aggregate`]s.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregates<A> {
    /// The aggregates by record key.
    pub by_key: HashMap<Vec<u8>, A>,
}

impl<A> Default for Aggregates<A> {
    fn default() -> Self {
        Aggregates { by_key: HashMap::new() }
    }
}

impl<E, A: Aggregate<E>> Projection<E> for Aggregates<A> {
    fn apply(&mut self, event: E, position: &Position<'_>) -> Result<(), ApplyError> {
        let key = position.key.ok_or("the record has no key, so no aggregate")?;
        match self.by_key.get_mut(key) {
            Some(aggregate) => aggregate.apply(event),
            None => {
                let mut aggregate = A::default();
                aggregate.apply(event);
                self.by_key.insert(key.to_vec(), aggregate);
            }
        }
        Ok(())
    }
}

use crate::kafka::{Mode, Progress};

/// How a replay runs.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The topic (default: the event type's).
    pub topic: Option<String>,
    /// Catch up (default) or follow.
    pub mode: Mode,
    /// Split the topic's partitions with the other replays of this consumer group (follow mode,
    /// without snapshots: each member holds part of the state, as projections sharded by key
    /// do). A member's state lives in its memory only, so a partition it is given starts where
    /// that state stopped: at the beginning for one it never had (after a restart, all of
    /// them), where it left off for one it gets back. The group's committed offsets (each
    /// progress tick, on a revocation, at the end) are for monitoring tools; a member never
    /// starts from another's. `None` (the default): this replay reads every partition.
    pub group: Option<String>,
    /// Where records that cannot be decoded or applied go, with their coordinates as headers;
    /// `None` (the default): the replay stops at the first one. A dead-lettered record's key
    /// is parked: its later records follow it into the dead-letter topic unapplied, so an
    /// aggregate's state stops at its last good event instead of skipping one (a snapshot
    /// keeps the parked keys). Keyless records are not parked.
    pub dead_letter_topic: Option<String>,
    /// Once the cause of dead letters is fixed: start from the newest snapshot that holds no
    /// parked key (one taken before the first dead letter; the beginning when there is none),
    /// so the dead-lettered records and their keys' later records are read again from the
    /// topic, in order, each applied once. A replay's letters are for inspection: it never
    /// reads them back, and the topic is never written. `false` (the default): a replay
    /// resumes from the newest snapshot, its keys still parked.
    pub retry_dead_letters: bool,
    /// Snapshot every this many events (with a store).
    pub snapshot_every_events: Option<u64>,
    /// Snapshot at least this often (with a store).
    pub snapshot_every: Option<Duration>,
    /// How often the progress callback is called.
    pub progress_every: Duration,
    /// Extra librdkafka settings, such as security ones.
    pub kafka: Vec<(String, String)>,
    /// How long metadata and watermark requests may take.
    pub timeout: Duration,
}

impl ReplayConfig {
    /// Catch-up replay from `brokers`, stopping at the first bad record, without snapshots.
    pub fn new(brokers: impl Into<String>) -> Self {
        ReplayConfig {
            brokers: brokers.into(),
            topic: None,
            mode: Mode::CatchUp,
            group: None,
            dead_letter_topic: None,
            retry_dead_letters: false,
            snapshot_every_events: None,
            snapshot_every: None,
            progress_every: Duration::from_secs(1),
            kafka: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The snapshot a replay started from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotStart {
    /// The events the snapshot's state had applied.
    pub events: u64,
    /// The next offset to read of each partition.
    pub offsets: BTreeMap<i32, i64>,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayReport {
    /// Events applied in this run.
    pub events: u64,
    /// Records sent to the dead-letter topic (the parked ones included).
    pub dead_lettered: u64,
    /// Of those, records sent there unapplied because their key was parked.
    pub parked: u64,
    /// The snapshot the run started from: its events and offsets.
    pub from_snapshot: Option<SnapshotStart>,
    /// Snapshots that could not be used, each with the reason (the run then started earlier).
    pub discarded_snapshots: Vec<String>,
    /// Snapshots written.
    pub snapshots_written: u32,
    /// The next offset to read per partition when the run stopped.
    pub positions: BTreeMap<i32, i64>,
}

/// A replay that could not run or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The client or the broker failed.
    #[error(transparent)]
    Kafka(#[from] crate::kafka::ClientError),
    /// The topic to replay does not exist (it has no partitions).
    #[error("topic `{topic}` does not exist: it has no partitions")]
    MissingTopic {
        /// The topic.
        topic: String,
    },
    /// The decoder could not be built.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A record could not be applied, and no dead-letter topic is configured.
    #[error(transparent)]
    Record(#[from] FailedRecord),
    /// Records a snapshot does not cover are gone (retention deleted them).
    #[error(
        "topic `{topic}` partition {partition}: the snapshot covers offsets before {from}, but \
         the partition starts at {low}: records in between were deleted"
    )]
    Gap {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The snapshot's next offset.
        from: i64,
        /// The partition's first offset.
        low: i64,
    },
    /// A snapshot could not be written.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// A consumer group in catch-up mode: a group member holds only some partitions, so it
    /// cannot tell when the topic is caught up. Refused when the replay is built.
    #[error(
        "replay configuration: a consumer group replays in follow mode (catch-up reads every partition)"
    )]
    GroupInCatchUp,
    /// Snapshots with a consumer group: a snapshot covers every partition, a member only some.
    #[error(
        "replay configuration: snapshots cover every partition; a group member holds only some"
    )]
    GroupWithSnapshots,
}

/// A progress callback: return `false` to stop (the way to end a follow replay).
pub type OnProgress<'a> = &'a mut dyn FnMut(&Progress) -> bool;

/// Replays one topic of event type `E`.
pub struct Replay<E: Event> {
    config: ReplayConfig,
    topic: String,
    decoder: Decoder<E>,
}

impl<E: Event> std::fmt::Debug for Replay<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay").field("topic", &self.topic).field("config", &self.config).finish()
    }
}

impl<E: Event> Replay<E> {
    /// A replay reading writer schemas from `source`.
    pub fn new(config: ReplayConfig, source: Arc<dyn SchemaSource>) -> Result<Self, ReplayError> {
        if config.group.is_some() && config.mode == Mode::CatchUp {
            return Err(ReplayError::GroupInCatchUp);
        }
        let topic = config.topic.clone().unwrap_or_else(|| E::TOPIC.to_owned());
        Ok(Replay { config, topic, decoder: Decoder::new(source)? })
    }

    fn client_config(&self) -> ClientConfig {
        let group = format!("strata-replay-{}", self.topic);
        let settings = [
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("group.id", group.as_str()),
        ];
        crate::kafka::client(&self.config.brokers, &settings, &self.config.kafka)
    }

    /// Replays the whole topic into `projection`.
    pub fn run<P: Projection<E>>(&self, projection: &mut P) -> Result<ReplayReport, ReplayError> {
        self.replay(projection, Start::default(), None, &mut |_| true)
    }

    /// Replays the whole topic into `projection`, reporting progress (return `false` to stop).
    pub fn run_with_progress<P: Projection<E>>(
        &self,
        projection: &mut P,
        on_progress: OnProgress<'_>,
    ) -> Result<ReplayReport, ReplayError> {
        self.replay(projection, Start::default(), None, on_progress)
    }

    /// Replays into state `S` kept in `store`: starts from the latest usable snapshot (an older
    /// state version is upcast; one that cannot be read is discarded with its reason, and the
    /// replay starts from an earlier one or from the beginning), snapshots as configured and at
    /// the end, and returns the state.
    pub fn run_with_snapshots<S>(
        &self,
        store: &dyn SnapshotStore,
        on_progress: OnProgress<'_>,
    ) -> Result<(S, ReplayReport), ReplayError>
    where
        S: Record + Default + Projection<E>,
    {
        let mut discarded = Vec::new();
        let mut start = None;
        for candidate in store.load()? {
            let usable = candidate.and_then(|snapshot| {
                if snapshot.topic != self.topic {
                    return Err(SnapshotError::OtherTopic {
                        found: snapshot.topic,
                        expected: self.topic.clone(),
                    });
                }
                if self.config.retry_dead_letters && !snapshot.parked.is_empty() {
                    return Err(SnapshotError::Parked {
                        keys: snapshot.parked.values().map(BTreeSet::len).sum(),
                    });
                }
                let state = snapshot.state::<S>()?;
                Ok((state, snapshot))
            });
            match usable {
                Ok(found) => {
                    start = Some(found);
                    break;
                }
                Err(reason) => {
                    let reason = crate::error::Chain(&reason).to_string();
                    tracing::warn!(topic = %self.topic, %reason, "snapshot discarded");
                    discarded.push(reason);
                }
            }
        }
        let (mut state, offsets, parked, from) = match start {
            Some((state, snapshot)) => {
                let from =
                    SnapshotStart { events: snapshot.events, offsets: snapshot.offsets.clone() };
                (state, snapshot.offsets, snapshot.parked, Some(from))
            }
            None => (S::default(), BTreeMap::new(), BTreeMap::new(), None),
        };
        let snapshots = Snapshots {
            store,
            base_events: from.as_ref().map_or(0, |start| start.events),
            make: Snapshot::of::<S>,
        };
        let start = Start { offsets, parked };
        let mut report = self.replay(&mut state, start, Some(snapshots), on_progress)?;
        report.discarded_snapshots = discarded;
        report.from_snapshot = from;
        Ok((state, report))
    }

    fn replay<P: Projection<E>>(
        &self,
        projection: &mut P,
        start: Start,
        snapshots: Option<Snapshots<'_, P>>,
        on_progress: OnProgress<'_>,
    ) -> Result<ReplayReport, ReplayError> {
        let span = tracing::info_span!("replay", topic = %self.topic);
        let _entered = span.enter();
        let topic = self.topic.as_str();
        let shared = Arc::new(Mutex::new(BTreeMap::new()));
        let context = GroupCommits { topic: topic.to_owned(), positions: Arc::clone(&shared) };
        let mut client = self.client_config();
        let mut ends = BTreeMap::new();
        let mut positions = BTreeMap::new();
        if let Some(group) = &self.config.group {
            if snapshots.is_some() {
                return Err(ReplayError::GroupWithSnapshots);
            }
            client.set("group.id", group).set("auto.offset.reset", "earliest");
        }
        let consumer: BaseConsumer<GroupCommits> =
            client.create_with_context(context).map_err(failed("creating the consumer"))?;
        if self.config.group.is_some() {
            consumer.subscribe(&[topic]).map_err(failed("joining the consumer group"))?;
        } else {
            self.assign_all(&consumer, &start.offsets, &mut ends, &mut positions)?;
        }
        let dead_letters = match &self.config.dead_letter_topic {
            Some(_) => Some(
                self.client_config()
                    .set("enable.idempotence", "true")
                    .create::<BaseProducer>()
                    .map_err(failed("creating the dead-letter producer"))?,
            ),
            None => None,
        };

        let mut parked = start.parked;
        let mut report = ReplayReport::default();
        let started = Instant::now();
        let mut ticker = crate::kafka::Ticker::new(self.config.progress_every);
        let mut last_snapshot = Instant::now();
        let mut since_snapshot = 0u64;
        let done = |positions: &BTreeMap<i32, i64>| {
            self.config.mode == Mode::CatchUp
                && positions.iter().all(|(p, next)| *next >= ends.get(p).copied().unwrap_or(0))
        };
        let mut idle = false;
        while !done(&positions) {
            if ticker.due(idle) {
                if self.config.group.is_some() {
                    commit(&consumer, topic, &shared);
                }
                if !on_progress(&Progress::of(report.events, started, &positions, &ends)) {
                    break;
                }
            }
            let polled = consumer.poll(Duration::from_millis(100));
            idle = polled.is_none();
            let Some(polled) = polled else {
                continue;
            };
            let message = polled.map_err(failed("consuming"))?;
            let (partition, offset) = (message.partition(), message.offset());
            let position = Position {
                topic,
                partition,
                offset,
                key: message.key(),
                timestamp: message.timestamp().to_millis(),
                headers: Headers::of(message.headers()),
            };
            let key_parked = || {
                let key = message.key()?;
                parked.get(&partition).filter(|keys| keys.contains(key))
            };
            let applied = match message.payload() {
                _ if dead_letters.is_some() && key_parked().is_some() => {
                    Err((message.payload().and_then(frame_id), RecordError::Parked))
                }
                None => Err((None, RecordError::Tombstone)),
                Some(bytes) => match self.decoder.decode(bytes) {
                    Ok(event) => projection
                        .apply(event, &position)
                        .map_err(|e| (frame_id(bytes), RecordError::Refused(e))),
                    Err(e) => Err((e.schema_id(), RecordError::Decode(e))),
                },
            };
            if let Err((schema_id, source)) = applied {
                let Some(producer) = dead_letters.as_ref().filter(|_| !source.is_unavailable())
                else {
                    return Err(ReplayError::Record(FailedRecord {
                        topic: topic.into(),
                        partition,
                        offset,
                        schema_id,
                        source,
                    }));
                };
                let dlt = self.config.dead_letter_topic.as_deref().expect("a producer has a topic");
                dead_letter(producer, dlt, &message, schema_id, &source)?;
                tracing::warn!(partition, offset, %source, "record sent to the dead-letter topic");
                report.dead_lettered += 1;
                if matches!(source, RecordError::Parked) {
                    report.parked += 1;
                } else if let Some(key) = message.key() {
                    parked.entry(partition).or_default().insert(key.to_vec());
                }
            } else {
                report.events += 1;
                since_snapshot += 1;
            }
            positions.insert(partition, offset + 1);
            if self.config.group.is_some() {
                shared.lock().unwrap_or_else(|e| e.into_inner()).insert(partition, offset + 1);
            }
            if let Some(snapshots) = &snapshots {
                let by_count =
                    self.config.snapshot_every_events.is_some_and(|n| since_snapshot >= n);
                let by_time =
                    self.config.snapshot_every.is_some_and(|t| last_snapshot.elapsed() >= t);
                if (by_count || by_time) && since_snapshot > 0 {
                    flush(&dead_letters)?;
                    snapshots.save(topic, projection, &positions, &parked, report.events)?;
                    report.snapshots_written += 1;
                    since_snapshot = 0;
                    last_snapshot = Instant::now();
                    crate::kafka::crash_point("replay.snapshot");
                }
            }
            crate::kafka::crash_point("replay.applied");
        }
        flush(&dead_letters)?;
        if self.config.group.is_some() {
            commit(&consumer, topic, &shared);
        }
        if let Some(snapshots) = &snapshots
            && (since_snapshot > 0 || report.snapshots_written == 0)
        {
            snapshots.save(topic, projection, &positions, &parked, report.events)?;
            report.snapshots_written += 1;
        }
        on_progress(&Progress::of(report.events, started, &positions, &ends));
        report.positions = positions;
        tracing::info!(events = report.events, dead_lettered = report.dead_lettered, "replay done");
        Ok(report)
    }
}

/// One aggregate, rebuilt by [`Replay::load`].
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<A> {
    /// The aggregate, its events applied in order.
    pub aggregate: A,
    /// How many events it has: its version, as an expected version counts them.
    pub version: u64,
    /// The partition its key maps to.
    pub partition: i32,
    /// The offset of its last event, if it has any.
    pub last_offset: Option<i64>,
    /// The next offset of the partition the load had not read: where a load from a snapshot of
    /// this aggregate starts.
    pub next_offset: i64,
    /// The snapshots [`Replay::load_with_snapshot`] passed over, newest first, each with the
    /// reason (also logged): the load then started from an earlier one or the beginning.
    pub discarded_snapshots: Vec<String>,
}

impl<E: Event> Replay<E> {
    /// Rebuilds the one aggregate keyed `key`: reads only the partition the key maps to
    /// ([`crate::kafka::partition_of`], as the appender and Java clients partition), to its
    /// end offset at start, and applies that key's events in order (records of other keys are
    /// not decoded). A bad record of the key stops the load with its coordinates.
    pub fn load<A: Aggregate<E>>(&self, key: &[u8]) -> Result<Loaded<A>, ReplayError> {
        self.load_from(
            key,
            Loaded {
                aggregate: A::default(),
                version: 0,
                partition: 0,
                last_offset: None,
                next_offset: 0,
                discarded_snapshots: Vec::new(),
            },
        )
    }

    /// [`Replay::load`] starting from the latest usable snapshot of the aggregate in `store`
    /// (written by [`Replay::save_aggregate`]; an older shape of `A` is upcast, one that cannot
    /// be read is passed over, with its reason in [`Loaded::discarded_snapshots`] and the log,
    /// for an earlier one or the beginning), reading only the records after it. Returns whether
    /// a snapshot was used.
    pub fn load_with_snapshot<A>(
        &self,
        key: &[u8],
        store: &dyn SnapshotStore,
    ) -> Result<(Loaded<A>, bool), ReplayError>
    where
        A: Aggregate<E> + Record,
    {
        let mut discarded = Vec::new();
        for candidate in store.load()? {
            let usable = candidate.and_then(|snapshot| {
                if snapshot.topic != self.topic {
                    return Err(SnapshotError::OtherTopic {
                        found: snapshot.topic,
                        expected: self.topic.clone(),
                    });
                }
                let aggregate = snapshot.state::<A>()?;
                Ok((aggregate, snapshot))
            });
            let (aggregate, snapshot) = match usable {
                Ok(found) if found.1.offsets.len() == 1 => found,
                Ok((_, snapshot)) => {
                    let partitions = snapshot.offsets.len();
                    discarded.push(format!(
                        "it covers {partitions} partitions, not one aggregate's partition"
                    ));
                    continue;
                }
                Err(reason) => {
                    discarded.push(crate::error::Chain(&reason).to_string());
                    continue;
                }
            };
            let (&partition, &next_offset) =
                snapshot.offsets.iter().next().expect("one partition, checked above");
            let start = Loaded {
                aggregate,
                version: snapshot.events,
                partition,
                last_offset: None,
                next_offset,
                discarded_snapshots: Vec::new(),
            };
            let mut loaded = self.load_from(key, start)?;
            warn_discarded(&self.topic, &discarded);
            loaded.discarded_snapshots = discarded;
            return Ok((loaded, true));
        }
        let mut loaded = self.load(key)?;
        warn_discarded(&self.topic, &discarded);
        loaded.discarded_snapshots = discarded;
        Ok((loaded, false))
    }

    /// Saves `loaded` (an aggregate [`Replay::load`] or [`Replay::load_with_snapshot`] gave)
    /// into `store`, for [`Replay::load_with_snapshot`] to start from.
    pub fn save_aggregate<A: Record>(
        &self,
        loaded: &Loaded<A>,
        store: &dyn SnapshotStore,
    ) -> Result<(), ReplayError> {
        let offsets = BTreeMap::from([(loaded.partition, loaded.next_offset)]);
        store.save(&Snapshot::of(&self.topic, &loaded.aggregate, offsets, loaded.version))?;
        Ok(())
    }

    /// Applies the key's records from `start.next_offset` (or the partition's first offset,
    /// whichever is later: a snapshot past deleted records is fine, one before them a gap).
    fn load_from<A: Aggregate<E>>(
        &self,
        key: &[u8],
        start: Loaded<A>,
    ) -> Result<Loaded<A>, ReplayError> {
        let topic = self.topic.as_str();
        let consumer: BaseConsumer =
            self.client_config().create().map_err(failed("creating the consumer"))?;
        let partitions = crate::kafka::partitions(&consumer, topic, self.config.timeout)
            .map_err(failed("reading the topic's metadata"))?;
        if partitions.is_empty() {
            return Err(ReplayError::MissingTopic { topic: topic.into() });
        }
        let partition = crate::kafka::partition_of(key, partitions.len() as i32);
        let (low, high) =
            consumer.fetch_watermarks(topic, partition, self.config.timeout).map_err(|e| {
                let e = crate::kafka::ClientError::new("reading the partition's offsets", e);
                ReplayError::Kafka(e.at(topic, Some(partition)))
            })?;
        let from_snapshot = start.version > 0 || start.next_offset > 0;
        if from_snapshot && start.partition != partition {
            // The topic's partition count changed since: the snapshot's partition is not the
            // key's any more, so its offset means nothing here.
            return self.load(key);
        }
        if from_snapshot && start.next_offset < low {
            return Err(ReplayError::Gap {
                topic: topic.into(),
                partition,
                from: start.next_offset,
                low,
            });
        }
        let mut next = start.next_offset.max(low);
        let mut loaded = Loaded { partition, next_offset: next.max(high), ..start };
        if next >= high {
            return Ok(loaded);
        }
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition, Offset::Offset(next))
            .map_err(failed("assigning partitions"))?;
        consumer.assign(&assignment).map_err(failed("assigning partitions"))?;
        while next < high {
            let Some(polled) = consumer.poll(Duration::from_millis(100)) else { continue };
            let message = polled.map_err(failed("consuming"))?;
            next = message.offset() + 1;
            if message.key() != Some(key) {
                continue;
            }
            let offset = message.offset();
            let record = |schema_id, source| {
                ReplayError::Record(FailedRecord {
                    topic: topic.into(),
                    partition,
                    offset,
                    schema_id,
                    source,
                })
            };
            let bytes = message.payload().ok_or_else(|| record(None, RecordError::Tombstone))?;
            let event = self
                .decoder
                .decode(bytes)
                .map_err(|e| record(e.schema_id(), RecordError::Decode(e)))?;
            loaded.aggregate.apply(event);
            loaded.version += 1;
            loaded.last_offset = Some(offset);
        }
        Ok(loaded)
    }

    /// Assigns every partition of the topic, from `start` (a snapshot's offsets) or the first
    /// offset, recording each partition's end (catch-up stops there) and next offset.
    fn assign_all(
        &self,
        consumer: &BaseConsumer<GroupCommits>,
        start: &BTreeMap<i32, i64>,
        ends: &mut BTreeMap<i32, i64>,
        positions: &mut BTreeMap<i32, i64>,
    ) -> Result<(), ReplayError> {
        let topic = self.topic.as_str();
        let partitions = crate::kafka::partitions(consumer, topic, self.config.timeout)
            .map_err(failed("reading the topic's metadata"))?;
        if partitions.is_empty() {
            return Err(ReplayError::MissingTopic { topic: topic.into() });
        }
        let mut assignment = TopicPartitionList::new();
        for &partition in &partitions {
            let (low, high) =
                consumer.fetch_watermarks(topic, partition, self.config.timeout).map_err(|e| {
                    let e = crate::kafka::ClientError::new("reading the partition's offsets", e);
                    ReplayError::Kafka(e.at(topic, Some(partition)))
                })?;
            let next = match start.get(&partition) {
                Some(&from) if from < low => {
                    return Err(ReplayError::Gap { topic: topic.into(), partition, from, low });
                }
                Some(&from) => from,
                None => low,
            };
            ends.insert(partition, high);
            positions.insert(partition, next);
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(next))
                .map_err(failed("assigning partitions"))?;
        }
        Ok(consumer.assign(&assignment).map_err(failed("assigning partitions"))?)
    }
}

/// A group member's bookkeeping: the next offset to read of every partition it has applied
/// records of, kept when a partition is taken from it. Its state holds those partitions'
/// records up to exactly there, so a partition it is given (back) resumes there, and one it
/// never had starts at the beginning: never at the group's committed offset, which another
/// member's state, or a state this process no longer has, reached. Offsets are still committed
/// (each tick, on a revocation, at the end) for monitoring tools' lag.
struct GroupCommits {
    topic: String,
    positions: Arc<Mutex<BTreeMap<i32, i64>>>,
}

impl rdkafka::client::ClientContext for GroupCommits {}

impl rdkafka::consumer::ConsumerContext for GroupCommits {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: rdkafka::types::RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        use rdkafka::types::RDKafkaRespErr::{
            RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS as ASSIGN,
            RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS as REVOKE,
        };
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let positions = self.positions.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let done = match err {
            ASSIGN => {
                for mut element in partitions.elements() {
                    let from = positions
                        .get(&element.partition())
                        .map_or(Offset::Beginning, |&next| Offset::Offset(next));
                    if let Err(e) = element.set_offset(from) {
                        tracing::error!(topic = %self.topic, partition = element.partition(), "setting the start of an assigned partition failed: {}", crate::error::Chain(&e));
                    }
                }
                if cooperative {
                    consumer.incremental_assign(partitions)
                } else {
                    consumer.assign(partitions)
                }
            }
            REVOKE => {
                commit_positions(consumer, &self.topic, &positions, partitions);
                if cooperative {
                    consumer.incremental_unassign(partitions)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::error!(topic = %self.topic, "rebalancing: {}", rdkafka::types::RDKafkaErrorCode::from(other));
                Ok(())
            }
        };
        if let Err(e) = done {
            tracing::error!(topic = %self.topic, "applying a rebalance failed: {}", crate::error::Chain(&e));
        }
    }
}

/// Commits the next offset to read of every partition this member holds now, for monitoring
/// tools (no member starts from them): a commit refused mid-rebalance is logged, not fatal.
fn commit(
    consumer: &BaseConsumer<GroupCommits>,
    topic: &str,
    positions: &Mutex<BTreeMap<i32, i64>>,
) {
    match consumer.assignment() {
        Ok(held) => {
            let positions = positions.lock().unwrap_or_else(|e| e.into_inner()).clone();
            commit_positions(consumer, topic, &positions, &held);
        }
        Err(e) => {
            tracing::warn!(topic, "reading the assignment failed: {}", crate::error::Chain(&e))
        }
    }
}

/// Commits `positions` of those of `partitions` (of `topic`) this member applied records of,
/// for monitoring tools: a failure is logged, not fatal.
fn commit_positions(
    consumer: &BaseConsumer<GroupCommits>,
    topic: &str,
    positions: &BTreeMap<i32, i64>,
    partitions: &TopicPartitionList,
) {
    let mut offsets = TopicPartitionList::new();
    for element in partitions.elements_for_topic(topic) {
        if let Some(&next) = positions.get(&element.partition()) {
            let _ = offsets.add_partition_offset(topic, element.partition(), Offset::Offset(next));
        }
    }
    if offsets.count() > 0
        && let Err(e) = consumer.commit(&offsets, CommitMode::Sync)
    {
        tracing::warn!(
            topic,
            "committing offsets (for monitoring) failed: {}",
            crate::error::Chain(&e)
        );
    }
}

/// Where a replay with snapshots keeps them: the store, the events the starting snapshot
/// held, and how the state becomes a snapshot.
/// Logs each snapshot an aggregate's load passed over, with the reason.
fn warn_discarded(topic: &str, discarded: &[String]) {
    for reason in discarded {
        tracing::warn!(%topic, %reason, "aggregate snapshot discarded");
    }
}

/// Where a replay starts: each partition's next offset, and the keys parked there.
#[derive(Default)]
struct Start {
    offsets: BTreeMap<i32, i64>,
    parked: BTreeMap<i32, BTreeSet<Vec<u8>>>,
}

struct Snapshots<'a, P> {
    store: &'a dyn SnapshotStore,
    base_events: u64,
    make: fn(&str, &P, BTreeMap<i32, i64>, u64) -> Snapshot,
}

impl<P> Snapshots<'_, P> {
    fn save(
        &self,
        topic: &str,
        state: &P,
        positions: &BTreeMap<i32, i64>,
        parked: &BTreeMap<i32, BTreeSet<Vec<u8>>>,
        events: u64,
    ) -> Result<(), ReplayError> {
        let mut snapshot = (self.make)(topic, state, positions.clone(), self.base_events + events);
        snapshot.parked = parked.clone();
        self.store.save(&snapshot)?;
        Ok(())
    }
}

fn flush(producer: &Option<BaseProducer>) -> Result<(), ReplayError> {
    if let Some(producer) = producer {
        producer.flush(Duration::from_secs(30)).map_err(failed("delivering dead letters"))?;
    }
    Ok(())
}
