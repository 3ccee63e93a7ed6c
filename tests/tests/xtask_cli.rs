//! `cargo xtask schemas` and `cargo xtask check` as CI runs them: the exit code says whether
//! the committed history matches the example domain, and a failure names the field.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_owned()
}

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(root())
        .env_remove("CI")
        .output()
        .expect("the xtask binary runs")
}

/// A copy of the committed `schemas/` to edit.
fn copy_of_schemas(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for subject in std::fs::read_dir(root().join("schemas")).unwrap() {
        let subject = subject.unwrap().path();
        let target = dir.join(subject.file_name().unwrap());
        std::fs::create_dir_all(&target).unwrap();
        for file in std::fs::read_dir(&subject).unwrap() {
            let file = file.unwrap().path();
            std::fs::copy(&file, target.join(file.file_name().unwrap())).unwrap();
        }
    }
    dir
}

#[test]
fn the_committed_history_passes_the_check() {
    for command in [&["schemas", "--check"][..], &["check"][..]] {
        let out = xtask(command);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
        assert!(
            stderr.contains(
                "2 event type(s), 1 key type(s), 1 state type(s), 10 version(s): `schemas` is up to date"
            ),
            "{stderr}"
        );
    }
}

/// A copy of `schemas/` whose `bank.accounts-value/v2.avsc` was edited by hand (a default).
fn copy_with_an_edited_file(name: &str) -> PathBuf {
    let dir = copy_of_schemas(name);
    let v2 = dir.join("bank.accounts-value/v2.avsc");
    let text = std::fs::read_to_string(&v2).unwrap().replace("\"EUR\"", "\"USD\"");
    std::fs::write(&v2, text).unwrap();
    dir
}

#[test]
fn a_published_file_edited_by_hand_fails_with_exit_code_1_naming_the_field_and_the_restore() {
    let dir = copy_with_an_edited_file("edited");
    let out = xtask(&["schemas", "--check", "--dir", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The type did not change, the file did: the file is what to restore.
    assert!(
        stderr.contains("`bank.accounts-value` version 2 (`strata_tests::bank::AccountEvent`): "),
        "{stderr}"
    );
    assert!(stderr.contains("v2.avsc` was edited after publication"), "{stderr}");
    assert!(stderr.contains("hint: restore the file from version control"), "{stderr}");
    assert!(!stderr.contains("type changed without a version bump"), "{stderr}");
    assert!(
        stderr.contains("AccountOpened.currency: `default` was `\"USD\"`, is now `\"EUR\"`"),
        "{stderr}"
    );
    assert!(stderr.contains("error: 1 problem(s)"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn in_ci_the_write_command_only_checks() {
    let dir = copy_of_schemas("ci");
    std::fs::remove_file(dir.join("shop.orders-value/v4.avsc")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["schemas", "--dir", dir.to_str().unwrap()])
        .env("CI", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("version 4 has no file"), "{stderr}");
    assert!(!dir.join("shop.orders-value/v4.avsc").exists(), "nothing is written in CI");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn usage_errors_exit_with_code_2() {
    let out = xtask(&["schemas", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}

fn avro_decode(writer: &str, reader: &str, datum: &[u8]) -> Output {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("strata-cli-avro-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (w, r) = (dir.join("w.avsc"), dir.join("r.avsc"));
    std::fs::write(&w, writer).unwrap();
    std::fs::write(&r, reader).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["avro", "decode", "--writer", w.to_str().unwrap(), "--reader", r.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(datum).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn avro_decode_prints_the_resolved_datum_as_avro_json() {
    let writer =
        r#"{"type": "record", "name": "A", "fields": [{"name": "owner", "type": "string"}]}"#;
    let reader = r#"{"type": "record", "name": "A", "fields": [
        {"name": "holder", "type": "string", "aliases": ["owner"]},
        {"name": "note", "type": ["null", "string"], "default": null}]}"#;
    let out = avro_decode(writer, reader, b"\x06Ada");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "{\"holder\":\"Ada\",\"note\":null}\n");
}

#[test]
fn avro_decode_exits_1_naming_the_irreconcilable_field() {
    let writer = r#"{"type": "record", "name": "A", "fields": [{"name": "x", "type": "int"}]}"#;
    let reader = r#"{"type": "record", "name": "A", "fields": [{"name": "x", "type": "int"}, {"name": "y", "type": "int"}]}"#;
    let out = avro_decode(writer, reader, b"\x02");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: the writer schema cannot be read as the reader schema: /A/y: the reader's field `y` has no default and the writer's record `A` lacks it\n"
    );
    // Bytes that end early are a decoding error with the offset.
    let out = avro_decode(writer, writer, b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at byte 0"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn compat_exits_1_with_every_finding_and_0_when_compatible() {
    let v = |n: u32| format!("schemas/shop.orders-value/v{n}.avsc");
    let out = xtask(&[
        "compat",
        "--level",
        "BACKWARD_TRANSITIVE",
        "--new",
        &v(4),
        "--old",
        &v(1),
        "--old",
        &v(2),
        "--old",
        &v(3),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(stdout.matches("error: ").count(), 3, "one finding per earlier version:\n{stdout}");
    assert!(stdout.contains("TYPE_MISMATCH at `OrderPlaced.total` (/fields/5/type): reader type: BYTES not compatible with writer type: LONG"), "{stdout}");

    let out = xtask(&["compat", "--level", "BACKWARD", "--new", &v(3), "--old", &v(2)]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("is compatible at BACKWARD with 1 earlier version(s)")
    );
}

#[test]
fn compat_speaks_json_and_github_annotations() {
    let v = |n: u32| format!("schemas/bank.accounts-value/v{n}.avsc");
    let out =
        xtask(&["compat", "--level", "FULL", "--new", &v(3), "--old", &v(2), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["passed"], false);
    assert_eq!(report["checks"], 2, "backward and forward against version 2");
    assert_eq!(report["findings"][0]["group"], "compat.FULL");
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"MISSING_UNION_BRANCH"), "{rules:?}");
    let checks: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert!(
        checks.iter().any(|c| c.ends_with("(backward)"))
            && checks.iter().any(|c| c.ends_with("(forward)")),
        "{checks:?}"
    );

    let out = xtask(&[
        "compat",
        "--level",
        "BACKWARD",
        "--new",
        &v(3),
        "--old",
        &v(2),
        "--format",
        "github",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(
            "::error file=schemas/bank.accounts-value/v3.avsc,title=MISSING_UNION_BRANCH::"
        ),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1);
}

#[test]
fn compat_refuses_an_unknown_level_with_the_levels_listed() {
    let out = xtask(&["compat", "--level", "BACKWARDS", "--new", "x.avsc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("expected one of: NONE, BACKWARD, BACKWARD_TRANSITIVE")
    );
}

#[test]
fn compat_junit_reports_parse_with_a_junit_parser() {
    let v = |n: u32| format!("schemas/bank.accounts-value/v{n}.avsc");
    let out = xtask(&[
        "compat",
        "--level",
        "FULL_TRANSITIVE",
        "--new",
        &v(3),
        "--old",
        &v(1),
        "--old",
        &v(2),
        "--format",
        "junit",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = std::env::temp_dir().join(format!("strata-junit-{}.xml", std::process::id()));
    std::fs::write(&report, &out.stdout).unwrap();
    let python = std::env::var_os("STRATA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    let parsed = Command::new(python)
        .arg(root().join("tests/python/junit_summary.py"))
        .arg(&report)
        .output()
        .expect("the Python environment of scripts/setup-python.sh");
    assert!(parsed.status.success(), "{}", String::from_utf8_lossy(&parsed.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&parsed.stdout).unwrap();
    // Two earlier versions, both directions: four cases, all failing.
    assert_eq!(summary["tests"], 4);
    assert_eq!(summary["failures"], 4);
    assert_eq!(summary["cases"][3]["failure"], "MISSING_UNION_BRANCH");
    let _ = std::fs::remove_file(report);

    // A compatible check passes every case.
    let out = xtask(&[
        "compat",
        "--level",
        "BACKWARD",
        "--new",
        "schemas/shop.orders-value/v3.avsc",
        "--old",
        "schemas/shop.orders-value/v2.avsc",
        "--format",
        "junit",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("tests=\"1\" failures=\"0\""));
}

#[test]
fn check_gates_every_version_at_its_subjects_level_and_acknowledges_declared_breaks() {
    let out = xtask(&["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains(
            "note: `shop.orders-value` version 4 cannot read version 3 at BACKWARD_TRANSITIVE"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("hint: declared break: `total_cents` (long) became `total`"),
        "{stdout}"
    );
    assert!(stdout.contains("--> tests/src/shop.rs:"), "{stdout}");

    // A stricter level for one subject: FULL_TRANSITIVE also needs old readers to read new data.
    let dir = copy_of_schemas("levels");
    std::fs::write(
        dir.join("compatibility.json"),
        r#"{"subjects": {"bank.accounts-value": "FULL_TRANSITIVE"}}"#,
    )
    .unwrap();
    let out = xtask(&["check", "--dir", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "error: `bank.accounts-value` version 2 cannot be read by version 1 at FULL_TRANSITIVE"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("--> tests/src/bank.rs:"), "{stdout}");

    // A finding inside a record points at the field's line.
    std::fs::write(
        dir.join("compatibility.json"),
        r#"{"subjects": {"shop.orders-value": "FULL_TRANSITIVE"}}"#,
    )
    .unwrap();
    let out = xtask(&["check", "--dir", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let source = std::fs::read_to_string(root().join("tests/src/shop.rs")).unwrap();
    // The nested record's own field, not the parent's field that holds it.
    let quantity_field =
        source.lines().position(|l| l.trim_start().starts_with("pub quantity:")).unwrap() + 1;
    assert!(stdout.contains("TYPE_MISMATCH at `OrderPlaced.lines.quantity`"), "{stdout}");
    assert!(stdout.contains(&format!("--> tests/src/shop.rs:{quantity_field}\n")), "{stdout}");

    // The same findings as GitHub annotations on the Rust lines.
    let out = xtask(&["check", "--dir", dir.to_str().unwrap(), "--format", "github"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.contains(&format!(
            "::error file=tests/src/shop.rs,line={quantity_field},title=MISSING_UNION_BRANCH::"
        )),
        "{stdout}"
    );

    // A level that does not exist is a usage error naming the file.
    std::fs::write(dir.join("compatibility.json"), r#"{"default": "BACKWARDS"}"#).unwrap();
    let out = xtask(&["check", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("compatibility.json`: `default`: `BACKWARDS` is not a compatibility level; expected one of: NONE,")
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_output_format_of_check_carries_the_history_findings_with_their_rule_ids() {
    let dir = copy_with_an_edited_file("formats");
    std::fs::remove_file(dir.join("shop.orders-value/v4.avsc")).unwrap();
    let dir_arg = dir.to_str().unwrap();

    let out = xtask(&["check", "--dir", dir_arg, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("a failing history check still prints JSON");
    assert_eq!(json["passed"], false, "{json}");
    let rules: Vec<&str> =
        json["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert!(rules.contains(&"FILE_EDITED"), "{json}");
    assert!(rules.contains(&"MISSING_FILE"), "{json}");
    let edited = json["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "FILE_EDITED");
    assert!(
        edited.unwrap()["file"].as_str().unwrap().ends_with("bank.accounts-value/v2.avsc"),
        "{json}"
    );

    let out = xtask(&["check", "--dir", dir_arg, "--format", "github"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("title=FILE_EDITED::"), "{stdout}");
    assert!(stdout.contains("title=MISSING_FILE::"), "{stdout}");

    let out = xtask(&["check", "--dir", dir_arg, "--format", "junit"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FILE_EDITED") && stdout.contains("<testsuite"), "{stdout}");

    // Text keeps the human report on stderr.
    let out = xtask(&["check", "--dir", dir_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("was edited after publication"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn compat_judges_crossing_field_aliases_instead_of_exiting_2() {
    let dir = std::env::temp_dir().join(format!("strata-cli-aliases-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let crossing = dir.join("crossing.avsc");
    std::fs::write(
        &crossing,
        r#"{"type":"record","name":"R","fields":[{"name":"field1","type":"int","aliases":["field2"]},{"name":"field2","type":"int","aliases":["field1"]}]}"#,
    )
    .unwrap();
    let old = dir.join("old.avsc");
    std::fs::write(&old, r#"{"type":"record","name":"R","fields":[{"name":"field1","type":"int"},{"name":"field2","type":"int"}]}"#).unwrap();
    let out = xtask(&[
        "compat",
        "--level",
        "BACKWARD",
        "--new",
        crossing.to_str().unwrap(),
        "--old",
        old.to_str().unwrap(),
    ]);
    let said =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("READER_FIELD_MATCHES_MULTIPLE_FIELDS"), "{said}");
    let _ = std::fs::remove_dir_all(dir);
}
