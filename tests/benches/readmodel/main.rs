//! Read-model speed against a real broker (nisshi) and a real PostgreSQL (a throwaway cluster),
//! both started here: 50,000 bank events applied into the `bank_balances` tables by strata's
//! projector (decoding, a transaction per 1,000 records, the offsets stored and checked in it)
//! next to a bare loop that reads the same topic, decodes the same way and writes the same rows
//! with the same statements and the same batching, without any bookkeeping; in the same run.
//!
//! Run: `cargo bench -p strata-tests --bench readmodel` (needs `scripts/setup-broker.sh` and
//! `scripts/setup-postgres.sh`).

#[path = "../../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::kafka::{assign_from_start, client, create_topic_at};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rdkafka::Message;
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use strata::kafka::Mode;
use strata::kafka::readmodel::postgres::Client;
use strata::kafka::readmodel::{Projector, ProjectorConfig, ReadModel};
use strata::kafka::record::Position;
use strata::{Decoder, Encoder};
use strata_tests::balances::Balances;
use strata_tests::bank::{
    AccountEvent, AccountFrozen, AccountOpened, FreezeReason, HolderKind, MoneyDeposited,
};

const EVENTS: usize = 50_000;
const PARTITIONS: i32 = 4;
const BATCH: usize = 1000;

fn event(i: usize) -> AccountEvent {
    let account_id = uuid::Uuid::from_u128(i as u128 % 5000);
    match i % 10 {
        0 => AccountEvent::Opened(AccountOpened {
            account_id,
            holder: format!("holder {}", i % 5000),
            currency: "EUR".into(),
            overdraft_limit_cents: 0,
            holder_kind: HolderKind::Person,
        }),
        9 => AccountEvent::Frozen(AccountFrozen { account_id, reason: FreezeReason::Fraud }),
        _ => AccountEvent::Deposited(MoneyDeposited {
            account_id,
            amount_cents: i as i64,
            at: time::OffsetDateTime::UNIX_EPOCH + Duration::from_secs(i as u64),
            reference: None,
        }),
    }
}

fn fill(brokers: &str, topic: &str) {
    create_topic_at(brokers, topic, PARTITIONS);
    let encoder =
        Encoder::<AccountEvent>::new(&*strata_tests::history_source::<AccountEvent>()).unwrap();
    let producer: BaseProducer = client(brokers).set("linger.ms", "20").create().unwrap();
    let mut framed = Vec::with_capacity(256);
    for i in 0..EVENTS {
        encoder.encode(&event(i), &mut framed);
        let key = format!("account-{}", i % 5000);
        producer.send(BaseRecord::to(topic).key(&key).payload(&framed)).unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(120)).unwrap();
}

/// Empties the database of both contenders' tables and books.
fn reset(db: &mut Client) {
    db.batch_execute(
        "RESET search_path; DROP SCHEMA IF EXISTS strata CASCADE; \
         DROP SCHEMA IF EXISTS bank_balances CASCADE; \
         DROP SCHEMA IF EXISTS bank_balances_v1 CASCADE; DROP SCHEMA IF EXISTS bare CASCADE",
    )
    .unwrap();
}

fn strata(brokers: &str, topic: &str, db: &mut Client) -> u64 {
    let mut config = ProjectorConfig::new(brokers);
    config.topic = Some(topic.to_owned());
    config.mode = Mode::CatchUp;
    config.batch_records = BATCH;
    let source = strata_tests::history_source::<AccountEvent>();
    let mut projector = Projector::new(config, source, Balances::<1>::default()).unwrap();
    projector.run(db, &mut |_| true).unwrap().applied
}

/// The same rows by the same model, statements and batching, read by a bare consumer: no
/// offsets stored, nothing checked.
fn bare(brokers: &str, topic: &str, db: &mut Client) -> u64 {
    let decoder =
        Decoder::<AccountEvent>::new(strata_tests::history_source::<AccountEvent>()).unwrap();
    let mut model = Balances::<1>::default();
    db.batch_execute("CREATE SCHEMA bare; SET search_path TO bare").unwrap();
    let mut tx = db.transaction().unwrap();
    model.create(&mut tx).unwrap();
    tx.commit().unwrap();
    model.prepare(db).unwrap();

    let consumer: BaseConsumer = client(brokers).set("group.id", "bare").create().unwrap();
    let ends = assign_from_start(&consumer, topic, PARTITIONS);
    let mut positions: Vec<i64> = ends.iter().map(|(low, _)| *low).collect();
    let mut applied = 0;
    while positions.iter().zip(&ends).any(|(at, (_, high))| at < high) {
        let mut tx = db.transaction().unwrap();
        let began = Instant::now();
        let mut in_batch = 0;
        while in_batch < BATCH && began.elapsed() < Duration::from_millis(200) {
            let Some(message) = consumer.poll(Duration::from_millis(10)) else { break };
            let message = message.unwrap();
            let event = decoder.decode(message.payload().unwrap()).unwrap();
            let at = Position {
                topic,
                partition: message.partition(),
                offset: message.offset(),
                key: message.key(),
                timestamp: message.timestamp().to_millis(),
                headers: strata::kafka::record::Headers::none(),
            };
            model.apply(&mut tx, event, &at).unwrap();
            positions[message.partition() as usize] = message.offset() + 1;
            in_batch += 1;
        }
        tx.commit().unwrap();
        applied += in_batch as u64;
    }
    applied
}

fn bench(c: &mut Criterion) {
    let broker = support::broker::Broker::start();
    let brokers = broker.brokers();
    let pg = support::postgres::Postgres::start();
    let mut db = pg.connect("postgres");
    let topic = "bench.readmodel";
    fill(&brokers, topic);

    // Both build the same rows.
    reset(&mut db);
    assert_eq!(strata(&brokers, topic, &mut db), EVENTS as u64);
    assert_eq!(bare(&brokers, topic, &mut db), EVENTS as u64);
    let same: bool = db
        .query_one(
            "SELECT NOT EXISTS (SELECT * FROM bank_balances.accounts EXCEPT SELECT * FROM bare.accounts) \
             AND NOT EXISTS (SELECT * FROM bare.accounts EXCEPT SELECT * FROM bank_balances.accounts)",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(same, "strata and the bare loop built different rows");

    let mut group = c.benchmark_group("readmodel");
    group.sample_size(10).measurement_time(Duration::from_secs(40));
    group.throughput(Throughput::Elements(EVENTS as u64));
    type Contender = fn(&str, &str, &mut Client) -> u64;
    let contenders: [(&str, Contender); 2] =
        [("bare_insert_loop", bare), ("strata_projector", strata)];
    for (name, run) in contenders {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    reset(&mut db);
                    let started = Instant::now();
                    assert_eq!(run(&brokers, topic, &mut db), EVENTS as u64);
                    total += started.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
