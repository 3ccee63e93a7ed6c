//! Errors as Confluent's REST API reports them: an HTTP status and a body
//! `{"error_code": 40401, "message": "Subject 'x' not found."}`, with Confluent's codes and
//! message texts (`io.confluent.kafka.schemaregistry.rest.exceptions.Errors`).

use std::path::PathBuf;

use axum::http::StatusCode;
use strata::error::Chain;

/// An error answered to a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Confluent's error code: the status, or the status and two digits.
    pub code: u32,
    /// What went wrong, naming the subject, version or id.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    pub(crate) fn subject_not_found(subject: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, 40401, format!("Subject '{subject}' not found."))
    }

    pub(crate) fn version_not_found(version: u32) -> Self {
        Self::new(StatusCode::NOT_FOUND, 40402, format!("Version {version} not found."))
    }

    pub(crate) fn schema_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 40403, "Schema not found")
    }

    pub(crate) fn schema_id_not_found(id: u32) -> Self {
        Self::new(StatusCode::NOT_FOUND, 40403, format!("Schema {id} not found"))
    }

    pub(crate) fn subject_soft_deleted(subject: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40404,
            format!(
                "Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
            ),
        )
    }

    pub(crate) fn subject_not_soft_deleted(subject: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40405,
            format!("Subject '{subject}' was not deleted first before being permanently deleted"),
        )
    }

    pub(crate) fn version_soft_deleted(subject: &str, version: u32) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40406,
            format!(
                "Subject '{subject}' Version {version} was soft deleted.Set permanent=true to \
                 delete permanently"
            ),
        )
    }

    pub(crate) fn version_not_soft_deleted(subject: &str, version: u32) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40407,
            format!(
                "Subject '{subject}' Version {version} was not deleted first before being \
                 permanently deleted"
            ),
        )
    }

    pub(crate) fn compatibility_not_configured(subject: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40408,
            format!("Subject '{subject}' does not have subject-level compatibility configured"),
        )
    }

    pub(crate) fn mode_not_configured(subject: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40409,
            format!("Subject '{subject}' does not have subject-level mode configured"),
        )
    }

    /// Confluent answers 409 with error code 409 (the code its deployed releases send).
    pub(crate) fn incompatible(subject: &str, details: &[String]) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            409,
            format!(
                "Schema being registered is incompatible with an earlier schema for subject \
                 \"{subject}\", details: [{}]",
                details.join(", ")
            ),
        )
    }

    pub(crate) fn invalid_schema(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 42201, message)
    }

    pub(crate) fn invalid_version(version: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42202,
            format!(
                "The specified version '{version}' is not a valid version id. Allowed values are \
                 between [1, 2^31-1] and the string \"latest\""
            ),
        )
    }

    pub(crate) fn invalid_compatibility(given: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42203,
            format!(
                "Invalid compatibility level '{given}'. Valid values are none, backward, forward, \
                 full, backward_transitive, forward_transitive, and full_transitive"
            ),
        )
    }

    pub(crate) fn invalid_mode(given: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42204,
            format!(
                "Invalid mode '{given}'. Valid values are READWRITE, READONLY, \
                 READONLY_OVERRIDE and IMPORT."
            ),
        )
    }

    pub(crate) fn not_permitted(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 42205, message)
    }

    pub(crate) fn reference_exists(subject: &str, version: u32, by: &[u32]) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42206,
            format!(
                "One or more references exist to the schema {{subject={subject},version={version}}}: \
                 referenced by schema id(s) {by:?}"
            ),
        )
    }

    pub(crate) fn id_does_not_match(id: u32) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42207,
            format!(
                "Overwrite new schema with id {id} is not permitted: the id is another schema's"
            ),
        )
    }

    pub(crate) fn invalid_subject(subject: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42208,
            format!("The specified subject '{subject}' is not a valid subject name"),
        )
    }

    /// A request that is not what the API takes: malformed JSON, a wrong field type.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 400, message)
    }

    pub(crate) fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 422, message)
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 401, "Unauthorized: missing or wrong credentials")
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 404, "HTTP 404 Not Found")
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, 405, "HTTP 405 Method Not Allowed")
    }

    pub(crate) fn unsupported_media_type(given: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            415,
            format!(
                "Unsupported content type '{given}': send application/vnd.schemaregistry.v1+json \
                 or application/json"
            ),
        )
    }

    /// The store could not be written: nothing was acknowledged.
    pub(crate) fn store(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, 50001, message)
    }
}

/// Why a registry directory cannot be opened: each names the file, and the line of the log
/// where it is damaged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A file or directory of the registry could not be created, locked, read or repaired.
    #[error("cannot {action} `{}`", path.display())]
    Io {
        /// What was being done (`create`, `lock`, `open`, `read`, `truncate`).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// Another registry process serves the directory (its `LOCK` is held).
    #[error("another registry is serving `{}` (its LOCK is held)", dir.display())]
    Locked {
        /// The directory.
        dir: PathBuf,
    },
    /// A line of the log is not JSON of a write the registry makes: the log was damaged, and
    /// the registry refuses to start rather than serve less than it acknowledged.
    #[error("`{}` line {line} is damaged; refusing to start", path.display())]
    Damaged {
        /// The log.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A line of the log is a write the state it follows refuses (a log not written by this
    /// registry, or edited).
    #[error("`{}` line {line} cannot be replayed; refusing to start", path.display())]
    Replay {
        /// The log.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What the state refused.
        #[source]
        source: LogConflict,
    },
}

/// A write in the log that contradicts the writes before it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogConflict {
    /// A schema id defined by two writes.
    #[error("schema id {id} is defined twice")]
    IdDefinedTwice {
        /// The id.
        id: u32,
    },
    /// A version naming an id no write defined.
    #[error("version {version} of '{subject}' names unknown id {id}")]
    UnknownId {
        /// The subject.
        subject: String,
        /// The version.
        version: u32,
        /// The id.
        id: u32,
    },
    /// A delete from a subject no write created.
    #[error("deletes from unknown subject '{subject}'")]
    UnknownSubject {
        /// The subject.
        subject: String,
    },
    /// A compatibility level that is none of Confluent's.
    #[error(transparent)]
    Level(strata::avro::compat::UnknownLevel),
    /// A mode that is none of Confluent's.
    #[error("unknown mode {mode}")]
    Mode {
        /// The mode as logged.
        mode: String,
    },
    /// A version registered by two writes.
    #[error("version {version} of '{subject}' is registered twice")]
    VersionTwice {
        /// The subject.
        subject: String,
        /// The version.
        version: u32,
    },
}

/// Why a registry server cannot start, or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Its directory cannot be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The server's runtime, thread or socket failed.
    #[error("the registry server cannot {action}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The server's thread panicked.
    #[error("the registry server's thread panicked")]
    Panicked,
}

/// What the registry's domain (`store`) refuses or fails at, in its own terms; the API maps
/// each to Confluent's status, error code and message (`From<StoreError> for ApiError`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No visible version of the subject.
    #[error("subject `{subject}` not found")]
    SubjectNotFound {
        /// The subject.
        subject: String,
    },
    /// The subject has no such visible version.
    #[error("version {version} not found")]
    VersionNotFound {
        /// The version.
        version: u32,
    },
    /// No schema has this id (or no version names it any more).
    #[error("schema {id} not found")]
    SchemaIdNotFound {
        /// The id.
        id: u32,
    },
    /// A soft-deleted subject, deleted again without `permanent`.
    #[error("subject `{subject}` was soft deleted")]
    SubjectSoftDeleted {
        /// The subject.
        subject: String,
    },
    /// A permanent delete of a subject not soft-deleted first.
    #[error("subject `{subject}` was not soft deleted first")]
    SubjectNotSoftDeleted {
        /// The subject.
        subject: String,
    },
    /// A soft-deleted version, deleted again without `permanent`.
    #[error("subject `{subject}` version {version} was soft deleted")]
    VersionSoftDeleted {
        /// The subject.
        subject: String,
        /// The version.
        version: u32,
    },
    /// A permanent delete of a version not soft-deleted first.
    #[error("subject `{subject}` version {version} was not soft deleted first")]
    VersionNotSoftDeleted {
        /// The subject.
        subject: String,
        /// The version.
        version: u32,
    },
    /// Incompatible with earlier versions at the subject's level.
    #[error("incompatible with an earlier schema of `{subject}`")]
    Incompatible {
        /// The subject.
        subject: String,
        /// Confluent's descriptions of each incompatibility.
        details: Vec<String>,
    },
    /// A request whose schema is invalid, with Confluent's message.
    #[error("{0}")]
    InvalidSchema(String),
    /// A schema text that does not parse as Avro (or its references do not).
    #[error("the schema or one of its references is invalid")]
    InvalidSchemaText(#[source] strata::avro::canonical::CanonicalError),
    /// A version that is not `latest`, `-1` or 1 to 2^31-1.
    #[error("`{given}` is not a valid version")]
    InvalidVersion {
        /// The version given.
        given: String,
    },
    /// A schema id that cannot be used.
    #[error("invalid schema id {id}")]
    InvalidSchemaId {
        /// The id, as given.
        id: i64,
    },
    /// The operation is not permitted here (mode, existing versions, ids), with the reason.
    #[error("{0}")]
    NotPermitted(String),
    /// A version other schemas refer to.
    #[error("subject `{subject}` version {version} is referenced by schema id(s) {by:?}")]
    ReferenceExists {
        /// The subject.
        subject: String,
        /// The version.
        version: u32,
        /// The referring schema ids.
        by: Vec<u32>,
    },
    /// An id given for a registration belongs to another schema.
    #[error("schema id {id} is another schema's")]
    IdDoesNotMatch {
        /// The id.
        id: u32,
    },
    /// An earlier write failed: nothing is acknowledged until the registry restarts.
    #[error("an earlier write to `{}` failed; restart the registry", path.display())]
    Failed {
        /// The log.
        path: PathBuf,
    },
    /// The log could not be written: the write was not acknowledged.
    #[error("cannot write `{}`", path.display())]
    Write {
        /// The log.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A logged operation contradicts the state (a bug, or a log edited by hand).
    #[error("the log contradicts the state")]
    Inconsistent(#[from] LogConflict),
    /// A stored schema no longer parses (a log edited by hand, or another version's rules).
    #[error("stored schema {id} no longer parses")]
    StoredSchema {
        /// The id.
        id: u32,
        /// Why.
        #[source]
        source: strata::avro::canonical::CanonicalError,
    },
}

impl StoreError {
    /// An invalid schema, with Confluent's message.
    pub(crate) fn invalid_schema(message: impl Into<String>) -> Self {
        StoreError::InvalidSchema(message.into())
    }

    /// An operation not permitted, with the reason.
    pub(crate) fn not_permitted(message: impl Into<String>) -> Self {
        StoreError::NotPermitted(message.into())
    }
}

/// The API edge: each domain error as Confluent answers it.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::SubjectNotFound { subject } => ApiError::subject_not_found(&subject),
            StoreError::VersionNotFound { version } => ApiError::version_not_found(version),
            StoreError::SchemaIdNotFound { id } => ApiError::schema_id_not_found(id),
            StoreError::SubjectSoftDeleted { subject } => ApiError::subject_soft_deleted(&subject),
            StoreError::SubjectNotSoftDeleted { subject } => {
                ApiError::subject_not_soft_deleted(&subject)
            }
            StoreError::VersionSoftDeleted { subject, version } => {
                ApiError::version_soft_deleted(&subject, version)
            }
            StoreError::VersionNotSoftDeleted { subject, version } => {
                ApiError::version_not_soft_deleted(&subject, version)
            }
            StoreError::Incompatible { subject, details } => {
                ApiError::incompatible(&subject, &details)
            }
            StoreError::InvalidSchema(message) => ApiError::invalid_schema(message),
            StoreError::InvalidSchemaText(e) => ApiError::invalid_schema(format!(
                "Either the input schema or one of its references is invalid: {}",
                Chain(&e)
            )),
            StoreError::InvalidVersion { given } => ApiError::invalid_version(&given),
            StoreError::InvalidSchemaId { id } => {
                ApiError::unprocessable(format!("Invalid schema id {id}"))
            }
            StoreError::NotPermitted(message) => ApiError::not_permitted(message),
            StoreError::ReferenceExists { subject, version, by } => {
                ApiError::reference_exists(&subject, version, &by)
            }
            StoreError::IdDoesNotMatch { id } => ApiError::id_does_not_match(id),
            e @ (StoreError::Failed { .. }
            | StoreError::Write { .. }
            | StoreError::Inconsistent(_)
            | StoreError::StoredSchema { .. }) => ApiError::store(Chain(&e).to_string()),
        }
    }
}
