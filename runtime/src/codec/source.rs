//! Where writer schemas come from: a Schema Registry, or a local source that needs no server.
//! Both sit behind [`SchemaSource`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A writer schema, as a registry holds it under an id.
#[derive(Debug)]
pub struct WriterSchema {
    /// The registry's id for it.
    pub id: u32,
    /// The schema's text.
    pub text: String,
    /// The parsed schema.
    pub parsed: apache_avro::Schema,
    /// The Rabin fingerprint of its parsing canonical form: two schemas with the same
    /// fingerprint have the same binary layout.
    pub fingerprint: u64,
}

impl WriterSchema {
    /// Parses a schema held under `id`.
    pub fn new(id: u32, text: impl Into<String>) -> Result<Self, SourceError> {
        let text = text.into();
        let parsed = apache_avro::Schema::parse_str(&text)
            .map_err(|source| SourceError::InvalidSchema { id, source })?;
        let fingerprint = rabin_fingerprint(&parsed);
        Ok(WriterSchema { id, text, parsed, fingerprint })
    }
}

use crate::schema::rabin_fingerprint;

/// A schema source failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// No schema has this id.
    #[error("schema id {0} is unknown")]
    UnknownId(u32),
    /// The schema held under an id does not parse.
    #[error("schema id {id} is not a valid Avro schema")]
    InvalidSchema {
        /// The id.
        id: u32,
        /// Why it does not parse.
        #[source]
        source: apache_avro::Error,
    },
    /// The schema held under an id is of another type (JSON, PROTOBUF).
    #[error("schema id {id} is a {kind} schema, not Avro")]
    NotAvro {
        /// The id.
        id: u32,
        /// Its schema type.
        kind: String,
    },
    /// The schema is not registered under the subject, and the source may not register it.
    #[error("the schema is not registered under subject `{subject}`")]
    NotRegistered {
        /// The subject.
        subject: String,
    },
    /// The registry could not be reached (after the retries).
    #[cfg(feature = "registry")]
    #[error("schema registry: {request} failed")]
    Unreachable {
        /// Method and URL.
        request: String,
        /// The HTTP client's error.
        #[source]
        source: ureq::Error,
    },
    /// The registry answered with a body that is not JSON.
    #[error("schema registry: {request}: status {status}, the body is not JSON")]
    NotJson {
        /// Method and URL.
        request: String,
        /// The HTTP status.
        status: u16,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// The registry's answer is not what Confluent's API specifies.
    #[error("schema registry: {request}: {what} in the answer {answer}")]
    UnexpectedAnswer {
        /// Method and path.
        request: String,
        /// What is wrong with it.
        what: &'static str,
        /// The answer, as received.
        answer: String,
        /// Why it does not read, when it was read as a type.
        #[source]
        source: Option<serde_json::Error>,
    },
    /// A schema's references do not resolve into one schema.
    #[error("a schema's references do not resolve")]
    References(#[source] crate::avro::references::ReferenceError),
    /// The registry refused a request: its status, Confluent error code and message.
    #[error("schema registry: {request}: status {status} (error code {code}): {message}")]
    Refused {
        /// Method and path.
        request: String,
        /// The HTTP status.
        status: u16,
        /// Confluent's error code (the status when the body has none).
        code: i64,
        /// The registry's message.
        message: String,
    },
}

impl SourceError {
    /// Whether the source failed to answer (unreachable, a server error or a refusal of the
    /// request such as bad credentials, an answer out of Confluent's API) rather than answered
    /// about the schema (no such id, not Avro, unreadable). A record whose writer schema could
    /// not be had for the first reason is not at fault: readers stop at it (nothing applied
    /// past it) instead of dead-lettering it, and read it once the source is back.
    pub fn is_unavailable(&self) -> bool {
        match self {
            SourceError::UnknownId(_)
            | SourceError::InvalidSchema { .. }
            | SourceError::NotAvro { .. }
            | SourceError::References(_) => false,
            // Confluent's "schema not found": an answer about the id.
            SourceError::Refused { status, code, .. } => !(*status == 404 && *code == 40403),
            _ => true,
        }
    }
}

// Here rather than in `error.rs`, which names nothing above it.
impl crate::error::DecodeError {
    /// Whether the writer schema could not be had because the schema source failed to answer
    /// (see [`SourceError::is_unavailable`]): no fault of the record.
    pub fn is_source_unavailable(&self) -> bool {
        match self.kind() {
            crate::error::DecodeErrorKind::Source(source) => {
                source.downcast_ref::<SourceError>().is_none_or(SourceError::is_unavailable)
            }
            _ => false,
        }
    }
}

/// Writer schemas by id, and ids for schemas to write with.
pub trait SchemaSource: Send + Sync + std::fmt::Debug {
    /// The schema registered under `id`.
    fn schema(&self, id: u32) -> Result<Arc<WriterSchema>, SourceError>;

    /// The id of `schema` under `subject`, registering it first where the source allows.
    fn id_of(&self, subject: &str, schema: &str) -> Result<u32, SourceError>;
}

/// An in-memory source that assigns ids as a registry does: one global id per distinct
/// schema, from 1 up, in the order schemas are registered. For tests, tools and offline
/// replay, it can be filled from the committed `schemas/`.
///
/// Its ids are its own: data framed with a real registry's ids is decoded with that registry,
/// or with a local source given the same ids through [`LocalSource::insert`].
#[derive(Debug, Default)]
pub struct LocalSource {
    inner: RwLock<Local>,
}

#[derive(Debug, Default)]
struct Local {
    by_id: HashMap<u32, Arc<WriterSchema>>,
    /// Fingerprint to id, so the same schema keeps its id.
    by_fingerprint: HashMap<u64, u32>,
    /// Subject to its ids, in version order.
    subjects: HashMap<String, Vec<u32>>,
    next_id: u32,
}

impl LocalSource {
    /// An empty source.
    pub fn new() -> Self {
        LocalSource::default()
    }

    /// Registers `schema` under `subject`, returning its id (the existing one when the same
    /// schema is registered already).
    pub fn register(&self, subject: &str, schema: &str) -> Result<u32, SourceError> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let provisional = WriterSchema::new(inner.next_id.max(1), schema)?;
        let id = match inner.by_fingerprint.get(&provisional.fingerprint) {
            Some(&id) => id,
            None => {
                let id = provisional.id;
                inner.next_id = id + 1;
                inner.by_fingerprint.insert(provisional.fingerprint, id);
                inner.by_id.insert(id, Arc::new(provisional));
                id
            }
        };
        let ids = inner.subjects.entry(subject.to_owned()).or_default();
        if !ids.contains(&id) {
            ids.push(id);
        }
        Ok(id)
    }

    /// Holds `schema` under a given `id`, as some registry assigned it.
    pub fn insert(&self, id: u32, subject: &str, schema: &str) -> Result<(), SourceError> {
        let schema = WriterSchema::new(id, schema)?;
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.by_fingerprint.entry(schema.fingerprint).or_insert(id);
        inner.next_id = inner.next_id.max(id + 1);
        inner.by_id.insert(id, Arc::new(schema));
        inner.subjects.entry(subject.to_owned()).or_default().push(id);
        Ok(())
    }
}

impl SchemaSource for LocalSource {
    fn schema(&self, id: u32) -> Result<Arc<WriterSchema>, SourceError> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.by_id.get(&id).cloned().ok_or(SourceError::UnknownId(id))
    }

    fn id_of(&self, subject: &str, schema: &str) -> Result<u32, SourceError> {
        self.register(subject, schema)
    }
}
