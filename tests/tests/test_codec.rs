//! Framed records through the decoder and encoder, the way a consumer and a producer use them:
//! every historical version and foreign writer schemas decode into the latest type, and bad
//! input is an error that says where.

mod support;

use std::sync::Arc;

use apache_avro::types::Value;
use strata::codec::{Decoder, Encoder, ReadAs};
use strata::{Event, LocalSource, SchemaSource};
use strata_tests::bank::{AccountEvent, AccountOpened, HolderKind};
use uuid::Uuid;

fn source() -> Arc<LocalSource> {
    Arc::new(LocalSource::from_history(&support::root().join("schemas")).expect("schemas/ reads"))
}

fn framed(id: u32, datum: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(datum);
    out
}

fn schema_text(version: u32) -> String {
    AccountEvent::schema(version).unwrap().to_json().to_string()
}

#[test]
fn records_of_every_version_decode_into_the_latest_type() {
    let source = source();
    let decoder = Decoder::<AccountEvent>::new(source.clone()).unwrap();
    for version in 1..=AccountEvent::VERSION {
        let id = source.id_of("bank.accounts-value", &schema_text(version)).unwrap();
        assert_eq!(decoder.version_of(id).unwrap(), ReadAs::Declared(version));
        let schema = apache_avro::Schema::parse_str(&schema_text(version)).unwrap();
        for value in support::samples_per_branch(&schema, 10, 7) {
            let record = framed(id, &support::write_datum(&schema, value).unwrap());
            decoder.decode(&record).unwrap_or_else(|e| panic!("version {version}: {e}"));
        }
    }
}

#[test]
fn a_version_1_record_arrives_upgraded() {
    let source = source();
    let decoder = Decoder::<AccountEvent>::new(source.clone()).unwrap();
    let id = source.id_of("bank.accounts-value", &schema_text(1)).unwrap();
    let schema = apache_avro::Schema::parse_str(&schema_text(1)).unwrap();
    let opened = Value::Union(
        0,
        Box::new(Value::Record(vec![
            ("account_id".into(), Value::Uuid(Uuid::from_u128(1))),
            ("owner".into(), Value::String("Acme Ltd".into())),
            ("overdraft_limit_cents".into(), Value::Int(-100)),
            ("branch_code".into(), Value::String("B7".into())),
        ])),
    );
    let record = framed(id, &support::write_datum(&schema, opened).unwrap());
    assert_eq!(
        decoder.decode(&record).unwrap(),
        AccountEvent::Opened(AccountOpened {
            account_id: Uuid::from_u128(1),
            holder: "Acme Ltd".into(),
            currency: "EUR".into(),
            overdraft_limit_cents: -100,
            holder_kind: HolderKind::Company,
        })
    );
}

#[test]
fn the_encoder_frames_the_latest_type_and_the_decoder_reads_it_back() {
    let source = source();
    let encoder = Encoder::<AccountEvent>::new(source.as_ref()).unwrap();
    let decoder = Decoder::<AccountEvent>::new(source.clone()).unwrap();
    assert_eq!(encoder.schema_id(), source.id_of("bank.accounts-value", &schema_text(3)).unwrap());
    let event = AccountEvent::Opened(AccountOpened {
        account_id: Uuid::from_u128(9),
        holder: "Grace".into(),
        currency: "CHF".into(),
        overdraft_limit_cents: 1 << 40,
        holder_kind: HolderKind::Person,
    });
    let mut buffer = Vec::with_capacity(128);
    for _ in 0..3 {
        encoder.encode(&event, &mut buffer);
        assert_eq!(buffer[0], 0);
        assert_eq!(decoder.decode(&buffer).unwrap(), event);
    }
}

/// Another producer's schema: version 3's `AccountOpened` with its fields in another order and
/// a field of its own, which strata has never declared.
fn foreign_schema() -> String {
    let mut json = AccountEvent::schema(3).unwrap().to_json();
    let fields = json[0]["fields"].as_array_mut().unwrap();
    fields.reverse();
    fields.push(serde_json::json!({"name": "source_system", "type": "string"}));
    json.to_string()
}

#[test]
fn a_foreign_writer_schema_is_resolved_into_the_nearest_declared_version() {
    let source = source();
    source.insert(500, "bank.accounts-value", &foreign_schema()).unwrap();
    let decoder = Decoder::<AccountEvent>::new(source.clone()).unwrap();
    assert_eq!(decoder.version_of(500).unwrap(), ReadAs::Resolved(3));
    let schema = apache_avro::Schema::parse_str(&foreign_schema()).unwrap();
    let opened = Value::Union(
        0,
        Box::new(Value::Record(vec![
            ("holder_kind".into(), Value::Enum(1, "Person".into())),
            ("overdraft_limit_cents".into(), Value::Long(5)),
            ("currency".into(), Value::String("USD".into())),
            ("holder".into(), Value::String("Lin".into())),
            ("account_id".into(), Value::Uuid(Uuid::from_u128(3))),
            ("source_system".into(), Value::String("legacy-crm".into())),
        ])),
    );
    let record = framed(500, &support::write_datum(&schema, opened).unwrap());
    assert_eq!(
        decoder.decode(&record).unwrap(),
        AccountEvent::Opened(AccountOpened {
            account_id: Uuid::from_u128(3),
            holder: "Lin".into(),
            currency: "USD".into(),
            overdraft_limit_cents: 5,
            holder_kind: HolderKind::Person,
        })
    );
}

#[test]
fn a_foreign_schema_that_no_version_can_read_is_rejected_naming_the_field() {
    let source = source();
    let unreadable = r#"[{"type": "record", "name": "AccountOpened", "namespace": "com.example.bank",
        "fields": [{"name": "account_id", "type": "long"}]}]"#;
    source.insert(501, "bank.accounts-value", unreadable).unwrap();
    let decoder = Decoder::<AccountEvent>::new(source.clone()).unwrap();
    let error = decoder.decode(&framed(501, &[0, 2])).unwrap_err();
    assert_eq!(error.schema_id(), Some(501));
    let chain = strata::error::Chain(&error).to_string();
    assert!(
        chain.contains(
            "cannot decode `strata_tests::bank::AccountEvent` (schema id 501) at byte 0: the writer schema matches no declared version and resolves into none (as version 3): "
        ),
        "{chain}"
    );
    assert!(
        chain.contains(
            "/AccountOpened/account_id: the writer's `long` cannot be read as the reader's `string`"
        ),
        "{chain}"
    );
    // The cause is data, not text: the field's path and both types.
    let strata::error::DecodeErrorKind::Unresolvable { version: 3, source } = error.kind() else {
        panic!("{error:?}")
    };
    let strata::error::ResolveError::Mismatch(mismatch) = source else { panic!("{source:?}") };
    assert_eq!(mismatch.path, "/AccountOpened/account_id");
    assert_eq!(
        mismatch.kind,
        strata::error::MismatchKind::Incompatible {
            writer: "long".into(),
            reader: "string".into()
        }
    );
}

#[test]
fn bad_input_is_an_error_with_its_coordinates() {
    let source = source();
    let decoder = Decoder::<AccountEvent>::new(source.clone()).unwrap();
    let id = source.id_of("bank.accounts-value", &schema_text(2)).unwrap();

    let error = decoder.decode(&framed(9999, &[0])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot decode `strata_tests::bank::AccountEvent` (schema id 9999) at byte 0: the writer schema cannot be had"
    );
    // The source's own error is the cause, as itself.
    let cause = std::error::Error::source(&error).expect("the source's error");
    assert!(
        matches!(cause.downcast_ref(), Some(strata::codec::source::SourceError::UnknownId(9999))),
        "{cause:?}"
    );
    assert!(strata::error::Chain(&error).to_string().ends_with(": schema id 9999 is unknown"));

    let error = decoder.decode(&[1, 0, 0, 0, 1, 0]).unwrap_err();
    assert!(error.to_string().contains("unknown magic byte 1"), "{error}");

    let error = decoder.decode(&[0, 0, 0]).unwrap_err();
    assert!(error.to_string().contains("shorter than the 5-byte header"), "{error}");

    // An AccountOpened (branch 0) whose `holder` is not UTF-8.
    let mut datum = vec![0];
    datum.extend_from_slice(&[72]);
    datum.extend_from_slice(Uuid::nil().hyphenated().to_string().as_bytes());
    datum.extend_from_slice(&[4, 0xff, 0xfe]);
    let error = decoder.decode(&framed(id, &datum)).unwrap_err();
    assert_eq!((error.schema_id(), error.writer_version()), (Some(id), Some(2)));
    assert_eq!(error.path(), "AccountOpened.holder");
    assert_eq!(error.offset(), 38);
    assert!(
        error.to_string().starts_with(&format!("cannot decode `strata_tests::bank::AccountEvent` (schema id {id}, writer version 2) at byte 38, `AccountOpened.holder`: a string is not UTF-8")),
        "{error}"
    );

    // Bytes after the datum are not silently ignored.
    let mut datum = vec![4]; // AccountFrozen at version 2 is branch 2
    datum.extend_from_slice(&[72]);
    datum.extend_from_slice(Uuid::nil().hyphenated().to_string().as_bytes());
    datum.extend_from_slice(&[2, 99]);
    let error = decoder.decode(&framed(id, &datum)).unwrap_err();
    assert!(error.to_string().ends_with("1 byte(s) left after the value"), "{error}");
}

#[test]
fn a_batch_decodes_every_record_and_reports_each_failure_in_place() {
    let source = source();
    let encoder = Encoder::<AccountEvent>::new(source.as_ref()).unwrap();
    let decoder = Decoder::<AccountEvent>::new(source.clone()).unwrap();
    let event = AccountEvent::Opened(AccountOpened {
        account_id: Uuid::nil(),
        holder: "A".into(),
        currency: "EUR".into(),
        overdraft_limit_cents: 0,
        holder_kind: HolderKind::Unknown,
    });
    let mut good = Vec::new();
    encoder.encode(&event, &mut good);
    let bad = framed(encoder.schema_id(), &[0]);
    let records = [&good[..], &bad[..], &good[..]];
    let mut out = Vec::new();
    decoder.decode_batch(records, &mut out);
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].as_ref().unwrap(), &event);
    assert!(out[1].as_ref().unwrap_err().to_string().contains("unexpected end of input"));
    assert_eq!(out[2].as_ref().unwrap(), &event);
}

#[test]
fn an_error_in_a_foreign_writers_record_says_the_schema_was_foreign_and_read_as_which_version() {
    let source = source();
    source.insert(502, "bank.accounts-value", &foreign_schema()).unwrap();
    let decoder = Decoder::<AccountEvent>::new(source.clone()).unwrap();
    // AccountOpened (branch 0) in the foreign order: holder_kind, overdraft, then a currency
    // that is not UTF-8.
    let datum = [0, 2, 10, 4, 0xff, 0xfe];
    let error = decoder.decode(&framed(502, &datum)).unwrap_err();
    assert_eq!(error.writer_version(), None, "the writer matched no declared version");
    assert_eq!(error.read_as_version(), Some(3));
    assert!(error.foreign_writer());
    assert!(
        error.to_string().starts_with(
            "cannot decode `strata_tests::bank::AccountEvent` (schema id 502, a foreign writer schema read as version 3)"
        ),
        "{error}"
    );
    assert!(!error.to_string().contains("writer version"), "{error}");
}

#[test]
fn the_event_type_of_a_foreign_writers_record_is_its_own_union_branch() {
    let source = source();
    // Another producer's union: version 3's branches in reverse order.
    let mut json = AccountEvent::schema(3).unwrap().to_json();
    json.as_array_mut().unwrap().reverse();
    let last = json[0]["name"].as_str().unwrap().to_owned();
    source.insert(503, "bank.accounts-value", &json.to_string()).unwrap();
    let transcoder = strata::codec::Transcoder::<AccountEvent>::new(source).unwrap();
    use strata::codec::Transcode;
    let name = transcoder.event_name(&framed(503, &[0])).expect("a foreign writer's branch");
    assert_eq!(name, format!("com.example.bank.{last}"));
    assert_ne!(name, "com.example.bank.AccountOpened", "the writer's order, not version 3's");
}

#[test]
fn a_decimal_beyond_its_precision_is_an_error_without_nested_quotes() {
    // Avro bytes of length 2 holding 10000: five digits for a `decimal(4, 2)`.
    let bytes = [4u8, 0x27, 0x10];
    let mut reader = strata::decode::Reader::new(&bytes);
    let error = <strata::Decimal<4, 2> as strata::Decode>::decode::<1>(&mut reader).unwrap_err();
    assert_eq!(
        strata::error::Chain(&error).to_string(),
        "cannot decode at byte 0: not a valid `decimal(4, 2)`: the unscaled value 10000 has more than 4 digits"
    );
    assert!(std::error::Error::source(&error).is_some(), "the range error is the cause");
}

#[test]
fn every_public_error_type_of_the_crate_converts_into_strata_error_keeping_its_cause() {
    fn covered<E: Into<strata::Error> + std::error::Error>() {}
    covered::<strata::SchemaError>();
    covered::<strata::kafka::append::AppendError>();
    covered::<strata::kafka::readmodel::ProjectorError>();
    covered::<strata::UpcastError>();
    covered::<strata::DecodeError>();
    covered::<strata::history::HistoryError>();
    covered::<strata::avro::canonical::CanonicalError>();
    covered::<strata::codec::CodecError>();
    covered::<strata::codec::CompareError>();
    covered::<strata::JsonError>();
    covered::<strata::codec::source::SourceError>();
    covered::<strata::snapshot::SnapshotError>();
    covered::<strata::avro::resolve::ResolveError>();
    covered::<strata::avro::compat::UnknownLevel>();
    covered::<strata::types::DecimalRangeError>();
    covered::<strata::kafka::ClientError>();
    covered::<strata::kafka::replay::ReplayError>();
    covered::<strata::kafka::record::RecordError>();
    covered::<strata::kafka::migrate::MigrateError>();
    covered::<strata::codec::key::KeyError>();
    covered::<strata::subject::UnknownStrategy>();
    covered::<strata::subject::NotStandalone>();
    covered::<strata::kafka::append::WriteError>();
    covered::<strata::kafka::record::FailedRecord>();

    // Transparent: the error says what it said, and its cause is still there.
    let canonical = strata::avro::canonical::parse("{", &[], false).unwrap_err();
    let text = canonical.to_string();
    let error = strata::Error::from(canonical);
    assert_eq!(error.to_string(), text);
    assert!(std::error::Error::source(&error).is_some(), "serde_json's error is the cause");
}

#[test]
fn a_failed_records_chain_names_its_coordinates_once_then_its_cause() {
    use strata::kafka::record::{FailedRecord, RecordError};
    use strata::kafka::replay::ReplayError;
    let failed = FailedRecord {
        topic: "bank.accounts".into(),
        partition: 2,
        offset: 41,
        schema_id: Some(3),
        source: RecordError::Tombstone,
    };
    let error = ReplayError::Record(failed);
    assert_eq!(
        strata::error::Chain(&error).to_string(),
        "topic `bank.accounts` partition 2 offset 41 (schema id 3): the record has no value (a \
         tombstone)"
    );
}

#[test]
fn a_registry_that_cannot_be_reached_is_an_error_keeping_the_http_clients_cause() {
    use strata::codec::registry::{Registry, RegistryConfig};
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = RegistryConfig::new(format!("http://127.0.0.1:{port}"));
    config.retries = 0;
    let error = Registry::new(config).schema(1).unwrap_err();
    assert!(matches!(error, strata::codec::source::SourceError::Unreachable { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("schema registry: GET http://127.0.0.1:{port}/schemas/ids/1 failed")
    );
    assert!(std::error::Error::source(&error).is_some(), "ureq's error is the cause");
}
