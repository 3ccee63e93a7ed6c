//! The gate and registration against a live Schema Registry: `cargo xtask check --registry`
//! and `cargo xtask register`.
//!
//! A subject's registered history must be a prefix of its committed history in `schemas/`
//! (compared by Confluent's canonical form, references resolved): anything else is drift. The
//! versions past the prefix are checked locally at the level the registry gives the subject,
//! and the first of them is also checked by the registry itself; the two verdicts must agree.
//! `register` registers them in order, with the checks' refusals as its own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use strata::EventType;
use strata::compat::{Level as CompatLevel, Prepared, gate};
use strata::registry::{RegisteredVersion, Registry, RegistryConfig, SchemaReference};
use strata::source::SourceError;

use crate::check::push_gate;
use crate::report::{Item, Level, Report};

/// How to reach the registry (the environment variables are those Confluent's tools read).
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryFlags {
    /// The Schema Registry's base URL (`https://` works too).
    #[arg(long = "registry", value_name = "URL", env = "SCHEMA_REGISTRY_URL")]
    pub url: Option<String>,
    /// HTTP basic auth, `USER:PASSWORD`.
    #[arg(
        long = "registry-user-info",
        value_name = "USER:PASSWORD",
        env = "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
        hide_env_values = true
    )]
    pub user_info: Option<String>,
    /// A bearer token.
    #[arg(
        long = "registry-token",
        value_name = "TOKEN",
        env = "SCHEMA_REGISTRY_BEARER_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// A header sent with every request, `NAME: VALUE`; repeat it for more.
    #[arg(long = "registry-header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// The timeout of one request, in seconds.
    #[arg(long = "registry-timeout", value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
    /// How often a request failing for a transient reason (connection, 5xx, 429) is retried,
    /// with exponential backoff from 200 ms.
    #[arg(long = "registry-retries", value_name = "N", default_value_t = 3)]
    pub retries: u32,
}

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
    pub event: &'static EventType,
    pub subject: String,
    /// `schemas/<subject>/v<N>.avsc`, oldest first.
    pub files: Vec<PathBuf>,
    pub texts: Vec<String>,
    /// The registry's live versions, oldest first.
    pub registered: Vec<RegisteredVersion>,
    /// How many committed versions the registry holds (the matching prefix).
    pub matched: usize,
    /// The level the registry applies to the subject.
    pub level: CompatLevel,
}

impl Subject {
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
    Ok(strata::canonical::canonical(&strata::history::identity(&json).to_string())?)
}

fn refused(e: SourceError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Reads a subject's committed and registered histories, and reports drift and the checks of
/// its unregistered versions (locally at the registry's level, and by the registry) to
/// `report`.
pub fn examine(
    registry: &Registry,
    event: &'static EventType,
    dir: &Path,
    report: &mut Report,
) -> anyhow::Result<Subject> {
    let subject = event.subject();
    let files: Vec<PathBuf> =
        (1..=event.version).map(|v| dir.join(&subject).join(format!("v{v}.avsc"))).collect();
    let texts = files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f).with_context(|| format!("cannot read `{}`", f.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let registered: Vec<RegisteredVersion> = registry
        .versions(&subject)
        .and_then(|vs| vs.into_iter().map(|v| registry.version(&subject, v)).collect())
        .map_err(refused)
        .with_context(|| format!("cannot read subject `{subject}` from the registry"))?;
    let level = registry.level(&subject).map_err(refused)?;

    // Drift: the registered history must be the committed one's prefix.
    let case = report.cases.len();
    report.cases.push((subject.clone(), "registered history matches schemas/".into()));
    let mut matched = 0;
    for (i, version) in registered.iter().enumerate() {
        let resolved = registry.resolve(&version.schema, &version.references).map_err(refused)?;
        let same = match texts.get(i) {
            Some(text) => canonical(&resolved)? == canonical(text)?,
            None => false,
        };
        if !same {
            let (file, what) = match files.get(i) {
                Some(f) => (f.display().to_string(), format!("differs from `{}`", f.display())),
                None => (
                    dir.join(&subject).display().to_string(),
                    format!("has no counterpart in `{}`", dir.join(&subject).display()),
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
    let examined = Subject { event, subject, files, texts, registered, matched, level };
    if matched < examined.registered.len() {
        return Ok(examined);
    }

    // The local verdict for every unregistered version, at the registry's level.
    let prepared = examined
        .texts
        .iter()
        .map(|t| {
            let parsed = apache_avro::Schema::parse_str(t).map_err(|e| anyhow::anyhow!("{e}"))?;
            Prepared::new(&parsed).map_err(|e| anyhow::anyhow!(e))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let breaks: Vec<u32> = event.breaks.iter().map(|(v, _)| *v).collect();
    let gated = gate(level, &prepared, &breaks);
    let first = matched as u32 + 1;
    push_gate(report, event, level, &gated, first);

    // The registry's verdict on the first of them; it must agree.
    if let Some(text) = examined.texts.get(matched) {
        let (compatible, messages) = registry
            .test_compatibility(&examined.subject, text, &[], level.transitive())
            .map_err(refused)?;
        let local = !gated.findings.iter().any(|f| f.version == first);
        let case = report.cases.len();
        report.cases.push((
            examined.subject.clone(),
            format!("version {first}: the registry's verdict matches strata's"),
        ));
        if compatible != local {
            let say = |ok: bool| if ok { "compatible" } else { "incompatible" };
            report.items.push(Item {
                level: Level::Error,
                case,
                rule: "REGISTRY_DISAGREES".into(),
                file: examined.files[matched].display().to_string(),
                line: None,
                message: format!(
                    "`{}` version {first} at {}: strata says {}, the registry says {}{}",
                    examined.subject,
                    level.as_str(),
                    say(local),
                    say(compatible),
                    if messages.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", messages.join("; "))
                    }
                ),
                hint: "the registry and strata apply different rules here; report it to strata \
                       with both schemas"
                    .into(),
            });
        }
    }
    Ok(examined)
}

/// `cargo xtask check --registry`: after the offline history check.
pub fn check(registry: &Registry, dir: &Path, report: &mut Report) -> anyhow::Result<()> {
    for event in strata::event_types() {
        let subject = examine(registry, event, dir, report)?;
        eprintln!(
            "{}: {} of {} version(s) registered, {} to register, at {}",
            subject.subject,
            subject.matched,
            subject.texts.len(),
            subject.pending().count(),
            subject.level.as_str()
        );
    }
    Ok(())
}

/// How the topic union is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The whole union under the topic's subject.
    Inline,
    /// Each record under `<topic>-<record full name>`, the union by reference to them.
    References,
}

/// The union's records, each as a standalone schema text with its full name, if every one
/// stands alone (a record naming a type another defines cannot be registered by itself).
fn standalone_records(text: &str) -> Option<Vec<(String, String)>> {
    let Value::Array(branches) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    branches
        .iter()
        .map(|branch| {
            let name = branch.get("name")?.as_str()?;
            let full = match branch.get("namespace").and_then(Value::as_str) {
                Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
                _ => name.to_owned(),
            };
            let text = branch.to_string();
            apache_avro::Schema::parse_str(&text).ok()?;
            Some((full, text))
        })
        .collect()
}

/// Registers, lowering the subject's level around a declared break that the registry refuses
/// (and restoring it after, even on failure). Returns the id.
fn register_one(
    registry: &Registry,
    subject: &str,
    text: &str,
    references: &[SchemaReference],
    declared: Option<&str>,
) -> anyhow::Result<u32> {
    match registry.register(subject, text, references) {
        Ok(id) => Ok(id),
        Err(SourceError::Refused { status: 409, .. }) if declared.is_some() => {
            let previous = registry.subject_level(subject).map_err(refused)?;
            eprintln!(
                "note: `{subject}`: lowering the level to NONE to register a declared break ({}), \
                 then restoring it",
                declared.unwrap_or_default()
            );
            registry.set_level(subject, Some(CompatLevel::None)).map_err(refused)?;
            let result = registry.register(subject, text, references);
            let restored = registry.set_level(subject, previous);
            let id = result.map_err(refused)?;
            restored.map_err(refused).with_context(|| {
                format!("registered, but could not restore the level of `{subject}`")
            })?;
            Ok(id)
        }
        Err(e) => Err(refused(e)),
    }
}

/// Registers one committed version of `examined` in `shape`; returns (registry version, id).
pub fn register_version(
    registry: &Registry,
    examined: &Subject,
    version: u32,
    shape: Shape,
) -> anyhow::Result<(u32, u32)> {
    let text = &examined.texts[version as usize - 1];
    let declared =
        examined.event.breaks.iter().find(|(v, _)| *v == version).map(|(_, reason)| *reason);
    let (union, references) = match (shape, standalone_records(text)) {
        (Shape::References, Some(records)) => {
            let mut references = Vec::new();
            for (name, record) in &records {
                let record_subject = format!("{}-{name}", examined.event.topic);
                register_one(registry, &record_subject, record, &[], declared)?;
                let found =
                    registry.lookup(&record_subject, record, &[]).map_err(refused)?.with_context(
                        || format!("`{record_subject}` lost the schema just registered"),
                    )?;
                references.push(SchemaReference {
                    name: name.clone(),
                    subject: record_subject,
                    version: found.version,
                });
            }
            let names: Vec<&str> = records.iter().map(|(n, _)| n.as_str()).collect();
            (serde_json::to_string(&names).expect("names serialize"), references)
        }
        _ => (text.clone(), Vec::new()),
    };
    let id = register_one(registry, &examined.subject, &union, &references, declared)?;
    let found = registry
        .lookup(&examined.subject, &union, &references)
        .map_err(refused)?
        .with_context(|| format!("`{}` lost the schema just registered", examined.subject))?;
    Ok((found.version, id))
}

impl crate::flags::Register {
    pub fn run(self) -> anyhow::Result<crate::Outcome> {
        let dir = self.dir.clone().unwrap_or_else(|| PathBuf::from("schemas"));
        let history = crate::flags::Schemas::checking(dir.clone()).run()?;
        if history == crate::Outcome::Failed {
            return Ok(crate::Outcome::Failed);
        }
        let registry = self
            .registry
            .client()?
            .context("no registry named: give --registry URL or set SCHEMA_REGISTRY_URL")?;
        let mut report = Report::default();
        let mut subjects = Vec::new();
        for event in strata::event_types() {
            subjects.push(examine(&registry, event, &dir, &mut report)?);
        }
        if report.errors() > 0 {
            crate::check::finish(&report, crate::flags::Format::Text);
            eprintln!("error: nothing registered: fix what the check found first");
            return Ok(crate::Outcome::Failed);
        }
        let shape = if !self.inline && registry.supports_references().map_err(refused)? {
            Shape::References
        } else {
            Shape::Inline
        };
        let mut registered = 0;
        for subject in &subjects {
            for version in subject.pending() {
                if self.dry_run {
                    println!(
                        "{} version {version}: would register `{}`",
                        subject.subject,
                        subject.files[version as usize - 1].display()
                    );
                    continue;
                }
                let (registry_version, id) = register_version(&registry, subject, version, shape)?;
                println!(
                    "{} version {version}: registered as version {registry_version}, id {id}",
                    subject.subject
                );
                registered += 1;
            }
        }
        if registered == 0 && !self.dry_run {
            println!("nothing to register: the registry holds every committed version");
        }
        Ok(crate::Outcome::Passed)
    }
}
