//! The event types linked into this program: each registered by `#[derive(strata::Event)]`
//! (collected with `inventory`), with what tools need of it: topic, versions, schemas, where
//! it is declared, and its transcoder. It sits above the codec; the derive traits below it
//! (`strata::event`) know nothing of codecs.

use crate::error::SchemaError;
use crate::event::{Event, RecordSource};
use crate::schema::Schema;

/// Where in the user's sources a derive was applied, for reports that point at code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLocation {
    /// The file, relative to the crate's manifest directory's workspace, as `file!()` gives it.
    pub file: &'static str,
    /// The line of the type's name.
    pub line: u32,
}

/// An event type linked into this program, as registered by `#[derive(strata::Event)]`.
#[derive(Debug)]
pub struct EventType {
    /// The Rust path of the type, such as `my_domain::bank::AccountEvent`.
    pub rust_name: &'static str,
    /// The topic.
    pub topic: &'static str,
    /// The latest version.
    pub version: u32,
    /// Where the type is declared.
    pub source: SourceLocation,
    /// Versions declared to break Avro compatibility, with the reason.
    pub breaks: &'static [(u32, &'static str)],
    /// Where the event's records and their fields are declared.
    pub records: &'static [RecordSource],
    schema: fn(u32) -> Result<Schema, SchemaError>,
    schema_at: fn(u32) -> Result<Schema, SchemaError>,
    transcoder: TranscoderFn,
}

/// Builds the [`crate::codec::Transcode`] of an event type.
type TranscoderFn = fn(
    std::sync::Arc<dyn crate::source::SchemaSource>,
) -> Result<Box<dyn crate::codec::Transcode>, crate::codec::CodecError>;

impl EventType {
    /// The registration of `E`. Generated code registers every event type with it; tools and
    /// tests can build one for a type directly.
    pub const fn of<E: Event>(rust_name: &'static str, source: SourceLocation) -> Self {
        Self::with_records::<E>(rust_name, source, &[])
    }

    /// The registration of `E` with where its records are declared; generated code calls this.
    #[doc(hidden)]
    pub const fn with_records<E: Event>(
        rust_name: &'static str,
        source: SourceLocation,
        records: &'static [RecordSource],
    ) -> Self {
        EventType {
            rust_name,
            topic: E::TOPIC,
            version: E::VERSION,
            source,
            breaks: E::BREAKS,
            records,
            schema: E::schema,
            schema_at: E::schema_at,
            transcoder: crate::codec::Transcoder::<E>::boxed,
        }
    }

    /// The event type's transcoder (any version in, the latest out), with schemas from
    /// `source`: what `cargo xtask migrate` runs on every record.
    pub fn transcoder(
        &self,
        source: std::sync::Arc<dyn crate::source::SchemaSource>,
    ) -> Result<Box<dyn crate::codec::Transcode>, crate::codec::CodecError> {
        (self.transcoder)(source)
    }

    /// The subject under the TopicNameStrategy: `<topic>-value`.
    pub fn subject(&self) -> String {
        format!("{}-value", self.topic)
    }

    /// The schema of `version`.
    pub fn schema(&self, version: u32) -> Result<Schema, SchemaError> {
        (self.schema)(version)
    }

    /// Where the field at `path` (`Record.field`, as compatibility findings name it) is declared:
    /// the field's line, else its record's, else the event type's.
    pub fn locate(&self, path: &str) -> SourceLocation {
        let mut parts = path.split('.');
        let record = parts.next().unwrap_or_default();
        let field = parts.next();
        match self.records.iter().find(|r| r.name == record) {
            Some(r) => {
                let line = field
                    .and_then(|f| r.fields.iter().find(|(name, _)| *name == f))
                    .map(|(_, line)| *line)
                    .unwrap_or(r.line);
                SourceLocation { file: r.file, line }
            }
            None => self.source,
        }
    }

    /// The schema at a version past the latest, to detect changes declared beyond it.
    pub(crate) fn schema_beyond_latest(&self, version: u32) -> Result<Schema, SchemaError> {
        (self.schema_at)(version)
    }
}

inventory::collect!(EventType);

/// Every event type linked into this program, ordered by subject.
///
/// A crate's event types are linked when the program uses anything from that crate; a
/// program that only needs the registrations calls a function of the crate (conventionally
/// a `pub fn link() {}`) to make sure of it.
pub fn event_types() -> Vec<&'static EventType> {
    let mut all: Vec<_> = inventory::iter::<EventType>.into_iter().collect();
    all.sort_by(|a, b| a.topic.cmp(b.topic).then(a.rust_name.cmp(b.rust_name)));
    all
}
