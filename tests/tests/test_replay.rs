//! Replay against a real broker (nisshi, started per test): a topic holding every historical
//! version of the bank's events folds into exactly the state that applying the latest-typed
//! events in order gives; snapshots make a restart read only what follows them, survive a
//! change of the state type, and are discarded (never defaulted) when unreadable; a poison
//! record stops the replay with its coordinates, or goes to the dead-letter topic.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use apache_avro::types::Value;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use strata::kafka::Mode;
use strata::kafka::record::{FailedRecord, Position};
use strata::kafka::replay::{Aggregate, Aggregates, Projection, Replay, ReplayConfig, ReplayError};
use strata::kafka::snapshot::KafkaStore;
use strata::snapshot::{DirStore, Snapshot, SnapshotStore};
use strata::{Decoder, Event, LocalSource};
use strata_tests::bank::AccountEvent;
use strata_tests::ledger::Ledger;

use strata::codec::registry::{Registry, RegistryConfig};
use support::broker::Broker;
use support::faults::{Outages, chain, supervise};
use support::kafka::{client, create_topic, produce, records_of, source_of, start};

fn source() -> Arc<LocalSource> {
    source_of::<AccountEvent>()
}

/// The bank's records, keyed by ten accounts in turn.
fn records(per_branch: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    records_of::<AccountEvent>(per_branch, seed, "account", 10)
}

/// The state that applying each record's latest-typed event in order gives.
fn expected(records: &[(String, Vec<u8>)]) -> Ledger {
    let decoder = Decoder::<AccountEvent>::new(source()).unwrap();
    let mut ledger = Ledger::default();
    for (i, (key, framed)) in records.iter().enumerate() {
        let event = decoder.decode(framed).unwrap();
        let at = Position {
            topic: "",
            partition: 0,
            offset: i as i64,
            key: Some(key.as_bytes()),
            timestamp: None,
            headers: strata::kafka::record::Headers::none(),
        };
        ledger.apply(event, &at).unwrap();
    }
    ledger
}

fn config(broker: &Broker, topic: &str) -> ReplayConfig {
    let mut config = ReplayConfig::new(broker.brokers());
    config.topic = Some(topic.to_owned());
    config
}

fn store_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-snapshots-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn replay_of_every_historical_version_gives_the_state_of_the_latest_typed_events_in_order() {
    let (broker, topic) = start("rebuild", 3);
    let records = records(8, 1);
    produce(&broker, &topic, &records);

    let replay = Replay::<AccountEvent>::new(config(&broker, &topic), source()).unwrap();
    let mut ledger = Ledger::default();
    let mut progress = Vec::new();
    let report = replay
        .run_with_progress(&mut ledger, &mut |p| {
            progress.push(p.clone());
            true
        })
        .unwrap();
    assert_eq!(report.events, records.len() as u64);
    assert_eq!(ledger, expected(&records));
    assert_eq!(
        report.positions.values().sum::<i64>(),
        records.len() as i64,
        "3 partitions read to their ends"
    );
    assert_eq!(progress.last().unwrap().lag, 0);
    assert!(ledger.accounts.values().any(|a| a.frozen), "retired closings arrive as freezes");
}

#[test]
fn a_restart_from_a_snapshot_reads_only_the_records_after_it() {
    let (broker, topic) = start("snapshots", 2);
    let records = records(10, 2);
    let (first, second) = records.split_at(80);
    produce(&broker, &topic, first);
    let dir = store_dir("restart");
    let store = DirStore::new(&dir, "ledger");
    let mut config = config(&broker, &topic);
    config.snapshot_every_events = Some(25);
    let replay = Replay::<AccountEvent>::new(config, source()).unwrap();

    let (ledger, report) = replay.run_with_snapshots::<Ledger>(&store, &mut |_| true).unwrap();
    assert_eq!((report.events, report.from_snapshot.clone()), (80, None));
    assert_eq!(report.snapshots_written, 4, "at 25, 50, 75 and at the end");
    assert_eq!(ledger, expected(first));

    // By time too: with a zero interval, a snapshot after every event.
    let mut timed = ReplayConfig::new(broker.brokers());
    timed.topic = Some(topic.clone());
    timed.snapshot_every = Some(Duration::ZERO);
    let timed_store = DirStore::new(dir.join("timed"), "ledger");
    let timed = Replay::<AccountEvent>::new(timed, source()).unwrap();
    let (_, report) = timed.run_with_snapshots::<Ledger>(&timed_store, &mut |_| true).unwrap();
    assert_eq!(report.snapshots_written, 80);

    produce(&broker, &topic, second);
    let (ledger, report) = replay.run_with_snapshots::<Ledger>(&store, &mut |_| true).unwrap();
    assert_eq!(report.from_snapshot.as_ref().map(|s| s.events), Some(80));
    assert_eq!(report.events, second.len() as u64, "only the records after the snapshot");
    assert_eq!(ledger, expected(&records));
    let _ = std::fs::remove_dir_all(dir);
}

/// Version 1 of the ledger (no `events`, no `deposits`), written as an older program did.
fn ledger_v1_payload(ledger: &Ledger) -> Vec<u8> {
    let json = <Ledger as strata::AvroType>::schema(&mut strata::schema::SchemaCx::new(
        1,
        Some("com.example.bank.state"),
    ))
    .unwrap()
    .to_json();
    let schema = apache_avro::Schema::parse_str(&json.to_string()).unwrap();
    let accounts = ledger
        .accounts
        .iter()
        .map(|(key, a)| {
            let account = Value::Record(vec![
                ("holder".into(), Value::String(a.holder.clone())),
                ("currency".into(), Value::String(a.currency.clone())),
                ("balance_cents".into(), Value::Long(a.balance_cents)),
                ("frozen".into(), Value::Boolean(a.frozen)),
            ]);
            (key.clone(), account)
        })
        .collect();
    support::write_datum(&schema, Value::Record(vec![("accounts".into(), Value::Map(accounts))]))
        .unwrap()
}

#[test]
fn a_snapshot_of_an_older_state_version_is_upcast() {
    let (broker, topic) = start("upcast", 1);
    let records = records(6, 3);
    let (first, second) = records.split_at(40);
    produce(&broker, &topic, first);
    let replay = Replay::<AccountEvent>::new(config(&broker, &topic), source()).unwrap();
    let report = replay.run(&mut Ledger::default()).unwrap();

    let dir = store_dir("upcast");
    let store = DirStore::new(&dir, "ledger");
    let old = Snapshot {
        topic: topic.clone(),
        state_type: "Ledger".into(),
        state_version: 1,
        offsets: report.positions.clone(),
        events: 40,
        payload: ledger_v1_payload(&expected(first)),
        schema_fingerprint: strata::snapshot::schema_fingerprint::<Ledger>(1),
        parked: BTreeMap::new(),
    };
    store.save(&old).unwrap();
    produce(&broker, &topic, second);
    let (ledger, report) = replay.run_with_snapshots::<Ledger>(&store, &mut |_| true).unwrap();
    assert_eq!(report.from_snapshot.as_ref().map(|s| s.events), Some(40));
    assert_eq!(report.events, second.len() as u64);
    let whole = expected(&records);
    for (key, account) in &whole.accounts {
        let got = &ledger.accounts[key];
        // Upcast fields started at their defaults: deposits count from the snapshot on.
        assert_eq!(
            (&got.holder, &got.currency, got.balance_cents, got.frozen),
            (&account.holder, &account.currency, account.balance_cents, account.frozen),
            "{key}"
        );
    }
    assert_eq!(ledger.events, second.len() as i64, "`events` was 0 (its default) in version 1");
    // The state is written back at the latest version.
    let newest = store.load().unwrap().remove(0).unwrap();
    assert_eq!(newest.state_version, 2);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unreadable_snapshot_is_discarded_with_its_reason_and_the_replay_starts_over() {
    let (broker, topic) = start("discard", 2);
    let records = records(5, 4);
    produce(&broker, &topic, &records);
    let dir = store_dir("discard");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ledger.snapshot"), b"strata-snapshot 1\n{\"topic\": 7}\n").unwrap();
    let store = DirStore::new(&dir, "ledger");
    let replay = Replay::<AccountEvent>::new(config(&broker, &topic), source()).unwrap();
    let (ledger, report) = replay.run_with_snapshots::<Ledger>(&store, &mut |_| true).unwrap();
    assert_eq!(report.discarded_snapshots.len(), 1, "{report:?}");
    assert!(
        report.discarded_snapshots[0].contains("ledger.snapshot` is not a readable snapshot"),
        "{report:?}"
    );
    assert_eq!(report.from_snapshot, None);
    assert_eq!(report.events, records.len() as u64, "everything replayed");
    assert_eq!(ledger, expected(&records));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_poison_record_stops_the_replay_with_its_coordinates_or_goes_to_the_dead_letter_topic() {
    let (broker, topic) = start("poison", 1);
    let mut records = records(3, 5);
    let poison = (String::from("account-3"), vec![1, 0, 0, 0, 1, 2, 3]);
    records.insert(7, poison.clone());
    produce(&broker, &topic, &records);

    let replay = Replay::<AccountEvent>::new(config(&broker, &topic), source()).unwrap();
    let error = replay.run(&mut Ledger::default()).unwrap_err();
    match &error {
        ReplayError::Record(FailedRecord {
            topic: t,
            partition: 0,
            offset: 7,
            schema_id: None,
            ..
        }) => {
            assert_eq!(t, &topic);
        }
        other => panic!("expected the poison record's coordinates, got {other}"),
    }
    assert!(
        error.to_string().contains(&format!("topic `{topic}` partition 0 offset 7")),
        "{error}"
    );

    let dead = format!("{topic}.dlt");
    create_topic(&broker, &dead, 1);
    let mut config = config(&broker, &topic);
    config.dead_letter_topic = Some(dead.clone());
    let replay = Replay::<AccountEvent>::new(config, source()).unwrap();
    let mut ledger = Ledger::default();
    let report = replay.run(&mut ledger).unwrap();
    // Its account is parked: that account's later records follow it unapplied.
    let behind = records.iter().skip(8).filter(|r| r.0 == poison.0).count() as u64;
    assert_eq!(
        (report.dead_lettered, report.parked, report.events),
        (1 + behind, behind, records.len() as u64 - 1 - behind)
    );
    let clean: Vec<_> = records
        .iter()
        .enumerate()
        .filter(|(i, r)| *i < 7 || r.0 != poison.0)
        .map(|(_, r)| r.clone())
        .collect();
    assert_eq!(ledger, expected(&clean));

    let consumer: BaseConsumer =
        client(&broker.brokers()).set("group.id", "dlt-check").create().unwrap();
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment.add_partition_offset(&dead, 0, rdkafka::Offset::Beginning).unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let message = loop {
        if let Some(m) = consumer.poll(Duration::from_millis(500)) {
            break m.unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "the dead letter did not arrive");
    };
    assert_eq!(message.payload(), Some(&poison.1[..]));
    assert_eq!(message.key(), Some(poison.0.as_bytes()));
    let headers: BTreeMap<String, String> = message
        .headers()
        .unwrap()
        .iter()
        .map(|h| {
            (h.key.to_owned(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned())
        })
        .collect();
    // The same header names as migration's dead letters.
    assert_eq!(headers[strata::kafka::record::SOURCE_TOPIC], topic);
    assert_eq!(headers["strata.source.topic"], topic);
    assert_eq!(headers["strata.source.partition"], "0");
    assert_eq!(headers["strata.source.offset"], "7");
    assert!(headers["strata.error"].contains("magic byte"), "{headers:?}");
}

/// An aggregate per account: its balance and how many events it saw.
#[derive(Debug, Default, Clone, PartialEq)]
struct Balance {
    cents: i64,
    events: u32,
}

impl Aggregate<AccountEvent> for Balance {
    fn apply(&mut self, event: AccountEvent) {
        if let AccountEvent::Deposited(deposit) = event {
            self.cents = self.cents.wrapping_add(deposit.amount_cents);
        }
        self.events += 1;
    }
}

#[test]
fn aggregates_are_built_per_record_key_and_a_follow_replay_keeps_consuming_until_stopped() {
    let (broker, topic) = start("follow", 2);
    let records = records(4, 6);
    let (first, second) = records.split_at(20);
    produce(&broker, &topic, first);

    let mut config = config(&broker, &topic);
    config.mode = Mode::Follow;
    config.progress_every = Duration::from_millis(50);
    let replay = Replay::<AccountEvent>::new(config, source()).unwrap();
    let total = records.len() as u64;
    let (aggregates, report) = std::thread::scope(|scope| {
        let follower = scope.spawn(|| {
            let mut aggregates = Aggregates::<Balance>::default();
            let report =
                replay.run_with_progress(&mut aggregates, &mut |p| p.records < total).unwrap();
            (aggregates, report)
        });
        // Records produced while it follows arrive too.
        std::thread::sleep(Duration::from_millis(500));
        produce(&broker, &topic, second);
        follower.join().unwrap()
    });
    assert_eq!(report.events, total);

    let decoder = Decoder::<AccountEvent>::new(source()).unwrap();
    let mut expected = std::collections::HashMap::<Vec<u8>, Balance>::new();
    for (key, framed) in &records {
        expected.entry(key.as_bytes().to_vec()).or_default().apply(decoder.decode(framed).unwrap());
    }
    assert_eq!(aggregates.by_key, expected);
}

#[test]
fn snapshots_kept_in_a_compacted_kafka_topic_serve_a_restart() {
    let (broker, topic) = start("kafka-store", 2);
    let records = records(5, 7);
    let (first, second) = records.split_at(30);
    produce(&broker, &topic, first);
    let store = KafkaStore::new(broker.brokers(), &format!("{topic}.snapshots"), "ledger");
    assert!(store.load().unwrap().is_empty(), "no snapshot yet");
    let mut config = config(&broker, &topic);
    config.snapshot_every_events = Some(10);
    let replay = Replay::<AccountEvent>::new(config, source()).unwrap();
    let (_, report) = replay.run_with_snapshots::<Ledger>(&store, &mut |_| true).unwrap();
    assert_eq!((report.events, report.snapshots_written), (30, 3));

    produce(&broker, &topic, second);
    let (ledger, report) = replay.run_with_snapshots::<Ledger>(&store, &mut |_| true).unwrap();
    assert_eq!(report.from_snapshot.as_ref().map(|s| s.events), Some(30));
    assert_eq!(report.events, second.len() as u64);
    assert_eq!(ledger, expected(&records));
    let stored = store.load().unwrap();
    assert_eq!(stored.len(), 5, "3 then 2 snapshots, newest first (until compaction)");
    assert_eq!(stored[0].as_ref().unwrap().events, records.len() as u64);
}

#[test]
fn replays_in_one_consumer_group_split_the_partitions_between_them() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let (broker, topic) = start("group", 4);
    let records = records(6, 8);
    let total = records.len() as u64;
    let applied = AtomicU64::new(0);
    let mut config = config(&broker, &topic);
    config.mode = Mode::Follow;
    config.group = Some(format!("{topic}.projection"));
    config.progress_every = Duration::from_millis(50);
    let replay = Replay::<AccountEvent>::new(config, source()).unwrap();
    let members: Vec<(Aggregates<Balance>, u64)> = std::thread::scope(|scope| {
        let members: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut aggregates = Aggregates::<Balance>::default();
                    let report = replay
                        .run_with_progress(
                            &mut |event: AccountEvent, at: &Position<'_>| {
                                applied.fetch_add(1, Ordering::Relaxed);
                                aggregates.apply(event, at).unwrap();
                            },
                            &mut |_| applied.load(Ordering::Relaxed) < total,
                        )
                        .unwrap();
                    (aggregates, report.events)
                })
            })
            .collect();
        // Both have joined and split the partitions before the records arrive.
        std::thread::sleep(Duration::from_secs(3));
        produce(&broker, &topic, &records);
        members.into_iter().map(|m| m.join().unwrap()).collect()
    });
    assert_eq!(members.iter().map(|(_, events)| events).sum::<u64>(), total, "each record once");
    assert!(
        members.iter().all(|(_, events)| *events > 0),
        "both members had partitions: {:?}",
        members.iter().map(|m| m.1).collect::<Vec<_>>()
    );
    // Keys are split too: each account's events all went to one member.
    let decoder = Decoder::<AccountEvent>::new(source()).unwrap();
    let mut expected = std::collections::HashMap::<Vec<u8>, Balance>::new();
    for (key, framed) in &records {
        expected.entry(key.as_bytes().to_vec()).or_default().apply(decoder.decode(framed).unwrap());
    }
    let mut merged = std::collections::HashMap::new();
    for (aggregates, _) in members {
        for (key, balance) in aggregates.by_key {
            assert!(merged.insert(key, balance).is_none(), "a key on both members");
        }
    }
    assert_eq!(merged, expected);

    // Catch-up needs every partition: refused with the reason when the replay is built.
    let mut config = ReplayConfig::new(broker.brokers());
    config.group = Some("g".into());
    let error = Replay::<AccountEvent>::new(config, source()).unwrap_err();
    assert!(matches!(error, ReplayError::GroupInCatchUp), "{error}");
    assert!(error.to_string().contains("follow mode"), "{error}");
}

/// What a group member applied: each partition's offsets, in the order applied.
type Applied = std::sync::Mutex<BTreeMap<i32, Vec<i64>>>;

/// Runs one follow-mode group member until `stop`, recording every offset it applies.
fn member(replay: &Replay<AccountEvent>, stop: &std::sync::atomic::AtomicBool, applied: &Applied) {
    use std::sync::atomic::Ordering;
    replay
        .run_with_progress(
            &mut |_: AccountEvent, at: &Position<'_>| {
                applied.lock().unwrap().entry(at.partition).or_default().push(at.offset);
            },
            &mut |_| !stop.load(Ordering::SeqCst),
        )
        .unwrap();
}

/// Each partition's end offset now.
fn end_offsets(broker: &Broker, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer = client(&broker.brokers()).create().unwrap();
    (0..partitions)
        .map(|p| (p, consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).unwrap().1))
        .collect()
}

/// Waits (60 s at most) until `done` holds of the members' records.
fn wait_for(what: &str, members: &[&Applied], done: impl Fn(&[BTreeMap<i32, Vec<i64>>]) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now: Vec<_> = members.iter().map(|m| m.lock().unwrap().clone()).collect();
        if done(&now) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {now:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether every partition's offsets were applied from 0 without a gap or a repeat (the state
/// accounts for each record up to its position exactly once).
fn from_zero_once(applied: &BTreeMap<i32, Vec<i64>>) -> bool {
    applied.values().all(|offsets| offsets.iter().copied().eq(0..offsets.len() as i64))
}

/// Whether some member reached each partition's end.
fn covered(members: &[BTreeMap<i32, Vec<i64>>], ends: &BTreeMap<i32, i64>) -> bool {
    ends.iter().all(|(p, end)| {
        *end == 0 || members.iter().any(|m| m.get(p).is_some_and(|o| o.last() == Some(&(end - 1))))
    })
}

#[test]
fn a_group_member_restarted_or_handed_a_partition_applies_its_records_from_where_its_state_is() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (broker, topic) = start("group-state", 4);
    produce(&broker, &topic, &records(5, 21));
    let mut config = config(&broker, &topic);
    config.mode = Mode::Follow;
    config.group = Some(format!("{topic}.members"));
    config.progress_every = Duration::from_millis(50);
    let replay = Replay::<AccountEvent>::new(config, source()).unwrap();
    let ends = end_offsets(&broker, &topic, 4);

    // A member applies every record, commits and stops.
    let (first, stop) = (Applied::default(), AtomicBool::new(false));
    std::thread::scope(|scope| {
        scope.spawn(|| member(&replay, &stop, &first));
        wait_for("the first member applies every record", &[&first], |m| covered(m, &ends));
        stop.store(true, Ordering::SeqCst);
    });
    assert!(from_zero_once(&first.lock().unwrap()));

    // Restarted, its state is empty: it applies every record again from the beginning, not
    // from the offsets the group committed (which a state it no longer has had reached).
    let (again, b) = (Applied::default(), Applied::default());
    let (stop_again, stop_b) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|scope| {
        scope.spawn(|| member(&replay, &stop_again, &again));
        wait_for("the restarted member applies every record", &[&again], |m| covered(m, &ends));

        // A second member joins: the partitions it is given start at their beginning for it,
        // and it follows them while records arrive that the first member does not see.
        scope.spawn(|| member(&replay, &stop_b, &b));
        wait_for("the second member gets partitions", &[&b], |m| {
            covered(&[m[0].clone()], &{ m[0].keys().map(|p| (*p, ends[p])).collect() })
                && !m[0].is_empty()
        });
        produce(&broker, &topic, &records(3, 22));
        let more = end_offsets(&broker, &topic, 4);
        wait_for("the two members follow every partition", &[&again, &b], |m| covered(m, &more));

        // It leaves: the first member gets those partitions back and resumes where its own
        // state stopped, before the records only the second member applied.
        stop_b.store(true, Ordering::SeqCst);
        wait_for("the first member catches up again", &[&again], |m| covered(m, &more));
        stop_again.store(true, Ordering::SeqCst);
    });
    let (again, b) = (again.into_inner().unwrap(), b.into_inner().unwrap());
    assert!(from_zero_once(&again), "the first member's records: {again:?}");
    assert!(from_zero_once(&b), "the second member's records: {b:?}");
    assert!(!b.is_empty() && b.len() < 4, "the second member had some partitions: {b:?}");
}

/// Every version of `E`'s committed history, replayed: each key's events, in order, equal the
/// latest-typed events decoded one by one.
fn replay_every_version<E: Event + std::fmt::Debug + PartialEq>(name: &str) {
    let (broker, topic) = start(name, 3);
    let source = source_of::<E>();
    let records = records_of::<E>(6, 1, "key", 7);
    produce(&broker, &topic, &records);
    let decoder = Decoder::<E>::new(source.clone()).unwrap();
    let mut expected: BTreeMap<Vec<u8>, Vec<E>> = BTreeMap::new();
    for (key, framed) in &records {
        expected.entry(key.as_bytes().to_vec()).or_default().push(decoder.decode(framed).unwrap());
    }
    let mut config = ReplayConfig::new(broker.brokers());
    config.topic = Some(topic);
    let replay = Replay::<E>::new(config, source).unwrap();
    let mut by_key: BTreeMap<Vec<u8>, Vec<E>> = BTreeMap::new();
    let report = replay
        .run(&mut |event: E, at: &Position<'_>| {
            by_key.entry(at.key.unwrap().to_vec()).or_default().push(event);
        })
        .unwrap();
    assert_eq!(report.events, records.len() as u64);
    assert_eq!(by_key, expected);
}

#[test]
fn every_version_of_both_example_aggregates_replays_in_per_key_order() {
    replay_every_version::<AccountEvent>("bank-all");
    replay_every_version::<strata_tests::shop::OrderEvent>("shop-all");
}

/// The ledger's version 2, but with two fields of the same wire type swapped, and no version
/// bump: the mistake a snapshot must not survive.
mod swapped {
    use std::collections::BTreeMap;

    #[derive(strata::Record, Debug, Default, Clone, PartialEq)]
    #[strata(name = "Ledger")]
    pub struct Account {
        pub balance_cents: i64,
        pub deposits: i64,
    }

    #[derive(strata::Record, Debug, Default, Clone, PartialEq)]
    pub struct Written {
        pub accounts: BTreeMap<String, Account>,
    }
}

/// The same state as it was written: `deposits` before `balance_cents`.
mod written {
    use std::collections::BTreeMap;

    #[derive(strata::Record, Debug, Default, Clone, PartialEq)]
    #[strata(name = "Ledger")]
    pub struct Account {
        pub deposits: i64,
        pub balance_cents: i64,
    }

    #[derive(strata::Record, Debug, Default, Clone, PartialEq)]
    pub struct Written {
        pub accounts: BTreeMap<String, Account>,
    }
}

#[test]
fn a_snapshot_whose_state_type_changed_without_a_version_bump_is_refused_not_misread() {
    use strata::snapshot::Location;
    let state = written::Written {
        accounts: [("a".to_owned(), written::Account { deposits: 3, balance_cents: 1_000 })].into(),
    };
    let snapshot = Snapshot::of("t", &state, BTreeMap::new(), 3);
    let bytes = snapshot.to_bytes();
    let read = Snapshot::from_bytes(&bytes, Location::File("x".into())).unwrap();
    // Read by the type that wrote it: the same state.
    assert_eq!(read.state::<written::Written>().unwrap(), state);
    // Read by the reordered type at the same version: the bytes would decode (same wire type,
    // swapped values), but the fingerprint says the shape is not this one.
    let error = read.state::<swapped::Written>().unwrap_err();
    assert!(
        matches!(error, strata::snapshot::SnapshotError::SchemaMismatch { version: 1, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("changed without a version bump"), "{error}");
    // A snapshot written without a fingerprint (an earlier strata) is refused too.
    let mut old = snapshot.clone();
    old.schema_fingerprint = None;
    assert!(old.state::<written::Written>().is_err());
}

/// 11,000 events of every version over three partitions, on a broker that keeps its data
/// across restarts; a dead-letter topic beside them.
fn faulted_topic(name: &str) -> (Broker, String, Vec<(String, Vec<u8>)>) {
    let broker = Broker::start_durable();
    let topic = support::kafka::topic(name);
    create_topic(&broker, &topic, 3);
    create_topic(&broker, &format!("{topic}.dlt"), 1);
    let records = records_of::<AccountEvent>(1_100, 23, "account", 300);
    assert!(records.len() >= 10_000);
    produce(&broker, &topic, &records);
    (broker, topic, records)
}

/// A replay of `topic` with snapshots every 1,000 events, progress after every record, a
/// dead-letter topic, and little fetched ahead (so an outage is met soon after it begins).
fn faulted_config(brokers: &str, topic: &str) -> ReplayConfig {
    let mut config = ReplayConfig::new(brokers);
    config.topic = Some(topic.to_owned());
    config.snapshot_every_events = Some(1_000);
    config.progress_every = Duration::ZERO;
    config.dead_letter_topic = Some(format!("{topic}.dlt"));
    config.kafka.extend(support::faults::fetch_little_ahead());
    config
}

/// The snapshot store of a [`faulted_topic`]: a compacted topic on the same broker.
fn faulted_store(brokers: &str, topic: &str) -> KafkaStore {
    KafkaStore::new(brokers, &format!("{topic}.snapshots"), "ledger")
}

/// The service an outage test takes down.
#[derive(Clone, Copy, PartialEq)]
enum Down {
    Broker,
    Registry,
}

/// Replays with snapshots (schemas from a registry) that a supervisor starts again after each
/// failure, each of the first three runs taking `down` down once it applied 1,500 records (the
/// registry: one record): the
/// last run's state is that of every record applied once, from the snapshot the failures
/// left, and nothing is dead-lettered.
fn replay_through_outages(down: Down) {
    let (broker, topic, records) = faulted_topic("replay-outages");
    let brokers = broker.brokers();
    let registry = support::registry::with_history::<AccountEvent>("replay-outages");
    let registry_url = registry.url();
    let store = faulted_store(&brokers, &topic);
    let (mut broker, mut registry) = (Some(broker), Some(registry));
    let longest = Duration::from_secs(8);
    let outages = match down {
        Down::Broker => Outages::new(broker.take().unwrap(), longest),
        Down::Registry => Outages::new(registry.take().unwrap(), longest),
    };
    // The broker goes down mid-run; the registry once the run fetched its first schema, so
    // that every run meets a schema id it has not fetched while the registry is down.
    let at = if down == Down::Registry { 1 } else { 1_500 };
    let mut runs = 0;
    let ((ledger, report), failures) = supervise(&outages, 10, || {
        runs += 1;
        let (run, mut begun) = (runs, false);
        let source = Arc::new(Registry::new(RegistryConfig::new(&registry_url)));
        let replay = Replay::<AccountEvent>::new(faulted_config(&brokers, &topic), source)
            .map_err(|e| chain(&e))?;
        let on_progress = &mut |progress: &strata::kafka::Progress| {
            if run <= 3 && !begun && progress.records >= at {
                begun = true;
                outages.begin();
            }
            true
        };
        replay.run_with_snapshots::<Ledger>(&store, on_progress).map_err(|e| chain(&e))
    });
    assert_eq!(outages.begun(), 3, "each of the first three runs met an outage");
    assert!(report.from_snapshot.is_some(), "the last run started from a snapshot");
    if down == Down::Registry {
        assert!(failures.len() >= 3, "{failures:#?}");
        for failure in &failures {
            assert!(failure.contains("schema id") && failure.contains(&topic), "{failure}");
        }
    }
    assert_eq!(ledger.events, records.len() as i64, "every record applied once");
    assert_eq!(ledger, expected(&records));
    let dead = support::kafka::read_available(&brokers, &format!("{topic}.dlt"));
    assert!(dead.is_empty(), "an outage is no poison record");
    drop((outages, broker, registry));
}

#[test]
fn a_replay_with_snapshots_through_three_broker_restarts_applies_every_record_once() {
    replay_through_outages(Down::Broker);
}

#[test]
fn a_replay_with_snapshots_through_three_registry_outages_stops_at_an_unfetched_schema_id_and_loses_nothing()
 {
    replay_through_outages(Down::Registry);
}

/// In the child process of the kill test (`STRATA_TEST_REPLAY` = brokers and topic): replays
/// with snapshots until a crash point (`STRATA_CRASH_AT`) aborts it.
fn crashing_replay() -> bool {
    let Ok(spec) = std::env::var("STRATA_TEST_REPLAY") else { return false };
    let (brokers, topic) = spec.split_once('|').unwrap();
    let replay = Replay::<AccountEvent>::new(faulted_config(brokers, topic), source()).unwrap();
    let result = replay.run_with_snapshots::<Ledger>(&faulted_store(brokers, topic), &mut |_| true);
    eprintln!("the crash point was not reached: {:?}", result.map(|(_, report)| report));
    std::process::exit(3);
}

#[test]
fn a_replay_with_snapshots_killed_at_each_step_resumes_from_its_last_snapshot_and_applies_every_record_once()
 {
    use std::os::unix::process::ExitStatusExt;
    if crashing_replay() {
        return;
    }
    let (broker, topic, records) = faulted_topic("replay-kills");
    let brokers = broker.brokers();
    // Between two snapshots, right after one, at the first record, then between again: each
    // run resumes from the snapshot the one before left.
    let kills =
        ["replay.applied:1500", "replay.snapshot:1", "replay.applied:1", "replay.applied:2999"];
    for crash_at in kills {
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "a_replay_with_snapshots_killed_at_each_step_resumes_from_its_last_snapshot_and_applies_every_record_once",
                "--exact",
            ])
            .env("STRATA_TEST_REPLAY", format!("{brokers}|{topic}"))
            .env("STRATA_CRASH_AT", crash_at)
            .output()
            .unwrap();
        assert_eq!(child.status.signal(), Some(6), "{crash_at}: {child:?}");
    }
    let replay = Replay::<AccountEvent>::new(faulted_config(&brokers, &topic), source()).unwrap();
    let (ledger, report) = replay
        .run_with_snapshots::<Ledger>(&faulted_store(&brokers, &topic), &mut |_| true)
        .unwrap();
    // 1,000 + 1,000 + 0 + 2,000 events snapshotted before the last run.
    assert_eq!(
        report.from_snapshot.map(|s| s.events),
        Some(4_000),
        "resumed from the last snapshot"
    );
    assert_eq!(report.events, records.len() as u64 - 4_000, "only the records after it");
    assert_eq!(ledger.events, records.len() as i64, "every record applied once");
    assert_eq!(ledger, expected(&records));
}

/// A group member (follow mode) started again by a supervisor after each failure, each of its
/// first three runs taking `down` down once it applied 1,500 records (the registry: one):
/// every run rebuilds its state from the beginning of every partition (its state is its
/// memory), the last one applies every record once, and nothing is dead-lettered.
fn group_replay_through_outages(down: Down) {
    let (broker, topic, records) = faulted_topic("replay-group-outages");
    let brokers = broker.brokers();
    let total = records.len() as u64;
    let registry = support::registry::with_history::<AccountEvent>("replay-group-outages");
    let registry_url = registry.url();
    let (mut broker, mut registry) = (Some(broker), Some(registry));
    let longest = Duration::from_secs(8);
    let outages = match down {
        Down::Broker => Outages::new(broker.take().unwrap(), longest),
        Down::Registry => Outages::new(registry.take().unwrap(), longest),
    };
    let at = if down == Down::Registry { 1 } else { 1_500 };
    let mut runs = 0;
    let (applied, failures) = supervise(&outages, 10, || {
        runs += 1;
        let (run, mut begun) = (runs, false);
        let mut config = faulted_config(&brokers, &topic);
        config.snapshot_every_events = None;
        config.group = Some(format!("{topic}.members"));
        config.mode = Mode::Follow;
        let source = Arc::new(Registry::new(RegistryConfig::new(&registry_url)));
        let replay = Replay::<AccountEvent>::new(config, source).map_err(|e| chain(&e))?;
        // A member's state is its memory: each run starts empty, so it must read everything.
        let mut applied: BTreeMap<(i32, i64), u32> = BTreeMap::new();
        let mut projection = |_: AccountEvent, at: &Position<'_>| {
            *applied.entry((at.partition, at.offset)).or_default() += 1;
        };
        let on_progress = &mut |progress: &strata::kafka::Progress| {
            if run <= 3 && !begun && progress.records >= at {
                begun = true;
                outages.begin();
            }
            progress.records < total
        };
        replay.run_with_progress(&mut projection, on_progress).map_err(|e| chain(&e))?;
        Ok(applied)
    });
    assert_eq!(outages.begun(), 3, "each of the first three runs met an outage");
    if down == Down::Registry {
        assert!(failures.len() >= 3, "{failures:#?}");
        for failure in &failures {
            assert!(failure.contains("schema id") && failure.contains(&topic), "{failure}");
        }
    }
    assert_eq!(applied.len() as u64, total, "every record applied");
    assert!(applied.values().all(|&n| n == 1), "none twice");
    let dead = support::kafka::read_available(&brokers, &format!("{topic}.dlt"));
    assert!(dead.is_empty(), "an outage is no poison record");
    drop((outages, broker, registry));
}

#[test]
fn a_group_replay_through_three_broker_restarts_rebuilds_every_partition_from_the_beginning() {
    group_replay_through_outages(Down::Broker);
}

#[test]
fn a_group_replay_through_three_registry_outages_stops_at_an_unfetched_schema_id_and_loses_nothing()
{
    group_replay_through_outages(Down::Registry);
}

#[test]
fn a_dead_lettered_key_is_parked_and_once_fixed_the_replay_reads_its_records_again_from_the_last_clean_snapshot()
 {
    let (broker, topic, records) = faulted_topic("replay-parked");
    let brokers = broker.brokers();
    let store = faulted_store(&brokers, &topic);
    let version = |framed: &Vec<u8>| framed[4];
    // The bug: a schema source that lacks version 2, so every version 2 record is a dead
    // letter, and the version 3 records of the same accounts (which decode) are parked
    // behind them instead of being applied past the gap.
    let lacking = Arc::new(LocalSource::new());
    let subject = AccountEvent::subject();
    for v in [1, 3] {
        lacking.insert(v, &subject, &support::kafka::history::<AccountEvent>(v)).unwrap();
    }
    let broken = Replay::<AccountEvent>::new(faulted_config(&brokers, &topic), lacking).unwrap();
    let (ledger, report) = broken.run_with_snapshots::<Ledger>(&store, &mut |_| true).unwrap();
    let v1: Vec<_> = records.iter().filter(|r| version(&r.1) == 1).cloned().collect();
    let later = (records.len() - v1.len()) as u64;
    let keys = records
        .iter()
        .filter(|r| version(&r.1) == 2)
        .map(|r| &r.0)
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    assert_eq!((report.dead_lettered, report.parked), (later, later - keys), "{report:?}");
    assert_eq!(ledger, expected(&v1), "every account stops at its last good event");

    // Still broken, a rerun resumes with the keys parked: nothing is applied past a letter.
    let (again, report) = broken.run_with_snapshots::<Ledger>(&store, &mut |_| true).unwrap();
    assert_eq!((report.events, again), (0, ledger));

    // Fixed: the newest snapshot without a parked key is the start, the records after it are
    // read again from the topic, in order, each applied once; the topic is not written.
    let mut config = faulted_config(&brokers, &topic);
    config.retry_dead_letters = true;
    let fixed = Replay::<AccountEvent>::new(config, source()).unwrap();
    let (ledger, report) = fixed.run_with_snapshots::<Ledger>(&store, &mut |_| true).unwrap();
    // Taken before the replay met the first version 2 record (in any partition).
    let clean = report.from_snapshot.as_ref().map(|s| s.events).expect("a clean snapshot");
    assert!(clean > 0 && clean % 1_000 == 0 && clean <= v1.len() as u64, "{report:?}");
    assert!(report.discarded_snapshots.iter().any(|r| r.contains("parked key")), "{report:?}");
    assert_eq!((report.events, report.dead_lettered), (records.len() as u64 - clean, 0));
    assert_eq!(ledger.events, records.len() as i64, "every record applied once");
    assert_eq!(ledger, expected(&records));
    let log = support::kafka::read_available(&brokers, &topic);
    assert_eq!(log.len(), records.len(), "the event topic holds each record once");
}
