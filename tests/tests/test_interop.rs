//! Interoperability with Confluent's own Python client through a real Schema Registry
//! (strata's local one): records its `AvroSerializer` writes with every version of a subject
//! decode with strata, whose registry client fetches each schema by id, into the latest type;
//! records strata encodes (the id looked up through its client) are read back by its
//! `AvroDeserializer`, with the same values.

mod support;

use std::sync::Arc;
use support::registry;

use serde_json::{Value, json};
use strata::Event;
use strata::codec::registry::{Registry, RegistryConfig};
use strata::codec::{Decoder, Encoder};
use strata_tests::bank::AccountEvent;
use strata_tests::shop::OrderEvent;

fn schemas<E: Event>() -> Vec<String> {
    let dir = support::root().join("schemas").join(E::subject());
    (1..=E::VERSION)
        .map(|v| std::fs::read_to_string(dir.join(format!("v{v}.avsc"))).unwrap())
        .collect()
}

fn job<E: Event>(url: &str) -> Value {
    json!({"url": url, "subject": E::subject(), "topic": E::TOPIC, "schemas": schemas::<E>()})
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

fn round_trip_with_confluent<E: Event + std::fmt::Debug + PartialEq>() {
    let sr = registry::TestRegistry::start("interop");
    // The example domains declare breaks (a retired event, a retyped field), which no
    // compatibility level admits: the subject is registered at NONE.
    let (status, _) = sr.call(
        "PUT",
        &format!("/config/{}", E::subject()),
        Some(&json!({"compatibility": "NONE"})),
    );
    assert_eq!(status, 200);
    let job = job::<E>(&sr.url());
    let out = support::run_python("confluent_interop.py", &["produce", "25"], &job.to_string());
    let produced: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(produced.len(), 25 * E::VERSION as usize);
    assert_eq!(
        sr.get(&format!("/subjects/{}/versions", E::subject())).1,
        json!((1..=E::VERSION).collect::<Vec<_>>())
    );

    // strata reads through its registry client: each id fetched once, then cached.
    let source = Arc::new(Registry::new(RegistryConfig::new(sr.url())));
    let decoder = Decoder::<E>::new(source.clone()).unwrap();
    let mut events = Vec::new();
    for record in &produced {
        let version = record["version"].as_u64().unwrap() as u32;
        assert_eq!(record["id"].as_u64().unwrap() as u32, version);
        let event = decoder
            .decode(&unhex(record["framed"].as_str().unwrap()))
            .unwrap_or_else(|e| panic!("{e}\nrecord: {record}"));
        if version == E::VERSION {
            // Written with the latest schema: the very values Python wrote.
            assert_eq!(event.to_json().unwrap(), record["value"], "{event:?}");
        }
        events.push(event);
    }

    let encoder = Encoder::<E>::new(source.as_ref()).unwrap();
    assert_eq!(encoder.schema_id(), E::VERSION);
    let records: Vec<String> = events
        .iter()
        .map(|event| {
            let mut framed = Vec::new();
            encoder.encode(event, &mut framed);
            hex(&framed)
        })
        .collect();
    let mut consume = job;
    consume["records"] = json!(records);
    let out = support::run_python("confluent_interop.py", &["consume"], &consume.to_string());
    let read: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(read.len(), events.len());
    for (event, theirs) in events.iter().zip(&read) {
        assert_eq!(theirs["id"], json!(E::VERSION));
        assert_eq!(theirs["value"], event.to_json().unwrap(), "{event:?}");
    }
}

#[test]
fn bank_records_cross_the_confluent_python_client_both_ways() {
    round_trip_with_confluent::<AccountEvent>();
}

#[test]
fn shop_records_cross_the_confluent_python_client_both_ways() {
    round_trip_with_confluent::<OrderEvent>();
}

#[test]
fn the_registry_client_asks_once_per_id_however_many_threads_decode_at_once() {
    let sr = registry::TestRegistry::start("client-cache");
    sr.call(
        "PUT",
        &format!("/config/{}", AccountEvent::subject()),
        Some(&json!({"compatibility": "NONE"})),
    );
    let ids: Vec<u32> = schemas::<AccountEvent>()
        .iter()
        .map(|text| sr.register(&AccountEvent::subject(), text) as u32)
        .collect();
    // Records of every version, framed with the registry's ids.
    let job = job::<AccountEvent>(&sr.url());
    let out = support::run_python("confluent_interop.py", &["produce", "5"], &job.to_string());
    let records: Vec<Vec<u8>> = out
        .lines()
        .map(|l| unhex(serde_json::from_str::<Value>(l).unwrap()["framed"].as_str().unwrap()))
        .collect();
    let client = Arc::new(Registry::new(RegistryConfig::new(sr.url())));
    let decoder = Decoder::<AccountEvent>::new(client).unwrap();
    let before = sr.requests_served();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for record in &records {
                    decoder.decode(record).unwrap();
                }
            });
        }
    });
    assert_eq!(
        sr.requests_served() - before,
        ids.len() as u64,
        "one GET /schemas/ids/{{id}} per id"
    );
    // An id the registry does not have is a clear error naming it, asked once too.
    let mut unknown = records[0].clone();
    unknown[1..5].copy_from_slice(&999u32.to_be_bytes());
    let error = decoder.decode(&unknown).unwrap_err().to_string();
    assert!(error.contains("999"), "{error}");
}

#[test]
fn the_record_name_strategies_cross_the_confluent_python_client_both_ways() {
    use rdkafka::Message;
    use strata::kafka::append::{AppendConfig, Appender};
    use strata::subject::SubjectStrategy;
    type Subject = fn(&str, &str) -> String;
    let strategies: [(SubjectStrategy, &str, Subject); 2] = [
        (SubjectStrategy::Record, "record", |_, name| name.to_owned()),
        (SubjectStrategy::TopicRecord, "topic_record", |topic, name| format!("{topic}-{name}")),
    ];
    for (strategy, python, subject_of) in strategies {
        let sr = registry::TestRegistry::start(&format!("strategy-{python}"));
        let (broker, topic) = support::kafka::start(&format!("strategy-{python}"), 1);
        // Python writes each event record of the latest union under its own subject.
        let latest = AccountEvent::schema(AccountEvent::VERSION).unwrap().to_json();
        let records: Vec<String> =
            latest.as_array().unwrap().iter().map(Value::to_string).collect();
        // Subjects follow the event type's topic, whatever topic carries the records.
        let job = json!({"url": sr.url(), "subject": "", "topic": "bank.accounts",
                         "schemas": records, "strategy": python});
        let out = support::run_python("confluent_interop.py", &["produce", "5"], &job.to_string());
        let produced: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(produced.len(), 15);
        let subjects = sr.get("/subjects").1;
        for name in ["AccountOpened", "MoneyDeposited", "AccountFrozen"] {
            let subject = subject_of("bank.accounts", &format!("com.example.bank.{name}"));
            assert!(
                subjects.as_array().unwrap().contains(&json!(subject)),
                "{subject}: {subjects}"
            );
        }

        // strata reads them into the event type: the very values Python wrote.
        let decoder =
            Decoder::<AccountEvent>::new(Arc::new(Registry::new(RegistryConfig::new(sr.url()))))
                .unwrap();
        let mut events = Vec::new();
        for record in &produced {
            let event = decoder.decode(&unhex(record["framed"].as_str().unwrap())).unwrap();
            assert_eq!(event.to_json().unwrap(), record["value"], "{python}: {event:?}");
            events.push(event);
        }

        // strata appends them under the same strategy (the same subjects, so the same ids);
        // Python reads them back.
        let mut config = AppendConfig::new(broker.brokers());
        config.topic = Some(topic.clone());
        config.subject_strategy = strategy;
        let appender =
            Appender::<AccountEvent>::new(config, &Registry::new(RegistryConfig::new(sr.url())))
                .unwrap();
        appender.append(b"account-1", &events).unwrap();
        let framed: Vec<String> = support::kafka::read(&broker.brokers(), &topic, events.len())
            .iter()
            .map(|m| hex(m.payload().unwrap()))
            .collect();
        let python_ids: Vec<&Value> = produced.iter().map(|r| &r["id"]).collect();
        let consume = json!({"url": sr.url(), "subject": "", "topic": "bank.accounts",
                             "records": framed, "strategy": python});
        let out = support::run_python("confluent_interop.py", &["consume"], &consume.to_string());
        let read: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(read.len(), events.len());
        for ((event, theirs), id) in events.iter().zip(&read).zip(python_ids) {
            assert_eq!(&theirs["id"], id, "the record subject's id, as Python registered it");
            assert_eq!(theirs["value"], event.to_json().unwrap(), "{python}: {event:?}");
        }
    }
}

/// An Avro key (`#[strata(key = OrderKey)]`) crosses Confluent's Python client both ways:
/// strata reads the keys its `AvroSerializer` writes under `<topic>-key`, appends with the very
/// same bytes, Python reads the keys of strata's records, and an aggregate loads by its key.
#[test]
fn an_avro_key_crosses_the_confluent_python_client_both_ways() {
    use rdkafka::Message;
    use strata::codec::key::KeyDecoder;
    use strata::event::KeyType;
    use strata::kafka::append::{AppendConfig, Appender, Metadata};
    use strata::kafka::replay::{Aggregate, Replay, ReplayConfig};
    use strata_tests::shop::{OrderCancelled, OrderKey};

    let sr = registry::TestRegistry::start("avro-key");
    let (broker, topic) = support::kafka::start("avro-key", 3);
    let schema = OrderKey::key_schema(1).unwrap().to_json().to_string();
    let job = json!({"url": sr.url(), "subject": "", "topic": "shop.orders", "schemas": [schema],
                     "field": "key"});
    let out = support::run_python("confluent_interop.py", &["produce", "6"], &job.to_string());
    let produced: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(produced.len(), 6);
    assert_eq!(sr.get("/subjects").1, json!(["shop.orders-key"]));

    let registry = Arc::new(Registry::new(RegistryConfig::new(sr.url())));
    let decoder = KeyDecoder::<OrderKey>::new("shop.orders", registry.clone()).unwrap();
    let appender = {
        let mut config = AppendConfig::new(broker.brokers());
        config.topic = Some(topic.clone());
        // The values' schema is registered as the appender first needs it.
        let mut registering = RegistryConfig::new(sr.url());
        registering.auto_register = true;
        Appender::<OrderEvent>::new(config, &Registry::new(registering)).unwrap()
    };
    let mut keys = Vec::new();
    for record in &produced {
        let framed = unhex(record["framed"].as_str().unwrap());
        let key = decoder.decode(&framed).unwrap();
        assert_eq!(json!(key.order_id.to_string()), record["value"]["order_id"]);
        // strata frames the same key with the same id into the same bytes: the same partition.
        assert_eq!(appender.key_bytes(&key).unwrap(), framed);
        keys.push(key);
    }
    // A key that is not one: a clear error naming the topic, not a panic.
    let error = decoder.decode(&[0, 0, 0]).unwrap_err().to_string();
    assert!(error.contains("shop.orders"), "{error}");

    for (n, key) in keys.iter().enumerate() {
        let events: Vec<OrderEvent> = (0..=n % 2)
            .map(|i| {
                OrderEvent::Cancelled(OrderCancelled {
                    order_id: key.order_id,
                    reason: format!("reason {i}"),
                    refunded: i == 1,
                })
            })
            .collect();
        appender.append_key(key, &events, &Metadata::default()).unwrap();
    }

    // Python reads the keys of strata's records.
    let framed: Vec<String> = support::kafka::read(&broker.brokers(), &topic, 9)
        .iter()
        .map(|m| hex(m.key().unwrap()))
        .collect();
    let consume = json!({"url": sr.url(), "subject": "", "topic": "shop.orders",
                         "records": framed, "field": "key"});
    let out = support::run_python("confluent_interop.py", &["consume"], &consume.to_string());
    let mut theirs: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["value"]["order_id"].to_string())
        .collect();
    theirs.sort();
    let mut ours: Vec<String> = keys
        .iter()
        .enumerate()
        .flat_map(|(n, k)| {
            std::iter::repeat_n(json!(k.order_id.to_string()).to_string(), n % 2 + 1)
        })
        .collect();
    ours.sort();
    assert_eq!(theirs, ours);

    // One order loads by its Avro key.
    #[derive(Default)]
    struct Reasons(Vec<String>);
    impl Aggregate<OrderEvent> for Reasons {
        fn apply(&mut self, event: OrderEvent) {
            if let OrderEvent::Cancelled(c) = event {
                self.0.push(c.reason);
            }
        }
    }
    let mut config = ReplayConfig::new(broker.brokers());
    config.topic = Some(topic.clone());
    let replay = Replay::<OrderEvent>::new(config, registry.clone()).unwrap();
    let loaded = replay.load::<Reasons>(&appender.key_bytes(&keys[1]).unwrap()).unwrap();
    assert_eq!(loaded.aggregate.0, ["reason 0", "reason 1"]);
}
