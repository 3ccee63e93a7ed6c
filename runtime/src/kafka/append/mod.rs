//! Appending events (feature `kafka`): each event encoded with the latest schema (Confluent
//! framing, the id from the registry or `schemas/`), keyed by its aggregate's id so one
//! aggregate's events share a partition and keep their order, through an idempotent producer,
//! with an envelope of headers. [`Appender::append`] returns once every event is acknowledged,
//! with each one's partition and offset; a delivery failure is an error, never dropped.
//!
//! ```no_run
//! use std::sync::Arc;
//! use strata::kafka::append::{AppendConfig, Appender, Metadata};
//! # #[derive(strata::Record, Debug, Clone, PartialEq)] struct Opened { id: String }
//! # #[derive(strata::Event, Debug, Clone, PartialEq)]
//! # #[strata(topic = "bank.accounts", namespace = "bank", version = 1)]
//! # enum AccountEvent { Opened(Opened) }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = strata::LocalSource::from_history("schemas".as_ref())?;
//! let appender = Appender::<AccountEvent>::new(AppendConfig::new("127.0.0.1:9092"), &source)?;
//! let opened = AccountEvent::Opened(Opened { id: "acc-1".into() });
//! let appended = appender.append_with(b"acc-1", &[opened], &Metadata {
//!     correlation_id: Some("request-42"),
//!     ..Metadata::default()
//! })?;
//! println!("at partition {} offset {}", appended[0].partition, appended[0].offset);
//! # Ok(()) }
//! ```
//!
//! With an expected version (optimistic concurrency), append through a [`Writer`]: the single
//! writer of the partitions its consumer group gives it (see its module for the guarantee and
//! what breaks it).
//!
//! # The envelope
//!
//! Every appended record carries CloudEvents' Kafka binding headers (binary mode), so tools that
//! speak CloudEvents read them as such: `ce_specversion` (`1.0`), `ce_id` (a new UUID per
//! event), `ce_time` (RFC 3339, also the record's timestamp), `ce_type` (the event record's full
//! Avro name), `ce_source` ([`AppendConfig::source`]), the extension attributes `ce_commandid`
//! (the call's command: [`Metadata::command_id`], or a new UUID per call), `ce_commandseq` (the
//! event's place in it, from 0) and `ce_commandsize` (its number of events), so a reader tells
//! which command an event belongs to and whether a command at a partition's end is incomplete
//! ([`crate::kafka::record::Envelope::completes_command`]), and, when given,
//! `ce_correlationid` and `ce_causationid`. Replay and read models hand them to user code as
//! [`crate::kafka::record::Position::headers`] ([`crate::kafka::record::Headers::envelope`]); migration copies every header.
//!
//! # Partitions and order
//!
//! Keys are partitioned with murmur2 (librdkafka's `murmur2_random`), as Java clients do, so a
//! Kafka Streams or Java producer of the same topic puts an aggregate in the same partition. The
//! events of one call go to one partition in order, through an idempotent producer: retries
//! never duplicate or reorder them. A call that fails part way has delivered a prefix of its
//! events, never a gap: [`AppendError::Delivery`] says how many. The producer is gapless
//! (`enable.gapless.guarantee`): when the broker refuses one batch for good (too large for the
//! topic, say) while later ones are in flight, librdkafka stops the producer instead of moving
//! on past the refused batch, and the appender starts a new producer for the next call. (Without
//! it, the later events landed behind the refused one while the error named only the prefix:
//! `test_append`'s `a_call_the_broker_rejects_part_way_leaves_a_prefix_never_a_gap`.) Events
//! that time out in librdkafka's queue (`delivery_timeout`) time out in order, so a prefix holds
//! there too.

mod writer;

pub use writer::{ExpectedVersion, WriteError, Writer};

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _, ProducerContext};

use crate::codec::key::KeyError;
use crate::codec::source::SchemaSource;
use crate::codec::{CodecError, Encoder};
use crate::event::Event;
use crate::event::Keyed;
use crate::kafka::ClientError;
use crate::kafka::record::{
    CAUSATION_ID, COMMAND_ID, COMMAND_SEQ, COMMAND_SIZE, CORRELATION_ID, EVENT_ID, EVENT_SOURCE,
    EVENT_TIME, EVENT_TYPE, SPEC_VERSION,
};

use crate::subject::SubjectStrategy;

/// How an appender produces.
#[derive(Debug, Clone)]
pub struct AppendConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The topic (default: the event type's). Subjects stay the event type's
    /// (`<E::TOPIC>-value`, `-key`, `<E::TOPIC>-<record>`), as `schemas/` and `cargo xtask
    /// register` name them: another topic moves the records, not the schemas.
    pub topic: Option<String>,
    /// The `ce_source` header: who appends (default `strata`); CloudEvents wants a URI
    /// reference, such as `/bank/accounts-service`.
    pub source: String,
    /// How long a call waits for every event to be acknowledged (librdkafka's
    /// `message.timeout.ms`); past it, the undelivered events are an error.
    pub delivery_timeout: Duration,
    /// Extra librdkafka settings, such as security ones.
    pub kafka: Vec<(String, String)>,
    /// The subject name strategy. With `Record` or `TopicRecord`, each event record's latest
    /// schema gets its id under its own subject (looked up, or registered where the source
    /// allows), and records carry it instead of the union's; every reader of strata's (replay,
    /// read models, migration) decodes them into the event type all the same.
    pub subject_strategy: SubjectStrategy,
}

impl AppendConfig {
    /// Appending to `brokers`, waiting up to 30 s per call.
    pub fn new(brokers: impl Into<String>) -> Self {
        AppendConfig {
            brokers: brokers.into(),
            topic: None,
            source: "strata".into(),
            delivery_timeout: Duration::from_secs(30),
            kafka: Vec::new(),
            subject_strategy: SubjectStrategy::Topic,
        }
    }
}

/// Optional envelope fields of one call's events.
#[derive(Debug, Clone, Copy, Default)]
pub struct Metadata<'a> {
    /// `ce_correlationid`.
    pub correlation_id: Option<&'a str>,
    /// `ce_causationid`.
    pub causation_id: Option<&'a str>,
    /// `ce_commandid`: the command's id, the same on every retry of it (a [`Writer`] then
    /// appends only what the earlier attempts did not land); `None`: a new UUID per call.
    pub command_id: Option<&'a str>,
}

/// One call's place in its command: its id, the place of the call's first event, and the
/// command's size.
#[derive(Debug, Clone, Copy)]
struct Command<'a> {
    id: &'a str,
    first: u32,
    size: u32,
}

/// Where an event landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// Its `ce_id`.
    pub event_id: String,
}

/// An append that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The encoder could not be built (the latest schema has no id in the source).
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The producer could not be created or took no more records.
    #[error(transparent)]
    Kafka(#[from] ClientError),
    /// Some events were not acknowledged: the first `delivered` were (in order, listed), the
    /// rest were not.
    #[error(
        "topic `{topic}`: {} of {events} event(s) delivered, then delivery failed{}",
        delivered.len(),
        if delivered.is_empty() { String::new() } else { format!(" (the first {} are in the topic)", delivered.len()) }
    )]
    Delivery {
        /// The topic.
        topic: String,
        /// The events of the call.
        events: usize,
        /// The events delivered: a prefix of the call's, in order.
        delivered: Vec<Appended>,
        /// The first failure; `None` when the delivery timeout passed without a report.
        #[source]
        source: Option<Box<KafkaError>>,
    },
    /// The key type's schema or its id could not be had.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// An event type implementing `Keyed` by hand, without the derive's key schema.
    #[error("topic `{topic}`: the event type has no key schema (declare `#[strata(key = Type)]`)")]
    NoKeySchema {
        /// The topic.
        topic: String,
    },
    /// An aggregate id must be given: without a key, the events could land anywhere.
    #[error("topic `{topic}`: an empty aggregate id (events are keyed by it)")]
    EmptyAggregateId {
        /// The topic.
        topic: String,
    },
}

/// One record's delivery report: its partition and offset, or why not; `None` until reported.
type Report = Option<Result<(i32, i64), KafkaError>>;

/// One call's delivery reports, filled by the producer's callback on whichever thread polls.
struct Call {
    reports: Mutex<Vec<Report>>,
}

/// Routes delivery reports to their call.
struct Deliveries;

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<(Arc<Call>, usize)>;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        use rdkafka::Message;
        let (call, index) = *opaque;
        let report = match result {
            Ok(message) => Ok((message.partition(), message.offset())),
            Err((e, _)) => Err(e.clone()),
        };
        // A report after its call gave up waiting finds its slot still there, and is ignored.
        if let Some(slot) = call.reports.lock().unwrap_or_else(|e| e.into_inner()).get_mut(index) {
            *slot = Some(report);
        }
    }
}

/// The appender's producer: idempotent and gapless (a batch that fails for good while later
/// batches of its partition are in flight stops the producer, instead of librdkafka moving on
/// to the later ones and leaving a gap behind them), keys placed by murmur2.
fn producer(config: &AppendConfig, topic: &str) -> Result<BaseProducer<Deliveries>, AppendError> {
    let timeout = config.delivery_timeout.as_millis().max(1).to_string();
    let settings = [
        ("enable.idempotence", "true"),
        ("enable.gapless.guarantee", "true"),
        ("partitioner", "murmur2_random"),
        ("message.timeout.ms", timeout.as_str()),
    ];
    let producer = crate::kafka::client(&config.brokers, &settings, &config.kafka)
        .create_with_context(Deliveries)
        .map_err(|e| ClientError::new("creating the producer", e).at(topic, None))?;
    Ok(producer)
}

/// Appends events of type `E` to their topic. Shareable across threads.
pub struct Appender<E: Event> {
    config: AppendConfig,
    topic: String,
    /// Frames each event with its branch's schema id under the subject strategy.
    encoder: Encoder<E>,
    /// The full name of each branch of the latest union, by branch index: `ce_type`.
    types: Vec<String>,
    /// The key schema's id under `<topic>-key`, for an event type with an Avro key.
    key_id: Option<u32>,
    producer: RwLock<Arc<BaseProducer<Deliveries>>>,
}

impl<E: Event> std::fmt::Debug for Appender<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender")
            .field("topic", &self.topic)
            .field("schema_ids", &self.encoder.schema_ids())
            .finish()
    }
}

impl<E: Event> Appender<E> {
    /// An appender whose schema id is looked up in `source` (or registered, where the source
    /// allows) once.
    pub fn new(config: AppendConfig, source: &dyn SchemaSource) -> Result<Self, AppendError> {
        let topic = config.topic.clone().unwrap_or_else(|| E::TOPIC.to_owned());
        let latest = E::schema(E::VERSION).map_err(|source| CodecError::Schema {
            event: std::any::type_name::<E>(),
            version: E::VERSION,
            source,
        })?;
        let branches = match &latest {
            crate::schema::Schema::Union(branches) => branches.as_slice(),
            other => std::slice::from_ref(other),
        };
        let types: Vec<String> = branches
            .iter()
            .map(|b| b.name().map(crate::schema::Name::full_name).unwrap_or_default())
            .collect();
        // Subjects follow the event type's topic, as `schemas/` and `register` name them.
        let encoder = Encoder::with_strategy(source, config.subject_strategy)?;
        let key_id = E::KEY.map(|key| key.id_in(E::TOPIC, source)).transpose()?;
        let producer = RwLock::new(Arc::new(producer(&config, &topic)?));
        Ok(Appender { config, topic, encoder, types, key_id, producer })
    }

    /// The producer, replaced first when the last one stopped with a fatal error (the gapless
    /// guarantee stops it when a batch fails with later ones of its partition in flight).
    fn producer(&self) -> Result<Arc<BaseProducer<Deliveries>>, AppendError> {
        let current = Arc::clone(&self.producer.read().unwrap_or_else(|e| e.into_inner()));
        let Some((code, reason)) = current.client().fatal_error() else {
            return Ok(current);
        };
        let mut slot = self.producer.write().unwrap_or_else(|e| e.into_inner());
        if Arc::ptr_eq(&slot, &current) {
            tracing::warn!(topic = %self.topic, ?code, %reason, "the producer stopped; a new one takes over");
            *slot = Arc::new(producer(&self.config, &self.topic)?);
        }
        Ok(Arc::clone(&slot))
    }

    /// The topic appended to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Waits up to `timeout` until the producer has no record in flight: each one sent is
    /// acknowledged or failed for good.
    fn settle(&self, timeout: Duration) -> Result<(), AppendError> {
        let producer = self.producer()?;
        producer
            .flush(timeout)
            .map_err(|e| ClientError::new("settling the producer", e).at(&self.topic, None))?;
        Ok(())
    }

    /// Appends `events` of the aggregate `aggregate_id`, in order, in one batch; returns once
    /// each is acknowledged.
    pub fn append(&self, aggregate_id: &[u8], events: &[E]) -> Result<Vec<Appended>, AppendError> {
        self.append_with(aggregate_id, events, &Metadata::default())
    }

    /// [`Appender::append`] with correlation and causation ids.
    ///
    /// For an event type with an Avro key (`#[strata(key = Type)]`), see
    /// [`Appender::append_key`].
    pub fn append_with(
        &self,
        aggregate_id: &[u8],
        events: &[E],
        metadata: &Metadata<'_>,
    ) -> Result<Vec<Appended>, AppendError> {
        let generated;
        let id = match metadata.command_id {
            Some(id) => id,
            None => {
                generated = uuid::Uuid::new_v4().to_string();
                &generated
            }
        };
        let size = u32::try_from(events.len()).unwrap_or(u32::MAX);
        self.append_command(aggregate_id, events, metadata, Command { id, first: 0, size })
    }

    /// Appends `events` as the events of `command` from its place `command.first` on.
    fn append_command(
        &self,
        aggregate_id: &[u8],
        events: &[E],
        metadata: &Metadata<'_>,
        command: Command<'_>,
    ) -> Result<Vec<Appended>, AppendError> {
        if aggregate_id.is_empty() {
            return Err(AppendError::EmptyAggregateId { topic: self.topic.clone() });
        }
        let producer = self.producer()?;
        let call = Arc::new(Call { reports: Mutex::new(vec![None; events.len()]) });
        let now = SystemTime::now();
        let millis = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let time = time::OffsetDateTime::from(now)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut ids = Vec::with_capacity(events.len());
        let mut payload = Vec::new();
        let mut sent = 0;
        let mut refused = None;
        for (index, event) in events.iter().enumerate() {
            self.encoder.encode(event, &mut payload);
            let branch = event.branch();
            let id = uuid::Uuid::new_v4().to_string();
            let seq = command.first + index as u32;
            let headers = self.envelope(branch, &id, &time, metadata, &command, seq);
            let record =
                BaseRecord::with_opaque_to(&self.topic, Box::new((Arc::clone(&call), index)))
                    .key(aggregate_id)
                    .payload(&payload)
                    .timestamp(millis)
                    .headers(headers);
            if let Err((e, _)) = producer.send(record) {
                refused = Some(e);
                break;
            }
            ids.push(id);
            sent += 1;
            producer.poll(Duration::ZERO);
            crate::kafka::crash_point_after("append.sent", || {
                let _ = producer.flush(self.config.delivery_timeout);
            });
        }
        // Wait for this call's reports (any thread's poll may serve them).
        let deadline = Instant::now() + self.config.delivery_timeout + Duration::from_secs(5);
        while Instant::now() < deadline {
            let reports = call.reports.lock().unwrap_or_else(|e| e.into_inner());
            let reported = &reports[..sent];
            // A stopped producer reports nothing after the batch that stopped it (and, gapless,
            // delivers nothing after it either): the reports up to that failure are the answer.
            let until_failure = || match reported.iter().position(|r| matches!(r, Some(Err(_)))) {
                Some(failed) => reported[..failed].iter().all(Option::is_some),
                None => false,
            };
            let stopped = || producer.client().fatal_error().is_some();
            if reported.iter().all(Option::is_some) || (until_failure() && stopped()) {
                break;
            }
            drop(reports);
            producer.poll(Duration::from_millis(5));
        }
        let reports = call.reports.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut delivered = Vec::with_capacity(sent);
        let mut failure = refused;
        // Idempotence delivers a prefix: the first failure (or missing report) ends it.
        for (report, id) in reports.into_iter().zip(ids) {
            match report {
                Some(Ok((partition, offset))) => {
                    delivered.push(Appended { partition, offset, event_id: id });
                }
                Some(Err(e)) => {
                    failure.get_or_insert(e);
                    break;
                }
                None => break,
            }
        }
        if delivered.len() == events.len() {
            crate::kafka::crash_point("append.acknowledged");
            return Ok(delivered);
        }
        Err(AppendError::Delivery {
            topic: self.topic.clone(),
            events: events.len(),
            delivered,
            source: failure.map(Box::new),
        })
    }

    /// The headers of one event.
    fn envelope(
        &self,
        branch: usize,
        id: &str,
        time: &str,
        metadata: &Metadata<'_>,
        command: &Command<'_>,
        seq: u32,
    ) -> OwnedHeaders {
        let event_type = self.types.get(branch).map_or("", String::as_str);
        let (seq, size) = (seq.to_string(), command.size.to_string());
        let mut headers = OwnedHeaders::new_with_capacity(10)
            .insert(Header { key: SPEC_VERSION, value: Some("1.0") })
            .insert(Header { key: EVENT_ID, value: Some(id) })
            .insert(Header { key: EVENT_TIME, value: Some(time) })
            .insert(Header { key: EVENT_TYPE, value: Some(event_type) })
            .insert(Header { key: EVENT_SOURCE, value: Some(self.config.source.as_str()) })
            .insert(Header { key: COMMAND_ID, value: Some(command.id) })
            .insert(Header { key: COMMAND_SEQ, value: Some(&seq) })
            .insert(Header { key: COMMAND_SIZE, value: Some(&size) });
        if let Some(correlation) = metadata.correlation_id {
            headers = headers.insert(Header { key: CORRELATION_ID, value: Some(correlation) });
        }
        if let Some(causation) = metadata.causation_id {
            headers = headers.insert(Header { key: CAUSATION_ID, value: Some(causation) });
        }
        headers
    }
}

impl<E: Keyed> Appender<E> {
    /// The framed Avro key of `key` under `<topic>-key`: what [`Appender::append_key`] keys
    /// records with, and what [`crate::kafka::replay::Replay::load`] finds an aggregate by.
    pub fn key_bytes(&self, key: &E::Key) -> Result<Vec<u8>, AppendError> {
        let id =
            self.key_id.ok_or_else(|| AppendError::NoKeySchema { topic: self.topic.clone() })?;
        Ok(crate::codec::key::frame_key(id, key))
    }

    /// Appends `events` of the aggregate `key`, keyed by the key in Avro (Confluent framing,
    /// the key schema's id), as [`Appender::append_with`] does with raw bytes.
    pub fn append_key(
        &self,
        key: &E::Key,
        events: &[E],
        metadata: &Metadata<'_>,
    ) -> Result<Vec<Appended>, AppendError> {
        self.append_with(&self.key_bytes(key)?, events, metadata)
    }
}
