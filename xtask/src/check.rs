//! `cargo xtask check`: the offline CI gate. The committed history must match the event types
//! (as `schemas --check`), and every version must be compatible with the earlier ones at its
//! subject's level (`schemas/compatibility.json`, default BACKWARD_TRANSITIVE), except where the
//! event type declares a break.

use std::path::PathBuf;

use anyhow::Context;
use strata::compat::{Direction, LevelConfig, Prepared, gate};

use crate::Outcome;
use crate::flags::{Check, Schemas};

impl Check {
    pub fn run(self) -> anyhow::Result<Outcome> {
        let dir = self.dir.clone().unwrap_or_else(|| PathBuf::from("schemas"));
        let history = Schemas { check: true, dir: Some(dir.clone()) }.run()?;
        if history == Outcome::Failed {
            return Ok(Outcome::Failed);
        }
        let config_path = dir.join("compatibility.json");
        let config = match std::fs::read_to_string(&config_path) {
            Ok(text) => LevelConfig::from_json(&text)
                .map_err(|e| anyhow::anyhow!("`{}`: {e}", config_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LevelConfig::default(),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read `{}`", config_path.display()));
            }
        };
        let mut errors = 0;
        for event in strata::event_types() {
            let subject = event.subject();
            let level = config.level(&subject);
            let versions = (1..=event.version)
                .map(|v| {
                    let json = event.schema(v)?.to_json().to_string();
                    let parsed = apache_avro::Schema::parse_str(&json)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    Prepared::new(&parsed).map_err(|e| anyhow::anyhow!(e))
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .with_context(|| format!("`{subject}` (`{}`)", event.rust_name))?;
            let breaks: Vec<u32> = event.breaks.iter().map(|(v, _)| *v).collect();
            let report = gate(level, &versions, &breaks);
            let place = format!("{}:{}", event.source.file, event.source.line);
            let at = |path: &str| {
                let location = event.locate(path);
                format!("{}:{}", location.file, location.line)
            };
            for f in &report.findings {
                let i = &f.finding.incompatibility;
                let direction = match f.finding.direction {
                    Direction::NewReadsOld => "cannot read",
                    Direction::OldReadsNew => "cannot be read by",
                };
                let what = format!(
                    "`{subject}` version {} {direction} version {} at {}: {} at `{}` ({}): {}",
                    f.version,
                    f.finding.version,
                    level.as_str(),
                    i.kind,
                    i.path,
                    i.location,
                    i.message
                );
                if f.declared {
                    let reason = event
                        .breaks
                        .iter()
                        .find(|(v, _)| *v == f.version)
                        .map(|(_, r)| *r)
                        .unwrap_or("");
                    println!("note: {what}\n  declared break ({place}): {reason}");
                } else {
                    errors += 1;
                    eprintln!(
                        "error: {what}\n  --> {} (`{}`)\nhint: {}; or, if upgrade functions handle it, declare `breaks(in = {}, reason = \"...\")` on `{}`",
                        at(&i.path),
                        event.rust_name,
                        i.hint,
                        f.version,
                        event.rust_name
                    );
                }
            }
            for v in &report.needless_breaks {
                eprintln!(
                    "warning: `{subject}` version {v} is declared as a break but is compatible at {}\n  --> {place}\nhint: remove `breaks(in = {v}, ...)`",
                    level.as_str()
                );
            }
        }
        if errors > 0 {
            eprintln!("error: {errors} incompatibilit(ies) at the subjects' levels");
            return Ok(Outcome::Failed);
        }
        println!("compatibility: every version reads the earlier ones at its subject's level");
        Ok(Outcome::Passed)
    }
}
