//! Dead-letter redrive against the broker: records dead-lettered by a buggy upgrade function
//! come back once each after the fix, across crashes injected at each step of the protocol
//! (`STRATA_CRASH_AT`); the loop guard holds a record that was
//! dead-lettered again; a dry run and a still-broken run write nothing. The event type, the
//! bug and the checks live in the `redriver` binary (`tests/src/bin/redriver.rs`).

mod support;

use std::os::unix::process::ExitStatusExt;
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

    /// The same, with `env` set.
    fn spawn_env(broker: &Broker, args: &[&str], env: &[(&str, &str)]) -> Watched {
        let mut command = Command::new(env!("CARGO_BIN_EXE_redriver"));
        command.args(&args[..1]).args(["--brokers", &broker.brokers()]).args(&args[1..]);
        command.envs(env.iter().copied());
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
                assert!(status.success(), "{args:?}: {status}: {:?}", process.lines());
                return last;
            }
            assert!(Instant::now() < deadline, "{args:?} ended with {status}: {last:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Redriver {
    /// Runs to the end expecting it to fail (exit 2); its error output.
    fn fails(broker: &Broker, args: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_redriver"))
            .args(&args[..1])
            .args(["--brokers", &broker.brokers()])
            .args(&args[1..])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

/// A broker with `count` version 1 readings in a topic of `partitions` partitions, all
/// dead-lettered by a migration with the buggy upgrade into a dead-letter topic of two
/// partitions: (broker, topic, dead-letter topic, the migration's target).
fn dead_lettered_by_a_migration(
    name: &str,
    partitions: i32,
    count: i64,
) -> (Broker, String, String, String) {
    let (broker, topic) = start(name, partitions);
    let dead = format!("{topic}-dlt");
    create_topic(&broker, &dead, 2);
    let seed = ["seed", "--topic", &topic, "--count", &count.to_string()];
    Redriver::run(&broker, &seed, false, "seeded");
    let target = format!("{topic}-v2");
    let migrate = ["migrate", "--from", &topic, "--to", &target, "--dead-letters", &dead];
    let line = Redriver::run(&broker, &migrate, true, "migrated");
    assert_eq!(field(&line, "dead-lettered"), count as u64);
    (broker, topic, dead, target)
}

/// Asserts that every one of the `count` readings is in `target` once, upgraded right, with
/// its key, time and headers (every record counted by its event id).
fn each_once(broker: &Broker, target: &str, count: i64) {
    let verify = ["verify", "--topic", target, "--count", &count.to_string()];
    let line = Redriver::run(broker, &verify, false, "verified");
    assert_eq!(
        (field(&line, "distinct"), field(&line, "duplicates"), field(&line, "missing")),
        (count as u64, 0, 0),
        "{line}"
    );
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
    let started = Instant::now();
    // A migration with the buggy upgrade sent every record to the dead-letter topic: the
    // target holds none of them yet, so the redrive writes each there once.
    let (broker, topic, dead, target) = dead_lettered_by_a_migration("redrive", 3, COUNT);
    let redrive = ["redrive", "--from", &dead, "--to", &target, "--batch", "250"];
    let before = ends(&broker, &target);

    // A dry run decodes and counts, and writes nothing; a run with the bug still there leaves
    // every dead letter behind, also writing nothing.
    let dry: Vec<&str> = redrive.iter().copied().chain(["--dry-run"]).collect();
    let line = Redriver::run(&broker, &dry, false, "done");
    assert_eq!((field(&line, "read"), field(&line, "redriven")), (COUNT as u64, COUNT as u64));
    let line = Redriver::run(&broker, &redrive, true, "done");
    assert_eq!((field(&line, "redriven"), field(&line, "failing")), (0, COUNT as u64), "{line}");
    assert_eq!(ends(&broker, &target), before, "nothing written");

    // After the fix: a crash at each step of a batch's protocol (a crash point, an abort as
    // abrupt as SIGKILL, in the nth batch), each run resuming after the one before, then a run
    // to the end.
    let crashes = [
        ("redrive.acknowledged", 2), // written and acknowledged, nothing committed
        ("redrive.sent", 2),         // written, not yet acknowledged
        ("redrive.offsets", 3),      // the dead-letter offsets committed, not the marks
        ("redrive.marks", 1),        // both committed
        ("redrive.acknowledged", 4), // again, after a run that found the first one's batch
    ];
    let mut found_after_acknowledged = Vec::new();
    let mut after_acknowledged = false;
    for (point, nth) in crashes {
        let at = format!("{point}:{nth}");
        let mut process = Redriver::spawn_env(&broker, &redrive, &[("STRATA_CRASH_AT", &at)]);
        let status = process.child.wait().unwrap();
        // The dangerous window was reached: only the crash point aborts.
        assert_eq!(status.signal(), Some(6), "{at}: {status}: {:?}", process.lines());
        // Whatever the crash left, the marks never passed a record a next run must find.
        let marks = ["marks", "--from", &dead, "--to", &target];
        let line = Redriver::run(&broker, &marks, false, "marks");
        assert_eq!(field(&line, "violations"), 0, "{at}: {line}");
        let first = process.lines().into_iter().find(|l| l.starts_with("progress"));
        let found = first.map_or(0, |l| field(l.trim_start_matches("progress "), "found"));
        if after_acknowledged {
            found_after_acknowledged.push(found);
        }
        after_acknowledged = point == "redrive.acknowledged";
    }
    eprintln!("crashed at every step, {:?}", started.elapsed());
    let line = Redriver::run(&broker, &redrive, false, "done");
    assert_eq!(field(&line, "failing"), 0, "{line}");
    // A crash after a batch was acknowledged and before anything was committed left that whole
    // batch past the commits: the next run found every record of it in the target, and
    // skipped each.
    found_after_acknowledged.push(field(&line, "found"));
    assert_eq!(found_after_acknowledged, [250, 250], "records found already redriven");
    assert_eq!(field(&line, "already"), 250, "{line}");

    // Every dead letter is in the target once (every record counted by its event id),
    // upgraded right, with its key, time and headers.
    each_once(&broker, &target, COUNT);
    // Nothing is left to redrive: a rerun reads nothing.
    let line = Redriver::run(&broker, &redrive, false, "done");
    assert_eq!((field(&line, "read"), field(&line, "redriven")), (0, 0), "{line}");

    // A consumer of the target dead-letters one redriven record. Its original is in the target,
    // so redriving it there is refused (it would be in the log twice), writing nothing.
    let consumer_dead = format!("{topic}-replay-dlt");
    create_topic(&broker, &consumer_dead, 1);
    let refuse =
        ["replay", "--topic", &target, "--dead-letters", &consumer_dead, "--refuse-redriven", "5"];
    let line = Redriver::run(&broker, &refuse, false, "replayed");
    // One record refused; its key's later records parked behind it.
    let line = line.trim_start_matches("replayed ");
    let letters = field(line, "dead-lettered");
    assert_eq!(letters - field(line, "parked"), 1, "{line}");
    let back = ["redrive", "--from", &consumer_dead, "--to", &target];
    let before = ends(&broker, &target);
    let error = Redriver::fails(&broker, &back);
    assert!(
        error.contains(&format!("came from `{target}`")) && error.contains("in the log twice"),
        "{error}"
    );
    assert_eq!(ends(&broker, &target), before, "nothing written");

    // The loop guard: a redriven record dead-lettered again (each of those letters is one) is
    // held, not redriven forever.
    let elsewhere = format!("{topic}-elsewhere");
    create_topic(&broker, &elsewhere, 1);
    let guarded = ["redrive", "--from", &consumer_dead, "--to", &elsewhere];
    let mut process = Redriver::spawn(&broker, &guarded, false);
    process.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let lines = process.lines();
    let done = lines.iter().find(|l| l.starts_with("done")).expect("done");
    assert_eq!((field(done, "looped"), field(done, "redriven")), (letters, 0), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("held") && l.contains("redriven 1 time(s) already")),
        "{lines:?}"
    );
    assert_eq!(ends(&broker, &elsewhere), [0], "nothing written");
}

#[test]
fn a_second_redrive_waits_for_the_first_and_the_run_after_a_crash_for_its_session_to_end() {
    const COUNT: i64 = 1_000;
    let (broker, _, dead, target) = dead_lettered_by_a_migration("redrive-lease", 2, COUNT);
    let redrive = ["redrive", "--from", &dead, "--to", &target, "--batch", "100"];

    // The first run freezes after sending its first batch (unacknowledged), holding the group
    // for its session of 15 s.
    let stop = [("STRATA_CRASH_AT", "redrive.sent:1:stop")];
    let held: Vec<&str> = redrive.iter().copied().chain(["--session", "15"]).collect();
    let mut first = Redriver::spawn_env(&broker, &held, &stop);
    let pid = first.child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap().contains(") T ") {
        assert!(Instant::now() < deadline, "the first run never stopped: {:?}", first.lines());
        std::thread::sleep(Duration::from_millis(50));
    }
    // A second run cannot take the group while the first is in it: after waiting its own
    // timeouts (3 s and a 6 s session: less than the first's session) it says so, writing
    // nothing.
    let before = ends(&broker, &target);
    let second: Vec<&str> = redrive.iter().copied().chain(["--timeout", "3"]).collect();
    let error = Redriver::fails(&broker, &second);
    assert!(error.contains("another redrive holds consumer group"), "{error}");
    assert_eq!(ends(&broker, &target), before, "the second run wrote nothing");

    // The first is killed with its batch in flight; the next run (waiting up to 30 s and its
    // session) starts once the first's session has ended, finds whatever of that batch
    // landed, and writes every other letter once.
    first.kill();
    let line = Redriver::run(&broker, &redrive, false, "done");
    assert_eq!(field(&line, "failing"), 0, "{line}");
    each_once(&broker, &target, COUNT);
}

/// The state and member count of consumer group `group`.
fn group_state(broker: &Broker, group: &str) -> (String, usize) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let admin: BaseConsumer = support::kafka::client(&broker.brokers()).create().unwrap();
    let list = admin.fetch_group_list(Some(group), Duration::from_secs(10)).unwrap();
    list.groups().first().map_or((String::new(), 0), |g| (g.state().to_owned(), g.members().len()))
}

#[test]
fn a_redrive_joined_by_another_run_stops_with_lease_lost_and_every_letter_is_written_once() {
    const COUNT: i64 = 10_000;
    let (broker, _, dead, target) = dead_lettered_by_a_migration("redrive-lost", 3, COUNT);
    let redrive = ["redrive", "--from", &dead, "--to", &target, "--batch", "500"];
    let group = format!("strata-redrive-{dead}-{target}");
    // The first run pauses after its second batch is acknowledged (its client's threads go
    // on: heartbeats, and the rebalance a second member starts).
    let resume = std::env::temp_dir().join(format!("strata-lease-lost-{}", std::process::id()));
    let reached = resume.with_extension("reached");
    let _ = (std::fs::remove_file(&resume), std::fs::remove_file(&reached));
    let first = Command::new(env!("CARGO_BIN_EXE_redriver"))
        .args(&redrive[..1])
        .args(["--brokers", &broker.brokers()])
        .args(&redrive[1..])
        .env("STRATA_CRASH_AT", "redrive.acknowledged:2:pause")
        .env("STRATA_CRASH_RESUME", &resume)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reached.exists() {
        assert!(Instant::now() < deadline, "the first run never paused");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A second run joins the group: the group rebalances, with both as members.
    let mut second = Redriver::spawn(&broker, &redrive, false);
    let deadline = Instant::now() + Duration::from_secs(60);
    while group_state(&broker, &group) != ("PreparingRebalance".to_owned(), 2) {
        assert!(Instant::now() < deadline, "the second run never joined: {:?}", second.lines());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The first goes on, learns it lost the group, and stops before writing more.
    std::fs::write(&resume, b"").unwrap();
    let first = first.wait_with_output().unwrap();
    let error = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(2), "{error}");
    assert!(error.contains("another member joined consumer group"), "{error}");
    // The second takes the group and writes every other letter: each once.
    let status = second.child.wait().unwrap();
    assert!(status.success(), "{status}: {:?}", second.lines());
    each_once(&broker, &target, COUNT);
    let _ = (std::fs::remove_file(&resume), std::fs::remove_file(&reached));
}

/// The service an outage test takes down.
#[derive(Clone, Copy, PartialEq)]
enum Down {
    Broker,
    Registry,
}

/// 15,000 bank events over three partitions, all dead-lettered by a migration whose schema
/// source lacked their ids, then redriven once the registry has them, by a supervisor that starts the redrive again after each failure,
/// each of the first three runs taking `down` down once it redrove 1,500 letters (the registry: its first batch): the target
/// holds every source event once (each letter by its `strata.redrive.from`, the values
/// compared as a multiset with the source's).
fn redrive_through_outages(down: Down) {
    use std::sync::Arc;
    use strata::Event;
    use strata::codec::Transcoder;
    use strata::codec::registry::{Registry, RegistryConfig};
    use strata::kafka::migrate::{MigrateConfig, migrate};
    use strata::kafka::redrive::{REDRIVE_FROM, RedriveConfig, redrive};
    use strata_tests::bank::AccountEvent;
    use support::faults::{Outages, chain, supervise};

    let broker = Broker::start_durable();
    let brokers = broker.brokers();
    let from = support::kafka::topic("redrive-outages");
    let (dead, to) = (format!("{from}.dlt"), format!("{from}.v3"));
    create_topic(&broker, &from, 3);
    create_topic(&broker, &dead, 2);
    let records = support::kafka::records_of::<AccountEvent>(1_500, 31, "account", 300);
    support::kafka::produce(&broker, &from, &records);
    let subject = AccountEvent::subject();
    let lacking = Arc::new(strata::LocalSource::new());
    // Only the latest schema, under an id of its own: every record is a dead letter.
    lacking.insert(4, &subject, &support::kafka::history::<AccountEvent>(3)).unwrap();
    let mut config = MigrateConfig::new(&brokers, &from, &to);
    config.dead_letter_topic = Some(dead.clone());
    let report = migrate(&config, &Transcoder::<AccountEvent>::new(lacking).unwrap()).unwrap();
    let letters = records.len() as u64;
    assert_eq!(report.dead_lettered, letters);

    let registry = support::registry::with_history::<AccountEvent>("redrive-outages");
    let registry_url = registry.url();
    let (mut broker, mut registry) = (Some(broker), Some(registry));
    let longest = Duration::from_secs(8);
    let outages = match down {
        Down::Broker => Outages::new(broker.take().unwrap(), longest),
        Down::Registry => Outages::new(registry.take().unwrap(), longest),
    };
    let mut config = RedriveConfig::new(&brokers, &dead, &to);
    config.kafka.extend(support::faults::fetch_little_ahead());
    // The broker (or PostgreSQL) goes down mid-run; the registry once the run fetched its first
    // schema, so that every run meets a schema id it has not fetched while the registry is down.
    let at = if down == Down::Registry { 1 } else { 1_500 };
    let mut runs = 0;
    let (_, failures) = supervise(&outages, 10, || {
        runs += 1;
        let (run, mut begun) = (runs, false);
        let source = Arc::new(Registry::new(RegistryConfig::new(&registry_url)));
        let transcoder = Transcoder::<AccountEvent>::new(source).map_err(|e| chain(&e))?;
        let on_batch = &mut |report: &strata::kafka::redrive::RedriveReport| {
            if run <= 3 && !begun && report.redriven >= at {
                begun = true;
                outages.begin();
            }
        };
        let report = redrive(&config, &transcoder, on_batch).map_err(|e| chain(&e))?;
        match report.still_failing.first() {
            Some(held) => Err(format!(
                "{} letters still fail, the first {held:?}",
                report.still_failing.len()
            )),
            None => Ok(report),
        }
    });
    assert_eq!(outages.begun(), 3, "each of the first three runs met an outage");
    if down == Down::Registry {
        assert!(failures.len() >= 3, "{failures:#?}");
        for failure in &failures {
            assert!(failure.contains("schema id") && failure.contains(&dead), "{failure}");
        }
    }

    let target = support::kafka::read_available(&brokers, &to);
    let redriven: std::collections::BTreeSet<String> = target
        .iter()
        .filter_map(|m| {
            use rdkafka::Message;
            let headers = m.headers()?;
            rdkafka::message::Headers::iter(headers)
                .find(|h| h.key == REDRIVE_FROM)
                .map(|h| String::from_utf8_lossy(h.value.unwrap()).into_owned())
        })
        .collect();
    assert_eq!(redriven.len() as u64, letters, "every letter redriven");
    assert_eq!(target.len(), records.len(), "each once");
    let decoder =
        strata::Decoder::<AccountEvent>::new(support::kafka::source_of::<AccountEvent>()).unwrap();
    let values = |framed: &mut dyn Iterator<Item = &[u8]>| {
        let mut values: Vec<String> =
            framed.map(|bytes| format!("{:?}", decoder.decode(bytes).unwrap())).collect();
        values.sort();
        values
    };
    use rdkafka::Message;
    assert_eq!(
        values(&mut target.iter().map(|m| m.payload().unwrap())),
        values(&mut records.iter().map(|(_, framed)| &framed[..])),
        "the same events"
    );
    drop((outages, broker, registry));
}

#[test]
fn a_redrive_through_three_broker_restarts_writes_every_letter_once() {
    redrive_through_outages(Down::Broker);
}

#[test]
fn a_redrive_through_three_registry_outages_stops_at_an_unfetched_schema_id_and_loses_nothing() {
    redrive_through_outages(Down::Registry);
}
