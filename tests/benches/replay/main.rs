//! Replay speed and memory against a real broker (nisshi, started here): one million events of
//! the small shape replayed by strata (decoded into the latest type and folded), next to a bare
//! rdkafka consumer reading the same topic without decoding, in the same run; and the peak heap
//! of a replay of a quarter of the topic next to the whole, to show it does not grow with the
//! topic. Then migration: the topic rewritten by `strata::kafka::migrate` next to a bare copy of its
//! bytes into a new topic.
//!
//! Run: `cargo bench -p strata-tests --bench replay` (needs `scripts/setup-broker.sh`).

#[path = "../codec/shapes.rs"]
#[allow(dead_code)]
mod shapes;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::kafka::{assign_from_start, client, create_topic_at};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rdkafka::Message;
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use strata::kafka::record::Position;
use strata::kafka::replay::{Replay, ReplayConfig};
use strata::{Encoder, Event, LocalSource};

use shapes::{Activity, ActivityTopic, Kind};

/// Counts the heap in use and its peak (Rust allocations; librdkafka's own buffers are bounded
/// by its configuration, `queued.max.messages.kbytes`).
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code, reason = "a global allocator is unsafe to implement; this one only counts")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: forwarded as is to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const EVENTS: usize = 1_000_000;
const PARTITIONS: i32 = 4;

fn activity(i: usize) -> ActivityTopic {
    ActivityTopic::Activity(Activity {
        id: uuid::Uuid::from_u128(0x5eed_0000 + i as u128),
        at: time::OffsetDateTime::UNIX_EPOCH + Duration::from_secs(i as u64),
        user: format!("user-{:05}", i % 50_000),
        region: ["eu-west", "us-east", "ap-south"][i % 3].to_owned(),
        count: i as i64,
        score: i as f64 / 7.0,
        note: i.is_multiple_of(4).then(|| format!("note {i}")),
        kind: [Kind::Signup, Kind::Login, Kind::Purchase][i % 3],
        email: format!("user-{:05}@example.com", i % 50_000),
        priority: (i % 5) as i32,
    })
}

/// Creates the topic and fills it with `count` framed events.
fn fill(brokers: &str, topic: &str, source: &LocalSource, count: usize) {
    create_topic_at(brokers, topic, PARTITIONS);
    let encoder = Encoder::<ActivityTopic>::new(source).unwrap();
    let producer: BaseProducer = client(brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    let mut framed = Vec::with_capacity(256);
    for i in 0..count {
        encoder.encode(&activity(i), &mut framed);
        let key = format!("user-{:05}", i % 50_000);
        loop {
            match producer.send(BaseRecord::to(topic).key(&key).payload(&framed)) {
                Ok(()) => break,
                Err((e, _))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => panic!("{e}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(120)).unwrap();
}

/// Reads every record of `topic` with a bare consumer, decoding nothing.
fn bare(brokers: &str, topic: &str) -> usize {
    let consumer: BaseConsumer = client(brokers).set("group.id", "bare").create().unwrap();
    let ends = assign_from_start(&consumer, topic, PARTITIONS);
    let mut positions: Vec<i64> = ends.iter().map(|(low, _)| *low).collect();
    let (mut records, mut bytes) = (0, 0);
    while positions.iter().zip(&ends).any(|(at, (_, high))| at < high) {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            bytes += message.payload().map_or(0, <[u8]>::len);
            positions[message.partition() as usize] = message.offset() + 1;
            records += 1;
        }
    }
    std::hint::black_box(bytes);
    records
}

/// A small fold: events per kind and the highest count seen.
#[derive(Default)]
struct Tally {
    per_kind: [u64; 4],
    max_count: i64,
}

fn replay(brokers: &str, topic: &str, source: Arc<LocalSource>) -> (Tally, u64) {
    let mut config = ReplayConfig::new(brokers);
    config.topic = Some(topic.to_owned());
    let replay = Replay::<ActivityTopic>::new(config, source).unwrap();
    let mut tally = Tally::default();
    let report = replay
        .run(&mut |event: ActivityTopic, _: &Position<'_>| {
            let ActivityTopic::Activity(a) = event;
            tally.per_kind[a.kind as usize] += 1;
            tally.max_count = tally.max_count.max(a.count);
        })
        .unwrap();
    (tally, report.events)
}

fn bench(c: &mut Criterion) {
    let broker = support::broker::Broker::start();
    let brokers = broker.brokers();
    let source = Arc::new(LocalSource::new());
    let text = ActivityTopic::schema(ActivityTopic::VERSION).unwrap().to_json().to_string();
    source.insert(1, &ActivityTopic::subject(), &text).unwrap();
    let quarter = "bench.replay.quarter";
    let whole = "bench.replay.whole";
    let started = Instant::now();
    fill(&brokers, quarter, &source, EVENTS / 4);
    fill(&brokers, whole, &source, EVENTS);
    eprintln!("filled the topics in {:.1} s", started.elapsed().as_secs_f64());

    // Peak heap of a replay, after a warm-up (the decoder's plan, the client's state).
    for (name, topic, count) in [("quarter", quarter, EVENTS / 4), ("whole", whole, EVENTS)] {
        replay(&brokers, topic, source.clone());
        let base = IN_USE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let (_, events) = replay(&brokers, topic, source.clone());
        assert_eq!(events, count as u64);
        let peak = PEAK.load(Ordering::Relaxed) - base;
        println!(
            "replay memory: {name} topic ({count} events): peak Rust heap {} KiB above the start",
            peak / 1024
        );
    }

    let mut group = c.benchmark_group("replay/1M small events");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(40));
    group.bench_function("bare rdkafka consumer (no decoding)", |b| {
        b.iter(|| assert_eq!(bare(&brokers, whole), EVENTS))
    });
    group.bench_function("strata replay (decode + fold)", |b| {
        b.iter(|| assert_eq!(replay(&brokers, whole, source.clone()).1, EVENTS as u64))
    });
    group.finish();

    // Migration: the same topic rewritten into a new one, against a bare copy of the bytes.
    let transcoder = strata::codec::Transcoder::<ActivityTopic>::new(source.clone()).unwrap();
    let mut group = c.benchmark_group("migrate/1M small events");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(60));
    let mut run = 0;
    group.bench_function("bare rdkafka copy (same bytes, no decoding)", |b| {
        b.iter(|| {
            run += 1;
            assert_eq!(copy(&brokers, whole, &format!("bench.copy.{run}")), EVENTS);
        })
    });
    group.bench_function("strata migrate (decode, re-encode, provenance)", |b| {
        b.iter(|| {
            run += 1;
            let config = strata::kafka::migrate::MigrateConfig::new(
                &brokers,
                whole,
                &format!("bench.migrated.{run}"),
            );
            let mut config = config;
            for kv in std::env::var("STRATA_BENCH_X")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
            {
                let (k, v) = kv.split_once('=').unwrap();
                config.kafka.push((k.into(), v.into()));
            }
            let report = strata::kafka::migrate::migrate(&config, &transcoder).unwrap();
            assert_eq!(report.migrated, EVENTS as u64);
        })
    });
    group.finish();
}

/// Copies every record of `from` into a new topic `to`, partition for partition, bytes as they
/// are: the bare floor of a migration.
fn copy(brokers: &str, from: &str, to: &str) -> usize {
    create_topic_at(brokers, to, PARTITIONS);
    // The same fetch settings strata's migration uses: librdkafka's 1 s queue backoff starves
    // a consumer that also produces, and large fetches spare the broker (the copy runs at the
    // same rate with and without them, within the noise).
    let consumer: BaseConsumer = client(brokers)
        .set("group.id", "copy")
        .set("fetch.queue.backoff.ms", "10")
        .set("fetch.min.bytes", "500000")
        .set("fetch.wait.max.ms", "100")
        .create()
        .unwrap();
    let producer: BaseProducer =
        client(brokers).set("enable.idempotence", "true").set("linger.ms", "5").create().unwrap();
    let ends = assign_from_start(&consumer, from, PARTITIONS);
    let mut positions: Vec<i64> = ends.iter().map(|(low, _)| *low).collect();
    let mut records = 0;
    while positions.iter().zip(&ends).any(|(at, (_, high))| at < high) {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else { continue };
        let message = message.unwrap();
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(to)
            .partition(message.partition())
            .payload(message.payload().unwrap_or_default());
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, back))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    producer.poll(Duration::from_millis(10));
                    record = back;
                }
                Err((e, _)) => panic!("{e}"),
            }
        }
        producer.poll(Duration::ZERO);
        positions[message.partition() as usize] = message.offset() + 1;
        records += 1;
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    records
}

criterion_group!(benches, bench);
criterion_main!(benches);
