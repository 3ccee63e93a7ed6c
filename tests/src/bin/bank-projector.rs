//! The bank's read model kept by a projector process, for the tests that kill it.
//!
//! `bank-projector --brokers B --database D --topic T [--version 1|2] [--catch-up]
//!  [--group G] [--session-timeout-ms N] [--batch N] [--kafka key=value]
//!  [--dead-letters T] [--refuse-every N] [--redrive]`
//!
//! `--refuse-every N` is a bug: `apply` (version 1) refuses every record whose offset is 7
//! more than a multiple of `N`. `--redrive` applies the dead-letter topic's letters back
//! instead of the event topic.
//!
//! Prints `progress applied=<n> partitions=<p,q,..>` at every progress tick, and
//! `done applied=<n>` when a catch-up run ends. Exits 2 on a projector error.

use std::time::Duration;

use strata::kafka::Mode;
use strata::kafka::readmodel::postgres::{Client, NoTls, Transaction};
use strata::kafka::readmodel::{
    Projector, ProjectorConfig, ProjectorError, ProjectorReport, ReadModel,
};
use strata::kafka::record::{ApplyError, Position};
use strata_tests::balances::Balances;
use strata_tests::bank::AccountEvent;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut config = ProjectorConfig::new("");
    let mut database = None;
    let mut version = 1;
    let mut refuse_every = None;
    let mut redrive = false;
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--brokers" => config.brokers = value(),
            "--database" => database = Some(value()),
            "--topic" => config.topic = Some(value()),
            "--group" => config.group = Some(value()),
            "--version" => version = value().parse().unwrap_or_else(|_| usage("--version: 1 or 2")),
            "--catch-up" => config.mode = Mode::CatchUp,
            "--dead-letters" => config.dead_letter_topic = Some(value()),
            "--refuse-every" => {
                refuse_every = Some(value().parse().unwrap_or_else(|_| usage("--refuse-every")))
            }
            "--redrive" => redrive = true,
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
        1 => run(
            config,
            &mut db,
            Refusing { model: Balances::<1>::default(), refuse_every },
            redrive,
        ),
        2 => run(config, &mut db, Balances::<2>::default(), redrive),
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

/// The balances of version 1, with a bug refusing some records when `refuse_every` is set.
struct Refusing {
    model: Balances<1>,
    refuse_every: Option<i64>,
}

impl ReadModel<AccountEvent> for Refusing {
    const NAME: &'static str = Balances::<1>::NAME;
    const VERSION: u32 = 1;

    fn create(&mut self, tx: &mut Transaction<'_>) -> Result<(), ApplyError> {
        self.model.create(tx)
    }

    fn prepare(&mut self, client: &mut Client) -> Result<(), ApplyError> {
        self.model.prepare(client)
    }

    fn apply(
        &mut self,
        tx: &mut Transaction<'_>,
        event: AccountEvent,
        at: &Position<'_>,
    ) -> Result<(), ApplyError> {
        if self.refuse_every.is_some_and(|n| at.offset % n == 7) {
            return Err("a bug in apply".into());
        }
        self.model.apply(tx, event, at)
    }
}

fn run<M: ReadModel<AccountEvent>>(
    config: ProjectorConfig,
    db: &mut Client,
    model: M,
    redrive: bool,
) -> Result<ProjectorReport, ProjectorError> {
    let source = strata_tests::history_source::<AccountEvent>();
    let mut projector = Projector::new(config, source, model)?;
    let on_progress = &mut |progress: &strata::kafka::readmodel::ProjectorProgress| {
        let held: Vec<String> = progress.lag_by_partition.keys().map(i32::to_string).collect();
        println!(
            "progress applied={} partitions={} retried={}",
            progress.applied,
            held.join(","),
            progress.retried
        );
        true
    };
    if redrive { projector.redrive(db, on_progress) } else { projector.run(db, on_progress) }
}

fn usage(problem: &str) -> ! {
    eprintln!("bank-projector: {problem}");
    eprintln!(
        "usage: bank-projector --brokers B --database D --topic T [--version 1|2] [--catch-up] \
         [--group G] [--session-timeout-ms N] [--batch N] [--kafka key=value] \
         [--dead-letters T] [--refuse-every N] [--redrive]"
    );
    std::process::exit(64)
}
