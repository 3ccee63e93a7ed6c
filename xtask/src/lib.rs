//! The logic of `cargo xtask`, as a library, so a project's own xtask is a few lines:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     // my_domain::link(); // link the crate whose event types the commands work on
//!     strata_xtask::main()
//! }
//! ```
//!
//! Every event type deriving `strata::Event` that is linked into the binary is found through
//! `strata::event_types()`; there is no list to keep.

#![warn(missing_docs)]

// One module per command; `gate` (the offline gate) under `remote` (the registry side),
// both under `check` and `register`; `flags` is the whole command line.
mod avro;
mod check;
mod compat;
mod flags;
mod gate;
#[cfg(feature = "kafka")]
mod migrate;
#[cfg(feature = "postgres")]
mod readmodels;
#[cfg(feature = "kafka")]
mod redrive;
mod register;
mod remote;
mod report;
mod schemas;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

/// The outcome of a command that ran: whether what it checked holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything checked holds.
    Passed,
    /// The check found problems, already reported.
    Failed,
}

/// Parses the command line, runs the command from the workspace root, and maps the result to
/// the exit code: 0 passed, 1 failed, 2 could not run.
pub fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
    // Paths in commands and reports are relative to the workspace root.
    if let Err(e) = std::env::set_current_dir(project_root()) {
        eprintln!("error: cannot change to the workspace root: {e}");
        return ExitCode::from(2);
    }
    match flags.run() {
        Ok(Outcome::Passed) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The workspace root: the nearest ancestor of the current directory whose `Cargo.toml`
/// declares `[workspace]`, or the current directory.
pub fn project_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors().find(|dir| is_workspace_root(dir)).map(Path::to_owned).unwrap_or(cwd)
}

fn is_workspace_root(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|manifest| manifest.lines().any(|line| line.trim() == "[workspace]"))
}

/// Whether this runs in CI, where commands that write committed files only check.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}
