//! The mapping of Rust types to Avro: [`AvroType`] and its implementations for std types,
//! uuid, time, and strata's own [`Decimal`] and [`TimestampMillis`].

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use serde_json::{Value, json};

use crate::error::{JsonError, SchemaError};
use crate::schema::{FixedSchema, Schema, SchemaCx};

/// A Rust type with an Avro schema at every version of its aggregate.
///
/// Implemented here for the supported std and library types, and by `#[derive(strata::Record)]`
/// and `#[derive(strata::Enum)]` for user types. It is the escape hatch for custom types too:
/// implement it, with [`Decode`](crate::Decode) and [`Encode`](crate::Encode), by hand to map
/// a newtype onto an Avro type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no Avro mapping in strata",
    label = "unsupported field type",
    note = "supported: bool, i8, i16, i32, i64, u8, u16, u32, f32, f64, String, Vec<u8>, [u8; N], \
            Option<T>, Vec<T>, Box<T>, HashMap<String, T, S>, BTreeMap<String, T>, uuid::Uuid, \
            time::OffsetDateTime, time::Date, strata::TimestampMillis, strata::Decimal<P, S>, \
            and types deriving `strata::Record` or `strata::Enum`",
    note = "for any other type, implement `strata::AvroType`, `strata::Decode` and `strata::Encode` for it"
)]
pub trait AvroType: crate::Decode + crate::Encode {
    /// The schema of this type at `cx.version()`.
    fn schema(cx: &mut SchemaCx) -> Result<Schema, SchemaError>;

    /// This value in Avro's JSON encoding as defaults write it: a union's value unwrapped (as a
    /// default it must be a value of the union's first branch).
    fn default_json(&self) -> Result<Value, JsonError>;

    /// The default a field of this type has when none is declared: `null` for `Option`.
    #[doc(hidden)]
    fn implicit_default() -> Option<Value> {
        None
    }

    /// The schema of `Vec<Self>`: an array, except for `Vec<u8>`, which is `bytes`.
    #[doc(hidden)]
    fn vec_schema(cx: &mut SchemaCx) -> Result<Schema, SchemaError> {
        Ok(Schema::Array(Box::new(Self::schema(cx)?)))
    }

    /// The default JSON of `Vec<Self>`, following [`AvroType::vec_schema`].
    #[doc(hidden)]
    fn vec_default_json(items: &[Self]) -> Result<Value, JsonError>
    where
        Self: Sized,
    {
        items.iter().map(Self::default_json).collect::<Result<_, _>>().map(Value::Array)
    }
}

macro_rules! primitive {
    ($($ty:ty => $schema:ident),* $(,)?) => {$(
        impl AvroType for $ty {
            fn schema(_: &mut SchemaCx) -> Result<Schema, SchemaError> {
                Ok(Schema::$schema)
            }
            fn default_json(&self) -> Result<Value, JsonError> {
                Ok(json!(self))
            }
        }
    )*};
}

primitive! {
    bool => Boolean,
    i8 => Int, i16 => Int, i32 => Int, u16 => Int,
    i64 => Long, u32 => Long,
    String => String,
}

impl AvroType for u8 {
    fn schema(_: &mut SchemaCx) -> Result<Schema, SchemaError> {
        Ok(Schema::Int)
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        Ok(json!(self))
    }
    fn vec_schema(_: &mut SchemaCx) -> Result<Schema, SchemaError> {
        Ok(Schema::Bytes)
    }
    fn vec_default_json(items: &[Self]) -> Result<Value, JsonError> {
        Ok(bytes_json(items))
    }
}

macro_rules! float {
    ($($ty:ty => $schema:ident),*) => {$(
        impl AvroType for $ty {
            fn schema(_: &mut SchemaCx) -> Result<Schema, SchemaError> {
                Ok(Schema::$schema)
            }
            fn default_json(&self) -> Result<Value, JsonError> {
                // JSON has no NaN or infinity, so such a default cannot be written.
                serde_json::Number::from_f64(f64::from(*self))
                    .map(Value::Number)
                    .ok_or_else(|| JsonError::new(format!("`{self}` cannot be written as a JSON default")))
            }
        }
    )*};
}

float!(f32 => Float, f64 => Double);

/// Avro's JSON encoding of bytes: a string whose code points 0 to 255 are the bytes.
fn bytes_json(bytes: &[u8]) -> Value {
    Value::String(bytes.iter().map(|&b| char::from(b)).collect())
}

impl<T: AvroType> AvroType for Vec<T> {
    fn schema(cx: &mut SchemaCx) -> Result<Schema, SchemaError> {
        T::vec_schema(cx)
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        T::vec_default_json(self)
    }
}

impl<T: AvroType> AvroType for Box<T> {
    fn schema(cx: &mut SchemaCx) -> Result<Schema, SchemaError> {
        T::schema(cx)
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        (**self).default_json()
    }
}

impl<T: AvroType> AvroType for Option<T> {
    fn schema(cx: &mut SchemaCx) -> Result<Schema, SchemaError> {
        match T::schema(cx)? {
            Schema::Union(_) | Schema::Null => Err(cx.error(
                "`Option` of an optional type is a union inside a union, which Avro forbids",
            )),
            inner => Ok(Schema::Union(vec![Schema::Null, inner])),
        }
    }
    fn implicit_default() -> Option<Value> {
        Some(Value::Null)
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        match self {
            None => Ok(Value::Null),
            // A union's value is its branch's value; as a field default only `null` fits, which
            // the field's schema check enforces.
            Some(value) => value.default_json(),
        }
    }
}

impl<const N: usize> AvroType for [u8; N] {
    fn schema(cx: &mut SchemaCx) -> Result<Schema, SchemaError> {
        // A fixed type needs a name; it is named after the field holding it, which is unique
        // inside its record.
        let name = fixed_name(&cx.path(), N);
        let name = cx.name(None, &name);
        if let Some(reference) = cx.define(&name) {
            return Ok(reference);
        }
        Ok(Schema::Fixed(Box::new(FixedSchema { name, size: N })))
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        Ok(bytes_json(self))
    }
}

/// `AccountOpened.checksum` holding 32 bytes becomes `AccountOpened_checksum_32`.
fn fixed_name(path: &str, size: usize) -> String {
    let mut name: String =
        path.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "fixed_");
    }
    format!("{name}_{size}")
}

/// A key of an Avro map (Avro map keys are strings): `String`, or
/// `compact_str::CompactString` with the feature `compact_str`.
pub trait MapKey: Ord + std::hash::Hash + Sized {
    /// The key read from the bytes.
    fn from_str(key: &str) -> Self;
    /// The key to write.
    fn as_str(&self) -> &str;
}

impl MapKey for String {
    #[inline]
    fn from_str(key: &str) -> Self {
        key.to_owned()
    }
    #[inline]
    fn as_str(&self) -> &str {
        self
    }
}

#[cfg(feature = "compact_str")]
impl MapKey for compact_str::CompactString {
    #[inline]
    fn from_str(key: &str) -> Self {
        compact_str::CompactString::new(key)
    }
    #[inline]
    fn as_str(&self) -> &str {
        self
    }
}

impl<K: MapKey, T: AvroType, S: BuildHasher + Default> AvroType for HashMap<K, T, S> {
    fn schema(cx: &mut SchemaCx) -> Result<Schema, SchemaError> {
        Ok(Schema::Map(Box::new(T::schema(cx)?)))
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        // Sorted, so a map default is written the same way every time.
        let sorted: BTreeMap<&K, &T> = self.iter().collect();
        map_default_json(sorted)
    }
}

impl<K: MapKey, T: AvroType> AvroType for BTreeMap<K, T> {
    fn schema(cx: &mut SchemaCx) -> Result<Schema, SchemaError> {
        Ok(Schema::Map(Box::new(T::schema(cx)?)))
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        map_default_json(self.iter())
    }
}

fn map_default_json<'a, K: MapKey + 'a, T: AvroType + 'a>(
    entries: impl IntoIterator<Item = (&'a K, &'a T)>,
) -> Result<Value, JsonError> {
    let mut object = serde_json::Map::new();
    for (key, value) in entries {
        object.insert(key.as_str().to_owned(), value.default_json()?);
    }
    Ok(Value::Object(object))
}

#[cfg(feature = "uuid")]
impl AvroType for uuid::Uuid {
    fn schema(_: &mut SchemaCx) -> Result<Schema, SchemaError> {
        Ok(Schema::Uuid)
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        Ok(Value::String(self.hyphenated().to_string()))
    }
}

#[cfg(feature = "time")]
impl AvroType for time::OffsetDateTime {
    fn schema(_: &mut SchemaCx) -> Result<Schema, SchemaError> {
        Ok(Schema::TimestampMicros)
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        let micros = self.unix_timestamp_nanos() / 1_000;
        i64::try_from(micros).map(|m| json!(m)).map_err(|_| {
            JsonError::new(format!("`{self}` is outside the range of timestamp-micros"))
        })
    }
}

#[cfg(feature = "time")]
impl AvroType for time::Date {
    fn schema(_: &mut SchemaCx) -> Result<Schema, SchemaError> {
        Ok(Schema::Date)
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        Ok(json!(self.to_julian_day() - UNIX_EPOCH_JULIAN_DAY))
    }
}

/// 1970-01-01 as a Julian day number.
#[cfg(feature = "time")]
pub(crate) const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

#[cfg(feature = "chrono")]
impl AvroType for chrono::DateTime<chrono::Utc> {
    fn schema(_: &mut SchemaCx) -> Result<Schema, SchemaError> {
        Ok(Schema::TimestampMicros)
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        Ok(json!(self.timestamp_micros()))
    }
}

#[cfg(feature = "chrono")]
impl AvroType for chrono::NaiveDate {
    fn schema(_: &mut SchemaCx) -> Result<Schema, SchemaError> {
        Ok(Schema::Date)
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("1970-01-01 is a date");
        Ok(json!(self.signed_duration_since(epoch).num_days()))
    }
}

#[cfg(feature = "compact_str")]
impl AvroType for compact_str::CompactString {
    fn schema(_: &mut SchemaCx) -> Result<Schema, SchemaError> {
        Ok(Schema::String)
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        Ok(Value::String(self.to_string()))
    }
}

/// A timestamp stored with millisecond precision (`long`, `timestamp-millis`), for schemas that
/// use it; a plain `time::OffsetDateTime` maps to `timestamp-micros`.
#[cfg(feature = "time")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimestampMillis(pub time::OffsetDateTime);

#[cfg(feature = "time")]
impl AvroType for TimestampMillis {
    fn schema(_: &mut SchemaCx) -> Result<Schema, SchemaError> {
        Ok(Schema::TimestampMillis)
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        let millis = self.0.unix_timestamp_nanos() / 1_000_000;
        i64::try_from(millis).map(|m| json!(m)).map_err(|_| {
            JsonError::new(format!("`{}` is outside the range of timestamp-millis", self.0))
        })
    }
}

pub use crate::error::DecimalRangeError;

/// A decimal number with at most `P` digits, of which `S` follow the point, stored as its
/// unscaled value: Avro `bytes` with logical type `decimal(P, S)`. `P` is at most 38.
///
/// ```
/// let price = strata::Decimal::<10, 2>::from_unscaled(12_345)?; // 123.45
/// assert_eq!(price.to_string(), "123.45");
/// assert!(strata::Decimal::<4, 2>::from_unscaled(12_345).is_err()); // five digits
/// # Ok::<(), strata::types::DecimalRangeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Decimal<const P: u32, const S: u32> {
    unscaled: i128,
}

impl<const P: u32, const S: u32> Decimal<P, S> {
    /// The decimal whose value is `unscaled / 10^S`, if `unscaled` has at most `P` digits.
    pub fn from_unscaled(unscaled: i128) -> Result<Self, DecimalRangeError> {
        let fits = match 10i128.checked_pow(P) {
            Some(limit) => unscaled.unsigned_abs() < limit.unsigned_abs(),
            None => false,
        };
        if fits {
            Ok(Decimal { unscaled })
        } else {
            Err(DecimalRangeError { unscaled, precision: P })
        }
    }

    /// The value times `10^S`.
    pub const fn unscaled(&self) -> i128 {
        self.unscaled
    }

    /// The unscaled value held in big-endian two's-complement `bytes`, or `None` when they
    /// hold more than an `i128`.
    pub fn unscaled_from_be_bytes(bytes: &[u8]) -> Option<i128> {
        if bytes.len() > 16 {
            return None;
        }
        let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
        let mut buf = if negative { [0xff; 16] } else { [0; 16] };
        buf[16 - bytes.len()..].copy_from_slice(bytes);
        Some(i128::from_be_bytes(buf))
    }

    /// The big-endian two's-complement bytes Avro stores, as short as the value allows.
    pub fn to_be_bytes_minimal(&self) -> Vec<u8> {
        let bytes = self.unscaled.to_be_bytes();
        let negative = self.unscaled < 0;
        let filler = if negative { 0xff } else { 0x00 };
        // Keep one filler byte when the next byte's sign bit would flip the value's sign.
        let mut start = 0;
        while start < bytes.len() - 1
            && bytes[start] == filler
            && (bytes[start + 1] & 0x80 != 0) == negative
        {
            start += 1;
        }
        bytes[start..].to_vec()
    }
}

impl<const P: u32, const S: u32> std::fmt::Display for Decimal<P, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.unscaled < 0 { "-" } else { "" };
        let digits = self.unscaled.unsigned_abs().to_string();
        let scale = S as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int}.{frac}")
    }
}

impl<const P: u32, const S: u32> AvroType for Decimal<P, S> {
    fn schema(cx: &mut SchemaCx) -> Result<Schema, SchemaError> {
        if P == 0 || P > 38 || S > P {
            return Err(cx.error(format!(
                "`Decimal<{P}, {S}>` is invalid: precision is 1 to 38, and scale at most precision"
            )));
        }
        Ok(Schema::Decimal { precision: P, scale: S })
    }
    fn default_json(&self) -> Result<Value, JsonError> {
        Ok(bytes_json(&self.to_be_bytes_minimal()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec<const P: u32, const S: u32>(unscaled: i128) -> Decimal<P, S> {
        Decimal::from_unscaled(unscaled).expect("fits")
    }

    #[test]
    fn decimal_bytes_are_minimal_twos_complement() {
        assert_eq!(dec::<10, 2>(0).to_be_bytes_minimal(), [0]);
        assert_eq!(dec::<10, 2>(127).to_be_bytes_minimal(), [0x7f]);
        assert_eq!(dec::<10, 2>(128).to_be_bytes_minimal(), [0x00, 0x80]);
        assert_eq!(dec::<10, 2>(-1).to_be_bytes_minimal(), [0xff]);
        assert_eq!(dec::<10, 2>(-129).to_be_bytes_minimal(), [0xff, 0x7f]);
    }

    #[test]
    fn decimal_bytes_read_back() {
        let max = 10i128.pow(38) - 1;
        for unscaled in [0, 1, -1, 127, 128, -128, -129, max, -max, 123_456_789] {
            let d = dec::<38, 2>(unscaled);
            assert_eq!(
                Decimal::<38, 2>::unscaled_from_be_bytes(&d.to_be_bytes_minimal()),
                Some(unscaled)
            );
        }
        assert_eq!(Decimal::<38, 2>::unscaled_from_be_bytes(&[]), Some(0));
        assert_eq!(Decimal::<38, 2>::unscaled_from_be_bytes(&[1; 17]), None);
    }

    #[test]
    fn a_decimal_holds_at_most_its_precision_in_digits() {
        assert!(Decimal::<4, 2>::from_unscaled(9_999).is_ok());
        assert!(Decimal::<4, 2>::from_unscaled(-9_999).is_ok());
        let error = Decimal::<4, 2>::from_unscaled(10_000).unwrap_err();
        assert_eq!(error.to_string(), "the unscaled value 10000 has more than 4 digits");
        assert!(Decimal::<38, 0>::from_unscaled(i128::MAX).is_err());
    }

    #[test]
    fn decimal_displays_with_its_scale() {
        assert_eq!(dec::<10, 2>(-5).to_string(), "-0.05");
        assert_eq!(dec::<10, 0>(42).to_string(), "42");
    }

    #[cfg(feature = "time")]
    #[test]
    fn time_defaults_count_from_the_unix_epoch() {
        let date = time::Date::from_calendar_date(1970, time::Month::January, 11).unwrap();
        assert_eq!(date.default_json().unwrap(), json!(10));
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(1_500_000).unwrap();
        assert_eq!(at.default_json().unwrap(), json!(1_500));
        assert_eq!(TimestampMillis(at).default_json().unwrap(), json!(1));
    }

    #[cfg(feature = "chrono")]
    #[test]
    fn chrono_types_map_like_their_time_counterparts() {
        use chrono::TimeZone;
        let mut cx = SchemaCx::new(1, None);
        assert_eq!(<chrono::DateTime<chrono::Utc>>::schema(&mut cx), Ok(Schema::TimestampMicros));
        assert_eq!(chrono::NaiveDate::schema(&mut cx), Ok(Schema::Date));
        let at = chrono::Utc.timestamp_opt(1, 2_000).unwrap();
        assert_eq!(at.default_json().unwrap(), json!(1_000_002));
        let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 11).unwrap();
        assert_eq!(date.default_json().unwrap(), json!(10));
    }

    #[test]
    fn fixed_types_are_named_after_their_field() {
        assert_eq!(fixed_name("AccountOpened.checksum", 32), "AccountOpened_checksum_32");
        assert_eq!(fixed_name("", 4), "fixed__4");
    }
}
