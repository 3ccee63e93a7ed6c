//! `index.json`, the record of what each version published: written by [`index_json`], read
//! by [`IndexedVersions`] (digests where recorded, fingerprints for an index an earlier
//! release wrote, [`is_older_format`]).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{REGENERATE, digest, text_fingerprint, version_file_name};
use crate::history::catalog::VersionedType;
use crate::schema::Schema;

/// Whether `old` is `new` as a release before per-version digests wrote it: the same index
/// with no `digest` in any version.
pub(super) fn is_older_format(old: &Value, new: &Value) -> bool {
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

/// What `index.json` recorded of each published version.
pub(super) struct IndexedVersions {
    pub(super) versions: BTreeMap<u32, Recorded>,
}

/// One version's entry in `index.json`.
pub(super) struct Recorded {
    /// The Rabin fingerprint of the parsing canonical form.
    fingerprint: Option<String>,
    /// The digest of the schema's identity ([`digest`]); indexes written before it lack it.
    digest: Option<String>,
}

impl IndexedVersions {
    pub(super) fn of(index: &Value) -> Self {
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
    pub(super) fn matches(&self, json: &Value, text: &str) -> bool {
        match (&self.digest, &self.fingerprint) {
            (Some(recorded), _) => *recorded == digest(json),
            (None, Some(recorded)) => text_fingerprint(text).as_ref() == Some(recorded),
            (None, None) => true,
        }
    }
}

/// The index of a subject: provenance and, for every version's published text, the
/// fingerprint of its parsing canonical form and the digest of its identity.
pub(super) fn index_json(
    event: &VersionedType,
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

pub(super) fn pretty(value: &Value) -> String {
    let mut text =
        serde_json::to_string_pretty(value).expect("a serde_json::Value always serializes");
    text.push('\n');
    text
}
