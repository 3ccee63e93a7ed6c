//! `cargo xtask read-models`: the books of `strata::kafka::readmodel`, read and pruned.

use anyhow::Context;
use strata::kafka::readmodel::postgres::{Client, NoTls};
use strata::kafka::readmodel::{VersionInfo, drop_version, versions};

use crate::Outcome;
use crate::flags::{Database, ReadModels};

impl ReadModels {
    /// Runs `cargo xtask read-models ...`.
    pub fn run(self) -> anyhow::Result<Outcome> {
        match self {
            ReadModels::List { database, name } => {
                let mut db = connect(&database)?;
                let listed = versions(&mut db, name.as_deref())?;
                if listed.is_empty() {
                    eprintln!("no read models in this database");
                }
                for version in &listed {
                    println!("{}", line(version));
                }
                Ok(Outcome::Passed)
            }
            ReadModels::Drop { database, name, version } => {
                let mut db = connect(&database)?;
                drop_version(&mut db, &name, version)?;
                eprintln!("dropped read model `{name}` version {version}");
                Ok(Outcome::Passed)
            }
        }
    }
}

fn connect(database: &Database) -> anyhow::Result<Client> {
    Client::connect(&database.database, NoTls)
        .with_context(|| format!("connecting to PostgreSQL (`{}`)", database.database))
}

/// `balances v2 serving topic bank.accounts offsets 0:120 1:98`.
fn line(version: &VersionInfo) -> String {
    let offsets: Vec<String> =
        version.offsets.iter().map(|(partition, next)| format!("{partition}:{next}")).collect();
    format!(
        "{} v{} {} topic {} offsets {}",
        version.name,
        version.version,
        version.state.as_str(),
        version.topic,
        if offsets.is_empty() { "-".to_owned() } else { offsets.join(" ") }
    )
}
