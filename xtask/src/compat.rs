//! `cargo xtask compat`: schema files checked for compatibility at a Confluent level, every
//! finding printed in the format asked for.

use std::path::Path;

use anyhow::Context;
use strata::avro::compat::{self, Direction};

use crate::Outcome;
use crate::flags::Compat;
use crate::report::{Item, Level, Report};

fn schema(path: &Path) -> anyhow::Result<apache_avro::Schema> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    strata::avro::compat::parse_schema(&text)
        .with_context(|| format!("`{}` is not a valid Avro schema", path.display()))
}

/// How a check's direction reads in case names and messages.
pub fn direction(d: Direction) -> &'static str {
    match d {
        Direction::NewReadsOld => "backward",
        Direction::OldReadsNew => "forward",
    }
}

impl Compat {
    /// Runs `cargo xtask compat`.
    pub fn run(self) -> anyhow::Result<Outcome> {
        let new = schema(&self.new)?;
        let history = self.old.iter().map(|p| schema(p)).collect::<anyhow::Result<Vec<_>>>()?;
        let findings = compat::check(self.level, &new, &history).map_err(anyhow::Error::new)?;
        let new_file = self.new.display().to_string();
        let mut report = Report::default();
        let checks = self.level.checks(history.len());
        for &(earlier, d) in &checks {
            let name = format!(
                "{new_file} against {} ({})",
                self.old[earlier - 1].display(),
                direction(d)
            );
            report.cases.push((format!("compat.{}", self.level.as_str()), name));
        }
        for f in &findings {
            let i = &f.incompatibility;
            let case = checks
                .iter()
                .position(|&(v, d)| v == f.version && d == f.direction)
                .expect("every finding belongs to a check the level makes");
            let reads = match f.direction {
                Direction::NewReadsOld => "cannot read",
                Direction::OldReadsNew => "cannot be read by",
            };
            report.items.push(Item {
                level: Level::Error,
                case,
                rule: i.kind.to_string(),
                file: new_file.clone(),
                line: None,
                message: format!(
                    "`{new_file}` {reads} `{}` ({}): {} at `{}` ({}): {}",
                    self.old[f.version - 1].display(),
                    direction(f.direction),
                    i.kind,
                    i.path,
                    i.location,
                    i.message
                ),
                hint: i.hint.clone(),
            });
        }
        let verdict = if findings.is_empty() { "compatible" } else { "incompatible" };
        let summary = format!(
            "`{new_file}` is {verdict} at {} with {} earlier version(s): {} finding(s)",
            self.level.as_str(),
            history.len(),
            findings.len()
        );
        report.print(self.format, &summary);
        Ok(if findings.is_empty() { Outcome::Passed } else { Outcome::Failed })
    }
}
