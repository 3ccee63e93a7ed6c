//! `cargo xtask migrate` as a process against a real broker (nisshi): it migrates every version
//! of the bank's events, `--verify` passes and then fails once a record is duplicated into the
//! target by hand; killed with SIGKILL at random moments again and again and restarted, it
//! still migrates every record exactly once, in order.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use strata_tests::bank::AccountEvent;
use support::kafka::{client, produce, records_of, start};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_owned()
}

fn xtask() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.current_dir(root()).env_remove("CI").env_remove("SCHEMA_REGISTRY_URL");
    command
}

/// `cargo xtask migrate` of the bank's events from `from` to `to`.
fn migrate_command(brokers: &str, from: &str, to: &str) -> Command {
    let mut command = xtask();
    command
        .args(["migrate", "--from", from, "--to", to, "--brokers", brokers])
        .args(["--event", "bank.accounts"]);
    command
}

fn migrate(brokers: &str, from: &str, to: &str, extra: &[&str]) -> Output {
    migrate_command(brokers, from, to).args(extra).output().unwrap()
}

/// The run succeeded and migrated `count` records.
fn assert_migrated(out: &Output, count: usize) {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    let said = format!("{count} record(s) migrated");
    assert!(text(out).contains(&said), "{}", text(out));
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn migrate_then_verify_and_verify_catches_a_duplicate() {
    let (broker, from) = start("cli-migrate", 3);
    let records = records_of::<AccountEvent>(6, 21, "account", 9);
    produce(&broker, &from, &records);
    let to = format!("{from}.v3");

    // A dry run decodes everything and writes nothing.
    let out = migrate(&broker.brokers(), &from, &to, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(&format!("{} record(s) read", records.len())), "{}", text(&out));
    for version in 1..=3 {
        assert!(
            text(&out).contains(&format!("schema id {version} (version {version} of")),
            "{}",
            text(&out)
        );
    }
    // Counted per event type too, by the writer's branch: each version had each of its event
    // types `per_branch` (6) times.
    let said = text(&out);
    let per_version = said.split("  schema id ").skip(1);
    for (version, part) in (1..=3).zip(per_version) {
        let schema: strata::Schema = <AccountEvent as strata::Event>::schema(version).unwrap();
        let strata::Schema::Union(branches) = schema else { panic!("a topic union") };
        for branch in branches {
            let name = branch.name().unwrap().full_name();
            assert!(part.contains(&format!("    {name}: 6\n")), "version {version}: {said}");
        }
    }

    let out = migrate(&broker.brokers(), &from, &to, &[]);
    assert_migrated(&out, records.len());

    let out = migrate(&broker.brokers(), &from, &to, &["--verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out).matches("  ok").count(), 3, "{}", text(&out));

    // A rerun has nothing left to do.
    let out = migrate(&broker.brokers(), &from, &to, &[]);
    assert!(text(&out).contains("0 record(s) migrated"), "{}", text(&out));

    let producer: BaseProducer = client(&broker.brokers()).create().unwrap();
    producer
        .send(BaseRecord::to(&to).partition(1).key("account-1").payload(&records[0].1))
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    let out = migrate(&broker.brokers(), &from, &to, &["--verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // A poison record: the dry run names it; the migration stops at it with its coordinates.
    producer
        .send(BaseRecord::to(&from).partition(2).key("account-2").payload(&[9u8, 9, 9][..]))
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    let out = migrate(&broker.brokers(), &from, &to, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("cannot decode partition 2 offset"), "{}", text(&out));
    // Into the target holding the foreign record, the migration refuses to resume after it.
    let out = migrate(&broker.brokers(), &from, &to, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("has no provenance"), "{}", text(&out));
    // Into a new target, it stops at the poison record with its coordinates: the migration
    // ran and failed there (exit 1), the cause said once, the way on named.
    let out = migrate(&broker.brokers(), &from, &format!("{to}.again"), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&format!("topic `{from}` partition 2 offset")), "{}", text(&out));
    assert_eq!(text(&out).matches("at byte 0").count(), 1, "the cause once: {}", text(&out));
    assert!(text(&out).contains("rerun with `--dead-letter-topic TOPIC`"), "{}", text(&out));
    // With a dead-letter topic, it lands there with its coordinates and the rest migrates.
    let dead = format!("{from}.dead");
    let out = migrate(
        &broker.brokers(),
        &from,
        &format!("{to}.dead-lettered"),
        &["--dead-letter-topic", &dead],
    );
    assert_migrated(&out, records.len());
    assert!(text(&out).contains("1 dead-lettered"), "{}", text(&out));
    let config = strata::kafka::migrate::MigrateConfig::new(broker.brokers(), &from, &dead);
    let letters: Vec<_> = (0..3)
        // The dead-letter topic may have fewer partitions than asked: those read as empty.
        .flat_map(|p| {
            strata::kafka::migrate::partition_records(&config, &dead, p).into_iter().flatten()
        })
        .map(Result::unwrap)
        .collect();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].value, [9, 9, 9]);
    assert_eq!(letters[0].key.as_deref(), Some(&b"account-2"[..]));
    assert_eq!(letters[0].headers["strata.source.partition"], "2");
    assert_eq!(letters[0].headers["strata.source.topic"], from);
    assert!(letters[0].headers["strata.error"].contains("byte 0"), "{letters:?}");

    // Verify accounts for the dead letter when it reads the dead-letter topic...
    let dead_lettered = format!("{to}.dead-lettered");
    let out = migrate(&broker.brokers(), &from, &dead_lettered, &["--verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("if the migration dead-lettered it, verify with its dead-letter topic")
            && text(&out).contains("--verify --dead-letter-topic T"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("Some("), "no Rust Debug in messages: {}", text(&out));
    let out = migrate(
        &broker.brokers(),
        &from,
        &dead_lettered,
        &["--verify", "--dead-letter-topic", &dead],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out).matches("  ok").count(), 3, "{}", text(&out));
    let partition_2 =
        text(&out).lines().find(|l| l.trim_start().starts_with("2 ")).unwrap_or("").to_owned();
    assert!(partition_2.split_whitespace().nth(3) == Some("1"), "one dead letter: {}", text(&out));
}

#[test]
fn killed_with_sigkill_again_and_again_it_still_migrates_every_record_once_in_order() {
    let (broker, from) = start("cli-crash", 3);
    let batch = records_of::<AccountEvent>(10, 22, "account", 50);
    let mut records = Vec::new();
    while records.len() < 100_000 {
        records.extend(batch.iter().cloned());
    }
    produce(&broker, &from, &records);
    let to = format!("{from}.v3");
    // Ten kills, each at a crash point drawn at random: the nth record queued to the target
    // aborts the process (SIGKILL's effect), the records before it in flight or delivered.
    let mut rng = support::Rng::new(20261207);
    let mut target_ends = Vec::new();
    for _ in 0..10 {
        let point = format!("migrate.sent:{}", 1 + rng.below(8_000));
        let out = migrate_command(&broker.brokers(), &from, &to)
            .env("STRATA_CRASH_AT", &point)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.signal(), Some(6), "{point}: the crash point was reached");
        target_ends.push(migrated_so_far(&broker.brokers(), &to));
    }
    assert!(target_ends.last() < Some(&(records.len() as i64)), "every kill landed mid-way");
    assert!(target_ends.windows(2).all(|w| w[0] <= w[1]), "work is never lost: {target_ends:?}");
    let out = migrate(&broker.brokers(), &from, &to, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the migration finishes once left alone: {}",
        text(&out)
    );
    let out = migrate(&broker.brokers(), &from, &to, &["--verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out).matches("  ok").count(), 3, "{}", text(&out));
    eprintln!("records in the target after each kill: {target_ends:?}");
}

/// How many records `topic` holds (0 before it exists).
fn migrated_so_far(brokers: &str, topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = client(brokers).create().unwrap();
    (0..3)
        .map_while(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).ok())
        .map(|(low, high)| high - low)
        .sum()
}

#[test]
fn translate_group_moves_a_consumer_group_to_the_equivalent_positions_on_the_target() {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    let (broker, from) = start("cli-translate", 2);
    let records = records_of::<AccountEvent>(5, 23, "account", 6);
    produce(&broker, &from, &records);
    let group = format!("{from}.readers");
    // The group read the first 7 records of partition 0 and 4 of partition 1, and committed.
    let reader: BaseConsumer = client(&broker.brokers()).set("group.id", &group).create().unwrap();
    let mut committed = rdkafka::TopicPartitionList::new();
    committed.add_partition_offset(&from, 0, rdkafka::Offset::Offset(7)).unwrap();
    committed.add_partition_offset(&from, 1, rdkafka::Offset::Offset(4)).unwrap();
    reader.commit(&committed, CommitMode::Sync).unwrap();
    drop(reader);

    let to = format!("{from}.v3");
    let out = migrate(&broker.brokers(), &from, &to, &["--translate-group", &group]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out)
            .contains(&format!("group `{group}` partition 0: source offset 7 is target offset 7")),
        "{}",
        text(&out)
    );

    // A consumer of the group on the target continues exactly after the last record it had.
    let consumer: BaseConsumer = client(&broker.brokers())
        .set("group.id", &group)
        .set("auto.offset.reset", "error")
        .create()
        .unwrap();
    consumer.subscribe(&[&to]).unwrap();
    let mut firsts = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while firsts.len() < 2 {
        assert!(Instant::now() < deadline, "the group did not resume on the target: {firsts:?}");
        let Some(message) = consumer.poll(Duration::from_millis(200)) else { continue };
        let message = message.unwrap();
        let source_offset = {
            use rdkafka::message::Headers;
            let headers = message.headers().unwrap();
            headers
                .iter()
                .find(|h| h.key == "strata.source.offset")
                .map(|h| String::from_utf8_lossy(h.value.unwrap()).parse::<i64>().unwrap())
                .unwrap()
        };
        firsts.entry(message.partition()).or_insert(source_offset);
    }
    assert_eq!(firsts, std::collections::BTreeMap::from([(0, 7), (1, 4)]));
}

#[test]
fn with_a_registry_and_register_the_newest_version_is_registered_and_used() {
    let (broker, from) = start("cli-register", 2);
    let dir = std::env::temp_dir().join(format!("strata-migrate-sr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let registry = strata_registry::Server::start(strata_registry::Config::new(&dir)).unwrap();
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let subject = "bank.accounts-value";
    let post = |path: &str, body: serde_json::Value| {
        let response = agent
            .post(&format!("{}{path}", registry.url()))
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .send(body.to_string())
            .unwrap();
        assert_eq!(response.status(), 200);
    };
    let put = agent
        .put(&format!("{}/config/{subject}", registry.url()))
        .header("Content-Type", "application/json")
        .send(r#"{"compatibility":"NONE"}"#)
        .unwrap();
    assert_eq!(put.status(), 200);
    // Versions 1 and 2 registered (ids 1 and 2); the topic holds their records only.
    for version in 1..=2 {
        post(
            &format!("/subjects/{subject}/versions"),
            serde_json::json!({"schema": support::kafka::history::<AccountEvent>(version)}),
        );
    }
    let records: Vec<_> = records_of::<AccountEvent>(4, 24, "account", 5)
        .into_iter()
        .filter(|(_, framed)| framed[4] <= 2)
        .collect();
    produce(&broker, &from, &records);
    let to = format!("{from}.v3");
    let url = registry.url();
    let out = migrate(&broker.brokers(), &from, &to, &["--registry", &url]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "without --register the newest id is missing: {}",
        text(&out)
    );
    let out = migrate(&broker.brokers(), &from, &to, &["--registry", &url, "--register"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = migrate(&broker.brokers(), &from, &to, &["--registry", &url, "--verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let versions: serde_json::Value = serde_json::from_str(
        &agent
            .get(&format!("{url}/subjects/{subject}/versions"))
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(versions, serde_json::json!([1, 2, 3]));
    drop(registry);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn follow_keeps_migrating_until_sigterm_then_prints_the_offset_map() {
    let (broker, from) = start("cli-follow", 2);
    let records = records_of::<AccountEvent>(3, 25, "account", 4);
    let (first, second) = records.split_at(10);
    produce(&broker, &from, first);
    let to = format!("{from}.v3");
    let child = migrate_command(&broker.brokers(), &from, &to)
        .arg("--follow")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    produce(&broker, &from, second);
    std::thread::sleep(Duration::from_secs(2));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_migrated(&out, records.len());
    assert!(text(&out).contains("partition 0: source offset"), "{}", text(&out));
    let out = migrate(&broker.brokers(), &from, &to, &["--verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// A `migrate --follow` process whose standard error is collected line by line.
struct Instance {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Instance {
    fn start(brokers: &str, from: &str, to: &str, extra: &[&str]) -> Instance {
        Self::crashing_at(brokers, from, to, extra, &[])
    }

    /// The same, with `env` set (a crash point).
    fn crashing_at(
        brokers: &str,
        from: &str,
        to: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Instance {
        let mut child = migrate_command(brokers, from, to)
            .arg("--follow")
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let collected = std::sync::Arc::clone(&lines);
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                collected.lock().unwrap().push(line);
            }
        });
        Instance { child, lines }
    }

    /// Waits until the instance announces it holds `count` partitions; returns them.
    fn holds(&self, count: usize) -> Vec<i32> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let held = self.lines.lock().unwrap().iter().rev().find_map(|line| {
                let list = line.strip_prefix("migrate: holding source partition(s) [")?;
                let list = list.strip_suffix(']')?;
                Some(list.split(", ").filter_map(|p| p.parse().ok()).collect::<Vec<i32>>())
            });
            if let Some(held) = held.filter(|h| h.len() == count) {
                return held;
            }
            assert!(
                Instant::now() < deadline,
                "never held {count} partitions: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then what it printed.
    fn stop(self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let out = self.child.wait_with_output().unwrap();
        let stderr = self.lines.lock().unwrap().join("\n");
        let text = format!("{}{stderr}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(out.status.code(), Some(0), "{text}");
        text
    }
}

/// Waits until the target holds `count` records.
fn wait_for_target(brokers: &str, topic: &str, partitions: i32, count: i64) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = client(brokers).create().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let held: i64 = (0..partitions)
            .map(|p| {
                consumer
                    .fetch_watermarks(topic, p, Duration::from_secs(10))
                    .map(|(low, high)| high - low)
                    .unwrap_or(0)
            })
            .sum();
        if held >= count {
            return;
        }
        assert!(Instant::now() < deadline, "the target holds {held} of {count} records");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn migrated(text: &str) -> u64 {
    let line = text.lines().find(|l| l.contains(" record(s) migrated from")).expect(text);
    line.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn two_instances_in_one_group_split_the_partitions_and_take_over_from_each_other() {
    let (broker, from) = start("cli-group", 4);
    let to = format!("{from}.v3");
    let batch = records_of::<AccountEvent>(10, 26, "account", 40);
    produce(&broker, &from, &batch);
    let group = format!("migrators-{}", std::process::id());
    // A member that dies is noticed after 6 s (the broker's least session timeout).
    let flags = ["--group", &group, "-X", "session.timeout.ms=6000"];
    let brokers = broker.brokers();
    let first = Instance::start(&brokers, &from, &to, &flags);
    first.holds(4);
    let second = Instance::start(&brokers, &from, &to, &flags);
    // The group splits the partitions: two each (range assignment).
    let mut split = second.holds(2);
    split.extend(first.holds(2));
    split.sort();
    assert_eq!(split, [0, 1, 2, 3]);
    produce(&broker, &from, &batch);
    wait_for_target(&brokers, &to, 4, 2 * batch.len() as i64);

    // The second leaves cleanly: the first takes its partitions over from the target's tail.
    let second_said = second.stop();
    first.holds(4);
    produce(&broker, &from, &batch);
    wait_for_target(&brokers, &to, 4, 3 * batch.len() as i64);

    // A third joins, and dies (a crash point: its 200th record queued, some in flight) while
    // records arrive; the first takes over again.
    let crash = [("STRATA_CRASH_AT", "migrate.sent:200")];
    let mut third = Instance::crashing_at(&brokers, &from, &to, &flags, &crash);
    third.holds(2);
    first.holds(2);
    let producing = {
        let (broker_url, from, batch) = (brokers.clone(), from.clone(), batch.clone());
        std::thread::spawn(move || {
            let producer: BaseProducer = client(&broker_url).create().unwrap();
            for (key, value) in batch.iter().cycle().take(20 * batch.len()) {
                producer.send(BaseRecord::to(&from).key(key).payload(value)).unwrap();
                producer.poll(Duration::ZERO);
            }
            producer.flush(Duration::from_secs(30)).unwrap();
        })
    };
    let status = third.child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(6), "the third died at its crash point");
    producing.join().unwrap();
    first.holds(4);
    let total = 23 * batch.len() as i64;
    wait_for_target(&brokers, &to, 4, total);
    let first_said = first.stop();

    let (first_count, second_count) = (migrated(&first_said), migrated(&second_said));
    assert!(second_count > 0 && first_count > 0, "{first_said}\n{second_said}");
    assert!(first_count < total as u64, "the others migrated part: {first_said}");
    let out = migrate(&brokers, &from, &to, &["--verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out).matches("  ok").count(), 4, "{}", text(&out));
}

/// `cargo xtask redrive`: a migration's dead letters (framed bank events, then one that is not
/// Avro) go into its target without the dead-lettering's headers, once; the bad one stays
/// behind and is named; a dry run writes nothing.
#[test]
fn redrive_writes_dead_letters_back_once_and_names_the_one_that_still_fails() {
    use rdkafka::Message;
    use rdkafka::message::{Header, Headers, OwnedHeaders};
    let (broker, topic) = start("cli-redrive", 3);
    let dead = format!("{topic}-dlt");
    support::kafka::create_topic(&broker, &dead, 1);
    // Dead-lettered by a migration from `<topic>.old` into `topic`: not in `topic` yet.
    let source = format!("{topic}.old");
    let mut letters = records_of::<AccountEvent>(2, 5, "account", 4);
    letters.push(("account-x".into(), b"not avro".to_vec()));
    let producer: BaseProducer = client(&broker.brokers()).create().unwrap();
    for (i, (key, value)) in letters.iter().enumerate() {
        let offset = i.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header { key: "ce_id", value: Some(&format!("event-{i}")) })
            .insert(Header { key: "strata.source.topic", value: Some(&source) })
            .insert(Header { key: "strata.source.partition", value: Some("0") })
            .insert(Header { key: "strata.source.offset", value: Some(&offset) })
            .insert(Header { key: "strata.error", value: Some("the schema was missing") });
        producer
            .send(
                BaseRecord::to(&dead)
                    .key(key)
                    .payload(value)
                    .headers(headers)
                    .timestamp(1_000 + i as i64),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let redrive = |extra: &[&str]| {
        xtask()
            .args(["redrive", "--from", &dead, "--to", &topic, "--brokers", &broker.brokers()])
            .args(["--event", "bank.accounts"])
            .args(extra)
            .output()
            .unwrap()
    };
    let good = letters.len() - 1;

    let out = redrive(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&format!("{good} would be redriven")), "{}", text(&out));
    assert!(support::kafka::read_available(&broker.brokers(), &topic).is_empty());

    let out = redrive(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = format!("{} dead letter(s) read from `{dead}`: {good} redriven", good + 1);
    assert!(text(&out).contains(&said), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("still fails: `{dead}` partition 0 offset {good}")),
        "{}",
        text(&out)
    );
    let written = support::kafka::read_available(&broker.brokers(), &topic);
    assert_eq!(written.len(), good);
    for message in &written {
        let headers: Vec<&str> = message.headers().unwrap().iter().map(|h| h.key).collect();
        assert!(
            headers.contains(&"ce_id") && headers.contains(&"strata.redrive.from"),
            "{headers:?}"
        );
        assert!(!headers.contains(&"strata.error"), "{headers:?}");
    }

    // A rerun reads only the one left behind, and writes nothing again.
    let out = redrive(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("1 dead letter(s) read"), "{}", text(&out));
    assert_eq!(support::kafka::read_available(&broker.brokers(), &topic).len(), good);
}
