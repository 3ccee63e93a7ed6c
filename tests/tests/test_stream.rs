//! The async face against a real broker: a tokio `Stream` of decoded events, in order per key
//! with their envelopes, whose first record of a schema id fetches the schema without holding
//! the runtime's only thread; offsets are committed for records marked done.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use strata::codec::source::{SchemaSource, SourceError, WriterSchema};
use strata::kafka::append::{AppendConfig, Appender};
use strata::kafka::stream::{EventStream, StreamConfig};
use strata_tests::bank::{AccountEvent, AccountOpened, HolderKind};

use support::kafka::{source_of, start};

/// A schema source that takes its time: each fetch records how far a ticker task got while it
/// waited, which stays 0 if the fetch holds the runtime's only thread.
#[derive(Debug)]
struct Slow {
    inner: Arc<strata::LocalSource>,
    ticks: Arc<AtomicU64>,
    ticks_during_fetches: Mutex<Vec<u64>>,
}

impl SchemaSource for Slow {
    fn schema(&self, id: u32) -> Result<Arc<WriterSchema>, SourceError> {
        let before = self.ticks.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        let after = self.ticks.load(Ordering::SeqCst);
        self.ticks_during_fetches.lock().unwrap().push(after - before);
        self.inner.schema(id)
    }

    fn id_of(&self, subject: &str, schema: &str) -> Result<u32, SourceError> {
        self.inner.id_of(subject, schema)
    }
}

fn opened(n: u128) -> AccountEvent {
    AccountEvent::Opened(AccountOpened {
        account_id: uuid::Uuid::from_u128(n),
        holder: format!("holder {n}"),
        currency: "EUR".into(),
        overdraft_limit_cents: n as i64,
        holder_kind: HolderKind::Person,
    })
}

#[test]
fn a_stream_of_decoded_events_fetches_schemas_off_the_runtime_thread() {
    let (broker, topic) = start("stream", 2);
    let mut config = AppendConfig::new(broker.brokers());
    config.topic = Some(topic.clone());
    let appender = Appender::<AccountEvent>::new(config, &*source_of::<AccountEvent>()).unwrap();
    let mut appended = std::collections::BTreeMap::new();
    for key in 0..3u128 {
        let events: Vec<AccountEvent> = (0..4).map(|i| opened(key * 10 + i)).collect();
        let ids = appender.append(format!("account-{key}").as_bytes(), &events).unwrap();
        appended.insert(format!("account-{key}").into_bytes(), (events, ids));
    }

    let ticks = Arc::new(AtomicU64::new(0));
    let slow = Arc::new(Slow {
        inner: source_of::<AccountEvent>(),
        ticks: Arc::clone(&ticks),
        ticks_during_fetches: Mutex::new(Vec::new()),
    });
    // One runtime thread: a fetch on it would stop the ticker.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let group = format!("{topic}.stream");
    let received = runtime.block_on(async {
        let ticker = {
            let ticks = Arc::clone(&ticks);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    ticks.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        let events = EventStream::<AccountEvent>::new(
            StreamConfig {
                topic: Some(topic.clone()),
                ..StreamConfig::new(broker.brokers(), &group)
            },
            slow.clone(),
        )
        .unwrap();
        let mut stream = std::pin::pin!(events.stream());
        let mut received: std::collections::BTreeMap<Vec<u8>, Vec<(AccountEvent, String)>> =
            Default::default();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while received.values().map(Vec::len).sum::<usize>() < 12 {
            let next = tokio::time::timeout_at(deadline, stream.next()).await;
            let delivered = next.expect("every event arrives").unwrap().unwrap();
            let id = delivered.headers().envelope().event_id.unwrap().to_owned();
            events.done(&delivered).unwrap();
            received.entry(delivered.key.clone().unwrap()).or_default().push((delivered.event, id));
        }
        ticker.abort();
        received
    });
    for (key, (events, ids)) in &appended {
        let got = &received[key];
        let expected: Vec<(AccountEvent, String)> =
            events.iter().cloned().zip(ids.iter().map(|a| a.event_id.clone())).collect();
        assert_eq!(got, &expected, "{}", String::from_utf8_lossy(key));
    }
    let during = slow.ticks_during_fetches.lock().unwrap().clone();
    assert_eq!(during.len(), 1, "one fetch for the one schema id");
    assert!(during[0] > 0, "the runtime thread kept running while the schema was fetched");
}

/// What one stream session saw: each item's offset, and whether it was an event.
type Seen = Vec<(i64, bool)>;

/// Joins `group`, takes items until offset `last` was delivered, settles them as `settle` says
/// (`Some(true)`: done, `Some(false)`: dead-letter or skip a failed one, `None`: left open),
/// commits and leaves; returns what was delivered.
fn session(
    brokers: &str,
    topic: &str,
    dead: &str,
    group: &str,
    last: i64,
    settle: impl Fn(i64, bool) -> Option<Settle>,
) -> Seen {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let config = StreamConfig {
            topic: Some(topic.to_owned()),
            dead_letter_topic: Some(dead.to_owned()),
            ..StreamConfig::new(brokers, group)
        };
        let events = EventStream::<AccountEvent>::new(config, source_of::<AccountEvent>()).unwrap();
        let mut stream = std::pin::pin!(events.stream());
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let next = tokio::time::timeout_at(deadline, stream.next()).await;
            let item = next.unwrap_or_else(|_| panic!("offset {last} arrives; saw {seen:?}"));
            let (offset, is_event) = match item.expect("the stream goes on") {
                Ok(delivered) => {
                    let offset = delivered.offset;
                    if settle(offset, true).is_some() {
                        events.done(&delivered).unwrap();
                    }
                    (offset, true)
                }
                Err(strata::kafka::stream::StreamError::Record(failed)) => {
                    match settle(failed.offset, false) {
                        Some(Settle::DeadLetter) => events.dead_letter(&failed).unwrap(),
                        Some(Settle::Skip) => events.skip(&failed).unwrap(),
                        None => {}
                    }
                    (failed.offset, false)
                }
                Err(other) => panic!("{other}"),
            };
            seen.push((offset, is_event));
            if offset == last {
                break;
            }
        }
        events.commit().unwrap();
        seen
    })
}

#[derive(Clone, Copy)]
enum Settle {
    DeadLetter,
    Skip,
}

#[test]
fn a_restarted_stream_delivers_again_from_the_lowest_item_not_finished() {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let (broker, topic) = start("stream-restart", 1);
    let dead = format!("{topic}.dlt");
    support::kafka::create_topic(&broker, &dead, 1);
    let mut config = AppendConfig::new(broker.brokers());
    config.topic = Some(topic.clone());
    let appender = Appender::<AccountEvent>::new(config, &*source_of::<AccountEvent>()).unwrap();
    let append = |from: u128, to: u128| {
        for n in from..to {
            appender.append(b"account-1", &[opened(n)]).unwrap();
        }
    };
    // Offsets 0 to 4 events, 5 a record no decoder reads, 6 to 9 events.
    append(0, 5);
    let producer: BaseProducer = support::kafka::client(&broker.brokers()).create().unwrap();
    producer.send(BaseRecord::to(&topic).key(&b"account-1"[..]).payload(&b"not avro"[..])).unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
    append(5, 9);
    let group = format!("{topic}.restart");
    let all = |from: i64| -> Seen { (from..10).map(|o| (o, o != 5)).collect() };
    let run = |last, settle: &dyn Fn(i64, bool) -> Option<Settle>| {
        session(&broker.brokers(), &topic, &dead, &group, last, settle)
    };

    // Everything finished but offset 2 (an event still being handled, in any order) and the
    // failed record, left open.
    let first = run(9, &|offset, is_event| (is_event && offset != 2).then_some(Settle::Skip));
    assert_eq!(first, all(0));
    // The restart delivers again from offset 2: the commit stopped at the lowest open item.
    let second = run(9, &|_, is_event| is_event.then_some(Settle::Skip));
    assert_eq!(second, all(2), "delivered again from the unfinished event");
    // The failed record, never settled, holds its partition back on its own.
    let third =
        run(9, &|_, is_event| Some(if is_event { Settle::Skip } else { Settle::DeadLetter }));
    assert_eq!(third, all(5), "delivered again from the failed record left open");
    // Dead-lettered (and acknowledged by the broker) it is settled: nothing is delivered
    // again, the next item is a new event.
    append(9, 10);
    let fourth = run(10, &|_, _| Some(Settle::Skip));
    assert_eq!(fourth, vec![(10, true)], "only the new event");
    let letters = support::kafka::read(&broker.brokers(), &dead, 1);
    use rdkafka::Message;
    use rdkafka::message::Headers as _;
    assert_eq!(letters[0].payload(), Some(&b"not avro"[..]));
    let headers: Vec<_> = letters[0].headers().unwrap().iter().collect();
    let provenance = strata::kafka::record::Provenance::read_with(|name| {
        let header = headers.iter().rev().find(|h| h.key == name)?;
        std::str::from_utf8(header.value?).ok()
    })
    .unwrap();
    assert_eq!(
        (provenance.topic.as_str(), provenance.partition, provenance.offset),
        (&*topic, 0, 5)
    );
}

/// The service an outage test takes down.
#[derive(Clone, Copy, PartialEq)]
enum Down {
    Broker,
    Registry,
}

/// Each partition's committed offset in `group` (absent: none committed).
fn committed(brokers: &str, topic: &str, group: &str) -> BTreeMap<i32, i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
    let consumer: BaseConsumer =
        support::kafka::client(brokers).set("group.id", group).create().unwrap();
    let mut list = TopicPartitionList::new();
    for partition in 0..3 {
        list.add_partition(topic, partition);
    }
    let list = consumer.committed_offsets(list, Duration::from_secs(10)).unwrap();
    list.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

/// 11,000 events of every version over three partitions (a broker that keeps its data,
/// schemas from a registry), streamed by sessions a supervisor starts again after each failure
/// (the loop of the module's example: an error item that is not a record's ends it), each of
/// the first three taking `down` down at its 1,500th item (the registry: its first). Every session starts each partition
/// exactly at the group's committed offset and delivers it in order without a gap, every
/// record is finished, and nothing is dead-lettered.
fn stream_through_outages(down: Down) {
    use strata::codec::registry::{Registry, RegistryConfig};
    use strata::kafka::stream::StreamError;
    use support::faults::{Outages, chain, supervise};

    let broker = support::broker::Broker::start_durable();
    let brokers = broker.brokers();
    let topic = support::kafka::topic("stream-outages");
    let dead = format!("{topic}.dlt");
    support::kafka::create_topic(&broker, &topic, 3);
    support::kafka::create_topic(&broker, &dead, 1);
    let records = support::kafka::records_of::<AccountEvent>(1_100, 37, "account", 300);
    support::kafka::produce(&broker, &topic, &records);
    let registry = support::registry::with_history::<AccountEvent>("stream-outages");
    let registry_url = registry.url();
    let (mut broker, mut registry) = (Some(broker), Some(registry));
    let longest = Duration::from_secs(8);
    let outages = match down {
        Down::Broker => Outages::new(broker.take().unwrap(), longest),
        Down::Registry => Outages::new(registry.take().unwrap(), longest),
    };
    // The broker (or PostgreSQL) goes down mid-run; the registry once the run fetched its first
    // schema, so that every run meets a schema id it has not fetched while the registry is down.
    let at = if down == Down::Registry { 1 } else { 1_500 };
    let group = format!("{topic}.outages");
    let mut finished: BTreeMap<(i32, i64), u32> = BTreeMap::new();
    let mut runs = 0;
    let (_, failures) = supervise(&outages, 10, || {
        runs += 1;
        let run = runs;
        let start = committed(&brokers, &topic, &group);
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut config = StreamConfig::new(&brokers, &group);
            config.topic = Some(topic.clone());
            config.dead_letter_topic = Some(dead.clone());
            config.kafka.extend(support::faults::fetch_little_ahead());
            let source = Arc::new(Registry::new(RegistryConfig::new(&registry_url)));
            let events = EventStream::<AccountEvent>::new(config, source).map_err(|e| chain(&e))?;
            let mut stream = std::pin::pin!(events.stream());
            let mut items = 0;
            while finished.len() < records.len() {
                let next_item = tokio::time::timeout(Duration::from_secs(60), stream.next()).await;
                let item = next_item.map_err(|_| "no item for 60 s".to_owned())?.unwrap();
                items += 1;
                if run <= 3 && items == at {
                    outages.begin();
                }
                let (partition, offset) = match &item {
                    Ok(delivered) => (delivered.partition, delivered.offset),
                    Err(StreamError::Record(failed)) => (failed.partition, failed.offset),
                    Err(other) => return Err(chain(other)),
                };
                // Each partition from the committed offset, then in order, without a gap.
                let expected = next
                    .get(&partition)
                    .copied()
                    .unwrap_or_else(|| start.get(&partition).copied().unwrap_or(0));
                assert_eq!(offset, expected, "run {run} partition {partition}");
                next.insert(partition, offset + 1);
                match item {
                    Ok(delivered) => {
                        events.done(&delivered).map_err(|e| chain(&e))?;
                        *finished.entry((partition, offset)).or_default() += 1;
                    }
                    // A record whose schema the registry could not give is refused.
                    Err(StreamError::Record(failed)) => {
                        events.dead_letter(&failed).map_err(|e| chain(&e))?
                    }
                    Err(_) => unreachable!(),
                }
            }
            events.commit().map_err(|e| chain(&e))
        })
    });
    assert_eq!(outages.begun(), 3, "each of the first three sessions met an outage");
    if down == Down::Registry {
        assert!(failures.len() >= 3, "{failures:#?}");
        for failure in &failures {
            assert!(failure.contains("not dead-lettered") && failure.contains(&topic), "{failure}");
        }
    }
    assert_eq!(finished.len(), records.len(), "every record finished");
    let again = finished.values().filter(|&&n| n > 1).count();
    eprintln!("finished again after a failure (at least once): {again}");
    assert!(support::kafka::read_available(&brokers, &dead).is_empty(), "nothing dead-lettered");
    drop((outages, broker, registry));
}

#[test]
fn a_stream_through_three_broker_restarts_starts_each_session_at_the_committed_offsets_and_finishes_every_record()
 {
    stream_through_outages(Down::Broker);
}

#[test]
fn a_stream_through_three_registry_outages_refuses_to_dead_letter_and_finishes_every_record() {
    stream_through_outages(Down::Registry);
}

#[test]
fn a_member_joining_mid_stream_takes_partitions_from_their_committed_offsets_and_nothing_is_delivered_twice()
 {
    let (broker, topic) = start("stream-rebalance", 3);
    let records = support::kafka::records_of::<AccountEvent>(1_100, 41, "account", 300);
    support::kafka::produce(&broker, &topic, &records);
    let group = format!("{topic}.members");
    let total = records.len();
    // (member, partition, offset) of every event finished, in the order finished.
    let finished: Arc<Mutex<Vec<(usize, i32, i64)>>> = Arc::default();
    let second_started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let member = |id: usize, joined: Option<tokio::sync::oneshot::Sender<()>>| {
            let (brokers, topic, group) = (broker.brokers(), topic.clone(), group.clone());
            let finished = Arc::clone(&finished);
            let second_started = Arc::clone(&second_started);
            async move {
                let mut config = StreamConfig::new(&brokers, &group);
                config.topic = Some(topic);
                config.kafka.extend(support::faults::fetch_little_ahead());
                let events =
                    EventStream::<AccountEvent>::new(config, source_of::<AccountEvent>()).unwrap();
                let mut stream = std::pin::pin!(events.stream());
                let mut joined = joined;
                let mut items = 0;
                while finished.lock().unwrap().len() < total {
                    let Ok(item) =
                        tokio::time::timeout(Duration::from_millis(500), stream.next()).await
                    else {
                        continue;
                    };
                    let delivered = item.unwrap().unwrap();
                    events.done(&delivered).unwrap();
                    finished.lock().unwrap().push((id, delivered.partition, delivered.offset));
                    items += 1;
                    // The second member joins once the first is well under way; until it
                    // has an item, the first goes slowly (polling on: the rebalance needs it).
                    if items == 1_500
                        && let Some(joined) = joined.take()
                    {
                        joined.send(()).unwrap();
                    }
                    if id == 0 && items >= 1_500 && !second_started.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    if id == 1 {
                        second_started.store(true, Ordering::SeqCst);
                    }
                }
                events.commit().unwrap();
            }
        };
        let (join, joining) = tokio::sync::oneshot::channel();
        let first = tokio::spawn(member(0, Some(join)));
        joining.await.unwrap();
        let second = tokio::spawn(member(1, None));
        let all = async {
            first.await.unwrap();
            second.await.unwrap()
        };
        tokio::time::timeout(Duration::from_secs(180), all).await.expect("every record finished");
    });
    let finished = finished.lock().unwrap();
    let mut distinct: Vec<(i32, i64)> = finished.iter().map(|&(_, p, o)| (p, o)).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), total, "every record finished");
    assert_eq!(
        finished.len(),
        total,
        "none delivered twice: a partition moved at its committed offset"
    );
    let by_second = finished.iter().filter(|(member, ..)| *member == 1).count();
    assert!(by_second > 0, "the second member took partitions");
    // Per partition, the records were finished in order, whichever member held it.
    for partition in 0..3 {
        let offsets: Vec<i64> =
            finished.iter().filter(|(_, p, _)| *p == partition).map(|t| t.2).collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "partition {partition} in order");
    }
}
