//! Load on the local registry over HTTP from a Rust client (ureq, keep-alive): lookups by id
//! (what every consumer does once per id), from one client and from several at once, and
//! registrations (each one fsynced before it is answered). Criterion reports requests/s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().new_agent()
}

fn get(agent: &ureq::Agent, url: &str) {
    let response = agent.get(url).call().expect("the registry answers");
    assert_eq!(response.status(), 200);
    response.into_body().read_to_string().unwrap();
}

fn register(agent: &ureq::Agent, url: &str, name: &str) {
    let schema = json!({"type": "record", "name": name, "fields": [{"name": "a", "type": "int"}]});
    let response = agent
        .post(url)
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .send(json!({"schema": schema.to_string()}).to_string())
        .expect("the registry answers");
    assert_eq!(response.status(), 200);
    response.into_body().read_to_string().unwrap();
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("strata-registry-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = strata_registry::Server::start(strata_registry::Config::new(&dir)).unwrap();
    let base = server.url();
    let setup = agent();
    // The load subject takes any schema: its records are unrelated.
    let response = setup
        .put(&format!("{base}/config/load-value"))
        .header("Content-Type", "application/json")
        .send(r#"{"compatibility": "NONE"}"#)
        .unwrap();
    assert_eq!(response.status(), 200);
    for i in 0..100 {
        register(&setup, &format!("{base}/subjects/s{i}-value/versions"), &format!("R{i}"));
    }

    let mut group = c.benchmark_group("registry");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(5));

    let client = agent();
    let mut id = 0;
    group.bench_function("GET /schemas/ids/{id}, 1 client", |b| {
        b.iter(|| {
            id = id % 100 + 1;
            get(&client, &format!("{base}/schemas/ids/{id}"));
        })
    });

    let clients = 4;
    group.bench_function("GET /schemas/ids/{id}, 4 clients", |b| {
        b.iter_custom(|iters| {
            let per_client = iters.div_ceil(clients);
            let start = Instant::now();
            std::thread::scope(|scope| {
                for c in 0..clients {
                    let base = &base;
                    scope.spawn(move || {
                        let agent = agent();
                        for i in 0..per_client {
                            get(&agent, &format!("{base}/schemas/ids/{}", (i + c) % 100 + 1));
                        }
                    });
                }
            });
            start.elapsed()
        })
    });

    let next = AtomicU64::new(0);
    group.bench_function("POST /subjects/{s}/versions (new schema, fsynced)", |b| {
        b.iter(|| {
            let n = next.fetch_add(1, Ordering::Relaxed);
            register(&client, &format!("{base}/subjects/load-value/versions"), &format!("L{n}"));
        })
    });
    group.finish();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
