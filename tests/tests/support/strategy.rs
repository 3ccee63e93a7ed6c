//! proptest strategies for any Avro schema (random values as apache-avro represents them),
//! and a comparison of such a value with strata's rendering of what it decoded.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::Schema;
use apache_avro::schema::Name;
use apache_avro::types::Value;
use proptest::prelude::*;

/// Random values of `schema`; recursion stops after a few levels (collections come out empty).
pub fn value(
    schema: &Schema,
    names: &Arc<HashMap<Name, Schema>>,
    depth: usize,
) -> BoxedStrategy<Value> {
    let deep = depth > 3;
    match schema {
        Schema::Null => Just(Value::Null).boxed(),
        Schema::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
        Schema::Int => any::<i32>().prop_map(Value::Int).boxed(),
        Schema::Long => any::<i64>().prop_map(Value::Long).boxed(),
        Schema::Float => (-1e6f32..1e6).prop_map(Value::Float).boxed(),
        Schema::Double => (-1e15f64..1e15).prop_map(Value::Double).boxed(),
        Schema::Bytes => {
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(Value::Bytes).boxed()
        }
        Schema::String => any::<String>().prop_map(Value::String).boxed(),
        Schema::Uuid(_) => {
            any::<u128>().prop_map(|u| Value::Uuid(uuid::Uuid::from_u128(u))).boxed()
        }
        // Within the range the `time` crate represents (years -9999 to 9999).
        Schema::Date => (-2_900_000i32..2_900_000).prop_map(Value::Date).boxed(),
        Schema::TimestampMillis => {
            (-250_000_000_000_000i64..250_000_000_000_000).prop_map(Value::TimestampMillis).boxed()
        }
        Schema::TimestampMicros => (-250_000_000_000_000_000i64..250_000_000_000_000_000)
            .prop_map(Value::TimestampMicros)
            .boxed(),
        // Within the example's precision of 12 digits.
        Schema::Decimal(_) => (-999_999_999_999i64..=999_999_999_999)
            .prop_map(|u| {
                let decimal = strata::Decimal::<18, 2>::from_unscaled(i128::from(u)).expect("fits");
                let bytes = decimal.to_be_bytes_minimal();
                Value::Decimal(apache_avro::Decimal::from(bytes))
            })
            .boxed(),
        Schema::Fixed(f) => {
            let size = f.size;
            proptest::collection::vec(any::<u8>(), size)
                .prop_map(move |b| Value::Fixed(size, b))
                .boxed()
        }
        Schema::Enum(e) => {
            let symbols = e.symbols.clone();
            (0..symbols.len()).prop_map(move |i| Value::Enum(i as u32, symbols[i].clone())).boxed()
        }
        Schema::Array(a) if deep => {
            let _ = a;
            Just(Value::Array(Vec::new())).boxed()
        }
        Schema::Array(a) => proptest::collection::vec(value(&a.items, names, depth + 1), 0..3)
            .prop_map(Value::Array)
            .boxed(),
        Schema::Map(_) if deep => Just(Value::Map(HashMap::new())).boxed(),
        Schema::Map(m) => {
            proptest::collection::hash_map(any::<String>(), value(&m.types, names, depth + 1), 0..3)
                .prop_map(Value::Map)
                .boxed()
        }
        Schema::Union(u) => {
            let branches: Vec<BoxedStrategy<Value>> = u
                .variants()
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    value(b, names, depth + 1)
                        .prop_map(move |v| Value::Union(i as u32, Box::new(v)))
                        .boxed()
                })
                .collect();
            proptest::strategy::Union::new(branches).boxed()
        }
        Schema::Record(r) => {
            let fields: Vec<BoxedStrategy<(String, Value)>> = r
                .fields
                .iter()
                .map(|f| {
                    let name = f.name.clone();
                    value(&f.schema, names, depth + 1).prop_map(move |v| (name.clone(), v)).boxed()
                })
                .collect();
            fields.prop_map(Value::Record).boxed()
        }
        Schema::Ref { name } => {
            let target = names.get(name).unwrap_or_else(|| panic!("undefined `{name}`")).clone();
            value(&target, names, depth + 1)
        }
        other => panic!("no strategy for {other:?}"),
    }
}

/// Whether strata's JSON rendering of a decoded value (Avro's JSON encoding, unions
/// untagged) is the apache-avro value that was encoded. A nested record may carry fields the
/// written one lacks: nested records arrive upgraded to their latest shape.
pub fn same(json: &serde_json::Value, value: &Value, path: &str) -> Result<(), String> {
    use serde_json::Value as J;
    let latin1 = |b: &[u8]| J::String(b.iter().map(|&x| char::from(x)).collect());
    let differ = || Err(format!("at `{path}`: strata decoded {json}, the value was {value:?}"));
    let ok = match (value, json) {
        (Value::Null, J::Null) => true,
        (Value::Boolean(b), J::Bool(c)) => b == c,
        (Value::Int(i), J::Number(n)) | (Value::Date(i), J::Number(n)) => {
            n.as_i64() == Some(i64::from(*i))
        }
        (Value::Long(i) | Value::TimestampMillis(i) | Value::TimestampMicros(i), J::Number(n)) => {
            n.as_i64() == Some(*i)
        }
        (Value::Float(x), J::Number(n)) => n.as_f64() == Some(f64::from(*x)),
        (Value::Double(x), J::Number(n)) => n.as_f64() == Some(*x),
        (Value::String(s), J::String(t)) => s == t,
        (Value::Uuid(u), J::String(t)) => u.hyphenated().to_string() == *t,
        (Value::Bytes(b), j) | (Value::Fixed(_, b), j) => latin1(b) == *j,
        (Value::Decimal(d), J::String(t)) => {
            let bytes: Vec<u8> = d.try_into().map_err(|e| format!("{e}"))?;
            let decoded: Vec<u8> = t.chars().map(|c| c as u8).collect();
            strata::Decimal::<38, 0>::unscaled_from_be_bytes(&bytes)
                == strata::Decimal::<38, 0>::unscaled_from_be_bytes(&decoded)
        }
        (Value::Enum(_, s), J::String(t)) => s == t,
        (Value::Union(_, inner), j) => return same(j, inner, path),
        (Value::Array(items), J::Array(js)) if items.len() == js.len() => {
            for (i, (v, j)) in items.iter().zip(js).enumerate() {
                same(j, v, &format!("{path}[{i}]"))?;
            }
            true
        }
        (Value::Map(entries), J::Object(js)) if entries.len() == js.len() => {
            for (k, v) in entries {
                let j = js.get(k).ok_or_else(|| format!("at `{path}`: key {k:?} missing"))?;
                same(j, v, &format!("{path}[{k:?}]"))?;
            }
            true
        }
        (Value::Record(fields), J::Object(js)) => {
            for (name, v) in fields {
                let j = js
                    .get(name)
                    .ok_or_else(|| format!("at `{path}`: field `{name}` missing in {json}"))?;
                same(j, v, &format!("{path}.{name}"))?;
            }
            true
        }
        _ => false,
    };
    if ok { Ok(()) } else { differ() }
}
