//! The committed history in `schemas/` is append-only: new versions are written, a published
//! version never changes (formatting aside), and every way the Rust types and the files can
//! drift apart is reported with the type, the version, the difference and the command to run.

use std::path::{Path, PathBuf};

use strata::history::catalog::SourceLocation;
use strata::history::{self, Report, Severity};
use strata::{Event, VersionedType};

/// A fresh directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("strata-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn registration<E: Event>() -> VersionedType {
    VersionedType::of::<E>(
        std::any::type_name::<E>(),
        SourceLocation { file: file!(), line: line!() },
    )
}

fn messages(report: &Report, severity: Severity) -> Vec<String> {
    report.findings.iter().filter(|f| f.severity == severity).map(ToString::to_string).collect()
}

#[track_caller]
fn assert_clean(report: &Report) {
    assert!(report.findings.is_empty(), "unexpected findings:\n{report}");
}

/// The original declaration: version 1 of topic `things`.
mod original {
    #[derive(strata::Record)]
    #[allow(dead_code)]
    pub struct Thing {
        /// How many.
        pub count: i32,
        pub label: String,
    }

    #[derive(strata::Event)]
    #[strata(topic = "things", namespace = "test", version = 1)]
    #[allow(dead_code)]
    pub enum ThingEvent {
        Thing(Thing),
    }
}

/// The same version 1, but `count` changed type without a version bump.
mod edited {
    #[derive(strata::Record)]
    #[allow(dead_code)]
    pub struct Thing {
        /// How many.
        pub count: i64,
        pub label: String,
    }

    #[derive(strata::Event)]
    #[strata(topic = "things", namespace = "test", version = 1)]
    #[allow(dead_code)]
    pub enum ThingEvent {
        Thing(Thing),
    }
}

/// Version 1 with another doc comment only.
mod redocumented {
    #[derive(strata::Record)]
    #[allow(dead_code)]
    pub struct Thing {
        /// How many things there are.
        pub count: i32,
        pub label: String,
    }

    #[derive(strata::Event)]
    #[strata(topic = "things", namespace = "test", version = 1)]
    #[allow(dead_code)]
    pub enum ThingEvent {
        Thing(Thing),
    }
}

/// The change done right: version 2 retypes `count`.
mod bumped {
    #[derive(strata::Record)]
    #[allow(dead_code)]
    pub struct Thing {
        /// How many.
        #[strata(changed(in = 2, from = "i32"))]
        pub count: i64,
        pub label: String,
    }

    #[derive(strata::Event)]
    #[strata(topic = "things", namespace = "test", version = 2)]
    #[allow(dead_code)]
    pub enum ThingEvent {
        Thing(Thing),
    }
}

fn published(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    let report = history::write(&[&registration::<original::ThingEvent>()], &dir.0).expect("io");
    assert_eq!(report.written.len(), 2, "v1.avsc and index.json");
    assert_clean(&report);
    dir
}

fn file(dir: &Path, name: &str) -> PathBuf {
    dir.join("things-value").join(name)
}

#[test]
fn the_committed_history_matches_the_example_domain() {
    strata_tests::link();
    let events = strata::histories();
    let example: Vec<_> =
        events.into_iter().filter(|e| e.rust_name.starts_with("strata_tests::")).collect();
    assert_eq!(example.len(), 4, "two event types, the shop's key type, the ledger's state type");
    let report =
        history::check(&example, &Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas"))
            .expect("schemas/ is readable");
    assert_clean(&report);
}

#[test]
fn writing_twice_writes_nothing_the_second_time() {
    let dir = published("idempotent");
    let report = history::write(&[&registration::<original::ThingEvent>()], &dir.0).expect("io");
    assert!(report.written.is_empty(), "{:?}", report.written);
    assert_clean(&report);
}

#[test]
fn a_type_changed_without_a_version_bump_fails_naming_the_field() {
    let dir = published("edited");
    let before = std::fs::read_to_string(file(&dir.0, "v1.avsc")).unwrap();
    let edited = registration::<edited::ThingEvent>();

    let report = history::check(&[&edited], &dir.0).expect("io");
    let errors = messages(&report, Severity::Error);
    assert_eq!(errors.len(), 1, "{report}");
    assert!(errors[0].starts_with("error: `things-value` version 1 (`test_history::edited::ThingEvent`): type changed without a version bump"), "{}", errors[0]);
    assert!(
        errors[0].contains("Thing.count: type was `\"int\"`, is now `\"long\"`"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("hint: a published version never changes"), "{}", errors[0]);
    assert!(
        errors[0].contains(
            "make it version 2: raise `version` to 2, declare the change with `in = 2`, and run `cargo xtask schemas`"
        ),
        "{}",
        errors[0]
    );

    // Writing refuses too: the published file stays, the derived one lands beside it.
    let report = history::write(&[&edited], &dir.0).expect("io");
    assert!(report.has_errors());
    assert_eq!(std::fs::read_to_string(file(&dir.0, "v1.avsc")).unwrap(), before);
    let pending = std::fs::read_to_string(file(&dir.0, "v1.avsc.new")).expect("pending file");
    assert!(pending.contains("\"long\""));

    // And a check reports the pending file left behind.
    let report = history::check(&[&registration::<original::ThingEvent>()], &dir.0).expect("io");
    assert!(!report.has_errors());
    assert!(messages(&report, Severity::Warning)[0].contains("pending file"), "{report}");
}

#[test]
fn the_change_with_a_version_bump_appends_a_version_and_leaves_the_first_alone() {
    let dir = published("bumped");
    let before = std::fs::read_to_string(file(&dir.0, "v1.avsc")).unwrap();
    let bumped = registration::<bumped::ThingEvent>();
    let report = history::check(&[&bumped], &dir.0).expect("io");
    let errors = messages(&report, Severity::Error);
    assert!(errors[0].contains("version 2 has no file"), "{report}");
    assert!(errors[0].contains("hint: run `cargo xtask schemas`"), "{report}");

    let report = history::write(&[&bumped], &dir.0).expect("io");
    assert_clean(&report);
    assert_eq!(report.written, [file(&dir.0, "v2.avsc"), file(&dir.0, "index.json")]);
    assert_eq!(std::fs::read_to_string(file(&dir.0, "v1.avsc")).unwrap(), before);
    assert_clean(&history::check(&[&bumped], &dir.0).expect("io"));
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file(&dir.0, "index.json")).unwrap())
            .unwrap();
    assert_eq!(index["versions"][1]["file"], "v2.avsc");
    assert_eq!(index["versions"][1]["fingerprint"].as_str().unwrap().len(), 16);
}

#[test]
fn formatting_only_edits_of_a_published_file_pass() {
    let dir = published("formatting");
    let path = file(&dir.0, "v1.avsc");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // Compact, on one line, with the keys of every object in reverse order.
    fn reverse(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(o) => serde_json::Value::Object(
                o.iter().rev().map(|(k, v)| (k.clone(), reverse(v))).collect(),
            ),
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.iter().map(reverse).collect())
            }
            other => other.clone(),
        }
    }
    std::fs::write(&path, serde_json::to_string(&reverse(&json)).unwrap()).unwrap();
    // The index keeps the fingerprint of the parsing canonical form, which formatting leaves alone.
    assert_clean(&history::check(&[&registration::<original::ThingEvent>()], &dir.0).expect("io"));
}

#[test]
fn a_doc_comment_edited_after_publication_is_a_warning() {
    let dir = published("doc");
    let report =
        history::check(&[&registration::<redocumented::ThingEvent>()], &dir.0).expect("io");
    assert!(!report.has_errors(), "{report}");
    let warnings = messages(&report, Severity::Warning).join("\n");
    assert!(warnings.contains("doc comments differ"), "{report}");
    // The type also moved to another module, which only the index's provenance records.
    assert!(
        warnings.contains("names another Rust type than `test_history::redocumented::ThingEvent`"),
        "{report}"
    );
}

#[test]
fn a_file_matching_no_version_and_a_subject_without_a_type_are_errors() {
    let dir = published("extra");
    std::fs::copy(file(&dir.0, "v1.avsc"), file(&dir.0, "v2.avsc")).unwrap();
    std::fs::create_dir_all(dir.0.join("gone-value")).unwrap();
    std::fs::write(dir.0.join("gone-value/v1.avsc"), "\"string\"\n").unwrap();
    std::fs::write(file(&dir.0, "notes.txt"), "hi").unwrap();
    let report = history::check(&[&registration::<original::ThingEvent>()], &dir.0).expect("io");
    let errors = messages(&report, Severity::Error).join("\n");
    assert!(
        errors.contains("v2.avsc` matches no derived version: the latest version of"),
        "{errors}"
    );
    assert!(errors.contains("no event type linked into this program has topic `gone`"), "{errors}");
    let warnings = messages(&report, Severity::Warning).join("\n");
    assert!(warnings.contains("notes.txt` is not a file this tool writes"), "{warnings}");
}

#[test]
fn a_missing_or_stale_index_is_an_error() {
    let dir = published("index");
    std::fs::remove_file(file(&dir.0, "index.json")).unwrap();
    let report = history::check(&[&registration::<original::ThingEvent>()], &dir.0).expect("io");
    assert!(
        messages(&report, Severity::Error)[0].contains("index.json` is missing or out of date"),
        "{report}"
    );
}

/// Version 2 declares nothing new.
mod empty_version {
    #[derive(strata::Record)]
    #[allow(dead_code)]
    pub struct Thing {
        pub count: i32,
    }

    #[derive(strata::Event)]
    #[strata(topic = "things", version = 2)]
    #[allow(dead_code)]
    pub enum ThingEvent {
        Thing(Thing),
    }
}

#[test]
fn a_version_that_changes_nothing_is_an_error() {
    let dir = TempDir::new("empty");
    let report =
        history::check(&[&registration::<empty_version::ThingEvent>()], &dir.0).expect("io");
    let errors = messages(&report, Severity::Error);
    assert!(errors[0].contains("version 2 changes nothing since version 1"), "{report}");
}

/// A nested record changes in version 3, past the event's latest version 2.
mod beyond_latest {
    #[derive(strata::Record)]
    #[allow(dead_code)]
    pub struct Inner {
        #[strata(added(in = 3, default = 0))]
        pub late: i32,
        #[strata(added(in = 2, default = 0))]
        pub early: i32,
    }

    #[derive(strata::Record)]
    #[allow(dead_code)]
    pub struct Outer {
        pub inner: Inner,
    }

    #[derive(strata::Event)]
    #[strata(topic = "things", version = 2)]
    #[allow(dead_code)]
    pub enum ThingEvent {
        Outer(Outer),
    }
}

#[test]
fn a_nested_change_after_the_latest_version_is_an_error() {
    let dir = TempDir::new("beyond");
    let report =
        history::check(&[&registration::<beyond_latest::ThingEvent>()], &dir.0).expect("io");
    let errors = messages(&report, Severity::Error).join("\n");
    assert!(
        errors.contains(
            "a record declares a change in version 3 but the event's latest version is 2"
        ),
        "{errors}"
    );
    assert!(errors.contains("declare `version = 3`"), "{errors}");
}

#[test]
fn two_event_types_on_one_topic_are_an_error() {
    let dir = TempDir::new("twice");
    let a = registration::<original::ThingEvent>();
    let b = registration::<bumped::ThingEvent>();
    let report = history::check(&[&a, &b], &dir.0).expect("io");
    assert!(
        messages(&report, Severity::Error).iter().any(|e| e.contains("both claim topic `things`")),
        "{report}"
    );
}

/// Version 2 adds `note`, but `label` was also retyped without being declared: a run that
/// fails.
mod bumped_with_a_mistake {
    #[derive(strata::Record)]
    #[allow(dead_code)]
    pub struct Thing {
        /// How many.
        pub count: i32,
        pub label: i64,
        #[strata(added(in = 2, default = ""))]
        pub note: String,
    }

    #[derive(strata::Event)]
    #[strata(topic = "things", namespace = "test", version = 2)]
    #[allow(dead_code)]
    pub enum ThingEvent {
        Thing(Thing),
    }
}

/// The same version 2, the mistake fixed.
mod bumped_right {
    #[derive(strata::Record)]
    #[allow(dead_code)]
    pub struct Thing {
        /// How many.
        pub count: i32,
        pub label: String,
        #[strata(added(in = 2, default = ""))]
        pub note: String,
    }

    #[derive(strata::Event)]
    #[strata(topic = "things", namespace = "test", version = 2)]
    #[allow(dead_code)]
    pub enum ThingEvent {
        Thing(Thing),
    }
}

#[test]
fn a_run_that_fails_writes_no_version_file_and_the_fixed_type_then_publishes_it() {
    let dir = published("failed-run");
    let index_before = std::fs::read_to_string(file(&dir.0, "index.json")).unwrap();
    let report =
        history::write(&[&registration::<bumped_with_a_mistake::ThingEvent>()], &dir.0).unwrap();
    assert!(report.has_errors(), "{report}");
    assert!(!file(&dir.0, "v2.avsc").exists(), "a failed run published version 2");
    assert_eq!(report.withheld, [file(&dir.0, "v2.avsc")]);
    assert_eq!(std::fs::read_to_string(file(&dir.0, "index.json")).unwrap(), index_before);

    // Fixed, the same version 2 is written: it was never published.
    let report = history::write(&[&registration::<bumped_right::ThingEvent>()], &dir.0).unwrap();
    assert_clean(&report);
    assert_eq!(report.written, [file(&dir.0, "v2.avsc"), file(&dir.0, "index.json")]);
    assert_clean(&history::check(&[&registration::<bumped_right::ThingEvent>()], &dir.0).unwrap());
}

#[test]
fn a_version_file_the_index_does_not_list_is_unpublished_and_follows_the_type() {
    let dir = published("unlisted");
    // What a failing run of an earlier strata left behind: a `v2.avsc` outside the index.
    std::fs::write(file(&dir.0, "v2.avsc"), "[\"null\"]\n").unwrap();
    let right = registration::<bumped_right::ThingEvent>();
    let report = history::check(&[&right], &dir.0).unwrap();
    let errors = messages(&report, Severity::Error).join("\n");
    assert!(
        errors.contains("v2.avsc` is not listed in `index.json`, so it was never published"),
        "{report}"
    );
    assert!(
        errors.contains("run `cargo xtask schemas`: it rewrites unpublished files"),
        "{report}"
    );

    let report = history::write(&[&right], &dir.0).unwrap();
    assert!(!report.has_errors(), "{report}");
    assert!(messages(&report, Severity::Warning).join("\n").contains("rewritten from the type"));
    assert_clean(&history::check(&[&right], &dir.0).unwrap());
}

#[test]
fn a_failing_derive_does_not_also_claim_the_subject_has_no_type() {
    let dir = published("derive-fails");
    let report =
        history::check(&[&registration::<empty_version::ThingEvent>()], &dir.0).expect("io");
    let errors = messages(&report, Severity::Error);
    assert!(errors[0].contains("version 2 changes nothing since version 1"), "{report}");
    assert_eq!(errors.len(), 1, "only the derive's own error: {report}");
}

#[test]
fn a_published_file_edited_by_hand_is_told_apart_from_a_changed_type() {
    let dir = published("hand-edited");
    let path = file(&dir.0, "v1.avsc");
    let original = std::fs::read_to_string(&path).unwrap();
    // A retype in the file: its fingerprint changes.
    std::fs::write(&path, original.replace("\"int\"", "\"long\"")).unwrap();
    let report = history::check(&[&registration::<original::ThingEvent>()], &dir.0).unwrap();
    let errors = messages(&report, Severity::Error);
    assert_eq!(errors.len(), 1, "{report}");
    assert!(errors[0].contains("v1.avsc` was edited after publication"), "{}", errors[0]);
    assert!(!errors[0].contains("type changed without a version bump"), "{}", errors[0]);
    assert!(!errors[0].contains("undo the change to"), "{}", errors[0]);
    assert!(errors[0].contains("hint: restore the file from version control"), "{}", errors[0]);
    assert!(errors[0].contains("the type still derives the published schema"), "{}", errors[0]);

    // A default added in the file: the canonical form's fingerprint stays, the digest does not.
    let with_default = original.replace("\"type\": \"int\"", "\"type\": \"int\",\n\"default\": 5");
    assert_ne!(with_default, original);
    std::fs::write(&path, with_default).unwrap();
    let report = history::check(&[&registration::<original::ThingEvent>()], &dir.0).unwrap();
    assert!(
        messages(&report, Severity::Error)[0].contains("was edited after publication"),
        "{report}"
    );

    // The type changed, the file did not: the type is what to undo.
    std::fs::write(&path, &original).unwrap();
    let report = history::check(&[&registration::<edited::ThingEvent>()], &dir.0).unwrap();
    assert!(
        messages(&report, Severity::Error)[0].contains("type changed without a version bump"),
        "{report}"
    );
}

/// Version 1 with three fields.
mod three_fields {
    #[derive(strata::Record)]
    #[allow(dead_code)]
    pub struct Thing {
        pub a: i32,
        pub b: String,
        pub c: i64,
    }

    #[derive(strata::Event)]
    #[strata(topic = "things", namespace = "test", version = 1)]
    #[allow(dead_code)]
    pub enum ThingEvent {
        Thing(Thing),
    }
}

/// Version 2 removes `b`, the middle field, without saying where it stood.
mod middle_removed {
    #[derive(strata::Record)]
    #[strata(removed(field = "b", ty = "String", in = 2, discard))]
    #[allow(dead_code)]
    pub struct Thing {
        pub a: i32,
        pub c: i64,
    }

    #[derive(strata::Event)]
    #[strata(topic = "things", namespace = "test", version = 2)]
    #[allow(dead_code)]
    pub enum ThingEvent {
        Thing(Thing),
    }
}

/// The same removal with its place.
mod middle_removed_after {
    #[derive(strata::Record)]
    #[strata(removed(field = "b", ty = "String", in = 2, discard, after = "a"))]
    #[allow(dead_code)]
    pub struct Thing {
        pub a: i32,
        pub c: i64,
    }

    #[derive(strata::Event)]
    #[strata(topic = "things", namespace = "test", version = 2)]
    #[allow(dead_code)]
    pub enum ThingEvent {
        Thing(Thing),
    }
}

#[test]
fn a_removed_field_without_its_place_names_the_field_and_the_after_to_add() {
    let dir = TempDir::new("middle");
    let report = history::write(&[&registration::<three_fields::ThingEvent>()], &dir.0).unwrap();
    assert_clean(&report);

    let report = history::check(&[&registration::<middle_removed::ThingEvent>()], &dir.0).unwrap();
    let errors = messages(&report, Severity::Error);
    assert!(
        errors[0].contains("Thing: the fields were reordered: `b` stood after `a`"),
        "{report}"
    );
    assert!(
        errors[0].contains(
            "hint: `b` stood after `a` in `Thing`: if `b` was removed, declare its place with `after = \"a\"` in `removed(field = \"b\", ...)`"
        ),
        "{report}"
    );
    assert!(!errors[0].contains("make it version"), "no advice to burn a version: {report}");

    let after = registration::<middle_removed_after::ThingEvent>();
    assert!(!history::write(&[&after], &dir.0).unwrap().has_errors());
    assert_clean(&history::check(&[&after], &dir.0).unwrap());
}

#[test]
fn edited_doc_comments_are_named_once_and_can_be_accepted() {
    let dir = published("accept-docs");
    let redocumented = registration::<redocumented::ThingEvent>();
    let report = history::check(&[&redocumented], &dir.0).unwrap();
    let docs: Vec<String> = messages(&report, Severity::Warning)
        .into_iter()
        .filter(|w| w.contains("doc comments"))
        .collect();
    assert_eq!(docs.len(), 1, "{report}");
    assert!(
        docs[0]
            .contains("doc comments differ from the published files at `Thing.count` (version 1)"),
        "{}",
        docs[0]
    );
    assert!(docs[0].contains("cargo xtask schemas --accept-docs"), "{}", docs[0]);

    let report = history::accept_docs(&[&redocumented], &dir.0).unwrap();
    assert!(!report.has_errors(), "{report}");
    assert!(report.written.contains(&file(&dir.0, "v1.avsc")), "{:?}", report.written);
    let text = std::fs::read_to_string(file(&dir.0, "v1.avsc")).unwrap();
    assert!(text.contains("How many things there are."), "{text}");
    let report = history::check(&[&redocumented], &dir.0).unwrap();
    assert!(!report.findings.iter().any(|f| f.message.contains("doc comments")), "{report}");
    assert!(!report.has_errors(), "{report}");
}

/// A state type as published, and the same with its two `long` fields swapped and no version
/// bump: snapshots written by the first would decode into the wrong fields of the second.
mod state_published {
    #[derive(strata::Record, Default)]
    #[strata(namespace = "test.state", name = "Tally")]
    #[allow(dead_code)]
    pub struct Tally {
        pub deposits: i64,
        pub balance_cents: i64,
    }
}

mod state_swapped {
    #[derive(strata::Record, Default)]
    #[strata(namespace = "test.state", name = "Tally")]
    #[allow(dead_code)]
    pub struct Tally {
        pub balance_cents: i64,
        pub deposits: i64,
    }
}

#[test]
fn a_state_type_is_locked_in_the_history_and_a_change_without_a_version_bump_fails_the_check() {
    let dir = TempDir::new("state-history");
    let at = SourceLocation { file: file!(), line: line!() };
    let published =
        VersionedType::state::<state_published::Tally>("Tally", "test.state.Tally", at, &[]);
    let report = history::write(&[&published], &dir.0).unwrap();
    assert_clean(&report);
    assert!(dir.0.join("test.state.Tally-state/v1.avsc").exists(), "{report}");
    assert_clean(&history::check(&[&published], &dir.0).unwrap());
    // The subject is not a registry subject: a source built from the history leaves it out.
    let source = strata::LocalSource::from_history(&dir.0).unwrap();
    assert!(strata::SchemaSource::schema(&source, 1).is_err(), "a state schema got an id");

    let swapped =
        VersionedType::state::<state_swapped::Tally>("Tally", "test.state.Tally", at, &[]);
    let report = history::check(&[&swapped], &dir.0).unwrap();
    let errors = messages(&report, Severity::Error);
    assert!(
        errors.iter().any(|m| m.contains("type changed without a version bump")
            && m.contains("test.state.Tally-state")),
        "{errors:?}"
    );
}

/// A copy of `tests/history/before-digests/`.
fn before_digests(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("history/before-digests/things-value");
    std::fs::create_dir_all(dir.0.join("things-value")).unwrap();
    for name in ["v1.avsc", "index.json"] {
        std::fs::copy(fixture.join(name), file(&dir.0, name)).unwrap();
    }
    dir
}

/// `tests/history/before-digests/` is the history of `original::ThingEvent` as the release
/// before per-version digests wrote it (committed, as cargo keeps old lockfiles to test
/// reading them): a user upgrading strata keeps a green check, is told once to regenerate,
/// and the next write adds the digests without touching a published schema.
#[test]
fn an_index_written_before_digests_passes_and_the_next_write_upgrades_it() {
    let dir = before_digests("before-digests");
    let old_index = std::fs::read_to_string(file(&dir.0, "index.json")).unwrap();
    assert!(!old_index.contains("digest"), "the fixture predates digests");
    let types = [&registration::<original::ThingEvent>()];

    let report = history::check(&types, &dir.0).expect("io");
    assert!(!report.has_errors(), "{report}");
    let rules: Vec<_> = report.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, ["INDEX_FORMAT"], "{report}");
    assert!(report.findings[0].hint.as_deref().unwrap().contains("cargo xtask schemas"));

    let published = std::fs::read(file(&dir.0, "v1.avsc")).unwrap();
    let report = history::write(&types, &dir.0).expect("io");
    assert!(!report.has_errors(), "{report}");
    assert_eq!(report.written, [file(&dir.0, "index.json")], "only the index is rewritten");
    assert_eq!(std::fs::read(file(&dir.0, "v1.avsc")).unwrap(), published);
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file(&dir.0, "index.json")).unwrap())
            .unwrap();
    assert!(index["versions"][0]["digest"].is_string(), "{index}");
    assert_clean(&history::check(&types, &dir.0).expect("io"));
}

/// An older index still guards its versions: a published file edited by hand is caught by
/// the fingerprint the older index recorded.
#[test]
fn an_index_written_before_digests_still_catches_an_edited_schema() {
    let dir = before_digests("before-digests-edited");
    let edited =
        std::fs::read_to_string(file(&dir.0, "v1.avsc")).unwrap().replace("\"int\"", "\"long\"");
    std::fs::write(file(&dir.0, "v1.avsc"), edited).unwrap();
    let report = history::check(&[&registration::<original::ThingEvent>()], &dir.0).expect("io");
    assert!(report.has_errors(), "{report}");
}
