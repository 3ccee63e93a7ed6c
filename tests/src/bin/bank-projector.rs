//! The bank's read model kept by a projector process, for the tests that kill it.
//!
//! `bank-projector --brokers B --database D --topic T [--version 1|2] [--catch-up]
//!  [--group G] [--session-timeout-ms N] [--batch N] [--kafka key=value]`
//!
//! Prints `progress applied=<n> partitions=<p,q,..>` at every progress tick, and
//! `done applied=<n>` when a catch-up run ends. Exits 2 on a projector error.

use std::time::Duration;

use strata::kafka::Mode;
use strata::kafka::readmodel::postgres::{Client, NoTls};
use strata::kafka::readmodel::{
    Projector, ProjectorConfig, ProjectorError, ProjectorReport, ReadModel,
};
use strata_tests::balances::Balances;
use strata_tests::bank::AccountEvent;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut config = ProjectorConfig::new("");
    let mut database = None;
    let mut version = 1;
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--brokers" => config.brokers = value(),
            "--database" => database = Some(value()),
            "--topic" => config.topic = Some(value()),
            "--group" => config.group = Some(value()),
            "--version" => version = value().parse().unwrap_or_else(|_| usage("--version: 1 or 2")),
            "--catch-up" => config.mode = Mode::CatchUp,
            "--batch" => {
                config.batch_records = value().parse().unwrap_or_else(|_| usage("--batch"))
            }
            "--kafka" => {
                let setting = value();
                let (key, value) =
                    setting.split_once('=').unwrap_or_else(|| usage("--kafka key=value"));
                config.kafka.push((key.into(), value.into()));
            }
            "--session-timeout-ms" => {
                let ms = value();
                config.kafka.push(("session.timeout.ms".into(), ms.clone()));
                config.kafka.push(("heartbeat.interval.ms".into(), "500".into()));
            }
            other => usage(&format!("unknown flag {other}")),
        }
    }
    config.progress_every = Duration::from_millis(200);
    let database = database.unwrap_or_else(|| usage("--database is required"));
    let mut db = Client::connect(&database, NoTls).unwrap_or_else(|e| {
        eprintln!("bank-projector: connecting to {database}: {e}");
        std::process::exit(2)
    });
    let result = match version {
        1 => run(config, &mut db, Balances::<1>::default()),
        2 => run(config, &mut db, Balances::<2>::default()),
        _ => usage("--version: 1 or 2"),
    };
    match result {
        Ok(report) => println!("done applied={}", report.applied),
        Err(e) => {
            eprintln!("bank-projector: {}", strata::error::Chain(&e));
            std::process::exit(2)
        }
    }
}

fn run<M: ReadModel<AccountEvent>>(
    config: ProjectorConfig,
    db: &mut Client,
    model: M,
) -> Result<ProjectorReport, ProjectorError> {
    let source = strata_tests::history_source::<AccountEvent>();
    let mut projector = Projector::new(config, source, model)?;
    projector.run(db, &mut |progress| {
        let held: Vec<String> = progress.lag_by_partition.keys().map(i32::to_string).collect();
        println!(
            "progress applied={} partitions={} retried={}",
            progress.applied,
            held.join(","),
            progress.retried
        );
        true
    })
}

fn usage(problem: &str) -> ! {
    eprintln!("bank-projector: {problem}");
    eprintln!(
        "usage: bank-projector --brokers B --database D --topic T [--version 1|2] [--catch-up] \
         [--group G] [--session-timeout-ms N] [--batch N] [--kafka key=value]"
    );
    std::process::exit(64)
}
