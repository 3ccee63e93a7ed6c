//! [`Transcode`]: a framed record of any version rewritten as the latest version, what a topic
//! migration and a redrive do to every record; type-erased, so tools reach it through
//! [`crate::VersionedType`].

use std::sync::Arc;

use crate::codec::{CodecError, CompareError, Decoder, Encoder, ReadAs, SchemaSource};
use crate::error::DecodeError;
use crate::event::Event;

/// Rewrites a framed record of any version as the latest version: what a topic migration does
/// to every record. Type-erased, so tools reach it through [`crate::VersionedType`].
pub trait Transcode: Send + Sync {
    /// Writes `record`'s event, framed with the latest schema's id, into `out` (cleared first).
    fn transcode(&self, record: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError>;
    /// Whether two framed records (any versions) hold the same latest event, compared as values
    /// (equal values may encode differently: a map's entry order).
    fn same(&self, a: &[u8], b: &[u8]) -> Result<bool, CompareError>;
    /// The id records are framed with.
    fn latest_id(&self) -> u32;
    /// The declared version a writer schema id is read as, and whether it matched exactly.
    fn writer_version(&self, id: u32) -> Result<ReadAs, DecodeError>;
    /// The event type a record was written as: the full name of its writer schema's union
    /// branch, foreign writers included. `None` when the record cannot be read so far.
    fn event_name(&self, record: &[u8]) -> Option<String>;
}

/// [`Transcode`] for event type `E`: its decoder and its encoder.
#[derive(Debug)]
pub struct Transcoder<E: Event> {
    decoder: Decoder<E>,
    encoder: Encoder<E>,
}

impl<E: Event> Transcoder<E> {
    /// Schemas from `source`; the latest one's id is looked up (or registered, as the source
    /// does) once.
    pub fn new(source: Arc<dyn SchemaSource>) -> Result<Self, CodecError> {
        let encoder = Encoder::new(source.as_ref())?;
        Ok(Transcoder { decoder: Decoder::new(source)?, encoder })
    }

    /// The same, boxed behind [`Transcode`].
    pub fn boxed(source: Arc<dyn SchemaSource>) -> Result<Box<dyn Transcode>, CodecError> {
        Ok(Box::new(Self::new(source)?))
    }
}

impl<E: Event> Transcode for Transcoder<E> {
    fn transcode(&self, record: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let event = self.decoder.decode(record)?;
        out.clear();
        self.encoder.encode(&event, out);
        Ok(())
    }

    fn same(&self, a: &[u8], b: &[u8]) -> Result<bool, CompareError> {
        let json = |record: &[u8]| -> Result<serde_json::Value, CompareError> {
            Ok(self.decoder.decode(record)?.to_json()?)
        };
        Ok(json(a)? == json(b)?)
    }

    fn latest_id(&self) -> u32 {
        self.encoder.schema_id()
    }

    fn writer_version(&self, id: u32) -> Result<ReadAs, DecodeError> {
        self.decoder.version_of(id)
    }

    fn event_name(&self, record: &[u8]) -> Option<String> {
        self.decoder.event_name(record)
    }
}
