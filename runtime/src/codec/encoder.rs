//! [`Encoder`]: the latest event type framed with its schema id under a subject name
//! strategy, and the one framing path ([`frame`]) events, their records and keys share.

use std::marker::PhantomData;

use crate::codec::{CodecError, SchemaSource, declared_schema};
use crate::event::Event;
use crate::subject::SubjectStrategy;
use crate::wire;

/// Encodes the latest event type, framed with the schema id its subject name strategy gives:
/// the union's under `<topic>-value` (the default, Confluent's TopicNameStrategy), or each
/// event record's own under the record strategies, the datum then being the record's alone.
///
/// ```
/// # use std::sync::Arc;
/// # use strata::{Encoder, Event, LocalSource};
/// # use strata::subject::SubjectStrategy;
/// # #[derive(strata::Event, Debug, PartialEq)]
/// # #[strata(topic = "lights", namespace = "com.example", version = 1)]
/// # pub enum LightEvent { Switched(Switched), Dimmed(Dimmed) }
/// # #[derive(strata::Record, Debug, PartialEq)]
/// # pub struct Switched { pub on: bool }
/// # #[derive(strata::Record, Debug, PartialEq)]
/// # pub struct Dimmed { pub level: i32 }
/// let source = LocalSource::new();
/// let encoder = Encoder::<LightEvent>::with_strategy(&source, SubjectStrategy::Record)?;
/// let mut out = Vec::new();
/// encoder.encode(&LightEvent::Dimmed(Dimmed { level: 3 }), &mut out);
/// // Framed with `com.example.Dimmed`'s own id, and the record's datum without a branch index.
/// assert_eq!(out[1..5], encoder.schema_ids()[1].to_be_bytes());
/// assert_eq!(out[5..], [6]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Encoder<E: Event> {
    /// The schema id of each branch of the latest union, by branch index: the union's id for
    /// every branch (topic strategy), or each record's own.
    ids: Vec<u32>,
    strategy: SubjectStrategy,
    _event: PhantomData<fn(E)>,
}

impl<E: Event> Encoder<E> {
    /// An encoder under the topic strategy, whose schema id is looked up (or registered,
    /// where the source allows) once under `<topic>-value`.
    pub fn new(source: &dyn SchemaSource) -> Result<Self, CodecError> {
        Self::with_strategy(source, SubjectStrategy::Topic)
    }

    /// An encoder under `strategy`: under the record strategies, each event record's schema
    /// alone is looked up (or registered) under its subject (`<full name>`, or
    /// `<topic>-<full name>`), named after the event type's topic as `schemas/` and
    /// `cargo xtask register` name them.
    pub fn with_strategy(
        source: &dyn SchemaSource,
        strategy: SubjectStrategy,
    ) -> Result<Self, CodecError> {
        let (text, _) = declared_schema::<E>(E::VERSION)?;
        let union: serde_json::Value =
            serde_json::from_str(&text).expect("a generated schema is JSON");
        let ids = match strategy {
            SubjectStrategy::Topic => {
                let id = source.id_of(&E::subject(), &text)?;
                let branches = union.as_array().map_or(1, Vec::len);
                vec![id; branches]
            }
            strategy => {
                let records = crate::subject::record_schemas(&union)
                    .map_err(|source| CodecError::NotStandalone { topic: E::TOPIC, source })?;
                records
                    .iter()
                    .map(|(name, text)| source.id_of(&strategy.subject(E::TOPIC, Some(name)), text))
                    .collect::<Result<_, _>>()?
            }
        };
        Ok(Encoder { ids, strategy, _event: PhantomData })
    }

    /// The schema id records are framed with under the topic strategy (the union's); under the
    /// record strategies, the first event record's (each has its own: [`Encoder::schema_ids`]).
    pub fn schema_id(&self) -> u32 {
        self.ids[0]
    }

    /// The schema id of each branch of the latest union, by branch index.
    pub fn schema_ids(&self) -> &[u32] {
        &self.ids
    }

    /// Replaces the contents of `out` with the framed record of `event`; reuse `out` across
    /// records to avoid allocating.
    #[inline]
    pub fn encode(&self, event: &E, out: &mut Vec<u8>) {
        match self.strategy {
            SubjectStrategy::Topic => frame(out, self.ids[0], |out| event.encode(out)),
            SubjectStrategy::Record | SubjectStrategy::TopicRecord => {
                let id = self.ids.get(event.branch()).copied().unwrap_or(self.ids[0]);
                frame(out, id, |out| event.encode_record(out));
            }
        }
    }

    /// Appends the unframed datum of `event` to `out` (the union's, whatever the strategy).
    pub fn encode_datum(&self, event: &E, out: &mut Vec<u8>) {
        event.encode(out);
    }
}

/// Replaces the contents of `out` with a record framed with schema `id`: Confluent's header,
/// then what `datum` appends. The one framing path of events, event records and keys.
#[inline]
pub(crate) fn frame(out: &mut Vec<u8>, id: u32, datum: impl FnOnce(&mut Vec<u8>)) {
    out.clear();
    wire::write_header(out, id);
    datum(out);
}
