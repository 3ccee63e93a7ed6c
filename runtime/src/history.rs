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

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::event::EventType;
use crate::schema::Schema;

/// The command that regenerates `schemas/`, named in every hint.
pub const REGENERATE: &str = "cargo xtask schemas";

/// An error reading or writing the history itself (not a finding about its contents).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// A file or directory could not be read or written.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

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

/// One published version of a subject, as found in `schemas/`.
#[derive(Debug, Clone)]
pub struct PublishedVersion {
    /// The version number, from the file name `v<N>.avsc`.
    pub version: u32,
    /// The file.
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
}

/// What is committed for one subject.
#[derive(Debug, Clone, Default)]
pub struct SubjectDir {
    /// The subject, which is the directory's name.
    pub subject: String,
    /// The published versions, ascending.
    pub versions: Vec<PublishedVersion>,
    /// The parsed `index.json`, if present.
    pub index: Option<Value>,
    /// Files that match none of the names the tool writes.
    pub strays: Vec<PathBuf>,
    /// Pending files (`v<N>.avsc.new`) left by a refused write.
    pub pending: Vec<PathBuf>,
}

/// Reads every subject directory under `root` (a missing root is an empty history).
pub fn read_dir(root: &Path) -> Result<Vec<SubjectDir>, HistoryError> {
    let mut subjects = Vec::new();
    if !root.exists() {
        return Ok(subjects);
    }
    for entry in sorted_entries(root)? {
        if !entry.is_dir() {
            continue;
        }
        let subject =
            entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut dir = SubjectDir { subject, ..SubjectDir::default() };
        for file in sorted_entries(&entry)? {
            let name =
                file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name == "index.json" {
                let text = read(&file)?;
                dir.index = serde_json::from_str(&text).ok();
            } else if let Some(version) = version_of_file_name(&name) {
                let text = read(&file)?;
                dir.versions.push(PublishedVersion { version, path: file, text });
            } else if name.ends_with(".avsc.new") {
                dir.pending.push(file);
            } else {
                dir.strays.push(file);
            }
        }
        dir.versions.sort_by_key(|v| v.version);
        subjects.push(dir);
    }
    Ok(subjects)
}

/// `v12.avsc` is version 12; anything else is not a version file.
fn version_of_file_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix('v')?.strip_suffix(".avsc")?;
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&v| v > 0)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, HistoryError> {
    let io = |source| HistoryError::Io { action: "cannot list", path: dir.to_owned(), source };
    let mut entries = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    entries.sort();
    Ok(entries)
}

fn read(path: &Path) -> Result<String, HistoryError> {
    std::fs::read_to_string(path).map_err(|source| HistoryError::Io {
        action: "cannot read",
        path: path.to_owned(),
        source,
    })
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
    let finding = |version, message: String, hint: Option<String>| Finding {
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
                findings.push(finding(version, e.to_string(), None));
                ok = false;
                continue;
            }
        };
        if let Err(e) = apache_avro::Schema::parse_str(&schema.to_json().to_string()) {
            findings.push(finding(
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

/// The fingerprint Avro defines: CRC-64-AVRO (Rabin) of the parsing canonical form, as hex.
pub fn fingerprint(schema_json: &str) -> Option<String> {
    let schema = apache_avro::Schema::parse_str(schema_json).ok()?;
    let bytes = schema.fingerprint::<apache_avro::rabin::Rabin>().bytes;
    let value = u64::from_le_bytes(bytes.try_into().ok()?);
    Some(format!("{value:016x}"))
}

/// Checks the schemas derived from `events` against the history under `root`. Writes nothing.
pub fn check(events: &[&EventType], root: &Path) -> Result<Report, HistoryError> {
    run(events, root, false)
}

/// Writes the files of versions that have none, then checks like [`check`].
///
/// A published version is never rewritten: when its derived schema differs, the derived one
/// is written beside it as `v<N>.avsc.new` for review and the difference is reported.
pub fn write(events: &[&EventType], root: &Path) -> Result<Report, HistoryError> {
    run(events, root, true)
}

fn run(events: &[&EventType], root: &Path, write: bool) -> Result<Report, HistoryError> {
    let mut report = Report::default();
    let published = read_dir(root)?;
    let mut by_subject: BTreeMap<String, SubjectDir> =
        published.into_iter().map(|dir| (dir.subject.clone(), dir)).collect();

    let mut seen: BTreeMap<String, &EventType> = BTreeMap::new();
    for event in events {
        let subject = event.subject();
        if let Some(other) = seen.insert(subject.clone(), event) {
            report.findings.push(Finding {
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
        let Some(versions) = derive(event, &mut report.findings) else { continue };
        let dir = by_subject
            .remove(&subject)
            .unwrap_or_else(|| SubjectDir { subject: subject.clone(), ..SubjectDir::default() });
        compare(&Derived { event, versions }, &dir, root, write, &mut report)?;
    }
    for dir in by_subject.into_values() {
        report.findings.push(Finding {
            severity: Severity::Error,
            subject: dir.subject.clone(),
            rust_type: None,
            version: None,
            message: format!(
                "`{}` holds a published history, but no event type linked into this program has topic `{}`",
                root.join(&dir.subject).display(),
                dir.subject.strip_suffix("-value").unwrap_or(&dir.subject)
            ),
            hint: Some("restore the event type (published history is permanent), or link its crate into the xtask".into()),
        });
    }
    report.findings.sort_by(|a, b| (&a.subject, a.version).cmp(&(&b.subject, b.version)));
    Ok(report)
}

fn compare(
    derived: &Derived<'_>,
    dir: &SubjectDir,
    root: &Path,
    write: bool,
    report: &mut Report,
) -> Result<(), HistoryError> {
    let event = derived.event;
    let subject = event.subject();
    let subject_dir = root.join(&subject);
    let finding = |severity, version: Option<u32>, message: String, hint: Option<String>| Finding {
        severity,
        subject: subject.clone(),
        rust_type: Some(event.rust_name.to_owned()),
        version,
        message,
        hint,
    };
    let published: BTreeMap<u32, &PublishedVersion> =
        dir.versions.iter().map(|v| (v.version, v)).collect();
    let mut index_changed = false;
    let mut failed = false;

    for (version, schema) in &derived.versions {
        let text = schema.to_pretty_string();
        let file = subject_dir.join(format!("v{version}.avsc"));
        let pending = subject_dir.join(format!("v{version}.avsc.new"));
        let Some(published) = published.get(version) else {
            if write {
                std::fs::create_dir_all(&subject_dir).map_err(|source| HistoryError::Io {
                    action: "cannot create",
                    path: subject_dir.clone(),
                    source,
                })?;
                write_file(&file, &text)?;
                report.written.push(file);
                index_changed = true;
            } else {
                report.findings.push(finding(
                    Severity::Error,
                    Some(*version),
                    format!("version {version} has no file `{}`", file.display()),
                    Some(format!("run `{REGENERATE}` and commit the new file")),
                ));
                failed = true;
            }
            continue;
        };
        let file_json: Value = match serde_json::from_str(&published.text) {
            Ok(json) => json,
            Err(e) => {
                report.findings.push(finding(
                    Severity::Error,
                    Some(*version),
                    format!("`{}` is not valid JSON: {e}", published.path.display()),
                    Some(
                        "restore the file from version control: published versions never change"
                            .into(),
                    ),
                ));
                failed = true;
                continue;
            }
        };
        let derived_json = schema.to_json();
        let differences = diff(&identity(&file_json), &identity(&derived_json));
        if differences.is_empty() {
            if pending.exists() && write {
                let _ = std::fs::remove_file(&pending);
            }
            if file_json != derived_json {
                report.findings.push(finding(
                    Severity::Warning,
                    Some(*version),
                    format!(
                        "doc comments differ from the published `{}`; the published text stays",
                        published.path.display()
                    ),
                    None,
                ));
            }
            continue;
        }
        failed = true;
        if write {
            write_file(&pending, &text)?;
            report.written.push(pending.clone());
        }
        let shown: Vec<String> = differences.iter().take(8).map(|d| format!("  {d}")).collect();
        let more = differences.len().saturating_sub(shown.len());
        let mut message = format!(
            "type changed without a version bump: the derived schema differs from the published `{}`:\n{}",
            published.path.display(),
            shown.join("\n")
        );
        if more > 0 {
            message.push_str(&format!("\n  ... and {more} more"));
        }
        report.findings.push(finding(
            Severity::Error,
            Some(*version),
            message,
            Some(format!(
                "a published version never changes: undo the change to `{}`, or make it version {next}: raise `version` to {next}, declare the change with `in = {next}`, and run `{REGENERATE}`",
                event.rust_name,
                next = event.version + 1,
            )),
        ));
    }
    for published in &dir.versions {
        if published.version > event.version {
            report.findings.push(finding(
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
            Severity::Warning,
            None,
            format!("`{}` is not a file this tool writes", stray.display()),
            None,
        ));
    }
    for pending in &dir.pending {
        if pending.exists() && !write {
            report.findings.push(finding(
                Severity::Warning,
                None,
                format!("pending file `{}` is left over from a refused change", pending.display()),
                Some("delete it once the change is resolved".into()),
            ));
        }
    }

    let index = index_json(event, &derived.versions, dir);
    let index_path = subject_dir.join("index.json");
    let stale = dir.index.as_ref() != Some(&index);
    if write && !failed && (index_changed || stale) {
        write_file(&index_path, &pretty(&index))?;
        report.written.push(index_path);
    } else if !write && !failed && stale {
        // Only the provenance moved (the type was renamed or moved): worth a regeneration,
        // not a failure.
        let without_provenance = |v: &Value| {
            let mut v = v.clone();
            v.as_object_mut().map(|o| o.remove("rust_type"));
            v
        };
        let moved = dir.index.as_ref().map(without_provenance) == Some(without_provenance(&index));
        report.findings.push(finding(
            if moved { Severity::Warning } else { Severity::Error },
            None,
            if moved {
                format!(
                    "`{}` names another Rust type than `{}`",
                    index_path.display(),
                    event.rust_name
                )
            } else {
                format!("`{}` is missing or out of date", index_path.display())
            },
            Some(format!("run `{REGENERATE}` and commit the result")),
        ));
    }
    Ok(())
}

/// The index of a subject: provenance and the fingerprint of every version's published text.
fn index_json(event: &EventType, versions: &[(u32, Schema)], dir: &SubjectDir) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|(version, schema)| {
            // The fingerprint is of what is published, which may differ in docs only.
            let text = dir
                .versions
                .iter()
                .find(|p| p.version == *version)
                .map(|p| p.text.clone())
                .unwrap_or_else(|| schema.to_pretty_string());
            json!({
                "version": version,
                "file": format!("v{version}.avsc"),
                "fingerprint": fingerprint(&text).unwrap_or_default(),
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
    let mut out = Vec::new();
    diff_at("", published, derived, &mut out);
    out
}

fn diff_at(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    if old == new {
        return;
    }
    let here = if path.is_empty() { "(top level)".to_owned() } else { path.to_owned() };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            // A named type's path starts at its name: `AccountOpened.currency`.
            let defines_type = ["fields", "symbols", "size"].iter().any(|k| a.contains_key(*k));
            let path = match a.get("name").and_then(Value::as_str) {
                Some(name) if defines_type => name.to_owned(),
                _ => path.to_owned(),
            };
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) if key == "fields" => diff_fields(&path, x, y, out),
                    (Some(x), Some(y)) if key == "type" || key == "items" || key == "values" => {
                        diff_at(&path, x, y, out)
                    }
                    (Some(x), Some(y)) if x != y => out
                        .push(format!("{}: `{key}` was `{x}`, is now `{y}`", display_path(&path))),
                    (Some(x), None) => {
                        out.push(format!("{}: `{key}` `{x}` was removed", display_path(&path)))
                    }
                    (None, Some(y)) => {
                        out.push(format!("{}: `{key}` `{y}` was added", display_path(&path)))
                    }
                    _ => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            // A union: its branches are compared by position, named ones reported by name.
            let names = |v: &Vec<Value>| v.iter().map(branch_name).collect::<Vec<_>>();
            if names(a) != names(b) {
                out.push(format!(
                    "{here}: union branches were [{}], are now [{}]",
                    names(a).join(", "),
                    names(b).join(", ")
                ));
            } else {
                for (x, y) in a.iter().zip(b) {
                    diff_at(path, x, y, out);
                }
            }
        }
        _ => out.push(format!("{here}: type was `{old}`, is now `{new}`")),
    }
}

fn diff_fields(record: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    let (Some(old), Some(new)) = (old.as_array(), new.as_array()) else {
        return out.push(format!("{record}: `fields` is not an array"));
    };
    let name = |f: &Value| f.get("name").and_then(Value::as_str).unwrap_or("?").to_owned();
    let old_names: Vec<String> = old.iter().map(name).collect();
    let new_names: Vec<String> = new.iter().map(name).collect();
    for field in old {
        let field_name = name(field);
        let path = format!("{record}.{field_name}");
        match new.iter().find(|f| name(f) == field_name) {
            None => out.push(format!("{path}: the field was removed")),
            Some(now) => diff_at_field(&path, field, now, out),
        }
    }
    for field in new {
        if !old_names.contains(&name(field)) {
            out.push(format!("{record}.{}: the field was added", name(field)));
        }
    }
    let common_old: Vec<&String> = old_names.iter().filter(|n| new_names.contains(n)).collect();
    let common_new: Vec<&String> = new_names.iter().filter(|n| old_names.contains(n)).collect();
    if common_old != common_new {
        out.push(format!("{record}: the fields were reordered"));
    }
}

fn diff_at_field(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    let (Some(a), Some(b)) = (old.as_object(), new.as_object()) else { return };
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) if key == "type" => diff_at(path, x, y, out),
            (Some(x), Some(y)) if x != y => {
                out.push(format!("{path}: `{key}` was `{x}`, is now `{y}`"))
            }
            (Some(x), None) => out.push(format!("{path}: `{key}` `{x}` was removed")),
            (None, Some(y)) => out.push(format!("{path}: `{key}` `{y}` was added")),
            _ => {}
        }
    }
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
    fn version_files_are_named_v_and_a_positive_number() {
        assert_eq!(version_of_file_name("v1.avsc"), Some(1));
        assert_eq!(version_of_file_name("v12.avsc"), Some(12));
        assert_eq!(version_of_file_name("v0.avsc"), None);
        assert_eq!(version_of_file_name("v01.avsc"), None);
        assert_eq!(version_of_file_name("v1.avsc.new"), None);
        assert_eq!(version_of_file_name("x1.avsc"), None);
    }

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
