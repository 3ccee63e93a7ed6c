//! The async face against a real broker: a tokio `Stream` of decoded events, in order per key
//! with their envelopes, whose first record of a schema id fetches the schema without holding
//! the runtime's only thread; offsets are committed for records marked done.

mod support;

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
