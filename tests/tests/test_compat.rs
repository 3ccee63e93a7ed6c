//! Schema compatibility as the Schema Registry decides it (Avro Java's `SchemaCompatibility`
//! under Confluent's levels), case by case from the Avro specification and Confluent's
//! documentation. Each case states the writer, the reader and every incompatibility expected;
//! Avro Java itself (Debian's libavro-java) gives its verdict on the same pairs.

mod support;

use serde_json::{Value, json};
use strata::avro::compat::{self, Direction, Level};

fn schema(json: Value) -> apache_avro::Schema {
    compat::parse_schema(&json.to_string()).expect("a valid schema")
}

/// The incompatibilities of reading `writer`'s data with `reader`, as `KIND location`.
fn read(writer: Value, reader: Value) -> Vec<String> {
    compat::can_read(&schema(writer), &schema(reader))
        .expect("models")
        .iter()
        .map(|i| format!("{} {}", i.kind, i.location))
        .collect()
}

fn record(name: &str, fields: Value) -> Value {
    json!({"type": "record", "name": name, "namespace": "ns", "fields": fields})
}

#[test]
fn identical_schemas_are_compatible() {
    let s = record("A", json!([{"name": "x", "type": "int"}]));
    assert_eq!(read(s.clone(), s), Vec::<String>::new());
}

#[test]
fn a_reader_field_the_writer_lacks_needs_a_default() {
    let old = record("A", json!([{"name": "x", "type": "int"}]));
    let with_default = record(
        "A",
        json!([{"name": "x", "type": "int"}, {"name": "y", "type": "string", "default": ""}]),
    );
    let without =
        record("A", json!([{"name": "x", "type": "int"}, {"name": "y", "type": "string"}]));
    assert!(read(old.clone(), with_default).is_empty());
    assert_eq!(read(old, without), ["READER_FIELD_MISSING_DEFAULT_VALUE /fields/1"]);
}

#[test]
fn a_writer_field_the_reader_lacks_is_ignored() {
    let old =
        record("A", json!([{"name": "x", "type": "int"}, {"name": "gone", "type": "string"}]));
    let new = record("A", json!([{"name": "x", "type": "int"}]));
    assert!(read(old, new).is_empty());
}

#[test]
fn promotions_resolve_one_way_only() {
    for (writer, reader) in [
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    ] {
        assert!(read(json!(writer), json!(reader)).is_empty(), "{writer} -> {reader}");
    }
    assert_eq!(read(json!("long"), json!("int")), ["TYPE_MISMATCH /"]);
    assert_eq!(read(json!("double"), json!("float")), ["TYPE_MISMATCH /"]);
    assert_eq!(read(json!("string"), json!("int")), ["TYPE_MISMATCH /"]);
}

#[test]
fn a_reader_enum_missing_writer_symbols_needs_a_default() {
    let writer = json!({"type": "enum", "name": "E", "symbols": ["A", "B", "C"]});
    assert_eq!(
        read(writer.clone(), json!({"type": "enum", "name": "E", "symbols": ["A"]})),
        ["MISSING_ENUM_SYMBOLS /symbols"]
    );
    assert!(
        read(writer, json!({"type": "enum", "name": "E", "symbols": ["A", "Z"], "default": "Z"}))
            .is_empty()
    );
}

#[test]
fn names_match_unqualified_or_through_the_readers_aliases_only() {
    let writer = record("Old", json!([{"name": "x", "type": "int"}]));
    assert_eq!(
        read(writer.clone(), record("New", json!([{"name": "x", "type": "int"}]))),
        ["NAME_MISMATCH /name"]
    );
    let aliased = json!({"type": "record", "name": "New", "namespace": "ns", "aliases": ["ns.Old"], "fields": [{"name": "x", "type": "int"}]});
    assert!(read(writer.clone(), aliased).is_empty());
    // The writer's aliases do not count.
    let writer_aliased = json!({"type": "record", "name": "Old", "namespace": "ns", "aliases": ["ns.New"], "fields": [{"name": "x", "type": "int"}]});
    assert_eq!(
        read(writer_aliased, record("New", json!([{"name": "x", "type": "int"}]))),
        ["NAME_MISMATCH /name"]
    );
    // The namespace does not matter: names are compared unqualified.
    let other_ns = json!({"type": "record", "name": "Old", "namespace": "other", "fields": [{"name": "x", "type": "int"}]});
    assert!(read(writer, other_ns).is_empty());
}

#[test]
fn a_renamed_field_matches_through_the_readers_alias() {
    let writer = record("A", json!([{"name": "owner", "type": "string"}]));
    let reader = record("A", json!([{"name": "holder", "type": "string", "aliases": ["owner"]}]));
    assert!(read(writer, reader).is_empty());
}

#[test]
fn fixed_types_must_agree_in_size_and_name() {
    let writer = json!({"type": "fixed", "name": "H", "size": 16});
    assert_eq!(
        read(writer.clone(), json!({"type": "fixed", "name": "H", "size": 8})),
        ["FIXED_SIZE_MISMATCH /size"]
    );
    assert_eq!(
        read(writer, json!({"type": "fixed", "name": "G", "size": 16})),
        ["NAME_MISMATCH /name"]
    );
}

#[test]
fn unions_resolve_branch_by_branch_in_any_order() {
    assert!(read(json!(["null", "string"]), json!(["string", "null"])).is_empty());
    assert!(read(json!("int"), json!(["null", "long"])).is_empty());
    assert!(read(json!("int"), json!(["int"])).is_empty());
    assert!(read(json!(["int"]), json!("int")).is_empty());
    assert_eq!(read(json!("int"), json!(["null", "string"])), ["MISSING_UNION_BRANCH /"]);
    // Every writer branch must be readable.
    assert_eq!(read(json!(["null", "string"]), json!("string")), ["TYPE_MISMATCH /0"]);
    assert_eq!(
        read(json!(["null", "string", "int"]), json!(["null", "string"])),
        ["MISSING_UNION_BRANCH /2"]
    );
}

#[test]
fn logical_types_are_ignored() {
    assert!(read(json!({"type": "string", "logicalType": "uuid"}), json!("string")).is_empty());
    assert!(
        read(
            json!({"type": "long", "logicalType": "timestamp-millis"}),
            json!({"type": "long", "logicalType": "timestamp-micros"})
        )
        .is_empty()
    );
}

#[test]
fn recursive_types_are_checked_without_looping() {
    let writer = record(
        "Node",
        json!([{"name": "value", "type": "int"}, {"name": "next", "type": ["null", "Node"]}]),
    );
    let reader = record(
        "Node",
        json!([{"name": "value", "type": "long"}, {"name": "next", "type": ["null", "Node"]}, {"name": "tag", "type": "string", "default": ""}]),
    );
    assert!(read(writer.clone(), reader).is_empty());
    let broken = record(
        "Node",
        json!([{"name": "value", "type": "long"}, {"name": "next", "type": ["null", "Node"]}, {"name": "tag", "type": "string"}]),
    );
    assert_eq!(read(writer, broken), ["READER_FIELD_MISSING_DEFAULT_VALUE /fields/2"]);
}

#[test]
fn every_incompatibility_is_reported_with_its_path() {
    let writer = record(
        "A",
        json!([{"name": "x", "type": "string"}, {"name": "inner", "type": record("B", json!([{"name": "y", "type": "long"}]))}]),
    );
    let reader = record(
        "A",
        json!([{"name": "x", "type": "int"}, {"name": "inner", "type": record("B", json!([{"name": "y", "type": "int"}, {"name": "z", "type": "int"}]))}, {"name": "w", "type": "int"}]),
    );
    let found = compat::can_read(&schema(writer), &schema(reader)).unwrap();
    let summary: Vec<String> =
        found.iter().map(|i| format!("{} {} {}", i.kind, i.location, i.path)).collect();
    assert_eq!(
        summary,
        [
            "TYPE_MISMATCH /fields/0/type A.x",
            "TYPE_MISMATCH /fields/1/type/fields/0/type A.inner.y",
            "READER_FIELD_MISSING_DEFAULT_VALUE /fields/1/type/fields/1 A.inner.z",
            "READER_FIELD_MISSING_DEFAULT_VALUE /fields/2 A.w",
        ]
    );
    assert_eq!(found[3].hint, "give `w` a default");
}

/// v1 {x}; v2 {x, y = ""}; v3 {y}: each step is backward compatible with the one before, but
/// v3 cannot read v1's data (no `y`, no default).
fn chain() -> Vec<apache_avro::Schema> {
    vec![
        schema(record("A", json!([{"name": "x", "type": "int"}]))),
        schema(record(
            "A",
            json!([{"name": "x", "type": "int"}, {"name": "y", "type": "string", "default": ""}]),
        )),
        schema(record("A", json!([{"name": "y", "type": "string"}]))),
    ]
}

#[test]
fn transitive_levels_check_every_earlier_version_and_name_it() {
    let history = chain();
    let (old, new) = history.split_at(2);
    assert!(compat::check(Level::Backward, &new[0], old).unwrap().is_empty());
    let findings = compat::check(Level::BackwardTransitive, &new[0], old).unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].version, 1);
    assert_eq!(findings[0].direction, Direction::NewReadsOld);
    assert_eq!(findings[0].incompatibility.kind.as_str(), "READER_FIELD_MISSING_DEFAULT_VALUE");
}

#[test]
fn forward_and_full_levels_check_the_other_direction_too() {
    let old = schema(record("A", json!([{"name": "x", "type": "int"}])));
    let new = schema(record("A", json!([{"name": "x", "type": "long"}])));
    assert!(compat::check(Level::Backward, &new, std::slice::from_ref(&old)).unwrap().is_empty());
    let forward = compat::check(Level::Forward, &new, std::slice::from_ref(&old)).unwrap();
    assert_eq!(forward.len(), 1);
    assert_eq!(forward[0].direction, Direction::OldReadsNew);
    assert_eq!(compat::check(Level::Full, &new, std::slice::from_ref(&old)).unwrap().len(), 1);
    assert!(compat::check(Level::None, &new, &[old]).unwrap().is_empty());
}

#[test]
fn levels_are_named_as_confluent_names_them() {
    for (name, level) in Level::ALL {
        assert_eq!(name.parse::<Level>(), Ok(level));
        assert_eq!(level.as_str(), name);
        assert_eq!(level.to_string(), name);
    }
    // Any case, as Confluent's registry reads it.
    assert_eq!("backward_transitive".parse::<Level>(), Ok(Level::BackwardTransitive));
    let error = "BACKWARDS".parse::<Level>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "`BACKWARDS` is not a compatibility level; expected one of: NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE"
    );
}

/// The verdicts of Avro Java's `SchemaCompatibility` (Debian's 1.8.2) on the cases above agree
/// with strata's, except where a later Avro version changed the rule (listed).
#[test]
fn verdicts_agree_with_avro_java() {
    let rec = |name: &str, fields: Value| record(name, fields);
    let enum_e = |symbols: Value| json!({"type": "enum", "name": "E", "symbols": symbols});
    let pairs: Vec<(Value, Value, Option<&str>)> = vec![
        (
            rec("A", json!([{"name": "x", "type": "int"}])),
            rec(
                "A",
                json!([{"name": "x", "type": "int"}, {"name": "y", "type": "string", "default": ""}]),
            ),
            None,
        ),
        (
            rec("A", json!([{"name": "x", "type": "int"}])),
            rec("A", json!([{"name": "x", "type": "int"}, {"name": "y", "type": "string"}])),
            None,
        ),
        (
            rec("A", json!([{"name": "x", "type": "int"}, {"name": "gone", "type": "string"}])),
            rec("A", json!([{"name": "x", "type": "int"}])),
            None,
        ),
        (json!("int"), json!("long"), None),
        (json!("long"), json!("int"), None),
        (json!("string"), json!("bytes"), None),
        (json!("bytes"), json!("string"), None),
        (json!("float"), json!("double"), None),
        (json!("string"), json!("int"), None),
        (enum_e(json!(["A", "B"])), enum_e(json!(["A"])), None),
        (
            enum_e(json!(["A", "B"])),
            json!({"type": "enum", "name": "E", "symbols": ["A", "Z"], "default": "Z"}),
            Some("enum defaults arrived in Avro 1.9"),
        ),
        (
            rec("Old", json!([{"name": "x", "type": "int"}])),
            rec("New", json!([{"name": "x", "type": "int"}])),
            None,
        ),
        (
            rec("A", json!([{"name": "owner", "type": "string"}])),
            rec("A", json!([{"name": "holder", "type": "string", "aliases": ["owner"]}])),
            None,
        ),
        (
            json!({"type": "fixed", "name": "H", "size": 16}),
            json!({"type": "fixed", "name": "H", "size": 8}),
            None,
        ),
        (json!(["null", "string"]), json!(["string", "null"]), None),
        (json!("int"), json!(["null", "long"]), None),
        (json!("int"), json!(["null", "string"]), None),
        (json!(["null", "string"]), json!("string"), None),
        (json!(["int"]), json!("int"), None),
        (json!({"type": "string", "logicalType": "uuid"}), json!("string"), None),
        // Field aliases that cross: a valid schema in Avro Java, matched by name first.
        (
            rec(
                "A",
                json!([{"name": "field1", "type": "int"}, {"name": "field2", "type": "string"}]),
            ),
            rec(
                "A",
                json!([{"name": "field1", "type": "int", "aliases": ["field2"]},
                       {"name": "field2", "type": "string", "aliases": ["field1"]}]),
            ),
            None,
        ),
        (
            rec(
                "A",
                json!([{"name": "field1", "type": "int"}, {"name": "field2", "type": "string"}]),
            ),
            rec(
                "A",
                json!([{"name": "field2", "type": "int", "aliases": ["field1"]},
                       {"name": "field1", "type": "string", "aliases": ["field2"]}]),
            ),
            None,
        ),
    ];
    let jobs: Vec<String> = pairs
        .iter()
        .map(|(w, r, _)| json!({"op": "compat", "writer": w, "reader": r}).to_string())
        .collect();
    let answers: Vec<Value> = support::run_java(&(jobs.join("\n") + "\n"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), pairs.len());
    for ((writer, reader, deviation), java) in pairs.iter().zip(&answers) {
        let ours = read(writer.clone(), reader.clone()).is_empty();
        // Java stops on an ambiguous reader field; strata reports it as incompatible.
        let ambiguous =
            java["error"].as_str().is_some_and(|e| e.contains("matches multiple fields"));
        let theirs = java["compatible"]
            .as_bool()
            .or(ambiguous.then_some(false))
            .unwrap_or_else(|| panic!("Java: {java}"));
        match deviation {
            None => assert_eq!(
                ours, theirs,
                "writer {writer}, reader {reader}: strata {ours}, Java {theirs}"
            ),
            Some(why) => assert_ne!(ours, theirs, "Java now agrees ({why}); drop the deviation"),
        }
    }
}

#[test]
fn the_gate_acknowledges_declared_breaks_and_restarts_the_history_there() {
    let v = |fields: Value| compat::Prepared::new(&schema(record("A", fields))).unwrap();
    let history = [
        v(json!([{"name": "x", "type": "int"}])),
        v(json!([{"name": "x", "type": "string"}])), // breaks: int -> string
        v(json!([{"name": "x", "type": "string"}, {"name": "y", "type": "int", "default": 0}])),
    ];
    // Undeclared, version 2 is an error. Version 3 cannot read version 1 either, for the same
    // cause: reported once, at the version that introduced it.
    let report = compat::gate(Level::BackwardTransitive, &history, &[]);
    assert!(report.has_errors());
    let versions: Vec<(u32, usize)> =
        report.findings.iter().map(|f| (f.version, f.finding.version)).collect();
    assert_eq!(versions, [(2, 1)]);
    let check =
        compat::GateCheck { version: 3, against: 1, direction: compat::Direction::NewReadsOld };
    assert!(report.checked.contains(&check), "still checked");

    // Declared, version 2's finding is acknowledged and version 3 is checked from 2 on.
    let report = compat::gate(Level::BackwardTransitive, &history, &[2]);
    assert!(!report.has_errors(), "{report:?}");
    assert_eq!(report.findings.len(), 1);
    assert!(report.findings[0].declared);

    // A break declared where nothing breaks is stale.
    let report = compat::gate(Level::BackwardTransitive, &history, &[2, 3]);
    assert_eq!(report.needless_breaks, [3]);
}

#[test]
fn crossing_field_aliases_are_judged_not_refused() {
    // apache-avro alone refuses the schema (a field name claimed twice); Avro Java takes it.
    let crossing = r#"{"type":"record","name":"R","fields":[
        {"name":"field1","type":"int","aliases":["field2"]},
        {"name":"field2","type":"int","aliases":["field1"]}]}"#;
    assert!(apache_avro::Schema::parse_str(crossing).is_err());
    let parsed = compat::parse_schema(crossing).expect("Avro Java's verdict: a valid schema");
    let apache_avro::Schema::Record(record) = &parsed else { panic!("a record") };
    assert_eq!(record.fields[0].aliases, ["field2"], "the aliases are kept for the checker");
    // Against a writer with both fields, each reader field names both: ambiguous, as Avro Java
    // finds it (which stops with "matches multiple fields"); judged, not refused.
    let both = schema(json!({"type":"record","name":"R","fields":[
        {"name":"field1","type":"int"},{"name":"field2","type":"int"}]}));
    let findings = compat::check(Level::Backward, &parsed, &[both]).unwrap();
    assert_eq!(findings.len(), 2, "{findings:?}");
    assert_eq!(findings[0].incompatibility.kind.as_str(), "READER_FIELD_MATCHES_MULTIPLE_FIELDS");
    // Against a writer with one of them, the alias finds it: compatible.
    let one = schema(json!({"type":"record","name":"R","fields":[{"name":"field2","type":"int"}]}));
    let reader = compat::parse_schema(
        r#"{"type":"record","name":"R","fields":[{"name":"field1","type":"int","aliases":["field2"]},{"name":"extra","type":"int","default":0,"aliases":["field1"]}]}"#,
    )
    .unwrap();
    assert!(compat::check(Level::Backward, &reader, &[one]).unwrap().is_empty());
    // A schema invalid for another reason is still refused.
    assert!(
        compat::parse_schema(r#"{"type":"record","name":"R","fields":[{"name":"a"}]}"#).is_err()
    );
}
