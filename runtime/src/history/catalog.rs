//! The types linked into this program whose histories `schemas/` locks ([`VersionedType`]:
//! event types, state types, topic key types), each registered by its derive and collected with
//! `inventory`, with what tools need of it: topic, versions, schemas, where it is declared, and
//! an event type's transcoder (so it sits above the codec).

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

/// What a registration's history describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    /// An event type: a topic's values, gated, registered and migrated.
    Event,
    /// A state type (`#[derive(strata::Record)]` with `#[strata(state)]`): what snapshots hold.
    /// Its history is locked in `schemas/` like an event's (subject `<full name>-state`), so a
    /// state type changed without a version bump fails `cargo xtask schemas --check`; it is
    /// never registered with a Schema Registry.
    State,
    /// A topic's Avro key type (`#[strata(key = Type)]` on the event enum): subject
    /// `<topic>-key`, locked, gated and registered like the values' subject.
    Key,
}

/// A type linked into this program whose versions strata keeps in `schemas/`: an event type,
/// as registered by `#[derive(strata::Event)]`; a state type, registered by
/// `#[derive(strata::Record)]` with `#[strata(state)]`; or a topic's Avro key type, registered
/// by `key = Type` on the event enum. [`VersionedType::kind`] says which.
#[derive(Debug)]
pub struct VersionedType {
    /// The Rust path of the type, such as `my_domain::bank::AccountEvent`.
    pub rust_name: &'static str,
    /// The topic; for a state type, its full Avro name.
    pub topic: &'static str,
    /// An event type or a state type.
    pub kind: TypeKind,
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
    transcoder: Option<TranscoderFn>,
}

/// Builds the [`crate::codec::Transcode`] of an event type.
type TranscoderFn = fn(
    std::sync::Arc<dyn crate::codec::source::SchemaSource>,
) -> Result<Box<dyn crate::codec::Transcode>, crate::codec::CodecError>;

impl VersionedType {
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
        VersionedType {
            rust_name,
            topic: E::TOPIC,
            kind: TypeKind::Event,
            version: E::VERSION,
            source,
            breaks: E::BREAKS,
            records,
            schema: E::schema,
            schema_at: E::schema_at,
            transcoder: Some(crate::codec::Transcoder::<E>::boxed),
        }
    }

    /// The registration of state type `S`, named `full_name`; generated code calls this.
    #[doc(hidden)]
    pub const fn state<S: crate::event::Record>(
        rust_name: &'static str,
        full_name: &'static str,
        source: SourceLocation,
        records: &'static [RecordSource],
    ) -> Self {
        VersionedType {
            rust_name,
            topic: full_name,
            kind: TypeKind::State,
            version: S::CHANGES[S::CHANGES.len() - 1],
            source,
            breaks: &[],
            records,
            schema: crate::event::state_schema::<S>,
            schema_at: crate::event::state_schema::<S>,
            transcoder: None,
        }
    }

    /// The registration of event type `E`'s key type; generated code calls this.
    #[doc(hidden)]
    pub const fn key<E: crate::event::Keyed>(
        rust_name: &'static str,
        source: SourceLocation,
    ) -> Self {
        let key = crate::event::KeySchema::of::<E::Key>();
        VersionedType {
            rust_name,
            topic: E::TOPIC,
            kind: TypeKind::Key,
            version: key.version,
            source,
            breaks: &[],
            records: key.records,
            schema: key.schema,
            schema_at: key.schema,
            transcoder: None,
        }
    }

    /// The event type's transcoder (any version in, the latest out), with schemas from
    /// `source`: what `cargo xtask migrate` runs on every record.
    pub fn transcoder(
        &self,
        source: std::sync::Arc<dyn crate::codec::source::SchemaSource>,
    ) -> Result<Box<dyn crate::codec::Transcode>, crate::codec::CodecError> {
        match self.transcoder {
            Some(transcoder) => transcoder(source),
            None => Err(crate::codec::CodecError::NotAnEvent { rust_name: self.rust_name }),
        }
    }

    /// The subject: `<topic>-value` (the TopicNameStrategy) for an event type,
    /// `<full name>-state` for a state type.
    pub fn subject(&self) -> String {
        match self.kind {
            TypeKind::Event => crate::subject::value(self.topic),
            TypeKind::State => crate::subject::state(self.topic),
            TypeKind::Key => crate::subject::key(self.topic),
        }
    }

    /// The schema of `version`.
    pub fn schema(&self, version: u32) -> Result<Schema, SchemaError> {
        (self.schema)(version)
    }

    /// Where the field at `path` (`Record.field.nested_field...`, as compatibility findings
    /// name it) is declared: the deepest field the path reaches (a nested record's field at its
    /// own line, a renamed field by any of its names), else its record's line, else the event
    /// type's.
    pub fn locate(&self, path: &str) -> SourceLocation {
        let mut segments = path.split('.');
        let Some(first) = segments.next() else { return self.source };
        let mut located = record_location(self.records, first, None);
        // Follow the path through the latest schema: field names (or earlier names) lead to
        // the records nested in them.
        let Ok(latest) = self.schema(self.version) else {
            return located.unwrap_or(self.source);
        };
        let mut records = std::collections::HashMap::new();
        collect_records(&latest, &mut records);
        let mut record = first.to_owned();
        for segment in segments {
            let Some(schema) = records.get(record.as_str()) else { break };
            let Some(field) = schema
                .fields
                .iter()
                .find(|f| f.name == segment || f.aliases.iter().any(|a| a == segment))
            else {
                break;
            };
            located = record_location(self.records, &record, Some(&field.name)).or(located);
            match record_within(&field.schema) {
                Some(next) => record = next,
                None => break,
            }
        }
        located.unwrap_or(self.source)
    }

    /// The schema at a version past the latest, to detect changes declared beyond it.
    pub(crate) fn schema_beyond_latest(&self, version: u32) -> Result<Schema, SchemaError> {
        (self.schema_at)(version)
    }
}

inventory::collect!(VersionedType);
inventory::collect!(RecordSource);

/// Where `record` (and its `field`) is declared: the event's own records first, then every
/// record linked into the program (nested ones register themselves).
fn record_location(
    own: &[RecordSource],
    record: &str,
    field: Option<&str>,
) -> Option<SourceLocation> {
    let source = own
        .iter()
        .find(|r| r.name == record)
        .or_else(|| inventory::iter::<RecordSource>.into_iter().find(|r| r.name == record))?;
    let line = field
        .and_then(|f| source.fields.iter().find(|(name, _)| *name == f))
        .map_or(source.line, |(_, line)| *line);
    Some(SourceLocation { file: source.file, line })
}

/// Every record defined in `schema`, by simple name.
fn collect_records<'s>(
    schema: &'s Schema,
    out: &mut std::collections::HashMap<&'s str, &'s crate::schema::RecordSchema>,
) {
    match schema {
        Schema::Record(record) => {
            out.insert(record.name.name.as_str(), record);
            for field in &record.fields {
                collect_records(&field.schema, out);
            }
        }
        Schema::Array(inner) | Schema::Map(inner) => collect_records(inner, out),
        Schema::Union(branches) => branches.iter().for_each(|b| collect_records(b, out)),
        _ => {}
    }
}

/// The simple name of the record a field's type holds (through arrays, maps and unions).
fn record_within(schema: &Schema) -> Option<String> {
    match schema {
        Schema::Record(record) => Some(record.name.name.clone()),
        Schema::Ref(name) => Some(name.name.clone()),
        Schema::Array(inner) | Schema::Map(inner) => record_within(inner),
        Schema::Union(branches) => branches.iter().find_map(record_within),
        _ => None,
    }
}

/// Every event type linked into this program, ordered by subject.
///
/// A crate's event types are linked when the program uses anything from that crate; a
/// program that only needs the registrations calls a function of the crate (conventionally
/// a `pub fn link() {}`) to make sure of it.
pub fn event_types() -> Vec<&'static VersionedType> {
    registered(TypeKind::Event)
}

/// Every state type (`#[strata(state)]`) linked into this program, ordered by subject.
pub fn state_types() -> Vec<&'static VersionedType> {
    registered(TypeKind::State)
}

/// Every topic key type (`#[strata(key = Type)]`) linked into this program, by topic.
pub fn key_types() -> Vec<&'static VersionedType> {
    registered(TypeKind::Key)
}

/// Every subject a Schema Registry holds for the linked types: the event types' values, then
/// the topics' keys.
pub fn registered_types() -> Vec<&'static VersionedType> {
    let mut all = event_types();
    all.extend(key_types());
    all
}

/// Every type whose history `schemas/` locks: the event types, the key types, then the state
/// types.
pub fn histories() -> Vec<&'static VersionedType> {
    let mut all = registered_types();
    all.extend(state_types());
    all
}

fn registered(kind: TypeKind) -> Vec<&'static VersionedType> {
    let mut all: Vec<_> =
        inventory::iter::<VersionedType>.into_iter().filter(|e| e.kind == kind).collect();
    all.sort_by(|a, b| a.topic.cmp(b.topic).then(a.rust_name.cmp(b.rust_name)));
    all
}
