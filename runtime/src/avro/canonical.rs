//! Avro schemas as a Schema Registry handles them: parsed (with their references), checked,
//! and written in the two textual forms Confluent compares and serves.
//!
//! - The *canonical* form is Avro Java's `Schema.toString()`: compact JSON, keys in Java's
//!   order, namespaces only where they change, referenced types written by name. Two
//!   registrations are the same schema when their canonical forms (and references) are equal,
//!   so whitespace and key order do not create new versions; docs and custom properties do.
//! - The *normalized* form (`normalize=true`) is Confluent's `AvroSchemaUtils.toNormalizedString`:
//!   full names, properties sorted, aliases sorted, so more spellings meet.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::avro::compat::Prepared;
use crate::avro::references::{defined_name, qualify};

/// Why a schema text is not an Avro schema a registry would accept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalError {
    /// The text, or a reference's, is not JSON.
    #[error("the schema is not valid JSON")]
    Json(#[source] serde_json::Error),
    /// apache-avro refuses the schema.
    #[error("the schema is not valid Avro")]
    Avro(#[source] apache_avro::Error),
    /// The compatibility checker cannot take the schema.
    #[error("the schema cannot be checked")]
    Unsupported(#[from] crate::avro::compat::UnsupportedSchema),
    /// What is wrong with the schema, found while writing its textual form.
    #[error("{0}")]
    Invalid(String),
}

/// A schema a registry accepts: its stored text and what compatibility checks need.
#[derive(Debug)]
pub struct Parsed {
    /// The text to store and serve (canonical, or normalized when asked).
    pub text: String,
    /// Prepared for compatibility checks, references included.
    pub prepared: Prepared,
}

const PRIMITIVES: [&str; 8] =
    ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];
const SCHEMA_RESERVED: [&str; 10] =
    ["doc", "fields", "items", "name", "namespace", "size", "symbols", "values", "type", "aliases"];
const FIELD_RESERVED: [&str; 6] = ["default", "doc", "name", "order", "type", "aliases"];

/// Parses `text` whose names may refer to the types of `references` (the referenced schemas'
/// texts, dependencies first), checks it as Avro, and returns its stored form.
pub fn parse(text: &str, references: &[String], normalize: bool) -> Result<Parsed, CanonicalError> {
    let json: Value = serde_json::from_str(text).map_err(CanonicalError::Json)?;
    let (schema, referenced) = if references.is_empty() {
        (apache_avro::Schema::parse(&json).map_err(CanonicalError::Avro)?, Vec::new())
    } else {
        apache_avro::Schema::parse_str_with_list(text, references).map_err(CanonicalError::Avro)?
    };
    let prepared = Prepared::with_references(&schema, &referenced)?;
    let mut known = HashSet::new();
    for reference in references {
        let value: Value = serde_json::from_str(reference).map_err(CanonicalError::Json)?;
        if let Some(name) = defined_name(&value, None) {
            known.insert(name);
        }
    }
    let mut writer = Writer { known, normalize };
    let out = writer.schema(&json, None).map_err(CanonicalError::Invalid)?;
    Ok(Parsed { text: out.to_string(), prepared })
}

/// Confluent's canonical form of `text` (Avro Java's `Schema.toString()`), without
/// references: what two registrations of the same schema share.
pub fn canonical(text: &str) -> Result<String, CanonicalError> {
    parse(text, &[], false).map(|parsed| parsed.text)
}

fn split_name(full: &str) -> (Option<&str>, &str) {
    match full.rsplit_once('.') {
        Some((space, name)) => (Some(space), name),
        None => (None, full),
    }
}

/// Writes a schema JSON tree in Java's key order (or Confluent's normalized order).
struct Writer {
    /// Full names defined so far (or by references): later uses are written by name.
    known: HashSet<String>,
    normalize: bool,
}

impl Writer {
    fn schema(&mut self, value: &Value, space: Option<&str>) -> Result<Value, String> {
        match value {
            Value::String(name) => Ok(self.name_ref(name, space)),
            Value::Array(branches) => branches
                .iter()
                .map(|b| self.schema(b, space))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(object) => self.object(object, space),
            other => Err(format!("`{other}` is not a schema")),
        }
    }

    fn name_ref(&self, name: &str, space: Option<&str>) -> Value {
        if PRIMITIVES.contains(&name) {
            return Value::String(name.to_owned());
        }
        let qualified = qualify(name, space);
        let full = if self.known.contains(&qualified) { qualified } else { name.to_owned() };
        if self.normalize {
            return Value::String(full);
        }
        // Java writes a reference relative to the enclosing namespace.
        let (ns, short) = split_name(&full);
        if ns.is_some() && ns == space {
            Value::String(short.to_owned())
        } else {
            Value::String(full)
        }
    }

    fn object(
        &mut self,
        object: &Map<String, Value>,
        space: Option<&str>,
    ) -> Result<Value, String> {
        let kind = match object.get("type") {
            Some(Value::String(kind)) => kind.as_str(),
            Some(nested @ (Value::Object(_) | Value::Array(_))) => {
                return self.schema(nested, space);
            }
            _ => return Err("a schema object needs a `type` string".to_owned()),
        };
        let mut out = Map::new();
        match kind {
            "record" | "error" | "enum" | "fixed" => return self.named(kind, object, space),
            "array" | "map" => {
                let key = if kind == "array" { "items" } else { "values" };
                out.insert("type".into(), kind.into());
                let inner = object.get(key).ok_or_else(|| format!("`{kind}` needs `{key}`"))?;
                out.insert(key.into(), self.schema(inner, space)?);
            }
            _ if PRIMITIVES.contains(&kind) => {
                let props = props(object, &SCHEMA_RESERVED);
                if props.is_empty() {
                    return Ok(Value::String(kind.to_owned()));
                }
                out.insert("type".into(), kind.into());
                if self.normalize {
                    logical_first(&mut out, object);
                }
            }
            // `{"type": "com.acme.Money"}`: a reference to a named type.
            name => return Ok(self.name_ref(name, space)),
        }
        self.write_props(&mut out, object, &SCHEMA_RESERVED);
        Ok(Value::Object(out))
    }

    fn named(
        &mut self,
        kind: &str,
        object: &Map<String, Value>,
        space: Option<&str>,
    ) -> Result<Value, String> {
        let name = object
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("a `{kind}` needs a `name`"))?;
        let namespace = match object.get("namespace") {
            Some(Value::String(ns)) if !ns.is_empty() => Some(ns.as_str()),
            Some(Value::String(_)) => None,
            _ => space,
        };
        let full = qualify(name, namespace);
        if self.known.contains(&full) {
            return Err(format!("`{full}` is defined twice"));
        }
        self.known.insert(full.clone());
        let (own_space, short) = split_name(&full);
        let aliases = object.get("aliases").and_then(Value::as_array).map(|aliases| {
            aliases
                .iter()
                .filter_map(Value::as_str)
                .map(|a| qualify(a, own_space))
                .collect::<Vec<_>>()
        });
        let mut out = Map::new();
        if self.normalize {
            out.insert("name".into(), full.clone().into());
            out.insert("type".into(), kind.into());
        } else {
            out.insert("type".into(), kind.into());
            out.insert("name".into(), short.into());
            match (own_space, space) {
                (Some(own), outer) if Some(own) != outer => {
                    out.insert("namespace".into(), own.into());
                }
                (None, Some(_)) => {
                    out.insert("namespace".into(), "".into());
                }
                _ => {}
            }
            if let Some(doc) = object.get("doc") {
                out.insert("doc".into(), doc.clone());
            }
        }
        let reserved: &[&str] = if kind == "enum" {
            &[
                "doc",
                "fields",
                "items",
                "name",
                "namespace",
                "size",
                "symbols",
                "values",
                "type",
                "aliases",
                "default",
            ]
        } else {
            &SCHEMA_RESERVED
        };
        match kind {
            "enum" => {
                let symbols = object.get("symbols").ok_or("an `enum` needs `symbols`")?;
                out.insert("symbols".into(), symbols.clone());
                if !self.normalize
                    && let Some(default) = object.get("default")
                {
                    out.insert("default".into(), default.clone());
                }
            }
            "fixed" => {
                let size = object.get("size").ok_or("a `fixed` needs `size`")?;
                out.insert("size".into(), size.clone());
                if self.normalize {
                    logical_first(&mut out, object);
                }
            }
            _ => {
                let fields = object
                    .get("fields")
                    .and_then(Value::as_array)
                    .ok_or_else(|| format!("record `{full}` needs `fields`"))?;
                let mut written = Vec::with_capacity(fields.len());
                for field in fields {
                    written.push(self.field(field, own_space)?);
                }
                out.insert("fields".into(), Value::Array(written));
            }
        }
        if self.normalize {
            if let Some(doc) = object.get("doc").filter(|d| d.as_str() != Some("")) {
                out.insert("doc".into(), doc.clone());
            }
            if let Some(mut aliases) = aliases.filter(|a| !a.is_empty()) {
                aliases.sort();
                out.insert("aliases".into(), aliases.into());
            }
            if kind == "enum"
                && let Some(default) = object.get("default")
            {
                out.insert("default".into(), default.clone());
            }
            self.write_props(&mut out, object, reserved);
        } else {
            self.write_props(&mut out, object, reserved);
            if let Some(aliases) = aliases.filter(|a| !a.is_empty()) {
                let relative: Vec<Value> = aliases
                    .iter()
                    .map(|a| match split_name(a) {
                        (ns, short) if ns.is_some() && ns == own_space => short.into(),
                        _ => a.as_str().into(),
                    })
                    .collect();
                out.insert("aliases".into(), Value::Array(relative));
            }
        }
        Ok(Value::Object(out))
    }

    fn field(&mut self, field: &Value, space: Option<&str>) -> Result<Value, String> {
        let object = field.as_object().ok_or("a field must be a JSON object")?;
        let name = object.get("name").and_then(Value::as_str).ok_or("a field needs a `name`")?;
        let ty = object.get("type").ok_or_else(|| format!("field `{name}` needs a `type`"))?;
        let mut out = Map::new();
        out.insert("name".into(), name.into());
        out.insert("type".into(), self.schema(ty, space)?);
        let order = object.get("order").filter(|o| o.as_str() != Some("ascending"));
        let aliases = object.get("aliases").filter(|a| a.as_array().is_some_and(|a| !a.is_empty()));
        if self.normalize {
            if let Some(order) = order {
                out.insert("order".into(), order.clone());
            }
            if let Some(doc) = object.get("doc") {
                out.insert("doc".into(), doc.clone());
            }
            if let Some(aliases) = aliases.and_then(Value::as_array) {
                let mut sorted: Vec<&str> = aliases.iter().filter_map(Value::as_str).collect();
                sorted.sort_unstable();
                out.insert("aliases".into(), sorted.into());
            }
            if let Some(default) = object.get("default") {
                out.insert("default".into(), default.clone());
            }
        } else {
            if let Some(doc) = object.get("doc") {
                out.insert("doc".into(), doc.clone());
            }
            if let Some(default) = object.get("default") {
                out.insert("default".into(), default.clone());
            }
            if let Some(order) = order {
                out.insert("order".into(), order.clone());
            }
            if let Some(aliases) = aliases {
                out.insert("aliases".into(), aliases.clone());
            }
        }
        self.write_props(&mut out, object, &FIELD_RESERVED);
        Ok(Value::Object(out))
    }

    /// Custom properties (`logicalType` among them): in the order given, or sorted when
    /// normalizing (where the logical type's own properties were written first).
    fn write_props(
        &self,
        out: &mut Map<String, Value>,
        object: &Map<String, Value>,
        reserved: &[&str],
    ) {
        let mut props = props(object, reserved);
        if self.normalize {
            props.retain(|(k, _)| !out.contains_key(k.as_str()));
            props.sort_by(|a, b| a.0.cmp(b.0));
        }
        for (key, value) in props {
            out.insert(key.clone(), value.clone());
        }
    }
}

fn props<'a>(object: &'a Map<String, Value>, reserved: &[&str]) -> Vec<(&'a String, &'a Value)> {
    object.iter().filter(|(k, _)| !reserved.contains(&k.as_str())).collect()
}

/// Confluent's normalized form writes `logicalType` (and a decimal's precision and scale) right
/// after the type.
fn logical_first(out: &mut Map<String, Value>, object: &Map<String, Value>) {
    if let Some(logical) = object.get("logicalType") {
        out.insert("logicalType".into(), logical.clone());
        if logical == "decimal" {
            if let Some(precision) = object.get("precision") {
                out.insert("precision".into(), precision.clone());
            }
            if let Some(scale) = object.get("scale").filter(|s| s.as_u64() != Some(0)) {
                out.insert("scale".into(), scale.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        parse(text, &[], false).unwrap().text
    }

    #[test]
    fn primitives_lose_their_object_form() {
        assert_eq!(canonical(r#"{"type": "string"}"#), r#""string""#);
        assert_eq!(
            canonical(r#"{"type":"long","logicalType":"timestamp-millis"}"#),
            r#"{"type":"long","logicalType":"timestamp-millis"}"#
        );
    }

    #[test]
    fn keys_follow_java_order_and_namespaces_appear_only_where_they_change() {
        let text = r#"{"fields":[{"type":{"type":"record","name":"Inner","fields":[],"namespace":"a.b"},"name":"x"},
            {"name":"y","default":1,"type":"int","doc":"why"}, {"name":"z","type":"a.b.Inner"}],
            "namespace":"a.b","name":"Outer","type":"record","x-owner":"team"}"#;
        assert_eq!(
            canonical(text),
            r#"{"type":"record","name":"Outer","namespace":"a.b","fields":[{"name":"x","type":{"type":"record","name":"Inner","fields":[]}},{"name":"y","type":"int","doc":"why","default":1},{"name":"z","type":"Inner"}],"x-owner":"team"}"#
        );
    }

    #[test]
    fn normalized_form_uses_full_names_and_sorted_properties() {
        let text = r#"{"type":"record","name":"R","namespace":"n","z":1,"a":2,
            "fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}}]}"#;
        assert_eq!(
            parse(text, &[], true).unwrap().text,
            r#"{"name":"n.R","type":"record","fields":[{"name":"e","type":{"name":"n.E","type":"enum","symbols":["A"]}}],"a":2,"z":1}"#
        );
    }

    #[test]
    fn references_are_written_by_name() {
        let money = r#"{"type":"record","name":"Money","namespace":"shop","fields":[{"name":"cents","type":"long"}]}"#;
        let order = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"total","type":"shop.Money"}]}"#;
        let parsed = parse(order, &[money.to_owned()], false).unwrap();
        assert_eq!(
            parsed.text,
            r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"total","type":"Money"}]}"#
        );
        assert!(parse(order, &[], false).is_err(), "an unknown name is an invalid schema");
    }

    #[test]
    fn invalid_schemas_are_refused_with_a_reason() {
        for bad in ["{", r#"{"type":"record","name":"R"}"#, r#"{"type":"nope"}"#, "42"] {
            let error = parse(bad, &[], false).unwrap_err();
            assert!(!crate::error::Chain(&error).to_string().is_empty(), "{bad}");
        }
    }
}
