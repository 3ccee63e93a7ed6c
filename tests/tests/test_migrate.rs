//! Topic migration against a real broker (nisshi): every historical version of the example
//! domain across several partitions is rewritten into a target whose records carry the latest
//! schema id and decode to the same values, in the same order per partition, with keys,
//! timestamps and headers intact; a rerun resumes from the target's tail and writes nothing;
//! `verify` passes, and fails when a record is duplicated into or missing from the target.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use strata::codec::Transcoder;
use strata::codec::registry::{Registry, RegistryConfig};
use strata::kafka::migrate::{
    MigrateConfig, StoredRecord, dry_run, migrate, migrate_with, partition_records,
    translate_group, verify,
};
use strata::{Decoder, Event};
use strata_tests::bank::AccountEvent;
use strata_tests::shop::OrderEvent;

use support::broker::Broker;
use support::faults::{Outages, chain, supervise};
use support::kafka::{client, create_topic, produce, records_of, source_of, start};

thread_local! {
    /// Bytes this thread holds, and the most it held since the last reset.
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, keeping per thread the bytes held and their peak (librdkafka's own
/// buffers, allocated in C on its threads, are not counted: only what strata holds).
struct Tracking;

// SAFETY: forwards to the system allocator; only counts, per thread, the bytes held.
#[allow(unsafe_code, reason = "a global allocator is unsafe to implement; this one only counts")]
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.with(|n| {
            n.set(n.get() + layout.size());
            n.get()
        });
        PEAK.with(|p| p.set(p.get().max(live)));
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.with(|n| n.set(n.get().saturating_sub(layout.size())));
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static TRACKING: Tracking = Tracking;

/// `f`'s result, and the most memory this thread held above its start while `f` ran.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    (out, PEAK.with(Cell::get) - start)
}

/// Produces `records` with a header and a timestamp of their own, as real producers do.
fn produce_with_headers(broker: &Broker, topic: &str, records: &[(String, Vec<u8>)]) {
    let producer: BaseProducer =
        client(&broker.brokers()).set("enable.idempotence", "true").create().unwrap();
    for (i, (key, value)) in records.iter().enumerate() {
        let trace = format!("trace-{i}");
        let record = BaseRecord::to(topic)
            .key(key.as_bytes())
            .payload(value)
            .timestamp(1_700_000_000_000 + i as i64)
            .headers(OwnedHeaders::new().insert(Header { key: "trace", value: Some(&trace) }));
        producer.send(record).unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn migrates_every_version<E: Event + Send + Sync + std::fmt::Debug + PartialEq>(name: &str) {
    let (broker, from) = start(name, 3);
    let records = records_of::<E>(6, 11, "key", 7);
    produce_with_headers(&broker, &from, &records);
    let to = format!("{from}.v{}", E::VERSION);
    let source = source_of::<E>();
    let transcoder = Transcoder::<E>::new(source.clone()).unwrap();
    let config = MigrateConfig::new(broker.brokers(), &from, &to);

    let report = migrate(&config, &transcoder).unwrap();
    assert_eq!(report.migrated, records.len() as u64);
    let checks = verify(&config, &transcoder).unwrap();
    assert_eq!(checks.len(), 3);
    for check in &checks {
        assert_eq!(check.problem, None, "{check:?}");
        assert_eq!(check.source, check.target);
    }
    assert_eq!(checks.iter().map(|c| c.target).sum::<u64>(), records.len() as u64);

    // Every target record: the latest schema id, the same value, the key, timestamp and header
    // of its source record (`verify` compared them pairwise; here, directly).
    let decoder = Decoder::<E>::new(source).unwrap();
    for partition in 0..3 {
        for record in read(&broker, &to, partition) {
            assert_eq!(record.value[1..5], E::VERSION.to_be_bytes(), "framed with the latest id");
            let index: usize =
                header(&record, "trace").trim_start_matches("trace-").parse().unwrap();
            let (key, framed) = &records[index];
            assert_eq!(record.key.as_deref(), Some(key.as_bytes()));
            assert_eq!(record.timestamp, Some(1_700_000_000_000 + index as i64));
            assert_eq!(decoder.decode(&record.value).unwrap(), decoder.decode(framed).unwrap());
            assert_eq!(header(&record, "strata.source.schema_id"), &framed[4].to_string());
        }
    }

    // A rerun resumes after the target's last record: nothing to write.
    assert_eq!(migrate(&config, &transcoder).unwrap().migrated, 0);
    // New source records: only they are migrated.
    produce_with_headers(&broker, &from, &records[..5]);
    let report = migrate(&config, &transcoder).unwrap();
    assert_eq!(report.migrated, 5);
    assert!(verify(&config, &transcoder).unwrap().iter().all(|c| c.problem.is_none()));
}

fn read(broker: &Broker, topic: &str, partition: i32) -> Vec<StoredRecord> {
    let config = MigrateConfig::new(broker.brokers(), topic, topic);
    partition_records(&config, topic, partition).unwrap().collect::<Result<_, _>>().unwrap()
}

fn header<'a>(record: &'a StoredRecord, name: &str) -> &'a str {
    record.headers.get(name).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn every_version_of_the_bank_migrates_with_keys_timestamps_and_headers_intact() {
    migrates_every_version::<AccountEvent>("migrate-bank");
}

#[test]
fn every_version_of_the_shop_migrates_with_keys_timestamps_and_headers_intact() {
    migrates_every_version::<OrderEvent>("migrate-shop");
}

#[test]
fn verify_fails_when_a_record_is_duplicated_into_or_missing_from_the_target() {
    let (broker, from) = start("verify", 2);
    let records = records_of::<AccountEvent>(3, 12, "account", 5);
    produce_with_headers(&broker, &from, &records);
    let source = source_of::<AccountEvent>();
    let transcoder = Transcoder::<AccountEvent>::new(source).unwrap();
    let to = format!("{from}.migrated");
    let config = MigrateConfig::new(broker.brokers(), &from, &to);
    migrate(&config, &transcoder).unwrap();

    // Duplicated by hand: the first target record of partition 0 written again.
    let first = read(&broker, &to, 0).remove(0);
    let producer: BaseProducer = client(&broker.brokers()).create().unwrap();
    let mut headers = OwnedHeaders::new();
    for (k, v) in &first.headers {
        headers = headers.insert(Header { key: k, value: Some(v.as_str()) });
    }
    let mut duplicate = BaseRecord::to(&to).partition(0).payload(&first.value).headers(headers);
    if let Some(key) = &first.key {
        duplicate = duplicate.key(key);
    }
    producer.send(duplicate).unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    let checks = verify(&config, &transcoder).unwrap();
    let broken = checks.iter().find(|c| c.partition == 0).unwrap();
    assert!(broken.problem.as_deref().unwrap_or("").contains("25 target record(s)"), "{checks:?}");
    assert!(checks.iter().find(|c| c.partition == 1).unwrap().problem.is_none());

    // Missing: a target built by hand without one record.
    let gapped = format!("{from}.gapped");
    create_topic(&broker, &gapped, 2);
    for partition in 0..2 {
        let mut copied = read(&broker, &to, partition);
        if partition == 0 {
            copied.truncate(1); // the first record, without the duplicate or the rest
        } else {
            copied.remove(1);
        }
        for record in copied {
            let mut headers = OwnedHeaders::new();
            for (k, v) in &record.headers {
                headers = headers.insert(Header { key: k, value: Some(v.as_str()) });
            }
            let mut r = BaseRecord::to(&gapped)
                .partition(partition)
                .payload(&record.value)
                .headers(headers);
            if let Some(key) = &record.key {
                r = r.key(key);
            }
            if let Some(at) = record.timestamp {
                r = r.timestamp(at);
            }
            producer.send(r).unwrap();
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let config = MigrateConfig::new(broker.brokers(), &from, &gapped);
    let checks = verify(&config, &transcoder).unwrap();
    assert!(checks.iter().all(|c| c.problem.is_some()), "{checks:?}");
}

#[test]
fn a_follow_migration_keeps_up_with_new_records_and_reports_the_offset_map() {
    let (broker, from) = start("migrate-follow", 2);
    let records = records_of::<AccountEvent>(4, 13, "account", 6);
    let (first, second) = records.split_at(15);
    produce_with_headers(&broker, &from, first);
    let to = format!("{from}.v3");
    let transcoder = Transcoder::<AccountEvent>::new(source_of::<AccountEvent>()).unwrap();
    let mut config = MigrateConfig::new(broker.brokers(), &from, &to);
    config.mode = strata::kafka::Mode::Follow;
    config.progress_every = Duration::from_millis(50);
    let total = records.len() as u64;
    let report = std::thread::scope(|scope| {
        let follower = scope.spawn(|| {
            strata::kafka::migrate::migrate_with(&config, &transcoder, &mut |p| p.records < total)
                .unwrap()
        });
        std::thread::sleep(Duration::from_millis(500));
        produce_with_headers(&broker, &from, second);
        follower.join().unwrap()
    });
    assert_eq!(report.migrated, total);
    let migrated: i64 = report.offset_map.values().map(|pair| pair.source).sum();
    assert_eq!(migrated, total as i64);
    for strata::kafka::migrate::OffsetPair { source, target } in report.offset_map.values() {
        assert_eq!(source, target, "partition p of both topics holds the same records");
    }
    assert!(verify(&config, &transcoder).unwrap().iter().all(|c| c.problem.is_none()));
}

#[test]
fn a_target_created_for_the_source_takes_its_partitions_and_settings() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier};
    use rdkafka::admin::{ConfigSource, TopicReplication};
    use rdkafka::client::DefaultClientContext;

    let broker = Broker::start();
    let from = support::kafka::topic("migrate-settings");
    let admin: AdminClient<DefaultClientContext> = client(&broker.brokers()).create().unwrap();
    let options = AdminOptions::new();
    let own = [("retention.ms", "1234567890"), ("max.message.bytes", "2000000")];
    let mut topic = NewTopic::new(&from, 5, TopicReplication::Fixed(1));
    for (name, value) in own {
        topic = topic.set(name, value);
    }
    for result in futures_executor::block_on(admin.create_topics([&topic], &options)).unwrap() {
        result.unwrap();
    }
    support::kafka::produce(&broker, &from, &records_of::<AccountEvent>(1, 3, "account", 3));
    let to = format!("{from}.v3");
    let transcoder = Transcoder::<AccountEvent>::new(source_of::<AccountEvent>()).unwrap();
    migrate(&MigrateConfig::new(broker.brokers(), &from, &to), &transcoder).unwrap();

    let target = ResourceSpecifier::Topic(&to);
    let described =
        futures_executor::block_on(admin.describe_configs([&target], &options)).unwrap();
    let entries = &described[0].as_ref().unwrap().entries;
    for (name, value) in own {
        let entry = entries.iter().find(|e| e.name == name).unwrap();
        assert_eq!(entry.value.as_deref(), Some(value), "{entry:?}");
        assert!(matches!(entry.source, ConfigSource::DynamicTopic), "{entry:?}");
    }
    let checks = verify(&MigrateConfig::new(broker.brokers(), &from, &to), &transcoder).unwrap();
    assert_eq!(checks.len(), 5, "the target has the source's 5 partitions");
}

#[test]
fn a_panicking_progress_callback_ends_the_migration_instead_of_hanging_it() {
    let (broker, from) = start("migrate-panic", 2);
    support::kafka::produce(&broker, &from, &records_of::<AccountEvent>(2, 5, "account", 3));
    let transcoder = Transcoder::<AccountEvent>::new(source_of::<AccountEvent>()).unwrap();
    let mut config = MigrateConfig::new(broker.brokers(), &from, &format!("{from}.v3"));
    config.mode = strata::kafka::Mode::Follow;
    config.progress_every = Duration::from_millis(10);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        strata::kafka::migrate::migrate_with(&config, &transcoder, &mut |_| panic!("the callback"))
    }));
    let panic = outcome.expect_err("the callback's panic reaches the caller");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"the callback"));
}

#[test]
fn verify_dry_run_and_translate_group_stream_a_topic_many_batches_long() {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    let (broker, from) = start("streaming", 2);
    // 24,000 records: 47 times the migration's batch of 512.
    let sample = records_of::<AccountEvent>(20, 31, "account", 16);
    let records: Vec<_> = sample.iter().cycle().take(24_000).cloned().collect();
    produce(&broker, &from, &records);
    let to = format!("{from}.v3");
    let transcoder = Transcoder::<AccountEvent>::new(source_of::<AccountEvent>()).unwrap();
    let config = MigrateConfig::new(broker.brokers(), &from, &to);
    assert_eq!(migrate(&config, &transcoder).unwrap().migrated, 24_000);

    // What holding one target partition takes: the baseline streaming must stay far below.
    let (held, one_partition) = peak_during(|| {
        partition_records(&config, &to, 0).unwrap().collect::<Result<Vec<_>, _>>().unwrap()
    });
    let per_partition = held.len();
    drop(held);

    let (checks, verifying) = peak_during(|| verify(&config, &transcoder).unwrap());
    assert!(checks.iter().all(|c| c.problem.is_none()), "{checks:?}");
    assert_eq!(checks.iter().map(|c| c.source).sum::<u64>(), 24_000);

    let (report, dry_running) = peak_during(|| dry_run(&config, &transcoder).unwrap());
    assert_eq!(report.records, 24_000);
    assert!(report.undecodable.is_empty());

    // A group that read 7,001 records of partition 0 moves to the same place on the target,
    // found by reading a few records, not the partition.
    let group = format!("{from}.readers");
    let reader: BaseConsumer = client(&broker.brokers()).set("group.id", &group).create().unwrap();
    let mut committed = rdkafka::TopicPartitionList::new();
    committed.add_partition_offset(&from, 0, rdkafka::Offset::Offset(7_001)).unwrap();
    reader.commit(&committed, CommitMode::Sync).unwrap();
    drop(reader);
    let (moves, translating) = peak_during(|| translate_group(&config, &group).unwrap());
    assert_eq!(moves[&0], strata::kafka::migrate::OffsetPair { source: 7_001, target: 7_001 });

    eprintln!(
        "one partition of {per_partition} records held: {one_partition} B; verify: {verifying} B; \
         dry run: {dry_running} B; translate_group: {translating} B"
    );
    for (what, peak) in
        [("verify", verifying), ("dry_run", dry_running), ("translate", translating)]
    {
        assert!(
            peak * 8 < one_partition && peak < 1 << 20,
            "{what} held {peak} B at its peak; one partition loaded whole takes {one_partition} B"
        );
    }
}

#[test]
fn a_configuration_a_migration_cannot_run_is_refused_before_anything_connects() {
    // No broker listens here: the refusal comes first.
    let transcoder = Transcoder::<AccountEvent>::new(source_of::<AccountEvent>()).unwrap();
    let same = MigrateConfig::new("127.0.0.1:1", "events", "events");
    let error = migrate(&same, &transcoder).unwrap_err();
    assert!(matches!(error, strata::kafka::migrate::MigrateError::Config { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "migration configuration: the target must be another topic than the source"
    );
    let mut dead = MigrateConfig::new("127.0.0.1:1", "events", "events.v3");
    dead.dead_letter_topic = Some("events.v3".into());
    let error = verify(&dead, &transcoder).unwrap_err();
    assert!(error.to_string().contains("neither the source nor the target"), "{error}");
}

/// The service an outage test takes down.
#[derive(Clone, Copy, PartialEq)]
enum Down {
    Broker,
    Registry,
}

/// 11,000 events of every version over three partitions (a broker that keeps its data, schemas
/// from a registry) migrated by a supervisor that starts the migration again after each
/// failure, each of the first three runs taking `down` down once it migrated 1,500 records (the registry: one):
/// the target holds every source record once, in order, and nothing is dead-lettered.
fn migrate_through_outages(down: Down) {
    let broker = Broker::start_durable();
    let brokers = broker.brokers();
    let from = support::kafka::topic("migrate-outages");
    let dead = format!("{from}.dlt");
    // Kept forever: the records carry timestamps of 2023, which a broker's retention deletes
    // when it restarts (the target is created with the source's settings).
    let forever = [("retention.ms", "-1")];
    support::kafka::create_topic_with(&brokers, &from, 3, &forever);
    create_topic(&broker, &dead, 1);
    let records = records_of::<AccountEvent>(1_100, 29, "account", 300);
    assert!(records.len() >= 10_000);
    produce_with_headers(&broker, &from, &records);
    let registry = support::registry::with_history::<AccountEvent>("migrate-outages");
    let registry_url = registry.url();
    let mut config = MigrateConfig::new(&brokers, &from, &format!("{from}.v3"));
    config.dead_letter_topic = Some(dead.clone());
    config.progress_every = Duration::ZERO;
    config.kafka.extend(support::faults::fetch_little_ahead());

    let (mut broker, mut registry) = (Some(broker), Some(registry));
    let longest = Duration::from_secs(8);
    let outages = match down {
        Down::Broker => Outages::new(broker.take().unwrap(), longest),
        Down::Registry => Outages::new(registry.take().unwrap(), longest),
    };
    // The broker (or PostgreSQL) goes down mid-run; the registry once the run fetched its first
    // schema, so that every run meets a schema id it has not fetched while the registry is down.
    let at = if down == Down::Registry { 1 } else { 1_500 };
    let mut runs = 0;
    let (_, failures) = supervise(&outages, 10, || {
        runs += 1;
        let (run, mut begun) = (runs, false);
        let source = Arc::new(Registry::new(RegistryConfig::new(&registry_url)));
        let transcoder = Transcoder::<AccountEvent>::new(source).map_err(|e| chain(&e))?;
        let on_progress = &mut |progress: &strata::kafka::Progress| {
            if run <= 3 && !begun && progress.records >= at {
                begun = true;
                outages.begin();
            }
            true
        };
        migrate_with(&config, &transcoder, on_progress).map_err(|e| chain(&e))
    });
    assert_eq!(outages.begun(), 3, "each of the first three runs met an outage");
    if down == Down::Registry {
        assert!(failures.len() >= 3, "{failures:#?}");
        for failure in &failures {
            assert!(failure.contains("schema id") && failure.contains(&from), "{failure}");
        }
    }
    // `verify` pairs every source record with its target record, in order: a record missing
    // or written twice is a problem.
    let transcoder = Transcoder::<AccountEvent>::new(source_of::<AccountEvent>()).unwrap();
    let checks = verify(&config, &transcoder).unwrap();
    for check in &checks {
        assert_eq!(check.problem, None, "{check:?}");
    }
    assert_eq!(checks.iter().map(|c| c.target).sum::<u64>(), records.len() as u64);
    assert!(support::kafka::read_available(&brokers, &dead).is_empty(), "nothing dead-lettered");
    drop((outages, broker, registry));
}

#[test]
fn a_migration_through_three_broker_restarts_writes_every_record_once_in_order() {
    migrate_through_outages(Down::Broker);
}

#[test]
fn a_migration_through_three_registry_outages_stops_at_an_unfetched_schema_id_and_loses_nothing() {
    migrate_through_outages(Down::Registry);
}
