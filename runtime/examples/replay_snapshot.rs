//! Append events to Kafka, replay the topic into a state kept with snapshots, and replay again
//! from the snapshot: the second run reads only the events appended after it.
//!
//! Needs a Kafka-protocol broker: `scripts/broker.sh` in a checkout of strata starts the
//! development one on 127.0.0.1:9092 (set `KAFKA_BOOTSTRAP_SERVERS` for another).
//!
//! ```sh
//! cargo run -p strata-es --features kafka --example replay_snapshot
//! ```

use std::sync::Arc;

use strata::kafka::append::{AppendConfig, Appender};
use strata::kafka::record::{ApplyError, Position};
use strata::kafka::replay::{Projection, Replay, ReplayConfig};
use strata::snapshot::DirStore;
use strata::{Event, LocalSource};

#[path = "support/broker.rs"]
mod broker;

/// A counter's events.
#[derive(strata::Event, Debug, Clone, PartialEq)]
#[strata(topic = "examples.counters", namespace = "com.example.counters", version = 1)]
pub enum CounterEvent {
    Incremented(Incremented),
}

/// A counter went up.
#[derive(strata::Record, Debug, Clone, PartialEq)]
pub struct Incremented {
    pub by: i64,
}

/// The state a replay builds and snapshots: a `Record`, so a snapshot of an older shape is
/// upcast like an old event.
#[derive(strata::Record, Debug, Clone, Default, PartialEq)]
#[strata(namespace = "com.example.counters")]
pub struct Totals {
    pub events: i64,
    pub sum: i64,
}

impl Projection<CounterEvent> for Totals {
    fn apply(&mut self, event: CounterEvent, _: &Position<'_>) -> Result<(), ApplyError> {
        let CounterEvent::Incremented(Incremented { by }) = event;
        self.events += 1;
        self.sum += by;
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let brokers = broker::reachable_or_exit();
    let topic = broker::fresh_topic(&brokers, "examples.counters")?;
    let source = Arc::new(LocalSource::new());
    for version in 1..=CounterEvent::VERSION {
        let schema = CounterEvent::schema(version)?.to_json().to_string();
        source.insert(version, &CounterEvent::subject(), &schema)?;
    }

    let mut append = AppendConfig::new(&brokers);
    append.topic = Some(topic.clone());
    let appender = Appender::<CounterEvent>::new(append, source.as_ref())?;
    let events: Vec<_> =
        (1..=1000).map(|by| CounterEvent::Incremented(Incremented { by })).collect();
    appender.append(b"counter-1", &events)?;

    let dir = std::env::temp_dir().join(format!("strata-example-{}", std::process::id()));
    let store = DirStore::new(&dir, "totals");
    let mut config = ReplayConfig::new(&brokers);
    config.topic = Some(topic.clone());
    let replay = Replay::<CounterEvent>::new(config, source)?;

    let (totals, report) = replay.run_with_snapshots::<Totals>(&store, &mut |_| true)?;
    println!("first run: {} events read, {totals:?} (snapshot saved)", report.events);

    appender.append(b"counter-1", &[CounterEvent::Incremented(Incremented { by: 5 })])?;
    let (totals, report) = replay.run_with_snapshots::<Totals>(&store, &mut |_| true)?;
    println!("second run: {} event(s) read after the snapshot, {totals:?}", report.events);
    assert_eq!((report.events, totals.sum), (1, 500_500 + 5));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
