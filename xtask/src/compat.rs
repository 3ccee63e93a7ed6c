//! `cargo xtask compat`: schema files checked for compatibility at a Confluent level, with
//! every finding printed as text, JSON or GitHub Actions annotations.

use std::path::Path;

use anyhow::Context;
use serde_json::json;
use strata::compat::{self, Direction, Finding};

use crate::Outcome;
use crate::flags::{Compat, Format};

fn schema(path: &Path) -> anyhow::Result<apache_avro::Schema> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    apache_avro::Schema::parse_str(&text)
        .with_context(|| format!("`{}` is not a valid Avro schema", path.display()))
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::NewReadsOld => "new schema reading the old one's data",
        Direction::OldReadsNew => "old schema reading the new one's data",
    }
}

impl Compat {
    pub fn run(self) -> anyhow::Result<Outcome> {
        let new = schema(&self.new)?;
        let history = self.old.iter().map(|p| schema(p)).collect::<anyhow::Result<Vec<_>>>()?;
        let findings = compat::check(self.level, &new, &history).map_err(|e| anyhow::anyhow!(e))?;
        let old_file = |f: &Finding| self.old[f.version - 1].display().to_string();
        match self.format {
            Format::Text => {
                for f in &findings {
                    let i = &f.incompatibility;
                    println!(
                        "error: `{}` is incompatible with `{}` ({}): {} at `{}` ({}): {}\nhint: {}",
                        self.new.display(),
                        old_file(f),
                        direction(f.direction),
                        i.kind,
                        i.path,
                        i.location,
                        i.message,
                        i.hint
                    );
                }
                let verdict = if findings.is_empty() { "compatible" } else { "incompatible" };
                println!(
                    "`{}` is {verdict} at {} with {} earlier version(s): {} finding(s)",
                    self.new.display(),
                    self.level.as_str(),
                    history.len(),
                    findings.len()
                );
            }
            Format::Json => {
                let items: Vec<_> = findings
                    .iter()
                    .map(|f| {
                        let i = &f.incompatibility;
                        json!({
                            "old": old_file(f),
                            "old_position": f.version,
                            "direction": match f.direction { Direction::NewReadsOld => "new_reads_old", Direction::OldReadsNew => "old_reads_new" },
                            "rule": i.kind.as_str(),
                            "location": i.location,
                            "path": i.path,
                            "message": i.message,
                            "hint": i.hint,
                        })
                    })
                    .collect();
                let report = json!({
                    "new": self.new.display().to_string(),
                    "level": self.level.as_str(),
                    "compatible": findings.is_empty(),
                    "findings": items,
                });
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            Format::Github => {
                for f in &findings {
                    let i = &f.incompatibility;
                    let message = format!(
                        "{} at `{}` ({}) against {} ({}): {}. {}",
                        i.kind,
                        i.path,
                        i.location,
                        old_file(f),
                        direction(f.direction),
                        i.message,
                        i.hint
                    );
                    println!(
                        "::error file={},title={}::{}",
                        self.new.display(),
                        i.kind,
                        escape(&message)
                    );
                }
            }
        }
        Ok(if findings.is_empty() { Outcome::Passed } else { Outcome::Failed })
    }
}

/// GitHub's workflow-command escaping of a message.
fn escape(message: &str) -> String {
    message.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}
