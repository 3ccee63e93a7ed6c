//! The layout of the committed history, `schemas/`, spelled in one place: reading its
//! subjects and version files, and naming a version's file. [`crate::history`] checks and
//! writes it, [`crate::codec::source::LocalSource`] serves it by id, `cargo xtask check --registry`
//! compares it with a registry.
//!
//! ```text
//! schemas/
//!   bank.accounts-value/
//!     index.json      subject, topic, Rust type, and each version's file, fingerprint, digest
//!     v1.avsc         pretty, deterministic Avro JSON
//!     v2.avsc
//! ```

use std::path::{Path, PathBuf};

use serde_json::Value;

/// An error reading or writing the history itself (not a finding about its contents).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// A file or directory could not be read or written.
    #[error("{action} `{}`", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A published version file is not a schema a source can hold.
    #[error("`{}` (subject `{subject}`) is not a valid schema", path.display())]
    Schema {
        /// The subject.
        subject: String,
        /// The version file.
        path: PathBuf,
        /// Why the source refused it (boxed: the history's errors stay small).
        #[source]
        source: Box<crate::codec::SourceError>,
    },
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

/// The file of `version` of `subject` under `root`: `<root>/<subject>/v<version>.avsc`, the one
/// place the layout is spelled (the history check, `LocalSource` and `check --registry` use it).
pub fn version_file(root: &Path, subject: &str, version: u32) -> PathBuf {
    root.join(subject).join(version_file_name(version))
}

/// `v<version>.avsc`.
pub fn version_file_name(version: u32) -> String {
    format!("v{version}.avsc")
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
}
