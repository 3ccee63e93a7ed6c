//! The history check as pure verdicts: every version of a type derived and checked against
//! its neighbours ([`derive`]), then each derived version judged against what `schemas/`
//! holds ([`judge`]), then the subject's findings and writes planned ([`compare`]). Nothing
//! here touches the disk: [`super::run`] reads the history first and writes last.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::diff::{Diff, Moved, docs_at};
use super::index::{IndexedVersions, Recorded, index_json, is_older_format, pretty};
use super::{
    Finding, PublishedVersion, REGENERATE, Report, Rule, Severity, SubjectDir, Write, identity,
    version_file,
};
use crate::history::catalog::VersionedType;
use crate::schema::Schema;

/// The derived history of one type: its schema at every version.
pub(super) struct Derived<'a> {
    pub(super) event: &'a VersionedType,
    pub(super) versions: Vec<(u32, Schema)>,
}

/// The files a run writes: published ones only when the whole run finds no error; pending
/// ones (`v<N>.avsc.new`, a refused change written beside its version for review) and stale
/// pending ones removed whenever the run writes at all.
#[derive(Default)]
pub(super) struct Plan {
    pub(super) publish: Vec<(PathBuf, String)>,
    pub(super) pending: Vec<(PathBuf, String)>,
    pub(super) resolved: Vec<PathBuf>,
}

/// The finding of `rule` about `event`'s subject.
fn finding(
    event: &VersionedType,
    rule: Rule,
    severity: Severity,
    version: Option<u32>,
    message: String,
    hint: Option<String>,
) -> Finding {
    Finding {
        rule,
        severity,
        subject: event.subject(),
        rust_type: Some(event.rust_name.to_owned()),
        version,
        message,
        hint,
    }
}

/// Derives every version of `event`, reporting failures and the invariants of a history:
/// each version parses with apache-avro and differs from the one before.
pub(super) fn derive(
    event: &VersionedType,
    findings: &mut Vec<Finding>,
) -> Option<Vec<(u32, Schema)>> {
    let error = |rule, version, message: String, hint: Option<String>| {
        finding(event, rule, Severity::Error, Some(version), message, hint)
    };
    let mut versions = Vec::new();
    let mut ok = true;
    for version in 1..=event.version {
        let schema = match event.schema(version) {
            Ok(schema) => schema,
            Err(e) => {
                findings.push(error(Rule::SchemaNotDerived, version, e.to_string(), None));
                ok = false;
                continue;
            }
        };
        if let Err(e) = apache_avro::Schema::parse_str(&schema.to_json().to_string()) {
            findings.push(error(
                Rule::SchemaNotAvro,
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
            findings.push(error(
                Rule::EmptyVersion,
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
        findings.push(error(
            Rule::ChangeBeyondLatest,
            latest + 1,
            format!("a record declares a change in version {} but the event's latest version is {latest}", latest + 1),
            Some(format!("declare `version = {}` on the event type", latest + 1)),
        ));
        ok = false;
    }
    ok.then_some(versions)
}

/// What one derived version is, against what `schemas/` holds for it.
enum Verdict {
    /// No file: a new version.
    New,
    /// A file `index.json` does not list (never published) that differs from the type.
    Unpublished,
    /// A file that is not JSON.
    NotJson(serde_json::Error),
    /// The published version, the same but for doc comments at these places (if any).
    Same { doc_places: Vec<String> },
    /// A published file edited by hand: it no longer has what `index.json` recorded
    /// (`type_unchanged`: the type still derives what was recorded).
    Edited { differences: Diff, type_unchanged: bool },
    /// A published version whose type now derives another schema.
    Changed { differences: Diff },
}

/// The verdict on a derived version (`json`, as `text`) against its file, if any, and what
/// the index recorded of it, if it lists it.
fn judge(
    json: &Value,
    text: &str,
    published: Option<&PublishedVersion>,
    indexed: Option<&IndexedVersions>,
    version: u32,
) -> Verdict {
    let Some(published) = published else { return Verdict::New };
    // A file `index.json` does not list was never published: a run that failed wrote it
    // (before such runs wrote nothing), or a hand did. It follows the type.
    let unlisted = indexed.is_some_and(|i| !i.versions.contains_key(&version));
    let file_json = match serde_json::from_str::<Value>(&published.text) {
        Ok(file_json) => file_json,
        Err(_) if unlisted => return Verdict::Unpublished,
        Err(e) => return Verdict::NotJson(e),
    };
    if identity(&file_json) == identity(json) {
        let mut doc_places = Vec::new();
        if file_json != *json {
            docs_at("", &file_json, json, &mut doc_places);
        }
        return Verdict::Same { doc_places };
    }
    if unlisted {
        return Verdict::Unpublished;
    }
    let differences = Diff::of(&identity(&file_json), &identity(json));
    let recorded: Option<&Recorded> = indexed.and_then(|i| i.versions.get(&version));
    match recorded.filter(|r| !r.matches(&file_json, &published.text)) {
        Some(recorded) => {
            Verdict::Edited { differences, type_unchanged: recorded.matches(json, text) }
        }
        None => Verdict::Changed { differences },
    }
}

/// The first differences, one per line, and how many more there are.
fn listing(differences: &Diff) -> String {
    let shown: Vec<String> = differences.lines.iter().take(8).map(|d| format!("  {d}")).collect();
    let more = differences.lines.len().saturating_sub(shown.len());
    let mut listing = shown.join("\n");
    if more > 0 {
        listing.push_str(&format!("\n  ... and {more} more"));
    }
    listing
}

/// Checks a derived history against the subject's directory: every version's verdict turned
/// into findings and planned writes, then what the directory holds beyond the versions, then
/// the index.
pub(super) fn compare(
    derived: &Derived<'_>,
    dir: &SubjectDir,
    root: &Path,
    write: Write,
    plan: &mut Plan,
    report: &mut Report,
) {
    let event = derived.event;
    let subject = event.subject();
    let subject_dir = root.join(&subject);
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

    for (version, schema) in &derived.versions {
        let version = *version;
        let text = schema.to_pretty_string();
        let json = schema.to_json();
        let file = version_file(root, &subject, version);
        let pending = subject_dir.join(format!("v{version}.avsc.new"));
        let found = published.get(&version).copied();
        // The published file, for messages (no verdict but `New` has none).
        let path = found.map(|p| p.path.display().to_string()).unwrap_or_default();
        let mut push = |rule, severity, message: String, hint: Option<String>| {
            failed |= severity == Severity::Error;
            report.findings.push(finding(event, rule, severity, Some(version), message, hint));
        };
        let mut stage = |text: String| {
            texts.insert(version, text.clone());
            plan.publish.push((file.clone(), text));
        };
        match judge(&json, &text, found, indexed.as_ref(), version) {
            Verdict::New if write.any() => {
                stage(text);
                index_changed = true;
            }
            Verdict::New => push(
                Rule::MissingFile,
                Severity::Error,
                format!("version {version} has no file `{}`", file.display()),
                Some(format!("run `{REGENERATE}` and commit the new file")),
            ),
            Verdict::Unpublished => {
                if write.any() {
                    stage(text);
                    index_changed = true;
                    push(
                        Rule::UnpublishedFile,
                        Severity::Warning,
                        format!(
                            "`{path}` is not listed in `index.json`, so it was never published: rewritten from the type"
                        ),
                        None,
                    );
                } else {
                    push(
                        Rule::UnpublishedFile,
                        Severity::Error,
                        format!(
                            "`{path}` is not listed in `index.json`, so it was never published, and it differs from the type"
                        ),
                        Some(format!("run `{REGENERATE}`: it rewrites unpublished files")),
                    );
                }
            }
            Verdict::NotJson(e) => {
                push(
                    Rule::FileNotJson,
                    Severity::Error,
                    format!("`{path}` is not valid JSON: {e}"),
                    Some(format!(
                        "restore the file from version control (`git checkout -- {path}`): published versions never change"
                    )),
                );
            }
            Verdict::Same { doc_places } => {
                if write.any() && pending.exists() {
                    plan.resolved.push(pending);
                }
                if !doc_places.is_empty() {
                    for place in doc_places {
                        docs.entry(place).or_default().push(version);
                    }
                    if write == Write::AcceptingDocs {
                        stage(text);
                    }
                }
            }
            Verdict::Edited { differences, type_unchanged } => {
                let restore =
                    format!("restore the file from version control (`git checkout -- {path}`)");
                if write.any() {
                    plan.pending.push((pending, text));
                }
                push(
                    Rule::FileEdited,
                    Severity::Error,
                    format!(
                        "`{path}` was edited after publication (it no longer matches what `index.json` recorded); it differs from the type at:\n{}",
                        listing(&differences)
                    ),
                    Some(if type_unchanged {
                        format!(
                            "{restore}: the type still derives the published schema, and a published version never changes"
                        )
                    } else {
                        format!(
                            "{restore}; the type changed too: then undo that change or make it version {next}"
                        )
                    }),
                );
            }
            Verdict::Changed { differences } => {
                if write.any() {
                    plan.pending.push((pending, text));
                }
                let hint = if differences.moved.is_empty() {
                    format!(
                        "a published version never changes: undo the change to `{}`, or make it version {next}: raise `version` to {next}, declare the change with `in = {next}`, and run `{REGENERATE}`",
                        event.rust_name,
                    )
                } else {
                    differences.moved.iter().map(Moved::hint).collect::<Vec<_>>().join("; ")
                };
                push(
                    Rule::TypeChanged,
                    Severity::Error,
                    format!(
                        "type changed without a version bump: the derived schema differs from the published `{path}`:\n{}",
                        listing(&differences)
                    ),
                    Some(hint),
                );
            }
        }
    }
    if !docs.is_empty() {
        report.findings.push(docs_changed(event, &docs, write));
    }
    for published in dir.versions.iter().filter(|p| p.version > event.version) {
        report.findings.push(finding(
            event,
            Rule::FileWithoutVersion,
            Severity::Error,
            Some(published.version),
            format!(
                "`{}` matches no derived version: the latest version of `{}` is {}",
                published.path.display(),
                event.rust_name,
                event.version
            ),
            Some("published history is permanent: restore the versions of the event type".into()),
        ));
        failed = true;
    }
    for stray in &dir.strays {
        report.findings.push(finding(
            event,
            Rule::StrayFile,
            Severity::Warning,
            None,
            format!("`{}` is not a file this tool writes", stray.display()),
            None,
        ));
    }
    for pending in dir.pending.iter().filter(|p| p.exists() && !write.any()) {
        report.findings.push(finding(
            event,
            Rule::PendingFile,
            Severity::Warning,
            None,
            format!("pending file `{}` is left over from a refused change", pending.display()),
            Some("delete it once the change is resolved".into()),
        ));
    }

    let index = index_json(event, &derived.versions, &texts);
    let index_path = subject_dir.join("index.json");
    let stale = dir.index.as_ref() != Some(&index);
    if write.any() && !failed && (index_changed || stale) {
        plan.publish.push((index_path, pretty(&index)));
    } else if !write.any() && !failed && stale {
        report.findings.push(index_finding(event, dir.index.as_ref(), &index, &index_path));
    }
}

/// The one finding for doc comments that differ from the published text, each place once.
fn docs_changed(event: &VersionedType, docs: &BTreeMap<String, Vec<u32>>, write: Write) -> Finding {
    let places: Vec<String> = docs
        .iter()
        .map(|(place, versions)| {
            let versions: Vec<String> = versions.iter().map(u32::to_string).collect();
            format!("`{place}` (version {})", versions.join(", "))
        })
        .collect();
    let (message, hint) = if write == Write::AcceptingDocs {
        (
            format!("took the new doc comments of {} into the published files", places.join(", ")),
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
    finding(event, Rule::DocsChanged, Severity::Warning, None, message, hint)
}

/// What a checking run says of an index that is not the one it would write.
fn index_finding(
    event: &VersionedType,
    found: Option<&Value>,
    index: &Value,
    index_path: &Path,
) -> Finding {
    // Only the provenance moved (the type was renamed or moved): worth a regeneration, not a
    // failure.
    let without_provenance = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().map(|o| o.remove("rust_type"));
        v
    };
    let moved = found.map(without_provenance) == Some(without_provenance(index));
    // Written by a release before per-version digests: read as it is (the fingerprints stand
    // in for the digests), and upgraded by the next write, as cargo upgrades an older lockfile.
    let older = found.is_some_and(|old| is_older_format(old, index));
    let (rule, severity, message) = if moved {
        (
            Rule::IndexProvenance,
            Severity::Warning,
            format!(
                "`{}` names another Rust type than `{}`",
                index_path.display(),
                event.rust_name
            ),
        )
    } else if older {
        (
            Rule::IndexFormat,
            Severity::Warning,
            format!(
                "`{}` was written by an earlier release, without per-version digests",
                index_path.display()
            ),
        )
    } else {
        (
            Rule::IndexStale,
            Severity::Error,
            format!("`{}` is missing or out of date", index_path.display()),
        )
    };
    finding(
        event,
        rule,
        severity,
        None,
        message,
        Some(format!("run `{REGENERATE}` and commit the result")),
    )
}
