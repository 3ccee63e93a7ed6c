//! The offline CI gate, as `check` and `check --registry` use it: the history check's findings
//! as report items, the level configuration, each subject's versions gated at its level with
//! every finding pointing at the Rust field that breaks (`push_gate`), and a key type's second
//! version refused. It knows nothing of registries: `remote` builds on it.

use std::path::Path;

use anyhow::Context;
use strata::avro::compat::{Direction, GateReport, LevelConfig};

use crate::Outcome;
use crate::compat::direction;
use crate::report::{Item, Level, Report};

/// Adds the history check's findings, each with its rule id, one check per subject.
pub(crate) fn push_history(report: &mut Report, history: &strata::history::Report, dir: &Path) {
    for finding in &history.findings {
        let case = match report.cases.iter().position(|(group, name)| {
            *group == finding.subject && name == "schemas/ is in step with the type"
        }) {
            Some(case) => case,
            None => {
                report
                    .cases
                    .push((finding.subject.clone(), "schemas/ is in step with the type".into()));
                report.cases.len() - 1
            }
        };
        let file = match finding.version {
            Some(version) => strata::history::version_file(dir, &finding.subject, version),
            None => dir.join(&finding.subject),
        };
        let mut message = format!("`{}`", finding.subject);
        if let Some(version) = finding.version {
            message.push_str(&format!(" version {version}"));
        }
        if let Some(rust_type) = &finding.rust_type {
            message.push_str(&format!(" (`{rust_type}`)"));
        }
        report.items.push(Item {
            level: match finding.severity {
                strata::history::Severity::Error => Level::Error,
                strata::history::Severity::Warning => Level::Warning,
            },
            case,
            rule: finding.rule.as_str().to_owned(),
            file: file.display().to_string(),
            line: None,
            message: format!("{message}: {}", finding.message),
            hint: finding.hint.clone().unwrap_or_default(),
        });
    }
}

/// The levels `schemas/compatibility.json` declares (the default when it is missing).
pub fn level_config(dir: &Path) -> anyhow::Result<LevelConfig> {
    let path = dir.join("compatibility.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => LevelConfig::from_json(&text).with_context(|| format!("`{}`", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LevelConfig::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

/// Prints the report with its summary line; the outcome is whether it has errors.
pub fn finish(report: &Report, format: crate::flags::Format) -> Outcome {
    let errors = report.errors();
    let summary = if errors == 0 {
        format!(
            "compatibility: every version reads the earlier ones at its subject's level ({} checks)",
            report.cases.len()
        )
    } else {
        format!("error: {errors} problem(s) found")
    };
    report.print(format, &summary);
    if errors == 0 { Outcome::Passed } else { Outcome::Failed }
}

/// A key type past version 1: its keys' bytes (which hold the schema id) change, so every
/// aggregate's new records hash to another partition than its old ones.
pub(crate) fn push_key_changed(report: &mut Report, event: &strata::VersionedType) {
    if event.kind != strata::history::catalog::TypeKind::Key || event.version == 1 {
        return;
    }
    let subject = event.subject();
    let case = report.cases.len();
    report.cases.push((subject.clone(), "the key keeps its one version".into()));
    let (file, line) = match event.records.first() {
        Some(record) => (record.file, record.line),
        None => (event.source.file, event.source.line),
    };
    report.items.push(Item {
        level: Level::Error,
        case,
        rule: "KEY_CHANGED".into(),
        file: file.to_owned(),
        line: Some(line),
        message: format!(
            "`{subject}` has {} versions: a key's bytes hold its schema id and choose its \
             partition, so keys of version {} put every aggregate's new events in another \
             partition than its history, out of order",
            event.version, event.version
        ),
        hint: format!(
            "keep `{}` as it was at version 1 (a new field belongs in the events), or move the \
             aggregates to a new topic keyed by the new type",
            event.rust_name
        ),
    });
}

/// A subject whose versions the gate checked: the topic's (version N is the event type's
/// version N), or a record subject (its versions are the distinct shapes of one record, each
/// first seen in an event type's version).
#[derive(Debug, Clone, Copy)]
pub struct GatedSubject<'a> {
    /// The event type whose history it follows.
    pub event: &'a strata::VersionedType,
    /// The subject.
    pub subject: &'a str,
    /// The event type's version each of the subject's versions comes from, oldest first.
    pub origins: &'a [u32],
}

impl GatedSubject<'_> {
    /// The event type's version of the subject's `version`.
    pub fn origin(&self, version: u32) -> u32 {
        self.origins.get(version as usize - 1).copied().unwrap_or(version)
    }

    /// The reason of the break the event type declares in the version the subject's
    /// `version` comes from.
    pub fn declared(&self, version: u32) -> Option<&'static str> {
        let origin = self.origin(version);
        self.event.breaks.iter().find(|(v, _)| *v == origin).map(|(_, reason)| *reason)
    }

    /// The subject's versions declared to break (those whose event type's version is).
    pub fn breaks(&self) -> Vec<u32> {
        (1..=self.origins.len() as u32).filter(|&v| self.declared(v).is_some()).collect()
    }
}

/// Adds the gate's checks and findings of versions `from` onward to `report`: incompatibilities
/// (notes where declared as breaks) pointing at the Rust field, and stale break declarations.
pub fn push_gate(
    report: &mut Report,
    gated_subject: &GatedSubject<'_>,
    level: strata::avro::compat::Level,
    gated: &GateReport,
    from: u32,
) {
    let GatedSubject { event, subject, .. } = *gated_subject;
    let subject = subject.to_owned();
    let origin = |version: u32| gated_subject.origin(version);
    let first_case = report.cases.len();
    let checked: Vec<_> = gated.checked.iter().copied().filter(|c| c.version >= from).collect();
    for check in &checked {
        let name = format!(
            "version {} against version {} ({})",
            check.version,
            check.against,
            direction(check.direction)
        );
        report.cases.push((subject.clone(), name));
    }
    let case_of = |version: u32, earlier: usize, d: Direction| {
        first_case
            + checked
                .iter()
                .position(|c| {
                    c.version == version && c.against as usize == earlier && c.direction == d
                })
                .expect("every finding belongs to a check the gate made")
    };
    for f in gated.findings.iter().filter(|f| f.version >= from) {
        let i = &f.finding.incompatibility;
        let reads = match f.finding.direction {
            Direction::NewReadsOld => "cannot read",
            Direction::OldReadsNew => "cannot be read by",
        };
        let location = event.locate(&i.path);
        let message = format!(
            "`{subject}` version {} {reads} version {} at {}: {} at `{}` ({}): {}",
            f.version,
            f.finding.version,
            level.as_str(),
            i.kind,
            i.path,
            i.location,
            i.message
        );
        let (item_level, hint) = if f.declared {
            let reason = gated_subject.declared(f.version).unwrap_or("");
            (Level::Note, format!("declared break: {reason}"))
        } else {
            let hint = format!(
                "{}; or, if upgrade functions handle it, declare `breaks(in = {}, reason = \"...\")` on `{}`",
                i.hint,
                origin(f.version),
                event.rust_name
            );
            (Level::Error, hint)
        };
        report.items.push(Item {
            level: item_level,
            case: case_of(f.version, f.finding.version, f.finding.direction),
            rule: i.kind.to_string(),
            file: location.file.to_owned(),
            line: Some(location.line),
            message,
            hint,
        });
    }
    for &v in gated.needless_breaks.iter().filter(|v| **v >= from) {
        let case = checked.iter().position(|c| c.version == v).map(|p| first_case + p);
        report.items.push(Item {
            level: Level::Warning,
            case: case.unwrap_or(first_case),
            rule: "NEEDLESS_BREAK".into(),
            file: event.source.file.to_owned(),
            line: Some(event.source.line),
            message: format!(
                "`{subject}` version {v} is declared as a break but is compatible at {}",
                level.as_str()
            ),
            hint: format!("remove `breaks(in = {}, ...)` from `{}`", origin(v), event.rust_name),
        });
    }
}

#[cfg(test)]
mod tests {
    use strata::history::catalog::{SourceLocation, VersionedType};

    /// A key record that gained a field in version 2.
    #[derive(strata::Record)]
    #[strata(namespace = "test.keys")]
    pub struct ShardedKey {
        pub id: String,
        #[strata(added(in = 2, default = 0))]
        pub shard: i32,
    }

    #[derive(strata::Record)]
    #[strata(namespace = "test.keys")]
    pub struct Opened {
        pub id: String,
    }

    #[derive(strata::Event)]
    #[strata(topic = "test.keyed", namespace = "test.keys", version = 1, key = ShardedKey)]
    pub enum KeyedEvent {
        Opened(Opened),
    }

    #[test]
    fn a_key_type_past_version_1_is_an_error_pointing_at_the_key_record() {
        let location = SourceLocation { file: file!(), line: line!() };
        let key = VersionedType::key::<KeyedEvent>("ShardedKey", location);
        assert_eq!((key.subject().as_str(), key.version), ("test.keyed-key", 2));
        let mut report = crate::report::Report::default();
        super::push_key_changed(&mut report, &key);
        assert_eq!(report.errors(), 1);
        let item = &report.items[0];
        assert_eq!(item.rule, "KEY_CHANGED");
        assert!(item.message.contains("`test.keyed-key` has 2 versions"), "{}", item.message);
        assert_eq!(item.file, file!(), "the key record's file");

        // An event type's own registration is no key: nothing to report.
        let event = VersionedType::of::<KeyedEvent>("KeyedEvent", location);
        let mut report = crate::report::Report::default();
        super::push_key_changed(&mut report, &event);
        assert_eq!(report.errors(), 0);
    }
}
