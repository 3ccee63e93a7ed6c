//! `cargo xtask schemas [--check]`: derive every version of every linked event type and keep
//! `schemas/` in step with them.

use anyhow::Context;

use crate::flags::Schemas;
use std::path::PathBuf;

use crate::{Outcome, in_ci};

impl Schemas {
    /// `schemas --check` of `dir`: what `check` and `register` run first.
    pub fn checking(dir: PathBuf) -> Self {
        Schemas { check: true, accept_docs: false, dir: Some(dir) }
    }

    /// Runs `cargo xtask schemas`.
    pub fn run(self) -> anyhow::Result<Outcome> {
        self.run_reporting().map(|(outcome, _)| outcome)
    }

    /// Runs the command, printing as it does, and also returns the history's report (for
    /// `check`, which gives its findings to every output format).
    pub fn run_reporting(self) -> anyhow::Result<(Outcome, strata::history::Report)> {
        let dir = self.dir.unwrap_or_else(|| PathBuf::from("schemas"));
        // Event types and state types: both histories are locked in `schemas/`.
        let events = strata::histories();
        if events.is_empty() {
            anyhow::bail!(
                "no event types are linked into this program\nhint: call a function of the crate that declares them (such as `my_domain::link()`) from the xtask's `main`"
            );
        }
        let check = self.check || in_ci();
        let report = if check {
            strata::history::check(&events, &dir)
        } else if self.accept_docs {
            strata::history::accept_docs(&events, &dir)
        } else {
            strata::history::write(&events, &dir)
        }
        .with_context(|| format!("schema history in `{}`", dir.display()))?;
        for path in &report.written {
            println!("wrote {}", path.display());
        }
        eprint!("{report}");
        if report.has_errors() {
            let errors = report.errors().count();
            eprintln!("error: {errors} problem(s) in `{}`", dir.display());
            if !report.withheld.is_empty() {
                let files: Vec<String> =
                    report.withheld.iter().map(|p| format!("`{}`", p.display())).collect();
                eprintln!(
                    "nothing was published: {} held back until the errors are fixed",
                    files.join(", ")
                );
            }
            return Ok((Outcome::Failed, report));
        }
        let versions: u32 = events.iter().map(|e| e.version).sum();
        // On stderr, like the report: stdout stays clean for `check --format json|junit`.
        eprintln!(
            "{} event type(s), {} key type(s), {} state type(s), {versions} version(s): `{}` is {}",
            events.iter().filter(|e| e.kind == strata::history::catalog::TypeKind::Event).count(),
            events.iter().filter(|e| e.kind == strata::history::catalog::TypeKind::Key).count(),
            events.iter().filter(|e| e.kind == strata::history::catalog::TypeKind::State).count(),
            dir.display(),
            if check { "up to date" } else { "in step" }
        );
        Ok((Outcome::Passed, report))
    }
}
