//! Support for generated code only. Not public API: it changes with the macros, which is why
//! the macros crate is pinned to this exact version of strata.

pub use core::{convert::Into, option::Option, result::Result};

pub use inventory;
pub use serde_json::{Map as JsonMap, Value};

pub use crate::decode::{Decode, Reader};
pub use crate::encode::{Encode, write_long};
pub use crate::error::{DecodeError, JsonError, SchemaError, UpcastError};
pub use crate::event::{DecodeFn, Event, FromRecord, Record, RecordSource, SchemaFn, View};
pub use crate::event::{KeySchema, Keyed};
pub use crate::history::catalog::{SourceLocation, VersionedType};
pub use crate::schema::{EnumSchema, Field, Name, RecordSchema, Schema, SchemaCx};
pub use crate::types::AvroType;

/// Generates the topic schema of `version`: a union of the given records. Used by the derive.
pub fn union_schema(
    namespace: Option<&str>,
    version: u32,
    branches: &[(u32, u32, SchemaFn)],
) -> Result<Schema, SchemaError> {
    let mut cx = SchemaCx::new(version, namespace);
    let mut schemas = Vec::new();
    for &(since, until, schema) in branches {
        if since <= version && version < until {
            schemas.push(schema(&mut cx)?);
        }
    }
    Ok(Schema::Union(schemas))
}

/// A field of a record as the derive declares it: its lifetime, names and default.
#[derive(Debug)]
pub struct FieldSpec {
    /// The latest Avro name (the Rust field's name, or the removed field's last name).
    pub name: &'static str,
    /// Earlier names, each with the version that introduced the next name, ascending.
    pub renames: &'static [(&'static str, u32)],
    /// The doc comment.
    pub doc: Option<&'static str>,
    /// The first version with the field.
    pub since: u32,
    /// The first version without it (`u32::MAX` if it is never removed).
    pub until: u32,
}

impl FieldSpec {
    /// Whether the field is in the record at `version`.
    pub fn present(&self, version: u32) -> bool {
        self.since <= version && version < self.until
    }

    /// The field's name at `version`, and its earlier names (its aliases), oldest first.
    pub fn name_at(&self, version: u32) -> (&'static str, Vec<String>) {
        let mut aliases = Vec::new();
        for &(old, renamed_in) in self.renames {
            if renamed_in > version {
                return (old, aliases);
            }
            aliases.push(old.to_owned());
        }
        (self.name, aliases)
    }
}

/// Builds one field of a record's schema at `cx.version()`.
///
/// `default` gives the declared default in Avro's JSON encoding; without one, the type's
/// implicit default applies (`null` for an `Option`).
pub fn field(
    cx: &mut SchemaCx,
    spec: &FieldSpec,
    schema: SchemaFn,
    default: Option<fn() -> Result<Value, JsonError>>,
    implicit_default: fn() -> Option<Value>,
) -> Result<Field, SchemaError> {
    let (name, aliases) = spec.name_at(cx.version());
    cx.within(name, |cx| {
        let schema = schema(cx)?;
        let declared = match default {
            None => None,
            Some(default) => {
                Some(default().map_err(|message| cx.error(format!("default: {message}")))?)
            }
        };
        let default = match declared.or_else(implicit_default) {
            None => None,
            Some(value) => {
                if let Schema::Union(branches) = &schema
                    && matches!(branches.first(), Some(Schema::Null))
                    && !value.is_null()
                {
                    return Err(cx.error(format!(
                        "the default of an optional field must be `None` (Avro: a union's default matches its first branch, `null`), not `{value}`"
                    )));
                }
                if !schema.accepts_default(&value) {
                    return Err(cx.error(format!(
                        "default `{value}` does not match the field's type `{}`",
                        schema.to_json()
                    )));
                }
                Some(value)
            }
        };
        let doc = spec.doc.map(str::to_owned);
        Ok(Field { name: name.to_owned(), aliases, doc, schema, default })
    })
}

/// Claims the name a record or enum has at `cx.version()`: its full name and its earlier
/// names as aliases, or, when the document already defines the type, a reference to it.
pub fn define_named(
    cx: &mut SchemaCx,
    namespace: Option<&str>,
    name: &'static str,
    renames: &'static [(&'static str, u32)],
) -> Result<(Name, Vec<String>), Schema> {
    let spec = FieldSpec { name, renames, doc: None, since: 1, until: u32::MAX };
    let (name, aliases) = spec.name_at(cx.version());
    let name = cx.name(namespace, name);
    match cx.define(&name) {
        Some(reference) => Err(reference),
        None => Ok((name, aliases)),
    }
}

/// A value converted from an earlier field type to a later one by an Avro promotion.
///
/// Implemented for the pairs Avro resolves by itself (int to long, float or double; long to
/// float or double; float to double; string to bytes and back) and for wrapping in `Option`.
/// A conversion that cannot represent the value fails rather than truncating it.
pub trait Promote<T> {
    /// Converts the value.
    fn promote(self) -> Result<T, UpcastError>;
}

macro_rules! promote_exact {
    ($($from:ty => $($to:ty),+;)*) => {$($(
        impl Promote<$to> for $from {
            fn promote(self) -> Result<$to, UpcastError> {
                <$to>::try_from(self).map_err(|_| {
                    UpcastError::new(format!(concat!("`{}` does not fit in `", stringify!($to), "`"), self))
                })
            }
        }
    )+)*};
}

// Integer promotions are exact or checked: never a silent truncation.
promote_exact! {
    i8 => i16, i32, i64, u8, u16, u32;
    i16 => i8, i32, i64, u8, u16, u32;
    i32 => i8, i16, i64, u8, u16, u32;
    u8 => i8, i16, i32, i64, u16, u32;
    u16 => i8, i16, i32, i64, u8, u32;
    u32 => i64;
    i64 => u32;
}

macro_rules! promote_float {
    ($($from:ty => $($to:ty),+;)*) => {$($(
        impl Promote<$to> for $from {
            fn promote(self) -> Result<$to, UpcastError> {
                // Avro resolves int and long to float and double by the same widening
                // conversion Java applies, which may round: `as` is that conversion.
                Ok(self as $to)
            }
        }
    )+)*};
}

promote_float! {
    i8 => f32, f64;
    i16 => f32, f64;
    i32 => f32, f64;
    u8 => f32, f64;
    u16 => f32, f64;
    i64 => f32, f64;
    u32 => f32, f64;
    f32 => f64;
}

impl Promote<Vec<u8>> for String {
    fn promote(self) -> Result<Vec<u8>, UpcastError> {
        Ok(self.into_bytes())
    }
}

impl Promote<String> for Vec<u8> {
    fn promote(self) -> Result<String, UpcastError> {
        String::from_utf8(self).map_err(|e| UpcastError::caused_by("bytes are not UTF-8", e))
    }
}

impl<T> Promote<Option<T>> for T {
    fn promote(self) -> Result<Option<T>, UpcastError> {
        Ok(Some(self))
    }
}

/// The last version at which a record changes; generated compile-time checks use it.
pub const fn last_change(changes: &[u32]) -> u32 {
    match changes.last() {
        Some(&v) => v,
        None => 1,
    }
}

/// What generated code needs of a field's type, in one trait so that an unsupported type is
/// reported once, at the field. The message repeats `AvroType`'s on purpose: this is the bound
/// a field meets first, so its message is the one users read.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no Avro mapping in strata",
    label = "unsupported field type",
    note = "supported: bool, i8, i16, i32, i64, u8, u16, u32, f32, f64, String, Vec<u8>, [u8; N], \
            Option<T>, Vec<T>, Box<T>, HashMap<String, T>, BTreeMap<String, T>, uuid::Uuid, \
            time::OffsetDateTime, time::Date, strata::TimestampMillis, strata::Decimal<P, S>, \
            and types deriving `strata::Record` or `strata::Enum`",
    note = "for any other type, implement `strata::AvroType`, `strata::Decode` and `strata::Encode` for it"
)]
pub trait FieldType: Sized {
    fn field_schema(cx: &mut SchemaCx) -> Result<Schema, SchemaError>;
    fn field_default_json(&self) -> Result<Value, JsonError>;
    fn field_implicit_default() -> Option<Value>;
    fn field_decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
    fn field_skip<const V: u32>(r: &mut Reader<'_>) -> Result<(), DecodeError>;
    fn field_encode(&self, out: &mut Vec<u8>);
}

impl<T: AvroType> FieldType for T {
    #[inline]
    fn field_schema(cx: &mut SchemaCx) -> Result<Schema, SchemaError> {
        T::schema(cx)
    }
    #[inline]
    fn field_default_json(&self) -> Result<Value, JsonError> {
        self.default_json()
    }
    #[inline]
    fn field_implicit_default() -> Option<Value> {
        T::implicit_default()
    }
    #[inline(always)]
    fn field_decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        T::decode::<V>(r)
    }
    #[inline(always)]
    fn field_skip<const V: u32>(r: &mut Reader<'_>) -> Result<(), DecodeError> {
        T::skip::<V>(r)
    }
    #[inline(always)]
    fn field_encode(&self, out: &mut Vec<u8>) {
        self.encode(out)
    }
}
