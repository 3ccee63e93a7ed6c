//! The error types of strata's runtime, each naming what failed and where.

/// `Result` with strata's errors.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Any error of strata's runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A schema could not be generated from a Rust type.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A historical value could not be upgraded to a later version.
    #[error(transparent)]
    Upcast(#[from] UpcastError),
    /// The committed schema history could not be read or written.
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
}

/// A Rust type whose schema at some version cannot be generated, such as a default that does
/// not fit its field's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema of version {version}, at `{path}`: {message}")]
pub struct SchemaError {
    version: u32,
    path: String,
    message: String,
}

impl SchemaError {
    /// An error at `path` inside the schema of `version`.
    pub fn new(version: u32, path: impl Into<String>, message: impl Into<String>) -> Self {
        SchemaError { version, path: path.into(), message: message.into() }
    }

    /// The aggregate version whose schema failed.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The path of the offending type or field, such as `AccountOpened.currency`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// An upgrade step from one version of a record to the next failed.
///
/// Upgrade functions written by users return it; strata adds the record and versions.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct UpcastError {
    record: Option<&'static str>,
    from_version: Option<u32>,
    to_version: Option<u32>,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl UpcastError {
    /// An upgrade failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        UpcastError {
            record: None,
            from_version: None,
            to_version: None,
            message: message.into(),
            source: None,
        }
    }

    /// An upgrade failure caused by another error.
    pub fn caused_by(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        UpcastError { source: Some(Box::new(source)), ..UpcastError::new(message) }
    }

    /// Names the record and the step, unless an inner step already did.
    #[doc(hidden)]
    pub fn at_step(mut self, record: &'static str, from_version: u32, to_version: u32) -> Self {
        if self.record.is_none() {
            self.record = Some(record);
            self.from_version = Some(from_version);
            self.to_version = Some(to_version);
        }
        self
    }

    /// The record whose upgrade failed, such as `AccountOpened`.
    pub fn record(&self) -> Option<&'static str> {
        self.record
    }

    /// The version the failing step started from.
    pub fn from_version(&self) -> Option<u32> {
        self.from_version
    }

    /// The version the failing step led to.
    pub fn to_version(&self) -> Option<u32> {
        self.to_version
    }

    /// What the upgrade function said.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn describe(&self) -> String {
        match (self.record, self.from_version, self.to_version) {
            (Some(record), Some(from), Some(to)) => {
                format!("upgrading `{record}` from version {from} to {to}: {}", self.message)
            }
            _ => self.message.clone(),
        }
    }
}
