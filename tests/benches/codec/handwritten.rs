//! The yardstick: straightforward hand-written decoders and encoders for each writer-to-reader
//! pair of the benchmark, as a competent engineer would write them for these exact schemas,
//! with the standard library only (no strata code).

use std::collections::HashMap;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::shapes::*;

pub struct In<'a> {
    bytes: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, &'static str>;

impl<'a> In<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        In { bytes, pos: 0 }
    }
    fn long(&mut self) -> R<i64> {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let b = *self.bytes.get(self.pos).ok_or("eof")?;
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err("varint");
            }
        }
        Ok((value >> 1) as i64 ^ -((value & 1) as i64))
    }
    fn int(&mut self) -> R<i32> {
        i32::try_from(self.long()?).map_err(|_| "int")
    }
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("eof")?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn string(&mut self) -> R<String> {
        let n = usize::try_from(self.long()?).map_err(|_| "len")?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "utf8")
    }
    fn skip_string(&mut self) -> R<()> {
        let n = usize::try_from(self.long()?).map_err(|_| "len")?;
        self.take(n).map(drop)
    }
    fn double(&mut self) -> R<f64> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn boolean(&mut self) -> R<bool> {
        Ok(self.take(1)?[0] != 0)
    }
    fn str(&mut self) -> R<&'a str> {
        let n = usize::try_from(self.long()?).map_err(|_| "len")?;
        std::str::from_utf8(self.take(n)?).map_err(|_| "utf8")
    }
    fn uuid(&mut self) -> R<Uuid> {
        Uuid::parse_str(self.str()?).map_err(|_| "uuid")
    }
    fn timestamp(&mut self) -> R<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.long()?) * 1000).map_err(|_| "ts")
    }
    fn kind(&mut self) -> R<Kind> {
        Ok(match self.int()? {
            0 => Kind::Unknown,
            1 => Kind::Signup,
            2 => Kind::Login,
            3 => Kind::Purchase,
            _ => return Err("enum"),
        })
    }
    fn blocks(
        &mut self,
        mut reserve: impl FnMut(usize),
        mut item: impl FnMut(&mut Self) -> R<()>,
    ) -> R<()> {
        loop {
            let mut n = self.long()?;
            if n == 0 {
                return Ok(());
            }
            if n < 0 {
                n = -n;
                self.long()?;
            }
            reserve((n as usize).min(self.bytes.len() - self.pos));
            for _ in 0..n {
                item(self)?;
            }
        }
    }
}

pub fn activity(r: &mut In<'_>, version: u32) -> R<Activity> {
    let id = r.uuid()?;
    let at = r.timestamp()?;
    let user = r.string()?;
    let region = r.string()?;
    let count = r.long()?;
    let score = r.double()?;
    let note = match r.long()? {
        0 => None,
        1 => Some(r.string()?),
        _ => return Err("union"),
    };
    let kind = r.kind()?;
    let (email, priority) = if version == 1 {
        r.skip_string()?;
        (String::new(), 0)
    } else {
        (r.string()?, r.int()?)
    };
    Ok(Activity { id, at, user, region, count, score, note, kind, email, priority })
}

pub fn order(r: &mut In<'_>, version: u32) -> R<Order> {
    let id = r.uuid()?;
    let customer = Customer { name: r.string()?, email: r.string()? };
    let lines = std::cell::RefCell::new(Vec::new());
    r.blocks(
        |n| lines.borrow_mut().reserve(n),
        |r| {
            lines.borrow_mut().push(Line {
                sku: r.string()?,
                quantity: r.int()?,
                price_cents: r.long()?,
            });
            Ok(())
        },
    )?;
    let lines = lines.into_inner();
    let attributes = std::cell::RefCell::new(HashMap::new());
    r.blocks(
        |n| attributes.borrow_mut().reserve(n),
        |r| {
            let k = r.string()?;
            let v = r.string()?;
            attributes.borrow_mut().insert(k, v);
            Ok(())
        },
    )?;
    let attributes = attributes.into_inner();
    let total_cents = r.long()?;
    let status = r.string()?;
    let (currency, gift) = if version == 1 {
        r.skip_string()?;
        ("EUR".to_owned(), false)
    } else {
        (r.string()?, r.boolean()?)
    };
    Ok(Order { id, customer, lines, attributes, total_cents, status, currency, gift })
}

pub fn stream(r: &mut In<'_>, version: u32) -> R<Stream> {
    Ok(match r.long()? {
        0 => Stream::Activity(activity(r, version)?),
        1 => {
            let id = r.uuid()?;
            let amount_cents = r.long()?;
            let currency = r.string()?;
            let (reference, attempt) = if version == 1 {
                (r.skip_string().map(|()| String::new())?, 0)
            } else {
                (r.string()?, r.int()?)
            };
            Stream::Payment(Payment { id, amount_cents, currency, reference, attempt })
        }
        2 => {
            let id = r.uuid()?;
            let carrier = r.string()?;
            let weight_grams = r.long()?;
            let (tracking, insured) = if version == 1 {
                (r.skip_string().map(|()| String::new())?, false)
            } else {
                (r.string()?, r.boolean()?)
            };
            Stream::Shipment(Shipment { id, carrier, weight_grams, tracking, insured })
        }
        3 => {
            let id = r.uuid()?;
            let stars = r.long()?;
            let text = r.string()?;
            let (title, helpful) = if version == 1 {
                (r.skip_string().map(|()| String::new())?, 0)
            } else {
                (r.string()?, r.int()?)
            };
            Stream::Review(Review { id, stars, text, title, helpful })
        }
        _ => return Err("union"),
    })
}

fn long(out: &mut Vec<u8>, v: i64) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn string(out: &mut Vec<u8>, s: &str) {
    long(out, s.len() as i64);
    out.extend_from_slice(s.as_bytes());
}

/// The latest small event, encoded by hand.
pub fn encode_activity(a: &Activity, out: &mut Vec<u8>) {
    string(out, a.id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    long(out, (a.at.unix_timestamp_nanos() / 1000) as i64);
    string(out, &a.user);
    string(out, &a.region);
    long(out, a.count);
    out.extend_from_slice(&a.score.to_le_bytes());
    match &a.note {
        None => out.push(0),
        Some(note) => {
            out.push(2);
            string(out, note);
        }
    }
    long(out, a.kind as i64);
    string(out, &a.email);
    long(out, i64::from(a.priority));
}
