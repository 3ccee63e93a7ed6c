//! The Avro schema generated for each Rust type and each kind of change, checked against the
//! JSON the Avro specification calls for.

use serde_json::{Value, json};
use strata::schema::SchemaCx;
use strata::{AvroType, Event};

/// The schema of `T` at `version`, in namespace `ns`, as JSON.
fn schema_of<T: AvroType>(version: u32) -> Value {
    T::schema(&mut SchemaCx::new(version, Some("ns"))).expect("derives").to_json()
}

#[track_caller]
fn check<T: AvroType>(version: u32, expected: Value) {
    let actual = schema_of::<T>(version);
    assert_eq!(actual, expected, "\nactual: {}", serde_json::to_string_pretty(&actual).unwrap());
    apache_avro::Schema::parse_str(&actual.to_string()).expect("apache-avro parses it");
}

#[test]
fn every_supported_rust_type_maps_to_its_avro_type() {
    use std::collections::{BTreeMap, HashMap};

    /// All the types.
    #[derive(strata::Record)]
    #[allow(dead_code)]
    struct AllTypes {
        a_bool: bool,
        an_i8: i8,
        an_i16: i16,
        an_i32: i32,
        a_u8: u8,
        a_u16: u16,
        an_i64: i64,
        a_u32: u32,
        an_f32: f32,
        an_f64: f64,
        a_string: String,
        some_bytes: Vec<u8>,
        a_fixed: [u8; 4],
        an_option: Option<String>,
        a_vec: Vec<i32>,
        a_hash_map: HashMap<String, i64>,
        a_btree_map: BTreeMap<String, bool>,
        a_box: Box<f64>,
        a_uuid: uuid::Uuid,
        a_timestamp: time::OffsetDateTime,
        a_date: time::Date,
        a_millis: strata::TimestampMillis,
        a_decimal: strata::Decimal<9, 3>,
    }
    check::<AllTypes>(
        1,
        json!({"type": "record", "name": "AllTypes", "namespace": "ns", "doc": "All the types.", "fields": [
            {"name": "a_bool", "type": "boolean"},
            {"name": "an_i8", "type": "int"},
            {"name": "an_i16", "type": "int"},
            {"name": "an_i32", "type": "int"},
            {"name": "a_u8", "type": "int"},
            {"name": "a_u16", "type": "int"},
            {"name": "an_i64", "type": "long"},
            {"name": "a_u32", "type": "long"},
            {"name": "an_f32", "type": "float"},
            {"name": "an_f64", "type": "double"},
            {"name": "a_string", "type": "string"},
            {"name": "some_bytes", "type": "bytes"},
            {"name": "a_fixed", "type": {"type": "fixed", "name": "AllTypes_a_fixed_4", "size": 4}},
            {"name": "an_option", "type": ["null", "string"], "default": null},
            {"name": "a_vec", "type": {"type": "array", "items": "int"}},
            {"name": "a_hash_map", "type": {"type": "map", "values": "long"}},
            {"name": "a_btree_map", "type": {"type": "map", "values": "boolean"}},
            {"name": "a_box", "type": "double"},
            {"name": "a_uuid", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "a_timestamp", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "a_date", "type": {"type": "int", "logicalType": "date"}},
            {"name": "a_millis", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "a_decimal", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 3}}
        ]}),
    );
}

#[test]
fn a_recursive_record_refers_to_itself_by_name() {
    #[derive(strata::Record)]
    #[allow(dead_code)]
    struct Tree {
        children: Vec<Tree>,
        parent: Option<Box<Tree>>,
    }
    check::<Tree>(
        1,
        json!({"type": "record", "name": "Tree", "namespace": "ns", "fields": [
            {"name": "children", "type": {"type": "array", "items": "Tree"}},
            {"name": "parent", "type": ["null", "Tree"], "default": null}
        ]}),
    );
}

#[test]
fn a_nested_record_inherits_the_namespace_unless_it_declares_its_own() {
    #[derive(strata::Record)]
    #[allow(dead_code)]
    struct Inner {
        x: i32,
    }
    #[derive(strata::Record)]
    #[strata(namespace = "other")]
    #[allow(dead_code)]
    struct Elsewhere {
        y: i32,
    }
    #[derive(strata::Record)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        again: Inner,
        elsewhere: Elsewhere,
    }
    check::<Outer>(
        1,
        json!({"type": "record", "name": "Outer", "namespace": "ns", "fields": [
            {"name": "inner", "type": {"type": "record", "name": "Inner", "fields": [{"name": "x", "type": "int"}]}},
            {"name": "again", "type": "Inner"},
            {"name": "elsewhere", "type": {"type": "record", "name": "Elsewhere", "namespace": "other", "fields": [{"name": "y", "type": "int"}]}}
        ]}),
    );
}

#[derive(strata::Record)]
// Clippy 1.95's `duplicated_attributes` reads any attribute as a tree of shared prefixes and
// flags the second `in = ...` (rust-clippy#13238); newer Clippy checks lint attributes only.
#[allow(clippy::duplicated_attributes)]
#[strata(renamed(from = "Person", in = 2))]
#[strata(renamed(from = "Human", in = 3))]
#[strata(removed(field = "age", ty = "i32", after = "first", in = 3, discard))]
#[allow(dead_code)]
struct Member {
    #[strata(renamed(from = "name", in = 2))]
    #[strata(renamed(from = "given_name", in = 3))]
    first: String,
    #[strata(added(in = 2, default = 0))]
    #[strata(changed(in = 3, from = "i32"))]
    points: i64,
    #[strata(added(in = 3))]
    nickname: Option<String>,
}

#[test]
fn version_1_has_the_first_names_and_no_added_fields() {
    check::<Member>(
        1,
        json!({"type": "record", "name": "Person", "namespace": "ns", "fields": [
            {"name": "name", "type": "string"},
            {"name": "age", "type": "int"}
        ]}),
    );
}

#[test]
fn version_2_renames_with_aliases_and_adds_with_defaults() {
    check::<Member>(
        2,
        json!({"type": "record", "name": "Human", "namespace": "ns", "fields": [
            {"name": "given_name", "type": "string", "aliases": ["name"]},
            {"name": "age", "type": "int"},
            {"name": "points", "type": "int", "default": 0}
        ], "aliases": ["Person"]}),
    );
}

#[test]
fn version_3_keeps_every_earlier_name_as_an_alias_and_drops_the_removed_field() {
    check::<Member>(
        3,
        json!({"type": "record", "name": "Member", "namespace": "ns", "fields": [
            {"name": "first", "type": "string", "aliases": ["name", "given_name"]},
            {"name": "points", "type": "long", "default": 0},
            {"name": "nickname", "type": ["null", "string"], "default": null}
        ], "aliases": ["Person", "Human"]}),
    );
    assert_eq!(<Member as strata::Record>::CHANGES, [1, 2, 3]);
}

#[test]
fn an_enum_gains_symbols_over_versions_and_keeps_its_default() {
    /// A colour.
    #[derive(strata::Enum)]
    #[allow(dead_code)]
    enum Colour {
        #[strata(default)]
        Unknown,
        Red,
        #[strata(added = 2)]
        Green,
    }
    check::<Colour>(
        1,
        json!({"type": "enum", "name": "Colour", "namespace": "ns", "doc": "A colour.", "symbols": ["Unknown", "Red"], "default": "Unknown"}),
    );
    check::<Colour>(
        2,
        json!({"type": "enum", "name": "Colour", "namespace": "ns", "doc": "A colour.", "symbols": ["Unknown", "Red", "Green"], "default": "Unknown"}),
    );
}

#[test]
fn defaults_are_written_in_avro_json_encoding() {
    #[derive(strata::Enum, Clone, Copy)]
    #[allow(dead_code)]
    enum Level {
        Low,
        High,
    }
    #[derive(strata::Record)]
    #[allow(dead_code)]
    struct Defaults {
        #[strata(default = vec![0_u8, 255])]
        bytes: Vec<u8>,
        #[strata(default = Level::High)]
        level: Level,
        #[strata(default = vec![1, 2])]
        list: Vec<i32>,
        #[strata(default = 1.5)]
        ratio: f64,
        #[strata(default = strata::Decimal::from_unscaled(-1).expect("fits"))]
        amount: strata::Decimal<4, 2>,
    }
    let fields = schema_of::<Defaults>(1)["fields"].clone();
    let defaults: Vec<&Value> = fields.as_array().unwrap().iter().map(|f| &f["default"]).collect();
    assert_eq!(
        defaults,
        [&json!("\u{0}\u{ff}"), &json!("High"), &json!([1, 2]), &json!(1.5), &json!("\u{ff}")]
    );
}

#[test]
fn a_default_that_does_not_fit_is_an_error_naming_the_field() {
    #[derive(strata::Record)]
    #[allow(dead_code)]
    struct Bad {
        #[strata(default = Some(3))]
        maybe: Option<i32>,
    }
    let error = Bad::schema(&mut SchemaCx::new(1, None))
        .expect_err("a union default matches its first branch");
    assert_eq!(error.path(), "Bad.maybe");
    assert_eq!(error.version(), 1);
    assert!(error.message().contains("must be `None`"), "{error}");
}

#[test]
fn an_option_of_an_option_is_an_error_naming_the_field() {
    #[derive(strata::Record)]
    #[allow(dead_code)]
    struct Nested {
        twice: Option<Option<i32>>,
    }
    let error = Nested::schema(&mut SchemaCx::new(1, None)).expect_err("a union in a union");
    assert_eq!(
        error.to_string(),
        "schema of version 1, at `Nested.twice`: `Option` of an optional type is a union inside a union, which Avro forbids"
    );
}

mod events {
    use super::*;

    #[derive(strata::Record)]
    #[allow(dead_code)]
    pub struct Started {
        pub id: i64,
    }
    #[derive(strata::Record)]
    #[allow(dead_code)]
    pub struct Paused {
        pub id: i64,
    }
    #[derive(strata::Record)]
    #[allow(dead_code)]
    pub struct Stopped {
        pub id: i64,
    }

    fn paused_into_stopped(p: Paused) -> Result<Job, strata::UpcastError> {
        Ok(Job::Stopped(Stopped { id: p.id }))
    }

    /// A job's life.
    #[derive(strata::Event)]
    #[strata(topic = "jobs", namespace = "com.example.jobs", version = 3)]
    #[strata(retired(
        variant = "Paused",
        ty = "Paused",
        added = 2,
        in = 3,
        after = "Started",
        upgrade = "paused_into_stopped"
    ))]
    #[allow(dead_code)]
    pub enum Job {
        Started(Started),
        #[strata(added = 2)]
        Stopped(Stopped),
    }

    fn names(version: u32) -> Vec<String> {
        let schema = Job::schema(version).expect("derives").to_json();
        schema.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn the_topic_schema_is_a_union_of_the_events_present_in_each_version() {
        assert_eq!(names(1), ["Started"]);
        assert_eq!(names(2), ["Started", "Paused", "Stopped"]);
        assert_eq!(names(3), ["Started", "Stopped"]);
        assert_eq!(Job::subject(), "jobs-value");
        assert_eq!(Job::schema(1).unwrap().to_json()[0]["namespace"], "com.example.jobs");
    }

    #[test]
    fn versions_outside_the_history_are_errors() {
        let error = Job::schema(4).expect_err("the latest is 3");
        assert!(error.message().ends_with("has versions 1 to 3"), "{error}");
        assert!(Job::schema(0).is_err());
    }

    #[test]
    fn the_event_type_registers_itself_with_its_source_location() {
        let job =
            strata::event_types().into_iter().find(|e| e.topic == "jobs").expect("registered");
        assert_eq!(job.rust_name, "test_schema::events::Job");
        assert_eq!(job.version, 3);
        assert!(job.source.file.ends_with("test_schema.rs"), "{}", job.source.file);
        assert!(job.source.line > 1);
    }

    #[test]
    fn generation_is_deterministic() {
        let a = Job::schema(2).unwrap().to_pretty_string();
        let b = Job::schema(2).unwrap().to_pretty_string();
        assert_eq!(a, b);
        assert!(a.ends_with("}\n]\n"), "pretty JSON with a trailing newline");
    }
}

mod serde_names {
    use super::*;

    #[derive(strata::Record)]
    #[serde(rename_all = "camelCase", rename = "PaymentMade")]
    #[allow(dead_code)]
    struct Payment {
        account_id: i64,
        #[serde(rename = "amt")]
        amount_cents: i64,
        method: Method,
    }

    #[derive(strata::Enum)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[allow(dead_code)]
    enum Method {
        BankTransfer,
        #[serde(rename = "CARD")]
        CreditCard,
    }

    #[test]
    fn avro_names_follow_serde_renames_so_they_cannot_drift_apart() {
        check::<Payment>(
            1,
            json!({"type": "record", "name": "PaymentMade", "namespace": "ns", "fields": [
                {"name": "accountId", "type": "long"},
                {"name": "amt", "type": "long"},
                {"name": "method", "type": {"type": "enum", "name": "Method", "symbols": ["BANK_TRANSFER", "CARD"]}}
            ]}),
        );
    }
}
