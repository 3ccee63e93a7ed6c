//! Append throughput against a real broker (nisshi, started here): 100,000 bank events appended
//! by strata's `Appender` in calls of 1,000 (encoded, enveloped, keyed, every event acknowledged
//! before the call returns), next to a bare rdkafka `BaseProducer` sending the same framed bytes
//! with the same keys in the same batches (idempotent too, each batch's acknowledgements awaited),
//! in the same run.
//!
//! Run: `cargo bench -p strata-tests --bench append` (needs `scripts/setup-broker.sh`).

#[path = "../../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use support::kafka::{client, create_topic_at};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use strata::Encoder;
use strata::kafka::append::{AppendConfig, Appender};
use strata_tests::bank::{AccountEvent, MoneyDeposited};

const EVENTS: usize = 100_000;
const BATCH: usize = 1000;

/// One command's events: `BATCH` deposits of one account.
fn batch(b: usize) -> Vec<AccountEvent> {
    (0..BATCH)
        .map(|i| {
            AccountEvent::Deposited(MoneyDeposited {
                account_id: uuid::Uuid::from_u128(b as u128),
                amount_cents: i as i64,
                at: time::OffsetDateTime::UNIX_EPOCH + Duration::from_secs(i as u64),
                reference: Some(format!("ref-{i}")),
            })
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let broker = support::broker::Broker::start();
    let brokers = broker.brokers();
    for topic in ["bench.append.strata", "bench.append.bare"] {
        create_topic_at(&brokers, topic, 4);
    }
    let source = strata_tests::history_source::<AccountEvent>();
    let batches: Vec<(String, Vec<AccountEvent>)> =
        (0..EVENTS / BATCH).map(|b| (format!("account-{b}"), batch(b))).collect();
    let encoder = Encoder::<AccountEvent>::new(&*source).unwrap();
    let framed: Vec<Vec<Vec<u8>>> = batches
        .iter()
        .map(|(_, events)| {
            events
                .iter()
                .map(|e| {
                    let mut out = Vec::new();
                    encoder.encode(e, &mut out);
                    out
                })
                .collect()
        })
        .collect();

    let mut config = AppendConfig::new(&brokers);
    config.topic = Some("bench.append.strata".into());
    let appender = Appender::<AccountEvent>::new(config, &*source).unwrap();
    let bare: BaseProducer = client(&brokers)
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();

    let mut group = c.benchmark_group("append");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("bare_producer", |b| {
        b.iter(|| {
            for ((key, _), records) in batches.iter().zip(&framed) {
                for payload in records {
                    bare.send(BaseRecord::to("bench.append.bare").key(key).payload(payload))
                        .unwrap();
                    bare.poll(Duration::ZERO);
                }
                // Wait for the batch's acknowledgements as the appender does (`flush` sleeps in
                // 100 ms steps).
                while bare.in_flight_count() > 0 {
                    bare.poll(Duration::from_millis(5));
                }
            }
        })
    });
    group.bench_function("strata_appender", |b| {
        b.iter(|| {
            for (key, events) in &batches {
                let appended = appender.append(key.as_bytes(), events).unwrap();
                assert_eq!(appended.len(), BATCH);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
