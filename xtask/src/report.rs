//! Findings of the compatibility commands in one shape, printed as text (coloured on a
//! terminal), JSON, GitHub Actions annotations or JUnit XML.

use std::io::IsTerminal;

use serde_json::json;

use crate::flags::Format;

/// How serious an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Fails the check.
    Error,
    /// Worth knowing; the check passes.
    Warning,
    /// Acknowledged (a declared break).
    Note,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

/// One finding.
#[derive(Debug, Clone)]
pub struct Item {
    /// Error, warning or note.
    pub level: Level,
    /// The check it belongs to: a case of [`Report::cases`].
    pub case: usize,
    /// The rule, such as `TYPE_MISMATCH`.
    pub rule: String,
    /// Where to look: a schema file or a Rust source file, and the line when known.
    pub file: String,
    /// The line in `file`, when known.
    pub line: Option<u32>,
    /// What is wrong, in one sentence with the coordinates.
    pub message: String,
    /// What to do.
    pub hint: String,
}

/// Every check that ran (for JUnit) and what it found.
#[derive(Debug, Default)]
pub struct Report {
    /// Each check as (group, name): (subject or file, "version 3 reads version 2").
    pub cases: Vec<(String, String)>,
    /// What the checks found.
    pub items: Vec<Item>,
}

impl Report {
    /// How many findings are errors.
    pub fn errors(&self) -> usize {
        self.items.iter().filter(|i| i.level == Level::Error).count()
    }

    /// Prints the report in `format`; `summary` closes the text form.
    pub fn print(&self, format: Format, summary: &str) {
        match format {
            Format::Text => self.text(summary),
            Format::Json => {
                println!("{}", serde_json::to_string_pretty(&self.json()).expect("JSON"))
            }
            Format::Github => self.github(),
            Format::Junit => print!("{}", self.junit()),
        }
    }

    fn text(&self, summary: &str) {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let paint = |code: &str, text: &str| {
            if colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
        };
        for item in &self.items {
            let (code, word) = match item.level {
                Level::Error => ("1;31", item.level.word()),
                Level::Warning => ("1;33", item.level.word()),
                Level::Note => ("1;36", item.level.word()),
            };
            let at = match item.line {
                Some(line) => format!("{}:{line}", item.file),
                None => item.file.clone(),
            };
            println!(
                "{}: {}\n  {} {at}\n{}: {}",
                paint(code, word),
                item.message,
                paint("34", "-->"),
                paint("1", "hint"),
                item.hint
            );
        }
        println!("{summary}");
    }

    fn json(&self) -> serde_json::Value {
        let items: Vec<_> = self
            .items
            .iter()
            .map(|i| {
                json!({
                    "level": i.level.word(),
                    "check": self.cases[i.case].1,
                    "group": self.cases[i.case].0,
                    "rule": i.rule,
                    "file": i.file,
                    "line": i.line,
                    "message": i.message,
                    "hint": i.hint,
                })
            })
            .collect();
        json!({"passed": self.errors() == 0, "checks": self.cases.len(), "errors": self.errors(), "findings": items})
    }

    fn github(&self) {
        for i in &self.items {
            let command = match i.level {
                Level::Error => "error",
                Level::Warning => "warning",
                Level::Note => "notice",
            };
            let line = i.line.map(|l| format!(",line={l}")).unwrap_or_default();
            println!(
                "::{command} file={}{line},title={}::{}",
                i.file,
                i.rule,
                escape(&format!("{}. {}", i.message, i.hint))
            );
        }
    }

    fn junit(&self) -> String {
        let mut suites: Vec<(&str, Vec<usize>)> = Vec::new();
        for (index, (group, _)) in self.cases.iter().enumerate() {
            match suites.iter_mut().find(|(g, _)| g == group) {
                Some((_, cases)) => cases.push(index),
                None => suites.push((group, vec![index])),
            }
        }
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
        for (group, cases) in suites {
            let failing = |case: usize| {
                self.items.iter().filter(move |i| i.case == case && i.level == Level::Error)
            };
            let failures = cases.iter().filter(|&&c| failing(c).next().is_some()).count();
            out.push_str(&format!(
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">\n",
                xml(group),
                cases.len()
            ));
            for case in cases {
                out.push_str(&format!(
                    "    <testcase classname=\"{}\" name=\"{}\">\n",
                    xml(group),
                    xml(&self.cases[case].1)
                ));
                let items: Vec<&Item> = failing(case).collect();
                if let Some(first) = items.first() {
                    let text: Vec<String> =
                        items.iter().map(|i| format!("{}\nhint: {}", i.message, i.hint)).collect();
                    out.push_str(&format!(
                        "      <failure message=\"{} finding(s)\" type=\"{}\">{}</failure>\n",
                        items.len(),
                        xml(&first.rule),
                        xml(&text.join("\n"))
                    ));
                }
                out.push_str("    </testcase>\n");
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
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
