//! A strata registry for one test: started on a free port over a fresh directory, called over
//! HTTP as any client would, stopped and removed when dropped.

#![allow(dead_code)] // Each test binary uses its own part of the helpers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;
use strata_registry::{Config, Server};

pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

pub struct TestRegistry {
    server: Option<Server>,
    pub dir: PathBuf,
    pub config: Config,
    agent: ureq::Agent,
}

/// A directory no other test uses.
pub fn fresh_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("strata-sr-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

impl TestRegistry {
    pub fn start(name: &str) -> Self {
        Self::with_config(Config::new(fresh_dir(name)))
    }

    pub fn with_config(config: Config) -> Self {
        let server = Server::start(config.clone()).expect("the registry starts");
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
        TestRegistry { server: Some(server), dir: config.dir.clone(), config, agent }
    }

    pub fn requests_served(&self) -> u64 {
        self.server.as_ref().expect("running").requests_served()
    }

    pub fn url(&self) -> String {
        self.server.as_ref().expect("running").url()
    }

    /// Stops the server (if running) and starts another over the same directory (on a new
    /// port).
    pub fn restart(&mut self) {
        self.stop();
        self.server = Some(Server::start(self.config.clone()).expect("the registry restarts"));
    }

    /// Stops the server, keeping its address for [`TestRegistry::start_again`]: its clients
    /// meet a refused connection until then.
    pub fn stop_keeping_address(&mut self) {
        if let Some(server) = &self.server {
            self.config.listen = server.addr();
        }
        self.stop();
    }

    /// The URL of the address kept by [`TestRegistry::stop_keeping_address`].
    pub fn url_kept(&self) -> String {
        format!("http://{}", self.config.listen)
    }

    /// Starts the server again over the same directory (a no-op while it runs).
    pub fn start_again(&mut self) {
        if self.server.is_none() {
            self.server = Some(Server::start(self.config.clone()).expect("the registry starts"));
        }
    }

    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().expect("the registry stops cleanly");
        }
    }

    /// Sends a request; returns the status and the body (JSON, or a JSON string for raw text).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call_with(method, path, body.map(Value::to_string), &[])
    }

    pub fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url());
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        let mut has_content_type = false;
        for (name, value) in headers {
            has_content_type |= name.eq_ignore_ascii_case("content-type");
            request = request.header(*name, *value);
        }
        let response = match body {
            Some(body) => {
                if !has_content_type {
                    request = request.header("Content-Type", CONTENT_TYPE);
                }
                self.agent.run(request.body(body).unwrap())
            }
            None => self.agent.run(request.body(()).unwrap()),
        }
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.into_body().read_to_string().unwrap();
        assert_eq!(content_type, CONTENT_TYPE, "{method} {path} answered {status} {text}");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None)
    }

    /// Registers `schema` under `subject`; returns the id, panicking on any refusal.
    pub fn register(&self, subject: &str, schema: &str) -> u64 {
        let (status, body) = self.register_body(subject, &serde_json::json!({ "schema": schema }));
        assert_eq!(status, 200, "registering under {subject}: {body}");
        body["id"].as_u64().unwrap()
    }

    pub fn register_body(&self, subject: &str, body: &Value) -> (u16, Value) {
        self.call("POST", &format!("/subjects/{subject}/versions"), Some(body))
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A record schema `name` with int fields `fields` (a field `f?` with a `?` gets a default).
pub fn record(name: &str, fields: &[&str]) -> String {
    let fields: Vec<Value> = fields
        .iter()
        .map(|f| match f.strip_suffix('?') {
            Some(f) => serde_json::json!({"name": f, "type": "int", "default": 0}),
            None => serde_json::json!({"name": f, "type": "int"}),
        })
        .collect();
    serde_json::json!({"type": "record", "name": name, "fields": fields}).to_string()
}

/// The error code of an error body.
pub fn code(body: &Value) -> i64 {
    body["error_code"].as_i64().unwrap_or_else(|| panic!("not an error body: {body}"))
}

/// A registry holding `E`'s committed history under ids 1 to its latest version (id =
/// version), as [`super::kafka::records_of`] frames records.
pub fn with_history<E: strata::Event>(name: &str) -> TestRegistry {
    let registry = TestRegistry::start(name);
    // strata's gate judges the history (a retired branch goes through an upgrade function,
    // which the registry's resolution rules cannot see).
    let none = serde_json::json!({ "compatibility": "NONE" });
    let (status, body) = registry.call("PUT", &format!("/config/{}", E::subject()), Some(&none));
    assert_eq!(status, 200, "{body}");
    for version in 1..=E::VERSION {
        let id = registry.register(&E::subject(), &super::kafka::history::<E>(version));
        assert_eq!(id, u64::from(version), "a fresh registry numbers from 1");
    }
    registry
}
