//! The front door for framed records: [`Decoder`] turns a record written with any historical
//! (or foreign) schema into the latest event type, [`Encoder`] frames the latest type with its
//! schema id.
//!
//! The decoder builds one plan per writer schema id, once: the id's schema is matched to a
//! declared version by the fingerprint of its parsing canonical form, and that version's
//! compiled decoder reads the bytes directly. A schema that matches no declared version
//! (another producer's) is resolved with Avro's rules into the latest declared version that
//! can read all of its data, and its records are rewritten into that version's layout first.
//!
//! ```
//! use std::sync::Arc;
//! use strata::{Decoder, Encoder, LocalSource};
//!
//! #[derive(strata::Event, Debug, PartialEq)]
//! #[strata(topic = "lights", version = 2)]
//! pub enum LightEvent {
//!     Switched(Switched),
//! }
//!
//! #[derive(strata::Record, Debug, PartialEq)]
//! pub struct Switched {
//!     pub on: bool,
//!     #[strata(added(in = 2, default = 100))]
//!     pub brightness: i32,
//! }
//!
//! // A registry in production; here a local source holding both versions.
//! let source = Arc::new(LocalSource::new());
//! use strata::Event;
//! let v1 = source.register("lights-value", &LightEvent::schema(1)?.to_json().to_string())?;
//!
//! // A record an older producer wrote with version 1: branch 0, `on: true`.
//! let old_record = [0, 0, 0, 0, v1 as u8, 0, 1];
//! let decoder = Decoder::<LightEvent>::new(source.clone())?;
//! let event = decoder.decode(&old_record)?;
//! assert_eq!(event, LightEvent::Switched(Switched { on: true, brightness: 100 }));
//!
//! // Encoding frames the latest type with the latest schema's id, reusing the buffer.
//! let encoder = Encoder::<LightEvent>::new(source.as_ref())?;
//! let mut buffer = Vec::new();
//! encoder.encode(&event, &mut buffer);
//! assert_eq!(decoder.decode(&buffer)?, event);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod key;
#[cfg(feature = "registry")]
pub mod registry;
pub mod source;

mod decoder;
mod encoder;
mod transcode;

/// Confluent's framing read: the schema id and the datum of a framed record.
pub use crate::wire::split_frame;
pub use decoder::{Decoder, ReadAs};
pub use encoder::Encoder;
pub(crate) use encoder::frame;
pub use source::{LocalSource, SchemaSource, SourceError, WriterSchema};
pub use transcode::{Transcode, Transcoder};

use crate::error::DecodeError;
use crate::event::Event;

/// Two records could not be compared as values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// A record does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A decoded event has no JSON form to compare.
    #[error("the decoded event cannot be rendered as JSON")]
    Render(#[from] crate::error::JsonError),
}

/// A decoder or encoder could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The schema source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A declared version's schema could not be generated.
    #[error("`{event}` version {version}: the schema cannot be generated")]
    Schema {
        /// The event type.
        event: &'static str,
        /// The version.
        version: u32,
        /// Why.
        #[source]
        source: crate::error::SchemaError,
    },
    /// A transcoder was asked of a state type, which has no topic to migrate.
    #[error("`{rust_name}` is a state type: it has no topic to transcode")]
    NotAnEvent {
        /// The state type.
        rust_name: &'static str,
    },
    /// Under a record subject name strategy, an event record that cannot be a schema of its
    /// own (it names a type another record of the union defines).
    #[error("topic `{topic}`: use the topic name strategy")]
    NotStandalone {
        /// The event type's topic.
        topic: &'static str,
        /// Which record, and apache-avro's refusal of it alone.
        #[source]
        source: crate::subject::NotStandalone,
    },
    /// A declared version's generated schema does not parse with apache-avro.
    #[error("`{event}` version {version}: apache-avro refuses the generated schema")]
    Parse {
        /// The event type.
        event: &'static str,
        /// The version.
        version: u32,
        /// Why.
        #[source]
        source: apache_avro::Error,
    },
}

/// The text and parsed form of `E`'s schema at a declared `version`.
pub(crate) fn declared_schema<E: Event>(
    version: u32,
) -> Result<(String, apache_avro::Schema), CodecError> {
    let event = std::any::type_name::<E>();
    let text = E::schema(version)
        .map_err(|source| CodecError::Schema { event, version, source })?
        .to_json()
        .to_string();
    let parsed = apache_avro::Schema::parse_str(&text).map_err(|source| CodecError::Parse {
        event,
        version,
        source,
    })?;
    Ok((text, parsed))
}
