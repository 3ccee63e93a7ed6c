//! A sensor's readings, for the tests of dead-letter redrive. Version 2 turned `celsius` from
//! tenths of a degree (a long) into degrees (a double) with an upgrade function; with
//! `STRATA_REDRIVE_BROKEN=1` that function fails, as a bug would, so version 1 records are
//! dead-lettered.
//!
//! ```text
//! redriver seed     --brokers B --topic T --count N      N version 1 records
//! redriver replay   --brokers B --topic T --dead-letters D [--refuse-redriven SEQ]
//! redriver migrate  --brokers B --from T --to M --dead-letters D
//! redriver redrive  --brokers B --from D --to T [--batch N] [--timeout S] [--session S] [--dry-run]
//! redriver verify   --brokers B --topic T --count N
//! redriver marks    --brokers B --from D --to T          the marks invariant, checked
//! ```
//!
//! Record `seq` is keyed `sensor-<seq % 7>`, stamped `BASE_MILLIS + seq`, has header
//! `ce_id: reading-<seq>` and `tenths = 3 * seq`. `redrive` prints `progress ...` after each
//! batch and `done read=.. redriven=.. already=.. failing=.. looped=..`, or exits 2 with the
//! error; `verify` counts every record of the topic by its `ce_id`, checks each (value, key,
//! timestamp, headers) and prints `verified distinct=.. duplicates=.. missing=..`, exiting 1 on
//! any mismatch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use strata::codec::{Decoder, Transcoder};
use strata::kafka::Mode;
use strata::kafka::migrate::{MigrateConfig, migrate};
use strata::kafka::record::{ApplyError, Position};
use strata::kafka::redrive::{REDRIVE_FROM, RedriveConfig, redrive};
use strata::kafka::replay::{Projection, Replay, ReplayConfig};
use strata::{Event, LocalSource, UpcastError};

/// One reading.
#[derive(strata::Record, Debug, Clone, PartialEq)]
#[strata(namespace = "test.redrive")]
pub struct Reading {
    pub sensor: String,
    pub seq: i64,
    #[strata(changed(in = 2, from = "i64", upgrade = "celsius_from_tenths"))]
    pub celsius: f64,
}

fn celsius_from_tenths(v1: &ReadingV1) -> Result<f64, UpcastError> {
    if std::env::var_os("STRATA_REDRIVE_BROKEN").is_some() {
        return Err(UpcastError::new("the upgrade function has a bug"));
    }
    Ok(v1.celsius as f64 / 10.0)
}

/// A sensor's events.
#[derive(strata::Event, Debug, Clone, PartialEq)]
#[strata(topic = "test.readings", namespace = "test.redrive", version = 2)]
pub enum ReadingEvent {
    Reading(Reading),
}

const BASE_MILLIS: i64 = 1_700_000_000_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_else(|| usage("a command"));
    let mut flags = BTreeMap::new();
    let mut switches = Vec::new();
    while let Some(flag) = args.next() {
        if flag == "--dry-run" {
            switches.push(flag);
            continue;
        }
        let value = args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        flags.insert(flag.trim_start_matches("--").to_owned(), value);
    }
    let get = |name: &str| flags.get(name).cloned().unwrap_or_else(|| usage(&format!("--{name}")));
    let number = |name: &str| get(name).parse::<i64>().unwrap_or_else(|_| usage(name));
    let brokers = get("brokers");
    match command.as_str() {
        "seed" => seed(&brokers, &get("topic"), number("count")),
        "replay" => {
            let refuse = flags.get("refuse-redriven").map(|s| s.parse::<i64>().unwrap());
            replay(&brokers, &get("topic"), &get("dead-letters"), refuse)
        }
        "migrate" => migrate_topic(&brokers, &get("from"), &get("to"), &get("dead-letters")),
        "redrive" => {
            let mut config = RedriveConfig::new(brokers, get("from"), get("to"));
            // The next run after a crash waits this long for the crashed one to be gone.
            config.session_timeout = Duration::from_secs(6);
            if let Some(seconds) = flags.get("session") {
                config.session_timeout =
                    Duration::from_secs(seconds.parse().unwrap_or_else(|_| usage("--session")));
            }
            if let Some(seconds) = flags.get("timeout") {
                config.timeout =
                    Duration::from_secs(seconds.parse().unwrap_or_else(|_| usage("--timeout")));
            }
            if let Some(batch) = flags.get("batch") {
                config.batch = batch.parse().unwrap_or_else(|_| usage("--batch"));
            }
            config.dry_run = switches.iter().any(|s| s == "--dry-run");
            run_redrive(&config)
        }
        "verify" => verify(&brokers, &get("topic"), number("count")),
        "marks" => marks(&brokers, &get("from"), &get("to")),
        other => usage(&format!("unknown command {other}")),
    }
}

fn usage(what: &str) -> ! {
    eprintln!("redriver: {what}; see the file's doc comment");
    std::process::exit(2)
}

/// Ids 1 and 2 are versions 1 and 2.
fn source() -> Arc<LocalSource> {
    let source = LocalSource::new();
    for version in 1..=ReadingEvent::VERSION {
        let text = ReadingEvent::schema(version).unwrap().to_json().to_string();
        source.insert(version, &ReadingEvent::subject(), &text).unwrap();
    }
    Arc::new(source)
}

fn client(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers).set("broker.address.family", "v4");
    config
}

fn seed(brokers: &str, topic: &str, count: i64) {
    let producer: BaseProducer =
        client(brokers).set("enable.idempotence", "true").create().unwrap();
    let partitions = partitions(brokers, topic);
    for seq in 0..count {
        // Version 1's datum: union branch 0, then sensor, seq, tenths.
        let key = format!("sensor-{}", seq % 7);
        let mut framed = vec![0, 0, 0, 0, 1];
        strata::encode::write_long(&mut framed, 0);
        strata::encode::write_bytes(&mut framed, key.as_bytes());
        strata::encode::write_long(&mut framed, seq);
        strata::encode::write_long(&mut framed, 3 * seq);
        let id = format!("reading-{seq}");
        let headers = OwnedHeaders::new().insert(Header { key: "ce_id", value: Some(&id) });
        let mut record = BaseRecord::to(topic)
            .key(key.as_bytes())
            .payload(&framed)
            .headers(headers)
            .timestamp(BASE_MILLIS + seq)
            .partition(strata::kafka::partition_of(key.as_bytes(), partitions));
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    producer.poll(Duration::from_millis(10));
                    record = back;
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    println!("seeded {count}");
}

fn partitions(brokers: &str, topic: &str) -> i32 {
    let consumer: BaseConsumer = client(brokers).create().unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    metadata.topics()[0].partitions().len() as i32
}

fn replay(brokers: &str, topic: &str, dead_letters: &str, refuse: Option<i64>) {
    let mut config = ReplayConfig::new(brokers);
    config.topic = Some(topic.to_owned());
    config.mode = Mode::CatchUp;
    config.dead_letter_topic = Some(dead_letters.to_owned());
    let replay = Replay::<ReadingEvent>::new(config, source()).unwrap();
    let report = replay.run(&mut Refusing(refuse)).unwrap();
    println!(
        "replayed events={} dead-lettered={} parked={}",
        report.events, report.dead_lettered, report.parked
    );
}

fn migrate_topic(brokers: &str, from: &str, to: &str, dead_letters: &str) {
    let mut config = MigrateConfig::new(brokers, from, to);
    config.dead_letter_topic = Some(dead_letters.to_owned());
    let transcoder = Transcoder::<ReadingEvent>::new(source()).unwrap();
    let report = migrate(&config, &transcoder).unwrap();
    println!("migrated dead-lettered={}", report.dead_lettered);
}

/// Refuses the redriven reading of one seq, so it is dead-lettered again.
struct Refusing(Option<i64>);

impl Projection<ReadingEvent> for Refusing {
    fn apply(&mut self, event: ReadingEvent, position: &Position<'_>) -> Result<(), ApplyError> {
        let ReadingEvent::Reading(reading) = event;
        let redriven = position.headers.get(REDRIVE_FROM).is_some();
        if redriven && Some(reading.seq) == self.0 {
            return Err("refused on purpose".into());
        }
        Ok(())
    }
}

fn run_redrive(config: &RedriveConfig) {
    let transcoder = Transcoder::<ReadingEvent>::new(source()).unwrap();
    let report = redrive(config, &transcoder, &mut |report| {
        println!(
            "progress redriven={} already={} found={}",
            report.redriven, report.already_redriven, report.found_at_start
        );
    });
    match report {
        Ok(report) => {
            for held in report.still_failing.iter().take(3).chain(report.looped.iter().take(3)) {
                println!("held {held}");
            }
            println!(
                "done read={} redriven={} already={} found={} failing={} looped={}",
                report.read,
                report.redriven,
                report.already_redriven,
                report.found_at_start,
                report.still_failing.len(),
                report.looped.len()
            );
        }
        Err(e) => {
            eprintln!("redriver: {}", strata::error::Chain(&e));
            std::process::exit(2)
        }
    }
}

/// The redrive's invariant, checked from outside: no record in the target whose dead letter's
/// offset the group has not committed lies before its partition's mark (a next run would not
/// find it, and would redrive the letter again). Prints `marks violations=N checked=M`.
fn marks(brokers: &str, from: &str, to: &str) {
    let group = RedriveConfig::new(brokers, from, to).group();
    let consumer: BaseConsumer = client(brokers).set("group.id", &group).create().unwrap();
    let mut wanted = TopicPartitionList::new();
    for (topic, count) in [(from, partitions(brokers, from)), (to, partitions(brokers, to))] {
        for p in 0..count {
            wanted.add_partition(topic, p);
        }
    }
    let committed = consumer.committed_offsets(wanted, Duration::from_secs(10)).unwrap();
    let offset = |topic: &str, p: i32| match committed.find_partition(topic, p).map(|e| e.offset())
    {
        Some(Offset::Offset(o)) => o,
        _ => 0,
    };
    let prefix = format!("{from}/");
    let (mut violations, mut checked) = (0, 0);
    for message in read_all(brokers, to) {
        let from_header = message.headers().and_then(|h| {
            h.iter()
                .filter(|x| x.key == REDRIVE_FROM)
                .last()
                .and_then(|x| x.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        });
        let Some((p, o)) = from_header
            .as_deref()
            .and_then(|v| v.strip_prefix(&prefix))
            .and_then(|v| v.split_once('/'))
            .and_then(|(p, o)| Some((p.parse::<i32>().ok()?, o.parse::<i64>().ok()?)))
        else {
            continue;
        };
        if o >= offset(from, p) {
            checked += 1;
            if message.offset() < offset(to, message.partition()) {
                violations += 1;
            }
        }
    }
    println!("marks violations={violations} checked={checked}");
}

/// Every record of `topic` up to its ends now.
fn read_all(brokers: &str, topic: &str) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer: BaseConsumer = client(brokers).set("group.id", "read-all").create().unwrap();
    let mut assignment = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in 0..partitions(brokers, topic) {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).unwrap();
        if high > low {
            ends.insert(p, high);
            assignment.add_partition_offset(topic, p, Offset::Offset(low)).unwrap();
        }
    }
    consumer.assign(&assignment).unwrap();
    let mut out = Vec::new();
    while !ends.is_empty() {
        let Some(message) = consumer.poll(Duration::from_secs(10)) else {
            usage("the topic stopped before its end")
        };
        let message = message.unwrap();
        if message.offset() + 1 >= ends.get(&message.partition()).copied().unwrap_or(0) {
            ends.remove(&message.partition());
        }
        out.push(message.detach());
    }
    out
}

fn verify(brokers: &str, topic: &str, count: i64) {
    let decoder = Decoder::<ReadingEvent>::new(source()).unwrap();
    // Every record of the topic, counted by its event id.
    let mut seen: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    for message in read_all(brokers, topic) {
        let header = |name: &str| {
            message.headers().and_then(|h| {
                h.iter().filter(|x| x.key == name).last().and_then(|x| x.value).map(|v| v.to_vec())
            })
        };
        let ReadingEvent::Reading(reading) = decoder.decode(message.payload().unwrap()).unwrap();
        let seq = reading.seq;
        *seen.entry(header("ce_id").unwrap_or_default()).or_default() += 1;
        let key = format!("sensor-{}", seq % 7);
        if reading.celsius != (3 * seq) as f64 / 10.0 || reading.sensor != key {
            problems.push(format!("seq {seq}: {reading:?}"));
        }
        if message.key() != Some(key.as_bytes()) {
            problems.push(format!("seq {seq}: key {:?}", message.key()));
        }
        if message.timestamp().to_millis() != Some(BASE_MILLIS + seq) {
            problems.push(format!("seq {seq}: timestamp {:?}", message.timestamp()));
        }
        if header("ce_id") != Some(format!("reading-{seq}").into_bytes()) {
            problems.push(format!("seq {seq}: ce_id {:?}", header("ce_id")));
        }
        if header(REDRIVE_FROM).is_none() {
            problems.push(format!("seq {seq}: no {REDRIVE_FROM} header"));
        }
        if header("strata.error").is_some() || header("strata.source.offset").is_some() {
            problems.push(format!("seq {seq}: the dead-lettering's headers are still there"));
        }
    }
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    let missing =
        (0..count).filter(|s| !seen.contains_key(format!("reading-{s}").as_bytes())).count();
    for problem in problems.iter().take(5) {
        println!("problem {problem}");
    }
    println!("verified distinct={} duplicates={duplicates} missing={missing}", seen.len());
    if !problems.is_empty() {
        std::process::exit(1);
    }
}
