//! Every generated schema is valid Avro for two independent implementations, and data written
//! with each version resolves into the next one by Avro's own rules, in apache-avro and in
//! fastavro alike: the defaults and aliases the derives generate are right.
//!
//! Two kinds of step are beyond Avro's rules, and strata's upgrade functions do them: a retired
//! event (its record leaves the union) and a retype that is not a promotion. For those, both
//! implementations must refuse the affected records, and only those.

mod support;

use apache_avro::Schema;
use apache_avro::types::Value;
use strata::{VersionedType, event_types};

/// (subject, writer version, record) whose data Avro cannot resolve into the next version.
const UPGRADE_ONLY: &[(&str, u32, &str)] = &[
    // Retired in version 3; `closed_into_frozen` maps it into `Frozen`.
    ("bank.accounts-value", 2, "AccountClosed"),
    // `total_cents` (long) became `total` (decimal); `total_from_cents` converts it.
    ("shop.orders-value", 3, "OrderPlaced"),
];

fn parse(version: u32, event: &VersionedType) -> Schema {
    let json = event.schema(version).expect("the example domain derives").to_json().to_string();
    Schema::parse_str(&json)
        .unwrap_or_else(|e| panic!("{} v{version} does not parse: {e}", event.subject()))
}

fn branch_name(schema: &Schema, value: &Value) -> String {
    let (Schema::Union(union), Value::Union(i, _)) = (schema, value) else {
        panic!("topic schemas and their values are unions")
    };
    match &union.variants()[*i as usize] {
        Schema::Record(r) => r.name.name().to_owned(),
        other => panic!("a topic union holds records, not {other:?}"),
    }
}

/// apache-avro 0.22 resolves a union by trying the value against the reader's branches in
/// order, not by name as the Avro specification says (a v1 `AccountOpened` comes out as the
/// reader's `AccountClosed`, whose fields are a subset), and it ignores aliases. So its half of
/// the check applies the reader's aliases to the writer schema first (as Avro Java does), then
/// resolves branch by branch: the writer's record into the reader's record of the same name.
fn resolve_branch_with_apache_avro(
    event: &VersionedType,
    version: u32,
    value: &Value,
) -> Option<apache_avro::AvroResult<Value>> {
    let reader_json = event.schema(version + 1).expect("derives").to_json();
    let writer_json =
        support::apply_aliases(&event.schema(version).expect("derives").to_json(), &reader_json);
    let writer = &Schema::parse_str(&writer_json.to_string()).expect("aliased writer parses");
    let reader = &Schema::parse_str(&reader_json.to_string()).expect("reader parses");
    let (Schema::Union(w), Schema::Union(r), Value::Union(i, _)) = (writer, reader, value) else {
        panic!("topic schemas and their values are unions")
    };
    let branch = &w.variants()[*i as usize];
    let Schema::Record(record) = branch else { panic!("topic unions hold records") };
    let name = record.name.name();
    let target =
        r.variants().iter().find(|b| matches!(b, Schema::Record(rr) if rr.name.name() == name))?;
    // Renaming changes no byte: the datum is the same under the aliased writer schema.
    let bytes = support::write_datum(writer, rename_value(value.clone(), w, *i)).expect("fits");
    // The union's branch index is one varint byte for these small unions; the rest is the record.
    assert!(bytes[0] < 0x80, "a small union index is one byte");
    let read = apache_avro::reader::datum::GenericDatumReader::builder(branch)
        .writer_schemata(vec![writer])
        .and_then(|b| b.reader_schema(target).reader_schemata(vec![reader]))
        .and_then(|b| b.build())
        .and_then(|r| r.read_value(&mut &bytes[1..]));
    Some(read)
}

#[test]
fn data_written_with_each_version_resolves_into_the_next_in_apache_avro_and_fastavro() {
    strata_tests::link();
    let mut jobs = Vec::new();
    let mut expected = Vec::new();
    for event in event_types() {
        for version in 1..event.version {
            let writer = parse(version, event);
            for value in support::samples_per_branch(&writer, 6, u64::from(version)) {
                let record = branch_name(&writer, &value);
                let refused = UPGRADE_ONLY
                    .iter()
                    .any(|&(s, v, r)| s == event.subject() && v == version && r == record);
                let step =
                    format!("{} v{version} -> v{}, `{record}`", event.subject(), version + 1);
                match (refused, resolve_branch_with_apache_avro(event, version, &value)) {
                    (false, None) => panic!("apache-avro: {step}: no reader branch of that name"),
                    (false, Some(Err(e))) => panic!("apache-avro: {step}: {e}\nvalue: {value:?}"),
                    (true, Some(Ok(v))) => {
                        panic!("apache-avro resolved {step}, which Avro cannot: {v:?}")
                    }
                    _ => {}
                }
                let bytes = support::write_datum(&writer, value.clone()).expect("fits");
                let schema_json = |v| event.schema(v).expect("derives").to_json();
                jobs.push(
                    serde_json::json!({
                        "writer": schema_json(version),
                        "reader": schema_json(version + 1),
                        "datum": hex(&bytes),
                    })
                    .to_string(),
                );
                expected.push((step, refused));
            }
        }
    }
    let out = support::run_python("check_schemas.py", &["resolve"], &(jobs.join("\n") + "\n"));
    let answers: Vec<&str> = out.lines().collect();
    assert_eq!(answers.len(), expected.len(), "fastavro answered every datum:\n{out}");
    for ((step, refused), answer) in expected.iter().zip(answers) {
        match (refused, answer.strip_prefix("error: ")) {
            (false, Some(reason)) => panic!("fastavro: {step}: {reason}"),
            (true, None) => panic!("fastavro resolved {step}, which Avro cannot"),
            _ => {}
        }
    }
    // Every branch of every step, 6 values each: bank 3 + 4 branches, shop 2 + 3 + 3.
    assert_eq!(expected.len(), (3 + 4 + 2 + 3 + 3) * 6);
}

#[test]
fn apache_avro_resolves_a_union_by_structure_not_by_name() {
    // Kept as a test so that the day apache-avro follows the specification, the workaround
    // above (and the note in ARCHITECTURE.md) is revisited.
    strata_tests::link();
    let bank = event_types().into_iter().find(|e| e.topic == "bank.accounts").expect("registered");
    let (v1, v2) = (parse(1, bank), parse(2, bank));
    let bytes = support::write_datum(&v1, opened_v1()).expect("fits v1");
    let resolved = support::read_datum(&v1, &v2, &bytes).expect("apache-avro resolves something");
    assert!(matches!(resolved, Value::Union(3, _)), "now resolves to {resolved:?}");
}

fn opened_v1() -> Value {
    Value::Union(
        0,
        Box::new(Value::Record(vec![
            ("account_id".into(), Value::Uuid(uuid::Uuid::nil())),
            ("owner".into(), Value::String("Ada".into())),
            ("overdraft_limit_cents".into(), Value::Int(-5000)),
            ("branch_code".into(), Value::String("B1".into())),
        ])),
    )
}

#[test]
fn an_added_field_reads_as_its_default_and_a_renamed_field_through_its_alias() {
    strata_tests::link();
    let bank = event_types().into_iter().find(|e| e.topic == "bank.accounts").expect("registered");
    let resolved = resolve_branch_with_apache_avro(bank, 1, &opened_v1())
        .expect("v2 has `AccountOpened`")
        .expect("v1 resolves into v2");
    let Value::Record(fields) = resolved else { panic!("expected a record, got {resolved:?}") };
    let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(get("holder"), Some(Value::String("Ada".into())));
    assert_eq!(get("currency"), Some(Value::String("EUR".into())));
    assert_eq!(get("branch_code"), Some(Value::String("B1".into())));
}

#[test]
fn fastavro_parses_every_committed_schema() {
    let schemas = support::root().join("schemas");
    let out =
        support::run_python("check_schemas.py", &["parse", schemas.to_str().expect("UTF-8")], "");
    let parsed: Vec<&str> = out.lines().collect();
    assert_eq!(
        parsed,
        [
            "parsed bank.accounts-value v1",
            "parsed bank.accounts-value v2",
            "parsed bank.accounts-value v3",
            "parsed com.example.bank.state.Ledger-state v1",
            "parsed com.example.bank.state.Ledger-state v2",
            "parsed shop.orders-key v1",
            "parsed shop.orders-value v1",
            "parsed shop.orders-value v2",
            "parsed shop.orders-value v3",
            "parsed shop.orders-value v4",
        ]
    );
}

/// A value of the writer's branch `i`, with field names as in the aliased writer schema
/// (writing matches fields by name).
fn rename_value(value: Value, writer: &apache_avro::schema::UnionSchema, i: u32) -> Value {
    let (Value::Union(_, inner), Schema::Record(record)) = (value, &writer.variants()[i as usize])
    else {
        panic!("topic unions hold records")
    };
    let Value::Record(fields) = *inner else { panic!("a record value") };
    let renamed =
        fields.into_iter().zip(&record.fields).map(|((_, v), f)| (f.name.clone(), v)).collect();
    Value::Union(i, Box::new(Value::Record(renamed)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
