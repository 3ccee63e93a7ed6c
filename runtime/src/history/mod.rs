//! The committed schema history in `schemas/`: reading it, checking the derived schemas against
//! it, and appending new versions to it.
//!
//! Layout: one directory per subject, one file per version, and an index that records where
//! each version came from.
//!
//! ```text
//! schemas/
//!   bank.accounts-value/
//!     index.json      subject, topic, Rust type, and each version's file and fingerprint
//!     v1.avsc         pretty, deterministic Avro JSON
//!     v2.avsc
//! ```
//!
//! A published version never changes. Two schemas are the same version when their JSON is
//! equal once `doc` attributes are dropped: formatting and key order never matter, while
//! defaults, aliases and logical types do (they change how data resolves, which Avro's
//! parsing canonical form would hide). A doc comment edited after publication is reported as
//! a warning: docs do not change how data is read, and the published text stays as it was.

pub mod catalog;
mod diff;
mod index;
mod layout;
mod verdict;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::codec::LocalSource;
use crate::history::catalog::VersionedType;
pub use crate::history::layout::{HistoryError, version_file};
use crate::history::layout::{PublishedVersion, SubjectDir, read_dir, version_file_name};
pub use diff::diff;

/// The command that regenerates `schemas/`, named in every hint.
pub const REGENERATE: &str = "cargo xtask schemas";

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing; the check still passes.
    Warning,
    /// The check fails.
    Error,
}

/// The rules of the history check: each finding names one (`Rule::as_str`, such as
/// `TYPE_CHANGED`), as the compatibility check's findings name Avro Java's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// A version's schema cannot be generated from the type.
    SchemaNotDerived,
    /// apache-avro refuses a generated schema.
    SchemaNotAvro,
    /// A version that changes nothing since the one before.
    EmptyVersion,
    /// A record declares a change past the event type's latest version.
    ChangeBeyondLatest,
    /// Two event types claim one topic.
    TopicClaimedTwice,
    /// A version without its file (a checking run).
    MissingFile,
    /// A version file `index.json` does not list (never published).
    UnpublishedFile,
    /// A version file that is not JSON.
    FileNotJson,
    /// A published file edited by hand.
    FileEdited,
    /// A type changed without a version bump.
    TypeChanged,
    /// Doc comments that differ from the published text.
    DocsChanged,
    /// A version file past the type's latest version.
    FileWithoutVersion,
    /// A file the tool does not write.
    StrayFile,
    /// A refused change's `v<N>.avsc.new` left over.
    PendingFile,
    /// `index.json` missing or out of date.
    IndexStale,
    /// `index.json` names another Rust type (the type moved).
    IndexProvenance,
    /// `index.json` written by an earlier release (before per-version digests).
    IndexFormat,
    /// A subject's history without a linked type.
    SubjectWithoutType,
}

impl Rule {
    /// The rule's id in reports, such as `TYPE_CHANGED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::SchemaNotDerived => "SCHEMA_NOT_DERIVED",
            Rule::SchemaNotAvro => "SCHEMA_NOT_AVRO",
            Rule::EmptyVersion => "EMPTY_VERSION",
            Rule::ChangeBeyondLatest => "CHANGE_BEYOND_LATEST",
            Rule::TopicClaimedTwice => "TOPIC_CLAIMED_TWICE",
            Rule::MissingFile => "MISSING_FILE",
            Rule::UnpublishedFile => "UNPUBLISHED_FILE",
            Rule::FileNotJson => "FILE_NOT_JSON",
            Rule::FileEdited => "FILE_EDITED",
            Rule::TypeChanged => "TYPE_CHANGED",
            Rule::DocsChanged => "DOCS_CHANGED",
            Rule::FileWithoutVersion => "FILE_WITHOUT_VERSION",
            Rule::StrayFile => "STRAY_FILE",
            Rule::PendingFile => "PENDING_FILE",
            Rule::IndexStale => "INDEX_STALE",
            Rule::IndexProvenance => "INDEX_PROVENANCE",
            Rule::IndexFormat => "INDEX_FORMAT",
            Rule::SubjectWithoutType => "SUBJECT_WITHOUT_TYPE",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing the check found, with the coordinates to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule, as reports name it (`TYPE_CHANGED`, `FILE_EDITED`, `MISSING_FILE`, ...).
    pub rule: Rule,
    /// Error or warning.
    pub severity: Severity,
    /// The subject, such as `bank.accounts-value`.
    pub subject: String,
    /// The Rust type, when the finding concerns one.
    pub rust_type: Option<String>,
    /// The version, when the finding concerns one.
    pub version: Option<u32>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: `{}`", self.subject)?;
        if let Some(version) = self.version {
            write!(f, " version {version}")?;
        }
        if let Some(rust_type) = &self.rust_type {
            write!(f, " (`{rust_type}`)")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

/// What a check or a write found, and which files a write created.
#[derive(Debug, Default)]
pub struct Report {
    /// Every finding, in subject and version order.
    pub findings: Vec<Finding>,
    /// Files written (by [`write()`] only).
    pub written: Vec<PathBuf>,
    /// Files [`write()`] would have written, held back because a finding is an error: a run
    /// that fails publishes nothing (a `v<N>.avsc` once written counts as published).
    pub withheld: Vec<PathBuf>,
}

impl Report {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Error)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        Ok(())
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), HistoryError> {
    std::fs::write(path, text).map_err(|source| HistoryError::Io {
        action: "cannot write",
        path: path.to_owned(),
        source,
    })
}

/// A schema's identity as a version: its JSON without `doc` attributes.
pub fn identity(schema: &Value) -> Value {
    match schema {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .filter(|(key, _)| key.as_str() != "doc")
                // A default is data, not schema: it is kept as it is.
                .map(|(key, value)| {
                    let value = if key == "default" { value.clone() } else { identity(value) };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(identity).collect()),
        other => other.clone(),
    }
}

/// The fingerprint `index.json` records of a schema text: the Rabin fingerprint
/// ([`crate::schema::rabin_fingerprint`]) of its parsing canonical form, as hex; `None` when
/// the text is not a schema.
pub fn text_fingerprint(schema_json: &str) -> Option<String> {
    let schema = apache_avro::Schema::parse_str(schema_json).ok()?;
    Some(format!("{:016x}", crate::schema::rabin_fingerprint(&schema)))
}

/// Checks the schemas derived from `events` against the history under `root`. Writes nothing.
pub fn check(events: &[&VersionedType], root: &Path) -> Result<Report, HistoryError> {
    run(events, root, Write::No)
}

/// Writes the files of versions that have none, then checks like [`check`].
///
/// A published version is never rewritten: when its derived schema differs, the derived one
/// is written beside it as `v<N>.avsc.new` for review and the difference is reported. A run
/// with any error writes no version file and no index ([`Report::withheld`] lists them), so a
/// failed run never publishes a version. A `v<N>.avsc` that `index.json` does not list was
/// never published and is rewritten from the type.
pub fn write(events: &[&VersionedType], root: &Path) -> Result<Report, HistoryError> {
    run(events, root, Write::Yes)
}

/// Writes like [`write()`], and also takes doc comments edited since publication into the
/// published files: a file whose schema differs from the type in docs only is rewritten with
/// the type's text. Nothing else of a published file ever changes.
pub fn accept_docs(events: &[&VersionedType], root: &Path) -> Result<Report, HistoryError> {
    run(events, root, Write::AcceptingDocs)
}

fn run(events: &[&VersionedType], root: &Path, write: Write) -> Result<Report, HistoryError> {
    let mut report = Report::default();
    let published = read_dir(root)?;
    let mut by_subject: BTreeMap<String, SubjectDir> =
        published.into_iter().map(|dir| (dir.subject.clone(), dir)).collect();

    // Version files and indexes to write, written only when the whole run finds no error.
    let mut plan = verdict::Plan::default();
    let mut seen: BTreeMap<String, &VersionedType> = BTreeMap::new();
    for event in events {
        let subject = event.subject();
        if let Some(other) = seen.insert(subject.clone(), event) {
            report.findings.push(Finding {
                rule: Rule::TopicClaimedTwice,
                severity: Severity::Error,
                subject: subject.clone(),
                rust_type: Some(event.rust_name.to_owned()),
                version: None,
                message: format!(
                    "`{}` and `{}` both claim topic `{}`",
                    other.rust_name, event.rust_name, event.topic
                ),
                hint: Some(
                    "an aggregate's events are one enum; give each event type its own topic".into(),
                ),
            });
            continue;
        }
        // The subject has its event type even when a version fails to derive: that failure
        // is the finding, not a history without a type.
        let dir = by_subject
            .remove(&subject)
            .unwrap_or_else(|| SubjectDir { subject: subject.clone(), ..SubjectDir::default() });
        let Some(versions) = verdict::derive(event, &mut report.findings) else { continue };
        let derived = verdict::Derived { event, versions };
        verdict::compare(&derived, &dir, root, write, &mut plan, &mut report);
    }
    for dir in by_subject.into_values() {
        report.findings.push(Finding {
            rule: Rule::SubjectWithoutType,
            severity: Severity::Error,
            subject: dir.subject.clone(),
            rust_type: None,
            version: None,
            message: match crate::subject::state_name(&dir.subject) {
                Some(name) => format!(
                    "`{}` holds a published history, but no state type linked into this program is named `{name}`",
                    root.join(&dir.subject).display(),
                ),
                None => format!(
                    "`{}` holds a published history, but no event type linked into this program has topic `{}`",
                    root.join(&dir.subject).display(),
                    crate::subject::value_topic(&dir.subject).unwrap_or(&dir.subject)
                ),
            },
            hint: Some("restore the type (published history is permanent), or link its crate into the xtask".into()),
        });
    }
    report.findings.sort_by(|a, b| (&a.subject, a.version).cmp(&(&b.subject, b.version)));
    // The writes, all here: refused changes beside their versions and resolved ones removed
    // whenever the run writes, published files only when the whole run is clean.
    for (path, text) in plan.pending {
        write_file(&path, &text)?;
        report.written.push(path);
    }
    for path in plan.resolved {
        let _ = std::fs::remove_file(&path);
    }
    if report.has_errors() {
        report.withheld = plan.publish.into_iter().map(|(path, _)| path).collect();
    } else {
        for (path, text) in plan.publish {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| HistoryError::Io {
                    action: "cannot create",
                    path: parent.to_owned(),
                    source,
                })?;
            }
            write_file(&path, &text)?;
            report.written.push(path);
        }
    }
    Ok(report)
}

/// The history as a schema source: defined here, beside the layout it reads, so the codec
/// below knows nothing of `schemas/`.
impl LocalSource {
    /// A source holding every version of every subject in the history directory `root`,
    /// subjects in name order, versions ascending; state types' histories (subjects ending
    /// `-state`) are left out, as they are never registered.
    pub fn from_history(root: &Path) -> Result<Self, HistoryError> {
        let source = LocalSource::new();
        for subject in layout::read_dir(root)? {
            // State types' histories are locked there too, but no writer frames with them.
            if crate::subject::state_name(&subject.subject).is_some() {
                continue;
            }
            for version in &subject.versions {
                source.register(&subject.subject, &version.text).map_err(|source| {
                    HistoryError::Schema {
                        subject: subject.subject.clone(),
                        path: version.path.clone(),
                        source: Box::new(source),
                    }
                })?;
            }
        }
        Ok(source)
    }
}

/// Whether and how a run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    /// Check only.
    No,
    /// Write the files of new versions (and rewrite unpublished ones).
    Yes,
    /// Also take new doc comments into published files.
    AcceptingDocs,
}

impl Write {
    pub(crate) fn any(self) -> bool {
        self != Write::No
    }
}

/// The digest of a schema's identity as a version: CRC-32 of its JSON without docs, keys
/// sorted, so formatting and key order never change it while defaults, aliases and order of
/// fields do (unlike the fingerprint of the parsing canonical form).
pub fn digest(schema: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(object) => {
                let sorted: BTreeMap<&String, Value> =
                    object.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let text = sorted(&identity(schema)).to_string();
    format!("{:08x}", crc32fast::hash(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn identity_ignores_docs_but_not_defaults() {
        let a = json!({"type": "record", "name": "A", "doc": "x", "fields": [
            {"name": "f", "type": "string", "doc": "y", "default": {"doc": "kept"}}]});
        let b = json!({"type": "record", "name": "A", "fields": [
            {"name": "f", "type": "string", "default": {"doc": "kept"}}]});
        assert_eq!(identity(&a), identity(&b));
        let c = json!({"type": "record", "name": "A", "fields": [
            {"name": "f", "type": "string", "default": {"doc": "changed"}}]});
        assert_ne!(identity(&a), identity(&c));
    }

    #[test]
    fn diff_names_the_record_and_field() {
        let old = json!([{"type": "record", "name": "AccountOpened", "fields": [
            {"name": "currency", "type": "string", "default": "EUR"},
            {"name": "limit", "type": "int"}]}]);
        let new = json!([{"type": "record", "name": "AccountOpened", "fields": [
            {"name": "currency", "type": "string", "default": "USD"},
            {"name": "limit", "type": "long"}]}]);
        assert_eq!(
            diff(&old, &new),
            [
                "AccountOpened.currency: `default` was `\"EUR\"`, is now `\"USD\"`",
                "AccountOpened.limit: type was `\"int\"`, is now `\"long\"`",
            ]
        );
    }
}
