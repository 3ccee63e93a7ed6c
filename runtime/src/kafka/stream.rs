//! The async face (feature `async`, tokio): a [`futures_util::Stream`] of decoded events over
//! rdkafka's `StreamConsumer`, in a consumer group.
//!
//! Decoding a record is CPU work of microseconds and stays on the polling task; the one slow
//! step, fetching the writer schema of an id seen for the first time (a registry request),
//! runs on tokio's blocking pool, so no runtime thread waits on the network.
//!
//! # What a restart delivers again
//!
//! Items may finish in any order (handed to tasks, say), so a partition's committed offset is
//! its **lowest unfinished item**: every item the stream yielded is open until it is settled,
//! an event by [`EventStream::done`], a record that failed (an error item with its coordinates)
//! only explicitly, by [`EventStream::dead_letter`] (to the configured dead-letter topic) or
//! [`EventStream::skip`]. A failed item left unsettled holds its partition's commits back, so
//! a restart delivers it again, and everything after it. Offsets are stored as items settle
//! and committed by librdkafka's auto-commit, on a rebalance and on [`EventStream::commit`]:
//! at least once, never past an item the caller did not finish.
//!
//! ```no_run
//! use std::sync::Arc;
//! use futures_util::StreamExt;
//! use strata::kafka::stream::{EventStream, StreamConfig, StreamError};
//! # #[derive(strata::Record, Debug, Clone, PartialEq)] struct Opened { id: String }
//! # #[derive(strata::Event, Debug, Clone, PartialEq)]
//! # #[strata(topic = "bank.accounts", namespace = "bank", version = 1)]
//! # enum AccountEvent { Opened(Opened) }
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Arc::new(strata::LocalSource::from_history("schemas".as_ref())?);
//! let mut config = StreamConfig::new("127.0.0.1:9092", "audit");
//! config.dead_letter_topic = Some("bank.accounts.audit.dlt".into());
//! let events = EventStream::<AccountEvent>::new(config, source)?;
//! let mut stream = std::pin::pin!(events.stream());
//! while let Some(item) = stream.next().await {
//!     match item {
//!         Ok(delivered) => {
//!             println!("{:?} at offset {}", delivered.event, delivered.offset);
//!             events.done(&delivered)?;
//!         }
//!         // Settled explicitly: until then the partition's commits stay before it.
//!         Err(StreamError::Record(failed)) => events.dead_letter(&failed)?,
//!         Err(other) => return Err(other.into()),
//!     }
//! }
//! events.commit()?;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use rdkafka::Message;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::codec::source::SchemaSource;
use crate::codec::{CodecError, Decoder};
use crate::error::DecodeError;
use crate::event::Event;
use crate::kafka::ClientError;
use crate::kafka::record::{FailedRecord, Headers, RecordError};

/// How an event stream consumes.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The topic (default: the event type's).
    pub topic: Option<String>,
    /// The consumer group (members split the partitions; committed offsets say where each
    /// partition resumes).
    pub group: String,
    /// Where [`EventStream::dead_letter`] sends a failed record, with its coordinates and error
    /// as headers; `None`: failed records can only be skipped.
    pub dead_letter_topic: Option<String>,
    /// Extra librdkafka settings, such as security ones.
    pub kafka: Vec<(String, String)>,
}

impl StreamConfig {
    /// Consuming from `brokers` in consumer group `group`, from the earliest offset when the
    /// group has none.
    pub fn new(brokers: impl Into<String>, group: impl Into<String>) -> Self {
        StreamConfig {
            brokers: brokers.into(),
            topic: None,
            group: group.into(),
            dead_letter_topic: None,
            kafka: Vec::new(),
        }
    }
}

/// One decoded event and where it came from.
#[derive(Debug)]
pub struct Delivered<E> {
    /// The event, in the latest type.
    pub event: E,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The record's key.
    pub key: Option<Vec<u8>>,
    /// The record's timestamp (milliseconds since the epoch), when it has one.
    pub timestamp: Option<i64>,
    headers: Option<OwnedHeaders>,
}

impl<E> Delivered<E> {
    /// The record's headers ([`Headers::envelope`] reads the appender's envelope).
    pub fn headers(&self) -> Headers<'_> {
        Headers::of(self.headers.as_ref().map(OwnedHeaders::as_borrowed))
    }
}

/// A stream that could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The client or the broker failed.
    #[error(transparent)]
    Kafka(#[from] ClientError),
    /// The decoder could not be built.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A record could not be decoded.
    #[error(transparent)]
    Record(#[from] FailedRecord),
    /// The blocking task fetching a schema did not finish (the runtime is shutting down).
    #[error("fetching the schema of id {id} on the blocking pool did not finish")]
    Prefetch {
        /// The schema id.
        id: u32,
        /// tokio's error.
        #[source]
        source: tokio::task::JoinError,
    },
    /// [`EventStream::dead_letter`] of a record whose writer schema the schema source failed
    /// to give (unreachable, refusing): the record is not at fault, so it is not dead-lettered.
    #[error(
        "`{topic}` partition {partition} offset {offset}: not dead-lettered: the schema source \
         failed to give its writer schema, which is no fault of the record; restart the stream \
         once the source answers"
    )]
    SourceUnavailable {
        /// The topic read.
        topic: String,
        /// The record's partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
    },
    /// [`EventStream::dead_letter`] without a dead-letter topic configured.
    #[error(
        "`{topic}` partition {partition} offset {offset}: no dead-letter topic is configured \
         (`StreamConfig::dead_letter_topic`); skip the record or configure one"
    )]
    NoDeadLetterTopic {
        /// The topic read.
        topic: String,
        /// The record's partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
    },
}

/// An item the stream yielded and the caller has not settled.
enum Open {
    /// An event, until [`EventStream::done`].
    Event,
    /// A record that failed, kept until it is dead-lettered or skipped.
    Failed(OwnedMessage),
}

/// One partition's open items, and the offset after the last item yielded.
#[derive(Default)]
struct Part {
    open: BTreeMap<i64, Open>,
    next: i64,
    stored: i64,
}

impl Part {
    /// The offset to commit: the lowest open item, or the one after the last yielded.
    fn position(&self) -> i64 {
        self.open.keys().next().copied().unwrap_or(self.next)
    }
}

/// The open items of the partitions this member holds, forgotten when a partition is taken
/// from it (its next owner starts at the committed offset).
#[derive(Default)]
struct Tracker {
    parts: Mutex<HashMap<i32, Part>>,
}

impl Tracker {
    fn parts(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Part>> {
        self.parts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl rdkafka::ClientContext for Tracker {}

impl ConsumerContext for Tracker {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(revoked) = rebalance {
            let mut parts = self.parts();
            for element in revoked.elements() {
                parts.remove(&element.partition());
            }
        }
    }
}

/// Decoded events of a topic of type `E`, as a stream.
pub struct EventStream<E: Event> {
    /// Its context tracks the open items.
    consumer: StreamConsumer<Tracker>,
    dead_letters: Option<(BaseProducer, String)>,
    decoder: Arc<Decoder<E>>,
    topic: String,
}

impl<E: Event> std::fmt::Debug for EventStream<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl<E: Event> EventStream<E> {
    /// Joins the group on the topic, reading writer schemas from `source`. Needs a tokio
    /// runtime (rdkafka's stream consumer runs on it).
    pub fn new(config: StreamConfig, source: Arc<dyn SchemaSource>) -> Result<Self, StreamError> {
        let topic = config.topic.clone().unwrap_or_else(|| E::TOPIC.to_owned());
        let settings = [
            ("group.id", config.group.as_str()),
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
        ];
        let consumer: StreamConsumer<Tracker> =
            crate::kafka::client(&config.brokers, &settings, &config.kafka)
                .create_with_context(Tracker::default())
                .map_err(|e| ClientError::new("creating the consumer", e).at(&topic, None))?;
        consumer
            .subscribe(&[&topic])
            .map_err(|e| ClientError::new("joining the consumer group", e).at(&topic, None))?;
        let dead_letters = match config.dead_letter_topic {
            Some(dlt) => {
                let producer = crate::kafka::client(
                    &config.brokers,
                    &[("enable.idempotence", "true")],
                    &config.kafka,
                )
                .create()
                .map_err(|e| {
                    ClientError::new("creating the dead-letter producer", e).at(&dlt, None)
                })?;
                Some((producer, dlt))
            }
            None => None,
        };
        Ok(EventStream { consumer, dead_letters, decoder: Arc::new(Decoder::new(source)?), topic })
    }

    /// The events, in each partition's order. A record that cannot be decoded is an error item
    /// with its coordinates (the stream goes on after it, and its offset is not stored unless
    /// handed to [`EventStream::done`]).
    pub fn stream(&self) -> impl Stream<Item = Result<Delivered<E>, StreamError>> + '_ {
        self.consumer.stream().then(move |polled| {
            let decoder = Arc::clone(&self.decoder);
            let topic = self.topic.clone();
            let tracker = Arc::clone(self.consumer.context());
            async move {
                let message =
                    polled.map_err(|e| ClientError::new("consuming", e).at(&topic, None))?.detach();
                let (partition, offset) = (message.partition(), message.offset());
                let delivered = Self::deliver(&decoder, &topic, &message).await;
                let open = match &delivered {
                    Ok(_) => Open::Event,
                    Err(StreamError::Record(_)) => Open::Failed(message),
                    Err(_) => return delivered,
                };
                let mut parts = tracker.parts();
                let part = parts.entry(partition).or_insert_with(|| Part {
                    next: offset,
                    stored: offset,
                    ..Part::default()
                });
                part.open.insert(offset, open);
                part.next = part.next.max(offset + 1);
                delivered
            }
        })
    }

    /// Decodes one record (fetching its writer schema on the blocking pool the first time).
    async fn deliver(
        decoder: &Arc<Decoder<E>>,
        topic: &str,
        message: &OwnedMessage,
    ) -> Result<Delivered<E>, StreamError> {
        let (partition, offset) = (message.partition(), message.offset());
        let record = |source: RecordError| {
            let schema_id = match &source {
                RecordError::Decode(e) => e.schema_id(),
                _ => None,
            };
            StreamError::Record(FailedRecord {
                topic: topic.to_owned(),
                partition,
                offset,
                schema_id,
                source,
            })
        };
        let payload = message.payload().ok_or_else(|| record(RecordError::Tombstone))?;
        if let Ok((id, _)) = crate::wire::split_frame(payload)
            && !decoder.is_prepared(id)
        {
            let prepare = Arc::clone(decoder);
            tokio::task::spawn_blocking(move || prepare.prepare(id))
                .await
                .map_err(|source| StreamError::Prefetch { id, source })?
                .map_err(|e: DecodeError| record(RecordError::Decode(e)))?;
        }
        let event = decoder.decode(payload).map_err(|e| record(RecordError::Decode(e)))?;
        Ok(Delivered {
            event,
            partition,
            offset,
            key: message.key().map(<[u8]>::to_vec),
            timestamp: message.timestamp().to_millis(),
            headers: message.headers().cloned(),
        })
    }

    /// Marks `delivered` processed. Its partition's offset is stored up to the lowest item
    /// still open, and committed by the next auto-commit: a restart resumes there.
    pub fn done(&self, delivered: &Delivered<E>) -> Result<(), StreamError> {
        self.settle(delivered.partition, delivered.offset)
    }

    /// Sends the record of a failed item to the dead-letter topic (with its coordinates and
    /// error as headers), waits for the broker's acknowledgement, then settles it like
    /// [`EventStream::done`].
    ///
    /// A record whose writer schema could not be had because the schema source failed to
    /// answer is refused ([`StreamError::SourceUnavailable`]): it is not at fault, and stays
    /// open, to be delivered again once the stream restarts with the source back.
    pub fn dead_letter(&self, failed: &FailedRecord) -> Result<(), StreamError> {
        let (partition, offset) = (failed.partition, failed.offset);
        if failed.source.is_unavailable() {
            return Err(StreamError::SourceUnavailable {
                topic: self.topic.clone(),
                partition,
                offset,
            });
        }
        let Some((producer, dlt)) = &self.dead_letters else {
            return Err(StreamError::NoDeadLetterTopic {
                topic: self.topic.clone(),
                partition,
                offset,
            });
        };
        {
            let parts = self.consumer.context().parts();
            let Some(Open::Failed(message)) =
                parts.get(&partition).and_then(|p| p.open.get(&offset))
            else {
                // Settled already, or its partition was taken from this member.
                return Ok(());
            };
            crate::kafka::record::dead_letter(
                producer,
                dlt,
                message,
                failed.schema_id,
                &failed.source,
            )?;
        }
        producer
            .flush(Duration::from_secs(30))
            .map_err(|e| ClientError::new("delivering a dead letter", e).at(dlt, None))?;
        self.settle(partition, offset)
    }

    /// Settles a failed item without sending it anywhere: the caller accepts that its partition's
    /// commits move past it.
    pub fn skip(&self, failed: &FailedRecord) -> Result<(), StreamError> {
        self.settle(failed.partition, failed.offset)
    }

    /// Commits the stored offsets now (before a planned stop, say); auto-commit does it every
    /// few seconds and on a rebalance anyway.
    pub fn commit(&self) -> Result<(), StreamError> {
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing stored since the last commit.
            Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::NoOffset,
            )) => Ok(()),
            other => Ok(other
                .map_err(|e| ClientError::new("committing offsets", e).at(&self.topic, None))?),
        }
    }

    /// Closes the open item at `offset` of `partition` and stores the partition's new lowest
    /// open offset when it moved.
    fn settle(&self, partition: i32, offset: i64) -> Result<(), StreamError> {
        let mut parts = self.consumer.context().parts();
        let Some(part) = parts.get_mut(&partition) else { return Ok(()) };
        if part.open.remove(&offset).is_none() {
            return Ok(());
        }
        let position = part.position();
        if position <= part.stored {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        let stored = list
            .add_partition_offset(&self.topic, partition, Offset::Offset(position))
            .and_then(|()| self.consumer.store_offsets(&list));
        stored.map_err(|e| {
            let e = ClientError::new("storing the offset", e);
            StreamError::Kafka(e.at(&self.topic, Some(partition)).at_offset(Some(position)))
        })?;
        part.stored = position;
        Ok(())
    }
}
