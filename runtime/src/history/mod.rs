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
mod layout;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::codec::LocalSource;
use crate::history::catalog::EventType;
pub use crate::history::layout::{
    HistoryError, PublishedVersion, SubjectDir, read_dir, version_file, version_file_name,
};
use crate::schema::Schema;

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

/// One thing the check found, with the coordinates to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule, as reports name it (`TYPE_CHANGED`, `FILE_EDITED`, `MISSING_FILE`, ...).
    pub rule: &'static str,
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

/// The derived history of one event type: its schema at every version, or why it failed.
struct Derived<'a> {
    event: &'a EventType,
    versions: Vec<(u32, Schema)>,
}

/// Derives every version of `event`, reporting failures and the invariants of a history:
/// each version parses with apache-avro and differs from the one before.
fn derive(event: &EventType, findings: &mut Vec<Finding>) -> Option<Vec<(u32, Schema)>> {
    let subject = event.subject();
    let finding = |rule, version, message: String, hint: Option<String>| Finding {
        rule,
        severity: Severity::Error,
        subject: subject.clone(),
        rust_type: Some(event.rust_name.to_owned()),
        version: Some(version),
        message,
        hint,
    };
    let mut versions = Vec::new();
    let mut ok = true;
    for version in 1..=event.version {
        let schema = match event.schema(version) {
            Ok(schema) => schema,
            Err(e) => {
                findings.push(finding("SCHEMA_NOT_DERIVED", version, e.to_string(), None));
                ok = false;
                continue;
            }
        };
        if let Err(e) = apache_avro::Schema::parse_str(&schema.to_json().to_string()) {
            findings.push(finding(
                "SCHEMA_NOT_AVRO",
                version,
                format!("apache-avro rejects the derived schema: {e}"),
                None,
            ));
            ok = false;
        }
        versions.push((version, schema));
    }
    // A version must change the schema: a registry keeps one version per distinct schema, so
    // an unchanged version would shift every later number away from the subject's.
    for pair in versions.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        if identity(&before.1.to_json()) == identity(&after.1.to_json()) {
            findings.push(finding(
                "EMPTY_VERSION",
                after.0,
                format!("version {} changes nothing since version {}", after.0, before.0),
                Some("every version must change the schema; remove the empty version".into()),
            ));
            ok = false;
        }
    }
    // Nothing may change past the declared latest version either.
    if let (true, Some((latest, schema))) = (ok, versions.last())
        && let Ok(next) = event.schema_beyond_latest(latest + 1)
        && identity(&next.to_json()) != identity(&schema.to_json())
    {
        findings.push(finding(
            "CHANGE_BEYOND_LATEST",
            latest + 1,
            format!("a record declares a change in version {} but the event's latest version is {latest}", latest + 1),
            Some(format!("declare `version = {}` on the event type", latest + 1)),
        ));
        ok = false;
    }
    ok.then_some(versions)
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
pub fn check(events: &[&EventType], root: &Path) -> Result<Report, HistoryError> {
    run(events, root, Write::No)
}

/// Writes the files of versions that have none, then checks like [`check`].
///
/// A published version is never rewritten: when its derived schema differs, the derived one
/// is written beside it as `v<N>.avsc.new` for review and the difference is reported. A run
/// with any error writes no version file and no index ([`Report::withheld`] lists them), so a
/// failed run never publishes a version. A `v<N>.avsc` that `index.json` does not list was
/// never published and is rewritten from the type.
pub fn write(events: &[&EventType], root: &Path) -> Result<Report, HistoryError> {
    run(events, root, Write::Yes)
}

/// Writes like [`write()`], and also takes doc comments edited since publication into the
/// published files: a file whose schema differs from the type in docs only is rewritten with
/// the type's text. Nothing else of a published file ever changes.
pub fn accept_docs(events: &[&EventType], root: &Path) -> Result<Report, HistoryError> {
    run(events, root, Write::AcceptingDocs)
}

fn run(events: &[&EventType], root: &Path, write: Write) -> Result<Report, HistoryError> {
    let mut report = Report::default();
    let published = read_dir(root)?;
    let mut by_subject: BTreeMap<String, SubjectDir> =
        published.into_iter().map(|dir| (dir.subject.clone(), dir)).collect();

    // Version files and indexes to write, written only when the whole run finds no error.
    let mut plan: Vec<(PathBuf, String)> = Vec::new();
    let mut seen: BTreeMap<String, &EventType> = BTreeMap::new();
    for event in events {
        let subject = event.subject();
        if let Some(other) = seen.insert(subject.clone(), event) {
            report.findings.push(Finding {
                rule: "TOPIC_CLAIMED_TWICE",
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
        let Some(versions) = derive(event, &mut report.findings) else { continue };
        compare(&Derived { event, versions }, &dir, root, write, &mut plan, &mut report)?;
    }
    for dir in by_subject.into_values() {
        report.findings.push(Finding {
            rule: "SUBJECT_WITHOUT_TYPE",
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
    if report.has_errors() {
        report.withheld = plan.into_iter().map(|(path, _)| path).collect();
    } else {
        for (path, text) in plan {
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

fn compare(
    derived: &Derived<'_>,
    dir: &SubjectDir,
    root: &Path,
    write: Write,
    plan: &mut Vec<(PathBuf, String)>,
    report: &mut Report,
) -> Result<(), HistoryError> {
    let event = derived.event;
    let subject = event.subject();
    let subject_dir = root.join(&subject);
    let finding =
        |rule, severity, version: Option<u32>, message: String, hint: Option<String>| Finding {
            rule,
            severity,
            subject: subject.clone(),
            rust_type: Some(event.rust_name.to_owned()),
            version,
            message,
            hint,
        };
    let published: BTreeMap<u32, &PublishedVersion> =
        dir.versions.iter().map(|v| (v.version, v)).collect();
    let indexed = dir.index.as_ref().map(IndexedVersions::of);
    let next = event.version + 1;
    let mut index_changed = false;
    let mut failed = false;
    // Doc comments that differ from the published text: each place once, with its versions.
    let mut docs: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    // The text each version has once this run's writes are done, for the index.
    let mut texts: BTreeMap<u32, String> =
        dir.versions.iter().map(|v| (v.version, v.text.clone())).collect();
    // A file to write once the whole run is clean, and its text for the index.
    let mut stage = |version: u32, file: PathBuf, text: String| {
        texts.insert(version, text.clone());
        plan.push((file, text));
    };

    for (version, schema) in &derived.versions {
        let text = schema.to_pretty_string();
        let file = version_file(root, &subject, *version);
        let pending = subject_dir.join(format!("v{version}.avsc.new"));
        let Some(published) = published.get(version) else {
            if write.any() {
                stage(*version, file, text);
                index_changed = true;
            } else {
                report.findings.push(finding(
                    "MISSING_FILE",
                    Severity::Error,
                    Some(*version),
                    format!("version {version} has no file `{}`", file.display()),
                    Some(format!("run `{REGENERATE}` and commit the new file")),
                ));
                failed = true;
            }
            continue;
        };
        // A file `index.json` does not list was never published: a run that failed wrote it
        // (before such runs wrote nothing), or a hand did. It follows the type.
        let unlisted = indexed.as_ref().is_some_and(|i| !i.versions.contains_key(version));
        let derived_json = schema.to_json();
        let file_json: Option<Value> = serde_json::from_str(&published.text).ok();
        let same = file_json.as_ref().is_some_and(|f| identity(f) == identity(&derived_json));
        if unlisted && !same {
            if write.any() {
                stage(*version, file.clone(), text);
                index_changed = true;
                report.findings.push(finding(
                    "UNPUBLISHED_FILE",
                    Severity::Warning,
                    Some(*version),
                    format!(
                        "`{}` is not listed in `index.json`, so it was never published: rewritten from the type",
                        published.path.display()
                    ),
                    None,
                ));
            } else {
                report.findings.push(finding(
                    "UNPUBLISHED_FILE",
                    Severity::Error,
                    Some(*version),
                    format!(
                        "`{}` is not listed in `index.json`, so it was never published, and it differs from the type",
                        published.path.display()
                    ),
                    Some(format!("run `{REGENERATE}`: it rewrites unpublished files")),
                ));
                failed = true;
            }
            continue;
        }
        let Some(file_json) = file_json else {
            let e = serde_json::from_str::<Value>(&published.text).expect_err("it failed above");
            report.findings.push(finding(
                "FILE_NOT_JSON",
                Severity::Error,
                Some(*version),
                format!("`{}` is not valid JSON: {e}", published.path.display()),
                Some(format!("restore the file from version control (`git checkout -- {}`): published versions never change", published.path.display())),
            ));
            failed = true;
            continue;
        };
        if same {
            if pending.exists() && write.any() {
                let _ = std::fs::remove_file(&pending);
            }
            if file_json != derived_json {
                let mut places = Vec::new();
                docs_at("", &file_json, &derived_json, &mut places);
                for place in places {
                    docs.entry(place).or_default().push(*version);
                }
                if write == Write::AcceptingDocs {
                    stage(*version, file.clone(), text);
                }
            }
            continue;
        }
        failed = true;
        if write.any() {
            write_file(&pending, &text)?;
            report.written.push(pending.clone());
        }
        let differences = Diff::of(&identity(&file_json), &identity(&derived_json));
        let shown: Vec<String> =
            differences.lines.iter().take(8).map(|d| format!("  {d}")).collect();
        let more = differences.lines.len().saturating_sub(shown.len());
        let mut listing = shown.join("\n");
        if more > 0 {
            listing.push_str(&format!("\n  ... and {more} more"));
        }
        let path = published.path.display();
        let restore = format!("restore the file from version control (`git checkout -- {path}`)");
        // Edited by hand: the file no longer has the digest recorded when it was published.
        let recorded = indexed.as_ref().and_then(|i| i.versions.get(version));
        if let Some(recorded) = recorded.filter(|r| !r.matches(&file_json, &published.text)) {
            let type_unchanged = recorded.matches(&derived_json, &text);
            report.findings.push(finding(
                "FILE_EDITED",
                Severity::Error,
                Some(*version),
                format!(
                    "`{path}` was edited after publication (it no longer matches what `index.json` recorded); it differs from the type at:\n{listing}"
                ),
                Some(if type_unchanged {
                    format!("{restore}: the type still derives the published schema, and a published version never changes")
                } else {
                    format!("{restore}; the type changed too: then undo that change or make it version {next}")
                }),
            ));
            continue;
        }
        let hint = if differences.moved.is_empty() {
            format!(
                "a published version never changes: undo the change to `{}`, or make it version {next}: raise `version` to {next}, declare the change with `in = {next}`, and run `{REGENERATE}`",
                event.rust_name,
            )
        } else {
            differences.moved.iter().map(Moved::hint).collect::<Vec<_>>().join("; ")
        };
        report.findings.push(finding(
            "TYPE_CHANGED",
            Severity::Error,
            Some(*version),
            format!(
                "type changed without a version bump: the derived schema differs from the published `{path}`:\n{listing}"
            ),
            Some(hint),
        ));
    }
    if !docs.is_empty() {
        let places: Vec<String> = docs
            .iter()
            .map(|(place, versions)| {
                let versions: Vec<String> = versions.iter().map(u32::to_string).collect();
                format!("`{place}` (version {})", versions.join(", "))
            })
            .collect();
        let (message, hint) = if write == Write::AcceptingDocs {
            (
                format!(
                    "took the new doc comments of {} into the published files",
                    places.join(", ")
                ),
                None,
            )
        } else {
            (
                format!(
                    "doc comments differ from the published files at {}; the published text stays",
                    places.join(", ")
                ),
                Some(format!(
                    "to publish the new text, run `{REGENERATE} --accept-docs` (it rewrites the docs of published files, nothing else; a registry keeps the text it holds, and docs do not change how data is read)"
                )),
            )
        };
        report.findings.push(finding("DOCS_CHANGED", Severity::Warning, None, message, hint));
    }
    for published in &dir.versions {
        if published.version > event.version {
            report.findings.push(finding(
                "FILE_WITHOUT_VERSION",
                Severity::Error,
                Some(published.version),
                format!(
                    "`{}` matches no derived version: the latest version of `{}` is {}",
                    published.path.display(),
                    event.rust_name,
                    event.version
                ),
                Some(
                    "published history is permanent: restore the versions of the event type".into(),
                ),
            ));
            failed = true;
        }
    }
    for stray in &dir.strays {
        report.findings.push(finding(
            "STRAY_FILE",
            Severity::Warning,
            None,
            format!("`{}` is not a file this tool writes", stray.display()),
            None,
        ));
    }
    for pending in &dir.pending {
        if pending.exists() && !write.any() {
            report.findings.push(finding(
                "PENDING_FILE",
                Severity::Warning,
                None,
                format!("pending file `{}` is left over from a refused change", pending.display()),
                Some("delete it once the change is resolved".into()),
            ));
        }
    }

    let index = index_json(event, &derived.versions, &texts);
    let index_path = subject_dir.join("index.json");
    let stale = dir.index.as_ref() != Some(&index);
    if write.any() && !failed && (index_changed || stale) {
        plan.push((index_path, pretty(&index)));
    } else if !write.any() && !failed && stale {
        // Only the provenance moved (the type was renamed or moved): worth a regeneration,
        // not a failure.
        let without_provenance = |v: &Value| {
            let mut v = v.clone();
            v.as_object_mut().map(|o| o.remove("rust_type"));
            v
        };
        let moved = dir.index.as_ref().map(without_provenance) == Some(without_provenance(&index));
        // Written by a release before per-version digests: read as it is (the fingerprints
        // stand in for the digests), and upgraded by the next write, as cargo upgrades an
        // older lockfile.
        let older = dir.index.as_ref().is_some_and(|old| is_older_format(old, &index));
        let (code, severity, message) = if moved {
            (
                "INDEX_PROVENANCE",
                Severity::Warning,
                format!(
                    "`{}` names another Rust type than `{}`",
                    index_path.display(),
                    event.rust_name
                ),
            )
        } else if older {
            (
                "INDEX_FORMAT",
                Severity::Warning,
                format!(
                    "`{}` was written by an earlier release, without per-version digests",
                    index_path.display()
                ),
            )
        } else {
            (
                "INDEX_STALE",
                Severity::Error,
                format!("`{}` is missing or out of date", index_path.display()),
            )
        };
        report.findings.push(finding(
            code,
            severity,
            None,
            message,
            Some(format!("run `{REGENERATE}` and commit the result")),
        ));
    }
    Ok(())
}

/// Whether `old` is `new` as a release before per-version digests wrote it: the same index
/// with no `digest` in any version.
fn is_older_format(old: &Value, new: &Value) -> bool {
    let versions = |index: &Value| index.get("versions").and_then(Value::as_array).cloned();
    let Some(old_versions) = versions(old) else { return false };
    if old_versions.iter().any(|v| v.get("digest").is_some()) {
        return false;
    }
    let mut without_digests = new.clone();
    if let Some(entries) = without_digests.get_mut("versions").and_then(Value::as_array_mut) {
        for entry in entries {
            entry.as_object_mut().map(|o| o.remove("digest"));
        }
    }
    *old == without_digests
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
enum Write {
    /// Check only.
    No,
    /// Write the files of new versions (and rewrite unpublished ones).
    Yes,
    /// Also take new doc comments into published files.
    AcceptingDocs,
}

impl Write {
    fn any(self) -> bool {
        self != Write::No
    }
}

/// What `index.json` recorded of each published version.
struct IndexedVersions {
    versions: BTreeMap<u32, Recorded>,
}

/// One version's entry in `index.json`.
struct Recorded {
    /// The Rabin fingerprint of the parsing canonical form.
    fingerprint: Option<String>,
    /// The digest of the schema's identity ([`digest`]); indexes written before it lack it.
    digest: Option<String>,
}

impl IndexedVersions {
    fn of(index: &Value) -> Self {
        let versions = index
            .get("versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let version = u32::try_from(entry.get("version")?.as_u64()?).ok()?;
                let text = |key| entry.get(key).and_then(Value::as_str).map(str::to_owned);
                Some((
                    version,
                    Recorded { fingerprint: text("fingerprint"), digest: text("digest") },
                ))
            })
            .collect();
        IndexedVersions { versions }
    }
}

impl Recorded {
    /// Whether a schema (its JSON and text) is the one recorded: by digest, or by fingerprint
    /// for an index without digests (which misses edits of defaults, aliases and order).
    fn matches(&self, json: &Value, text: &str) -> bool {
        match (&self.digest, &self.fingerprint) {
            (Some(recorded), _) => *recorded == digest(json),
            (None, Some(recorded)) => text_fingerprint(text).as_ref() == Some(recorded),
            (None, None) => true,
        }
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

/// The index of a subject: provenance and, for every version's published text, the
/// fingerprint of its parsing canonical form and the digest of its identity.
fn index_json(
    event: &EventType,
    versions: &[(u32, Schema)],
    texts: &BTreeMap<u32, String>,
) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|(version, schema)| {
            // The fingerprint is of what is published, which may differ in docs only.
            let text = texts.get(version).cloned().unwrap_or_else(|| schema.to_pretty_string());
            let json = serde_json::from_str(&text).unwrap_or_else(|_| schema.to_json());
            json!({
                "version": version,
                "file": version_file_name(*version),
                "fingerprint": text_fingerprint(&text).unwrap_or_default(),
                "digest": digest(&json),
            })
        })
        .collect();
    json!({
        "subject": event.subject(),
        "topic": event.topic,
        "rust_type": event.rust_name,
        "generated_by": REGENERATE,
        "versions": versions,
    })
}

fn pretty(value: &Value) -> String {
    let mut text =
        serde_json::to_string_pretty(value).expect("a serde_json::Value always serializes");
    text.push('\n');
    text
}

/// The differences between a published schema and a derived one, as readable lines naming
/// the record, field and attribute, such as
/// ``AccountOpened.currency: `default` was `"EUR"`, is now `"USD"` ``.
pub fn diff(published: &Value, derived: &Value) -> Vec<String> {
    Diff::of(published, derived).lines
}

/// The differences, with the fields and union branches that moved.
#[derive(Default)]
struct Diff {
    lines: Vec<String>,
    moved: Vec<Moved>,
}

/// A field or union branch at another place than in the published version: what a removed
/// field or retired variant without `after` looks like.
struct Moved {
    /// The record, or the union's place.
    within: String,
    /// The field or branch.
    item: String,
    /// What it stood after in the published version (none: it stood first).
    after: Option<String>,
    /// A union branch rather than a field.
    branch: bool,
}

impl Moved {
    fn hint(&self) -> String {
        let item = &self.item;
        let within = &self.within;
        match (&self.after, self.branch) {
            (Some(after), false) => format!(
                "`{item}` stood after `{after}` in `{within}`: if `{item}` was removed, declare its place with `after = \"{after}\"` in `removed(field = \"{item}\", ...)`"
            ),
            (None, false) => format!(
                "`{item}` stood first in `{within}`: a removed field goes after the one `after` names, so declare it after the field that now comes first and keep that order"
            ),
            (Some(after), true) => format!(
                "the branch `{item}` stood after `{after}` in the union: if its variant was retired, declare its place with `after = \"<the variant of {after}>\"` in `retired(variant = ..., ty = \"{item}\", ...)`"
            ),
            (None, true) => format!(
                "the branch `{item}` stood first in the union: a retired variant goes after the one `after` names"
            ),
        }
    }
}

impl Diff {
    fn of(published: &Value, derived: &Value) -> Self {
        let mut diff = Diff::default();
        diff.at("", published, derived);
        diff
    }

    fn at(&mut self, path: &str, old: &Value, new: &Value) {
        if old == new {
            return;
        }
        let here = display_path(path).to_owned();
        match (old, new) {
            (Value::Object(a), Value::Object(b)) => {
                let path = type_path(path, a);
                let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for key in keys {
                    match (a.get(key), b.get(key)) {
                        (Some(x), Some(y)) if key == "fields" => self.fields(&path, x, y),
                        (Some(x), Some(y))
                            if key == "type" || key == "items" || key == "values" =>
                        {
                            self.at(&path, x, y)
                        }
                        _ => self.attribute(&path, key, a.get(key), b.get(key)),
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) => {
                // A union: its branches are compared by position, named ones reported by name.
                let old_names: Vec<String> = a.iter().map(branch_name).collect();
                let new_names: Vec<String> = b.iter().map(branch_name).collect();
                if old_names != new_names {
                    self.lines.push(format!(
                        "{here}: union branches were [{}], are now [{}]",
                        old_names.join(", "),
                        new_names.join(", ")
                    ));
                    self.reordered(&here, &old_names, &new_names, true);
                } else {
                    for (x, y) in a.iter().zip(b) {
                        self.at(path, x, y);
                    }
                }
            }
            _ => self.lines.push(format!("{here}: type was `{old}`, is now `{new}`")),
        }
    }

    fn attribute(&mut self, path: &str, key: &str, old: Option<&Value>, new: Option<&Value>) {
        let path = display_path(path);
        match (old, new) {
            (Some(x), Some(y)) if x != y => {
                self.lines.push(format!("{path}: `{key}` was `{x}`, is now `{y}`"))
            }
            (Some(x), None) => self.lines.push(format!("{path}: `{key}` `{x}` was removed")),
            (None, Some(y)) => self.lines.push(format!("{path}: `{key}` `{y}` was added")),
            _ => {}
        }
    }

    fn fields(&mut self, record: &str, old: &Value, new: &Value) {
        let (Some(old), Some(new)) = (old.as_array(), new.as_array()) else {
            return self.lines.push(format!("{record}: `fields` is not an array"));
        };
        let old_names: Vec<String> = old.iter().map(field_name).collect();
        let new_names: Vec<String> = new.iter().map(field_name).collect();
        for field in old {
            let name = field_name(field);
            let path = format!("{record}.{name}");
            match new.iter().find(|f| field_name(f) == name) {
                None => self.lines.push(format!("{path}: the field was removed")),
                Some(now) => self.field(&path, field, now),
            }
        }
        for field in new {
            if !old_names.contains(&field_name(field)) {
                self.lines.push(format!("{record}.{}: the field was added", field_name(field)));
            }
        }
        let common_old: Vec<String> =
            old_names.iter().filter(|n| new_names.contains(n)).cloned().collect();
        let common_new: Vec<String> =
            new_names.iter().filter(|n| old_names.contains(n)).cloned().collect();
        if common_old != common_new {
            let line = self.lines.len();
            self.lines.push(format!("{record}: the fields were reordered"));
            if let Some(moved) = self.reordered(record, &common_old, &common_new, false) {
                self.lines[line] = format!(
                    "{record}: the fields were reordered: `{}` stood {}",
                    moved.item,
                    moved.after.as_ref().map_or("first".into(), |a| format!("after `{a}`"))
                );
            }
        }
    }

    fn field(&mut self, path: &str, old: &Value, new: &Value) {
        let (Some(a), Some(b)) = (old.as_object(), new.as_object()) else { return };
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for key in keys {
            match (a.get(key), b.get(key)) {
                (Some(x), Some(y)) if key == "type" => self.at(path, x, y),
                _ => self.attribute(path, key, a.get(key), b.get(key)),
            }
        }
    }

    /// Finds the one item whose move explains a reordering of the same items, and records it.
    fn reordered(
        &mut self,
        within: &str,
        old: &[String],
        new: &[String],
        branch: bool,
    ) -> Option<&Moved> {
        let mut sorted_old = old.to_vec();
        let mut sorted_new = new.to_vec();
        sorted_old.sort();
        sorted_new.sort();
        if sorted_old != sorted_new {
            return None;
        }
        let without = |items: &[String], item: &String| -> Vec<String> {
            items.iter().filter(|i| *i != item).cloned().collect()
        };
        // The item that stands elsewhere: removed from both orders, the rest agree. Of two
        // neighbours that swapped, the later one in the derived order is the one that moved.
        let item = new.iter().rev().find(|item| without(old, item) == without(new, item))?;
        let at = old.iter().position(|i| i == item)?;
        self.moved.push(Moved {
            within: within.to_owned(),
            item: item.clone(),
            after: at.checked_sub(1).map(|i| old[i].clone()),
            branch,
        });
        self.moved.last()
    }
}

/// Where doc comments differ between two schemas that are the same version: the record or
/// `record.field` of each.
fn docs_at(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let path = type_path(path, a);
            if a.get("doc") != b.get("doc") {
                out.push(display_path(&path).to_owned());
            }
            if let (Some(x), Some(y)) = (
                a.get("fields").and_then(Value::as_array),
                b.get("fields").and_then(Value::as_array),
            ) {
                for (x, y) in x.iter().zip(y) {
                    let field = format!("{path}.{}", field_name(x));
                    if x.get("doc") != y.get("doc") {
                        out.push(field.clone());
                    }
                    if let (Some(x), Some(y)) = (x.get("type"), y.get("type")) {
                        docs_at(&field, x, y, out);
                    }
                }
            }
            for key in ["type", "items", "values"] {
                if let (Some(x), Some(y)) = (a.get(key), b.get(key)) {
                    docs_at(&path, x, y, out);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (x, y) in a.iter().zip(b) {
                docs_at(path, x, y, out);
            }
        }
        _ => {}
    }
}

/// A named type's path starts at its name: `AccountOpened.currency`.
fn type_path(path: &str, object: &serde_json::Map<String, Value>) -> String {
    let defines_type = ["fields", "symbols", "size"].iter().any(|k| object.contains_key(*k));
    match object.get("name").and_then(Value::as_str) {
        Some(name) if defines_type => name.to_owned(),
        _ => path.to_owned(),
    }
}

fn field_name(field: &Value) -> String {
    field.get("name").and_then(Value::as_str).unwrap_or("?").to_owned()
}

fn branch_name(branch: &Value) -> String {
    match branch {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("name")
            .or_else(|| o.get("type"))
            .map(|v| v.as_str().unwrap_or("?").to_owned())
            .unwrap_or_else(|| "?".into()),
        other => other.to_string(),
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "(top level)" } else { path }
}

#[cfg(test)]
mod tests {
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
