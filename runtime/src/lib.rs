//! strata: event sourcing on Kafka with Avro, where the Rust type is the one definition of an
//! event's whole history.
//!
//! ```
//! /// Everything that happens to a light switch; topic `switches`.
//! #[derive(strata::Event)]
//! #[strata(topic = "switches", namespace = "com.example", version = 2)]
//! pub enum SwitchEvent {
//!     Flipped(Flipped),
//! }
//!
//! /// The switch changed position.
//! #[derive(strata::Record, Debug, PartialEq)]
//! pub struct Flipped {
//!     pub on: bool,
//!     /// Who flipped it; version 1 did not say.
//!     #[strata(added(in = 2, default = "unknown"))]
//!     pub by: String,
//! }
//!
//! use strata::{Event, View};
//!
//! // Every version has its schema: version 2 adds `by` with its default.
//! let v2 = SwitchEvent::schema(2)?.to_json();
//! assert_eq!(v2[0]["fields"][1]["default"], "unknown");
//!
//! // And every historical shape has a typed view that upgrades to the latest.
//! let old = FlippedV1 { on: true };
//! assert_eq!(old.upcast()?, Flipped { on: true, by: "unknown".into() });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! How versions are declared, every attribute key, and what is generated: the [`guide`].
//! The committed history in `schemas/` is the [`history`] module.
//!
//! With Kafka (feature `kafka`): `append` records events (envelope headers, expected versions,
//! subject strategies), `replay` folds a topic or loads one aggregate, `migrate` rewrites a
//! topic into the newest version. With PostgreSQL (feature `postgres`): `readmodel` keeps
//! read models exactly once, versioned and rebuilt beside the serving version.

#![warn(missing_docs)]

// Each module imports only from the floors below it (`tests/tests/xtask_tidy.rs` keeps it so;
// ARCHITECTURE.md draws the floors).

// Floor 0: the ground floor's errors, which import nothing of strata.
pub mod error;

// Floor 1, the ground: the vocabulary every other module speaks.
pub mod decode;
pub mod encode;
pub mod event;
pub mod schema;
pub mod subject;
pub mod types;
mod wire;

// Floor 2: the Avro machinery (textual forms, compatibility, references, resolution).
pub mod avro;

// Floor 3: the codec (decoder, encoder, key codecs, schema sources) and snapshots of state.
pub mod codec;
pub mod snapshot;

// Floor 4: the committed history (`schemas/`) and the catalog of linked types.
pub mod history;

// Floor 5: Kafka (and PostgreSQL read models, which consume from it).
#[cfg(feature = "kafka")]
pub mod kafka;

pub mod guide;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private_v0;

pub use codec::{Decoder, Encoder, LocalSource, SchemaSource};
pub use decode::Decode;
pub use encode::Encode;
pub use error::{DecodeError, JsonError, SchemaError, UpcastError};
pub use event::{DecodeFn, Event, FromRecord, Record, View};
pub use history::catalog::{VersionedType, event_types, histories, state_types};
pub use schema::Schema;
#[cfg(feature = "time")]
pub use types::TimestampMillis;
pub use types::{AvroType, Decimal, MapKey};

pub use strata_macros::{Enum, Event, Record};

/// `Result` with strata's errors.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Any error of strata's runtime: every public error type of the crate converts into it (`?`
/// works across modules), and its causes stay reachable through `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A schema could not be generated from a Rust type.
    #[error(transparent)]
    Schema(#[from] error::SchemaError),
    /// A historical value could not be upgraded to a later version.
    #[error(transparent)]
    Upcast(#[from] error::UpcastError),
    /// The committed schema history could not be read or written.
    #[error(transparent)]
    History(#[from] history::HistoryError),
    /// Bytes could not be decoded.
    #[error(transparent)]
    Decode(#[from] error::DecodeError),
    /// A schema text is not one a registry would accept.
    #[error(transparent)]
    Canonical(#[from] avro::canonical::CanonicalError),
    /// A value has no Avro JSON form.
    #[error(transparent)]
    Json(#[from] error::JsonError),
    /// A decoder or encoder could not be set up.
    #[error(transparent)]
    Codec(#[from] codec::CodecError),
    /// Two records could not be compared as values.
    #[error(transparent)]
    Compare(#[from] codec::CompareError),
    /// A source of writer schemas (the history, a registry) failed.
    #[error(transparent)]
    Source(#[from] codec::source::SourceError),
    /// A snapshot could not be read or written.
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotError),
    /// A writer schema cannot be resolved into a reader schema.
    #[error(transparent)]
    Resolve(#[from] error::ResolveError),
    /// A schema the compatibility checker cannot take.
    #[error(transparent)]
    Unsupported(#[from] avro::compat::UnsupportedSchema),
    /// `schemas/compatibility.json` cannot be read.
    #[error(transparent)]
    LevelConfig(#[from] avro::compat::LevelConfigError),
    /// A schema and its references cannot be made one.
    #[error(transparent)]
    Reference(#[from] avro::references::ReferenceError),
    /// A name that is not a compatibility level.
    #[error(transparent)]
    Level(#[from] avro::compat::UnknownLevel),
    /// An Avro key could not be encoded or decoded.
    #[error(transparent)]
    Key(#[from] codec::key::KeyError),
    /// A subject name strategy's name that is none of the three.
    #[error(transparent)]
    Strategy(#[from] subject::UnknownStrategy),
    /// An event record that cannot have a subject of its own.
    #[error(transparent)]
    NotStandalone(#[from] subject::NotStandalone),
    /// Dead letters could not be redriven.
    #[cfg(feature = "kafka")]
    #[error(transparent)]
    Redrive(#[from] kafka::redrive::RedriveError),
    /// A decimal value beyond its precision.
    #[error(transparent)]
    DecimalRange(#[from] types::DecimalRangeError),
    /// A Kafka client or broker failed.
    #[cfg(feature = "kafka")]
    #[error(transparent)]
    Kafka(#[from] kafka::ClientError),
    /// Events could not be appended.
    #[cfg(feature = "kafka")]
    #[error(transparent)]
    Append(#[from] kafka::append::AppendError),
    /// Events could not be appended with an expected version.
    #[cfg(feature = "kafka")]
    #[error(transparent)]
    Write(#[from] kafka::append::WriteError),
    /// An event stream could not go on.
    #[cfg(feature = "async")]
    #[error(transparent)]
    Stream(#[from] kafka::stream::StreamError),
    /// A replay could not run or finish.
    #[cfg(feature = "kafka")]
    #[error(transparent)]
    Replay(#[from] kafka::replay::ReplayError),
    /// A read model's projector could not run or finish.
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    Projector(#[from] kafka::readmodel::ProjectorError),
    /// A record could not be applied by a replay.
    #[cfg(feature = "kafka")]
    #[error(transparent)]
    Record(#[from] kafka::record::RecordError),
    /// A record that could not be taken, with where it is.
    #[cfg(feature = "kafka")]
    #[error(transparent)]
    FailedRecord(#[from] kafka::record::FailedRecord),
    /// A migration or verification could not run or finish.
    #[cfg(feature = "kafka")]
    #[error(transparent)]
    Migrate(#[from] kafka::migrate::MigrateError),
}
