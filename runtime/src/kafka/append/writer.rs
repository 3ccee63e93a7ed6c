//! Appending with an expected version (optimistic concurrency), for one writer per partition.
//!
//! A [`Writer`] is a member of a consumer group on the topic: the group gives it partitions, it
//! reads each one it is given to the end to learn every aggregate's version there (its number of
//! events), and from then on it is the partition's only writer, so its count stays exact: it
//! counts its own appends, and skips them when it reads them back. An append whose expected
//! version is not the aggregate's version is refused with [`WriteError::Stale`]; an append to
//! an aggregate whose partition another member holds, with [`WriteError::NotOwner`].
//!
//! # Retrying a command
//!
//! A call whose outcome the caller does not know (a timeout, a delivery failure part way, a
//! crash before the answer) is retried with the same [`Metadata::command_id`] and the same
//! expected version, and converges on exactly one copy of each of the command's events, in
//! order: the writer knows each aggregate's last command (its `ce_commandid` and how many of
//! its events are in the topic, read back or appended), so a retry of it appends only the
//! events not there yet, or, when all are, returns where they are without appending. After a
//! failed call the writer first waits for its producer to settle and reads the partition to
//! its end again, so events that landed without a report are counted before the retry is
//! checked.
//!
//! # What the guarantee rests on
//!
//! One writer per partition, which the group's assignment gives as long as a member learns of a
//! revocation before it appends again: a writer serves the group (rebalance callbacks) at every
//! call. A writer paused longer than the group's `session.timeout.ms` (a stop-the-world pause,
//! a frozen VM) may append once more after its partitions were given to another member, before
//! it polls and learns of it: that append is not checked against the new owner's count. Kafka's
//! transactions would fence such a zombie; this writer does not use them. Keep pauses short of
//! the session timeout, and route every append for a topic through writers of one group.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};

use super::{AppendConfig, AppendError, Appended, Appender, Metadata};
use crate::codec::source::SchemaSource;
use crate::event::Event;
use crate::kafka::ClientError;
use crate::kafka::record::{Envelope, Headers};

/// What an append expects of its aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Whatever its version.
    Any,
    /// The aggregate has no events yet.
    NoStream,
    /// The aggregate has exactly this many events.
    Exact(u64),
}

/// Why an append with an expected version was not made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The aggregate's version is not the expected one: another command appended first.
    #[error(
        "aggregate `{}` in topic `{topic}` is at version {actual}, not the expected {}",
        String::from_utf8_lossy(key),
        match expected { ExpectedVersion::Exact(n) => n.to_string(), _ => "0 (no stream)".to_owned() }
    )]
    Stale {
        /// The topic.
        topic: String,
        /// The aggregate id.
        key: Vec<u8>,
        /// What the append expected.
        expected: ExpectedVersion,
        /// The aggregate's version.
        actual: u64,
    },
    /// The aggregate's partition is held by another member of the group.
    #[error(
        "aggregate `{}` is in topic `{topic}` partition {partition}, which another writer of the group holds",
        String::from_utf8_lossy(key)
    )]
    NotOwner {
        /// The topic.
        topic: String,
        /// The aggregate id.
        key: Vec<u8>,
        /// Its partition.
        partition: i32,
    },
    /// The group gave this writer no partition within the timeout (more writers than
    /// partitions, or a rebalance that did not end).
    #[error(
        "topic `{topic}`: the writers' group gave this writer no partition within {timeout:?} \
         (more writers than partitions, or a rebalance that did not end)"
    )]
    NoPartitions {
        /// The topic.
        topic: String,
        /// How long the writer waited.
        timeout: Duration,
    },
    /// The partition was not read to its end in time to know the aggregate's version.
    #[error("topic `{topic}` partition {partition}: not read to its end within {timeout:?}")]
    Loading {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// How long the writer waited.
        timeout: Duration,
    },
    /// A retry of a command whose number of events changed.
    #[error(
        "aggregate `{}` in topic `{topic}`: command `{command}` had {size} event(s), its retry {events}",
        String::from_utf8_lossy(key)
    )]
    CommandChanged {
        /// The topic.
        topic: String,
        /// The aggregate id.
        key: Vec<u8>,
        /// The command id.
        command: String,
        /// Its size in the topic.
        size: u32,
        /// The retry's number of events.
        events: usize,
    },
    /// The append itself failed (the versions count what was delivered; what landed without a
    /// report is counted before the next append to the partition).
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The group's consumer failed.
    #[error(transparent)]
    Kafka(#[from] ClientError),
}

/// What the group tells the writer, noted by the rebalance callbacks.
#[derive(Default)]
struct Changes {
    assigned: Vec<i32>,
    revoked: Vec<i32>,
}

struct Group(Arc<Mutex<Changes>>);

impl rdkafka::client::ClientContext for Group {}

impl ConsumerContext for Group {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let mut changes = self.0.lock().unwrap_or_else(|e| e.into_inner());
            changes.revoked.extend(list.elements().iter().map(|e| e.partition()));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let mut changes = self.0.lock().unwrap_or_else(|e| e.into_inner());
            changes.assigned.extend(list.elements().iter().map(|e| e.partition()));
        }
    }
}

/// A held partition: the next offset not yet counted, and the end to reach before its counts
/// are complete.
#[derive(Debug, Clone, Copy)]
struct Held {
    next: i64,
    end: i64,
}

/// An aggregate's last command: its id and size, and where its events in the topic are.
#[derive(Debug, Clone)]
struct LastCommand {
    id: String,
    size: u32,
    landed: Vec<Appended>,
}

/// A record read back: where it is, and its key and envelope.
struct ReadBack {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    event_id: Option<String>,
    command: Option<(String, u32, u32)>,
}

/// Appends with expected versions, as the single writer of the partitions its group gives it.
pub struct Writer<E: Event> {
    appender: Appender<E>,
    consumer: BaseConsumer<Group>,
    changes: Arc<Mutex<Changes>>,
    partitions: i32,
    held: BTreeMap<i32, Held>,
    versions: HashMap<Vec<u8>, u64>,
    commands: HashMap<Vec<u8>, LastCommand>,
    /// Partitions with a failed append since they were last read to their end.
    unsettled: std::collections::BTreeSet<i32>,
    timeout: Duration,
}

impl<E: Event> std::fmt::Debug for Writer<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("topic", &self.appender.topic())
            .field("held", &self.held.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<E: Event> Writer<E> {
    /// A writer in consumer group `group` (every writer of the topic must be in it), appending
    /// as `config` says, with the schema id from `source`.
    pub fn new(
        config: AppendConfig,
        source: &dyn SchemaSource,
        group: &str,
    ) -> Result<Self, WriteError> {
        let appender = Appender::<E>::new(config.clone(), source)?;
        let topic = appender.topic().to_owned();
        let changes = Arc::new(Mutex::new(Changes::default()));
        let settings = [
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
        ];
        let consumer: BaseConsumer<Group> =
            crate::kafka::client(&config.brokers, &settings, &config.kafka)
                .create_with_context(Group(Arc::clone(&changes)))
                .map_err(|e| {
                    ClientError::new("creating the group's consumer", e).at(&topic, None)
                })?;
        let timeout = config.delivery_timeout;
        let partitions = crate::kafka::partitions(&consumer, &topic, timeout)
            .map_err(|e| ClientError::new("reading the topic's metadata", e).at(&topic, None))?
            .len() as i32;
        consumer
            .subscribe(&[&topic])
            .map_err(|e| ClientError::new("joining the writers' group", e).at(&topic, None))?;
        Ok(Writer {
            appender,
            consumer,
            changes,
            partitions,
            held: BTreeMap::new(),
            versions: HashMap::new(),
            commands: HashMap::new(),
            unsettled: std::collections::BTreeSet::new(),
            timeout,
        })
    }

    /// Serves the group for up to `wait`: takes in what it assigned or revoked, and counts the
    /// records read from held partitions. Appends do this themselves; call it while idle so the
    /// group's rebalances do not wait for this writer.
    pub fn serve(&mut self, wait: Duration) -> Result<(), WriteError> {
        let deadline = Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let record = match self.consumer.poll(remaining.min(Duration::from_millis(50))) {
                Some(Ok(message)) => {
                    let envelope = Headers::of(message.headers()).envelope();
                    let command = match envelope {
                        Envelope {
                            command_id: Some(id),
                            command_seq: Some(seq),
                            command_size: Some(size),
                            ..
                        } => Some((id.to_owned(), seq, size)),
                        _ => None,
                    };
                    Some(ReadBack {
                        partition: message.partition(),
                        offset: message.offset(),
                        key: message.key().map(<[u8]>::to_vec),
                        event_id: envelope.event_id.map(str::to_owned),
                        command,
                    })
                }
                Some(Err(e)) => {
                    let topic = self.appender.topic();
                    return Err(ClientError::new("reading the partition", e)
                        .at(topic, None)
                        .into());
                }
                None => None,
            };
            // The poll may have run the rebalance callbacks: partitions first, then the record.
            self.take_changes()?;
            match record {
                Some(record) => self.count(record),
                None if Instant::now() >= deadline => return Ok(()),
                None => {}
            }
        }
    }

    /// The partitions this writer holds now, each read to its end.
    pub fn held(&self) -> Vec<i32> {
        self.held.iter().filter(|(_, h)| h.next >= h.end).map(|(p, _)| *p).collect()
    }

    /// The version (number of events) of aggregate `key`, if its partition is held and read.
    pub fn version(&self, key: &[u8]) -> Option<u64> {
        let partition = crate::kafka::partition_of(key, self.partitions);
        let held = self.held.get(&partition)?;
        (held.next >= held.end).then(|| self.versions.get(key).copied().unwrap_or(0))
    }

    /// Appends `events` to aggregate `key` if its version is `expected`.
    pub fn append(
        &mut self,
        key: &[u8],
        expected: ExpectedVersion,
        events: &[E],
        metadata: &Metadata<'_>,
    ) -> Result<Vec<Appended>, WriteError> {
        let topic = self.appender.topic().to_owned();
        self.serve(Duration::ZERO)?;
        // A writer holding nothing has not been given its partitions yet (just created, or
        // its group rebalancing): wait for them, up to the timeout, before saying who owns what.
        let deadline = Instant::now() + self.timeout;
        while self.held.is_empty() {
            if Instant::now() >= deadline {
                return Err(WriteError::NoPartitions { topic, timeout: self.timeout });
            }
            self.serve(Duration::from_millis(50))?;
        }
        let partition = crate::kafka::partition_of(key, self.partitions);
        if self.unsettled.contains(&partition) {
            self.settle(partition)?;
        }
        // Read to the end (after a failed append, to the end it has now).
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.held.get(&partition) {
                None => return Err(WriteError::NotOwner { topic, key: key.to_vec(), partition }),
                Some(held) if held.next >= held.end => break,
                Some(_) if Instant::now() >= deadline => {
                    return Err(WriteError::Loading { topic, partition, timeout: self.timeout });
                }
                Some(_) => self.serve(Duration::from_millis(50))?,
            }
        }
        self.unsettled.remove(&partition);
        let actual = self.versions.get(key).copied().unwrap_or(0);
        let matches = |version: u64| match expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => version == 0,
            ExpectedVersion::Exact(n) => version == n,
        };
        // A retry of the aggregate's last command: only what is not in the topic yet.
        let retried =
            metadata.command_id.and_then(|id| self.commands.get(key).filter(|last| last.id == id));
        let generated;
        let (command, landed) = match retried {
            Some(last) => {
                if last.size as usize != events.len() {
                    return Err(WriteError::CommandChanged {
                        topic,
                        key: key.to_vec(),
                        command: last.id.clone(),
                        size: last.size,
                        events: events.len(),
                    });
                }
                let before = actual - last.landed.len() as u64;
                if !matches(before) {
                    return Err(WriteError::Stale { topic, key: key.to_vec(), expected, actual });
                }
                if last.landed.len() == events.len() {
                    return Ok(last.landed.clone());
                }
                (last.id.as_str(), last.landed.clone())
            }
            None => {
                if !matches(actual) {
                    return Err(WriteError::Stale { topic, key: key.to_vec(), expected, actual });
                }
                generated = uuid::Uuid::new_v4().to_string();
                (metadata.command_id.unwrap_or(&generated), Vec::new())
            }
        };
        let size = u32::try_from(events.len()).unwrap_or(u32::MAX);
        let first = landed.len() as u32;
        let command = super::Command { id: command, first, size };
        let result = self.appender.append_command(key, &events[landed.len()..], metadata, command);
        let delivered = match &result {
            Ok(appended) => appended.as_slice(),
            Err(AppendError::Delivery { delivered, .. }) => delivered.as_slice(),
            Err(_) => &[],
        };
        if result.is_err() {
            // Events may have landed without a report: read them back before the next append.
            self.unsettled.insert(partition);
        }
        let id = command.id.to_owned();
        if let Some(last) = delivered.last() {
            *self.versions.entry(key.to_vec()).or_insert(0) += delivered.len() as u64;
            if let Some(held) = self.held.get_mut(&last.partition) {
                held.next = held.next.max(last.offset + 1);
                held.end = held.end.max(last.offset + 1);
            }
        }
        let mut all = landed;
        all.extend_from_slice(delivered);
        self.commands.insert(key.to_vec(), LastCommand { id, size, landed: all.clone() });
        result?;
        Ok(all)
    }

    /// After a failed append to `partition`: waits for the producer to settle every record it
    /// sent (delivered or failed for good), then moves the end the partition must be read to
    /// up to its end now, so what landed without a report is counted before the next append.
    fn settle(&mut self, partition: i32) -> Result<(), WriteError> {
        let topic = self.appender.topic();
        self.appender.settle(self.timeout)?;
        let (_, high) =
            self.consumer.fetch_watermarks(topic, partition, self.timeout).map_err(|e| {
                ClientError::new("reading the partition's offsets", e).at(topic, Some(partition))
            })?;
        if let Some(held) = self.held.get_mut(&partition) {
            held.end = held.end.max(high);
        }
        Ok(())
    }

    /// Takes in the group's changes: revoked partitions are forgotten (with their keys'
    /// counts), assigned ones start counting from their first offset up to their end now.
    fn take_changes(&mut self) -> Result<(), WriteError> {
        let Changes { assigned, revoked } =
            std::mem::take(&mut *self.changes.lock().unwrap_or_else(|e| e.into_inner()));
        if !revoked.is_empty() {
            for partition in &revoked {
                self.held.remove(partition);
            }
            let partitions = self.partitions;
            let kept =
                |key: &Vec<u8>| !revoked.contains(&crate::kafka::partition_of(key, partitions));
            self.versions.retain(|key, _| kept(key));
            self.commands.retain(|key, _| kept(key));
            self.unsettled.retain(|p| !revoked.contains(p));
        }
        for partition in assigned {
            let topic = self.appender.topic();
            let (low, high) =
                self.consumer.fetch_watermarks(topic, partition, self.timeout).map_err(|e| {
                    ClientError::new("reading the partition's offsets", e)
                        .at(topic, Some(partition))
                })?;
            // Counting starts at the first offset (the consumer reads from there: no offsets
            // are committed); records before it were deleted, and so are not counted.
            self.held.insert(partition, Held { next: low, end: high });
        }
        Ok(())
    }

    /// Counts a record read back, unless this writer counted it when it appended it, and
    /// notes it in its aggregate's last command.
    fn count(&mut self, record: ReadBack) {
        let ReadBack { partition, offset, key, event_id, command } = record;
        let Some(held) = self.held.get_mut(&partition) else { return };
        if offset < held.next {
            return;
        }
        held.next = offset + 1;
        let Some(key) = key else { return };
        *self.versions.entry(key.clone()).or_insert(0) += 1;
        let Some((id, seq, size)) = command else {
            self.commands.remove(&key);
            return;
        };
        let here = Appended { partition, offset, event_id: event_id.unwrap_or_default() };
        match self.commands.get_mut(&key) {
            Some(last) if last.id == id && seq > 0 => last.landed.push(here),
            _ => {
                self.commands.insert(key, LastCommand { id, size, landed: vec![here] });
            }
        }
    }
}
