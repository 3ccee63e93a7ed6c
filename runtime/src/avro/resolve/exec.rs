//! Running a resolution plan over bytes: rewriting a writer's datum into the reader's layout,
//! skipping what the reader drops, encoding defaults, and rendering a datum as Avro's JSON
//! encoding.

use serde_json::{Map, Value};

use super::model::{Model, Ty, TyId};
use super::{FieldStep, Node, NodeId, Plan, Promotion};
use crate::decode::Reader;
use crate::encode::{write_bytes, write_long};
use crate::error::{DecodeError, DecodeErrorKind, DefaultError, Mismatch};

/// How deep values may nest before the input is refused (recursive schemas).
const MAX_DEPTH: usize = 512;

impl Plan {
    /// Rewrites one writer datum into the reader schema's binary layout, appending to `out`.
    /// The whole input must be one datum.
    pub fn transcode(&self, datum: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let mut r = Reader::new(datum);
        self.run(self.root, &mut r, out, 0)?;
        if !r.is_empty() {
            return Err(DecodeError::new(
                DecodeErrorKind::TrailingBytes(r.remaining()),
                r.offset(),
            ));
        }
        Ok(())
    }

    fn run(
        &self,
        id: NodeId,
        r: &mut Reader<'_>,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), DecodeError> {
        if depth > MAX_DEPTH {
            return Err(too_deep(r));
        }
        match &self.nodes[id] {
            Node::Same(ty) => copy(&self.writer, *ty, r, out, depth),
            Node::Promote(p) => {
                match p {
                    Promotion::IntToLong => write_long(out, i64::from(r.read_int()?)),
                    Promotion::IntToFloat => {
                        out.extend_from_slice(&(r.read_int()? as f32).to_le_bytes())
                    }
                    Promotion::IntToDouble => {
                        out.extend_from_slice(&f64::from(r.read_int()?).to_le_bytes())
                    }
                    Promotion::LongToFloat => {
                        out.extend_from_slice(&(r.read_long()? as f32).to_le_bytes())
                    }
                    Promotion::LongToDouble => {
                        out.extend_from_slice(&(r.read_long()? as f64).to_le_bytes())
                    }
                    Promotion::FloatToDouble => {
                        out.extend_from_slice(&f64::from(r.read_float()?).to_le_bytes())
                    }
                    Promotion::StringToBytes => write_bytes(out, r.read_bytes()?),
                    Promotion::BytesToString => write_bytes(out, r.read_str()?.as_bytes()),
                }
                Ok(())
            }
            Node::Fixed(size) => {
                out.extend_from_slice(r.take(*size)?);
                Ok(())
            }
            Node::Enum { map } => {
                let index = r.read_symbol(map.len())?;
                match &map[index] {
                    Ok(reader_index) => {
                        write_long(out, i64::from(*reader_index));
                        Ok(())
                    }
                    Err(mismatch) => Err(unreadable(r, mismatch)),
                }
            }
            Node::Array(item) => {
                self.run_blocks(r, out, |plan, r, out| plan.run(*item, r, out, depth + 1))
            }
            Node::Map(value) => self.run_blocks(r, out, |plan, r, out| {
                write_bytes(out, r.read_str()?.as_bytes());
                plan.run(*value, r, out, depth + 1)
            }),
            Node::Record { steps, reader_fields, defaults } => {
                // Reader fields may come in another order than the writer's: each is written
                // to its own slot, then the slots are joined in the reader's order.
                let mut slots: Vec<Option<Vec<u8>>> = vec![None; *reader_fields];
                for step in steps {
                    match step {
                        FieldStep::Read { index, node } => {
                            let mut slot = Vec::new();
                            self.run(*node, r, &mut slot, depth + 1)?;
                            slots[*index] = Some(slot);
                        }
                        FieldStep::Skip(ty) => skip(&self.writer, *ty, r, depth + 1)?,
                    }
                }
                for (index, bytes) in defaults {
                    slots[*index] = Some(bytes.clone());
                }
                for slot in slots {
                    out.extend_from_slice(&slot.expect("every reader field is read or defaulted"));
                }
                Ok(())
            }
            Node::WriterUnion(branches) => {
                let index = r.read_branch(branches.len())?;
                match &branches[index] {
                    Ok((reader_branch, node)) => {
                        if let Some(branch) = reader_branch {
                            write_long(out, i64::from(*branch));
                        }
                        self.run(*node, r, out, depth + 1)
                    }
                    Err(mismatch) => Err(unreadable(r, mismatch)),
                }
            }
            Node::ReaderUnion { branch, node } => {
                write_long(out, i64::from(*branch));
                self.run(*node, r, out, depth + 1)
            }
            Node::Error(mismatch) => Err(unreadable(r, mismatch)),
            Node::Building => unreachable!("plans are complete once built"),
        }
    }

    /// Array and map blocks, re-written as one block with a count.
    fn run_blocks(
        &self,
        r: &mut Reader<'_>,
        out: &mut Vec<u8>,
        mut item: impl FnMut(&Self, &mut Reader<'_>, &mut Vec<u8>) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let mut items = Vec::new();
        let mut count = 0i64;
        r.read_blocks(
            |_| {},
            |r| {
                count += 1;
                item(self, r, &mut items)
            },
        )?;
        if count > 0 {
            write_long(out, count);
            out.extend_from_slice(&items);
        }
        write_long(out, 0);
        Ok(())
    }
}

fn unreadable(r: &Reader<'_>, mismatch: &Mismatch) -> DecodeError {
    DecodeError::new(DecodeErrorKind::Unreadable(mismatch.clone()), r.offset())
}

fn too_deep(r: &Reader<'_>) -> DecodeError {
    DecodeError::new(DecodeErrorKind::TooDeep { max: MAX_DEPTH }, r.offset())
}

/// Copies one value of type `ty` unchanged, checking it as it goes.
fn copy(
    model: &Model,
    ty: TyId,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), DecodeError> {
    let start = r.offset();
    skip(model, ty, r, depth)?;
    out.extend_from_slice(r.since(start));
    Ok(())
}

/// Skips one value of type `ty`, checking it as it goes.
pub(crate) fn skip(
    model: &Model,
    ty: TyId,
    r: &mut Reader<'_>,
    depth: usize,
) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(too_deep(r));
    }
    match model.ty(ty) {
        Ty::Null => Ok(()),
        Ty::Boolean => r.read_bool().map(drop),
        Ty::Int => r.read_int().map(drop),
        Ty::Long => r.read_long().map(drop),
        Ty::Float => r.take(4).map(drop),
        Ty::Double => r.take(8).map(drop),
        Ty::Bytes => r.read_bytes().map(drop),
        Ty::String => r.read_str().map(drop),
        Ty::Fixed(f) => r.take(f.size).map(drop),
        Ty::Enum(e) => r.read_symbol(e.symbols.len()).map(drop),
        Ty::Array(item) => r.read_blocks(|_| {}, |r| skip(model, *item, r, depth + 1)),
        Ty::Map(value) => r.read_blocks(
            |_| {},
            |r| {
                r.read_str()?;
                skip(model, *value, r, depth + 1)
            },
        ),
        Ty::Union(branches) => {
            let index = r.read_branch(branches.len())?;
            skip(model, branches[index], r, depth + 1)
        }
        Ty::Record(record) => {
            for field in &record.fields {
                skip(model, field.ty, r, depth + 1).map_err(|e| e.in_field(leak(&field.name)))?;
            }
            Ok(())
        }
    }
}

/// Field names of foreign schemas live as long as their plan; error paths take `&'static str`,
/// so a name is interned once per distinct name.
fn leak(name: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&interned) = names.get(name) {
        return interned;
    }
    let interned: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(interned);
    interned
}

/// A field default (JSON, as the schema states it) encoded as the binary of type `ty`. A
/// union's default is a value of its first branch.
pub(crate) fn encode_default(
    model: &Model,
    ty: TyId,
    json: &Value,
) -> Result<Vec<u8>, DefaultError> {
    let mut out = Vec::new();
    encode_json(model, ty, json, &mut out, 0)?;
    Ok(out)
}

fn encode_json(
    model: &Model,
    ty: TyId,
    json: &Value,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), DefaultError> {
    if depth > MAX_DEPTH {
        return Err(DefaultError::TooDeep);
    }
    let mismatch =
        || DefaultError::NotA { json: json.to_string(), ty: model.ty(ty).branch_name().to_owned() };
    match (model.ty(ty), json) {
        (Ty::Null, Value::Null) => {}
        (Ty::Boolean, Value::Bool(b)) => out.push(u8::from(*b)),
        (Ty::Int, Value::Number(n)) => {
            let v = n.as_i64().and_then(|v| i32::try_from(v).ok()).ok_or_else(mismatch)?;
            write_long(out, i64::from(v));
        }
        (Ty::Long, Value::Number(n)) => write_long(out, n.as_i64().ok_or_else(mismatch)?),
        (Ty::Float, Value::Number(n)) => {
            out.extend_from_slice(&(n.as_f64().ok_or_else(mismatch)? as f32).to_le_bytes())
        }
        (Ty::Double, Value::Number(n)) => {
            out.extend_from_slice(&n.as_f64().ok_or_else(mismatch)?.to_le_bytes())
        }
        (Ty::String, Value::String(s)) => write_bytes(out, s.as_bytes()),
        (Ty::Bytes, Value::String(s)) => write_bytes(out, &latin1(s).ok_or_else(mismatch)?),
        (Ty::Fixed(f), Value::String(s)) => {
            let bytes = latin1(s).filter(|b| b.len() == f.size).ok_or_else(mismatch)?;
            out.extend_from_slice(&bytes);
        }
        (Ty::Enum(e), Value::String(s)) => {
            let index = e.symbols.iter().position(|x| x == s).ok_or_else(mismatch)?;
            write_long(out, index as i64);
        }
        (Ty::Array(item), Value::Array(items)) => {
            if !items.is_empty() {
                write_long(out, items.len() as i64);
                for v in items {
                    encode_json(model, *item, v, out, depth + 1)?;
                }
            }
            write_long(out, 0);
        }
        (Ty::Map(value), Value::Object(entries)) => {
            if !entries.is_empty() {
                write_long(out, entries.len() as i64);
                for (k, v) in entries {
                    write_bytes(out, k.as_bytes());
                    encode_json(model, *value, v, out, depth + 1)?;
                }
            }
            write_long(out, 0);
        }
        (Ty::Union(branches), _) => {
            let first = *branches.first().ok_or(DefaultError::EmptyUnion)?;
            write_long(out, 0);
            encode_json(model, first, json, out, depth + 1)?;
        }
        (Ty::Record(record), Value::Object(entries)) => {
            for field in &record.fields {
                let value =
                    entries.get(&field.name).or(field.default.as_ref()).ok_or_else(|| {
                        DefaultError::LacksField {
                            json: json.to_string(),
                            field: field.name.clone(),
                        }
                    })?;
                encode_json(model, field.ty, value, out, depth + 1)?;
            }
        }
        _ => return Err(mismatch()),
    }
    Ok(())
}

/// Avro's JSON encoding of bytes: code points 0 to 255 are the bytes.
fn latin1(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

/// One datum of the model's root type rendered in Avro's JSON encoding: unions as
/// `{"<branch>": value}` (or `null`), bytes and fixed as strings of code points 0 to 255.
pub(crate) fn to_json(model: &Model, datum: &[u8]) -> Result<Value, DecodeError> {
    let mut r = Reader::new(datum);
    let value = render(model, model.root, &mut r, 0)?;
    if !r.is_empty() {
        return Err(DecodeError::new(DecodeErrorKind::TrailingBytes(r.remaining()), r.offset()));
    }
    Ok(value)
}

fn render(model: &Model, ty: TyId, r: &mut Reader<'_>, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(too_deep(r));
    }
    let bytes_json = |b: &[u8]| Value::String(b.iter().map(|&x| char::from(x)).collect());
    Ok(match model.ty(ty) {
        Ty::Null => Value::Null,
        Ty::Boolean => Value::Bool(r.read_bool()?),
        Ty::Int => Value::from(r.read_int()?),
        Ty::Long => Value::from(r.read_long()?),
        Ty::Float => float_json(f64::from(r.read_float()?)),
        Ty::Double => float_json(r.read_double()?),
        Ty::Bytes => bytes_json(r.read_bytes()?),
        Ty::String => Value::String(r.read_str()?.to_owned()),
        Ty::Fixed(f) => bytes_json(r.take(f.size)?),
        Ty::Enum(e) => Value::String(e.symbols[r.read_symbol(e.symbols.len())?].clone()),
        Ty::Array(item) => {
            let mut items = Vec::new();
            r.read_blocks(
                |_| {},
                |r| {
                    items.push(render(model, *item, r, depth + 1)?);
                    Ok(())
                },
            )?;
            Value::Array(items)
        }
        Ty::Map(value) => {
            let mut entries = Map::new();
            r.read_blocks(
                |_| {},
                |r| {
                    let key = r.read_str()?.to_owned();
                    let v = render(model, *value, r, depth + 1)?;
                    entries.insert(key, v);
                    Ok(())
                },
            )?;
            Value::Object(entries)
        }
        Ty::Union(branches) => {
            let index = r.read_branch(branches.len())?;
            let branch = branches[index];
            match model.ty(branch) {
                Ty::Null => Value::Null,
                other => {
                    let name = other.branch_name().to_owned();
                    let mut tagged = Map::new();
                    tagged.insert(name, render(model, branch, r, depth + 1)?);
                    Value::Object(tagged)
                }
            }
        }
        Ty::Record(record) => {
            let mut fields = Map::new();
            for field in &record.fields {
                let value = render(model, field.ty, r, depth + 1)
                    .map_err(|e| e.in_field(leak(&field.name)))?;
                fields.insert(field.name.clone(), value);
            }
            Value::Object(fields)
        }
    })
}

/// JSON has no NaN or infinities; Avro's JSON encoding writes them as strings, as Java does.
fn float_json(x: f64) -> Value {
    serde_json::Number::from_f64(x).map(Value::Number).unwrap_or_else(|| {
        Value::String(if x.is_nan() {
            "NaN".into()
        } else if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        })
    })
}
