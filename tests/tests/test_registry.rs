//! Conformance of strata's local registry with Confluent's Schema Registry REST API v1, over
//! HTTP: one test per documented behaviour (Confluent's API reference and the behaviours its
//! own `RestApiTest` pins down). `tests/python/registry_conformance.py` runs the same
//! behaviours through Confluent's Python client.

mod support;

use support::registry;

use registry::{TestRegistry, code, record};
use serde_json::{Value, json};

fn schema_body(schema: &str) -> Value {
    json!({ "schema": schema })
}

#[test]
fn registering_returns_an_id_and_the_same_schema_again_creates_no_version() {
    let sr = TestRegistry::start("register");
    let id = sr.register("orders-value", &record("Order", &["a"]));
    assert_eq!(id, 1);
    assert_eq!(sr.register("orders-value", &record("Order", &["a"])), id);
    assert_eq!(sr.get("/subjects/orders-value/versions"), (200, json!([1])));
    let id2 = sr.register("orders-value", &record("Order", &["a", "b?"]));
    assert_eq!(id2, 2);
    assert_eq!(sr.get("/subjects/orders-value/versions"), (200, json!([1, 2])));
}

#[test]
fn the_same_schema_under_another_subject_gets_the_same_global_id() {
    let sr = TestRegistry::start("global-id");
    let a = sr.register("a-value", &record("Shared", &["x"]));
    let b = sr.register("b-value", &record("Shared", &["x"]));
    assert_eq!(a, b);
    assert_eq!(sr.get(&format!("/schemas/ids/{a}/subjects")), (200, json!(["a-value", "b-value"])));
    assert_eq!(
        sr.get(&format!("/schemas/ids/{a}/versions")),
        (200, json!([{"subject": "a-value", "version": 1}, {"subject": "b-value", "version": 1}]))
    );
}

#[test]
fn whitespace_and_key_order_do_not_make_a_new_schema_and_the_canonical_form_is_served() {
    let sr = TestRegistry::start("canonical");
    let spaced = r#"{ "fields" : [ { "type" : "string", "name" : "a" } ], "name" : "C", "type" : "record" }"#;
    let id = sr.register("c-value", spaced);
    assert_eq!(
        sr.register(
            "c-value",
            r#"{"type":"record","name":"C","fields":[{"name":"a","type":"string"}]}"#
        ),
        id
    );
    let (status, body) = sr.get("/subjects/c-value/versions/1");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"subject": "c-value", "version": 1, "id": id,
               "schema": r#"{"type":"record","name":"C","fields":[{"name":"a","type":"string"}]}"#})
    );
    // A primitive in object form is the primitive.
    let s = sr.register("s-value", r#"{"type": "string"}"#);
    assert_eq!(sr.get(&format!("/schemas/ids/{s}")), (200, json!({"schema": "\"string\""})));
    // A doc is part of the schema: a new version.
    let documented =
        r#"{"type":"record","name":"C","doc":"d","fields":[{"name":"a","type":"string"}]}"#;
    assert_ne!(sr.register("c-value", documented), id);
}

#[test]
fn normalize_true_makes_equivalent_spellings_one_schema() {
    let sr = TestRegistry::start("normalize");
    let one = r#"{"type":"record","name":"N","namespace":"ns","x-b":1,"x-a":2,"fields":[{"name":"a","type":"int"}]}"#;
    let two =
        r#"{"type":"record","name":"ns.N","x-a":2,"x-b":1,"fields":[{"name":"a","type":"int"}]}"#;
    let (_, first) =
        sr.call("POST", "/subjects/n-value/versions?normalize=true", Some(&schema_body(one)));
    let (_, second) =
        sr.call("POST", "/subjects/n-value/versions?normalize=true", Some(&schema_body(two)));
    assert_eq!(first["id"], second["id"], "{first} {second}");
    assert_eq!(sr.get("/subjects/n-value/versions"), (200, json!([1])));
    // Without normalizing, the two spellings are two schemas.
    let (_, plain) = sr.register_body("m-value", &schema_body(one));
    let (_, other) = sr.register_body("m2-value", &schema_body(two));
    assert_ne!(plain["id"], other["id"]);
}

#[test]
fn lookup_finds_a_registered_schema_and_says_which_is_missing() {
    let sr = TestRegistry::start("lookup");
    let id = sr.register("l-value", &record("L", &["a"]));
    let (status, body) =
        sr.call("POST", "/subjects/l-value", Some(&schema_body(&record("L", &["a"]))));
    assert_eq!(status, 200);
    assert_eq!(body["id"], json!(id));
    assert_eq!(body["version"], json!(1));
    assert_eq!(body["subject"], json!("l-value"));
    let (status, body) =
        sr.call("POST", "/subjects/l-value", Some(&schema_body(&record("Other", &["b"]))));
    assert_eq!((status, code(&body)), (404, 40403));
    let (status, body) =
        sr.call("POST", "/subjects/nobody", Some(&schema_body(&record("L", &["a"]))));
    assert_eq!((status, code(&body)), (404, 40401));
}

#[test]
fn subjects_and_versions_are_listed_with_prefix_and_deleted_filters() {
    let sr = TestRegistry::start("list");
    sr.register("alpha-value", &record("A", &["a"]));
    sr.register("beta-value", &record("B", &["a"]));
    assert_eq!(sr.get("/subjects"), (200, json!(["alpha-value", "beta-value"])));
    assert_eq!(sr.get("/subjects?subjectPrefix=al"), (200, json!(["alpha-value"])));
    sr.call("DELETE", "/subjects/beta-value", None);
    assert_eq!(sr.get("/subjects"), (200, json!(["alpha-value"])));
    assert_eq!(sr.get("/subjects?deleted=true"), (200, json!(["alpha-value", "beta-value"])));
    let (status, body) = sr.get("/subjects/nobody/versions");
    assert_eq!((status, code(&body)), (404, 40401));
}

#[test]
fn all_schemas_are_listed_with_filters_and_the_default_context() {
    let sr = TestRegistry::start("schemas");
    let a1 = sr.register("a-value", &record("A", &["a"]));
    let a2 = sr.register("a-value", &record("A", &["a", "b?"]));
    let b1 = sr.register("b-value", &record("B", &["a"]));
    let (status, all) = sr.get("/schemas");
    assert_eq!(status, 200);
    let listed: Vec<(Value, Value, Value)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["subject"].clone(), s["version"].clone(), s["id"].clone()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (json!("a-value"), json!(1), json!(a1)),
            (json!("a-value"), json!(2), json!(a2)),
            (json!("b-value"), json!(1), json!(b1)),
        ]
    );
    let (_, latest) = sr.get("/schemas?latestOnly=true&subjectPrefix=a");
    assert_eq!(latest.as_array().unwrap().len(), 1);
    assert_eq!(latest[0]["version"], json!(2));
    let (_, page) = sr.get("/schemas?offset=1&limit=1");
    assert_eq!(page[0]["version"], json!(2));
    assert_eq!(sr.get("/contexts"), (200, json!(["."])));
}

#[test]
fn a_version_is_fetched_by_number_latest_or_minus_one_and_invalid_versions_get_42202() {
    let sr = TestRegistry::start("versions");
    sr.register("v-value", &record("V", &["a"]));
    let id2 = sr.register("v-value", &record("V", &["a", "b?"]));
    for spec in ["2", "latest", "-1"] {
        let (status, body) = sr.get(&format!("/subjects/v-value/versions/{spec}"));
        assert_eq!(
            (status, &body["version"], &body["id"]),
            (200, &json!(2), &json!(id2)),
            "{spec}"
        );
    }
    let (status, body) = sr.get("/subjects/v-value/versions/3");
    assert_eq!((status, code(&body)), (404, 40402));
    assert_eq!(body["message"], json!("Version 3 not found."));
    for bad in ["0", "-2", "abc", "2147483648"] {
        let (status, body) = sr.get(&format!("/subjects/v-value/versions/{bad}"));
        assert_eq!((status, code(&body)), (422, 42202), "{bad}");
    }
    let (status, body) = sr.get("/subjects/nobody/versions/1");
    assert_eq!((status, code(&body)), (404, 40401));
}

#[test]
fn the_schema_of_a_version_is_served_raw() {
    let sr = TestRegistry::start("raw");
    sr.register("r-value", &record("R", &["a"]));
    let (status, body) = sr.get("/subjects/r-value/versions/1/schema");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]})
    );
}

#[test]
fn schemas_by_id_give_the_schema_its_text_subjects_and_versions_or_40403() {
    let sr = TestRegistry::start("ids");
    let id = sr.register("i-value", &record("I", &["a"]));
    let (status, body) = sr.get(&format!("/schemas/ids/{id}"));
    assert_eq!(status, 200);
    assert_eq!(body, json!({"schema": record("I", &["a"])}));
    assert_eq!(sr.get(&format!("/schemas/ids/{id}?subject=i-value")).0, 200);
    // As Confluent: a subject that does not hold the id falls back to the id in its context
    // (the default one); a subject of another context finds nothing here.
    assert_eq!(sr.get(&format!("/schemas/ids/{id}?subject=other")).0, 200);
    let (status, body) = sr.get(&format!("/schemas/ids/{id}?subject=:.tenant:i-value"));
    assert_eq!((status, code(&body)), (404, 40403));
    let (status, body) = sr.get(&format!("/schemas/ids/{id}/schema"));
    assert_eq!((status, body), (200, serde_json::from_str(&record("I", &["a"])).unwrap()));
    let (status, body) = sr.get("/schemas/ids/999");
    assert_eq!((status, code(&body)), (404, 40403));
    assert_eq!(body["message"], json!("Schema 999 not found"));
    assert_eq!(sr.get("/schemas/types"), (200, json!(["AVRO"])));
}

#[test]
fn an_incompatible_registration_gets_409_with_every_difference() {
    let sr = TestRegistry::start("incompatible");
    sr.register("x-value", &record("X", &["a"]));
    let (status, body) = sr.register_body("x-value", &schema_body(&record("X", &["a", "b", "c"])));
    assert_eq!((status, code(&body)), (409, 409), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Schema being registered is incompatible with an earlier schema for subject \"x-value\""
        ),
        "{message}"
    );
    for needle in [
        "errorType:'READER_FIELD_MISSING_DEFAULT_VALUE'",
        "The field 'b' at path '/fields/1' in the new schema has no default value and is missing in the old schema",
        "The field 'c' at path '/fields/2'",
        "{oldSchemaVersion: 1}",
        "compatibility: 'BACKWARD'",
    ] {
        assert!(message.contains(needle), "{needle} in {message}");
    }
    assert_eq!(sr.get("/subjects/x-value/versions"), (200, json!([1])));
}

#[test]
fn compatibility_is_tested_against_a_version_or_all_with_verbose_messages() {
    let sr = TestRegistry::start("compat");
    let body = schema_body(&record("Y", &["a", "b"]));
    // Against a subject with no versions yet: compatible.
    let (status, answer) =
        sr.call("POST", "/compatibility/subjects/y-value/versions/latest", Some(&body));
    assert_eq!((status, answer), (200, json!({"is_compatible": true})));
    sr.register("y-value", &record("Y", &["a"]));
    let (status, answer) = sr.call(
        "POST",
        "/compatibility/subjects/y-value/versions/latest?verbose=true",
        Some(&body),
    );
    assert_eq!(status, 200);
    assert_eq!(answer["is_compatible"], json!(false));
    let messages = answer["messages"].as_array().unwrap();
    assert!(
        messages[0].as_str().unwrap().contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{answer}"
    );
    // Without verbose: no messages.
    let (_, answer) = sr.call("POST", "/compatibility/subjects/y-value/versions/1", Some(&body));
    assert_eq!(answer, json!({"is_compatible": false}));
    let good = schema_body(&record("Y", &["a", "b?"]));
    let (_, answer) =
        sr.call("POST", "/compatibility/subjects/y-value/versions?verbose=true", Some(&good));
    assert_eq!(answer, json!({"is_compatible": true, "messages": []}));
    let (status, answer) =
        sr.call("POST", "/compatibility/subjects/y-value/versions/7", Some(&good));
    assert_eq!((status, code(&answer)), (404, 40402));
}

#[test]
fn transitive_levels_check_every_version_and_plain_ones_only_the_latest() {
    let sr = TestRegistry::start("transitive");
    let put =
        |level: &str| sr.call("PUT", "/config/t-value", Some(&json!({"compatibility": level})));
    assert_eq!(put("NONE").0, 200);
    sr.register("t-value", &record("T", &["a"]));
    sr.register("t-value", &record("T", &["a", "b?"]));
    // v3 drops b's default: v3 reads v2 (b present) but not v1 (no b).
    let v3 = schema_body(&record("T", &["a", "b"]));
    put("BACKWARD");
    let (_, answer) = sr.call("POST", "/compatibility/subjects/t-value/versions", Some(&v3));
    assert_eq!(answer["is_compatible"], json!(true));
    put("BACKWARD_TRANSITIVE");
    let (_, answer) =
        sr.call("POST", "/compatibility/subjects/t-value/versions?verbose=true", Some(&v3));
    assert_eq!(answer["is_compatible"], json!(false), "{answer}");
    assert!(answer["messages"].to_string().contains("{oldSchemaVersion: 1}"), "{answer}");
    let (status, _) = sr.register_body("t-value", &v3);
    assert_eq!(status, 409);
}

#[test]
fn soft_deleted_versions_are_skipped_by_compatibility_checks() {
    let sr = TestRegistry::start("compat-deleted");
    sr.register("d-value", &record("D", &["a"]));
    sr.register("d-value", &record("D", &["a", "b?"]));
    assert_eq!(sr.call("DELETE", "/subjects/d-value/versions/2", None), (200, json!(2)));
    sr.call("PUT", "/config/d-value", Some(&json!({"compatibility": "FULL_TRANSITIVE"})));
    // FULL_TRANSITIVE against v1 only: v2 (deleted) would have been checked too.
    let id = sr.register("d-value", &record("D", &["a", "c?"]));
    assert_eq!(sr.get("/subjects/d-value/versions"), (200, json!([1, 3])));
    assert!(id > 0);
}

#[test]
fn global_config_is_read_set_and_reset() {
    let sr = TestRegistry::start("config");
    assert_eq!(sr.get("/config"), (200, json!({"compatibilityLevel": "BACKWARD"})));
    let (status, body) = sr.call("PUT", "/config", Some(&json!({"compatibility": "full"})));
    assert_eq!((status, body), (200, json!({"compatibility": "FULL"})));
    assert_eq!(sr.get("/config"), (200, json!({"compatibilityLevel": "FULL"})));
    assert_eq!(sr.call("DELETE", "/config", None), (200, json!({"compatibilityLevel": "FULL"})));
    assert_eq!(sr.get("/config"), (200, json!({"compatibilityLevel": "BACKWARD"})));
    let (status, body) = sr.call("PUT", "/config", Some(&json!({"compatibility": "SIDEWAYS"})));
    assert_eq!((status, code(&body)), (422, 42203));
}

#[test]
fn subject_config_falls_back_to_global_only_when_asked() {
    let sr = TestRegistry::start("subject-config");
    let (status, body) = sr.get("/config/s-value");
    assert_eq!((status, code(&body)), (404, 40408));
    assert_eq!(
        sr.get("/config/s-value?defaultToGlobal=true"),
        (200, json!({"compatibilityLevel": "BACKWARD"}))
    );
    // A subject with no schemas yet can be configured.
    let (status, _) = sr.call("PUT", "/config/s-value", Some(&json!({"compatibility": "NONE"})));
    assert_eq!(status, 200);
    assert_eq!(sr.get("/config/s-value"), (200, json!({"compatibilityLevel": "NONE"})));
    // The subject's level governs registration: NONE lets anything in.
    sr.register("s-value", &record("S", &["a"]));
    sr.register("s-value", &record("S", &["z"]));
    assert_eq!(
        sr.call("DELETE", "/config/s-value", None),
        (200, json!({"compatibilityLevel": "NONE"}))
    );
    // Deleting a level the subject does not have: Confluent answers 40401, subject not found.
    let (status, body) = sr.call("DELETE", "/config/s-value", None);
    assert_eq!((status, code(&body)), (404, 40401), "{body}");
    let (status, body) = sr.call("DELETE", "/config/never-configured-value", None);
    assert_eq!((status, code(&body)), (404, 40401), "{body}");
}

#[test]
fn modes_are_read_and_set_and_readonly_refuses_writes() {
    let sr = TestRegistry::start("mode");
    assert_eq!(sr.get("/mode"), (200, json!({"mode": "READWRITE"})));
    let (status, body) = sr.get("/mode/m-value");
    assert_eq!((status, code(&body)), (404, 40409));
    assert_eq!(sr.get("/mode/m-value?defaultToGlobal=true"), (200, json!({"mode": "READWRITE"})));
    sr.register("m-value", &record("M", &["a"]));
    assert_eq!(
        sr.call("PUT", "/mode/m-value", Some(&json!({"mode": "READONLY"}))),
        (200, json!({"mode": "READONLY"}))
    );
    let (status, body) = sr.register_body("m-value", &schema_body(&record("M", &["a", "b?"])));
    assert_eq!((status, code(&body)), (422, 42205));
    let (status, body) = sr.call("DELETE", "/subjects/m-value", None);
    assert_eq!((status, code(&body)), (422, 42205));
    // Other subjects still take writes.
    sr.register("other-value", &record("O", &["a"]));
    assert_eq!(sr.call("DELETE", "/mode/m-value", None), (200, json!({"mode": "READONLY"})));
    sr.register("m-value", &record("M", &["a", "b?"]));
    let (status, body) = sr.call("PUT", "/mode", Some(&json!({"mode": "SOMETIMES"})));
    assert_eq!((status, code(&body)), (422, 42204));
}

#[test]
fn import_mode_takes_explicit_ids_and_versions_on_an_empty_registry() {
    let sr = TestRegistry::start("import");
    sr.register("before-value", &record("B", &["a"]));
    // IMPORT needs an empty registry, unless forced.
    let (status, body) = sr.call("PUT", "/mode", Some(&json!({"mode": "IMPORT"})));
    assert_eq!((status, code(&body)), (422, 42205));
    let (status, _) = sr.call("PUT", "/mode?force=true", Some(&json!({"mode": "IMPORT"})));
    assert_eq!(status, 200);
    let schema = record("Imported", &["a"]);
    let (status, body) =
        sr.register_body("imp-value", &json!({"schema": schema, "id": 100, "version": 7}));
    assert_eq!((status, &body), (200, &json!({"id": 100})));
    assert_eq!(sr.get("/subjects/imp-value/versions"), (200, json!([7])));
    // Without an id, or with an id bound to another schema: refused.
    let (status, body) = sr.register_body("imp-value", &schema_body(&record("Imported", &["b"])));
    assert_eq!((status, code(&body)), (422, 42205));
    let (status, body) =
        sr.register_body("imp-value", &json!({"schema": record("Imported", &["c"]), "id": 100}));
    assert_eq!((status, code(&body)), (422, 42207));
    sr.call("PUT", "/mode", Some(&json!({"mode": "READWRITE"})));
    // Ids handed out afterwards never reuse imported ones.
    let next = sr.register("after-value", &record("After", &["a"]));
    assert_eq!(next, 101);
}

#[test]
fn a_version_is_soft_deleted_then_hard_deleted_in_that_order() {
    let sr = TestRegistry::start("delete-version");
    let id = sr.register("dv-value", &record("DV", &["a"]));
    sr.register("dv-value", &record("DV", &["a", "b?"]));
    let (status, body) = sr.call("DELETE", "/subjects/dv-value/versions/1?permanent=true", None);
    assert_eq!((status, code(&body)), (404, 40407));
    assert_eq!(sr.call("DELETE", "/subjects/dv-value/versions/1", None), (200, json!(1)));
    let (status, body) = sr.call("DELETE", "/subjects/dv-value/versions/1", None);
    assert_eq!((status, code(&body)), (404, 40406));
    assert_eq!(sr.get("/subjects/dv-value/versions"), (200, json!([2])));
    assert_eq!(sr.get("/subjects/dv-value/versions?deleted=true"), (200, json!([1, 2])));
    let (status, body) = sr.get("/subjects/dv-value/versions/1");
    assert_eq!((status, code(&body)), (404, 40402));
    assert_eq!(sr.get("/subjects/dv-value/versions/1?deleted=true").0, 200);
    // A soft-deleted version's id still resolves: old data stays readable.
    assert_eq!(sr.get(&format!("/schemas/ids/{id}")).0, 200);
    assert_eq!(
        sr.call("DELETE", "/subjects/dv-value/versions/1?permanent=true", None),
        (200, json!(1))
    );
    assert_eq!(sr.get("/subjects/dv-value/versions?deleted=true"), (200, json!([2])));
    let (status, body) = sr.call("DELETE", "/subjects/dv-value/versions/9", None);
    assert_eq!((status, code(&body)), (404, 40402));
}

#[test]
fn a_subject_is_soft_deleted_then_hard_deleted_and_version_numbers_follow_confluent() {
    let sr = TestRegistry::start("delete-subject");
    sr.register("ds-value", &record("DS", &["a"]));
    sr.register("ds-value", &record("DS", &["a", "b?"]));
    let (status, body) = sr.call("DELETE", "/subjects/ds-value?permanent=true", None);
    assert_eq!((status, code(&body)), (404, 40405));
    assert_eq!(sr.call("DELETE", "/subjects/ds-value", None), (200, json!([1, 2])));
    let (status, body) = sr.call("DELETE", "/subjects/ds-value", None);
    assert_eq!((status, code(&body)), (404, 40404));
    let (status, body) = sr.get("/subjects/ds-value/versions");
    assert_eq!((status, code(&body)), (404, 40401));
    // Registering again continues the numbering after a soft delete...
    sr.register("ds-value", &record("DS", &["a", "c?"]));
    assert_eq!(sr.get("/subjects/ds-value/versions"), (200, json!([3])));
    sr.call("DELETE", "/subjects/ds-value", None);
    assert_eq!(
        sr.call("DELETE", "/subjects/ds-value?permanent=true", None),
        (200, json!([1, 2, 3]))
    );
    // ...and starts over after a hard delete.
    sr.register("ds-value", &record("DS", &["a"]));
    assert_eq!(sr.get("/subjects/ds-value/versions"), (200, json!([1])));
    let (status, body) = sr.call("DELETE", "/subjects/nobody", None);
    assert_eq!((status, code(&body)), (404, 40401));
}

#[test]
fn references_let_the_topic_union_refer_to_its_record_subjects_and_block_their_deletion() {
    let sr = TestRegistry::start("references");
    let opened = r#"{"type":"record","name":"Opened","namespace":"bank","fields":[{"name":"id","type":"string"}]}"#;
    let closed = r#"{"type":"record","name":"Closed","namespace":"bank","fields":[{"name":"id","type":"string"}]}"#;
    sr.register("bank.Opened", opened);
    sr.register("bank.Closed", closed);
    let union = json!({
        "schema": r#"["bank.Opened", "bank.Closed"]"#,
        "references": [
            {"name": "bank.Opened", "subject": "bank.Opened", "version": 1},
            {"name": "bank.Closed", "subject": "bank.Closed", "version": 1}
        ]
    });
    let (status, body) = sr.register_body("bank.accounts-value", &union);
    assert_eq!(status, 200, "{body}");
    let id = body["id"].clone();
    let (_, fetched) = sr.get(&format!("/schemas/ids/{id}"));
    assert_eq!(fetched["schema"], json!(r#"["bank.Opened","bank.Closed"]"#));
    assert_eq!(fetched["references"], union["references"]);
    assert_eq!(sr.get("/subjects/bank.Opened/versions/1/referencedby"), (200, json!([id])));
    // The referenced versions cannot go while referred to.
    let (status, body) = sr.call("DELETE", "/subjects/bank.Opened/versions/1", None);
    assert_eq!((status, code(&body)), (422, 42206));
    let (status, body) = sr.call("DELETE", "/subjects/bank.Closed", None);
    assert_eq!((status, code(&body)), (422, 42206));
    // Once the referrer is gone, they can.
    sr.call("DELETE", "/subjects/bank.accounts-value", None);
    assert_eq!(sr.call("DELETE", "/subjects/bank.Closed", None), (200, json!([1])));
    // A reference to nothing makes the schema invalid.
    let dangling = json!({
        "schema": r#"["bank.Gone"]"#,
        "references": [{"name": "bank.Gone", "subject": "bank.Gone", "version": 1}]
    });
    let (status, body) = sr.register_body("dangling-value", &dangling);
    assert_eq!((status, code(&body)), (422, 42201), "{body}");
}

#[test]
fn bad_input_gets_a_confluent_error_body_never_a_crash() {
    let sr = TestRegistry::start("bad-input");
    let cases: Vec<(&str, &str, Option<String>, u16, i64)> = vec![
        ("POST", "/subjects/b-value/versions", Some("{not json".into()), 400, 400),
        ("POST", "/subjects/b-value/versions", Some(r#"{"schema": 42}"#.into()), 422, 422),
        (
            "POST",
            "/subjects/b-value/versions",
            Some(r#"{"schema": "{\"type\":\"nope\"}"}"#.into()),
            422,
            42201,
        ),
        (
            "POST",
            "/subjects/b-value/versions",
            Some(r#"{"schema": "{\"type\":\"record\"}"}"#.into()),
            422,
            42201,
        ),
        ("POST", "/subjects/b-value/versions", Some(r#"{}"#.into()), 422, 42201),
        (
            "POST",
            "/subjects/b-value/versions",
            Some(r#"{"schema": "{\"type\":\"object\"}", "schemaType": "JSON"}"#.into()),
            422,
            42201,
        ),
        (
            "POST",
            "/subjects/b-value/versions",
            Some(r#"{"schema": "\"int\"", "schemaType": "XML"}"#.into()),
            422,
            42201,
        ),
        ("PUT", "/config", Some(r#"{"compatibility": 3}"#.into()), 422, 422),
        ("PUT", "/mode", Some(r#"[]"#.into()), 422, 422),
        ("GET", "/nowhere", None, 404, 404),
        ("DELETE", "/schemas/types", None, 405, 405),
        ("GET", "/schemas/ids/not-a-number", None, 404, 40403),
    ];
    for (method, path, body, status, error) in cases {
        let (got, answer) = sr.call_with(method, path, body.clone(), &[]);
        assert_eq!((got, code(&answer)), (status, error), "{method} {path} {body:?}: {answer}");
        assert!(!answer["message"].as_str().unwrap().is_empty());
    }
    let (status, body) = sr.call_with(
        "POST",
        "/subjects/b-value/versions",
        Some(r#"{"schema": "\"int\""}"#.into()),
        &[("Content-Type", "text/plain")],
    );
    assert_eq!((status, code(&body)), (415, 415));
    // Still serving.
    assert_eq!(sr.get("/subjects").0, 200);
}

#[test]
fn plain_application_json_is_accepted_too() {
    let sr = TestRegistry::start("json");
    let (status, body) = sr.call_with(
        "POST",
        "/subjects/j-value/versions",
        Some(json!({"schema": "\"long\""}).to_string()),
        &[("Content-Type", "application/json")],
    );
    assert_eq!((status, body), (200, json!({"id": 1})));
}

#[test]
fn basic_auth_when_configured_refuses_requests_without_the_credentials() {
    let mut config = strata_registry::Config::new(registry::fresh_dir("auth"));
    config.basic_auth = Some("alice:s3cret".into());
    let sr = TestRegistry::with_config(config);
    let (status, body) = sr.get("/subjects");
    assert_eq!((status, code(&body)), (401, 401));
    let wrong = format!("Basic {}", b64("alice:wrong"));
    assert_eq!(sr.call_with("GET", "/subjects", None, &[("Authorization", &wrong)]).0, 401);
    let right = format!("Basic {}", b64("alice:s3cret"));
    assert_eq!(
        sr.call_with("GET", "/subjects", None, &[("Authorization", &right)]),
        (200, json!([]))
    );
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn requests_over_the_size_limit_get_413() {
    let mut config = strata_registry::Config::new(registry::fresh_dir("limit"));
    config.max_request_bytes = 1024;
    let sr = TestRegistry::with_config(config);
    let big =
        json!({"schema": format!("{{\"type\":\"string\",\"doc\":\"{}\"}}", "x".repeat(4096))});
    let (status, body) = sr.register_body("big-value", &big);
    assert_eq!((status, code(&body)), (413, 413), "{body}");
}

#[test]
fn a_restart_serves_exactly_what_was_acknowledged() {
    let mut sr = TestRegistry::start("restart");
    let a = sr.register("a-value", &record("A", &["a"]));
    let b = sr.register("a-value", &record("A", &["a", "b?"]));
    let c = sr.register("c-value", &record("C", &["a"]));
    sr.call("DELETE", "/subjects/a-value/versions/1", None);
    sr.call("PUT", "/config/c-value", Some(&json!({"compatibility": "FULL"})));
    sr.call("PUT", "/mode/c-value", Some(&json!({"mode": "READONLY"})));
    sr.call("PUT", "/config", Some(&json!({"compatibility": "NONE"})));
    let everything = [
        "/subjects?deleted=true",
        "/subjects/a-value/versions?deleted=true",
        "/subjects/a-value/versions/1?deleted=true",
        "/subjects/a-value/versions/2",
        "/subjects/c-value/versions/1",
        "/config",
        "/config/c-value",
        "/mode/c-value",
    ];
    let before: Vec<(u16, Value)> = everything.iter().map(|p| sr.get(p)).collect();
    sr.restart();
    let after: Vec<(u16, Value)> = everything.iter().map(|p| sr.get(p)).collect();
    assert_eq!(before, after);
    // Ids keep counting from where they were.
    let d = sr.register("d-value", &record("D", &["a"]));
    assert_eq!((a, b, c, d), (1, 2, 3, 4));
}

#[test]
fn a_write_cut_short_is_dropped_and_damage_elsewhere_stops_the_start() {
    let mut sr = TestRegistry::start("torn");
    sr.register("t-value", &record("T", &["a"]));
    sr.stop();
    let log = sr.dir.join("registry.log");
    let acknowledged = std::fs::read_to_string(&log).unwrap();
    // A crash in the middle of an (unacknowledged) append leaves a partial line.
    std::fs::write(&log, format!("{acknowledged}{{\"op\":\"register\",\"subj")).unwrap();
    sr.restart();
    assert_eq!(sr.get("/subjects/t-value/versions"), (200, json!([1])));
    assert_eq!(sr.register("u-value", &record("U", &["a"])), 2);
    sr.stop();
    assert!(std::fs::read_to_string(&log).unwrap().ends_with('\n'));
    // A damaged line that is not the last: refuse to start rather than lose what follows.
    let text = std::fs::read_to_string(&log).unwrap().replacen("register", "regi$ter", 1);
    std::fs::write(&log, text).unwrap();
    let error = strata_registry::Server::start(sr.config.clone()).unwrap_err();
    let chain = strata::error::Chain(&error).to_string();
    assert!(chain.contains("registry.log` line 1 is damaged; refusing to start: "), "{chain}");
    assert!(
        matches!(
            error,
            strata_registry::ServerError::Open(strata_registry::OpenError::Damaged { line: 1, .. })
        ),
        "{error:?}"
    );
}

#[test]
fn one_directory_is_served_by_one_registry_at_a_time() {
    let sr = TestRegistry::start("lock");
    let error = strata_registry::Server::start(sr.config.clone()).unwrap_err();
    assert!(error.to_string().contains("another registry is serving"), "{error}");
    assert!(matches!(
        error,
        strata_registry::ServerError::Open(strata_registry::OpenError::Locked { .. })
    ));
}

#[test]
fn concurrent_registrations_never_share_or_reuse_an_id() {
    let sr = TestRegistry::start("concurrent");
    let ids: Vec<(String, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let sr = &sr;
                scope.spawn(move || {
                    (0..10)
                        .map(|i| {
                            let name = format!("R{t}x{i}");
                            // Every thread registers a shared schema too: one id for all.
                            sr.register(&format!("shared-{t}"), &record("Shared", &["s"]));
                            (
                                name.clone(),
                                sr.register(&format!("s{t}-{i}"), &record(&name, &["a"])),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut distinct: Vec<u64> = ids.iter().map(|(_, id)| *id).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "every schema has its own id");
    let shared = sr.register("shared-x", &record("Shared", &["s"]));
    assert!(!distinct.contains(&shared));
    for (name, id) in &ids {
        let (_, body) = sr.get(&format!("/schemas/ids/{id}"));
        assert_eq!(body["schema"], json!(record(name, &["a"])));
    }
}

#[test]
fn confluents_python_client_passes_the_same_suite() {
    let sr = TestRegistry::start("python");
    let mut config = strata_registry::Config::new(registry::fresh_dir("python-auth"));
    config.basic_auth = Some("alice:s3cret".into());
    let authed = TestRegistry::with_config(config);
    let out = support::run_python("registry_conformance.py", &[&sr.url(), &authed.url()], "");
    let passed = out.lines().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(passed, 18, "{out}");
    assert!(out.contains("18 passed, 0 failed"), "{out}");
}

#[test]
fn mangled_requests_get_4xx_never_5xx_and_the_registry_keeps_serving() {
    let sr = TestRegistry::start("mangled");
    sr.register("base-value", &record("Base", &["a"]));
    let seeds = [
        json!({"schema": record("Base", &["a", "b?"])}).to_string(),
        json!({"schema": r#"["null",{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}]"#, "references": []}).to_string(),
        json!({"schema": r#"{"type":"fixed","name":"F","size":4,"logicalType":"decimal","precision":4}"#}).to_string(),
        json!({"schema": r#"{"type":"map","values":{"type":"array","items":"long"}}"#, "schemaType": "AVRO"}).to_string(),
        json!({"compatibility": "FULL", "mode": "READONLY"}).to_string(),
    ];
    let paths = [
        "/subjects/base-value/versions",
        "/subjects/base-value",
        "/compatibility/subjects/base-value/versions/latest?verbose=true",
        "/config/base-value",
        "/mode/other-value",
    ];
    let mut rng = support::Rng::new(0x5eed);
    for round in 0..400 {
        let mut body = seeds[rng.below(seeds.len())].clone().into_bytes();
        for _ in 0..1 + rng.below(4) {
            match rng.below(3) {
                0 if !body.is_empty() => {
                    let at = rng.below(body.len());
                    body[at] = b"{}[]\":,\\x0aZ"[rng.below(12)];
                }
                1 if !body.is_empty() => body.truncate(rng.below(body.len())),
                _ => body.insert(rng.below(body.len() + 1), b"{}[]\":,\\x0a"[rng.below(11)]),
            }
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let path = paths[rng.below(paths.len())];
        let method =
            if path.starts_with("/config") || path.starts_with("/mode") { "PUT" } else { "POST" };
        let (status, answer) = sr.call_with(method, path, Some(body.clone()), &[]);
        assert!(status < 500, "round {round}: {method} {path} {body:?} -> {status} {answer}");
        if status != 200 {
            assert!(answer["error_code"].is_i64(), "round {round}: {answer}");
        }
    }
    assert_eq!(sr.get("/subjects/base-value/versions/1").0, 200);
}

#[test]
fn a_compatibility_test_of_an_invalid_schema_gets_42201_as_registration_does() {
    let sr = TestRegistry::start("compat-invalid");
    sr.register("i-value", &record("I", &["a"]));
    // A default that does not match its type.
    let invalid = r#"{"type":"record","name":"I","fields":[{"name":"a","type":"string"},{"name":"n","type":"int","default":"x"}]}"#;
    let (status, body) = sr.call("POST", "/subjects/i-value/versions", Some(&schema_body(invalid)));
    assert_eq!((status, code(&body)), (422, 42201), "registration: {body}");
    for path in [
        "/compatibility/subjects/i-value/versions/latest",
        "/compatibility/subjects/i-value/versions/1",
        "/compatibility/subjects/i-value/versions",
    ] {
        let (status, body) = sr.call("POST", path, Some(&schema_body(invalid)));
        assert_eq!((status, code(&body)), (422, 42201), "{path}: {body}");
        assert!(body.get("is_compatible").is_none(), "{path}: {body}");
    }
    // Also where nothing is registered yet: the schema is checked before the subject is.
    let path = "/compatibility/subjects/nothing-yet-value/versions/latest";
    let (status, body) = sr.call("POST", path, Some(&schema_body(invalid)));
    assert_eq!((status, code(&body)), (422, 42201), "{path}: {body}");
}

#[test]
fn a_soft_deleted_version_read_with_deleted_true_says_it_is_deleted() {
    let sr = TestRegistry::start("deleted-flag");
    sr.register("d-value", &record("D", &["a"]));
    sr.register("d-value", &record("D", &["a", "b?"]));
    let (status, body) = sr.get("/subjects/d-value/versions/1");
    assert_eq!(status, 200);
    assert!(body.get("deleted").is_none_or(|d| d == false), "{body}");
    assert_eq!(sr.call("DELETE", "/subjects/d-value/versions/1", None), (200, json!(1)));
    let (status, body) = sr.get("/subjects/d-value/versions/1?deleted=true");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted"], json!(true), "{body}");
    let (_, live) = sr.get("/subjects/d-value/versions/2?deleted=true");
    assert!(live.get("deleted").is_none_or(|d| d == false), "{live}");
}

#[test]
fn normalize_true_on_lookup_and_registration_finds_a_schema_registered_in_another_spelling() {
    let sr = TestRegistry::start("normalize-lookup");
    // Registered plainly, with a namespace key and properties in one order.
    let plain = r#"{"type":"record","name":"N","namespace":"ns","x-b":1,"x-a":2,"fields":[{"name":"a","type":"int"}]}"#;
    let id = sr.register("n-value", plain);
    // The same schema spelled with a full name and the properties in another order.
    let other =
        r#"{"name":"ns.N","x-a":2,"type":"record","x-b":1,"fields":[{"type":"int","name":"a"}]}"#;
    let (status, body) = sr.call("POST", "/subjects/n-value", Some(&schema_body(other)));
    assert_eq!((status, code(&body)), (404, 40403), "without normalize: {body}");
    let (status, body) =
        sr.call("POST", "/subjects/n-value?normalize=true", Some(&schema_body(other)));
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["id"].clone(), body["version"].clone()), (json!(id), json!(1)), "{body}");
    // Registering it with normalize reuses the id and adds no version.
    let (status, body) =
        sr.call("POST", "/subjects/n-value/versions?normalize=true", Some(&schema_body(other)));
    assert_eq!((status, body["id"].clone()), (200, json!(id)), "{body}");
    assert_eq!(sr.get("/subjects/n-value/versions"), (200, json!([1])));
}
