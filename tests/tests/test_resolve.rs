//! The general resolver, case by case from the Avro specification and Avro Java's behaviour
//! (`tests/resolution/cases.json`): each case's datum is encoded by fastavro, read by strata
//! with the writer schema resolved into the reader schema, and compared with the expected
//! result. Avro Java (Debian's libavro-java), Apache Avro's own Python implementation and
//! fastavro read the same bytes; where one differs from the expected result, the case says so
//! in `deviates`.

mod support;

use serde_json::{Value, json};
use strata::avro::resolve::Plan;

fn schema(json: &Value) -> apache_avro::Schema {
    apache_avro::Schema::parse_str(&json.to_string()).expect("case schemas parse")
}

fn strata_reads(writer: &Value, reader: &Value, bytes: &[u8]) -> Result<Value, String> {
    let plan = Plan::new(&schema(writer), &schema(reader)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    plan.transcode(bytes, &mut out).map_err(|e| e.to_string())?;
    plan.to_json(&out).map_err(|e| e.to_string())
}

/// JSON equality where `7` and `7.0` are the same number: implementations render promoted
/// numbers either way.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn every_resolution_case_reads_as_avro_java_reads_it() {
    let cases: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(support::root().join("tests/resolution/cases.json")).unwrap(),
    )
    .unwrap();
    let jobs: Vec<String> = cases
        .iter()
        .map(|c| {
            json!({"writer": c["writer"], "reader": c["reader"], "datum": c["datum"]}).to_string()
        })
        .collect();
    let out = support::run_python("resolve_reference.py", &[], &(jobs.join("\n") + "\n"));
    let mut answers: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers.len(), cases.len());
    // Avro Java reads the same bytes fastavro wrote.
    let java_jobs: Vec<String> = cases
        .iter()
        .zip(&answers)
        .map(|(c, a)| json!({"op": "resolve", "writer": c["writer"], "reader": c["reader"], "datum": a["bytes"]}).to_string())
        .collect();
    let java: Vec<Value> = support::run_java(&(java_jobs.join("\n") + "\n"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(java.len(), cases.len());
    for (answer, java) in answers.iter_mut().zip(java) {
        answer["java"] = match java.get("error") {
            Some(e) => json!({"error": e}),
            None => java["value"].clone(),
        };
    }

    let mut failures = Vec::new();
    for (case, answer) in cases.iter().zip(&answers) {
        let name = case["name"].as_str().unwrap();
        let expect = &case["expect"];
        let bytes = hex(answer["bytes"].as_str().unwrap());
        let ours = strata_reads(&case["writer"], &case["reader"], &bytes);
        let matches = |result: &Result<Value, String>| match (expect.get("error"), result) {
            (Some(needle), Err(message)) => message.contains(needle.as_str().unwrap()),
            (None, Ok(value)) => same(value, expect),
            _ => false,
        };
        if !matches(&ours) {
            failures.push(format!("strata, `{name}`: got {ours:?}, expected {expect}"));
        }
        for reference in ["java", "avro", "fastavro"] {
            let theirs = match answer[reference].get("error") {
                Some(e) => Err(e.as_str().unwrap().to_owned()),
                None => Ok(answer[reference].clone()),
            };
            // References are held to whether they fail, not to the wording of their errors.
            let agrees = match (expect.get("error"), &theirs) {
                (Some(_), Err(_)) => true,
                _ => matches(&theirs),
            };
            let deviation = case.get("deviates").and_then(|d| d.get(reference));
            match (agrees, deviation) {
                (false, None) => failures.push(format!("{reference}, `{name}`: got {theirs:?}, expected {expect} (add it to `deviates` if that is the reference's known behaviour)")),
                (true, Some(_)) => failures.push(format!("{reference}, `{name}`: now agrees; remove its `deviates` entry")),
                _ => {}
            }
        }
    }
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n"));
}
