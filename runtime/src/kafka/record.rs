//! What every consumer of an event topic shares (replay, read models, the stream, migration,
//! redrive): where a record is ([`Position`]), its headers and the envelope strata's appender
//! writes ([`Headers`], [`Envelope`]), why it could not be taken ([`RecordError`],
//! [`FailedRecord`]), and its provenance: the headers that name the source record of a dead
//! letter or a migrated record ([`Provenance`]), written and read here only.

use std::time::Duration;

use rdkafka::Message;
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord};

use crate::error::DecodeError;
use crate::kafka::ClientError;

/// Where a record came from.
#[derive(Debug, Clone, Copy)]
pub struct Position<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// The record's key.
    pub key: Option<&'a [u8]>,
    /// The record's timestamp (milliseconds since the epoch), when it has one.
    pub timestamp: Option<i64>,
    /// The record's headers; [`Headers::envelope`] reads the envelope strata's appender
    /// writes (event id, time, type, correlation and causation ids).
    pub headers: Headers<'a>,
}

/// Why a projection refused an event: any error (`"text".into()` works too), kept as the cause.
pub type ApplyError = Box<dyn std::error::Error + Send + Sync>;

/// Why a record could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// It does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// It has no value (a tombstone), which an event topic should not hold.
    #[error("the record has no value (a tombstone)")]
    Tombstone,
    /// The projection refused it.
    #[error("the projection refused it")]
    Refused(#[source] ApplyError),
    /// Not tried: an earlier record of its key is a dead letter not yet applied, and a key's
    /// events are applied in order.
    #[error("parked behind an earlier dead letter of its key")]
    Parked,
}

impl RecordError {
    /// Whether the record failed for a reason outside it: its writer schema could not be had
    /// because the schema source failed to answer. Such a record is never dead-lettered: the
    /// job stops at it, and reads it again once the source is back.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, RecordError::Decode(e) if e.is_source_unavailable())
    }
}

/// A record that could not be taken (decoded, applied, migrated), with where it is; its
/// cause is its source. Replay, read models, the async stream and migration stop with it.
#[derive(Debug, thiserror::Error)]
#[error(
    "topic `{topic}` partition {partition} offset {offset}{}",
    schema_id.map(|id| format!(" (schema id {id})")).unwrap_or_default()
)]
pub struct FailedRecord {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The writer schema id, when the framing was readable.
    pub schema_id: Option<u32>,
    /// Why.
    #[source]
    pub source: RecordError,
}

/// CloudEvents' spec version header.
pub const SPEC_VERSION: &str = "ce_specversion";
/// The event's id: a UUID, new for every appended event.
pub const EVENT_ID: &str = "ce_id";
/// When the event was appended, RFC 3339.
pub const EVENT_TIME: &str = "ce_time";
/// The event record's full Avro name, such as `com.example.bank.AccountOpened`.
pub const EVENT_TYPE: &str = "ce_type";
/// Who appended it ([`crate::kafka::append::AppendConfig::source`]).
pub const EVENT_SOURCE: &str = "ce_source";
/// The id of the request or process the event belongs to (a CloudEvents extension attribute).
pub const CORRELATION_ID: &str = "ce_correlationid";
/// The id of the message (command or event) that caused it (an extension attribute).
pub const CAUSATION_ID: &str = "ce_causationid";
/// The command (one append call) the event belongs to: the caller's id, or a new UUID per call
/// (an extension attribute). A retried command keeps its id, which is how a [`Writer`]
/// recognises it.
///
/// [`Writer`]: crate::kafka::append::Writer
pub const COMMAND_ID: &str = "ce_commandid";
/// The event's place in its command, from 0 (an extension attribute).
pub const COMMAND_SEQ: &str = "ce_commandseq";
/// How many events its command has (an extension attribute): a command whose last event at a
/// partition's end has `ce_commandseq` below `ce_commandsize - 1` is incomplete there.
pub const COMMAND_SIZE: &str = "ce_commandsize";

/// A record's headers, as replay and read models hand them to user code.
#[derive(Clone, Copy, Default)]
pub struct Headers<'a>(Option<&'a rdkafka::message::BorrowedHeaders>);

impl std::fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_map();
        if let Some(headers) = self.0 {
            for header in headers.iter() {
                list.entry(&header.key, &header.value.map(String::from_utf8_lossy));
            }
        }
        list.finish()
    }
}

impl<'a> Headers<'a> {
    /// No headers.
    pub fn none() -> Self {
        Headers(None)
    }

    pub(crate) fn of(headers: Option<&'a rdkafka::message::BorrowedHeaders>) -> Self {
        Headers(headers)
    }

    /// The value of the last header named `name` (Kafka allows repeats), if any.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        let headers = self.0?;
        headers.iter().filter(|h| h.key == name).last().and_then(|h| h.value)
    }

    /// [`Headers::get`] as text, when it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every header, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a [u8]>)> + 'a {
        self.0.into_iter().flat_map(|h| h.iter().map(|h| (h.key, h.value)))
    }

    /// The envelope strata's appender writes (CloudEvents' headers), as far as present.
    pub fn envelope(&self) -> Envelope<'a> {
        Envelope {
            event_id: self.get_str(EVENT_ID),
            time: self.get_str(EVENT_TIME),
            event_type: self.get_str(EVENT_TYPE),
            source: self.get_str(EVENT_SOURCE),
            correlation_id: self.get_str(CORRELATION_ID),
            causation_id: self.get_str(CAUSATION_ID),
            command_id: self.get_str(COMMAND_ID),
            command_seq: self.get_str(COMMAND_SEQ).and_then(|v| v.parse().ok()),
            command_size: self.get_str(COMMAND_SIZE).and_then(|v| v.parse().ok()),
        }
    }
}

/// The envelope of an appended event (each field absent from records other writers produced).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// `ce_id`.
    pub event_id: Option<&'a str>,
    /// `ce_time`, RFC 3339.
    pub time: Option<&'a str>,
    /// `ce_type`.
    pub event_type: Option<&'a str>,
    /// `ce_source`.
    pub source: Option<&'a str>,
    /// `ce_correlationid`.
    pub correlation_id: Option<&'a str>,
    /// `ce_causationid`.
    pub causation_id: Option<&'a str>,
    /// `ce_commandid`: the command (append call) the event belongs to.
    pub command_id: Option<&'a str>,
    /// `ce_commandseq`: its place in the command, from 0.
    pub command_seq: Option<u32>,
    /// `ce_commandsize`: the command's number of events.
    pub command_size: Option<u32>,
}

impl Envelope<'_> {
    /// Whether this event is its command's last (`false` when the headers do not say): a
    /// command whose last event in a partition is not is incomplete there.
    pub fn completes_command(&self) -> bool {
        matches!((self.command_seq, self.command_size), (Some(seq), Some(size)) if seq + 1 == size)
    }
}

/// Dead letters (from replay and migration alike) and migrated records name their source record
/// with these headers: its topic, partition, offset and writer schema id.
pub const SOURCE_TOPIC: &str = "strata.source.topic";
/// The source partition.
pub const SOURCE_PARTITION: &str = "strata.source.partition";
/// The source offset.
pub const SOURCE_OFFSET: &str = "strata.source.offset";
/// The source record's writer schema id (empty when its framing is unreadable).
pub const SOURCE_SCHEMA_ID: &str = "strata.source.schema_id";
/// Why a dead letter could not be used.
pub const ERROR: &str = "strata.error";
/// Header naming the dead letter a record was redriven from: `<topic>/<partition>/<offset>`.
pub const REDRIVE_FROM: &str = "strata.redrive.from";
/// Header counting how often a record was redriven, or (a letter that failed again) sent back
/// (the loop guard reads it).
pub const REDRIVE_COUNT: &str = "strata.redrive.count";

/// Where a record came from, as its provenance headers ([`SOURCE_TOPIC`], [`SOURCE_PARTITION`],
/// [`SOURCE_OFFSET`]) say: dead letters and migrated records carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The source topic.
    pub topic: String,
    /// The source partition.
    pub partition: i32,
    /// The source offset.
    pub offset: i64,
}

impl Provenance {
    /// The provenance `headers` name (the last header of each name), if they name one whole.
    pub fn read(headers: Headers<'_>) -> Option<Self> {
        Self::read_with(|name| headers.get_str(name))
    }

    /// The same, from any lookup of a header's text by name.
    pub fn read_with<'h>(get: impl Fn(&str) -> Option<&'h str>) -> Option<Self> {
        Some(Provenance {
            topic: get(SOURCE_TOPIC)?.to_owned(),
            partition: get(SOURCE_PARTITION)?.parse().ok()?,
            offset: get(SOURCE_OFFSET)?.parse().ok()?,
        })
    }
}

/// `headers` with the provenance headers of the record at `offset` of `topic`'s `partition`
/// (formatted by the caller, which may reuse its buffers).
pub(crate) fn add_provenance(
    headers: OwnedHeaders,
    topic: &[u8],
    partition: &[u8],
    offset: &[u8],
) -> OwnedHeaders {
    headers
        .insert(Header { key: SOURCE_TOPIC, value: Some(topic) })
        .insert(Header { key: SOURCE_PARTITION, value: Some(partition) })
        .insert(Header { key: SOURCE_OFFSET, value: Some(offset) })
}

/// Sends `message` to the dead-letter topic with its key, payload, timestamp and headers, and
/// its coordinates and `error` as further headers (delivery is confirmed by the caller's flush).
pub(crate) fn dead_letter(
    producer: &BaseProducer,
    topic: &str,
    message: &impl Message,
    schema_id: Option<u32>,
    error: &RecordError,
) -> Result<(), ClientError> {
    let (partition, offset) = (message.partition().to_string(), message.offset().to_string());
    let schema_id = schema_id.map(|id| id.to_string()).unwrap_or_default();
    let error = crate::error::Chain(error).to_string();
    // The record's own headers first (its envelope, say), as migration's dead letters keep them.
    let mut headers = OwnedHeaders::new();
    if let Some(own) = message.headers() {
        use rdkafka::message::Headers as _;
        for header in own.iter() {
            headers = headers.insert(header);
        }
    }
    let headers = add_provenance(
        headers,
        message.topic().as_bytes(),
        partition.as_bytes(),
        offset.as_bytes(),
    )
    .insert(Header { key: SOURCE_SCHEMA_ID, value: Some(&schema_id) })
    .insert(Header { key: ERROR, value: Some(&error) });
    send_copy(producer, topic, message, headers, "dead-lettering")
}

/// Sends `message`'s key, payload and timestamp (the record's own time, not the sending's: a
/// redrive writes it back as it was) with `headers` to `topic`.
fn send_copy(
    producer: &BaseProducer,
    topic: &str,
    message: &impl Message,
    headers: OwnedHeaders,
    action: &'static str,
) -> Result<(), ClientError> {
    let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).headers(headers);
    if let Some(millis) = message.timestamp().to_millis() {
        record = record.timestamp(millis);
    }
    if let Some(key) = message.key() {
        record = record.key(key);
    }
    if let Some(payload) = message.payload() {
        record = record.payload(payload);
    }
    producer.send(record).map_err(|(e, _)| ClientError::new(action, e).at(topic, None))?;
    producer.poll(Duration::ZERO);
    Ok(())
}

/// Sends a dead letter that failed again back to the dead-letter topic `topic`: its key,
/// payload, timestamp and headers as they are (its provenance still naming the original),
/// `strata.error` replaced by `error` and `strata.redrive.count` raised by one (delivery is
/// confirmed by the caller's flush).
#[cfg(feature = "postgres")]
pub(crate) fn dead_letter_again(
    producer: &BaseProducer,
    topic: &str,
    letter: &impl Message,
    error: &RecordError,
) -> Result<(), ClientError> {
    let error = crate::error::Chain(error).to_string();
    let mut count = 0u32;
    let mut headers = OwnedHeaders::new();
    if let Some(own) = letter.headers() {
        for header in own.iter() {
            match header.key {
                ERROR => {}
                REDRIVE_COUNT => {
                    let text = header.value.and_then(|v| std::str::from_utf8(v).ok());
                    count = text.and_then(|v| v.parse().ok()).unwrap_or(count);
                }
                _ => headers = headers.insert(header),
            }
        }
    }
    let count = (count + 1).to_string();
    let headers = headers
        .insert(Header { key: ERROR, value: Some(&error) })
        .insert(Header { key: REDRIVE_COUNT, value: Some(&count) });
    send_copy(producer, topic, letter, headers, "dead-lettering again")
}

/// The schema id of a Confluent-framed record, if its header is readable.
pub(crate) fn frame_id(bytes: &[u8]) -> Option<u32> {
    crate::wire::split_frame(bytes).ok().map(|(id, _)| id)
}
