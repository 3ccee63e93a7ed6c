//! Schema compatibility as the Schema Registry decides it: Avro Java's
//! `SchemaCompatibility` reader-writer check, under Confluent's seven levels.
//!
//! Every incompatibility is reported, not only the first, each with Avro Java's type name,
//! the location inside the schema (`/fields/3/type`), the path by field names
//! (`AccountOpened.currency`) and a hint. Functions take the writer first and the reader second.

use std::collections::HashSet;
use std::fmt;

use crate::avro::resolve::model::{Model, Ty, TyId};

/// Avro Java's `SchemaIncompatibilityType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IncompatibilityKind {
    /// Named types whose names differ (and no reader alias names the writer's).
    NameMismatch,
    /// Fixed types of different sizes.
    FixedSizeMismatch,
    /// Writer enum symbols the reader lacks, and the reader enum has no default.
    MissingEnumSymbols,
    /// A reader field the writer lacks, without a default.
    ReaderFieldMissingDefaultValue,
    /// Types that do not resolve (and are no promotion).
    TypeMismatch,
    /// A writer type no branch of the reader union reads.
    MissingUnionBranch,
    /// A reader field whose name and aliases name more than one writer field (aliases that
    /// cross another field's name). Avro Java stops there (`AvroRuntimeException: Reader record
    /// field ... matches multiple fields`); strata reports it as an incompatibility, since no
    /// reader can decide which field to read.
    AmbiguousReaderField,
}

impl IncompatibilityKind {
    /// The name Avro Java and the Schema Registry use.
    pub fn as_str(self) -> &'static str {
        match self {
            IncompatibilityKind::NameMismatch => "NAME_MISMATCH",
            IncompatibilityKind::FixedSizeMismatch => "FIXED_SIZE_MISMATCH",
            IncompatibilityKind::MissingEnumSymbols => "MISSING_ENUM_SYMBOLS",
            IncompatibilityKind::ReaderFieldMissingDefaultValue => {
                "READER_FIELD_MISSING_DEFAULT_VALUE"
            }
            IncompatibilityKind::TypeMismatch => "TYPE_MISMATCH",
            IncompatibilityKind::MissingUnionBranch => "MISSING_UNION_BRANCH",
            IncompatibilityKind::AmbiguousReaderField => "READER_FIELD_MATCHES_MULTIPLE_FIELDS",
        }
    }
}

impl fmt::Display for IncompatibilityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason the reader cannot read the writer's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// Avro Java's type of incompatibility.
    pub kind: IncompatibilityKind,
    /// Where, as Avro Java reports it: `/fields/3/type`.
    pub location: String,
    /// Where, by names: `AccountOpened.currency`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, in one line.
    pub hint: String,
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at `{}` ({}): {}", self.kind, self.path, self.location, self.message)
    }
}

/// A schema prepared for compatibility checks: parsed once, checked against many.
#[derive(Debug, Clone)]
pub struct Prepared(Model);

impl Prepared {
    /// Prepares an apache-avro schema.
    pub fn new(schema: &apache_avro::Schema) -> Result<Self, UnsupportedSchema> {
        Model::new(schema).map(Prepared).map_err(UnsupportedSchema)
    }

    /// Prepares a schema whose names refer to types the `references` define (schema references,
    /// as parsed by `apache_avro::Schema::parse_str_with_list`).
    pub fn with_references(
        schema: &apache_avro::Schema,
        references: &[apache_avro::Schema],
    ) -> Result<Self, UnsupportedSchema> {
        Model::with_references(schema, references).map(Prepared).map_err(UnsupportedSchema)
    }
}

/// Parses a schema as Avro Java does for compatibility checks. apache-avro refuses a field
/// alias that another field's name (or alias) also claims, as when two fields' aliases cross
/// (`field1` aliases `field2` and `field2` aliases `field1`); Avro Java takes that schema, and
/// so does this: it parses the schema without field aliases, then gives each field its aliases
/// back (the checker reads them; apache-avro's name lookup is not used).
pub fn parse_schema(text: &str) -> Result<apache_avro::Schema, apache_avro::Error> {
    let first = match apache_avro::Schema::parse_str(text) {
        Ok(schema) => return Ok(schema),
        Err(e) => e,
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else { return Err(first) };
    let mut bare = json.clone();
    if !strip_field_aliases(&mut bare) {
        return Err(first);
    }
    let mut schema = apache_avro::Schema::parse(&bare).map_err(|_| first)?;
    restore_field_aliases(&json, &mut schema);
    Ok(schema)
}

/// Removes every field's `aliases`; whether there were any.
fn strip_field_aliases(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(object) => {
            let mut any = false;
            if let Some(serde_json::Value::Array(fields)) = object.get_mut("fields") {
                for field in fields {
                    if let Some(field) = field.as_object_mut() {
                        any |= field.remove("aliases").is_some();
                        if let Some(ty) = field.get_mut("type") {
                            any |= strip_field_aliases(ty);
                        }
                    }
                }
            }
            for key in ["items", "values", "type"] {
                if let Some(inner) = object.get_mut(key).filter(|v| !v.is_string()) {
                    any |= strip_field_aliases(inner);
                }
            }
            any
        }
        serde_json::Value::Array(branches) => {
            branches.iter_mut().fold(false, |any, b| strip_field_aliases(b) | any)
        }
        _ => false,
    }
}

/// Gives the fields of `schema` (parsed from `json` without field aliases) their aliases back.
fn restore_field_aliases(json: &serde_json::Value, schema: &mut apache_avro::Schema) {
    use apache_avro::Schema as S;
    match (json, schema) {
        (serde_json::Value::Object(object), S::Record(record)) => {
            let fields = object.get("fields").and_then(serde_json::Value::as_array);
            for (field_json, field) in fields.into_iter().flatten().zip(&mut record.fields) {
                if let Some(aliases) = field_json.get("aliases").and_then(|a| a.as_array()) {
                    field.aliases =
                        aliases.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect();
                }
                if let Some(ty) = field_json.get("type") {
                    restore_field_aliases(ty, &mut field.schema);
                }
            }
        }
        (serde_json::Value::Object(object), S::Array(array)) => {
            if let Some(items) = object.get("items") {
                restore_field_aliases(items, &mut array.items);
            }
        }
        (serde_json::Value::Object(object), S::Map(map)) => {
            if let Some(values) = object.get("values") {
                restore_field_aliases(values, &mut map.types);
            }
        }
        (serde_json::Value::Object(object), schema) => {
            // `{"type": {...}}`: the type is the inner schema.
            if let Some(inner) = object.get("type").filter(|t| !t.is_string()) {
                restore_field_aliases(inner, schema);
            }
        }
        (serde_json::Value::Array(branches), S::Union(union)) => {
            let mut variants = union.variants().to_vec();
            for (branch, variant) in branches.iter().zip(&mut variants) {
                restore_field_aliases(branch, variant);
            }
            if let Ok(rebuilt) = apache_avro::schema::UnionSchema::new(variants) {
                *union = rebuilt;
            }
        }
        _ => {}
    }
}

/// A schema the compatibility checker cannot take, and why (such as a name it cannot resolve).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct UnsupportedSchema(#[from] pub crate::error::ModelError);

/// Why `schemas/compatibility.json` cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LevelConfigError {
    /// It is not JSON.
    #[error("not valid JSON")]
    Json(#[source] serde_json::Error),
    /// It is JSON, but not an object.
    #[error("the configuration is not a JSON object")]
    NotAnObject,
    /// `subjects` is not an object of subject to level.
    #[error("`subjects` is not an object")]
    SubjectsNotAnObject,
    /// A level is not a string.
    #[error("`{key}` is `{value}`, not a string")]
    NotAString {
        /// Where: `default` or `subjects.<subject>`.
        key: String,
        /// What it is.
        value: serde_json::Value,
    },
    /// A level is not one of Confluent's.
    #[error("`{key}`")]
    Level {
        /// Where: `default` or `subjects.<subject>`.
        key: String,
        /// The level given.
        #[source]
        source: UnknownLevel,
    },
    /// A key the configuration does not have.
    #[error("unknown key `{0}`; expected `default` or `subjects`")]
    UnknownKey(String),
}

/// Checks whether data written with `writer` can be read with `reader`, returning every
/// incompatibility (empty: compatible).
pub fn can_read(
    writer: &apache_avro::Schema,
    reader: &apache_avro::Schema,
) -> Result<Vec<Incompatibility>, UnsupportedSchema> {
    Ok(can_read_prepared(&Prepared::new(writer)?, &Prepared::new(reader)?))
}

/// [`can_read`] for prepared schemas.
pub fn can_read_prepared(writer: &Prepared, reader: &Prepared) -> Vec<Incompatibility> {
    let (writer, reader) = (&writer.0, &reader.0);
    let mut checker = Checker { writer, reader, seen: HashSet::new(), found: Vec::new() };
    checker.check(reader.root, writer.root, &mut Vec::new(), &mut Vec::new());
    checker.found
}

struct Checker<'a> {
    writer: &'a Model,
    reader: &'a Model,
    /// Pairs being or already checked: recursive types are assumed compatible while their
    /// check is under way, as Avro Java does.
    seen: HashSet<(TyId, TyId)>,
    found: Vec<Incompatibility>,
}

impl Checker<'_> {
    fn report(
        &mut self,
        kind: IncompatibilityKind,
        location: &[String],
        path: &[String],
        message: String,
        hint: String,
    ) {
        let location = format!("/{}", location.join("/"));
        let path = if path.is_empty() { "(top level)".to_owned() } else { path.join(".") };
        self.found.push(Incompatibility { kind, location, path, message, hint });
    }

    /// What `reader` reading `writer` would find, without reporting it here: for picking and
    /// explaining union branches.
    fn probe(&self, reader: TyId, writer: TyId) -> Vec<Incompatibility> {
        let mut probe = Checker {
            writer: self.writer,
            reader: self.reader,
            seen: self.seen.clone(),
            found: Vec::new(),
        };
        probe.check(reader, writer, &mut Vec::new(), &mut Vec::new());
        probe.found
    }

    fn check(&mut self, r: TyId, w: TyId, location: &mut Vec<String>, path: &mut Vec<String>) {
        if !self.seen.insert((r, w)) {
            return;
        }
        let (rt, wt) = (self.reader.ty(r).clone(), self.writer.ty(w).clone());
        if rt.same_kind(&wt) {
            match (&rt, &wt) {
                (Ty::Array(ri), Ty::Array(wi)) => {
                    location.push("items".into());
                    self.check(*ri, *wi, location, path);
                    location.pop();
                }
                (Ty::Map(rv), Ty::Map(wv)) => {
                    location.push("values".into());
                    self.check(*rv, *wv, location, path);
                    location.pop();
                }
                (Ty::Fixed(rf), Ty::Fixed(wf)) => {
                    self.names(&rf.name, &rf.aliases, &wf.name, location, path);
                    if rf.size != wf.size {
                        location.push("size".into());
                        self.report(
                            IncompatibilityKind::FixedSizeMismatch,
                            location,
                            path,
                            format!("expected: {}, found: {}", wf.size, rf.size),
                            format!(
                                "keep `{}` at {} bytes, or declare a new fixed type",
                                short(&rf.name),
                                wf.size
                            ),
                        );
                        location.pop();
                    }
                }
                (Ty::Enum(re), Ty::Enum(we)) => {
                    self.names(&re.name, &re.aliases, &we.name, location, path);
                    let missing: Vec<&String> =
                        we.symbols.iter().filter(|s| !re.symbols.contains(s)).collect();
                    let has_default = re.default.as_ref().is_some_and(|d| re.symbols.contains(d));
                    if !missing.is_empty() && !has_default {
                        location.push("symbols".into());
                        let list =
                            missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
                        self.report(
                            IncompatibilityKind::MissingEnumSymbols,
                            location,
                            path,
                            format!("[{list}]"),
                            format!(
                                "keep the symbols {list} in `{}`, or give it a default symbol",
                                short(&re.name)
                            ),
                        );
                        location.pop();
                    }
                }
                (Ty::Record(rr), Ty::Record(wr)) => {
                    self.names(&rr.name, &rr.aliases, &wr.name, location, path);
                    // Paths start at the outermost record's name and follow field names from there.
                    let named = path.is_empty();
                    if named {
                        path.push(short(&rr.name).to_owned());
                    }
                    for (index, field) in rr.fields.iter().enumerate() {
                        // Avro Java's lookup: the writer fields the reader field's name and
                        // aliases name; more than one is ambiguous.
                        let mut matches: Vec<_> = std::iter::once(&field.name)
                            .chain(&field.aliases)
                            .filter_map(|name| wr.fields.iter().position(|f| &f.name == name))
                            .collect();
                        matches.sort_unstable();
                        matches.dedup();
                        location.push("fields".into());
                        location.push(index.to_string());
                        path.push(field.name.clone());
                        if matches.len() > 1 {
                            let names: Vec<&str> =
                                matches.iter().map(|&m| wr.fields[m].name.as_str()).collect();
                            self.report(
                                IncompatibilityKind::AmbiguousReaderField,
                                location,
                                path,
                                format!(
                                    "`{}` matches writer fields `{}` by its name and aliases",
                                    field.name,
                                    names.join("`, `")
                                ),
                                format!(
                                    "give `{}` aliases that name no other writer field",
                                    field.name
                                ),
                            );
                            path.pop();
                            location.pop();
                            location.pop();
                            continue;
                        }
                        let writer_field = matches.first().map(|&m| &wr.fields[m]);
                        match writer_field {
                            Some(writer_field) => {
                                location.push("type".into());
                                self.check(field.ty, writer_field.ty, location, path);
                                location.pop();
                            }
                            None if field.default.is_none() => self.report(
                                IncompatibilityKind::ReaderFieldMissingDefaultValue,
                                location,
                                path,
                                field.name.clone(),
                                format!("give `{}` a default", field.name),
                            ),
                            None => {}
                        }
                        path.pop();
                        location.pop();
                        location.pop();
                    }
                    if named {
                        path.pop();
                    }
                }
                (Ty::Union(_), Ty::Union(writer_branches)) => {
                    // Every writer branch must be readable by the reader union.
                    for (i, &branch) in writer_branches.iter().enumerate() {
                        location.push(i.to_string());
                        self.check(r, branch, location, path);
                        location.pop();
                    }
                }
                // Primitives of the same type.
                _ => {}
            }
            return;
        }
        if let Ty::Union(writer_branches) = &wt {
            for (i, &branch) in writer_branches.iter().enumerate() {
                location.push(i.to_string());
                self.check(r, branch, location, path);
                location.pop();
            }
            return;
        }
        let promoted = matches!(
            (&rt, &wt),
            (Ty::Long, Ty::Int)
                | (Ty::Float, Ty::Int | Ty::Long)
                | (Ty::Double, Ty::Int | Ty::Long | Ty::Float)
                | (Ty::Bytes, Ty::String)
                | (Ty::String, Ty::Bytes)
        );
        if promoted {
            return;
        }
        if let Ty::Union(reader_branches) = &rt {
            if reader_branches.iter().any(|&b| self.probe(b, w).is_empty()) {
                return;
            }
            // Java says only that no branch reads it; when a branch of the same name exists,
            // what stops it is the useful part, so it is added (the rule stays Java's).
            let same_name = reader_branches.iter().copied().find(|&b| {
                wt.short_name().is_some() && self.reader.ty(b).short_name() == wt.short_name()
            });
            let mut message = format!("reader union lacking writer type: {}", kind_name(&wt));
            let mut hint = format!("add `{}` to the union", wt.branch_name());
            let mut at = path.clone();
            if let Some(branch) = same_name
                && let Some(cause) = self.probe(branch, w).first()
            {
                message = format!(
                    "{message}; its branch `{}` does not read it: {} at `{}` ({}): {}",
                    self.reader.ty(branch).short_name().unwrap_or_default(),
                    cause.kind,
                    cause.path,
                    cause.location,
                    cause.message
                );
                hint = cause.hint.clone();
                at = cause.path.split('.').map(str::to_owned).collect();
            }
            self.report(IncompatibilityKind::MissingUnionBranch, location, &at, message, hint);
            return;
        }
        self.report(
            IncompatibilityKind::TypeMismatch,
            location,
            path,
            format!(
                "reader type: {} not compatible with writer type: {}",
                kind_name(&rt),
                kind_name(&wt)
            ),
            "keep the type, or declare a new field (with a default) and an upgrade function"
                .to_owned(),
        );
    }

    /// Named types match by unqualified name, or by a reader alias naming the writer's full name.
    fn names(
        &mut self,
        reader: &str,
        reader_aliases: &[String],
        writer: &str,
        location: &mut Vec<String>,
        path: &[String],
    ) {
        if short(reader) == short(writer) || reader_aliases.iter().any(|a| a == writer) {
            return;
        }
        location.push("name".into());
        self.report(
            IncompatibilityKind::NameMismatch,
            location,
            path,
            format!("expected: {writer}"),
            format!("add the alias `{writer}` to `{}`", short(reader)),
        );
        location.pop();
    }
}

fn short(full: &str) -> &str {
    full.rsplit('.').next().unwrap_or(full)
}

/// Avro Java's upper-case type names, as its messages use them.
fn kind_name(ty: &Ty) -> &'static str {
    match ty {
        Ty::Null => "NULL",
        Ty::Boolean => "BOOLEAN",
        Ty::Int => "INT",
        Ty::Long => "LONG",
        Ty::Float => "FLOAT",
        Ty::Double => "DOUBLE",
        Ty::Bytes => "BYTES",
        Ty::String => "STRING",
        Ty::Array(_) => "ARRAY",
        Ty::Map(_) => "MAP",
        Ty::Union(_) => "UNION",
        Ty::Record(_) => "RECORD",
        Ty::Enum(_) => "ENUM",
        Ty::Fixed(_) => "FIXED",
    }
}

/// A name that is not one of Confluent's compatibility levels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a compatibility level; expected one of: {}", Level::names())]
pub struct UnknownLevel {
    /// The name given.
    pub given: String,
}

impl std::str::FromStr for Level {
    type Err = UnknownLevel;

    /// The level by Confluent's name, in any case, as Confluent's registry reads it
    /// (`BACKWARD_TRANSITIVE`, `backward_transitive`).
    fn from_str(name: &str) -> Result<Self, UnknownLevel> {
        Self::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, l)| *l)
            .ok_or_else(|| UnknownLevel { given: name.to_owned() })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Confluent's compatibility levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// No check.
    None,
    /// The new schema reads data of the latest registered one.
    Backward,
    /// The new schema reads data of every registered one.
    BackwardTransitive,
    /// The latest registered schema reads data of the new one.
    Forward,
    /// Every registered schema reads data of the new one.
    ForwardTransitive,
    /// Backward and forward, against the latest.
    Full,
    /// Backward and forward, against every registered schema.
    FullTransitive,
}

impl Level {
    /// Every level, by Confluent's name.
    pub const ALL: [(&'static str, Level); 7] = [
        ("NONE", Level::None),
        ("BACKWARD", Level::Backward),
        ("BACKWARD_TRANSITIVE", Level::BackwardTransitive),
        ("FORWARD", Level::Forward),
        ("FORWARD_TRANSITIVE", Level::ForwardTransitive),
        ("FULL", Level::Full),
        ("FULL_TRANSITIVE", Level::FullTransitive),
    ];

    /// Every level's name, comma-separated, for messages.
    fn names() -> String {
        Self::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    }

    /// Confluent's name.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, l)| *l == self).map(|(n, _)| *n).expect("every level is listed")
    }

    /// Whether every earlier version is checked, not only the latest.
    pub fn transitive(self) -> bool {
        matches!(self, Level::BackwardTransitive | Level::ForwardTransitive | Level::FullTransitive)
    }

    /// The checks the level makes of a new schema against `earlier` versions (positions from 1,
    /// oldest first): each earlier version it looks at, in each direction it reads.
    pub fn checks(self, earlier: usize) -> Vec<(usize, Direction)> {
        let mut directions = Vec::new();
        if self.backward() {
            directions.push(Direction::NewReadsOld);
        }
        if self.forward() {
            directions.push(Direction::OldReadsNew);
        }
        let first = if self.transitive() { 1 } else { earlier };
        (first.max(1)..=earlier).flat_map(|v| directions.iter().map(move |&d| (v, d))).collect()
    }

    fn backward(self) -> bool {
        matches!(
            self,
            Level::Backward | Level::BackwardTransitive | Level::Full | Level::FullTransitive
        )
    }

    fn forward(self) -> bool {
        matches!(
            self,
            Level::Forward | Level::ForwardTransitive | Level::Full | Level::FullTransitive
        )
    }
}

/// Which side read which in a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The new schema reading an earlier version's data (backward).
    NewReadsOld,
    /// An earlier version reading the new schema's data (forward).
    OldReadsNew,
}

/// An incompatibility of a new schema with one earlier version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The earlier version (1-based position in the history given).
    pub version: usize,
    /// Which side read which.
    pub direction: Direction,
    /// What is incompatible.
    pub incompatibility: Incompatibility,
}

/// Checks `new` against `history` (oldest first) at `level`, as the Schema Registry does:
/// against the latest only, or against all for transitive levels. Every finding is returned.
pub fn check(
    level: Level,
    new: &apache_avro::Schema,
    history: &[apache_avro::Schema],
) -> Result<Vec<Finding>, UnsupportedSchema> {
    let new = Prepared::new(new)?;
    let history = history.iter().map(Prepared::new).collect::<Result<Vec<_>, _>>()?;
    Ok(check_prepared(level, &new, &history))
}

/// [`check`] for prepared schemas: each parsed once, however many pairs it is part of.
pub fn check_prepared(level: Level, new: &Prepared, history: &[Prepared]) -> Vec<Finding> {
    let mut findings = Vec::new();
    if level == Level::None || history.is_empty() {
        return findings;
    }
    let first = if level.transitive() { 0 } else { history.len() - 1 };
    for (i, old) in history.iter().enumerate().skip(first) {
        if level.backward() {
            for incompatibility in can_read_prepared(old, new) {
                findings.push(Finding {
                    version: i + 1,
                    direction: Direction::NewReadsOld,
                    incompatibility,
                });
            }
        }
        if level.forward() {
            for incompatibility in can_read_prepared(new, old) {
                findings.push(Finding {
                    version: i + 1,
                    direction: Direction::OldReadsNew,
                    incompatibility,
                });
            }
        }
    }
    findings
}

/// One check the gate made: a version against an earlier one, in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateCheck {
    /// The version checked.
    pub version: u32,
    /// The earlier version it was checked against.
    pub against: u32,
    /// Which side read which.
    pub direction: Direction,
}

/// What the gate found in one subject's history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateReport {
    /// Every check made.
    pub checked: Vec<GateCheck>,
    /// Incompatibilities of a version with earlier ones; `declared` ones belong to a version
    /// declared as a break, and are acknowledged rather than errors.
    pub findings: Vec<GateFinding>,
    /// Versions declared as breaks that break nothing: the declaration is stale.
    pub needless_breaks: Vec<u32>,
}

/// An incompatibility of version `version` with the earlier version `finding.version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateFinding {
    /// The version checked.
    pub version: u32,
    /// What it breaks, against which earlier version (an absolute version number here).
    pub finding: Finding,
    /// Whether `version` is declared as a break.
    pub declared: bool,
}

impl GateReport {
    /// Whether anything not declared breaks.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| !f.declared)
    }
}

/// Checks every version of a subject's history (oldest first) against the versions before it
/// at `level`, as registering them in order would. A version in `breaks` is declared to break
/// Avro compatibility on purpose: its findings are acknowledged, and the history starts over
/// there (later versions are not checked against versions before it).
///
/// Each cause is reported once, at the version that introduced it: a later version that still
/// cannot read (or be read by) the same earlier version for the same reason carries the same
/// cause, which the one `breaks(in = N, ...)` at the introducing version settles.
pub fn gate(level: Level, versions: &[Prepared], breaks: &[u32]) -> GateReport {
    let mut report = GateReport::default();
    let mut causes: Vec<(usize, Direction, Incompatibility)> = Vec::new();
    for index in 1..versions.len() {
        let version = index as u32 + 1;
        let declared = breaks.contains(&version);
        let start = breaks.iter().copied().filter(|&b| b < version).max().unwrap_or(1);
        let history = &versions[start as usize - 1..index];
        for (earlier, direction) in level.checks(history.len()) {
            let against = earlier as u32 + start - 1;
            report.checked.push(GateCheck { version, against, direction });
        }
        let findings = check_prepared(level, &versions[index], history);
        if declared && findings.is_empty() {
            report.needless_breaks.push(version);
        }
        for mut finding in findings {
            finding.version += start as usize - 1;
            let cause = (finding.version, finding.direction, finding.incompatibility.clone());
            if causes.contains(&cause) {
                continue;
            }
            causes.push(cause);
            report.findings.push(GateFinding { version, finding, declared });
        }
    }
    report
}

/// The compatibility level of each subject, as `schemas/compatibility.json` states it offline:
///
/// ```json
/// { "default": "BACKWARD_TRANSITIVE", "subjects": { "shop.orders-value": "BACKWARD" } }
/// ```
///
/// Both keys are optional. The default is BACKWARD_TRANSITIVE: replay reads the whole history,
/// so every version must read every earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelConfig {
    /// The level of subjects not listed.
    pub default: Level,
    /// Levels by subject.
    pub subjects: std::collections::BTreeMap<String, Level>,
}

impl Default for LevelConfig {
    fn default() -> Self {
        LevelConfig { default: Level::BackwardTransitive, subjects: Default::default() }
    }
}

impl LevelConfig {
    /// Parses the configuration; an error names the key and lists the levels.
    pub fn from_json(text: &str) -> Result<Self, LevelConfigError> {
        let json: serde_json::Value = serde_json::from_str(text).map_err(LevelConfigError::Json)?;
        let level = |key: &str, value: &serde_json::Value| {
            let name = value.as_str().ok_or_else(|| LevelConfigError::NotAString {
                key: key.to_owned(),
                value: value.clone(),
            })?;
            name.parse::<Level>()
                .map_err(|source| LevelConfigError::Level { key: key.to_owned(), source })
        };
        let mut config = LevelConfig::default();
        for (key, value) in json.as_object().ok_or(LevelConfigError::NotAnObject)? {
            match key.as_str() {
                "default" => config.default = level("default", value)?,
                "subjects" => {
                    for (subject, value) in
                        value.as_object().ok_or(LevelConfigError::SubjectsNotAnObject)?
                    {
                        config
                            .subjects
                            .insert(subject.clone(), level(&format!("subjects.{subject}"), value)?);
                    }
                }
                other => return Err(LevelConfigError::UnknownKey(other.to_owned())),
            }
        }
        Ok(config)
    }

    /// The level of `subject`.
    pub fn level(&self, subject: &str) -> Level {
        self.subjects.get(subject).copied().unwrap_or(self.default)
    }
}
