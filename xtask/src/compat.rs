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
            Format::Junit => print!("{}", self.junit(&history, &findings)),
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

impl Compat {
    /// The report as JUnit XML: a test case per earlier version and direction the level checks,
    /// failing with its findings.
    fn junit(&self, history: &[apache_avro::Schema], findings: &[Finding]) -> String {
        let level = self.level.as_str();
        let transitive = level.ends_with("_TRANSITIVE");
        let directions: &[Direction] = match level.trim_end_matches("_TRANSITIVE") {
            "BACKWARD" => &[Direction::NewReadsOld],
            "FORWARD" => &[Direction::OldReadsNew],
            "FULL" => &[Direction::NewReadsOld, Direction::OldReadsNew],
            _ => &[],
        };
        let first = if transitive || history.is_empty() { 0 } else { history.len() - 1 };
        let mut cases = String::new();
        let mut count = 0;
        let mut failed = 0;
        for version in first + 1..=history.len() {
            for &direction in directions {
                count += 1;
                let name = format!(
                    "{} against {} ({})",
                    self.new.display(),
                    self.old[version - 1].display(),
                    direction_word(direction)
                );
                let mine: Vec<&Finding> = findings
                    .iter()
                    .filter(|f| f.version == version && f.direction == direction)
                    .collect();
                cases.push_str(&format!(
                    "    <testcase classname=\"compat.{level}\" name=\"{}\">\n",
                    xml(&name)
                ));
                if !mine.is_empty() {
                    failed += 1;
                    let text: Vec<String> =
                        mine.iter().map(|f| f.incompatibility.to_string()).collect();
                    cases.push_str(&format!(
                        "      <failure message=\"{} incompatibilit(ies)\" type=\"{}\">{}</failure>\n",
                        mine.len(),
                        mine[0].incompatibility.kind,
                        xml(&text.join("\n"))
                    ));
                }
                cases.push_str("    </testcase>\n");
            }
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"schema compatibility\" tests=\"{count}\" failures=\"{failed}\" errors=\"0\">\n{cases}  </testsuite>\n</testsuites>\n"
        )
    }
}

fn direction_word(d: Direction) -> &'static str {
    match d {
        Direction::NewReadsOld => "backward",
        Direction::OldReadsNew => "forward",
    }
}

/// Text escaped for XML attributes and content.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// GitHub's workflow-command escaping of a message.
fn escape(message: &str) -> String {
    message.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}
