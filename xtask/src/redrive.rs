//! `cargo xtask redrive --from DLT --to TOPIC`: a migration's dead letters into its target,
//! once each, refusing any whose original the target holds (`strata::kafka::redrive`
//! underneath).

use strata::kafka::redrive::{RedriveConfig, redrive};

use crate::Outcome;
use crate::flags::Redrive;

/// How many held dead letters are listed one by one.
const LISTED: usize = 20;

impl Redrive {
    /// Runs `cargo xtask redrive`.
    pub fn run(self) -> anyhow::Result<Outcome> {
        let topic = self.event.as_deref().unwrap_or(&self.to);
        let source = crate::migrate::source(&self.registry, false, self.dir.as_deref())?;
        let (_, transcoder) = crate::migrate::transcoder_of(topic, source)?;
        let mut config = RedriveConfig::new(&self.brokers, &self.from, &self.to);
        config.group = self.group.clone();
        config.max_redrives = self.max_redrives;
        config.batch = self.batch.max(1);
        config.dry_run = self.dry_run;
        config.kafka = self.kafka.clone();
        let report = redrive(&config, transcoder.as_ref(), &mut |report| {
            eprintln!(
                "redrive: {} read, {} redriven, {} found written already",
                report.read, report.redriven, report.already_redriven
            );
        })?;
        let held = report.still_failing.len() + report.looped.len();
        for (what, list) in [("still fails", &report.still_failing), ("looped", &report.looped)] {
            for dead in list.iter().take(LISTED) {
                println!("{what}: `{}` {dead}", self.from);
            }
            if list.len() > LISTED {
                println!("{what}: ... and {} more", list.len() - LISTED);
            }
        }
        println!(
            "{} dead letter(s) read from `{}`: {} {} to `{}`, {} written by an earlier run, {} \
             still failing, {} held by the loop guard",
            report.read,
            self.from,
            report.redriven,
            if self.dry_run { "would be redriven" } else { "redriven" },
            self.to,
            report.already_redriven,
            report.still_failing.len(),
            report.looped.len()
        );
        Ok(if held == 0 { Outcome::Passed } else { Outcome::Failed })
    }
}
