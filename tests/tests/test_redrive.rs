//! Dead-letter redrive against the broker: records dead-lettered by a buggy upgrade function
//! come back once each after the fix, across SIGKILLs; the loop guard holds a record that was
//! dead-lettered again; a dry run and a still-broken run write nothing. The event type, the
//! bug and the checks live in the `redriver` binary (`tests/src/bin/redriver.rs`).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::broker::Broker;
use support::kafka::{create_topic, start};
use support::process::Watched;

/// A `redriver` process, its stdout collected line by line.
struct Redriver;

impl Redriver {
    fn spawn(broker: &Broker, args: &[&str], broken: bool) -> Watched {
        let mut command = Command::new(env!("CARGO_BIN_EXE_redriver"));
        command.args(&args[..1]).args(["--brokers", &broker.brokers()]).args(&args[1..]);
        if broken {
            command.env("STRATA_REDRIVE_BROKEN", "1");
        }
        Watched::spawn(&mut command)
    }

    /// Runs to the end; its last line, which must start with `expect`.
    fn run(broker: &Broker, args: &[&str], broken: bool, expect: &str) -> String {
        let mut process = Redriver::spawn(broker, args, broken);
        let status = process.child.wait().unwrap();
        // The reader thread may still be draining the pipe.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let last = process.lines().last().cloned();
            if let Some(last) = last.clone().filter(|l| l.starts_with(expect)) {
                assert!(status.success(), "{args:?}: {status}");
                return last;
            }
            assert!(Instant::now() < deadline, "{args:?} ended with {status}: {last:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The value of `name=` in a `done ...` or `verified ...` line.
fn field(line: &str, name: &str) -> u64 {
    line.split(' ')
        .find_map(|part| part.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in `{line}`"))
        .parse()
        .unwrap()
}

fn ends(broker: &Broker, topic: &str) -> Vec<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = support::kafka::client(&broker.brokers()).create().unwrap();
    (0..3)
        .map_while(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).ok())
        .map(|(_, high)| high)
        .collect()
}

#[test]
fn a_redrive_after_fixing_an_upgrade_delivers_every_dead_letter_once_across_sigkills() {
    const COUNT: i64 = 10_000;
    let (broker, topic) = start("redrive", 3);
    let dead = format!("{topic}-dlt");
    create_topic(&broker, &dead, 2);
    let count = COUNT.to_string();
    let started = Instant::now();
    Redriver::run(&broker, &["seed", "--topic", &topic, "--count", &count], false, "seeded");

    // The buggy upgrade sends every record to the dead-letter topic.
    let line = Redriver::run(
        &broker,
        &["replay", "--topic", &topic, "--dead-letters", &dead],
        true,
        "replayed",
    );
    assert_eq!(field(line.trim_start_matches("replayed "), "dead-lettered"), COUNT as u64);
    let redrive = ["redrive", "--from", &dead, "--to", &topic, "--batch", "250"];
    let before = ends(&broker, &topic);

    // A dry run decodes and counts, and writes nothing; a run with the bug still there leaves
    // every dead letter behind, also writing nothing.
    let dry: Vec<&str> = redrive.iter().copied().chain(["--dry-run"]).collect();
    let line = Redriver::run(&broker, &dry, false, "done");
    assert_eq!((field(&line, "read"), field(&line, "redriven")), (COUNT as u64, COUNT as u64));
    let line = Redriver::run(&broker, &redrive, true, "done");
    assert_eq!((field(&line, "redriven"), field(&line, "failing")), (0, COUNT as u64), "{line}");
    assert_eq!(ends(&broker, &topic), before, "nothing written");

    // After the fix: SIGKILLed mid-batch again and again, then run to the end.
    let mut kills = Vec::new();
    let mut already = 0;
    while kills.len() < 5 {
        let mut process = Redriver::spawn(&broker, &redrive, false);
        // Kill once a random number of batches past this process's start went by.
        let batches = 1 + (kills.len() * 7 + 3) % 5;
        let deadline = Instant::now() + Duration::from_secs(120);
        let killed_at = loop {
            let lines = process.lines();
            if lines.iter().any(|l| l.starts_with("done")) {
                break None;
            }
            let progress: Vec<&String> =
                lines.iter().filter(|l| l.starts_with("progress")).collect();
            already = already.max(
                progress.first().map_or(0, |l| field(l.trim_start_matches("progress "), "already")),
            );
            if progress.len() >= batches {
                // Mid-batch: some records of the next batch are in flight.
                std::thread::sleep(Duration::from_millis(3));
                process.kill();
                break Some(progress.last().unwrap().to_string());
            }
            if let Some(status) = process.child.try_wait().unwrap() {
                assert!(status.success(), "{status}: {lines:?}");
            }
            assert!(Instant::now() < deadline, "no progress: {lines:?}");
            std::thread::sleep(Duration::from_millis(1));
        };
        match killed_at {
            Some(at) => kills.push(at),
            None => break,
        }
    }
    assert!(kills.len() >= 3, "the kills came after the work was done: {kills:?}");
    eprintln!("killed at: {kills:?}, {:?}", started.elapsed());
    let line = Redriver::run(&broker, &redrive, false, "done");
    assert_eq!(field(&line, "failing"), 0, "{line}");
    already = already.max(field(&line, "already"));
    // A kill left records written past the last commit, and a later run found them.
    assert!(already > 0, "no run found a killed run's records: {kills:?}");

    // Every dead letter is in the topic once, upgraded right, with its key, time and headers.
    let verify = ["verify", "--topic", &topic, "--count", &count];
    let line = Redriver::run(&broker, &verify, false, "verified");
    assert_eq!(
        (field(&line, "distinct"), field(&line, "duplicates"), field(&line, "missing")),
        (COUNT as u64, 0, 0),
        "{line}"
    );
    // Nothing is left to redrive: a rerun reads nothing.
    let line = Redriver::run(&broker, &redrive, false, "done");
    assert_eq!((field(&line, "read"), field(&line, "redriven")), (0, 0), "{line}");

    // The loop guard: a redriven record dead-lettered again is held, not redriven forever.
    let refuse = ["replay", "--topic", &topic, "--dead-letters", &dead, "--refuse-redriven", "5"];
    let line = Redriver::run(&broker, &refuse, false, "replayed");
    assert_eq!(field(line.trim_start_matches("replayed "), "dead-lettered"), 1, "{line}");
    let mut process = Redriver::spawn(&broker, &redrive, false);
    process.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let lines = process.lines();
    let done = lines.iter().find(|l| l.starts_with("done")).expect("done");
    assert_eq!((field(done, "looped"), field(done, "redriven")), (1, 0), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("held") && l.contains("redriven 1 time(s) already")),
        "{lines:?}"
    );
    let line = Redriver::run(&broker, &verify, false, "verified");
    assert_eq!((field(&line, "distinct"), field(&line, "duplicates")), (COUNT as u64, 0));
}
