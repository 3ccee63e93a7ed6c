//! `cargo xtask check --registry` and `cargo xtask register` against a real registry (strata's
//! local one, started per test): drift, the registry's verdict, idempotent registration,
//! declared breaks, schema references, and what a producer and a consumer see afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::{Value, json};
use strata::codec::registry::{Registry, RegistryConfig};
use strata::codec::{Decoder, Encoder};
use strata_registry::{Config, Server};
use strata_tests::bank::{AccountEvent, AccountOpened, HolderKind};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_owned()
}

fn config(name: &str) -> Config {
    let dir = std::env::temp_dir().join(format!("strata-xtask-sr-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Config::new(&dir)
}

fn start(name: &str, basic_auth: Option<&str>) -> (Server, PathBuf) {
    let mut config = config(name);
    config.basic_auth = basic_auth.map(str::to_owned);
    let dir = config.dir.clone();
    (Server::start(config).unwrap(), dir)
}

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(root())
        .env_remove("CI")
        .env_remove("SCHEMA_REGISTRY_URL")
        .env_remove("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO")
        .env("NO_COLOR", "1")
        .output()
        .expect("the xtask binary runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn http(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let request = ureq::http::Request::builder().method(method).uri(url);
    let response = match body {
        Some(body) => agent.run(
            request
                .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                .body(body.to_string())
                .unwrap(),
        ),
        None => agent.run(request.body(()).unwrap()),
    }
    .unwrap();
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[test]
fn register_registers_every_version_once_and_check_then_finds_the_registry_in_step() {
    let (server, dir) = start("register", None);
    let url = server.url();

    let out = xtask(&["check", "--registry", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(
            "bank.accounts-value: 0 of 3 version(s) registered, 3 to register, at BACKWARD"
        ),
        "{}",
        text(&out)
    );

    let out = xtask(&["register", "--registry", &url, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out).matches("would register").count(), 8, "{}", text(&out));
    assert_eq!(
        http("GET", &format!("{url}/subjects"), None),
        (200, json!([])),
        "a dry run writes nothing"
    );

    let out = xtask(&["register", "--registry", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in [
        "bank.accounts-value version 3: registered as version 3, id",
        "shop.orders-value version 4: registered as version 4, id",
        "shop.orders-key version 1: registered as version 1, id",
    ] {
        assert!(stdout.contains(line), "{stdout}");
    }
    // The declared breaks went in by lowering the level for one registration, then restoring.
    assert!(
        text(&out).contains("lowering the level to NONE to register a declared break"),
        "{}",
        text(&out)
    );
    let (status, body) = http("GET", &format!("{url}/config/bank.accounts-value"), None);
    assert_eq!(
        (status, body["error_code"].clone()),
        (404, json!(40408)),
        "the subject has no level of its own again"
    );

    // The topic union refers to its records, each under `<topic>-<record>`.
    let (_, v3) = http("GET", &format!("{url}/subjects/bank.accounts-value/versions/3"), None);
    let references = v3["references"].as_array().expect("references");
    assert_eq!(references.len(), 3, "{v3}");
    assert_eq!(references[0]["subject"], json!("bank.accounts-com.example.bank.AccountOpened"));

    // Idempotent: a rerun registers nothing; the check finds the registry in step.
    let out = xtask(&["register", "--registry", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("nothing to register"), "{}", text(&out));
    let out = xtask(&["check", "--registry", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("shop.orders-value: 4 of 4 version(s) registered, 0 to register"),
        "{}",
        text(&out)
    );
    // The shop's Avro key is its own subject, checked like the values'.
    assert!(
        text(&out).contains("shop.orders-key: 1 of 1 version(s) registered, 0 to register"),
        "{}",
        text(&out)
    );

    // A producer finds the latest version's id though it is registered by reference, and a
    // consumer resolves the references to read it.
    let client = Arc::new(Registry::new(RegistryConfig::new(&url)));
    let encoder = Encoder::<AccountEvent>::new(client.as_ref()).unwrap();
    assert_eq!(json!(encoder.schema_id()), v3["id"]);
    let decoder = Decoder::<AccountEvent>::new(client).unwrap();
    let event = AccountEvent::Opened(AccountOpened {
        account_id: uuid::Uuid::from_u128(7),
        holder: "Ada".into(),
        currency: "EUR".into(),
        overdraft_limit_cents: 0,
        holder_kind: HolderKind::Person,
    });
    let mut framed = Vec::new();
    encoder.encode(&event, &mut framed);
    assert_eq!(decoder.decode(&framed).unwrap(), event);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn inline_registers_the_union_whole() {
    let (server, dir) = start("inline", None);
    let url = server.url();
    let out = xtask(&["register", "--registry", &url, "--inline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (_, subjects) = http("GET", &format!("{url}/subjects"), None);
    assert_eq!(subjects, json!(["bank.accounts-value", "shop.orders-key", "shop.orders-value"]));
    let out = xtask(&["check", "--registry", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_registered_history_that_differs_from_schemas_is_drift_and_blocks_registration() {
    let (server, dir) = start("drift", None);
    let url = server.url();
    let stray =
        json!({"type": "record", "name": "Stray", "fields": [{"name": "x", "type": "int"}]});
    let (status, _) = http(
        "POST",
        &format!("{url}/subjects/bank.accounts-value/versions"),
        Some(json!({"schema": stray.to_string()})),
    );
    assert_eq!(status, 200);
    let out = xtask(&["check", "--registry", &url, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let drift = &report["findings"][0];
    assert_eq!(drift["rule"], json!("DRIFT"), "{report}");
    assert_eq!(drift["file"], json!("schemas/bank.accounts-value/v1.avsc"));
    assert!(
        drift["message"].as_str().unwrap().contains("registry version 1 (id 1) differs"),
        "{report}"
    );

    let out = xtask(&["register", "--registry", &url]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("nothing registered"), "{}", text(&out));
    assert_eq!(http("GET", &format!("{url}/subjects"), None).1, json!(["bank.accounts-value"]));
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// A registry holding every version of the bank's events (inline), versions 2 and 3 then
/// soft-deleted: (server, its directory, its URL).
fn registered_then_2_and_3_soft_deleted(name: &str) -> (Server, PathBuf, String) {
    let (server, dir) = start(name, None);
    let url = server.url();
    let out = xtask(&["register", "--registry", &url, "--inline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for v in [3, 2] {
        http("DELETE", &format!("{url}/subjects/bank.accounts-value/versions/{v}"), None);
    }
    (server, dir, url)
}

#[test]
fn the_registrys_level_governs_and_an_incompatible_new_version_fails_the_check() {
    // Everything registered, then versions 2 and 3 soft-deleted (no longer registered
    // history) and the global level set to FORWARD: version 1 must read version 2's data.
    let (server, dir, url) = registered_then_2_and_3_soft_deleted("level");
    let (status, _) =
        http("PUT", &format!("{url}/config"), Some(json!({"compatibility": "FORWARD"})));
    assert_eq!(status, 200);
    let out = xtask(&["check", "--registry", &url]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(
            "bank.accounts-value: 1 of 3 version(s) registered, 2 to register, at FORWARD"
        ),
        "{report}"
    );
    assert!(
        report.contains(
            "error: `bank.accounts-value` version 2 cannot be read by version 1 at FORWARD"
        ),
        "{report}"
    );
    assert!(
        report.contains("READER_FIELD_MISSING_DEFAULT_VALUE at `AccountOpened.owner`"),
        "{report}"
    );
    // The renamed field (`owner`, now `holder`) at its own line, not the struct's.
    let source = std::fs::read_to_string(root().join("tests/src/bank.rs")).unwrap();
    let holder =
        source.lines().position(|l| l.trim_start().starts_with("pub holder:")).unwrap() + 1;
    assert!(report.contains(&format!("--> tests/src/bank.rs:{holder}\n")), "{report}");
    // The offline gate (schemas/compatibility.json: BACKWARD_TRANSITIVE by default) says
    // version 2 is fine, the registry at FORWARD refuses it: a real disagreement, reported
    // with both levels and how to align them. Version 3 (a declared break) is incompatible at
    // both levels: the two agree there; every unregistered version was asked.
    let said = "`bank.accounts-value` version 2: strata says compatible at BACKWARD_TRANSITIVE (schemas/compatibility.json), the registry says incompatible at FORWARD";
    assert!(report.contains(said), "{report}");
    assert!(!report.contains("`bank.accounts-value` version 3: strata says"), "{report}");
    let out = xtask(&["check", "--registry", &url, "--format", "json"]);
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let disagreements: Vec<&Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "REGISTRY_DISAGREES")
        .collect();
    assert_eq!(disagreements.len(), 1, "{json}");
    assert_eq!(disagreements[0]["file"], "schemas/bank.accounts-value/v2.avsc", "{json}");
    assert!(report.contains("the registry applies FORWARD to `bank.accounts-value`, `schemas/compatibility.json` declares BACKWARD_TRANSITIVE: align them"), "{report}");
    // And registration refuses, registering nothing.
    let out = xtask(&["register", "--registry", &url]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        http("GET", &format!("{url}/subjects/bank.accounts-value/versions"), None).1,
        json!([1])
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_registry_that_cannot_be_reached_or_refuses_credentials_is_exit_2() {
    let out = xtask(&[
        "check",
        "--registry",
        "http://127.0.0.1:9",
        "--registry-retries",
        "0",
        "--registry-timeout",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("http://127.0.0.1:9"), "{}", text(&out));

    let (server, dir) = start("auth", Some("ci:token"));
    let url = server.url();
    let out = xtask(&["check", "--registry", &url]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("status 401"), "{}", text(&out));
    let out = xtask(&["check", "--registry", &url, "--registry-user-info", "ci:token"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_bearer_token_is_sent_when_given() {
    let mut config = config("bearer");
    config.bearer_token = Some("t0k3n".into());
    let dir = config.dir.clone();
    let server = Server::start(config).unwrap();
    let url = server.url();
    let out = xtask(&["check", "--registry", &url, "--registry-retries", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("status 401"), "{}", text(&out));
    let out = xtask(&[
        "check",
        "--registry",
        &url,
        "--registry-token",
        "t0k3n",
        "--registry-header",
        "X-Team: payments",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_registry_that_comes_up_late_is_waited_for_with_retries() {
    // A free port, with the registry starting on it only after the check began.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = config("late");
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let dir = config.dir.clone();
    let starter = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(700));
        Server::start(config).unwrap()
    });
    let url = format!("http://127.0.0.1:{port}");
    // Backoff 200, 400, 800 ms...: the fourth attempt finds it.
    let out = xtask(&["check", "--registry", &url, "--registry-retries", "5"]);
    let server = starter.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("0 of 3 version(s) registered"), "{}", text(&out));
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// A stand-in for a Confluent release that answers the compatibility endpoint of a subject
/// that does not exist with 40401 (strata's registry answers "compatible" there): every
/// subject is unknown, the global level is BACKWARD. Serves until the test ends.
fn registry_without_subjects() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap_or_default();
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            std::io::Read::read_exact(&mut reader, &mut body).unwrap_or_default();
            let path = request_line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let (status, answer) = if path == "/config" {
                ("200 OK", json!({"compatibilityLevel": "BACKWARD"}))
            } else if path.starts_with("/config/") {
                ("404 Not Found", json!({"error_code": 40408, "message": "no subject level"}))
            } else {
                ("404 Not Found", json!({"error_code": 40401, "message": "Subject not found"}))
            };
            let answer = answer.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    url
}

#[test]
fn a_subject_the_registry_does_not_know_yet_has_nothing_to_break() {
    let url = registry_without_subjects();
    let out = xtask(&["check", "--registry", &url]);
    assert_eq!(out.status.code(), Some(0), "40401 means a new subject: {}", text(&out));
    assert!(
        text(&out).contains(
            "bank.accounts-value: 0 of 3 version(s) registered, 3 to register, at BACKWARD"
        ),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("REGISTRY_DISAGREES"), "{}", text(&out));
}

#[test]
fn registry_version_numbers_that_no_longer_follow_the_type_are_found_not_compared_by_position() {
    // Versions 2 and 3 soft-deleted, then registered again: a registry never reuses a number,
    // so they come back as versions 4 and 5.
    let (server, dir, url) = registered_then_2_and_3_soft_deleted("numbering");
    let out = xtask(&["register", "--registry", &url, "--inline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        http("GET", &format!("{url}/subjects/bank.accounts-value/versions"), None).1,
        json!([1, 4, 5])
    );
    let out = xtask(&["check", "--registry", &url, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mismatches: Vec<&Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "VERSION_NUMBER_MISMATCH")
        .collect();
    assert_eq!(mismatches.len(), 2, "{json}");
    assert!(
        mismatches[0]["message"]
            .as_str()
            .unwrap()
            .contains("committed version 2 is registry version 4"),
        "{json}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// Under the record name strategies, `register` registers each event record alone, its
/// distinct shapes in order, under `<full name>` or `<topic>-<full name>`; `check` then finds
/// them in step, and what an appender of that strategy looks up is there (no auto-registering).
#[test]
fn the_record_strategies_register_each_record_under_its_own_subject() {
    for (strategy, prefix) in [("record", ""), ("topic-record", "bank.accounts-")] {
        let (server, dir) = start(&format!("strategy-{strategy}"), None);
        let url = server.url();
        let out = xtask(&["check", "--registry", &url, "--subject-strategy", strategy]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let out = xtask(&["register", "--registry", &url, "--subject-strategy", strategy]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let (_, subjects) = http("GET", &format!("{url}/subjects"), None);
        let subjects: Vec<String> = serde_json::from_value(subjects).unwrap();
        assert!(!subjects.iter().any(|s| s.ends_with("-value")), "{subjects:?}");

        // Every record of the latest union is its subject's latest version, and every earlier
        // shape of it is registered before.
        let latest: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("schemas/bank.accounts-value/v3.avsc")).unwrap(),
        )
        .unwrap();
        for (name, record) in strata::subject::record_schemas(&latest).unwrap() {
            let subject = format!("{prefix}{name}");
            assert!(subjects.contains(&subject), "{subject} in {subjects:?}");
            let (status, found) =
                http("POST", &format!("{url}/subjects/{subject}"), Some(json!({"schema": record})));
            assert_eq!(status, 200, "{found}");
            let (_, versions) = http("GET", &format!("{url}/subjects/{subject}/versions"), None);
            assert_eq!(found["version"], versions.as_array().unwrap().last().unwrap().clone());
        }
        // AccountOpened changed shape across the bank's versions: more than one version.
        let (_, versions) = http(
            "GET",
            &format!("{url}/subjects/{prefix}com.example.bank.AccountOpened/versions"),
            None,
        );
        assert!(versions.as_array().unwrap().len() > 1, "{versions}");

        let out = xtask(&["check", "--registry", &url, "--subject-strategy", strategy]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(
            text(&out).contains(&format!("{prefix}com.example.bank.AccountOpened: ")),
            "{}",
            text(&out)
        );
        let out = xtask(&["register", "--registry", &url, "--subject-strategy", strategy]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(text(&out).contains("nothing to register"), "{}", text(&out));

        // Drift in one record's subject is found and blocks registration.
        let stray =
            json!({"type": "record", "name": "Stray", "fields": [{"name": "x", "type": "int"}]});
        let subject = format!("{prefix}com.example.bank.AccountClosed");
        let level = json!({"compatibility": "NONE"});
        assert_eq!(http("PUT", &format!("{url}/config/{subject}"), Some(level)).0, 200);
        let (status, _) = http(
            "POST",
            &format!("{url}/subjects/{subject}/versions"),
            Some(json!({"schema": stray.to_string()})),
        );
        assert_eq!(status, 200);
        let out = xtask(&["check", "--registry", &url, "--subject-strategy", strategy]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(&format!("`{subject}`: registry version")), "{}", text(&out));
        drop(server);
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn an_unknown_subject_strategy_is_refused_with_the_choices() {
    let out = xtask(&["check", "--registry", "http://127.0.0.1:1", "--subject-strategy", "byname"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("unknown subject name strategy `byname`"), "{}", text(&out));
}
