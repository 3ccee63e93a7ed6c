//! Any Avro schema, as the resolver sees it: an arena of types with references resolved and
//! logical types reduced to the types that carry them (resolution and the binary encoding
//! ignore logical types).

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::{Name, UuidSchema};
use serde_json::Value;

use crate::error::ModelError;

/// An index into [`Model::types`].
pub type TyId = usize;

/// One type of a schema.
#[derive(Debug, Clone)]
pub enum Ty {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(TyId),
    Map(TyId),
    Union(Vec<TyId>),
    Record(RecordTy),
    Enum(EnumTy),
    Fixed(FixedTy),
}

#[derive(Debug, Clone)]
pub struct RecordTy {
    /// Full name.
    pub name: String,
    /// Full names this record was known by.
    pub aliases: Vec<String>,
    pub fields: Vec<FieldTy>,
}

#[derive(Debug, Clone)]
pub struct FieldTy {
    pub name: String,
    pub aliases: Vec<String>,
    pub ty: TyId,
    pub default: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct EnumTy {
    pub name: String,
    pub aliases: Vec<String>,
    pub symbols: Vec<String>,
    pub default: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FixedTy {
    pub name: String,
    pub aliases: Vec<String>,
    pub size: usize,
}

impl Ty {
    /// The type's name in the Avro JSON encoding of a union branch: the full name of a named
    /// type, else the type's own name.
    pub fn branch_name(&self) -> &str {
        match self {
            Ty::Null => "null",
            Ty::Boolean => "boolean",
            Ty::Int => "int",
            Ty::Long => "long",
            Ty::Float => "float",
            Ty::Double => "double",
            Ty::Bytes => "bytes",
            Ty::String => "string",
            Ty::Array(_) => "array",
            Ty::Map(_) => "map",
            Ty::Union(_) => "union",
            Ty::Record(r) => &r.name,
            Ty::Enum(e) => &e.name,
            Ty::Fixed(f) => &f.name,
        }
    }

    /// The unqualified name of a named type.
    pub fn short_name(&self) -> Option<&str> {
        let full = match self {
            Ty::Record(r) => &r.name,
            Ty::Enum(e) => &e.name,
            Ty::Fixed(f) => &f.name,
            _ => return None,
        };
        Some(full.rsplit('.').next().unwrap_or(full))
    }

    /// Whether two types are of the same kind (both records, both ints, ...).
    pub fn same_kind(&self, other: &Ty) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// A whole schema.
#[derive(Debug, Clone)]
pub struct Model {
    pub types: Vec<Ty>,
    pub root: TyId,
}

impl Model {
    /// The model of an apache-avro schema.
    pub fn new(schema: &Schema) -> Result<Self, ModelError> {
        Self::with_references(schema, &[])
    }

    /// The model of a schema whose names may refer to types defined by `references` (schema
    /// references, as the Schema Registry keeps them: parsed with `Schema::parse_str_with_list`).
    pub fn with_references(schema: &Schema, references: &[Schema]) -> Result<Self, ModelError> {
        let mut builder = Builder { types: Vec::new(), named: HashMap::new(), pending: Vec::new() };
        for reference in references {
            builder.add(reference, None)?;
        }
        let root = builder.add(schema, None)?;
        // References to names defined later in the document (or to the type being defined).
        for (slot, name) in std::mem::take(&mut builder.pending) {
            let target = *builder
                .named
                .get(&name)
                .ok_or_else(|| ModelError::Undefined { name: name.clone() })?;
            builder.types[slot] = builder.types[target].clone();
            builder.redirect(slot, target);
        }
        Ok(Model { types: builder.types, root })
    }

    pub fn ty(&self, id: TyId) -> &Ty {
        &self.types[id]
    }
}

struct Builder {
    types: Vec<Ty>,
    named: HashMap<String, TyId>,
    /// Slots holding a reference, with the full name they refer to.
    pending: Vec<(TyId, String)>,
}

impl Builder {
    fn push(&mut self, ty: Ty) -> TyId {
        self.types.push(ty);
        self.types.len() - 1
    }

    /// Replaces every use of `slot` by `target`, so a reference shares its target's identity
    /// (which is what makes recursive types finite in the resolver).
    fn redirect(&mut self, slot: TyId, target: TyId) {
        let fix = |id: &mut TyId| {
            if *id == slot {
                *id = target;
            }
        };
        for ty in &mut self.types {
            match ty {
                Ty::Array(inner) | Ty::Map(inner) => fix(inner),
                Ty::Union(branches) => branches.iter_mut().for_each(fix),
                Ty::Record(r) => r.fields.iter_mut().for_each(|f| fix(&mut f.ty)),
                _ => {}
            }
        }
    }

    fn full(name: &Name, enclosing: Option<&str>) -> String {
        name.fullname(enclosing)
    }

    fn aliases(
        aliases: &Option<Vec<apache_avro::schema::Alias>>,
        namespace: Option<&str>,
    ) -> Vec<String> {
        aliases.iter().flatten().map(|a| a.fullname(namespace)).collect()
    }

    fn add(&mut self, schema: &Schema, enclosing: Option<&str>) -> Result<TyId, ModelError> {
        let ty = match schema {
            Schema::Null => Ty::Null,
            Schema::Boolean => Ty::Boolean,
            Schema::Int | Schema::Date | Schema::TimeMillis => Ty::Int,
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Ty::Long,
            Schema::Float => Ty::Float,
            Schema::Double => Ty::Double,
            Schema::Bytes | Schema::BigDecimal | Schema::Uuid(UuidSchema::Bytes) => Ty::Bytes,
            Schema::String | Schema::Uuid(UuidSchema::String) => Ty::String,
            Schema::Uuid(UuidSchema::Fixed(f)) | Schema::Duration(f) => {
                return self.add(&Schema::Fixed(f.clone()), enclosing);
            }
            Schema::Decimal(d) => match &d.inner {
                apache_avro::schema::InnerDecimalSchema::Bytes => Ty::Bytes,
                apache_avro::schema::InnerDecimalSchema::Fixed(f) => {
                    return self.add(&Schema::Fixed(f.clone()), enclosing);
                }
            },
            Schema::Array(a) => {
                let slot = self.push(Ty::Null);
                let items = self.add(&a.items, enclosing)?;
                self.types[slot] = Ty::Array(items);
                return Ok(slot);
            }
            Schema::Map(m) => {
                let slot = self.push(Ty::Null);
                let values = self.add(&m.types, enclosing)?;
                self.types[slot] = Ty::Map(values);
                return Ok(slot);
            }
            Schema::Union(u) => {
                let slot = self.push(Ty::Null);
                let branches = u
                    .variants()
                    .iter()
                    .map(|b| self.add(b, enclosing))
                    .collect::<Result<_, _>>()?;
                self.types[slot] = Ty::Union(branches);
                return Ok(slot);
            }
            Schema::Record(r) => {
                let name = Self::full(&r.name, enclosing);
                let namespace = name.rsplit_once('.').map(|(ns, _)| ns.to_owned());
                let slot = self.push(Ty::Null);
                self.named.insert(name.clone(), slot);
                let mut fields = Vec::with_capacity(r.fields.len());
                for field in &r.fields {
                    fields.push(FieldTy {
                        name: field.name.clone(),
                        aliases: field.aliases.clone(),
                        ty: self.add(&field.schema, namespace.as_deref())?,
                        default: field.default.clone(),
                    });
                }
                let aliases = Self::aliases(&r.aliases, namespace.as_deref());
                self.types[slot] = Ty::Record(RecordTy { name, aliases, fields });
                return Ok(slot);
            }
            Schema::Enum(e) => {
                let name = Self::full(&e.name, enclosing);
                let namespace = name.rsplit_once('.').map(|(ns, _)| ns.to_owned());
                let ty = Ty::Enum(EnumTy {
                    aliases: Self::aliases(&e.aliases, namespace.as_deref()),
                    name: name.clone(),
                    symbols: e.symbols.clone(),
                    default: e.default.clone(),
                });
                let slot = self.push(ty);
                self.named.insert(name, slot);
                return Ok(slot);
            }
            Schema::Fixed(f) => {
                let name = Self::full(&f.name, enclosing);
                let namespace = name.rsplit_once('.').map(|(ns, _)| ns.to_owned());
                let ty = Ty::Fixed(FixedTy {
                    aliases: Self::aliases(&f.aliases, namespace.as_deref()),
                    name: name.clone(),
                    size: f.size,
                });
                let slot = self.push(ty);
                self.named.insert(name, slot);
                return Ok(slot);
            }
            Schema::Ref { name } => {
                let full = Self::full(name, enclosing);
                if let Some(&target) = self.named.get(&full) {
                    return Ok(target);
                }
                let slot = self.push(Ty::Null);
                self.pending.push((slot, full));
                return Ok(slot);
            }
        };
        Ok(self.push(ty))
    }
}
