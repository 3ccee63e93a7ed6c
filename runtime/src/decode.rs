//! Avro binary decoding straight into Rust types: the [`Reader`] over untrusted bytes, the
//! [`Decode`] trait, and its implementations for the supported types.
//!
//! Decoding never panics and never allocates more than the input can justify: a length is
//! checked against the remaining bytes before anything is reserved, and collections grow as
//! their items are read.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use crate::types::MapKey;

use crate::error::{DecodeError, DecodeErrorKind};

/// A cursor over one Avro datum.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Where [`Reader::next_item`] is in an array or map.
#[derive(Debug, Default)]
pub struct Items {
    left: u64,
    started: bool,
    last_pos: usize,
    zero_size: u64,
}

/// How many items of encoded size zero (nulls, empty records) one array or map may hold: such
/// items cost no input, so their count alone cannot be trusted.
pub const MAX_ZERO_SIZE_ITEMS: u64 = 1 << 20;

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// The offset of the next byte, from the start of the datum.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The bytes read since offset `start`.
    pub fn since(&self, start: usize) -> &'a [u8] {
        &self.bytes[start.min(self.pos)..self.pos]
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, self.pos)
    }

    /// A `long`: a zig-zag varint of at most 10 bytes.
    #[inline(always)]
    pub fn read_long(&mut self) -> Result<i64, DecodeError> {
        // Most varints (lengths, small numbers, indexes) are one or two bytes.
        match self.bytes.get(self.pos..self.pos + 2) {
            Some(&[low, _]) if low < 0x80 => {
                self.pos += 1;
                Ok(i64::from(low >> 1) ^ -i64::from(low & 1))
            }
            Some(&[low, high]) if high < 0x80 => {
                self.pos += 2;
                let n = u64::from(low & 0x7f) | (u64::from(high) << 7);
                Ok((n >> 1) as i64 ^ -((n & 1) as i64))
            }
            _ => self.read_long_slow(),
        }
    }

    #[inline(never)]
    fn read_long_slow(&mut self) -> Result<i64, DecodeError> {
        let start = self.pos;
        let mut value: u64 = 0;
        let mut shift = 0;
        loop {
            let Some(&byte) = self.bytes.get(self.pos) else {
                return Err(DecodeError::new(DecodeErrorKind::UnexpectedEnd { needed: 1 }, start));
            };
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err(DecodeError::new(DecodeErrorKind::VarintOverflow, start));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok((value >> 1) as i64 ^ -((value & 1) as i64))
    }

    /// An `int`: a `long` that fits in 32 bits.
    #[inline(always)]
    pub fn read_int(&mut self) -> Result<i32, DecodeError> {
        let start = self.pos;
        let value = self.read_long()?;
        i32::try_from(value)
            .map_err(|_| DecodeError::new(DecodeErrorKind::OutOfRange { value, ty: "int" }, start))
    }

    /// A `boolean`: one byte, 0 or 1.
    #[inline]
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        match self.take(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::new(DecodeErrorKind::InvalidBool(other), self.pos - 1)),
        }
    }

    /// A `float`: 4 bytes, little-endian.
    #[inline]
    pub fn read_float(&mut self) -> Result<f32, DecodeError> {
        Ok(f32::from_le_bytes(self.read_fixed::<4>()?))
    }

    /// A `double`: 8 bytes, little-endian.
    #[inline]
    pub fn read_double(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(self.read_fixed::<8>()?))
    }

    /// `n` bytes.
    #[inline(always)]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error(DecodeErrorKind::UnexpectedEnd { needed: n - self.remaining() }));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// A `fixed` of `N` bytes.
    #[inline]
    pub fn read_fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }

    /// A length prefix, checked against the bytes left before anything is allocated.
    #[inline(always)]
    pub fn read_len(&mut self) -> Result<usize, DecodeError> {
        let start = self.pos;
        let len = self.read_long()?;
        if len < 0 {
            return Err(DecodeError::new(DecodeErrorKind::NegativeLength(len), start));
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.remaining() {
            return Err(
                self.error(DecodeErrorKind::UnexpectedEnd { needed: len - self.remaining() })
            );
        }
        Ok(len)
    }

    /// `bytes`, borrowed from the input.
    #[inline(always)]
    pub fn read_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.read_len()?;
        self.take(len)
    }

    /// A `string`, borrowed from the input after UTF-8 validation.
    #[inline(always)]
    pub fn read_str(&mut self) -> Result<&'a str, DecodeError> {
        let start = self.pos;
        let bytes = self.read_bytes()?;
        utf8(bytes).map_err(|e| DecodeError::new(DecodeErrorKind::InvalidUtf8(e), start))
    }

    /// The index of a union branch, checked against the number of branches.
    #[inline(always)]
    pub fn read_branch(&mut self, branches: usize) -> Result<usize, DecodeError> {
        let start = self.pos;
        let index = self.read_long()?;
        checked_index(index, branches).ok_or_else(|| {
            DecodeError::new(DecodeErrorKind::InvalidBranch { index, branches }, start)
        })
    }

    /// The index of an enum symbol, checked against the number of symbols.
    #[inline(always)]
    pub fn read_symbol(&mut self, symbols: usize) -> Result<usize, DecodeError> {
        let start = self.pos;
        let index = self.read_int()?;
        checked_index(i64::from(index), symbols).ok_or_else(|| {
            DecodeError::new(DecodeErrorKind::InvalidSymbol { index, symbols }, start)
        })
    }

    /// Whether another item of an array or map follows, reading block headers as it goes:
    /// `reserve` learns each new block's item count, bounded by the bytes left, so a lying count
    /// reserves nothing unreasonable. Items that take no bytes are counted and capped.
    #[inline(always)]
    pub fn next_item(
        &mut self,
        items: &mut Items,
        reserve: impl FnOnce(usize),
    ) -> Result<bool, DecodeError> {
        if items.started && self.pos == items.last_pos {
            items.zero_size += 1;
            if items.zero_size > MAX_ZERO_SIZE_ITEMS {
                return Err(
                    self.error(DecodeErrorKind::TooManyItems { limit: MAX_ZERO_SIZE_ITEMS })
                );
            }
        }
        if items.left == 0 {
            let start = self.pos;
            let mut count = self.read_long()?;
            if count == 0 {
                return Ok(false);
            }
            if count < 0 {
                // A negative count is followed by the block's size in bytes.
                count = count.checked_neg().ok_or_else(|| {
                    DecodeError::new(DecodeErrorKind::NegativeLength(count), start)
                })?;
                self.read_len()?;
            }
            items.left = count as u64;
            reserve(usize::try_from(count).unwrap_or(usize::MAX).min(self.remaining()));
        }
        items.left -= 1;
        items.started = true;
        items.last_pos = self.pos;
        Ok(true)
    }

    /// Reads every item of an array or map with `item`; see [`Reader::next_item`].
    #[inline]
    pub fn read_blocks(
        &mut self,
        mut reserve: impl FnMut(usize),
        mut item: impl FnMut(&mut Self) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let mut items = Items::default();
        while self.next_item(&mut items, &mut reserve)? {
            item(self)?;
        }
        Ok(())
    }
}

/// `index` as a position among `count` things, if it is one.
#[inline(always)]
fn checked_index(index: i64, count: usize) -> Option<usize> {
    usize::try_from(index).ok().filter(|&i| i < count)
}

/// A value read whole but invalid for its logical type, as an error at `start`.
#[cfg_attr(not(any(feature = "uuid", feature = "time", feature = "chrono")), allow(dead_code))]
fn invalid_logical(ty: &'static str, value: impl std::fmt::Display, start: usize) -> DecodeError {
    let value = value.to_string().chars().take(64).collect();
    DecodeError::new(DecodeErrorKind::InvalidLogical { ty, value }, start)
}

/// UTF-8 validation with a fast path for ASCII, which most strings of events are: eight bytes
/// at a time, falling back to the standard library's validation at the first non-ASCII byte.
#[inline(always)]
#[allow(
    unsafe_code,
    reason = "an all-ASCII slice is valid UTF-8; validating it again costs a fifth of decoding"
)]
fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().expect("chunks of 8"));
        if word & 0x8080_8080_8080_8080 != 0 {
            return std::str::from_utf8(bytes);
        }
    }
    if chunks.remainder().iter().any(|&b| b >= 0x80) {
        return std::str::from_utf8(bytes);
    }
    // SAFETY: every byte was checked to be below 0x80, and ASCII is valid UTF-8.
    Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// A type decoded from Avro binary written with the schema of aggregate version `V`.
///
/// Implemented here for the supported std and library types, and by the derives, where a
/// record decodes the shape it had at `V` and upgrades it to the latest type. Hand-written for
/// a custom type alongside [`AvroType`](crate::AvroType).
pub trait Decode: Sized {
    /// Decodes one value written with version `V`'s schema.
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Skips one value written with version `V`'s schema, allocating nothing where it can (a
    /// field the latest type dropped).
    #[doc(hidden)]
    #[inline]
    fn skip<const V: u32>(r: &mut Reader<'_>) -> Result<(), DecodeError> {
        Self::decode::<V>(r).map(drop)
    }

    /// Skips `Vec<Self>`, following [`Decode::decode_vec`].
    #[doc(hidden)]
    #[inline]
    fn skip_vec<const V: u32>(r: &mut Reader<'_>) -> Result<(), DecodeError> {
        r.read_blocks(|_| {}, |r| Self::skip::<V>(r))
    }

    /// Decodes `Vec<Self>`: an array, except for `Vec<u8>`, which is `bytes`.
    #[doc(hidden)]
    fn decode_vec<const V: u32>(r: &mut Reader<'_>) -> Result<Vec<Self>, DecodeError> {
        let mut out = Vec::new();
        let mut items = Items::default();
        while r.next_item(&mut items, |count| out.reserve(count))? {
            let item = Self::decode::<V>(r).map_err(|e| e.in_index(out.len()))?;
            out.push(item);
        }
        Ok(out)
    }
}

/// An integer of Avro type `int` or `long` that must also fit the Rust type.
fn int_in_range<T: TryFrom<i64>>(r: &mut Reader<'_>, ty: &'static str) -> Result<T, DecodeError> {
    let start = r.offset();
    let value = r.read_long()?;
    T::try_from(value)
        .map_err(|_| DecodeError::new(DecodeErrorKind::OutOfRange { value, ty }, start))
}

macro_rules! decode_int {
    ($($ty:ty),*) => {$(
        impl Decode for $ty {
            #[inline]
            fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                int_in_range(r, stringify!($ty))
            }
        }
    )*};
}

decode_int!(i8, i16, u16, u32);

/// Types read by one primitive reader, whose every value is valid.
macro_rules! decode_primitive {
    ($($ty:ty => $read:ident),*) => {$(
        impl Decode for $ty {
            #[inline]
            fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                r.$read()
            }
        }
    )*};
}

decode_primitive!(i32 => read_int, i64 => read_long, bool => read_bool, f32 => read_float, f64 => read_double);

impl Decode for u8 {
    #[inline]
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        int_in_range(r, "u8")
    }

    fn decode_vec<const V: u32>(r: &mut Reader<'_>) -> Result<Vec<Self>, DecodeError> {
        Ok(r.read_bytes()?.to_vec())
    }

    fn skip_vec<const V: u32>(r: &mut Reader<'_>) -> Result<(), DecodeError> {
        r.read_bytes().map(drop)
    }
}

impl Decode for String {
    #[inline]
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_str().map(str::to_owned)
    }

    #[inline]
    fn skip<const V: u32>(r: &mut Reader<'_>) -> Result<(), DecodeError> {
        r.read_bytes().map(drop)
    }
}

#[cfg(feature = "compact_str")]
impl Decode for compact_str::CompactString {
    #[inline]
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_str().map(compact_str::CompactString::new)
    }

    #[inline]
    fn skip<const V: u32>(r: &mut Reader<'_>) -> Result<(), DecodeError> {
        r.read_bytes().map(drop)
    }
}

impl<T: Decode> Decode for Vec<T> {
    #[inline]
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        T::decode_vec::<V>(r)
    }

    #[inline]
    fn skip<const V: u32>(r: &mut Reader<'_>) -> Result<(), DecodeError> {
        T::skip_vec::<V>(r)
    }
}

impl<T: Decode> Decode for Box<T> {
    #[inline]
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        T::decode::<V>(r).map(Box::new)
    }

    #[inline]
    fn skip<const V: u32>(r: &mut Reader<'_>) -> Result<(), DecodeError> {
        T::skip::<V>(r)
    }
}

impl<T: Decode> Decode for Option<T> {
    #[inline]
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // strata writes optional values as ["null", T].
        match r.read_branch(2)? {
            0 => Ok(None),
            _ => T::decode::<V>(r).map(Some),
        }
    }

    #[inline]
    fn skip<const V: u32>(r: &mut Reader<'_>) -> Result<(), DecodeError> {
        match r.read_branch(2)? {
            0 => Ok(()),
            _ => T::skip::<V>(r),
        }
    }
}

impl<const N: usize> Decode for [u8; N] {
    #[inline]
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_fixed::<N>()
    }
}

/// Reads map entries, handing each to `insert`, reserving room block by block where the map can.
#[inline]
fn decode_map<const V: u32, K: MapKey, T: Decode, M>(
    r: &mut Reader<'_>,
    map: &mut M,
    reserve: impl Fn(&mut M, usize),
    insert: impl Fn(&mut M, K, T),
) -> Result<(), DecodeError> {
    let mut items = Items::default();
    while r.next_item(&mut items, |count| reserve(map, count))? {
        let key = K::from_str(r.read_str()?);
        let value = T::decode::<V>(r).map_err(|e| e.in_key(key.as_str()))?;
        insert(map, key, value);
    }
    Ok(())
}

fn skip_map<const V: u32, T: Decode>(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    r.read_blocks(
        |_| {},
        |r| {
            r.read_bytes()?;
            T::skip::<V>(r)
        },
    )
}

impl<K: MapKey, T: Decode, S: BuildHasher + Default> Decode for HashMap<K, T, S> {
    #[inline]
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut map = HashMap::with_hasher(S::default());
        decode_map::<V, K, T, _>(
            r,
            &mut map,
            |m, count| m.reserve(count),
            |m, k, v| {
                m.insert(k, v);
            },
        )?;
        Ok(map)
    }

    fn skip<const V: u32>(r: &mut Reader<'_>) -> Result<(), DecodeError> {
        skip_map::<V, T>(r)
    }
}

impl<K: MapKey, T: Decode> Decode for BTreeMap<K, T> {
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut map = BTreeMap::new();
        decode_map::<V, K, T, _>(
            r,
            &mut map,
            |_, _| {},
            |m, k, v| {
                m.insert(k, v);
            },
        )?;
        Ok(map)
    }

    fn skip<const V: u32>(r: &mut Reader<'_>) -> Result<(), DecodeError> {
        skip_map::<V, T>(r)
    }
}

#[cfg(feature = "uuid")]
impl Decode for uuid::Uuid {
    #[inline]
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let bytes = r.read_bytes()?;
        if let Some(uuid) = parse_hyphenated(bytes) {
            return Ok(uuid);
        }
        // Not the usual 36 characters: whatever else `uuid` accepts (braced, URN, simple).
        let invalid = || invalid_logical("uuid", String::from_utf8_lossy(bytes), start);
        let text = std::str::from_utf8(bytes).map_err(|_| invalid())?;
        uuid::Uuid::try_parse(text).map_err(|_| invalid())
    }
}

/// The hyphenated form (`8-4-4-4-12` hex digits) that Avro's `uuid` strings have.
#[cfg(feature = "uuid")]
#[inline]
fn parse_hyphenated(s: &[u8]) -> Option<uuid::Uuid> {
    const fn table() -> [u8; 256] {
        let mut t = [0xff; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'a' as usize + i] = 10 + i as u8;
            t[b'A' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    }
    const HEX: [u8; 256] = table();
    const GROUPS: [(usize, usize); 5] = [(0, 8), (9, 13), (14, 18), (19, 23), (24, 36)];
    if s.len() != 36 || s[8] != b'-' || s[13] != b'-' || s[18] != b'-' || s[23] != b'-' {
        return None;
    }
    let mut out = [0u8; 16];
    let mut j = 0;
    let mut bad = 0u8;
    for (from, to) in GROUPS {
        let mut i = from;
        while i < to {
            let (high, low) = (HEX[usize::from(s[i])], HEX[usize::from(s[i + 1])]);
            bad |= high | low;
            out[j] = (high << 4) | (low & 0x0f);
            j += 1;
            i += 2;
        }
    }
    (bad & 0xf0 == 0).then(|| uuid::Uuid::from_bytes(out))
}

#[cfg(feature = "time")]
impl Decode for time::OffsetDateTime {
    #[inline]
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let micros = r.read_long()?;
        timestamp(micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000) as u32 * 1_000)
            .ok_or_else(|| invalid_logical("timestamp-micros", micros, start))
    }
}

/// Seconds and nanoseconds since the epoch as a date-time, without 128-bit arithmetic.
#[cfg(feature = "time")]
#[inline]
fn timestamp(seconds: i64, nanos: u32) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(seconds).ok()?.replace_nanosecond(nanos).ok()
}

#[cfg(feature = "time")]
impl Decode for crate::types::TimestampMillis {
    #[inline]
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let millis = r.read_long()?;
        timestamp(millis.div_euclid(1_000), millis.rem_euclid(1_000) as u32 * 1_000_000)
            .map(crate::types::TimestampMillis)
            .ok_or_else(|| invalid_logical("timestamp-millis", millis, start))
    }
}

#[cfg(feature = "time")]
impl Decode for time::Date {
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let days = r.read_int()?;
        time::Date::from_julian_day(days.saturating_add(crate::types::UNIX_EPOCH_JULIAN_DAY))
            .map_err(|_| invalid_logical("date", days, start))
    }
}

#[cfg(feature = "chrono")]
impl Decode for chrono::DateTime<chrono::Utc> {
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let micros = r.read_long()?;
        chrono::DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| invalid_logical("timestamp-micros", micros, start))
    }
}

#[cfg(feature = "chrono")]
impl Decode for chrono::NaiveDate {
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let days = r.read_int()?;
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("1970-01-01 is a date");
        epoch
            .checked_add_signed(chrono::Duration::days(i64::from(days)))
            .ok_or_else(|| invalid_logical("date", days, start))
    }
}

impl<const P: u32, const S: u32> Decode for crate::types::Decimal<P, S> {
    fn decode<const V: u32>(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let bytes = r.read_bytes()?;
        let unscaled = crate::types::Decimal::<P, S>::unscaled_from_be_bytes(bytes)
            .ok_or_else(|| DecodeError::new(DecodeErrorKind::DecimalTooLong(bytes.len()), start))?;
        crate::types::Decimal::from_unscaled(unscaled).map_err(|source| {
            let kind = DecodeErrorKind::InvalidDecimal { precision: P, scale: S, source };
            DecodeError::new(kind, start)
        })
    }
}
