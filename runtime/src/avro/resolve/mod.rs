//! Avro schema resolution for writer schemas that match no declared version: the rules of the
//! Avro specification, applied as Avro Java 1.12 applies them, compiled once into a plan that
//! rewrites a writer's datum into the reader schema's layout.
//!
//! The rules, in the order Java applies them:
//! - the reader's aliases rename the writer's types and fields (`Schema.applyAliases`);
//! - records match fields by name; a writer field the reader lacks is skipped, a reader field
//!   the writer lacks takes its default, and one without a default cannot be read;
//! - enums and fixed types must have the same full name; an enum symbol the reader lacks
//!   becomes the reader's default symbol, or cannot be read; fixed sizes must agree;
//! - int promotes to long, float and double; long to float and double; float to double;
//!   string and bytes to each other;
//! - a writer union resolves branch by branch; a reader union takes the first branch that
//!   matches the writer: same name for named types, else the first record that resolves
//!   (preferring one with the same short name), else the same primitive type, else the first
//!   promotion.
//!
//! A problem that only some data meets (an unknown enum symbol, a union branch that has no
//! match) is reported when such data is read, as in Java; anything else fails the plan.

mod exec;
pub(crate) mod model;

use std::collections::HashMap;

use exec::encode_default;
use model::{Model, Ty, TyId};

/// An index into [`Plan::nodes`].
type NodeId = usize;

/// How to read one writer value into one reader type.
#[derive(Debug, Clone)]
enum Node {
    /// The same primitive on both sides: copy it.
    Same(TyId),
    /// A promotion of a primitive.
    Promote(Promotion),
    Fixed(usize),
    Enum {
        /// Writer symbol index to reader symbol index, or why it cannot be read.
        map: Vec<Result<u32, Mismatch>>,
    },
    Array(NodeId),
    Map(NodeId),
    Record {
        /// One step per writer field, in the writer's order.
        steps: Vec<FieldStep>,
        /// How many fields the reader has.
        reader_fields: usize,
        /// Reader fields the writer lacks, with their encoded default.
        defaults: Vec<(usize, Vec<u8>)>,
    },
    /// A writer union: one plan per writer branch.
    WriterUnion(Vec<Result<(Option<u32>, NodeId), Mismatch>>),
    /// A writer value of a non-union type read into a reader union's branch.
    ReaderUnion {
        branch: u32,
        node: NodeId,
    },
    /// Data of this shape cannot be read, and why.
    Error(Mismatch),
    /// Not built yet (a recursive type being built).
    Building,
}

#[derive(Debug, Clone, Copy)]
enum Promotion {
    IntToLong,
    IntToFloat,
    IntToDouble,
    LongToFloat,
    LongToDouble,
    FloatToDouble,
    StringToBytes,
    BytesToString,
}

#[derive(Debug, Clone)]
enum FieldStep {
    /// Read the writer field into reader field `index`.
    Read { index: usize, node: NodeId },
    /// The reader has no such field: skip the writer's value.
    Skip(TyId),
}

/// A compiled resolution of one writer schema into one reader schema.
#[derive(Debug, Clone)]
pub struct Plan {
    writer: Model,
    reader: Model,
    nodes: Vec<Node>,
    root: NodeId,
}

pub use crate::error::{Mismatch, MismatchKind, ResolveError};

impl Plan {
    /// Compiles the resolution of `writer` into `reader`.
    pub fn new(
        writer: &apache_avro::Schema,
        reader: &apache_avro::Schema,
    ) -> Result<Self, ResolveError> {
        let writer = Model::new(writer).map_err(ResolveError::Writer)?;
        let reader = Model::new(reader).map_err(ResolveError::Reader)?;
        let mut builder = PlanBuilder {
            writer: &writer,
            reader: &reader,
            nodes: Vec::new(),
            seen: HashMap::new(),
        };
        let root = builder.resolve(writer.root, reader.root, "")?;
        let nodes = builder.nodes;
        if let Node::Error(mismatch) = &nodes[root] {
            return Err(ResolveError::Mismatch(mismatch.clone()));
        }
        Ok(Plan { writer, reader, nodes, root })
    }

    /// Whether every datum of the writer schema can be read: no enum symbol, union branch or
    /// field anywhere is left without a match.
    pub fn is_total(&self) -> bool {
        self.nodes.iter().all(|node| match node {
            Node::Error(_) => false,
            Node::Enum { map } => map.iter().all(Result::is_ok),
            Node::WriterUnion(branches) => branches.iter().all(Result::is_ok),
            _ => true,
        })
    }

    /// The first reason some data cannot be read, if any.
    pub fn first_gap(&self) -> Option<Mismatch> {
        self.nodes.iter().find_map(|node| match node {
            Node::Error(m) => Some(m.clone()),
            Node::Enum { map } => map.iter().find_map(|r| r.clone().err()),
            Node::WriterUnion(branches) => branches.iter().find_map(|r| r.clone().err()),
            _ => None,
        })
    }

    /// A datum of the reader schema (what [`Plan::transcode`] wrote) rendered in Avro's JSON
    /// encoding: unions as `{"<branch>": value}` (or `null`), bytes and fixed as strings of
    /// code points 0 to 255.
    pub fn to_json(&self, datum: &[u8]) -> Result<serde_json::Value, crate::error::DecodeError> {
        exec::to_json(&self.reader, datum)
    }
}

struct PlanBuilder<'a> {
    writer: &'a Model,
    reader: &'a Model,
    nodes: Vec<Node>,
    /// Pairs already planned (or being planned: recursion).
    seen: HashMap<(TyId, TyId), NodeId>,
}

impl PlanBuilder<'_> {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Plans the writer type `w` read as the reader type `r`; `path` names the place for
    /// messages, such as `/AccountOpened/holder`.
    fn resolve(&mut self, w: TyId, r: TyId, path: &str) -> Result<NodeId, ResolveError> {
        if let Some(&id) = self.seen.get(&(w, r)) {
            return Ok(id);
        }
        let id = self.push(Node::Building);
        self.seen.insert((w, r), id);
        let node = self.node(w, r, path)?;
        self.nodes[id] = node;
        Ok(id)
    }

    fn node(&mut self, w: TyId, r: TyId, path: &str) -> Result<Node, ResolveError> {
        let (wt, rt) = (self.writer.ty(w), self.reader.ty(r));
        let here = if path.is_empty() { "/" } else { path };
        if let Ty::Union(branches) = wt {
            let mut plans = Vec::with_capacity(branches.len());
            for (i, &branch) in branches.clone().iter().enumerate() {
                let plan = match self.reader.ty(r) {
                    Ty::Union(_) => match self.reader_branch(branch, r)? {
                        Some((_, node)) if matches!(self.nodes[node], Node::Error(_)) => {
                            let Node::Error(m) = &self.nodes[node] else { unreachable!() };
                            Err(m.clone())
                        }
                        Some((index, node)) => Ok((Some(index), node)),
                        None => Err(mismatch(
                            here,
                            MismatchKind::WriterBranch {
                                index: i,
                                writer: self.writer.ty(branch).branch_name().to_owned(),
                            },
                        )),
                    },
                    _ => {
                        let node = self.resolve(branch, r, path)?;
                        match &self.nodes[node] {
                            Node::Error(m) => Err(m.clone()),
                            _ => Ok((None, node)),
                        }
                    }
                };
                plans.push(plan);
            }
            // A union none of whose branches can be read cannot be read at all.
            if let Some(Err(first)) =
                plans.iter().find(|p| p.is_err()).filter(|_| plans.iter().all(Result::is_err))
            {
                return Ok(Node::Error(first.clone()));
            }
            return Ok(Node::WriterUnion(plans));
        }
        if let Ty::Union(_) = rt {
            return Ok(match self.reader_branch(w, r)? {
                Some((branch, node)) => Node::ReaderUnion { branch, node },
                None => Node::Error(mismatch(
                    here,
                    MismatchKind::NoReaderBranch { writer: wt.branch_name().to_owned() },
                )),
            });
        }
        Ok(match (wt, rt) {
            (Ty::Null, Ty::Null)
            | (Ty::Boolean, Ty::Boolean)
            | (Ty::Int, Ty::Int)
            | (Ty::Long, Ty::Long)
            | (Ty::Float, Ty::Float)
            | (Ty::Double, Ty::Double)
            | (Ty::Bytes, Ty::Bytes)
            | (Ty::String, Ty::String) => Node::Same(w),
            (Ty::Int, Ty::Long) => Node::Promote(Promotion::IntToLong),
            (Ty::Int, Ty::Float) => Node::Promote(Promotion::IntToFloat),
            (Ty::Int, Ty::Double) => Node::Promote(Promotion::IntToDouble),
            (Ty::Long, Ty::Float) => Node::Promote(Promotion::LongToFloat),
            (Ty::Long, Ty::Double) => Node::Promote(Promotion::LongToDouble),
            (Ty::Float, Ty::Double) => Node::Promote(Promotion::FloatToDouble),
            (Ty::String, Ty::Bytes) => Node::Promote(Promotion::StringToBytes),
            (Ty::Bytes, Ty::String) => Node::Promote(Promotion::BytesToString),
            (Ty::Array(wi), Ty::Array(ri)) => {
                let (wi, ri) = (*wi, *ri);
                Node::Array(self.resolve(wi, ri, &format!("{path}/items"))?)
            }
            (Ty::Map(wv), Ty::Map(rv)) => {
                let (wv, rv) = (*wv, *rv);
                Node::Map(self.resolve(wv, rv, &format!("{path}/values"))?)
            }
            (Ty::Fixed(wf), Ty::Fixed(rf)) => {
                if !names_match(&wf.name, &rf.name, &rf.aliases) {
                    Node::Error(mismatch(
                        here,
                        MismatchKind::FixedName {
                            writer: wf.name.clone(),
                            reader: rf.name.clone(),
                        },
                    ))
                } else if wf.size != rf.size {
                    Node::Error(mismatch(
                        here,
                        MismatchKind::FixedSize {
                            name: rf.name.clone(),
                            writer: wf.size,
                            reader: rf.size,
                        },
                    ))
                } else {
                    Node::Fixed(wf.size)
                }
            }
            (Ty::Enum(we), Ty::Enum(re)) => {
                if !names_match(&we.name, &re.name, &re.aliases) {
                    Node::Error(mismatch(
                        here,
                        MismatchKind::EnumName { writer: we.name.clone(), reader: re.name.clone() },
                    ))
                } else {
                    let default =
                        re.default.as_ref().and_then(|d| re.symbols.iter().position(|s| s == d));
                    let map = we
                        .symbols
                        .iter()
                        .map(|symbol| {
                            match (re.symbols.iter().position(|s| s == symbol), default) {
                                (Some(i), _) | (None, Some(i)) => Ok(i as u32),
                                (None, None) => Err(mismatch(
                                    here,
                                    MismatchKind::Symbol {
                                        symbol: symbol.clone(),
                                        reader: re.name.clone(),
                                    },
                                )),
                            }
                        })
                        .collect();
                    Node::Enum { map }
                }
            }
            (Ty::Record(wr), Ty::Record(rr)) => {
                let (wr, rr) = (wr.clone(), rr.clone());
                let mut steps = Vec::with_capacity(wr.fields.len());
                let mut read = vec![false; rr.fields.len()];
                for field in &wr.fields {
                    let index =
                        rr.fields.iter().position(|f| f.name == field.name).or_else(|| {
                            rr.fields.iter().position(|f| f.aliases.contains(&field.name))
                        });
                    match index {
                        Some(index) if !read[index] => {
                            read[index] = true;
                            let field_path =
                                format!("{path}/{}/{}", short(&rr.name), rr.fields[index].name);
                            let node = self.resolve(field.ty, rr.fields[index].ty, &field_path)?;
                            if let Node::Error(m) = &self.nodes[node] {
                                return Ok(Node::Error(m.clone()));
                            }
                            steps.push(FieldStep::Read { index, node });
                        }
                        _ => steps.push(FieldStep::Skip(field.ty)),
                    }
                }
                let mut defaults = Vec::new();
                for (index, field) in rr.fields.iter().enumerate().filter(|(i, _)| !read[*i]) {
                    let Some(default) = &field.default else {
                        return Ok(Node::Error(Mismatch {
                            path: format!("{path}/{}/{}", short(&rr.name), field.name),
                            kind: MismatchKind::MissingField {
                                field: field.name.clone(),
                                writer: wr.name.clone(),
                            },
                        }));
                    };
                    let bytes =
                        encode_default(self.reader, field.ty, default).map_err(|source| {
                            ResolveError::Default {
                                path: format!("{path}/{}/{}", short(&rr.name), field.name),
                                source,
                            }
                        })?;
                    defaults.push((index, bytes));
                }
                Node::Record { steps, reader_fields: rr.fields.len(), defaults }
            }
            (w, r) => Node::Error(mismatch(
                here,
                MismatchKind::Incompatible {
                    writer: w.branch_name().to_owned(),
                    reader: r.branch_name().to_owned(),
                },
            )),
        })
    }

    /// The reader branch a writer type `w` is read into, as Avro Java's `firstMatchingBranch`
    /// picks it.
    fn reader_branch(&mut self, w: TyId, r: TyId) -> Result<Option<(u32, NodeId)>, ResolveError> {
        let Ty::Union(branches) = self.reader.ty(r).clone() else {
            unreachable!("called on unions")
        };
        let wt = self.writer.ty(w).clone();
        let mut structure_match: Option<usize> = None;
        for (j, &b) in branches.iter().enumerate() {
            let bt = self.reader.ty(b);
            if !wt.same_kind(bt) {
                continue;
            }
            match (&wt, bt) {
                (Ty::Record(_) | Ty::Enum(_) | Ty::Fixed(_), _) => {
                    let wname = wt.branch_name();
                    let (bname, baliases) = match bt {
                        Ty::Record(x) => (&x.name, &x.aliases),
                        Ty::Enum(x) => (&x.name, &x.aliases),
                        Ty::Fixed(x) => (&x.name, &x.aliases),
                        _ => unreachable!("same kind"),
                    };
                    if names_match(wname, bname, baliases) {
                        return Ok(Some((j as u32, self.resolve(w, b, "")?)));
                    }
                    if let Ty::Record(_) = wt {
                        let same_short = wt.short_name() == bt.short_name();
                        let node = self.resolve(w, b, "")?;
                        let resolves = !matches!(self.nodes[node], Node::Error(_));
                        if resolves && (structure_match.is_none() || same_short) {
                            structure_match = Some(j);
                        }
                    }
                }
                _ => return Ok(Some((j as u32, self.resolve(w, b, "")?))),
            }
        }
        if let Some(j) = structure_match {
            return Ok(Some((j as u32, self.resolve(w, branches[j], "")?)));
        }
        for (j, &b) in branches.iter().enumerate() {
            let promotes = matches!(
                (&wt, self.reader.ty(b)),
                (Ty::Int, Ty::Long | Ty::Float | Ty::Double)
                    | (Ty::Long, Ty::Float | Ty::Double)
                    | (Ty::Float, Ty::Double)
                    | (Ty::String, Ty::Bytes)
                    | (Ty::Bytes, Ty::String)
            );
            if promotes {
                return Ok(Some((j as u32, self.resolve(w, b, "")?)));
            }
        }
        Ok(None)
    }
}

/// Whether a writer's named type is the reader's: the same full name, or one of the reader's
/// aliases.
fn mismatch(path: &str, kind: MismatchKind) -> Mismatch {
    Mismatch { path: path.to_owned(), kind }
}

fn names_match(writer: &str, reader: &str, reader_aliases: &[String]) -> bool {
    writer == reader || reader_aliases.iter().any(|a| a == writer)
}

fn short(full: &str) -> &str {
    full.rsplit('.').next().unwrap_or(full)
}
