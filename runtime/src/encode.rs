//! Avro binary encoding of the latest Rust types: the [`Encode`] trait, the primitive writers,
//! and the implementations for the supported types. Encoding appends to a caller's buffer, so
//! one buffer serves many records.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use crate::types::MapKey;

/// Appends a `long` as a zig-zag varint.
#[inline]
pub fn write_long(out: &mut Vec<u8>, value: i64) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends `bytes` with their length prefix.
#[inline]
pub fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_long(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}

/// A type encoded in Avro binary with the schema of the latest version.
///
/// Implemented here for the supported std and library types, and by the derives.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be encoded by strata",
    label = "no `strata::Encode`",
    note = "a custom type implements `strata::AvroType`, `strata::Decode` and `strata::Encode`"
)]
pub trait Encode {
    /// Appends the value's encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Encodes a slice of `Self` as the schema of `Vec<Self>` says: an array, except for
    /// `Vec<u8>`, which is `bytes`.
    #[doc(hidden)]
    fn encode_slice(items: &[Self], out: &mut Vec<u8>)
    where
        Self: Sized,
    {
        if !items.is_empty() {
            write_long(out, items.len() as i64);
            for item in items {
                item.encode(out);
            }
        }
        write_long(out, 0);
    }
}

macro_rules! encode_int {
    ($($ty:ty),*) => {$(
        impl Encode for $ty {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                write_long(out, i64::from(*self));
            }
        }
    )*};
}

encode_int!(i8, i16, i32, i64, u16, u32);

impl Encode for u8 {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        write_long(out, i64::from(*self));
    }

    fn encode_slice(items: &[Self], out: &mut Vec<u8>) {
        write_bytes(out, items);
    }
}

impl Encode for bool {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl Encode for f32 {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Encode for f64 {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Encode for String {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        write_bytes(out, self.as_bytes());
    }
}

impl Encode for str {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        write_bytes(out, self.as_bytes());
    }
}

#[cfg(feature = "compact_str")]
impl Encode for compact_str::CompactString {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        write_bytes(out, self.as_bytes());
    }
}

impl<T: Encode> Encode for Vec<T> {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        T::encode_slice(self, out);
    }
}

impl<T: Encode + ?Sized> Encode for Box<T> {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out);
    }
}

impl<T: Encode> Encode for Option<T> {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(2); // branch 1, zig-zag encoded
                value.encode(out);
            }
        }
    }
}

impl<const N: usize> Encode for [u8; N] {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

fn encode_map<'a, K: MapKey + 'a, T: Encode + 'a>(
    len: usize,
    entries: impl Iterator<Item = (&'a K, &'a T)>,
    out: &mut Vec<u8>,
) {
    if len > 0 {
        write_long(out, len as i64);
        for (key, value) in entries {
            write_bytes(out, key.as_str().as_bytes());
            value.encode(out);
        }
    }
    write_long(out, 0);
}

impl<K: MapKey, T: Encode, S: BuildHasher> Encode for HashMap<K, T, S> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_map(self.len(), self.iter(), out);
    }
}

impl<K: MapKey, T: Encode> Encode for BTreeMap<K, T> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_map(self.len(), self.iter(), out);
    }
}

#[cfg(feature = "uuid")]
impl Encode for uuid::Uuid {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        write_bytes(out, self.hyphenated().encode_lower(&mut buf).as_bytes());
    }
}

#[cfg(feature = "time")]
impl Encode for time::OffsetDateTime {
    fn encode(&self, out: &mut Vec<u8>) {
        // Every OffsetDateTime (years -9999 to 9999) fits in an i64 of microseconds; the
        // nanosecond part counts forward within its second, so floor division is exact.
        write_long(out, self.unix_timestamp() * 1_000_000 + i64::from(self.nanosecond() / 1_000));
    }
}

#[cfg(feature = "time")]
impl Encode for crate::types::TimestampMillis {
    fn encode(&self, out: &mut Vec<u8>) {
        write_long(
            out,
            self.0.unix_timestamp() * 1_000 + i64::from(self.0.nanosecond() / 1_000_000),
        );
    }
}

#[cfg(feature = "time")]
impl Encode for time::Date {
    fn encode(&self, out: &mut Vec<u8>) {
        write_long(out, i64::from(self.to_julian_day() - crate::types::UNIX_EPOCH_JULIAN_DAY));
    }
}

#[cfg(feature = "chrono")]
impl Encode for chrono::DateTime<chrono::Utc> {
    fn encode(&self, out: &mut Vec<u8>) {
        write_long(out, self.timestamp_micros());
    }
}

#[cfg(feature = "chrono")]
impl Encode for chrono::NaiveDate {
    fn encode(&self, out: &mut Vec<u8>) {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("1970-01-01 is a date");
        write_long(out, self.signed_duration_since(epoch).num_days());
    }
}

impl<const P: u32, const S: u32> Encode for crate::types::Decimal<P, S> {
    fn encode(&self, out: &mut Vec<u8>) {
        write_bytes(out, &self.to_be_bytes_minimal());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decode, Reader};

    fn round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(value: T) {
        let mut out = Vec::new();
        value.encode(&mut out);
        let mut r = Reader::new(&out);
        assert_eq!(T::decode::<1>(&mut r).expect("decodes"), value);
        assert!(r.is_empty());
    }

    #[test]
    fn longs_are_zig_zag_varints() {
        let cases: [(i64, &[u8]); 6] = [
            (0, &[0]),
            (-1, &[1]),
            (1, &[2]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (i64::MIN, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        ];
        for (value, bytes) in cases {
            let mut out = Vec::new();
            write_long(&mut out, value);
            assert_eq!(out, bytes, "{value}");
            assert_eq!(Reader::new(bytes).read_long().unwrap(), value);
        }
    }

    #[test]
    fn every_supported_type_round_trips() {
        round_trip(i64::MAX);
        round_trip(i32::MIN);
        round_trip(u32::MAX);
        round_trip(true);
        round_trip(1.5f32);
        round_trip(-2.25f64);
        round_trip(String::from("héllo"));
        round_trip(vec![0u8, 1, 255]);
        round_trip(vec![1i64, -2, 3]);
        round_trip(Some(String::from("x")));
        round_trip(None::<i32>);
        round_trip([7u8; 4]);
        round_trip(BTreeMap::from([(String::from("a"), 1i32), (String::from("b"), 2)]));
        round_trip(crate::types::Decimal::<10, 2>::from_unscaled(-12_345).unwrap());
        #[cfg(feature = "uuid")]
        round_trip(uuid::Uuid::from_u128(0x1234));
        #[cfg(feature = "time")]
        round_trip(
            time::OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap(),
        );
        #[cfg(feature = "time")]
        round_trip(time::Date::from_calendar_date(2024, time::Month::February, 29).unwrap());
        #[cfg(feature = "compact_str")]
        round_trip(compact_str::CompactString::new("a string longer than twenty-four bytes"));
    }

    #[test]
    fn untrusted_lengths_fail_before_allocating() {
        // A string claiming 2^62 bytes, with three bytes of input.
        let mut bytes = Vec::new();
        write_long(&mut bytes, 1 << 62);
        bytes.extend_from_slice(b"abc");
        let error = String::decode::<1>(&mut Reader::new(&bytes)).unwrap_err();
        assert_eq!(error.offset(), bytes.len() - 3);
        assert!(error.to_string().contains("unexpected end of input"), "{error}");
    }

    #[test]
    fn too_many_zero_size_items_are_refused() {
        // An array of 2^40 empty records would loop forever: a count of zero-size items is
        // trusted only up to a limit.
        #[derive(Debug, PartialEq)]
        struct Empty;
        impl Decode for Empty {
            fn decode<const V: u32>(_: &mut Reader<'_>) -> Result<Self, crate::DecodeError> {
                Ok(Empty)
            }
        }
        let mut bytes = Vec::new();
        write_long(&mut bytes, 1 << 40);
        write_long(&mut bytes, 0);
        let error = Vec::<Empty>::decode::<1>(&mut Reader::new(&bytes)).unwrap_err();
        assert!(error.to_string().contains("items that take no bytes"), "{error}");
    }

    #[test]
    fn a_varint_longer_than_64_bits_is_an_error() {
        let bytes = [0xff; 11];
        let error = Reader::new(&bytes).read_long().unwrap_err();
        assert!(error.to_string().contains("longer than 64 bits"), "{error}");
    }
}
