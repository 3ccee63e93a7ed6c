//! The async face (feature `async`, tokio): a [`futures_util::Stream`] of decoded events over
//! rdkafka's `StreamConsumer`, in a consumer group.
//!
//! Decoding a record is CPU work of microseconds and stays on the polling task; the one slow
//! step, fetching the writer schema of an id seen for the first time (a registry request),
//! runs on tokio's blocking pool, so no runtime thread waits on the network.
//!
//! Offsets are committed (by librdkafka's auto-commit) only for records handed back to
//! [`EventStream::done`]: at least once, a crash replays the records being processed.
//!
//! ```no_run
//! use std::sync::Arc;
//! use futures_util::StreamExt;
//! use strata::kafka::stream::{EventStream, StreamConfig};
//! # #[derive(strata::Record, Debug, Clone, PartialEq)] struct Opened { id: String }
//! # #[derive(strata::Event, Debug, Clone, PartialEq)]
//! # #[strata(topic = "bank.accounts", namespace = "bank", version = 1)]
//! # enum AccountEvent { Opened(Opened) }
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Arc::new(strata::LocalSource::from_history("schemas".as_ref())?);
//! let events = EventStream::<AccountEvent>::new(StreamConfig::new("127.0.0.1:9092", "audit"), source)?;
//! let mut stream = std::pin::pin!(events.stream());
//! while let Some(delivered) = stream.next().await {
//!     let delivered = delivered?;
//!     println!("{:?} at offset {}", delivered.event, delivered.offset);
//!     events.done(&delivered)?;
//! }
//! # Ok(()) }
//! ```

use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedHeaders;

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
}

/// Decoded events of a topic of type `E`, as a stream.
pub struct EventStream<E: Event> {
    consumer: StreamConsumer,
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
        let consumer: StreamConsumer =
            crate::kafka::client(&config.brokers, &settings, &config.kafka)
                .create()
                .map_err(|e| ClientError::new("creating the consumer", e).at(&topic, None))?;
        consumer
            .subscribe(&[&topic])
            .map_err(|e| ClientError::new("joining the consumer group", e).at(&topic, None))?;
        Ok(EventStream { consumer, decoder: Arc::new(Decoder::new(source)?), topic })
    }

    /// The events, in each partition's order. A record that cannot be decoded is an error item
    /// with its coordinates (the stream goes on after it, and its offset is not stored unless
    /// handed to [`EventStream::done`]).
    pub fn stream(&self) -> impl Stream<Item = Result<Delivered<E>, StreamError>> + '_ {
        self.consumer.stream().then(move |polled| {
            let decoder = Arc::clone(&self.decoder);
            let topic = self.topic.clone();
            async move {
                let message =
                    polled.map_err(|e| ClientError::new("consuming", e).at(&topic, None))?.detach();
                let (partition, offset) = (message.partition(), message.offset());
                let record = |source: RecordError| {
                    let schema_id = match &source {
                        RecordError::Decode(e) => e.schema_id(),
                        _ => None,
                    };
                    StreamError::Record(FailedRecord {
                        topic: topic.clone(),
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
                    let prepare = Arc::clone(&decoder);
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
        })
    }

    /// Marks `delivered` processed: its offset is stored, and committed by the next
    /// auto-commit, so a restart resumes after it.
    pub fn done(&self, delivered: &Delivered<E>) -> Result<(), StreamError> {
        self.consumer
            // librdkafka stores offset + 1: the next to read.
            .store_offset(&self.topic, delivered.partition, delivered.offset)
            .map_err(|e| {
                let e = ClientError::new("storing the offset", e);
                StreamError::Kafka(
                    e.at(&self.topic, Some(delivered.partition)).at_offset(Some(delivered.offset)),
                )
            })
    }
}
