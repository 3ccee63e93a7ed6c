//! What `cargo xtask check --registry` (in `gate`) and `cargo xtask register` (in `register`)
//! share: the client from the command line's flags, and each subject as the committed history
//! and the registry see it.
//!
//! A subject's registered history must be a prefix of its committed history in `schemas/`
//! (compared by Confluent's canonical form, references resolved): anything else is drift. The
//! versions past the prefix are checked locally at the level the registry gives the subject,
//! and each of them is judged by the registry itself and by the offline gate (at
//! `schemas/compatibility.json`'s level); the two verdicts must agree. Registry version N must
//! be committed version N.
//! `register` registers them in order, with the checks' refusals as its own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use strata::VersionedType;
use strata::avro::compat::{self, Level as CompatLevel, Prepared, gate};
use strata::codec::registry::{RegisteredVersion, Registry, RegistryConfig};
use strata::subject::SubjectStrategy;

use crate::flags::RegistryFlags;
use crate::gate::{GatedSubject, push_gate};
use crate::report::{Item, Level, Report};

impl RegistryFlags {
    /// The client, if a registry is named.
    pub fn client(&self) -> anyhow::Result<Option<Registry>> {
        self.client_registering(false)
    }

    /// The client, registering schemas it is asked the id of when `register`.
    pub fn client_registering(&self, register: bool) -> anyhow::Result<Option<Registry>> {
        let Some(url) = self.url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let mut config = RegistryConfig::new(url);
        if let Some(info) = &self.user_info {
            let (user, password) =
                info.split_once(':').context("--registry-user-info must be USER:PASSWORD")?;
            config.basic_auth = Some((user.to_owned(), password.to_owned()));
        }
        config.bearer_token = self.token.clone();
        for header in &self.headers {
            let (name, value) = header
                .split_once(':')
                .with_context(|| format!("--registry-header `{header}` must be NAME: VALUE"))?;
            config.headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        config.timeout = Duration::from_secs(self.timeout);
        config.retries = self.retries;
        config.auto_register = register;
        Ok(Some(Registry::new(config)))
    }
}

/// One subject, as the committed history and the registry see it.
#[derive(Debug)]
pub struct Subject {
    /// The event type (or key type) whose history it follows.
    pub event: &'static VersionedType,
    /// The subject's name.
    pub subject: String,
    /// The committed file of each version, oldest first: `schemas/<subject>/v<N>.avsc`, or
    /// for a record subject the event type's version its record's shape first appeared in.
    pub files: Vec<PathBuf>,
    /// Each version's schema text, oldest first.
    pub texts: Vec<String>,
    /// The event type's version of each of the subject's versions, oldest first.
    pub origins: Vec<u32>,
    /// The registry's live versions, oldest first.
    pub registered: Vec<RegisteredVersion>,
    /// How many committed versions the registry holds (the matching prefix).
    pub matched: usize,
    /// The level the registry applies to the subject.
    pub level: CompatLevel,
}

impl Subject {
    /// The subject as the gate sees it: its versions mapped to the event type's.
    pub fn gated(&self) -> GatedSubject<'_> {
        GatedSubject { event: self.event, subject: &self.subject, origins: &self.origins }
    }

    /// The break the event type declares in the version `version` comes from.
    pub fn declared(&self, version: u32) -> Option<&'static str> {
        self.gated().declared(version)
    }

    /// The committed versions not registered yet.
    pub fn pending(&self) -> std::ops::RangeInclusive<u32> {
        self.matched as u32 + 1..=self.texts.len() as u32
    }
}

/// Confluent's canonical form of a schema without its docs, for comparing a registered schema
/// with a file: docs do not make a version (`strata::history::identity`), so doc comments
/// accepted into `schemas/` after registration (`schemas --accept-docs`) are no drift.
fn canonical(text: &str) -> anyhow::Result<String> {
    let json: Value = serde_json::from_str(text).context("a schema that is not JSON")?;
    Ok(strata::avro::canonical::canonical(&strata::history::identity(&json).to_string())?)
}

/// The subjects of `event` under `strategy`, each examined (see [`examine_subject`]): the
/// topic's subject, or one subject per record of the union (its distinct shapes across the
/// event type's versions, in order, as a record name strategy registers them).
pub fn examine(
    registry: &Registry,
    event: &'static VersionedType,
    dir: &Path,
    levels: &strata::avro::compat::LevelConfig,
    strategy: SubjectStrategy,
    report: &mut Report,
) -> anyhow::Result<Vec<Subject>> {
    let subject = event.subject();
    let files: Vec<PathBuf> =
        (1..=event.version).map(|v| strata::history::version_file(dir, &subject, v)).collect();
    let texts = files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f).with_context(|| format!("cannot read `{}`", f.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let origins: Vec<u32> = (1..=event.version).collect();
    if strategy == SubjectStrategy::Topic || event.kind != strata::history::catalog::TypeKind::Event
    {
        let home = dir.join(&subject);
        let history = History { subject, home, files, texts, origins };
        return Ok(vec![examine_subject(registry, event, history, levels, report)?]);
    }
    // Each record's distinct shapes, in the order they appeared; a shape seen before is that
    // version again (a registry answers an identical schema with its existing version).
    let mut records: Vec<(History, Vec<String>)> = Vec::new();
    for ((file, text), origin) in files.iter().zip(&texts).zip(&origins) {
        let json: Value = serde_json::from_str(text)
            .with_context(|| format!("`{}` is not JSON", file.display()))?;
        let branches = strata::subject::record_schemas(&json).with_context(|| {
            format!(
                "`{}` (`{}`): the {strategy} subject name strategy registers each record alone",
                file.display(),
                event.rust_name
            )
        })?;
        for (name, record) in branches {
            let subject = strategy.subject(event.topic, Some(&name));
            let canonical = canonical(&record)?;
            let at = match records.iter().position(|(h, _)| h.subject == subject) {
                Some(at) => at,
                None => {
                    let history = History {
                        subject,
                        home: dir.join(event.subject()),
                        files: Vec::new(),
                        texts: Vec::new(),
                        origins: Vec::new(),
                    };
                    records.push((history, Vec::new()));
                    records.len() - 1
                }
            };
            let (history, seen) = &mut records[at];
            if seen.contains(&canonical) {
                continue;
            }
            seen.push(canonical);
            history.files.push(file.clone());
            history.texts.push(record);
            history.origins.push(*origin);
        }
    }
    records
        .into_iter()
        .map(|(history, _)| examine_subject(registry, event, history, levels, report))
        .collect()
}

/// One subject's committed history.
#[derive(Debug)]
pub struct History {
    /// The subject's name.
    pub subject: String,
    /// The event type's directory in `schemas/`.
    pub home: PathBuf,
    /// Each version's committed file, oldest first.
    pub files: Vec<PathBuf>,
    /// Each version's schema text.
    pub texts: Vec<String>,
    /// The event type's version each version comes from.
    pub origins: Vec<u32>,
}

/// Reads a subject's registered history, and reports drift against the committed `history`
/// and the checks of its unregistered versions (locally at the registry's level, and by the
/// registry against the offline gate at `levels`, `schemas/compatibility.json`) to `report`.
pub fn examine_subject(
    registry: &Registry,
    event: &'static VersionedType,
    history: History,
    levels: &strata::avro::compat::LevelConfig,
    report: &mut Report,
) -> anyhow::Result<Subject> {
    let History { subject, home, files, texts, origins } = history;
    let registered: Vec<RegisteredVersion> = registry
        .versions(&subject)
        .and_then(|vs| vs.into_iter().map(|v| registry.version(&subject, v)).collect())
        .with_context(|| format!("cannot read subject `{subject}` from the registry"))?;
    let level = registry.level(&subject)?;

    // Drift: the registered history must be the committed one's prefix.
    let case = report.cases.len();
    report.cases.push((subject.clone(), "registered history matches schemas/".into()));
    let mut matched = 0;
    for (i, version) in registered.iter().enumerate() {
        let resolved = registry.resolve(&version.schema, &version.references)?;
        let same = match texts.get(i) {
            Some(text) => canonical(&resolved)? == canonical(text)?,
            None => false,
        };
        if !same {
            let (file, what) = match files.get(i) {
                Some(f) => (f.display().to_string(), format!("differs from `{}`", f.display())),
                None => (
                    home.display().to_string(),
                    format!("has no counterpart in `{}`", home.display()),
                ),
            };
            report.items.push(Item {
                level: Level::Error,
                case,
                rule: "DRIFT".into(),
                file,
                line: None,
                message: format!(
                    "`{subject}`: registry version {} (id {}) {what}: the registered history \
                     and the committed one diverged",
                    version.version, version.id
                ),
                hint: "find out who registered it; the committed history is append-only, so \
                       delete the stray version from the registry or bring schemas/ in line"
                    .into(),
            });
            break;
        }
        matched = i + 1;
    }
    // Version N of the type is version N of the subject; deletes can break that (a registry
    // never reuses a version number). Never compared by position silently.
    for (i, version) in registered.iter().enumerate().take(matched) {
        let committed = i as u32 + 1;
        if version.version == committed {
            continue;
        }
        let case = report.cases.len();
        report.cases.push((subject.clone(), format!("version {committed} has its number")));
        report.items.push(Item {
            level: Level::Error,
            case,
            rule: "VERSION_NUMBER_MISMATCH".into(),
            file: files[i].display().to_string(),
            line: None,
            message: format!(
                "`{subject}`: committed version {committed} is registry version {} (id {}): \
                 after a delete, the registry's version numbers no longer follow the event \
                 type's",
                version.version, version.id
            ),
            hint: format!(
                "whoever asks the registry for version {committed} of `{subject}` gets another \
                 schema than strata's version {committed}; to restore the numbering, delete the \
                 subject (soft, then `?permanent=true`) and register again"
            ),
        });
    }
    let examined = Subject { event, subject, files, texts, origins, registered, matched, level };
    if matched < examined.registered.len() {
        return Ok(examined);
    }

    // The local verdict for every unregistered version, at the registry's level.
    let prepared = examined
        .texts
        .iter()
        .map(|t| {
            let parsed = strata::avro::compat::parse_schema(t).map_err(anyhow::Error::new)?;
            Prepared::new(&parsed).map_err(anyhow::Error::new)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let gated_subject = examined.gated();
    let gated = gate(level, &prepared, &gated_subject.breaks());
    let first = matched as u32 + 1;
    push_gate(report, &gated_subject, level, &gated, first);

    // Every unregistered version, as the registry judges it against what it holds, and as
    // the offline gate judges the same (at `schemas/compatibility.json`'s level): the two
    // verdicts must agree, or CI's gate and the registry say different things.
    let declared = levels.level(&examined.subject);
    let registered = &prepared[..matched];
    for version in examined.pending() {
        let text = &examined.texts[version as usize - 1];
        let answer = registry.test_compatibility(&examined.subject, text, &[], level.transitive());
        let (compatible, messages) = match answer {
            Ok(verdict) => verdict,
            // A subject that does not exist yet (Confluent's releases answer 40401): nothing
            // registered, nothing to break.
            Err(strata::codec::source::SourceError::Refused { code: 40401, .. }) => {
                (true, Vec::new())
            }
            Err(e) => return Err(e.into()),
        };
        let local = compat::check_prepared(declared, &prepared[version as usize - 1], registered)
            .is_empty();
        let case = report.cases.len();
        report.cases.push((
            examined.subject.clone(),
            format!("version {version}: the registry's verdict matches strata's"),
        ));
        if compatible == local {
            continue;
        }
        let say = |ok: bool| if ok { "compatible" } else { "incompatible" };
        let hint = if declared == level {
            "the registry and strata apply different rules here; report it to strata with both \
             schemas"
                .to_owned()
        } else {
            format!(
                "the registry applies {} to `{}`, `schemas/compatibility.json` declares {}: align \
                 them (PUT /config/{} on the registry, or the file), so CI's gate predicts the \
                 registry",
                level.as_str(),
                examined.subject,
                declared.as_str(),
                examined.subject
            )
        };
        report.items.push(Item {
            level: Level::Error,
            case,
            rule: "REGISTRY_DISAGREES".into(),
            file: examined.files[version as usize - 1].display().to_string(),
            line: None,
            message: format!(
                "`{}` version {version}: strata says {} at {} (schemas/compatibility.json), the \
                 registry says {} at {}{}",
                examined.subject,
                say(local),
                declared.as_str(),
                say(compatible),
                level.as_str(),
                if messages.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", messages.join("; "))
                }
            ),
            hint,
        });
    }
    Ok(examined)
}
