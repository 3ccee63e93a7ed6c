//! Schema references made self-contained: a schema that names types defined by other
//! registered schemas (Confluent's schema references, such as a topic union whose records are
//! registered under their own subjects) rewritten with each referenced type defined inline at
//! its first use, so it parses on its own and fingerprints like the same schema written whole.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

const PRIMITIVES: [&str; 8] =
    ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

/// `schema` with the named types of `references` (their schema texts, in any order) defined
/// inline where first used. Errors name what does not parse. (A referenced type without a
/// namespace cannot be named from inside a namespace: Avro has no syntax for it.)
///
/// ```
/// let money = r#"{"type":"record","name":"Money","namespace":"shop","fields":[{"name":"cents","type":"long"}]}"#;
/// let order = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"total","type":"Money"}]}"#;
/// let whole = strata::avro::references::inline(order, &[money.to_owned()]).unwrap();
/// assert!(apache_avro::Schema::parse_str(&whole).is_ok());
/// assert!(whole.contains(r#""cents""#));
/// ```
pub fn inline(schema: &str, references: &[String]) -> Result<String, ReferenceError> {
    let mut named = HashMap::new();
    for (i, text) in references.iter().enumerate() {
        let value: Value = serde_json::from_str(text)
            .map_err(|source| ReferenceError::ReferenceJson { reference: i + 1, source })?;
        let name =
            defined_name(&value, None).ok_or(ReferenceError::NotNamed { reference: i + 1 })?;
        named.insert(name, value);
    }
    let value: Value = serde_json::from_str(schema).map_err(ReferenceError::Json)?;
    let mut inliner = Inliner { references: named, defined: HashSet::new() };
    Ok(inliner.schema(&value, None).to_string())
}

/// Why a schema and its references cannot be made one schema.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The schema is not JSON.
    #[error("the schema is not JSON")]
    Json(#[source] serde_json::Error),
    /// A reference (numbered from 1, in the order given) is not JSON.
    #[error("reference {reference} is not JSON")]
    ReferenceJson {
        /// Which reference.
        reference: usize,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A reference does not define a named type.
    #[error("reference {reference} is not a named type")]
    NotNamed {
        /// Which reference.
        reference: usize,
    },
}

/// The full name the named type `value` (a schema's JSON) defines, within namespace `space`.
pub(crate) fn defined_name(value: &Value, space: Option<&str>) -> Option<String> {
    let object = value.as_object()?;
    let name = object.get("name")?.as_str()?;
    let namespace = match object.get("namespace") {
        Some(Value::String(ns)) => Some(ns.as_str()),
        _ => space,
    };
    Some(qualify(name, namespace))
}

/// The full name of `name` used within namespace `space` (a dotted name is already full).
pub(crate) fn qualify(name: &str, space: Option<&str>) -> String {
    match space {
        _ if name.contains('.') => name.to_owned(),
        Some(space) if !space.is_empty() => format!("{space}.{name}"),
        _ => name.to_owned(),
    }
}

struct Inliner {
    references: HashMap<String, Value>,
    defined: HashSet<String>,
}

impl Inliner {
    fn schema(&mut self, value: &Value, space: Option<&str>) -> Value {
        match value {
            Value::String(name) => self.name(name, space),
            Value::Array(branches) => {
                Value::Array(branches.iter().map(|b| self.schema(b, space)).collect())
            }
            Value::Object(object) => self.object(object, space),
            other => other.clone(),
        }
    }

    fn name(&mut self, name: &str, space: Option<&str>) -> Value {
        if PRIMITIVES.contains(&name) {
            return Value::String(name.to_owned());
        }
        let full = qualify(name, space);
        for candidate in [full.as_str(), name] {
            if self.defined.contains(candidate) {
                return Value::String(candidate.to_owned());
            }
            if let Some(definition) = self.references.get(candidate).cloned() {
                // Written with its full name, so the enclosing namespace cannot change it.
                let mut definition = definition;
                if let Some(object) = definition.as_object_mut() {
                    object.insert("name".into(), Value::String(candidate.to_owned()));
                    if candidate.contains('.') {
                        object.remove("namespace");
                    } else {
                        object.insert("namespace".into(), Value::String(String::new()));
                    }
                }
                return self.schema(&definition, None);
            }
        }
        Value::String(full)
    }

    fn object(&mut self, object: &Map<String, Value>, space: Option<&str>) -> Value {
        let mut out = object.clone();
        match object.get("type").and_then(Value::as_str) {
            Some("record" | "error" | "enum" | "fixed") => {
                let full = defined_name(&Value::Object(object.clone()), space).unwrap_or_default();
                self.defined.insert(full.clone());
                let own = full.rsplit_once('.').map(|(ns, _)| ns.to_owned());
                if let Some(Value::Array(fields)) = object.get("fields") {
                    let fields = fields
                        .iter()
                        .map(|field| {
                            let mut field = field.clone();
                            if let Some(ty) = field.get("type").cloned() {
                                field["type"] = self.schema(&ty, own.as_deref());
                            }
                            field
                        })
                        .collect();
                    out.insert("fields".into(), Value::Array(fields));
                }
            }
            Some("array") => {
                if let Some(items) = object.get("items") {
                    out.insert("items".into(), self.schema(items, space));
                }
            }
            Some("map") => {
                if let Some(values) = object.get("values") {
                    out.insert("values".into(), self.schema(values, space));
                }
            }
            Some(name) if !PRIMITIVES.contains(&name) => return self.name(name, space),
            Some(_) => {}
            None => {
                if let Some(ty) = object.get("type") {
                    return self.schema(ty, space);
                }
            }
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_union_of_referenced_records_fingerprints_like_the_whole_union() {
        let opened = r#"{"type":"record","name":"Opened","namespace":"bank","fields":[{"name":"id","type":"string"}]}"#;
        let closed = r#"{"type":"record","name":"Closed","namespace":"bank","fields":[{"name":"id","type":"string"},{"name":"at","type":{"type":"enum","name":"Why","symbols":["A"]}}]}"#;
        let union = r#"["bank.Opened","bank.Closed"]"#;
        let whole = inline(union, &[closed.to_owned(), opened.to_owned()]).unwrap();
        let written = format!("[{opened},{closed}]");
        let a = apache_avro::Schema::parse_str(&whole).unwrap();
        let b = apache_avro::Schema::parse_str(&written).unwrap();
        assert_eq!(a.canonical_form(), b.canonical_form());
    }

    #[test]
    fn a_name_used_twice_is_defined_once() {
        let money = r#"{"type":"record","name":"Money","namespace":"m","fields":[{"name":"cents","type":"long"}]}"#;
        let pair = r#"{"type":"record","name":"Pair","namespace":"x","fields":[{"name":"a","type":"m.Money"},{"name":"b","type":"m.Money"}]}"#;
        let whole = inline(pair, &[money.to_owned()]).unwrap();
        assert_eq!(whole.matches("\"cents\"").count(), 1, "{whole}");
        apache_avro::Schema::parse_str(&whole).unwrap();
    }
}
