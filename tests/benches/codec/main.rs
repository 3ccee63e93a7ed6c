//! Decode and encode speed, strata against apache-avro's best paths and a hand-written
//! yardstick, on three data shapes, each written with an old version and with the latest.
//!
//! Run: `cargo bench -p strata-tests --bench codec`; the table in BENCHMARKS.md comes from it.

mod handwritten;
mod shapes;
#[path = "../../tests/support/mod.rs"]
mod support;

use apache_avro::Schema;
use apache_avro::types::Value;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde::de::DeserializeOwned;
use std::hint::black_box;
use strata::decode::Reader;
use strata::schema::SchemaCx;
use strata::{AvroType, Decode, Encode, Event};

use shapes::*;

/// How many distinct records one iteration decodes.
const BATCH: usize = 1000;

fn record_json<T: AvroType>(version: u32) -> serde_json::Value {
    T::schema(&mut SchemaCx::new(version, Some("bench"))).unwrap().to_json()
}

fn record_schema<T: AvroType>(version: u32) -> Schema {
    Schema::parse_str(&record_json::<T>(version).to_string()).unwrap()
}

fn event_json<E: Event>(version: u32) -> serde_json::Value {
    E::schema(version).unwrap().to_json()
}

fn event_schema<E: Event>(version: u32) -> Schema {
    Schema::parse_str(&event_json::<E>(version).to_string()).unwrap()
}

fn write_all(schema: &Schema, values: impl Iterator<Item = Value>) -> Vec<Vec<u8>> {
    let writer = apache_avro::writer::datum::GenericDatumWriter::builder(schema).build().unwrap();
    values.map(|v| writer.write_value_to_vec(v).unwrap()).collect()
}

/// apache-avro's `read_deser` for one type.
type ReadDeser<T> = fn(
    &apache_avro::reader::datum::GenericDatumReader<'_>,
    &mut &[u8],
) -> apache_avro::AvroResult<T>;

/// One shape at one writer version, with every contender.
struct Case<'a, T> {
    name: &'static str,
    version: u32,
    latest: u32,
    writer: Schema,
    reader: Schema,
    writer_json: serde_json::Value,
    reader_json: serde_json::Value,
    datums: Vec<Vec<u8>>,
    strata: fn(&mut Reader<'_>) -> Result<T, strata::DecodeError>,
    handwritten: fn(&mut handwritten::In<'_>, u32) -> Result<T, &'static str>,
    /// apache-avro's resolved value into the Rust type (serde `from_value`, or a match on the
    /// union branch for the topic union).
    from_value: &'a dyn Fn(Value) -> T,
    /// apache-avro's `read_deser` (serde straight from the bytes, no reader schema), for the
    /// types it applies to.
    deser: Option<ReadDeser<T>>,
}

/// Decodes one datum, dropping the result.
type DecodeOne = Box<dyn Fn(&[u8]) + Send>;

/// A case kept for the comparison with Avro Java ([`java_peer`]).
struct PeerCase {
    name: String,
    writer: serde_json::Value,
    reader: serde_json::Value,
    datums: Vec<Vec<u8>>,
    strata: DecodeOne,
    handwritten: DecodeOne,
}

static PEER_CASES: std::sync::Mutex<Vec<PeerCase>> = std::sync::Mutex::new(Vec::new());

fn run<T: PartialEq + std::fmt::Debug + 'static>(c: &mut Criterion, case: Case<'_, T>) {
    let label = if case.version == case.latest { "latest" } else { "old" };
    let (strata, handwritten, version) = (case.strata, case.handwritten, case.version);
    PEER_CASES.lock().unwrap().push(PeerCase {
        name: format!("{}-{label}", case.name),
        writer: case.writer_json.clone(),
        reader: case.reader_json.clone(),
        datums: case.datums.clone(),
        strata: Box::new(move |d| {
            black_box(strata(&mut Reader::new(d)).unwrap());
        }),
        handwritten: Box::new(move |d| {
            black_box(handwritten(&mut handwritten::In::new(d), version).unwrap());
        }),
    });
    let mut group = c.benchmark_group(format!("decode/{}/{label}", case.name));
    group.throughput(Throughput::Elements(case.datums.len() as u64));

    // Every contender must produce the same values, or the comparison means nothing.
    for d in &case.datums {
        let ours = (case.strata)(&mut Reader::new(d)).unwrap();
        let yardstick = (case.handwritten)(&mut handwritten::In::new(d), case.version).unwrap();
        assert_eq!(ours, yardstick);
    }

    group.bench_function("strata", |b| {
        b.iter(|| {
            for d in &case.datums {
                black_box((case.strata)(&mut Reader::new(black_box(d))).unwrap());
            }
        })
    });
    group.bench_function("handwritten", |b| {
        b.iter(|| {
            for d in &case.datums {
                black_box(
                    (case.handwritten)(&mut handwritten::In::new(black_box(d)), case.version)
                        .unwrap(),
                );
            }
        })
    });
    // apache-avro ignores aliases when resolving; given the writer schema with the reader's
    // aliases applied (as Avro Java does it), its resolving path can read renamed fields.
    let aliased = Schema::parse_str(
        &support::apply_aliases(&case.writer_json, &case.reader_json).to_string(),
    )
    .unwrap();
    let resolving = apache_avro::reader::datum::GenericDatumReader::builder(&aliased)
        .reader_schema(&case.reader)
        .build()
        .unwrap();
    group.bench_function("apache_avro_resolving", |b| {
        b.iter(|| {
            for d in &case.datums {
                let value = resolving.read_value(&mut &d[..]).unwrap();
                black_box((case.from_value)(value));
            }
        })
    });
    if let (Some(deser), true) = (case.deser, case.version == case.latest) {
        // Human-readable serde, so `uuid::Uuid` reads from Avro's uuid strings.
        let direct = apache_avro::reader::datum::GenericDatumReader::builder(&case.writer)
            .human_readable(true)
            .build()
            .unwrap();
        match deser(&direct, &mut &case.datums[0][..]) {
            Ok(_) => {
                group.bench_function("apache_avro_read_deser", |b| {
                    b.iter(|| {
                        for d in &case.datums {
                            black_box(deser(&direct, &mut &d[..]).unwrap());
                        }
                    })
                });
            }
            // Reported in BENCHMARKS.md: it cannot read a `uuid` string into `uuid::Uuid`.
            Err(e) => eprintln!("apache_avro_read_deser does not apply to {}: {e}", case.name),
        }
    }
    group.finish();
}

fn from_value<T: DeserializeOwned>(value: Value) -> T {
    apache_avro::from_value(&value).unwrap()
}

fn read_deser<T: DeserializeOwned>(
    reader: &apache_avro::reader::datum::GenericDatumReader<'_>,
    bytes: &mut &[u8],
) -> apache_avro::AvroResult<T> {
    reader.read_deser(bytes)
}

fn stream_from_value(value: Value) -> Stream {
    let Value::Union(branch, record) = value else { panic!("a union") };
    match branch {
        0 => Stream::Activity(from_value(*record)),
        1 => Stream::Payment(from_value(*record)),
        2 => Stream::Shipment(from_value(*record)),
        _ => Stream::Review(from_value(*record)),
    }
}

fn decode(c: &mut Criterion) {
    for version in [1, 2] {
        run(
            c,
            Case {
                name: "small",
                version,
                latest: 2,
                writer: record_schema::<Activity>(version),
                reader: record_schema::<Activity>(2),
                writer_json: record_json::<Activity>(version),
                reader_json: record_json::<Activity>(2),
                datums: write_all(
                    &record_schema::<Activity>(version),
                    (0..BATCH).map(|i| if version == 1 { activity_v1(i) } else { activity_v2(i) }),
                ),
                strata: if version == 1 { Activity::decode::<1> } else { Activity::decode::<2> },
                handwritten: handwritten::activity,
                from_value: &from_value::<Activity>,
                deser: Some(read_deser::<Activity>),
            },
        );
        run(
            c,
            Case {
                name: "nested",
                version,
                latest: 2,
                writer: record_schema::<Order>(version),
                reader: record_schema::<Order>(2),
                writer_json: record_json::<Order>(version),
                reader_json: record_json::<Order>(2),
                datums: write_all(
                    &record_schema::<Order>(version),
                    (0..BATCH).map(|i| if version == 1 { order_v1(i) } else { order_v2(i) }),
                ),
                strata: if version == 1 { Order::decode::<1> } else { Order::decode::<2> },
                handwritten: handwritten::order,
                from_value: &from_value::<Order>,
                deser: Some(read_deser::<Order>),
            },
        );
        run(
            c,
            Case {
                name: "union",
                version,
                latest: 2,
                writer: event_schema::<Stream>(version),
                reader: event_schema::<Stream>(2),
                writer_json: event_json::<Stream>(version),
                reader_json: event_json::<Stream>(2),
                datums: write_all(
                    &event_schema::<Stream>(version),
                    (0..BATCH).map(|i| stream(i, version)),
                ),
                strata: Stream::decoder(version).unwrap(),
                handwritten: handwritten::stream,
                from_value: &stream_from_value,
                deser: None,
            },
        );
    }
}

/// One shape decoded with the caller's options (small strings, a fast map hasher), next to the
/// `String` yardstick on the same bytes.
fn options_case<T, H>(
    c: &mut Criterion,
    shape: &str,
    version: u32,
    datums: &[Vec<u8>],
    strata: fn(&[u8]) -> T,
    yardstick: fn(&[u8], u32) -> H,
    same: fn(&T, &H) -> bool,
) {
    for d in datums {
        assert!(same(&strata(d), &yardstick(d, version)), "the two decoders disagree");
    }
    let label = if version == 2 { "latest" } else { "old" };
    let mut group = c.benchmark_group(format!("decode/{shape}/{label}/small strings"));
    group.throughput(Throughput::Elements(datums.len() as u64));
    group.bench_function("strata (CompactString, foldhash)", |b| {
        b.iter(|| {
            for d in datums {
                black_box(strata(black_box(d)));
            }
        })
    });
    group.bench_function("handwritten (String)", |b| {
        b.iter(|| {
            for d in datums {
                black_box(yardstick(black_box(d), version));
            }
        })
    });
    group.finish();
}

fn sorted<'a>(map: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
    let mut entries: Vec<_> = map.collect();
    entries.sort_unstable();
    entries
}

/// Every shape decoded into small strings (and a map with a fast hasher), separately.
fn decode_small_strings(c: &mut Criterion) {
    for version in [1u32, 2] {
        let datums = write_all(
            &record_schema::<Activity>(version),
            (0..BATCH).map(|i| if version == 1 { activity_v1(i) } else { activity_v2(i) }),
        );
        options_case(
            c,
            "small",
            version,
            &datums,
            if version == 1 {
                |d| ActivityCompact::decode::<1>(&mut Reader::new(d)).unwrap()
            } else {
                |d| ActivityCompact::decode::<2>(&mut Reader::new(d)).unwrap()
            },
            |d, v| handwritten::activity(&mut handwritten::In::new(d), v).unwrap(),
            |a, b| {
                (a.user.as_str(), a.email.as_str(), a.count)
                    == (b.user.as_str(), b.email.as_str(), b.count)
            },
        );

        let datums = write_all(
            &record_schema::<Order>(version),
            (0..BATCH).map(|i| if version == 1 { order_v1(i) } else { order_v2(i) }),
        );
        options_case(
            c,
            "nested",
            version,
            &datums,
            if version == 1 {
                |d| OrderCompact::decode::<1>(&mut Reader::new(d)).unwrap()
            } else {
                |d| OrderCompact::decode::<2>(&mut Reader::new(d)).unwrap()
            },
            |d, v| handwritten::order(&mut handwritten::In::new(d), v).unwrap(),
            |a, b| {
                a.customer.name == b.customer.name
                    && a.lines
                        .iter()
                        .map(|l| l.sku.as_str())
                        .eq(b.lines.iter().map(|l| l.sku.as_str()))
                    && sorted(a.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                        == sorted(b.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    && (a.status.as_str(), a.currency.as_str())
                        == (b.status.as_str(), b.currency.as_str())
            },
        );

        let datums =
            write_all(&event_schema::<Stream>(version), (0..BATCH).map(|i| stream(i, version)));
        options_case(
            c,
            "union",
            version,
            &datums,
            if version == 1 {
                |d| (StreamCompact::decoder(1).unwrap())(&mut Reader::new(d)).unwrap()
            } else {
                |d| (StreamCompact::decoder(2).unwrap())(&mut Reader::new(d)).unwrap()
            },
            |d, v| handwritten::stream(&mut handwritten::In::new(d), v).unwrap(),
            |a, b| match (a, b) {
                (StreamCompact::Activity(a), Stream::Activity(b)) => a.user == b.user,
                (StreamCompact::Payment(a), Stream::Payment(b)) => a.currency == b.currency,
                (StreamCompact::Shipment(a), Stream::Shipment(b)) => a.carrier == b.carrier,
                (StreamCompact::Review(a), Stream::Review(b)) => a.text == b.text,
                _ => false,
            },
        );
    }
}

/// The median time of decoding `datums` once, after a warm-up, by the same method as the Java
/// harness: batches timed until `budget` is spent.
fn median_batch(datums: &[Vec<u8>], decode: &dyn Fn(&[u8]), budget: std::time::Duration) -> f64 {
    use std::time::Instant;
    let warm = Instant::now();
    while warm.elapsed() < budget / 2 {
        datums.iter().for_each(|d| decode(black_box(d)));
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || samples.len() < 20 {
        let batch = Instant::now();
        datums.iter().for_each(|d| decode(black_box(d)));
        samples.push(batch.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Avro Java's `GenericDatumReader` (Debian's Avro Java 1.8.2, the one installable here) on the
/// same bytes, writer and reader schemas, timed by its own harness in this run, next to strata
/// and the hand-written decoder timed the same way.
fn java_peer(_: &mut Criterion) {
    // Like criterion's groups, it runs when no filter is given or the filter names it.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-') && a != "--bench");
    if filter.is_some_and(|f| !f.contains("java")) {
        return;
    }
    let available = std::path::Path::new("/usr/share/java/avro.jar").exists()
        && std::process::Command::new("javac").arg("-version").output().is_ok();
    if !available {
        eprintln!("java peer: skipped (run scripts/setup-java.sh to install a JDK and Avro Java)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("strata-java-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = PEER_CASES.lock().unwrap();
    let mut names = String::new();
    for case in cases.iter() {
        std::fs::write(dir.join(format!("{}.writer.avsc", case.name)), case.writer.to_string())
            .unwrap();
        std::fs::write(dir.join(format!("{}.reader.avsc", case.name)), case.reader.to_string())
            .unwrap();
        let mut bytes = (case.datums.len() as u32).to_be_bytes().to_vec();
        for d in &case.datums {
            bytes.extend_from_slice(&(d.len() as u32).to_be_bytes());
            bytes.extend_from_slice(d);
        }
        std::fs::write(dir.join(format!("{}.datums", case.name)), bytes).unwrap();
        names.push_str(&case.name);
        names.push('\n');
    }
    std::fs::write(dir.join("cases.txt"), names).unwrap();
    let budget = std::time::Duration::from_secs(3);
    let out = support::java("DecodeBench")
        .arg(&dir)
        .arg(budget.as_millis().to_string())
        .output()
        .expect("java runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let java: std::collections::HashMap<String, f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(n, t)| (n.to_owned(), t.parse().unwrap())))
        .collect();
    println!("\njava peer (µs per {BATCH} records, median batch, same harness on both sides):");
    println!(
        "| shape / writer | strata | hand-written | Avro Java 1.8.2 GenericDatumReader | strata / Java |"
    );
    println!("|---|---|---|---|---|");
    for case in cases.iter() {
        let ours = median_batch(&case.datums, &*case.strata, budget);
        let yardstick = median_batch(&case.datums, &*case.handwritten, budget);
        let theirs = java[&case.name];
        println!(
            "| {} | {ours:.0} | {yardstick:.0} | {theirs:.0} | {:.2} |",
            case.name.replace('-', " / "),
            ours / theirs
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn encode(c: &mut Criterion) {
    let schema = record_schema::<Activity>(2);
    let values: Vec<Activity> = write_all(&schema, (0..BATCH).map(activity_v2))
        .iter()
        .map(|d| Activity::decode::<2>(&mut Reader::new(d)).unwrap())
        .collect();
    let mut group = c.benchmark_group("encode/small");
    group.throughput(Throughput::Elements(values.len() as u64));
    // The same bytes from every contender.
    // Human-readable serde, so `uuid::Uuid` writes Avro's uuid strings.
    let apache = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
        .human_readable(true)
        .build()
        .unwrap();
    for v in &values {
        let mut ours = Vec::new();
        v.encode(&mut ours);
        let mut theirs = Vec::new();
        handwritten::encode_activity(v, &mut theirs);
        assert_eq!(ours, theirs);
        assert_eq!(ours, apache.write_ser_to_vec(v).unwrap());
    }
    let mut out = Vec::with_capacity(512);
    group.bench_function(BenchmarkId::new("strata", "reused buffer"), |b| {
        b.iter(|| {
            for v in &values {
                out.clear();
                black_box(v).encode(&mut out);
                black_box(&out);
            }
        })
    });
    group.bench_function(BenchmarkId::new("handwritten", "reused buffer"), |b| {
        b.iter(|| {
            for v in &values {
                out.clear();
                handwritten::encode_activity(black_box(v), &mut out);
                black_box(&out);
            }
        })
    });
    group.bench_function("apache_avro_write_ser", |b| {
        b.iter(|| {
            for v in &values {
                black_box(apache.write_ser_to_vec(black_box(v)).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = decode, decode_small_strings, java_peer, encode
}
criterion_main!(benches);
