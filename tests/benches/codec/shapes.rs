//! The three data shapes of the codec benchmark, each with an old version (two added fields
//! with defaults, a removed field, int to long, a renamed field) and the latest, declared the
//! way a user would: String, Vec, HashMap, plus serde derives for apache-avro's paths.

use std::collections::HashMap;

use apache_avro::types::Value;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// serde for a timestamp as Avro's `timestamp-micros` long, for apache-avro's serde paths
/// (`time`'s own helper writes an `i128`, which apache-avro cannot put in a long).
mod micros {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(at: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64((at.unix_timestamp_nanos() / 1_000) as i64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let micros = i64::deserialize(d)?;
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
            .map_err(serde::de::Error::custom)
    }
}

/// What happened, in the small event.
#[derive(strata::Enum, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    #[strata(default)]
    Unknown,
    Signup,
    Login,
    Purchase,
}

/// The small shape: a 10-field domain event.
#[derive(strata::Record, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[strata(namespace = "bench")]
#[strata(removed(field = "legacy", ty = "String", in = 2, discard))]
pub struct Activity {
    pub id: Uuid,
    #[serde(with = "micros")]
    pub at: OffsetDateTime,
    pub user: String,
    #[strata(renamed(from = "zone", in = 2))]
    pub region: String,
    #[strata(changed(in = 2, from = "i32"))]
    pub count: i64,
    pub score: f64,
    pub note: Option<String>,
    pub kind: Kind,
    #[strata(added(in = 2, default = ""))]
    pub email: String,
    #[strata(added(in = 2, default = 0))]
    pub priority: i32,
}

/// The small shape with small strings (`compact_str`, inline up to 24 bytes): the same schema
/// layout, benchmarked separately.
#[derive(strata::Record, Debug, Clone, PartialEq)]
#[strata(namespace = "bench")]
#[strata(removed(field = "legacy", ty = "compact_str::CompactString", in = 2, discard))]
pub struct ActivityCompact {
    pub id: Uuid,
    pub at: OffsetDateTime,
    pub user: compact_str::CompactString,
    #[strata(renamed(from = "zone", in = 2))]
    pub region: compact_str::CompactString,
    #[strata(changed(in = 2, from = "i32"))]
    pub count: i64,
    pub score: f64,
    pub note: Option<compact_str::CompactString>,
    pub kind: Kind,
    #[strata(added(in = 2, default = ""))]
    pub email: compact_str::CompactString,
    #[strata(added(in = 2, default = 0))]
    pub priority: i32,
}

/// Small strings, and a map with a fast hasher: the options a caller may choose over `String`
/// and SipHash, benchmarked separately.
type Text = compact_str::CompactString;
type FastMap = HashMap<Text, Text, foldhash::fast::RandomState>;

/// [`Customer`] with small strings.
#[derive(strata::Record, Debug, Clone, PartialEq)]
#[strata(namespace = "bench")]
pub struct CustomerCompact {
    pub name: Text,
    pub email: Text,
}

/// [`Line`] with small strings.
#[derive(strata::Record, Debug, Clone, PartialEq)]
#[strata(namespace = "bench")]
pub struct LineCompact {
    pub sku: Text,
    pub quantity: i32,
    pub price_cents: i64,
}

/// [`Order`] with small strings and a fast map.
#[derive(strata::Record, Debug, Clone, PartialEq)]
#[strata(namespace = "bench")]
#[strata(removed(field = "channel", ty = "compact_str::CompactString", in = 2, discard))]
pub struct OrderCompact {
    pub id: Uuid,
    pub customer: CustomerCompact,
    pub lines: Vec<LineCompact>,
    pub attributes: FastMap,
    #[strata(changed(in = 2, from = "i32"))]
    pub total_cents: i64,
    #[strata(renamed(from = "state", in = 2))]
    pub status: Text,
    #[strata(added(in = 2, default = "EUR"))]
    pub currency: Text,
    #[strata(added(in = 2, default = false))]
    pub gift: bool,
}

/// [`Payment`] with small strings.
#[derive(strata::Record, Debug, Clone, PartialEq)]
#[strata(namespace = "bench")]
#[strata(removed(field = "terminal", ty = "compact_str::CompactString", in = 2, discard))]
pub struct PaymentCompact {
    pub id: Uuid,
    #[strata(changed(in = 2, from = "i32"))]
    pub amount_cents: i64,
    #[strata(renamed(from = "ccy", in = 2))]
    pub currency: Text,
    #[strata(added(in = 2, default = ""))]
    pub reference: Text,
    #[strata(added(in = 2, default = 0))]
    pub attempt: i32,
}

/// [`Shipment`] with small strings.
#[derive(strata::Record, Debug, Clone, PartialEq)]
#[strata(namespace = "bench")]
#[strata(removed(field = "depot", ty = "compact_str::CompactString", in = 2, discard))]
pub struct ShipmentCompact {
    pub id: Uuid,
    #[strata(renamed(from = "courier", in = 2))]
    pub carrier: Text,
    #[strata(changed(in = 2, from = "i32"))]
    pub weight_grams: i64,
    #[strata(added(in = 2, default = ""))]
    pub tracking: Text,
    #[strata(added(in = 2, default = false))]
    pub insured: bool,
}

/// [`Review`] with small strings.
#[derive(strata::Record, Debug, Clone, PartialEq)]
#[strata(namespace = "bench")]
#[strata(removed(field = "locale", ty = "compact_str::CompactString", in = 2, discard))]
pub struct ReviewCompact {
    pub id: Uuid,
    #[strata(changed(in = 2, from = "i32"))]
    pub stars: i64,
    #[strata(renamed(from = "body", in = 2))]
    pub text: Text,
    #[strata(added(in = 2, default = ""))]
    pub title: Text,
    #[strata(added(in = 2, default = 0))]
    pub helpful: i32,
}

/// [`Stream`] with small strings: the same union, branch for branch.
#[derive(strata::Event, Debug, Clone, PartialEq)]
#[strata(topic = "bench.stream.compact", namespace = "bench", version = 2)]
pub enum StreamCompact {
    Activity(ActivityCompact),
    Payment(PaymentCompact),
    Shipment(ShipmentCompact),
    Review(ReviewCompact),
}

/// A customer, nested in an order.
#[derive(strata::Record, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[strata(namespace = "bench")]
pub struct Customer {
    pub name: String,
    pub email: String,
}

/// A line of an order.
#[derive(strata::Record, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[strata(namespace = "bench")]
pub struct Line {
    pub sku: String,
    pub quantity: i32,
    pub price_cents: i64,
}

/// The nested shape: a record, an array of 5 records and a map of 3 strings.
#[derive(strata::Record, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[strata(namespace = "bench")]
#[strata(removed(field = "channel", ty = "String", in = 2, discard))]
pub struct Order {
    pub id: Uuid,
    pub customer: Customer,
    pub lines: Vec<Line>,
    pub attributes: HashMap<String, String>,
    #[strata(changed(in = 2, from = "i32"))]
    pub total_cents: i64,
    #[strata(renamed(from = "state", in = 2))]
    pub status: String,
    #[strata(added(in = 2, default = "EUR"))]
    pub currency: String,
    #[strata(added(in = 2, default = false))]
    pub gift: bool,
}

/// A payment, one of the union's events.
#[derive(strata::Record, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[strata(namespace = "bench")]
#[strata(removed(field = "terminal", ty = "String", in = 2, discard))]
pub struct Payment {
    pub id: Uuid,
    #[strata(changed(in = 2, from = "i32"))]
    pub amount_cents: i64,
    #[strata(renamed(from = "ccy", in = 2))]
    pub currency: String,
    #[strata(added(in = 2, default = ""))]
    pub reference: String,
    #[strata(added(in = 2, default = 0))]
    pub attempt: i32,
}

/// A shipment, one of the union's events.
#[derive(strata::Record, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[strata(namespace = "bench")]
#[strata(removed(field = "depot", ty = "String", in = 2, discard))]
pub struct Shipment {
    pub id: Uuid,
    #[strata(renamed(from = "courier", in = 2))]
    pub carrier: String,
    #[strata(changed(in = 2, from = "i32"))]
    pub weight_grams: i64,
    #[strata(added(in = 2, default = ""))]
    pub tracking: String,
    #[strata(added(in = 2, default = false))]
    pub insured: bool,
}

/// A review, one of the union's events.
#[derive(strata::Record, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[strata(namespace = "bench")]
#[strata(removed(field = "locale", ty = "String", in = 2, discard))]
pub struct Review {
    pub id: Uuid,
    #[strata(changed(in = 2, from = "i32"))]
    pub stars: i64,
    #[strata(renamed(from = "body", in = 2))]
    pub text: String,
    #[strata(added(in = 2, default = ""))]
    pub title: String,
    #[strata(added(in = 2, default = 0))]
    pub helpful: i32,
}

/// The union shape: a topic of 4 event types.
#[derive(strata::Event, Debug, Clone, PartialEq)]
#[strata(topic = "bench.stream", namespace = "bench", version = 2)]
pub enum Stream {
    Activity(Activity),
    Payment(Payment),
    Shipment(Shipment),
    Review(Review),
}

/// The small shape alone, as a topic.
#[derive(strata::Event, Debug, Clone, PartialEq)]
#[strata(topic = "bench.activity", namespace = "bench", version = 2)]
pub enum ActivityTopic {
    Activity(Activity),
}

/// The nested shape alone, as a topic.
#[derive(strata::Event, Debug, Clone, PartialEq)]
#[strata(topic = "bench.orders", namespace = "bench", version = 2)]
pub enum OrderTopic {
    Order(Order),
}

fn text(i: usize, what: &str) -> String {
    format!("{what}-{i:05}-{}", "x".repeat(i % 7))
}

fn uuid(i: usize) -> Value {
    Value::Uuid(Uuid::from_u128(0x5eed_0000_0000_0000_0000 + i as u128))
}

/// Version 1 of the small event, as apache-avro values.
pub fn activity_v1(i: usize) -> Value {
    Value::Record(vec![
        ("id".into(), uuid(i)),
        ("at".into(), Value::TimestampMicros(1_700_000_000_000_000 + i as i64 * 1_000)),
        ("user".into(), Value::String(text(i, "user"))),
        ("zone".into(), Value::String(text(i % 13, "eu-west"))),
        ("count".into(), Value::Int(i as i32 * 3)),
        ("score".into(), Value::Double(i as f64 / 7.0)),
        (
            "note".into(),
            if i.is_multiple_of(3) {
                Value::Union(0, Box::new(Value::Null))
            } else {
                Value::Union(1, Box::new(Value::String(text(i, "note"))))
            },
        ),
        (
            "kind".into(),
            Value::Enum((i % 4) as u32, ["Unknown", "Signup", "Login", "Purchase"][i % 4].into()),
        ),
        ("legacy".into(), Value::String(text(i, "legacy"))),
    ])
}

/// Version 2 (the latest) of the small event, as apache-avro values.
pub fn activity_v2(i: usize) -> Value {
    let Value::Record(mut fields) = activity_v1(i) else { unreachable!() };
    fields.pop();
    fields[3].0 = "region".into();
    fields[4].1 = Value::Long(i as i64 * 3);
    fields.push(("email".into(), Value::String(text(i, "mail"))));
    fields.push(("priority".into(), Value::Int(i as i32 % 5)));
    Value::Record(fields)
}

fn customer(i: usize) -> Value {
    Value::Record(vec![
        ("name".into(), Value::String(text(i, "name"))),
        ("email".into(), Value::String(text(i, "mail"))),
    ])
}

fn lines(i: usize) -> Value {
    Value::Array(
        (0..5)
            .map(|j| {
                Value::Record(vec![
                    ("sku".into(), Value::String(text(i + j, "sku"))),
                    ("quantity".into(), Value::Int(j as i32 + 1)),
                    ("price_cents".into(), Value::Long(199 + i as i64)),
                ])
            })
            .collect(),
    )
}

fn attributes(i: usize) -> Value {
    Value::Map((0..3).map(|j| (format!("attr{j}"), Value::String(text(i + j, "value")))).collect())
}

/// Version 1 of the nested event, as apache-avro values.
pub fn order_v1(i: usize) -> Value {
    Value::Record(vec![
        ("id".into(), uuid(i)),
        ("customer".into(), customer(i)),
        ("lines".into(), lines(i)),
        ("attributes".into(), attributes(i)),
        ("total_cents".into(), Value::Int(i as i32 * 100)),
        ("state".into(), Value::String(text(i % 4, "state"))),
        ("channel".into(), Value::String(text(i, "channel"))),
    ])
}

/// Version 2 (the latest) of the nested event, as apache-avro values.
pub fn order_v2(i: usize) -> Value {
    let Value::Record(mut fields) = order_v1(i) else { unreachable!() };
    fields.pop();
    fields[4].1 = Value::Long(i as i64 * 100);
    fields[5].0 = "status".into();
    fields.push(("currency".into(), Value::String("CHF".into())));
    fields.push(("gift".into(), Value::Boolean(i.is_multiple_of(2))));
    Value::Record(fields)
}

fn small_record(i: usize, version: u32, names: [&str; 5]) -> Value {
    let mut fields = vec![
        ("id".into(), uuid(i)),
        (names[0].into(), if version == 1 { Value::Int(i as i32) } else { Value::Long(i as i64) }),
        (names[1].into(), Value::String(text(i, names[1]))),
    ];
    if version == 1 {
        fields.push((names[2].into(), Value::String(text(i, names[2]))));
    } else {
        fields.push((names[3].into(), Value::String(text(i, names[3]))));
        fields.push((
            names[4].into(),
            if names[4] == "insured" {
                Value::Boolean(i.is_multiple_of(2))
            } else {
                Value::Int(i as i32 % 9)
            },
        ));
    }
    Value::Record(fields)
}

/// Event `i` of the union shape at `version`, as apache-avro values: the four event types in turn.
pub fn stream(i: usize, version: u32) -> Value {
    let branch = i % 4;
    let record = match (branch, version) {
        (0, 1) => activity_v1(i),
        (0, _) => activity_v2(i),
        (1, 1) => small_record(i, 1, ["amount_cents", "ccy", "terminal", "", ""]),
        (1, _) => small_record(i, 2, ["amount_cents", "currency", "", "reference", "attempt"]),
        (2, 1) => {
            let Value::Record(mut f) =
                small_record(i, 1, ["weight_grams", "courier", "depot", "", ""])
            else {
                unreachable!()
            };
            f.swap(1, 2);
            Value::Record(f)
        }
        (2, _) => {
            let Value::Record(mut f) =
                small_record(i, 2, ["weight_grams", "carrier", "", "tracking", "insured"])
            else {
                unreachable!()
            };
            f.swap(1, 2);
            Value::Record(f)
        }
        (3, 1) => small_record(i, 1, ["stars", "body", "locale", "", ""]),
        (_, _) => small_record(i, 2, ["stars", "text", "", "title", "helpful"]),
    };
    Value::Union(branch as u32, Box::new(record))
}
