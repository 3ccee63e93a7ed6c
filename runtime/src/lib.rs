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

pub mod canonical;
pub mod codec;
pub mod compat;
pub mod decode;
pub mod encode;
pub mod error;
pub mod event;
pub mod guide;
pub mod history;
#[cfg(feature = "kafka")]
mod kafka;
#[cfg(feature = "kafka")]
pub mod migrate;
pub mod references;
#[cfg(feature = "registry")]
pub mod registry;
#[cfg(feature = "kafka")]
pub mod replay;
pub mod resolve;
pub mod schema;
pub mod snapshot;
pub mod source;
pub mod types;
pub mod wire;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private_v0;

pub use codec::{Decoder, Encoder};
pub use decode::Decode;
pub use encode::Encode;
pub use error::{DecodeError, Error, Result, SchemaError, UpcastError};
pub use event::{DecodeFn, Event, EventType, FromRecord, Record, View, event_types};
pub use schema::Schema;
pub use source::{LocalSource, SchemaSource};
#[cfg(feature = "time")]
pub use types::TimestampMillis;
pub use types::{AvroType, Decimal, MapKey};

pub use strata_macros::{Enum, Event, Record};
