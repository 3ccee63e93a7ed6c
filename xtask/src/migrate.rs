//! `cargo xtask migrate --from SRC --to DST`: rewrite a topic into the newest schema version
//! (`strata::kafka::migrate` underneath), or with `--dry-run` only decode it, or with `--verify` only
//! compare it with its migration.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use strata::SchemaSource;
use strata::codec::ReadAs;

use strata::kafka::migrate::{MigrateConfig, dry_run, migrate_with, translate_group, verify};
use strata::kafka::{Mode, Progress};

use crate::Outcome;
use crate::flags::Migrate;

impl Migrate {
    /// Runs `cargo xtask migrate`.
    pub fn run(self) -> anyhow::Result<Outcome> {
        let topic = self.event.as_deref().unwrap_or(&self.from);
        let source = source(&self.registry, self.register, self.dir.as_deref())?;
        let (event, transcoder) = transcoder_of(topic, source)?;
        let mut config = MigrateConfig::new(&self.brokers, &self.from, &self.to);
        config.dead_letter_topic = self.dead_letter_topic.clone();
        config.group = self.group.clone();
        config.kafka = self.kafka.clone();
        if self.verify {
            let checks = verify(&config, transcoder.as_ref())?;
            println!("partition  source  target  dead-lettered  result");
            let mut failed = false;
            for check in &checks {
                failed |= check.problem.is_some();
                println!(
                    "{:>9}  {:>6}  {:>6}  {:>13}  {}",
                    check.partition,
                    check.source,
                    check.target,
                    check.dead_lettered,
                    check.problem.as_deref().unwrap_or("ok")
                );
            }
            return Ok(if failed { Outcome::Failed } else { Outcome::Passed });
        }
        if self.dry_run {
            let report = dry_run(&config, transcoder.as_ref())?;
            println!("{} record(s) read from `{}`, nothing written", report.records, self.from);
            for (id, count) in &report.by_schema_id {
                let version = match count.read_as {
                    Some(ReadAs::Declared(v)) => format!("version {v}"),
                    Some(ReadAs::Resolved(v)) => format!("a foreign schema read as version {v}"),
                    None => "unreadable".to_owned(),
                };
                println!(
                    "  schema id {id} ({version} of `{}`): {}",
                    event.rust_name, count.records
                );
                for (name, records) in &count.by_event {
                    println!("    {name}: {records}");
                }
            }
            for bad in &report.undecodable {
                println!(
                    "  cannot decode partition {} offset {}: {}",
                    bad.partition,
                    bad.offset,
                    strata::error::Chain(&bad.error)
                );
            }
            return Ok(if report.undecodable.is_empty() {
                Outcome::Passed
            } else {
                Outcome::Failed
            });
        }
        config.mode = if self.follow { Mode::Follow } else { Mode::CatchUp };
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&stop))?;
        }
        let report = match migrate_with(&config, transcoder.as_ref(), &mut progress(&stop)) {
            Ok(report) => report,
            // A record that cannot be migrated: the migration ran and stopped there.
            Err(e @ strata::kafka::migrate::MigrateError::Record(_)) => {
                eprintln!("error: {:#}", anyhow::Error::new(e));
                eprintln!(
                    "hint: the records before it are migrated, and a rerun resumes there; to set \
                     such records aside and go on, rerun with `--dead-letter-topic TOPIC`"
                );
                return Ok(Outcome::Failed);
            }
            Err(e) => return Err(e.into()),
        };
        for (partition, strata::kafka::migrate::OffsetPair { source, target }) in &report.offset_map
        {
            println!(
                "partition {partition}: source offset {source} = target offset {target} (resumed \
                 from source offset {})",
                report.resumed_from[partition]
            );
        }
        println!(
            "{} record(s) migrated from `{}` to `{}`, {} dead-lettered",
            report.migrated, self.from, self.to, report.dead_lettered
        );
        if let Some(group) = &self.translate_group {
            for (partition, strata::kafka::migrate::OffsetPair { source, target }) in
                translate_group(&config, group)?
            {
                println!(
                    "group `{group}` partition {partition}: source offset {source} is target \
                     offset {target}"
                );
            }
        }
        Ok(Outcome::Passed)
    }
}

/// The schema source of a Kafka command: the registry when one is named (registering the
/// newest version when `register`), else the committed history in `dir` (default `schemas/`).
pub(crate) fn source(
    registry: &crate::flags::RegistryFlags,
    register: bool,
    dir: Option<&std::path::Path>,
) -> anyhow::Result<Arc<dyn SchemaSource>> {
    Ok(match registry.client_registering(register)? {
        Some(registry) => Arc::new(registry),
        None => {
            let dir = dir.map_or_else(|| PathBuf::from("schemas"), std::path::Path::to_owned);
            Arc::new(
                strata::LocalSource::from_history(&dir).with_context(|| {
                    format!("reading the schema history in `{}`", dir.display())
                })?,
            )
        }
    })
}

/// The linked event type of `topic` and its transcoder over `source`.
pub(crate) fn transcoder_of(
    topic: &str,
    source: Arc<dyn SchemaSource>,
) -> anyhow::Result<(&'static strata::VersionedType, Box<dyn strata::codec::Transcode>)> {
    let events = strata::event_types();
    let event = events.iter().find(|e| e.topic == topic).with_context(|| {
        let known: Vec<&str> = events.iter().map(|e| e.topic).collect();
        format!(
            "no linked event type has topic `{topic}` (give --event TOPIC); known: {}",
            known.join(", ")
        )
    })?;
    let transcoder = event
        .transcoder(source)
        .with_context(|| format!("building the transcoder of `{}`", event.rust_name))?;
    Ok((event, transcoder))
}

/// Progress as a bar on a terminal (records, rate, ETA from the lag), else a log line every
/// 10 s; stops when `stop` is set (Ctrl-C, SIGTERM).
fn progress(stop: &AtomicBool) -> impl FnMut(&Progress) -> bool + '_ {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} records, {per_sec}, ETA {eta}",
            )
            .expect("the template parses"),
        );
        bar
    });
    let mut last_line = Instant::now();
    let mut held: Option<Vec<i32>> = None;
    move |p: &Progress| {
        if held.as_ref() != Some(&p.partitions) {
            let list: Vec<String> = p.partitions.iter().map(i32::to_string).collect();
            let line = format!("migrate: holding source partition(s) [{}]", list.join(", "));
            match &bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
            held = Some(p.partitions.clone());
        }
        match &bar {
            Some(bar) => {
                bar.set_length(p.records + p.lag.max(0) as u64);
                bar.set_position(p.records);
            }
            None if last_line.elapsed() >= Duration::from_secs(10) => {
                last_line = Instant::now();
                eprintln!("migrate: {} records, {:.0}/s, {} to go", p.records, p.rate, p.lag);
            }
            None => {}
        }
        !stop.load(Ordering::Relaxed)
    }
}
