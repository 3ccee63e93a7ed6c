//! Outages of the services a job needs (the broker, PostgreSQL, the registry), begun by the
//! job's own hook at a chosen point of its work, never by timing, and ended when the job gives
//! up (as an operator would fix it then) or after a bound, whichever comes first. With a
//! supervisor loop that starts the job again after each failure, as a deployment does, a test
//! shows what the job guarantees across the outages: the outage lands mid-work every time, and
//! whether the job stops or rides through, the outcome is checked by event identity.

#![allow(dead_code)] // Each test binary uses its own part of the helpers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::broker::Broker;
use super::postgres::Postgres;
use super::registry::TestRegistry;

/// Consumer settings that fetch little ahead of the job, so an outage begun mid-work is met
/// within a few records instead of after everything already fetched.
pub fn fetch_little_ahead() -> [(String, String); 2] {
    [
        ("fetch.message.max.bytes".into(), "4096".into()),
        ("queued.max.messages.kbytes".into(), "16".into()),
    ]
}

/// A service a test takes down and brings back.
pub trait Service: Send {
    fn take_down(&mut self);
    fn bring_back(&mut self);
}

impl Service for Broker {
    fn take_down(&mut self) {
        self.stop();
    }

    fn bring_back(&mut self) {
        self.start_again();
    }
}

impl Service for Postgres {
    fn take_down(&mut self) {
        self.stop_immediate();
    }

    fn bring_back(&mut self) {
        self.start_again();
    }
}

impl Service for TestRegistry {
    fn take_down(&mut self) {
        self.stop_keeping_address();
    }

    fn bring_back(&mut self) {
        self.start_again();
    }
}

struct State {
    service: Box<dyn Service>,
    /// The outage under way, by its number (1 for the first).
    down: Option<usize>,
}

/// Outages of one service; cloned into the job's hook.
#[derive(Clone)]
pub struct Outages {
    state: Arc<Mutex<State>>,
    begun: Arc<AtomicUsize>,
    longest: Duration,
}

impl Outages {
    /// Outages of `service`, each ended after `longest` at the latest.
    pub fn new(service: impl Service + 'static, longest: Duration) -> Self {
        let state = State { service: Box::new(service), down: None };
        Outages { state: Arc::new(Mutex::new(state)), begun: Arc::default(), longest }
    }

    /// Takes the service down now (a no-op while it is down), and back after `longest` unless
    /// [`Outages::end`] comes first.
    pub fn begin(&self) {
        let mut state = self.state.lock().unwrap();
        if state.down.is_some() {
            return;
        }
        state.service.take_down();
        let number = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        state.down = Some(number);
        eprintln!("outage {number} begun");
        // The timer holds no strong reference: a test that ends drops its service at once.
        let (state, begun, longest) =
            (Arc::downgrade(&self.state), self.begun.clone(), self.longest);
        std::thread::spawn(move || {
            std::thread::sleep(longest);
            if let Some(state) = state.upgrade() {
                Outages { state, begun, longest }.end_number(Some(number));
            }
        });
    }

    /// Ends the outage under way, if any.
    pub fn end(&self) {
        self.end_number(None);
    }

    fn end_number(&self, only: Option<usize>) {
        let mut state = self.state.lock().unwrap();
        let Some(number) = state.down else { return };
        if only.is_some_and(|only| only != number) {
            return;
        }
        state.service.bring_back();
        state.down = None;
        eprintln!("outage {number} ended");
    }

    /// How many outages were begun.
    pub fn begun(&self) -> usize {
        self.begun.load(Ordering::SeqCst)
    }
}

/// Runs `job` until it succeeds, as a supervisor restarting a service would: after each
/// failure, ends the outage under way and runs it again. Returns the result and each
/// failure's error chain; panics after `limit` failures.
pub fn supervise<T>(
    outages: &Outages,
    limit: usize,
    mut job: impl FnMut() -> Result<T, String>,
) -> (T, Vec<String>) {
    let mut failures = Vec::new();
    loop {
        match job() {
            Ok(done) => return (done, failures),
            Err(chain) => {
                eprintln!("failure {}: {chain}", failures.len() + 1);
                failures.push(chain);
                assert!(failures.len() <= limit, "{limit} failures: {failures:#?}");
                outages.end();
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// An error with its causes, for [`supervise`].
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    strata::error::Chain(error).to_string()
}
