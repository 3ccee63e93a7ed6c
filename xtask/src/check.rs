//! `cargo xtask check`: the offline CI gate. The committed history must match the event types
//! (as `schemas --check`), and every version must be compatible with the earlier ones at its
//! subject's level (`schemas/compatibility.json`, default BACKWARD_TRANSITIVE), except where the
//! event type declares a break. Findings point at the Rust field that breaks. With
//! `--registry`, also against a live Schema Registry (`remote`). Both over `gate`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use strata::avro::compat::{Prepared, gate};
use strata::codec::registry::Registry;

use crate::Outcome;
use crate::flags::{Check, Schemas};
use crate::gate::{GatedSubject, finish, level_config, push_gate, push_history, push_key_changed};
use crate::report::Report;

impl Check {
    /// Runs `cargo xtask check`.
    pub fn run(self) -> anyhow::Result<Outcome> {
        let dir = self.dir.clone().unwrap_or_else(|| PathBuf::from("schemas"));
        // The history's findings are printed on stderr as text; the machine formats carry
        // them too, so a failing history check is never an empty stdout.
        let (history, findings) = Schemas::checking(dir.clone()).run_reporting()?;
        let mut report = Report::default();
        if self.format != crate::flags::Format::Text {
            push_history(&mut report, &findings, &dir);
        }
        if history == Outcome::Failed {
            if self.format != crate::flags::Format::Text {
                finish(&report, self.format);
            }
            return Ok(Outcome::Failed);
        }
        if let Some(registry) = self.registry.client()? {
            check_registry(&registry, &dir, self.subject_strategy, &mut report)?;
            return Ok(finish(&report, self.format));
        }
        let config = level_config(&dir)?;
        for event in strata::history::catalog::registered_types() {
            push_key_changed(&mut report, event);
            let subject = event.subject();
            let level = config.level(&subject);
            let versions = (1..=event.version)
                .map(|v| {
                    let json = event.schema(v)?.to_json().to_string();
                    let parsed =
                        strata::avro::compat::parse_schema(&json).map_err(anyhow::Error::new)?;
                    Prepared::new(&parsed).map_err(anyhow::Error::new)
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .with_context(|| format!("`{subject}` (`{}`)", event.rust_name))?;
            let breaks: Vec<u32> = event.breaks.iter().map(|(v, _)| *v).collect();
            let gated = gate(level, &versions, &breaks);
            let origins: Vec<u32> = (1..=event.version).collect();
            let subject = GatedSubject { event, subject: &subject, origins: &origins };
            push_gate(&mut report, &subject, level, &gated, 1);
        }
        Ok(finish(&report, self.format))
    }
}

/// `cargo xtask check --registry`: after the offline history check.
fn check_registry(
    registry: &Registry,
    dir: &Path,
    strategy: strata::subject::SubjectStrategy,
    report: &mut Report,
) -> anyhow::Result<()> {
    let levels = level_config(dir)?;
    for event in strata::history::catalog::registered_types() {
        push_key_changed(report, event);
        for subject in crate::remote::examine(registry, event, dir, &levels, strategy, report)? {
            eprintln!(
                "{}: {} of {} version(s) registered, {} to register, at {}",
                subject.subject,
                subject.matched,
                subject.texts.len(),
                subject.pending().count(),
                subject.level.as_str()
            );
        }
    }
    Ok(())
}
