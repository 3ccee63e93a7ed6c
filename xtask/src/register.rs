//! `cargo xtask register`: each subject's unregistered versions, in order, refusing whatever
//! `check --registry` refuses; the topic union by reference to its records where the registry
//! supports references.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;
use strata::avro::compat::Level as CompatLevel;
use strata::codec::registry::{Registry, SchemaReference};
use strata::codec::source::SourceError;
use strata::subject::SubjectStrategy;

use crate::remote::{Subject, examine};
use crate::report::Report;

/// How the topic union is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The whole union under the topic's subject.
    Inline,
    /// Each record under `<topic>-<record full name>`, the union by reference to them.
    References,
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
            let previous = registry.subject_level(subject)?;
            eprintln!(
                "note: `{subject}`: lowering the level to NONE to register a declared break ({}), \
                 then restoring it",
                declared.unwrap_or_default()
            );
            registry.set_level(subject, Some(CompatLevel::None))?;
            let result = registry.register(subject, text, references);
            let restored = registry.set_level(subject, previous);
            let id = result?;
            restored.with_context(|| {
                format!("registered, but could not restore the level of `{subject}`")
            })?;
            Ok(id)
        }
        Err(e) => Err(e.into()),
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
    let declared = examined.declared(version);
    // Only an event union refers to its records; a key or a single record stays whole.
    let records = match serde_json::from_str::<Value>(text) {
        Ok(union @ Value::Array(_)) => strata::subject::record_schemas(&union).ok(),
        _ => None,
    };
    let (union, references) = match (shape, records) {
        (Shape::References, Some(records)) => {
            let mut references = Vec::new();
            for (name, record) in &records {
                let record_subject = strata::subject::topic_record(examined.event.topic, name);
                register_one(registry, &record_subject, record, &[], declared)?;
                let found = registry.lookup(&record_subject, record, &[])?.with_context(|| {
                    format!("`{record_subject}` lost the schema just registered")
                })?;
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
        .lookup(&examined.subject, &union, &references)?
        .with_context(|| format!("`{}` lost the schema just registered", examined.subject))?;
    Ok((found.version, id))
}

impl crate::flags::Register {
    /// Runs `cargo xtask register`.
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
        let levels = crate::gate::level_config(&dir)?;
        for event in strata::history::catalog::registered_types() {
            let strategy = self.subject_strategy;
            subjects.extend(examine(&registry, event, &dir, &levels, strategy, &mut report)?);
        }
        if report.errors() > 0 {
            crate::gate::finish(&report, crate::flags::Format::Text);
            eprintln!("error: nothing registered: fix what the check found first");
            return Ok(crate::Outcome::Failed);
        }
        // A record subject's schema is one record: nothing to reference.
        let shape = if !self.inline
            && self.subject_strategy == SubjectStrategy::Topic
            && registry.supports_references()?
        {
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
