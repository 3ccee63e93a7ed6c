//! Appending events to a real broker: each call's events land in one partition in order,
//! keyed by the aggregate id, with their envelope headers, which replay and read models hand to
//! user code and migration keeps; a delivery failure is an error naming what was delivered.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use strata::codec::Transcoder;
use strata::kafka::Mode;
use strata::kafka::append::{AppendConfig, AppendError, Appended, Appender, Metadata};
use strata::kafka::migrate::{MigrateConfig, migrate};
use strata::kafka::readmodel::postgres::Transaction;
use strata::kafka::readmodel::{Projector, ProjectorConfig, ReadModel};
use strata::kafka::record::{ApplyError, Position};
use strata::kafka::replay::{Replay, ReplayConfig};
use strata_tests::bank::{
    AccountEvent, AccountFrozen, AccountOpened, FreezeReason, HolderKind, MoneyDeposited,
};

use support::broker::Broker;
use support::kafka::{source_of, start};
use support::postgres::Postgres;

fn account(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0xacc0_0000 + n)
}

/// A command's events for account `n`: opened, `deposits` deposits, and frozen when `freeze`.
fn history(n: u128, deposits: i64, freeze: bool) -> Vec<AccountEvent> {
    let mut events = vec![AccountEvent::Opened(AccountOpened {
        account_id: account(n),
        holder: format!("Holder {n} GmbH"),
        currency: "EUR".into(),
        overdraft_limit_cents: 0,
        holder_kind: HolderKind::Company,
    })];
    for d in 0..deposits {
        events.push(AccountEvent::Deposited(MoneyDeposited {
            account_id: account(n),
            amount_cents: 100 * (d + 1),
            at: time::OffsetDateTime::UNIX_EPOCH + Duration::from_secs(d as u64),
            reference: (d % 2 == 0).then(|| format!("ref-{d}")),
        }));
    }
    if freeze {
        events.push(AccountEvent::Frozen(AccountFrozen {
            account_id: account(n),
            reason: FreezeReason::Fraud,
        }));
    }
    events
}

fn appender(broker: &Broker, topic: &str) -> Appender<AccountEvent> {
    let mut config = AppendConfig::new(broker.brokers());
    config.topic = Some(topic.to_owned());
    config.source = "/tests/bank".into();
    Appender::new(config, &*source_of::<AccountEvent>()).unwrap()
}

/// What a consumer saw of one record: its event and envelope.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    event: AccountEvent,
    event_id: Option<String>,
    event_type: Option<String>,
    source: Option<String>,
    correlation_id: Option<String>,
    causation_id: Option<String>,
    has_time: bool,
}

fn seen(event: AccountEvent, at: &Position<'_>) -> Seen {
    let envelope = at.headers.envelope();
    Seen {
        event,
        event_id: envelope.event_id.map(str::to_owned),
        event_type: envelope.event_type.map(str::to_owned),
        source: envelope.source.map(str::to_owned),
        correlation_id: envelope.correlation_id.map(str::to_owned),
        causation_id: envelope.causation_id.map(str::to_owned),
        has_time: envelope.time.is_some_and(|t| t.contains('T') && t.ends_with('Z')),
    }
}

/// Every record of `topic`, by key, in order, as replay hands them over.
fn replay(broker: &Broker, topic: &str) -> BTreeMap<Vec<u8>, Vec<Seen>> {
    replay_with(broker, topic, source_of::<AccountEvent>())
}

fn replay_with(
    broker: &Broker,
    topic: &str,
    source: std::sync::Arc<strata::LocalSource>,
) -> BTreeMap<Vec<u8>, Vec<Seen>> {
    let mut config = ReplayConfig::new(broker.brokers());
    config.topic = Some(topic.to_owned());
    let replay = Replay::<AccountEvent>::new(config, source).unwrap();
    let mut by_key: BTreeMap<Vec<u8>, Vec<Seen>> = BTreeMap::new();
    replay
        .run(&mut |event: AccountEvent, at: &Position<'_>| {
            by_key.entry(at.key.unwrap().to_vec()).or_default().push(seen(event, at));
        })
        .unwrap();
    by_key
}

/// Appends ten accounts' histories, one call each (every other one with correlation and
/// causation ids); returns what each key should replay as.
fn append_ten(appender: &Appender<AccountEvent>) -> BTreeMap<Vec<u8>, Vec<Seen>> {
    let mut expected = BTreeMap::new();
    for n in 0..10u128 {
        let key = format!("account-{n}").into_bytes();
        let events = history(n, (n % 4) as i64 + 1, n % 3 == 0);
        let correlation = format!("request-{n}");
        let metadata = if n % 2 == 0 {
            Metadata {
                correlation_id: Some(&correlation),
                causation_id: Some("command-1"),
                ..Metadata::default()
            }
        } else {
            Metadata::default()
        };
        let appended = appender.append_with(&key, &events, &metadata).unwrap();
        assert_eq!(appended.len(), events.len());
        // One partition, consecutive offsets, fresh ids.
        assert!(appended.iter().all(|a| a.partition == appended[0].partition), "{appended:?}");
        assert!(appended.windows(2).all(|w| w[1].offset == w[0].offset + 1), "{appended:?}");
        let seen: Vec<Seen> = events
            .into_iter()
            .zip(&appended)
            .map(|(event, Appended { event_id, .. })| Seen {
                event_type: Some(
                    match &event {
                        AccountEvent::Opened(_) => "com.example.bank.AccountOpened",
                        AccountEvent::Deposited(_) => "com.example.bank.MoneyDeposited",
                        AccountEvent::Frozen(_) => "com.example.bank.AccountFrozen",
                    }
                    .to_owned(),
                ),
                event,
                event_id: Some(event_id.clone()),
                source: Some("/tests/bank".into()),
                correlation_id: metadata.correlation_id.map(str::to_owned),
                causation_id: metadata.causation_id.map(str::to_owned),
                has_time: true,
            })
            .collect();
        expected.insert(key, seen);
    }
    expected
}

#[test]
fn appended_events_replay_in_order_per_key_with_their_envelopes() {
    let (broker, topic) = start("append", 3);
    let appender = appender(&broker, &topic);
    let expected = append_ten(&appender);
    let ids: std::collections::HashSet<_> =
        expected.values().flatten().map(|s| s.event_id.clone()).collect();
    assert_eq!(ids.len(), expected.values().map(Vec::len).sum::<usize>(), "event ids are unique");
    assert_eq!(replay(&broker, &topic), expected);

    // Migration keeps them: the target's records carry the same envelopes.
    let target = format!("{topic}.migrated");
    let mut config = MigrateConfig::new(broker.brokers(), &topic, &target);
    config.mode = Mode::CatchUp;
    let transcoder = Transcoder::<AccountEvent>::new(source_of::<AccountEvent>()).unwrap();
    let report = migrate(&config, &transcoder).unwrap();
    assert_eq!(report.migrated as usize, ids.len());
    assert_eq!(replay(&broker, &target), expected);
}

/// A read model that keeps each event's envelope, to show projections receive it.
struct Envelopes;

impl ReadModel<AccountEvent> for Envelopes {
    const NAME: &'static str = "envelopes";
    const VERSION: u32 = 1;

    fn create(&mut self, tx: &mut Transaction<'_>) -> Result<(), ApplyError> {
        tx.batch_execute(
            "CREATE TABLE events (id text PRIMARY KEY, type text, correlation text, causation text)",
        )?;
        Ok(())
    }

    fn apply(
        &mut self,
        tx: &mut Transaction<'_>,
        _: AccountEvent,
        at: &Position<'_>,
    ) -> Result<(), ApplyError> {
        let e = at.headers.envelope();
        let id = e.event_id.ok_or("an appended event has an id")?;
        tx.execute(
            "INSERT INTO events VALUES ($1, $2, $3, $4)",
            &[&id, &e.event_type, &e.correlation_id, &e.causation_id],
        )?;
        Ok(())
    }
}

/// A row of `envelopes.events` after its id: type, correlation id, causation id.
type EnvelopeRow = (Option<String>, Option<String>, Option<String>);

#[test]
fn a_read_model_receives_each_events_envelope() {
    let (broker, topic) = start("append-readmodel", 2);
    let pg = Postgres::start();
    let expected = append_ten(&appender(&broker, &topic));
    let mut config = ProjectorConfig::new(broker.brokers());
    config.topic = Some(topic.clone());
    config.mode = Mode::CatchUp;
    let mut db = pg.connect("postgres");
    let mut projector = Projector::new(config, source_of::<AccountEvent>(), Envelopes).unwrap();
    projector.run(&mut db, &mut |_| true).unwrap();
    let rows: BTreeMap<String, EnvelopeRow> = db
        .query("SELECT id, type, correlation, causation FROM envelopes.events", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    let wanted: BTreeMap<String, EnvelopeRow> = expected
        .values()
        .flatten()
        .map(|s| {
            let id = s.event_id.clone().unwrap();
            (id, (s.event_type.clone(), s.correlation_id.clone(), s.causation_id.clone()))
        })
        .collect();
    assert_eq!(rows, wanted);
}

#[test]
fn a_delivery_failure_is_an_error_naming_what_was_delivered() {
    let (broker, topic) = start("append-down", 1);
    let mut config = AppendConfig::new(broker.brokers());
    config.topic = Some(topic.clone());
    config.delivery_timeout = Duration::from_secs(3);
    let appender = Appender::<AccountEvent>::new(config, &*source_of::<AccountEvent>()).unwrap();
    appender.append(b"account-1", &history(1, 1, false)).unwrap();
    drop(broker);
    let error = appender.append(b"account-1", &history(1, 2, false)).unwrap_err();
    match &error {
        AppendError::Delivery { events: 3, delivered, .. } => {
            assert!(delivered.is_empty());
        }
        other => panic!("expected a delivery failure, got {other}"),
    }
    assert!(error.to_string().contains("0 of 3 event(s) delivered"), "{error}");
    let error = appender.append(b"", &history(1, 0, false)).unwrap_err();
    assert!(matches!(error, AppendError::EmptyAggregateId { .. }), "{error}");
}

#[test]
fn a_call_the_broker_rejects_part_way_leaves_a_prefix_never_a_gap() {
    use rdkafka::Message;
    // A topic that takes batches up to 2,000 bytes, and a producer that sends each record in a
    // batch of its own: the third event of five (a 4,000-byte holder) is refused by the broker
    // while the fourth and fifth are in flight or queued behind it.
    let broker = Broker::start();
    let topic = support::kafka::topic("append-gap");
    support::kafka::create_topic_with(
        &broker.brokers(),
        &topic,
        1,
        &[("max.message.bytes", "2000")],
    );
    let mut config = AppendConfig::new(broker.brokers());
    config.topic = Some(topic.clone());
    config.kafka = vec![("batch.num.messages".into(), "1".into())];
    let appender = Appender::<AccountEvent>::new(config, &*source_of::<AccountEvent>()).unwrap();
    let mut events = history(1, 4, false);
    events.swap(0, 2);
    if let AccountEvent::Opened(opened) = &mut events[2] {
        opened.holder = "x".repeat(4000);
    }
    let error = appender.append(b"account-1", &events).unwrap_err();
    let AppendError::Delivery { events: 5, delivered, .. } = &error else {
        panic!("expected a delivery failure, got {error}");
    };
    assert_eq!(delivered.len(), 2, "{error}");
    // What landed is exactly the prefix the error names: not the fourth and fifth events
    // behind the refused one.
    let landed = support::kafka::read_available(&broker.brokers(), &topic);
    let ids: Vec<String> = landed
        .iter()
        .map(|m| {
            let headers = m.headers().expect("an envelope");
            let id = rdkafka::message::Headers::iter(headers)
                .find(|h| h.key == strata::kafka::record::EVENT_ID)
                .and_then(|h| h.value)
                .expect("ce_id");
            String::from_utf8(id.to_vec()).unwrap()
        })
        .collect();
    let named: Vec<String> = delivered.iter().map(|a| a.event_id.clone()).collect();
    assert_eq!(ids, named, "the topic holds the delivered prefix and nothing after it");
    // The appender goes on: the next call lands after the prefix.
    let next = appender.append(b"account-1", &history(2, 1, false)).unwrap();
    assert_eq!(next.iter().map(|a| a.offset).collect::<Vec<_>>(), [2, 3]);
}

/// An aggregate that keeps its events, to compare what a load applied.
#[derive(Debug, Default)]
struct Events(Vec<AccountEvent>);

impl strata::kafka::replay::Aggregate<AccountEvent> for Events {
    fn apply(&mut self, event: AccountEvent) {
        self.0.push(event);
    }
}

#[test]
fn one_aggregate_loads_from_its_partition_which_is_where_the_appender_put_it() {
    let (broker, topic) = start("append-load", 3);
    let appender = appender(&broker, &topic);
    // librdkafka's murmur2_random put each key where `partition_of` (Kafka's Java partitioner)
    // says, over all three partitions.
    let mut used = std::collections::BTreeSet::new();
    for n in 0..60u128 {
        let key = format!("key-{n}");
        let appended = appender.append(key.as_bytes(), &history(n, 0, false)).unwrap();
        assert_eq!(appended[0].partition, strata::kafka::partition_of(key.as_bytes(), 3), "{key}");
        used.insert(appended[0].partition);
    }
    assert_eq!(used.len(), 3);

    let expected = append_ten(&appender);
    let mut config = ReplayConfig::new(broker.brokers());
    config.topic = Some(topic.clone());
    let replay = Replay::<AccountEvent>::new(config, source_of::<AccountEvent>()).unwrap();
    for (key, seen) in &expected {
        let loaded = replay.load::<Events>(key).unwrap();
        let events: Vec<AccountEvent> = seen.iter().map(|s| s.event.clone()).collect();
        assert_eq!(loaded.aggregate.0, events);
        assert_eq!(loaded.version, events.len() as u64);
        assert_eq!(loaded.partition, strata::kafka::partition_of(key, 3));
        assert!(loaded.last_offset.is_some());
    }
    let nobody = replay.load::<Events>(b"no-such-account").unwrap();
    assert_eq!((nobody.version, nobody.last_offset), (0, None));
}

#[test]
fn a_writer_refuses_a_stale_expected_version_and_two_writers_split_the_partitions() {
    use strata::kafka::append::{ExpectedVersion, WriteError, Writer};
    let (broker, topic) = start("append-writer", 3);
    // Written before any writer: a writer learns these versions by reading its partitions.
    appender(&broker, &topic).append(b"account-1", &history(1, 2, false)).unwrap();
    let group = format!("{topic}.writers");
    let mut config = AppendConfig::new(broker.brokers());
    config.topic = Some(topic.clone());
    let source = source_of::<AccountEvent>();
    let mut one = Writer::<AccountEvent>::new(config.clone(), &*source, &group).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while one.held().len() < 3 {
        assert!(std::time::Instant::now() < deadline, "the writer got no partitions");
        one.serve(Duration::from_millis(100)).unwrap();
    }
    assert_eq!(one.version(b"account-1"), Some(3));

    let deposit = &history(1, 1, false)[1..];
    let none = Metadata::default();
    let error = one.append(b"account-1", ExpectedVersion::Exact(2), deposit, &none).unwrap_err();
    assert!(matches!(error, WriteError::Stale { actual: 3, .. }), "{error}");
    assert!(error.to_string().contains("at version 3, not the expected 2"), "{error}");
    one.append(b"account-1", ExpectedVersion::Exact(3), deposit, &none).unwrap();
    assert_eq!(one.version(b"account-1"), Some(4));
    let opened = &history(2, 0, false);
    one.append(b"account-2", ExpectedVersion::NoStream, opened, &none).unwrap();
    let error = one.append(b"account-2", ExpectedVersion::NoStream, opened, &none).unwrap_err();
    assert!(matches!(error, WriteError::Stale { actual: 1, .. }), "{error}");

    // A second writer joins: the group splits the partitions; each writer knows the versions
    // of the aggregates in its partitions (read back, the other's appends included) and
    // refuses the others.
    let mut two = Writer::<AccountEvent>::new(config, &*source, &group).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        one.serve(Duration::from_millis(100)).unwrap();
        two.serve(Duration::from_millis(100)).unwrap();
        let (a, b) = (one.held(), two.held());
        if !a.is_empty() && !b.is_empty() && a.len() + b.len() == 3 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no split: {a:?} {b:?}");
    }
    for (key, version) in [(&b"account-1"[..], 4), (&b"account-2"[..], 1)] {
        let partition = strata::kafka::partition_of(key, 3);
        let (owner, other) = if one.held().contains(&partition) {
            (&mut one, &mut two)
        } else {
            (&mut two, &mut one)
        };
        assert_eq!(owner.version(key), Some(version));
        let error = other.append(key, ExpectedVersion::Any, deposit, &none).unwrap_err();
        assert!(matches!(error, WriteError::NotOwner { .. }), "{error}");
        owner.append(key, ExpectedVersion::Exact(version), deposit, &none).unwrap();
    }
}

/// A writer of `topic` in `group`, once it holds every partition.
fn writer_holding_all(
    broker: &str,
    topic: &str,
    group: &str,
) -> strata::kafka::append::Writer<AccountEvent> {
    let mut config = AppendConfig::new(broker);
    config.topic = Some(topic.to_owned());
    // A crashed writer's partitions are handed over after its session times out.
    config.kafka = vec![("session.timeout.ms".into(), "6000".into())];
    let source = source_of::<AccountEvent>();
    let mut writer = strata::kafka::append::Writer::new(config, &*source, group).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while writer.held().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "the writer got no partitions");
        writer.serve(Duration::from_millis(100)).unwrap();
    }
    writer
}

/// The command of five events the crash test appends, and its id.
const COMMAND: &str = "open-and-fund-account-1";

fn command_events() -> Vec<AccountEvent> {
    history(1, 4, false)
}

/// In the child process of the crash test (`STRATA_TEST_WRITER` = brokers, topic and group):
/// appends the command, which a crash point (`STRATA_CRASH_AT`) aborts.
fn crashing_writer() -> bool {
    use strata::kafka::append::ExpectedVersion;
    let Ok(spec) = std::env::var("STRATA_TEST_WRITER") else { return false };
    let [brokers, topic, group]: [&str; 3] =
        spec.split('|').collect::<Vec<_>>().try_into().unwrap();
    let mut writer = writer_holding_all(brokers, topic, group);
    let metadata = Metadata { command_id: Some(COMMAND), ..Metadata::default() };
    let result =
        writer.append(b"account-1", ExpectedVersion::NoStream, &command_events(), &metadata);
    eprintln!("the crash point was not reached: {result:?}");
    std::process::exit(3);
}

#[test]
fn a_command_retried_after_a_crash_lands_each_of_its_events_once_in_order() {
    use std::os::unix::process::ExitStatusExt;
    use strata::kafka::append::ExpectedVersion;
    use strata::kafka::record::Envelope;
    if crashing_writer() {
        return;
    }
    let events = command_events();
    let metadata = Metadata { command_id: Some(COMMAND), ..Metadata::default() };
    // (crash point, events of the command in the topic when the writer died)
    for (crash_at, landed) in [("append.sent:3", 3), ("append.acknowledged", 5)] {
        let (broker, topic) = start("append-retry", 2);
        let group = format!("{topic}.writers");
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "a_command_retried_after_a_crash_lands_each_of_its_events_once_in_order",
                "--exact",
            ])
            .env("STRATA_TEST_WRITER", format!("{}|{topic}|{group}", broker.brokers()))
            .env("STRATA_CRASH_AT", crash_at)
            .output()
            .unwrap();
        assert_eq!(child.status.signal(), Some(6), "{crash_at}: {child:?}");

        // What the crash left: a prefix of the command, which readers see is incomplete
        // when it is.
        let in_topic = |expected: usize| {
            let read = support::kafka::read_available(&broker.brokers(), &topic);
            assert_eq!(read.len(), expected, "{crash_at}: {expected} records");
            read.into_iter()
                .map(|m| {
                    let headers: Vec<(String, String)> =
                        rdkafka::message::Headers::iter(rdkafka::Message::headers(&m).unwrap())
                            .map(|h| {
                                (
                                    h.key.to_owned(),
                                    String::from_utf8_lossy(h.value.unwrap()).into_owned(),
                                )
                            })
                            .collect();
                    let get = |name: &str| {
                        headers.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
                    };
                    (
                        get("ce_id").unwrap(),
                        get("ce_commandid"),
                        get("ce_commandseq"),
                        get("ce_commandsize"),
                    )
                })
                .collect::<Vec<_>>()
        };
        let before = in_topic(landed);
        let seqs: Vec<_> = before.iter().map(|r| r.2.clone().unwrap()).collect();
        let expected_seqs: Vec<String> = (0..landed).map(|i| i.to_string()).collect();
        assert_eq!(seqs, expected_seqs, "{crash_at}");
        let last = before.last().unwrap();
        let envelope = Envelope {
            command_seq: last.2.as_deref().and_then(|v| v.parse().ok()),
            command_size: last.3.as_deref().and_then(|v| v.parse().ok()),
            ..Envelope::default()
        };
        assert_eq!(envelope.completes_command(), landed == 5, "{crash_at}");

        // The caller never learnt the outcome and retries the command as it was: the writer
        // appends what is missing (or nothing), and the topic holds each event once, in order.
        let mut writer = writer_holding_all(&broker.brokers(), &topic, &group);
        let appended =
            writer.append(b"account-1", ExpectedVersion::NoStream, &events, &metadata).unwrap();
        assert_eq!(appended.len(), 5, "{crash_at}");
        let after = in_topic(5);
        assert_eq!(
            &after[..landed],
            &before[..],
            "{crash_at}: the landed events stay as they were"
        );
        let seqs: Vec<_> =
            after.iter().map(|r| (r.1.clone().unwrap(), r.2.clone().unwrap())).collect();
        let expected: Vec<_> = (0..5).map(|i| (COMMAND.to_owned(), i.to_string())).collect();
        assert_eq!(seqs, expected, "{crash_at}");
        let ids: Vec<_> = after.iter().map(|r| r.0.clone()).collect();
        assert_eq!(ids, appended.iter().map(|a| a.event_id.clone()).collect::<Vec<_>>());
        assert_eq!(writer.version(b"account-1"), Some(5));
        // Again: nothing appended, the same answer.
        let again =
            writer.append(b"account-1", ExpectedVersion::NoStream, &events, &metadata).unwrap();
        assert_eq!(again, appended);
        in_topic(5);
        // A new command with the stale expected version is refused as ever.
        let error =
            writer.append(b"account-1", ExpectedVersion::NoStream, &events, &Metadata::default());
        assert!(
            matches!(error, Err(strata::kafka::append::WriteError::Stale { actual: 5, .. })),
            "{error:?}"
        );
    }
}

#[test]
fn events_appended_under_the_record_name_strategies_replay_as_the_event_type() {
    use rdkafka::Message;
    use strata::subject::SubjectStrategy;
    for (name, strategy) in [
        ("append-record", SubjectStrategy::Record),
        ("append-topic-record", SubjectStrategy::TopicRecord),
    ] {
        let (broker, topic) = start(name, 2);
        let source = source_of::<AccountEvent>();
        let mut config = AppendConfig::new(broker.brokers());
        config.topic = Some(topic.clone());
        config.source = "/tests/bank".into();
        config.subject_strategy = strategy;
        let appender = Appender::<AccountEvent>::new(config, &*source).unwrap();
        let expected = append_ten(&appender);
        // Each record is framed with its event record's own id, not the union's (3).
        let total: usize = expected.values().map(Vec::len).sum();
        let ids: std::collections::BTreeSet<u32> =
            support::kafka::read(&broker.brokers(), &topic, total)
                .iter()
                .map(|m| u32::from_be_bytes(m.payload().unwrap()[1..5].try_into().unwrap()))
                .collect();
        assert_eq!(ids.len(), 3, "one id per event record: {ids:?}");
        assert!(!ids.contains(&3), "{ids:?}");
        assert_eq!(replay_with(&broker, &topic, source), expected, "{strategy:?}");
    }
}

#[test]
fn a_dead_letter_keeps_the_records_envelope() {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Headers;
    let (broker, topic) = start("append-dead-letter", 1);
    let appended = appender(&broker, &topic).append(b"account-1", &history(1, 2, false)).unwrap();
    let dead = format!("{topic}.dlt");
    support::kafka::create_topic(&broker, &dead, 1);
    let mut config = ReplayConfig::new(broker.brokers());
    config.topic = Some(topic.clone());
    config.dead_letter_topic = Some(dead.clone());
    let replay = Replay::<AccountEvent>::new(config, source_of::<AccountEvent>()).unwrap();
    // A projection that refuses the last deposit.
    let refusing = |event: AccountEvent, _: &Position<'_>| -> Result<(), ApplyError> {
        match event {
            AccountEvent::Deposited(d) if d.amount_cents == 200 => Err("refused".into()),
            _ => Ok(()),
        }
    };
    struct Refusing<F>(F);
    impl<F: FnMut(AccountEvent, &Position<'_>) -> Result<(), ApplyError>>
        strata::kafka::replay::Projection<AccountEvent> for Refusing<F>
    {
        fn apply(&mut self, event: AccountEvent, at: &Position<'_>) -> Result<(), ApplyError> {
            (self.0)(event, at)
        }
    }
    let report = replay.run(&mut Refusing(refusing)).unwrap();
    assert_eq!((report.events, report.dead_lettered), (2, 1));
    let consumer: BaseConsumer = support::kafka::client(&broker.brokers())
        .set("group.id", "dlt")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&dead]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let message = loop {
        assert!(std::time::Instant::now() < deadline, "no dead letter");
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            break m.unwrap();
        }
    };
    let headers = message.headers().unwrap();
    let value = |name: &str| {
        headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(value("ce_id"), Some(appended[2].event_id.clone()), "the envelope is kept");
    assert_eq!(value("ce_type").as_deref(), Some("com.example.bank.MoneyDeposited"));
    assert_eq!(value("strata.source.offset"), Some(appended[2].offset.to_string()));
    assert!(value("strata.error").unwrap().contains("refused"));
    // Its own timestamp, as appended (not the time it was dead-lettered).
    let original = Replay::<AccountEvent>::new(
        ReplayConfig { topic: Some(topic.clone()), ..ReplayConfig::new(broker.brokers()) },
        source_of::<AccountEvent>(),
    )
    .unwrap();
    let mut stamps = Vec::new();
    original.run(&mut |_: AccountEvent, at: &Position<'_>| stamps.push(at.timestamp)).unwrap();
    assert_eq!(message.timestamp().to_millis(), stamps[2]);
}

/// An account's balance, a state type (snapshots of it are upcast or refused like any).
#[derive(strata::Record, Debug, Default, Clone, PartialEq)]
#[strata(namespace = "test.state")]
struct Balance {
    deposits: i64,
    cents: i64,
}

impl strata::kafka::replay::Aggregate<AccountEvent> for Balance {
    fn apply(&mut self, event: AccountEvent) {
        if let AccountEvent::Deposited(d) = event {
            self.deposits += 1;
            self.cents += d.amount_cents;
        }
    }
}

#[test]
fn one_aggregate_loads_from_its_snapshot_plus_the_records_after_it() {
    use strata::snapshot::DirStore;
    let (broker, topic) = start("append-snapshot", 2);
    let appender = appender(&broker, &topic);
    appender.append(b"account-1", &history(1, 2, false)).unwrap();
    appender.append(b"account-2", &history(2, 3, false)).unwrap();
    let mut config = ReplayConfig::new(broker.brokers());
    config.topic = Some(topic.clone());
    let replay = Replay::<AccountEvent>::new(config, source_of::<AccountEvent>()).unwrap();
    let dir = std::env::temp_dir().join(format!("strata-aggregate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = DirStore::new(&dir, "account-1");

    // No snapshot yet: a full load.
    let (loaded, from_snapshot) =
        replay.load_with_snapshot::<Balance>(b"account-1", &store).unwrap();
    assert!(!from_snapshot);
    assert_eq!((loaded.aggregate.deposits, loaded.aggregate.cents, loaded.version), (2, 300, 3));
    // A snapshot whose state a full load could not give: what follows proves only the records
    // after it were read.
    let mut marked = loaded.clone();
    marked.aggregate.cents += 1_000_000;
    replay.save_aggregate(&marked, &store).unwrap();
    appender.append(b"account-1", &history(1, 2, false)[1..]).unwrap();
    let (loaded, from_snapshot) =
        replay.load_with_snapshot::<Balance>(b"account-1", &store).unwrap();
    assert!(from_snapshot);
    assert_eq!(loaded.aggregate, Balance { deposits: 4, cents: 1_000_600 });
    assert_eq!(loaded.version, 5);
    // A full load agrees on everything the snapshot did not mark.
    let full = replay.load::<Balance>(b"account-1").unwrap();
    assert_eq!(
        (full.aggregate.cents, full.version, full.next_offset),
        (600, 5, loaded.next_offset)
    );
    assert!(loaded.discarded_snapshots.is_empty());

    // A newer snapshot of another state type cannot be read as a `Balance`: it is passed over
    // for the one before it, with the reason, never silently.
    let offsets = std::collections::BTreeMap::from([(loaded.partition, loaded.next_offset)]);
    let other = strata::snapshot::Snapshot::of(&topic, &Other { note: "x".into() }, offsets, 5);
    strata::snapshot::SnapshotStore::save(&store, &other).unwrap();
    let (again, from_snapshot) =
        replay.load_with_snapshot::<Balance>(b"account-1", &store).unwrap();
    assert!(from_snapshot);
    assert_eq!(again.aggregate, loaded.aggregate);
    assert_eq!(again.discarded_snapshots.len(), 1, "{:?}", again.discarded_snapshots);
    assert!(again.discarded_snapshots[0].contains("Balance"), "{:?}", again.discarded_snapshots);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A state of another shape, whose snapshot a `Balance` load cannot read.
#[derive(strata::Record, Debug, Default, Clone, PartialEq)]
#[strata(namespace = "test.state")]
struct Other {
    note: String,
}

/// A writer of `topic` in `group` holding all of its `partitions`, or why not.
fn writer_holding(
    brokers: &str,
    topic: &str,
    group: &str,
    partitions: usize,
) -> Result<strata::kafka::append::Writer<AccountEvent>, String> {
    use support::faults::chain;
    let mut config = AppendConfig::new(brokers);
    config.topic = Some(topic.to_owned());
    config.kafka = vec![("session.timeout.ms".into(), "6000".into())];
    let source = source_of::<AccountEvent>();
    let mut writer =
        strata::kafka::append::Writer::new(config, &*source, group).map_err(|e| chain(&e))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while writer.held().len() < partitions {
        if std::time::Instant::now() > deadline {
            return Err(format!("the writer holds {:?} after 60 s", writer.held()));
        }
        writer.serve(Duration::from_millis(100)).map_err(|e| chain(&e))?;
    }
    Ok(writer)
}

#[test]
fn a_writer_through_three_broker_restarts_lands_each_command_once_and_a_new_writer_counts_what_a_replay_counts()
 {
    use strata::kafka::append::ExpectedVersion;
    use support::faults::{Outages, chain, supervise};
    let broker = Broker::start_durable();
    let brokers = broker.brokers();
    let topic = support::kafka::topic("append-outages");
    support::kafka::create_topic(&broker, &topic, 3);
    let group = format!("{topic}.writers");
    // 1,000 commands of 10 events over 100 accounts: command `c` on account `c % 100`, the
    // first opening it; each expects the 10 events of every earlier command of its account.
    let command = |c: usize| {
        let n = (c % 100) as u128;
        let events =
            if c < 100 { history(n, 9, false) } else { history(n, 10, false)[1..].to_vec() };
        let expected = match c / 100 {
            0 => ExpectedVersion::NoStream,
            earlier => ExpectedVersion::Exact(10 * earlier as u64),
        };
        (format!("account-{n}"), events, expected, format!("command-{c}"))
    };
    let outages = Outages::new(broker, Duration::from_secs(8));
    let mut next = 0;
    let (_, failures) = supervise(&outages, 10, || {
        // A new writer for each run, as a restarted service has.
        let mut writer = writer_holding(&brokers, &topic, &group, 3)?;
        while next < 1_000 {
            // Outages begin at commands 250, 500 and 750, mid-stream of appends.
            if next % 250 == 0 && next / 250 > outages.begun() {
                outages.begin();
            }
            let (key, events, expected, id) = command(next);
            let metadata = Metadata { command_id: Some(&id), ..Metadata::default() };
            writer.append(key.as_bytes(), expected, &events, &metadata).map_err(|e| chain(&e))?;
            next += 1;
        }
        Ok(())
    });
    assert_eq!(outages.begun(), 3, "three outages mid-stream");
    assert!(failures.len() >= 3, "each outage failed an append: {failures:#?}");

    // Every event once, by event id; each account's commands in order, each command whole.
    let read = support::kafka::read_available(&brokers, &topic);
    assert_eq!(read.len(), 10_000);
    let header = |m: &rdkafka::message::OwnedMessage, name: &str| {
        use rdkafka::Message;
        let headers = m.headers().unwrap();
        let found = rdkafka::message::Headers::iter(headers).find(|h| h.key == name).unwrap();
        String::from_utf8_lossy(found.value.unwrap()).into_owned()
    };
    let ids: std::collections::BTreeSet<String> = read.iter().map(|m| header(m, "ce_id")).collect();
    assert_eq!(ids.len(), 10_000, "no event twice");
    let mut by_key: BTreeMap<Vec<u8>, Vec<(usize, u32)>> = BTreeMap::new();
    for message in &read {
        use rdkafka::Message;
        let command: usize = header(message, "ce_commandid")["command-".len()..].parse().unwrap();
        let seq: u32 = header(message, "ce_commandseq").parse().unwrap();
        by_key.entry(message.key().unwrap().to_vec()).or_default().push((command, seq));
    }
    for (key, landed) in &by_key {
        let n: usize = String::from_utf8_lossy(&key["account-".len()..]).parse().unwrap();
        let expected: Vec<(usize, u32)> =
            (0..10).flat_map(|k| (0..10).map(move |seq| (n + 100 * k, seq))).collect();
        assert_eq!(landed, &expected, "account {n}: its commands in order, each whole");
    }

    // A writer taking the partitions over counts each account's version as a replay does.
    let writer = writer_holding(&brokers, &topic, &group, 3).unwrap();
    for (key, landed) in &by_key {
        assert_eq!(writer.version(key), Some(landed.len() as u64));
    }
    drop(outages);
}

#[test]
fn a_writer_needs_the_registry_to_start_and_not_to_append() {
    use strata::codec::registry::{Registry, RegistryConfig};
    use strata::kafka::append::{ExpectedVersion, Writer};
    let (broker, topic) = start("append-registry", 1);
    let mut registry = support::registry::with_history::<AccountEvent>("append-registry");
    let source = Registry::new(RegistryConfig::new(registry.url()));
    let mut config = AppendConfig::new(broker.brokers());
    config.topic = Some(topic.clone());
    let group = format!("{topic}.writers");

    // Down when the writer starts: a clear error naming the registry, nothing written.
    registry.stop_keeping_address();
    let error = Writer::<AccountEvent>::new(config.clone(), &source, &group).err().unwrap();
    let error = support::faults::chain(&error);
    assert!(error.contains("schema registry") && error.contains(&registry.url_kept()), "{error}");
    assert!(support::kafka::read_available(&broker.brokers(), &topic).is_empty());

    // Up, the writer learns the id of the latest schema once; down again, it appends on.
    registry.start_again();
    let mut writer = Writer::<AccountEvent>::new(config, &source, &group).unwrap();
    registry.stop_keeping_address();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while writer.held().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the writer got no partitions");
        writer.serve(Duration::from_millis(100)).unwrap();
    }
    let events = history(1, 3, false);
    writer.append(b"account-1", ExpectedVersion::NoStream, &events, &Metadata::default()).unwrap();
    assert_eq!(support::kafka::read_available(&broker.brokers(), &topic).len(), 4);
}

#[test]
fn a_new_writer_alone_in_its_group_appends_at_once_as_the_readme_shows() {
    use strata::kafka::append::{ExpectedVersion, Writer};
    let (broker, topic) = start("append-at-once", 3);
    let mut config = AppendConfig::new(broker.brokers());
    config.topic = Some(topic.clone());
    let source = source_of::<AccountEvent>();
    // No `serve` loop first: the append waits for the group to assign the partitions.
    let mut writer = Writer::<AccountEvent>::new(config, &*source, "writers").unwrap();
    let events = history(1, 2, false);
    let landed =
        writer.append(b"account-1", ExpectedVersion::NoStream, &events, &Metadata::default());
    assert_eq!(landed.unwrap().len(), 3);
    assert_eq!(writer.version(b"account-1"), Some(3));
}
