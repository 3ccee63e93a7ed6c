//! strata's model of an Avro schema, built by derived code and written as deterministic JSON.
//!
//! Derived types describe themselves with [`Schema`] values through [`crate::AvroType`].
//! The model is deliberately small: it holds exactly what strata generates, and
//! [`Schema::to_json`] writes it the way Avro Java's `Schema.toString()` lays it out, so the
//! committed files read like what a Schema Registry shows.
//! Parsing, canonical forms and fingerprints of arbitrary schemas are apache-avro's job.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::error::SchemaError;

/// An Avro schema as strata generates it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Schema {
    /// `null`.
    Null,
    /// `boolean`.
    Boolean,
    /// `int`: 32-bit signed.
    Int,
    /// `long`: 64-bit signed.
    Long,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `bytes`.
    Bytes,
    /// `string`.
    String,
    /// `string` with logical type `uuid`.
    Uuid,
    /// `int` with logical type `date`: days since 1970-01-01.
    Date,
    /// `long` with logical type `timestamp-millis`.
    TimestampMillis,
    /// `long` with logical type `timestamp-micros`.
    TimestampMicros,
    /// `bytes` with logical type `decimal`.
    Decimal {
        /// Total number of digits.
        precision: u32,
        /// Digits after the point.
        scale: u32,
    },
    /// `array` of the inner schema.
    Array(Box<Schema>),
    /// `map` from strings to the inner schema.
    Map(Box<Schema>),
    /// A union of branches, in order.
    Union(Vec<Schema>),
    /// A named `record`.
    Record(Box<RecordSchema>),
    /// A named `enum`.
    Enum(Box<EnumSchema>),
    /// A named `fixed`.
    Fixed(Box<FixedSchema>),
    /// A reference to a named type defined earlier in the same schema.
    Ref(Name),
}

/// The full name of a named type: an optional namespace and a simple name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name {
    /// Dot-separated namespace, if any.
    pub namespace: Option<String>,
    /// The simple name.
    pub name: String,
}

impl Name {
    /// A name in a namespace; an empty namespace is no namespace.
    pub fn new(namespace: Option<&str>, name: &str) -> Self {
        Name {
            namespace: namespace.filter(|ns| !ns.is_empty()).map(str::to_owned),
            name: name.to_owned(),
        }
    }

    /// The full name, `namespace.name`.
    pub fn full_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.full_name())
    }
}

/// A record schema.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSchema {
    /// The record's full name.
    pub name: Name,
    /// Earlier names of the record.
    pub aliases: Vec<String>,
    /// The record's doc comment.
    pub doc: Option<String>,
    /// The fields, in order.
    pub fields: Vec<Field>,
}

/// A field of a record schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The field's name at this version.
    pub name: String,
    /// The field's earlier names.
    pub aliases: Vec<String>,
    /// The field's doc comment.
    pub doc: Option<String>,
    /// The field's type.
    pub schema: Schema,
    /// The field's default, in Avro's JSON encoding.
    pub default: Option<Value>,
}

/// An enum schema.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumSchema {
    /// The enum's full name.
    pub name: Name,
    /// Earlier names of the enum.
    pub aliases: Vec<String>,
    /// The enum's doc comment.
    pub doc: Option<String>,
    /// The symbols, in order.
    pub symbols: Vec<String>,
    /// The symbol a reader uses for a symbol it does not know.
    pub default: Option<String>,
}

/// A fixed schema.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedSchema {
    /// The fixed type's full name.
    pub name: Name,
    /// The size in bytes.
    pub size: usize,
}

/// What a type's schema is generated for: the aggregate version, the namespace to inherit,
/// the named types already defined in the document, and where in it the generation is.
///
/// One context serves one top-level schema document, so each named type is defined once and
/// referenced by name afterwards (which is also what makes recursive records finite).
#[derive(Debug)]
pub struct SchemaCx {
    version: u32,
    namespace: Option<String>,
    defined: BTreeSet<String>,
    path: Vec<String>,
}

impl SchemaCx {
    /// A context for the schema of `version`, with named types inheriting `namespace`.
    pub fn new(version: u32, namespace: Option<&str>) -> Self {
        SchemaCx {
            version,
            namespace: namespace.filter(|ns| !ns.is_empty()).map(str::to_owned),
            defined: BTreeSet::new(),
            path: Vec::new(),
        }
    }

    /// The aggregate version being generated.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The namespace a named type without an explicit one takes.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The full name of a named type: `explicit` namespace if given, else the inherited one.
    pub fn name(&self, explicit_namespace: Option<&str>, name: &str) -> Name {
        Name::new(explicit_namespace.or(self.namespace()), name)
    }

    /// Claims `name` for a definition. Returns a reference instead when the document already
    /// defines it (or is defining it: a recursive type).
    pub fn define(&mut self, name: &Name) -> Option<Schema> {
        if self.defined.insert(name.full_name()) { None } else { Some(Schema::Ref(name.clone())) }
    }

    /// Runs `f` with `segment` appended to the path that errors report.
    pub fn within<T>(&mut self, segment: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        self.path.push(segment.to_owned());
        let out = f(self);
        self.path.pop();
        out
    }

    /// Runs `f` with the inherited namespace set to `namespace`, restoring it afterwards.
    pub fn in_namespace<T>(
        &mut self,
        namespace: Option<&str>,
        f: impl FnOnce(&mut Self) -> T,
    ) -> T {
        let saved = std::mem::replace(&mut self.namespace, namespace.map(str::to_owned));
        let out = f(self);
        self.namespace = saved;
        out
    }

    /// The path inside the type being generated, such as `AccountOpened.holder`.
    pub fn path(&self) -> String {
        self.path.join(".")
    }

    /// An error at the current path.
    pub fn error(&self, message: impl Into<String>) -> SchemaError {
        SchemaError::new(self.version, self.path(), message)
    }
}

impl Schema {
    /// The Avro JSON of this schema, laid out as Avro Java's `Schema.toString()` does.
    pub fn to_json(&self) -> Value {
        self.json_in(None)
    }

    /// The pretty, deterministic text written to `schemas/`: two-space indent, trailing newline.
    pub fn to_pretty_string(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.to_json())
            .expect("a serde_json::Value always serializes");
        text.push('\n');
        text
    }

    /// The named type this schema defines, if it is one.
    pub fn name(&self) -> Option<&Name> {
        match self {
            Schema::Record(r) => Some(&r.name),
            Schema::Enum(e) => Some(&e.name),
            Schema::Fixed(f) => Some(&f.name),
            Schema::Ref(n) => Some(n),
            _ => None,
        }
    }

    /// Whether a JSON default is valid for this schema, following the Avro specification
    /// (a union's default matches its first branch).
    pub fn accepts_default(&self, value: &Value) -> bool {
        match (self, value) {
            (Schema::Null, Value::Null) => true,
            (Schema::Boolean, Value::Bool(_)) => true,
            (Schema::Int | Schema::Date, Value::Number(n)) => {
                n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
            }
            (
                Schema::Long | Schema::TimestampMillis | Schema::TimestampMicros,
                Value::Number(n),
            ) => n.as_i64().is_some(),
            (Schema::Float | Schema::Double, Value::Number(_)) => true,
            (Schema::String | Schema::Uuid, Value::String(_)) => true,
            (Schema::Bytes | Schema::Decimal { .. }, Value::String(s)) => {
                s.chars().all(|c| u32::from(c) <= 0xff)
            }
            (Schema::Fixed(f), Value::String(s)) => {
                s.chars().all(|c| u32::from(c) <= 0xff) && s.chars().count() == f.size
            }
            (Schema::Enum(e), Value::String(s)) => e.symbols.contains(s),
            (Schema::Array(items), Value::Array(values)) => {
                values.iter().all(|v| items.accepts_default(v))
            }
            (Schema::Map(inner), Value::Object(values)) => {
                values.values().all(|v| inner.accepts_default(v))
            }
            (Schema::Union(branches), v) => branches.first().is_some_and(|b| b.accepts_default(v)),
            (Schema::Record(r), Value::Object(values)) => {
                r.fields.iter().all(|f| match values.get(&f.name) {
                    Some(v) => f.schema.accepts_default(v),
                    None => f.default.is_some(),
                })
            }
            // A reference's definition is elsewhere in the document; the full check happens
            // when apache-avro parses the document.
            (Schema::Ref(_), _) => true,
            _ => false,
        }
    }

    fn json_in(&self, enclosing: Option<&str>) -> Value {
        match self {
            Schema::Null => json!("null"),
            Schema::Boolean => json!("boolean"),
            Schema::Int => json!("int"),
            Schema::Long => json!("long"),
            Schema::Float => json!("float"),
            Schema::Double => json!("double"),
            Schema::Bytes => json!("bytes"),
            Schema::String => json!("string"),
            Schema::Uuid => json!({"type": "string", "logicalType": "uuid"}),
            Schema::Date => json!({"type": "int", "logicalType": "date"}),
            Schema::TimestampMillis => json!({"type": "long", "logicalType": "timestamp-millis"}),
            Schema::TimestampMicros => json!({"type": "long", "logicalType": "timestamp-micros"}),
            Schema::Decimal { precision, scale } => json!({
                "type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale
            }),
            Schema::Array(items) => json!({"type": "array", "items": items.json_in(enclosing)}),
            Schema::Map(values) => json!({"type": "map", "values": values.json_in(enclosing)}),
            Schema::Union(branches) => {
                Value::Array(branches.iter().map(|b| b.json_in(enclosing)).collect())
            }
            Schema::Ref(name) => Value::String(relative_name(name, enclosing)),
            Schema::Record(record) => {
                let mut object = named_header("record", &record.name, enclosing);
                let ns = record.name.namespace.as_deref();
                if let Some(doc) = &record.doc {
                    object.insert("doc".into(), json!(doc));
                }
                let fields = record.fields.iter().map(|f| f.json_in(ns)).collect();
                object.insert("fields".into(), Value::Array(fields));
                insert_aliases(&mut object, &record.aliases);
                Value::Object(object)
            }
            Schema::Enum(e) => {
                let mut object = named_header("enum", &e.name, enclosing);
                if let Some(doc) = &e.doc {
                    object.insert("doc".into(), json!(doc));
                }
                object.insert("symbols".into(), json!(e.symbols));
                insert_aliases(&mut object, &e.aliases);
                if let Some(default) = &e.default {
                    object.insert("default".into(), json!(default));
                }
                Value::Object(object)
            }
            Schema::Fixed(f) => {
                let mut object = named_header("fixed", &f.name, enclosing);
                object.insert("size".into(), json!(f.size));
                Value::Object(object)
            }
        }
    }
}

impl Field {
    fn json_in(&self, enclosing: Option<&str>) -> Value {
        let mut object = Map::new();
        object.insert("name".into(), json!(self.name));
        object.insert("type".into(), self.schema.json_in(enclosing));
        if let Some(doc) = &self.doc {
            object.insert("doc".into(), json!(doc));
        }
        if let Some(default) = &self.default {
            object.insert("default".into(), default.clone());
        }
        insert_aliases(&mut object, &self.aliases);
        Value::Object(object)
    }
}

fn named_header(kind: &str, name: &Name, enclosing: Option<&str>) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("type".into(), json!(kind));
    object.insert("name".into(), json!(name.name));
    if name.namespace.as_deref() != enclosing {
        object.insert("namespace".into(), json!(name.namespace.as_deref().unwrap_or("")));
    }
    object
}

fn relative_name(name: &Name, enclosing: Option<&str>) -> String {
    if name.namespace.as_deref() == enclosing { name.name.clone() } else { name.full_name() }
}

fn insert_aliases(object: &mut Map<String, Value>, aliases: &[String]) {
    if !aliases.is_empty() {
        object.insert("aliases".into(), json!(aliases));
    }
}

/// The Rabin fingerprint (CRC-64-AVRO) of a schema's parsing canonical form.
pub fn rabin_fingerprint(schema: &apache_avro::Schema) -> u64 {
    let bytes = schema.fingerprint::<apache_avro::rabin::Rabin>().bytes;
    u64::from_le_bytes(bytes.try_into().expect("a Rabin fingerprint has 8 bytes"))
}
