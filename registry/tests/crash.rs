//! The registry as a process: killed with SIGKILL at random moments while clients register,
//! restarted over the same directory, it keeps every acknowledged registration with its id and
//! never hands an id out twice. Also: one log line per request, and a clean stop on SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-registry-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Starts the binary on a free port; returns the child and its URL (its first stdout line).
fn spawn(dir: &Path, stderr: Stdio) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata-registry"))
        .args(["--dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("the registry binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("http://127.0.0.1:"), "first line: {line:?}");
    (child, line.trim().to_owned())
}

fn new_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .new_agent()
}

/// One request; `None` when the server could not be reached (down, or killed mid-request).
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> Option<(u16, Value)> {
    let request = ureq::http::Request::builder().method(method).uri(url);
    let response = match body {
        Some(body) => {
            agent.run(request.header("Content-Type", CONTENT_TYPE).body(body.to_string()).unwrap())
        }
        None => agent.run(request.body(()).unwrap()),
    }
    .ok()?;
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

fn schema(name: &str) -> String {
    json!({"type": "record", "name": name, "fields": [{"name": "a", "type": "int"}]}).to_string()
}

/// A small deterministic generator (SplitMix64); the seed is printed so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

#[test]
fn every_acknowledged_registration_survives_sigkill_with_its_id_and_ids_stay_unique() {
    let seed =
        std::env::var("STRATA_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
                as u64
        });
    eprintln!("seed {seed} (STRATA_CRASH_SEED reproduces it)");
    let mut rng = Rng(seed);
    let dir = fresh_dir("crash");
    let (child, url) = spawn(&dir, Stdio::null());
    let child = Mutex::new(child);
    let url = RwLock::new(url);
    let agent = new_agent();
    // Any schema goes into any subject: the test is about durability, not compatibility.
    let base = url.read().unwrap().clone();
    assert_eq!(
        call(&agent, "PUT", &format!("{base}/config"), Some(&json!({"compatibility": "NONE"})))
            .unwrap()
            .0,
        200
    );

    let stop = AtomicBool::new(false);
    let acknowledged: Mutex<Vec<(String, String, u64)>> = Mutex::new(Vec::new());
    let kills = 8;
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (url, stop, acknowledged) = (&url, &stop, &acknowledged);
            scope.spawn(move || {
                let agent = new_agent();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let subject = format!("crash-{t}");
                    let text = schema(&format!("C{t}x{i}"));
                    // Retry the same schema until acknowledged: a request cut by the kill may
                    // or may not have been written; retrying must give the same id either way.
                    loop {
                        let base = url.read().unwrap().clone();
                        let answer = call(
                            &agent,
                            "POST",
                            &format!("{base}/subjects/{subject}/versions"),
                            Some(&json!({"schema": text})),
                        );
                        match answer {
                            Some((200, body)) => {
                                let id = body["id"].as_u64().expect("an id");
                                acknowledged.lock().unwrap().push((
                                    subject.clone(),
                                    text.clone(),
                                    id,
                                ));
                                break;
                            }
                            Some((status, body)) if status < 500 => {
                                panic!("registration refused: {status} {body}")
                            }
                            _ if stop.load(Ordering::Relaxed) => break,
                            _ => std::thread::sleep(Duration::from_millis(10)),
                        }
                    }
                    i += 1;
                }
            });
        }
        for _ in 0..kills {
            std::thread::sleep(Duration::from_millis(50 + rng.below(350)));
            let mut child = child.lock().unwrap();
            child.kill().expect("SIGKILL");
            child.wait().unwrap();
            let (next, next_url) = spawn(&dir, Stdio::null());
            *child = next;
            *url.write().unwrap() = next_url;
        }
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
    });
    // One more kill, then check everything against a fresh start.
    let mut child = child.into_inner().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut child, base) = spawn(&dir, Stdio::null());

    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(
        acknowledged.len() >= 40,
        "too few registrations to mean anything: {}",
        acknowledged.len()
    );
    let mut by_id = std::collections::HashMap::new();
    for (subject, text, id) in &acknowledged {
        if let Some(other) = by_id.insert(*id, text.clone()) {
            assert_eq!(&other, text, "id {id} was handed out for two schemas");
        }
        let (status, found) = call(
            &agent,
            "POST",
            &format!("{base}/subjects/{subject}"),
            Some(&json!({"schema": text})),
        )
        .unwrap();
        assert_eq!(status, 200, "acknowledged {subject} {text} (id {id}) is gone: {found}");
        assert_eq!(found["id"].as_u64(), Some(*id), "{subject} {text}");
        let (_, by) = call(&agent, "GET", &format!("{base}/schemas/ids/{id}"), None).unwrap();
        assert_eq!(by["schema"].as_str(), Some(text.as_str()));
    }
    assert_eq!(by_id.len(), acknowledged.len(), "distinct schemas, distinct ids");
    for t in 0..4 {
        let subject = format!("crash-{t}");
        let acked = acknowledged.iter().filter(|(s, _, _)| *s == subject).count();
        let (_, versions) =
            call(&agent, "GET", &format!("{base}/subjects/{subject}/versions"), None).unwrap();
        let versions: Vec<u64> = serde_json::from_value(versions).unwrap();
        let expected: Vec<u64> = (1..=versions.len() as u64).collect();
        assert_eq!(versions, expected, "{subject}: versions are contiguous");
        // At most the one in flight when the clients stopped is there unacknowledged.
        assert!(
            versions.len() == acked || versions.len() == acked + 1,
            "{subject}: {} versions, {acked} acknowledged",
            versions.len()
        );
    }
    eprintln!(
        "{} registrations acknowledged across {kills} SIGKILLs, all present",
        acknowledged.len()
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn each_request_is_logged_on_one_line_and_sigterm_stops_cleanly() {
    let dir = fresh_dir("log");
    let (mut child, url) = spawn(&dir, Stdio::piped());
    let agent = new_agent();
    let register = json!({"schema": schema("Logged")});
    assert_eq!(
        call(&agent, "POST", &format!("{url}/subjects/log-value/versions"), Some(&register))
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        call(&agent, "GET", &format!("{url}/subjects/nobody/versions"), None).unwrap().0,
        404
    );
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "SIGTERM stops it with exit 0: {exit}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let requests: Vec<&str> = stderr.lines().filter(|l| l.contains(" /subjects/")).collect();
    assert_eq!(requests.len(), 2, "{stderr}");
    assert!(requests[0].contains("POST /subjects/log-value/versions 200"), "{stderr}");
    assert!(requests[1].contains("GET /subjects/nobody/versions 404"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
