//! The registry's state and its durable log.
//!
//! Every write is one JSON line appended to `registry.log` and fsynced before the request is
//! answered; the state in memory is the log replayed. Writers are serialized (one holds the log
//! while it decides, appends and applies), so ids and versions are never handed out twice;
//! readers share the state and never wait for a disk. A line cut short by a crash was never
//! acknowledged and is dropped on restart; a damaged line anywhere else stops the start with its
//! line number, since skipping it would lose data silently.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

use serde::{Deserialize, Serialize};
use strata::avro::compat::{self, Direction, Level, Prepared};

use crate::error::{LogConflict, OpenError, StoreError};
use strata::avro::canonical;

/// The schema type strata serves; JSON and PROTOBUF are refused with 42201.
pub const AVRO: &str = "AVRO";

/// A schema reference: the named type `name` is defined by `subject` at `version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i64,
}

/// A schema under its global id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaEntry {
    #[serde(rename = "schemaType")]
    pub schema_type: String,
    pub schema: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
}

/// A subject's version: the schema id it names, and whether it is soft-deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionEntry {
    pub id: u32,
    pub deleted: bool,
}

/// A registry mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadWrite,
    ReadOnly,
    ReadOnlyOverride,
    Import,
}

impl Mode {
    pub fn parse(name: &str) -> Option<Mode> {
        Some(match name.to_ascii_uppercase().as_str() {
            "READWRITE" => Mode::ReadWrite,
            "READONLY" => Mode::ReadOnly,
            "READONLY_OVERRIDE" => Mode::ReadOnlyOverride,
            "IMPORT" => Mode::Import,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadWrite => "READWRITE",
            Mode::ReadOnly => "READONLY",
            Mode::ReadOnlyOverride => "READONLY_OVERRIDE",
            Mode::Import => "IMPORT",
        }
    }
}

/// One acknowledged write: a line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    /// A new version of `subject`; `schema` when `id` is new.
    Register {
        subject: String,
        version: u32,
        id: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schema: Option<SchemaEntry>,
    },
    /// Versions soft-deleted, or removed for good.
    Delete { subject: String, versions: Vec<u32>, permanent: bool },
    /// A compatibility level set (`None`: removed); `subject` `None` is the global one.
    Config { subject: Option<String>, level: Option<String> },
    /// A mode set (`None`: removed).
    Mode { subject: Option<String>, mode: Option<String> },
}

/// Everything the registry knows.
#[derive(Debug, Default)]
pub struct State {
    schemas: BTreeMap<u32, SchemaEntry>,
    by_content: HashMap<(String, Vec<Reference>), u32>,
    subjects: BTreeMap<String, BTreeMap<u32, VersionEntry>>,
    global_level: Option<Level>,
    levels: HashMap<String, Level>,
    global_mode: Option<Mode>,
    modes: HashMap<String, Mode>,
}

/// Which versions a lookup sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Hide,
    Include,
}

/// A version named in a request: a number, or the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    Latest,
    Number(u32),
}

impl VersionSpec {
    /// Confluent's rule: `latest`, `-1`, or 1 to 2^31-1.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        if text.eq_ignore_ascii_case("latest") || text == "-1" {
            return Ok(VersionSpec::Latest);
        }
        match text.parse::<i64>() {
            Ok(n) if (1..=i64::from(i32::MAX)).contains(&n) => Ok(VersionSpec::Number(n as u32)),
            _ => Err(StoreError::InvalidVersion { given: (text).to_string() }),
        }
    }
}

impl State {
    pub fn global_level(&self) -> Level {
        self.global_level.unwrap_or(Level::Backward)
    }

    pub fn subject_level(&self, subject: &str) -> Option<Level> {
        self.levels.get(subject).copied()
    }

    pub fn level(&self, subject: &str) -> Level {
        self.subject_level(subject).unwrap_or_else(|| self.global_level())
    }

    pub fn global_mode(&self) -> Mode {
        self.global_mode.unwrap_or(Mode::ReadWrite)
    }

    pub fn subject_mode(&self, subject: &str) -> Option<Mode> {
        self.modes.get(subject).copied()
    }

    pub fn mode(&self, subject: &str) -> Mode {
        self.subject_mode(subject).unwrap_or_else(|| self.global_mode())
    }

    pub fn schema(&self, id: u32) -> Option<&SchemaEntry> {
        self.schemas.get(&id)
    }

    /// Subjects with a visible version, sorted.
    pub fn subjects(&self, deleted: Deleted, prefix: &str) -> Vec<&str> {
        self.subjects
            .iter()
            .filter(|(name, versions)| {
                name.starts_with(prefix) && versions.values().any(|v| visible(v, deleted))
            })
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// A subject's visible versions, or 40401.
    pub fn versions(&self, subject: &str, deleted: Deleted) -> Result<Vec<u32>, StoreError> {
        let versions: Vec<u32> = self
            .subjects
            .get(subject)
            .into_iter()
            .flatten()
            .filter(|(_, v)| visible(v, deleted))
            .map(|(n, _)| *n)
            .collect();
        if versions.is_empty() {
            return Err(StoreError::SubjectNotFound { subject: (subject).to_owned() });
        }
        Ok(versions)
    }

    /// One version of a subject: 40401 when the subject has none visible, 40402 when that one
    /// is missing (or soft-deleted and not asked for).
    pub fn version(
        &self,
        subject: &str,
        spec: VersionSpec,
        deleted: Deleted,
    ) -> Result<(u32, VersionEntry), StoreError> {
        let all = self.versions(subject, deleted)?;
        let number = match spec {
            VersionSpec::Latest => *all.last().expect("versions() is never empty"),
            VersionSpec::Number(n) if all.contains(&n) => n,
            VersionSpec::Number(n) => return Err(StoreError::VersionNotFound { version: n }),
        };
        Ok((number, self.subjects[subject][&number]))
    }

    /// The newest visible version of `subject` holding `schema`: (version, id).
    pub fn find(
        &self,
        subject: &str,
        schema: &SchemaEntry,
        deleted: Deleted,
    ) -> Option<(u32, u32)> {
        let id = *self.by_content.get(&(schema.schema.clone(), schema.references.clone()))?;
        self.subjects
            .get(subject)?
            .iter()
            .rev()
            .find(|(_, v)| v.id == id && visible(v, deleted))
            .map(|(n, v)| (*n, v.id))
    }

    /// Whether any version (even soft-deleted) names schema `id`.
    fn id_in_use(&self, id: u32) -> bool {
        self.subjects.values().flat_map(BTreeMap::values).any(|v| v.id == id)
    }

    /// A schema by id, as served: only while some version still names it.
    pub fn schema_by_id(&self, id: u32) -> Result<&SchemaEntry, StoreError> {
        match self.schemas.get(&id) {
            Some(entry) if self.id_in_use(id) => Ok(entry),
            _ => Err(StoreError::SchemaIdNotFound { id }),
        }
    }

    /// Every (subject, version) naming schema `id`.
    pub fn versions_of_id(&self, id: u32, deleted: Deleted) -> Vec<(&str, u32)> {
        self.subjects
            .iter()
            .flat_map(|(s, versions)| {
                versions
                    .iter()
                    .filter(move |(_, v)| v.id == id && visible(v, deleted))
                    .map(move |(n, _)| (s.as_str(), *n))
            })
            .collect()
    }

    /// Ids of the live schemas whose references name `subject` at `version`.
    pub fn referenced_by(&self, subject: &str, version: u32) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .subjects
            .values()
            .flat_map(BTreeMap::values)
            .filter(|v| !v.deleted)
            .map(|v| v.id)
            .filter(|id| {
                self.schemas.get(id).is_some_and(|s| {
                    s.references.iter().any(|r| {
                        r.subject == subject
                            && (r.version == i64::from(version)
                                || (r.version == -1 && self.latest(subject) == Some(version)))
                    })
                })
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn latest(&self, subject: &str) -> Option<u32> {
        self.versions(subject, Deleted::Hide).ok().and_then(|v| v.last().copied())
    }

    /// The texts of the schemas `references` name, transitively, dependencies first.
    pub fn resolve_references(&self, references: &[Reference]) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        self.collect_references(references, &mut out, &mut seen, 0)?;
        Ok(out)
    }

    fn collect_references(
        &self,
        references: &[Reference],
        out: &mut Vec<String>,
        seen: &mut HashSet<(String, u32)>,
        depth: usize,
    ) -> Result<(), StoreError> {
        if depth > 32 {
            return Err(StoreError::invalid_schema("schema references nest more than 32 deep"));
        }
        for reference in references {
            let spec = if reference.version == -1 {
                VersionSpec::Latest
            } else {
                VersionSpec::parse(&reference.version.to_string())?
            };
            let (version, entry) =
                self.version(&reference.subject, spec, Deleted::Include).map_err(|_| {
                    StoreError::invalid_schema(format!(
                        "Invalid schema: reference `{}` names subject '{}' version {}, which \
                         does not exist",
                        reference.name, reference.subject, reference.version
                    ))
                })?;
            if !seen.insert((reference.subject.clone(), version)) {
                continue;
            }
            let schema = &self.schemas[&entry.id];
            self.collect_references(&schema.references, out, seen, depth + 1)?;
            out.push(schema.schema.clone());
        }
        Ok(())
    }

    fn apply(&mut self, op: Op) -> Result<(), LogConflict> {
        match op {
            Op::Register { subject, version, id, schema } => {
                if let Some(schema) = schema {
                    self.by_content.insert((schema.schema.clone(), schema.references.clone()), id);
                    if self.schemas.insert(id, schema).is_some() {
                        return Err(LogConflict::IdDefinedTwice { id });
                    }
                } else if !self.schemas.contains_key(&id) {
                    return Err(LogConflict::UnknownId { subject, version, id });
                }
                let versions = self.subjects.entry(subject.clone()).or_default();
                if versions.insert(version, VersionEntry { id, deleted: false }).is_some() {
                    return Err(LogConflict::VersionTwice { subject, version });
                }
            }
            Op::Delete { subject, versions, permanent } => {
                let entries = self
                    .subjects
                    .get_mut(&subject)
                    .ok_or_else(|| LogConflict::UnknownSubject { subject: subject.clone() })?;
                for version in versions {
                    if permanent {
                        entries.remove(&version);
                    } else if let Some(entry) = entries.get_mut(&version) {
                        entry.deleted = true;
                    }
                }
                if entries.is_empty() {
                    self.subjects.remove(&subject);
                    self.levels.remove(&subject);
                    self.modes.remove(&subject);
                }
            }
            Op::Config { subject, level } => {
                let level =
                    level.map(|l| l.parse::<Level>().map_err(LogConflict::Level)).transpose()?;
                match (subject, level) {
                    (None, level) => self.global_level = level,
                    (Some(s), Some(level)) => {
                        self.levels.insert(s, level);
                    }
                    (Some(s), None) => {
                        self.levels.remove(&s);
                    }
                }
            }
            Op::Mode { subject, mode } => {
                let mode = mode
                    .map(|m| Mode::parse(&m).ok_or(LogConflict::Mode { mode: m }))
                    .transpose()?;
                match (subject, mode) {
                    (None, mode) => self.global_mode = mode,
                    (Some(s), Some(mode)) => {
                        self.modes.insert(s, mode);
                    }
                    (Some(s), None) => {
                        self.modes.remove(&s);
                    }
                }
            }
        }
        Ok(())
    }
}

fn visible(version: &VersionEntry, deleted: Deleted) -> bool {
    deleted == Deleted::Include || !version.deleted
}

/// A registration request's body, as Confluent's `RegisterSchemaRequest`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRequest {
    pub schema: Option<String>,
    pub schema_type: Option<String>,
    /// Clients send `null` as well as `[]`.
    pub references: Option<Vec<Reference>>,
    pub id: Option<i64>,
    pub version: Option<i64>,
}

/// A schema of a request, parsed and checked.
#[derive(Debug)]
pub struct Candidate {
    pub entry: SchemaEntry,
    pub prepared: Prepared,
    /// Parsed with `normalize=true`: it also meets schemas registered in another spelling.
    pub normalized: bool,
}

/// What a registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    pub id: u32,
    pub version: u32,
}

/// The registry: its state, its log, and the prepared schemas of its versions.
#[derive(Debug)]
pub struct Store {
    state: RwLock<State>,
    log: Mutex<Log>,
    prepared: Mutex<HashMap<u32, Arc<Prepared>>>,
}

#[derive(Debug)]
struct Log {
    file: File,
    path: PathBuf,
    /// Set when a write could not be made durable: the store stops taking writes, since what
    /// is on disk is no longer known.
    failed: bool,
    /// Held for the store's life: one server per directory.
    _lock: File,
}

impl Store {
    /// Opens (or creates) the registry kept in `dir`, replaying its log.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        let io = |action, path: &Path| {
            let path = path.to_owned();
            move |source| OpenError::Io { action, path, source }
        };
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let lock_path = dir.join("LOCK");
        let lock = File::create(&lock_path).map_err(io("create", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(OpenError::Locked { dir: dir.to_owned() });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("lock", &lock_path)(e)),
        }
        let path = dir.join("registry.log");
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io("open", &path))?;
        if created {
            // The new file's directory entry must survive a crash too.
            File::open(dir).and_then(|d| d.sync_all()).ok();
        }
        let mut text = Vec::new();
        file.read_to_end(&mut text).map_err(io("read", &path))?;
        let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            tracing::warn!(
                log = %path.display(),
                bytes = text.len() - complete,
                "dropping an unfinished last write (cut short by a crash; never acknowledged)"
            );
            file.set_len(complete as u64)
                .and_then(|()| file.sync_all())
                .and_then(|()| file.seek(SeekFrom::End(0)))
                .map_err(io("truncate", &path))?;
        }
        let mut state = State::default();
        for (number, line) in text[..complete].split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let line_number = number + 1;
            let op: Op = serde_json::from_slice(line).map_err(|source| OpenError::Damaged {
                path: path.clone(),
                line: line_number,
                source,
            })?;
            state.apply(op).map_err(|source| OpenError::Replay {
                path: path.clone(),
                line: line_number,
                source,
            })?;
        }
        Ok(Store {
            state: RwLock::new(state),
            log: Mutex::new(Log { file, path, failed: false, _lock: lock }),
            prepared: Mutex::new(HashMap::new()),
        })
    }

    /// The state, for reading.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn writer(&self) -> Result<MutexGuard<'_, Log>, StoreError> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.failed {
            return Err(StoreError::Failed { path: log.path.clone() });
        }
        Ok(log)
    }

    /// Appends `op` durably, then applies it. The caller holds the writer.
    fn commit(&self, log: &mut Log, op: Op) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(&op).expect("ops serialize");
        line.push(b'\n');
        let durable = log.file.write_all(&line).and_then(|()| log.file.sync_data());
        if let Err(e) = durable {
            log.failed = true;
            return Err(StoreError::Write { path: log.path.clone(), source: e });
        }
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        Ok(state.apply(op)?)
    }

    /// Parses a request's schema against the current state's references.
    pub fn candidate(
        &self,
        request: &SchemaRequest,
        normalize: bool,
    ) -> Result<Candidate, StoreError> {
        let schema_type = request.schema_type.as_deref().unwrap_or(AVRO).to_ascii_uppercase();
        match schema_type.as_str() {
            AVRO => {}
            "JSON" | "PROTOBUF" => {
                return Err(StoreError::invalid_schema(format!(
                    "Invalid schema: schema type {schema_type} is not supported by this \
                     registry (strata's registry serves AVRO only)"
                )));
            }
            other => {
                return Err(StoreError::invalid_schema(format!("Invalid schema type {other}")));
            }
        }
        let text = request.schema.as_deref().ok_or_else(|| {
            StoreError::invalid_schema("Invalid schema: the request has no `schema`")
        })?;
        let mut references = request.references.clone().unwrap_or_default();
        if normalize {
            references.sort();
            references.dedup();
        }
        let texts = self.read().resolve_references(&references)?;
        let parsed =
            canonical::parse(text, &texts, normalize).map_err(StoreError::InvalidSchemaText)?;
        Ok(Candidate {
            entry: SchemaEntry { schema_type: AVRO.into(), schema: parsed.text, references },
            prepared: parsed.prepared,
            normalized: normalize,
        })
    }

    /// The newest visible version of `subject` holding `candidate`: (version, id). A normalized
    /// candidate also meets a version registered in another spelling, compared in normalized
    /// form as Confluent's `normalize=true` does.
    pub fn find(
        &self,
        state: &State,
        subject: &str,
        candidate: &Candidate,
        deleted: Deleted,
    ) -> Option<(u32, u32)> {
        if let Some(found) = state.find(subject, &candidate.entry, deleted) {
            return Some(found);
        }
        if !candidate.normalized {
            return None;
        }
        let versions = state.subjects.get(subject)?;
        versions.iter().rev().filter(|(_, v)| visible(v, deleted)).find_map(|(number, v)| {
            let entry = state.schemas.get(&v.id)?;
            let mut references = entry.references.clone();
            references.sort();
            references.dedup();
            if references != candidate.entry.references {
                return None;
            }
            let texts = state.resolve_references(&references).ok()?;
            let normalized = canonical::parse(&entry.schema, &texts, true).ok()?;
            (normalized.text == candidate.entry.schema).then_some((*number, v.id))
        })
    }

    /// The prepared schema of stored id `id`, parsed once.
    fn prepared(&self, state: &State, id: u32) -> Result<Arc<Prepared>, StoreError> {
        if let Some(p) = self.prepared.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Ok(Arc::clone(p));
        }
        let entry = state.schemas.get(&id).ok_or_else(|| StoreError::SchemaIdNotFound { id })?;
        let texts = state.resolve_references(&entry.references)?;
        let parsed = canonical::parse(&entry.schema, &texts, false)
            .map_err(|e| StoreError::StoredSchema { id, source: e })?;
        let prepared = Arc::new(parsed.prepared);
        self.prepared.lock().unwrap_or_else(|e| e.into_inner()).insert(id, Arc::clone(&prepared));
        Ok(prepared)
    }

    /// Checks `candidate` against versions of `subject` at `level`: `against` one version, or
    /// all live versions as the level picks them. Returns Confluent's detail messages (empty:
    /// compatible).
    pub fn compatibility(
        &self,
        state: &State,
        subject: &str,
        candidate: &Candidate,
        against: Option<u32>,
        level: Level,
    ) -> Result<Vec<String>, StoreError> {
        let live: Vec<(u32, u32)> = match against {
            Some(version) => vec![(version, state.subjects[subject][&version].id)],
            None => match state.versions(subject, Deleted::Hide) {
                Ok(versions) => {
                    versions.iter().map(|v| (*v, state.subjects[subject][v].id)).collect()
                }
                Err(_) => Vec::new(),
            },
        };
        if live.is_empty() || level == Level::None {
            return Ok(Vec::new());
        }
        let history =
            live.iter().map(|(_, id)| self.prepared(state, *id)).collect::<Result<Vec<_>, _>>()?;
        let history: Vec<Prepared> = history.iter().map(|p| Prepared::clone(p)).collect();
        let findings = compat::check_prepared(level, &candidate.prepared, &history);
        let mut messages = Vec::new();
        let mut last_version = None;
        for finding in &findings {
            let (version, _) = live[finding.version - 1];
            if last_version.is_some_and(|v| v != version) {
                push_old_schema(&mut messages, state, last_version.unwrap_or(version), &live);
            }
            last_version = Some(version);
            messages.push(describe(finding));
        }
        if let Some(version) = last_version {
            push_old_schema(&mut messages, state, version, &live);
            messages
                .push(format!("{{validateFields: 'false', compatibility: '{}'}}", level.as_str()));
        }
        Ok(messages)
    }

    /// Registers `candidate` under `subject` (Confluent's `POST /subjects/{s}/versions`).
    pub fn register(
        &self,
        subject: &str,
        candidate: Candidate,
        request: &SchemaRequest,
    ) -> Result<Registered, StoreError> {
        let mut log = self.writer()?;
        let state = self.read();
        let mode = state.mode(subject);
        if matches!(mode, Mode::ReadOnly | Mode::ReadOnlyOverride) {
            return Err(StoreError::not_permitted(format!(
                "Subject {subject} is in read-only mode"
            )));
        }
        let key = (candidate.entry.schema.clone(), candidate.entry.references.clone());
        let existing_id = state.by_content.get(&key).copied();
        let versions = state.subjects.get(subject);
        // The same schema again: its id, and no new version.
        if let Some((version, id)) = self.find(&state, subject, &candidate, Deleted::Hide) {
            if request.id.is_some_and(|asked| asked != i64::from(id)) {
                return Err(StoreError::IdDoesNotMatch { id });
            }
            return Ok(Registered { id, version });
        }
        let next_version = versions.and_then(|v| v.keys().last()).map_or(1, |v| v + 1);
        let (id, version) = if mode == Mode::Import {
            let id = match request.id {
                Some(id) if (1..=i64::from(i32::MAX)).contains(&id) => id as u32,
                Some(id) => return Err(StoreError::InvalidSchemaId { id }),
                None => {
                    return Err(StoreError::not_permitted(format!(
                        "Subject {subject} is in IMPORT mode: a registration must give its id"
                    )));
                }
            };
            if existing_id.is_some_and(|e| e != id)
                || state.schemas.get(&id).is_some_and(|s| s != &candidate.entry)
            {
                return Err(StoreError::IdDoesNotMatch { id });
            }
            let version = match request.version {
                None | Some(-1) => next_version,
                Some(v) if (1..=i64::from(i32::MAX)).contains(&v) => v as u32,
                Some(v) => return Err(StoreError::InvalidVersion { given: v.to_string() }),
            };
            if versions.is_some_and(|vs| vs.contains_key(&version)) {
                return Err(StoreError::not_permitted(format!(
                    "Subject {subject} already has version {version}"
                )));
            }
            (id, version)
        } else {
            if let Some(asked) = request.id
                && existing_id.is_none_or(|e| i64::from(e) != asked)
            {
                return Err(StoreError::not_permitted(format!(
                    "Overwrite new schema with id {asked} is not permitted: ids are chosen \
                         only in IMPORT mode"
                )));
            }
            if let Some(asked) = request.version.filter(|v| *v != -1)
                && asked != i64::from(next_version)
            {
                return Err(StoreError::not_permitted(format!(
                    "Version {asked} cannot be chosen outside IMPORT mode; the next version of \
                         {subject} is {next_version}"
                )));
            }
            let details =
                self.compatibility(&state, subject, &candidate, None, state.level(subject))?;
            if !details.is_empty() {
                return Err(StoreError::Incompatible { subject: subject.to_owned(), details });
            }
            let id =
                existing_id.unwrap_or_else(|| state.schemas.keys().last().map_or(1, |m| m + 1));
            (id, next_version)
        };
        let schema = (!state.schemas.contains_key(&id)).then(|| candidate.entry.clone());
        drop(state);
        let prepared = Arc::new(candidate.prepared);
        self.commit(&mut log, Op::Register { subject: subject.to_owned(), version, id, schema })?;
        self.prepared.lock().unwrap_or_else(|e| e.into_inner()).entry(id).or_insert(prepared);
        Ok(Registered { id, version })
    }

    /// Deletes one version (Confluent's `DELETE /subjects/{s}/versions/{v}`).
    pub fn delete_version(
        &self,
        subject: &str,
        spec: VersionSpec,
        permanent: bool,
    ) -> Result<u32, StoreError> {
        let mut log = self.writer()?;
        let state = self.read();
        check_writable(&state, subject)?;
        let all = state
            .subjects
            .get(subject)
            .ok_or_else(|| StoreError::SubjectNotFound { subject: (subject).to_owned() })?;
        let version = match spec {
            VersionSpec::Number(n) => n,
            VersionSpec::Latest if permanent => *all.keys().last().expect("subjects are not empty"),
            VersionSpec::Latest => state.version(subject, spec, Deleted::Hide)?.0,
        };
        let entry = all.get(&version).ok_or_else(|| StoreError::VersionNotFound { version })?;
        match (entry.deleted, permanent) {
            (true, false) => {
                return Err(StoreError::VersionSoftDeleted {
                    subject: (subject).to_owned(),
                    version,
                });
            }
            (false, true) => {
                return Err(StoreError::VersionNotSoftDeleted {
                    subject: (subject).to_owned(),
                    version,
                });
            }
            _ => {}
        }
        let by = state.referenced_by(subject, version);
        if !by.is_empty() {
            return Err(StoreError::ReferenceExists { subject: (subject).to_owned(), version, by });
        }
        drop(state);
        let op = Op::Delete { subject: subject.to_owned(), versions: vec![version], permanent };
        self.commit(&mut log, op)?;
        Ok(version)
    }

    /// Deletes a subject (Confluent's `DELETE /subjects/{s}`): the versions deleted.
    pub fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<u32>, StoreError> {
        let mut log = self.writer()?;
        let state = self.read();
        check_writable(&state, subject)?;
        let all = state
            .subjects
            .get(subject)
            .ok_or_else(|| StoreError::SubjectNotFound { subject: (subject).to_owned() })?;
        let live: Vec<u32> = all.iter().filter(|(_, v)| !v.deleted).map(|(n, _)| *n).collect();
        if !permanent && live.is_empty() {
            return Err(StoreError::SubjectSoftDeleted { subject: (subject).to_owned() });
        }
        if permanent && !live.is_empty() {
            return Err(StoreError::SubjectNotSoftDeleted { subject: (subject).to_owned() });
        }
        let versions: Vec<u32> = if permanent { all.keys().copied().collect() } else { live };
        for &version in &versions {
            let by = state.referenced_by(subject, version);
            if !by.is_empty() {
                return Err(StoreError::ReferenceExists {
                    subject: (subject).to_owned(),
                    version,
                    by,
                });
            }
        }
        drop(state);
        let op = Op::Delete { subject: subject.to_owned(), versions: versions.clone(), permanent };
        self.commit(&mut log, op)?;
        Ok(versions)
    }

    /// Sets (or with `None` removes) a compatibility level; returns the previous one.
    pub fn set_level(
        &self,
        subject: Option<&str>,
        level: Option<Level>,
    ) -> Result<Option<Level>, StoreError> {
        let mut log = self.writer()?;
        let previous = {
            let state = self.read();
            match subject {
                Some(s) => state.subject_level(s),
                None => state.global_level,
            }
        };
        let op = Op::Config {
            subject: subject.map(str::to_owned),
            level: level.map(|l| l.as_str().to_owned()),
        };
        self.commit(&mut log, op)?;
        Ok(previous)
    }

    /// Sets (or removes) a mode; IMPORT needs an empty registry (or subject) unless `force`.
    pub fn set_mode(
        &self,
        subject: Option<&str>,
        mode: Option<Mode>,
        force: bool,
    ) -> Result<Option<Mode>, StoreError> {
        let mut log = self.writer()?;
        let previous = {
            let state = self.read();
            if mode == Some(Mode::Import) && !force {
                let occupied = match subject {
                    Some(s) => state.subjects.contains_key(s),
                    None => !state.subjects.is_empty(),
                };
                if occupied {
                    return Err(StoreError::not_permitted(
                        "Cannot import since found existing subjects",
                    ));
                }
            }
            match subject {
                Some(s) => state.subject_mode(s),
                None => state.global_mode,
            }
        };
        let op = Op::Mode {
            subject: subject.map(str::to_owned),
            mode: mode.map(|m| m.as_str().to_owned()),
        };
        self.commit(&mut log, op)?;
        Ok(previous)
    }
}

fn check_writable(state: &State, subject: &str) -> Result<(), StoreError> {
    if matches!(state.mode(subject), Mode::ReadOnly | Mode::ReadOnlyOverride) {
        return Err(StoreError::not_permitted(format!("Subject {subject} is in read-only mode")));
    }
    Ok(())
}

fn push_old_schema(messages: &mut Vec<String>, state: &State, version: u32, live: &[(u32, u32)]) {
    let id = live.iter().find(|(v, _)| *v == version).map_or(0, |(_, id)| *id);
    messages.push(format!("{{oldSchemaVersion: {version}}}"));
    if let Some(schema) = state.schemas.get(&id) {
        messages.push(format!("{{oldSchema: '{}'}}", schema.schema));
    }
}

/// One finding as Confluent words it (`io.confluent...avro.Difference`).
fn describe(finding: &compat::Finding) -> String {
    let i = &finding.incompatibility;
    let (reader, writer) = match finding.direction {
        Direction::NewReadsOld => ("new", "old"),
        Direction::OldReadsNew => ("old", "new"),
    };
    let location = &i.location;
    let field = i.path.rsplit('.').next().unwrap_or(&i.path);
    let description = match i.kind {
        compat::IncompatibilityKind::ReaderFieldMissingDefaultValue => format!(
            "The field '{field}' at path '{location}' in the {reader} schema has no default value \
             and is missing in the {writer} schema"
        ),
        compat::IncompatibilityKind::TypeMismatch => format!(
            "The type (path '{location}') of a field in the {reader} schema does not match with \
             the {writer} schema"
        ),
        compat::IncompatibilityKind::NameMismatch => format!(
            "The name of the schema has changed (path '{location}') in the {reader} schema \
             compared to the {writer} schema"
        ),
        compat::IncompatibilityKind::FixedSizeMismatch => format!(
            "The size of FIXED type field at path '{location}' in the {reader} schema does not \
             match with the {writer} schema"
        ),
        compat::IncompatibilityKind::MissingEnumSymbols => format!(
            "The {reader} schema is missing enum symbols at path '{location}' in the {writer} \
             schema"
        ),
        compat::IncompatibilityKind::MissingUnionBranch => format!(
            "The {reader} schema is missing a type inside a union field at path '{location}' in \
             the {writer} schema"
        ),
        compat::IncompatibilityKind::AmbiguousReaderField => format!(
            "The field at path '{location}' in the {reader} schema matches several fields of the \
             {writer} schema by its name and aliases"
        ),
    };
    format!(
        "{{errorType:'{}', description:'{description}', additionalInfo:'{}'}}",
        i.kind.as_str(),
        i.message
    )
}
