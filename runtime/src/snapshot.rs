//! Snapshots of state folded from events, versioned like events: the state is a
//! `#[derive(strata::Record)]` type, stored as Avro in its latest shape with the version it was
//! written at, so a snapshot written by an older program is upcast like any old event. A
//! snapshot that cannot be read is refused with the reason, never replaced by a default.
//!
//! ```
//! # use std::collections::BTreeMap;
//! # use strata::snapshot::{DirStore, Snapshot, SnapshotStore};
//! # #[derive(strata::Record, Debug, PartialEq, Default)]
//! # struct Totals { count: i64 }
//! let dir = std::env::temp_dir().join(format!("strata-snapshot-doc-{}", std::process::id()));
//! let store = DirStore::new(&dir, "totals");
//! let offsets = BTreeMap::from([(0, 42)]); // partition 0: the next offset to read is 42
//! store.save(&Snapshot::of("bank.accounts", &Totals { count: 41 }, offsets, 41))?;
//! let latest = store.load()?.into_iter().next().expect("one snapshot")?;
//! assert_eq!(latest.state::<Totals>()?, Totals { count: 41 });
//! assert_eq!(latest.offsets[&0], 42);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::decode::Reader;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::event::Record;

const MAGIC: &str = "strata-snapshot 1";

/// A stored state: what it covers (the next offset to read per partition) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The topic the state was folded from.
    pub topic: String,
    /// The state's Rust type, for messages.
    pub state_type: String,
    /// The state's version (its record's last change) when written.
    pub state_version: u32,
    /// Per partition, the next offset to read: everything before it is in the state.
    pub offsets: BTreeMap<i32, i64>,
    /// How many events the state holds.
    pub events: u64,
    /// The state, Avro binary in the shape of `state_version`.
    pub payload: Vec<u8>,
    /// The Rabin fingerprint of the state type's schema at `state_version` when written
    /// (`None`: a snapshot written without one, which is refused).
    pub schema_fingerprint: Option<u64>,
    /// Per partition, the record keys parked when it was taken: each had a record sent to the
    /// dead-letter topic, so none of its later records is in the state either (a key's events
    /// apply in order or not at all). Empty for a snapshot taken before any dead letter.
    pub parked: BTreeMap<i32, BTreeSet<Vec<u8>>>,
}

/// A snapshot that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The store could not be read or written.
    #[error("snapshot store `{}`", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The bytes are not a snapshot (damaged, truncated, or another format).
    #[error("{at} is not a readable snapshot: {reason}")]
    Damaged {
        /// Where the bytes were read.
        at: Location,
        /// What is wrong.
        reason: String,
    },
    /// The state type's schema at the snapshot's version is not the one the snapshot was
    /// written with (the type changed without a version bump, or a snapshot of an earlier
    /// strata without a fingerprint): refused, never decoded into the wrong fields.
    #[error(
        "the snapshot's `{state_type}` version {version} was written with schema fingerprint {}, but this program's version {version} has {}: the type changed without a version bump",
        found.as_deref().unwrap_or("(none)"),
        expected.as_deref().unwrap_or("(none)")
    )]
    SchemaMismatch {
        /// The state type.
        state_type: String,
        /// Its version in the snapshot.
        version: u32,
        /// The fingerprint the snapshot carries (hex).
        found: Option<String>,
        /// The fingerprint of this program's schema at that version (hex).
        expected: Option<String>,
    },
    /// The snapshot names a version of its state type that the type never had.
    #[error("the snapshot holds `{state_type}` version {version}, which the type never had")]
    UnknownVersion {
        /// The state type.
        state_type: String,
        /// The version in the snapshot.
        version: u32,
    },
    /// The snapshot is of another topic than the one replayed.
    #[error("the snapshot is of topic `{found}`, not `{expected}`")]
    OtherTopic {
        /// The snapshot's topic.
        found: String,
        /// The topic replayed.
        expected: String,
    },
    /// A store's own backend failed: the Kafka store's client or broker
    /// ([`crate::kafka::ClientError`], reachable by downcasting the source), or any failure of
    /// a store implemented outside strata.
    #[error("snapshot store `{store}`")]
    Store {
        /// The store, as it names itself (the Kafka store: its topic).
        store: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A store did not read its snapshots to the end in time.
    #[error("reading the snapshots of `{store}` timed out after {timeout:?}")]
    Timeout {
        /// The store (the Kafka store: its topic).
        store: String,
        /// How long it waited.
        timeout: std::time::Duration,
    },
    /// Written by a newer program, with a state version this one does not know.
    #[error(
        "the snapshot holds `{state_type}` version {found}, newer than this program's {latest}"
    )]
    Newer {
        /// The state type.
        state_type: String,
        /// Its version in the snapshot.
        found: u32,
        /// The latest version this program knows.
        latest: u32,
    },
    /// A snapshot taken after a dead letter, passed over to retry the dead letters (a
    /// replay's `retry_dead_letters`).
    #[error(
        "it holds {keys} parked key(s), whose dead-lettered records are retried from the topic"
    )]
    Parked {
        /// How many keys it holds parked.
        keys: usize,
    },
    /// The state does not decode or upcast.
    #[error("the snapshot's `{state_type}` version {version} does not decode")]
    Decode {
        /// The state type.
        state_type: String,
        /// Its version in the snapshot.
        version: u32,
        /// Why.
        source: crate::error::DecodeError,
    },
}

/// Where a snapshot's bytes were read, for errors.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A file (of a [`DirStore`]).
    File(PathBuf),
    /// A record of a Kafka topic (of a [`KafkaStore`](crate::snapshot) with feature `kafka`).
    Record {
        /// The snapshot topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(path) => write!(f, "`{}`", path.display()),
            Location::Record { topic, partition, offset } => {
                write!(f, "topic `{topic}` partition {partition} offset {offset}")
            }
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    topic: String,
    state_type: String,
    state_version: u32,
    offsets: BTreeMap<i32, i64>,
    events: u64,
    payload_len: usize,
    crc32: u32,
    /// Hex, as `index.json` writes fingerprints; absent in snapshots of earlier strata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schema_fingerprint: Option<String>,
    /// Absent when none (and in snapshots of earlier strata).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    parked: BTreeMap<i32, BTreeSet<Vec<u8>>>,
}

impl Snapshot {
    /// A snapshot of `state`, covering `offsets` (the next offset to read per partition).
    pub fn of<S: Record>(topic: &str, state: &S, offsets: BTreeMap<i32, i64>, events: u64) -> Self {
        let mut payload = Vec::new();
        state.encode(&mut payload);
        Snapshot {
            topic: topic.to_owned(),
            state_type: std::any::type_name::<S>().to_owned(),
            state_version: state_version::<S>(),
            offsets,
            events,
            payload,
            schema_fingerprint: schema_fingerprint::<S>(state_version::<S>()),
            parked: BTreeMap::new(),
        }
    }

    /// The state, read in the shape it was written with and upgraded to the latest: an old
    /// snapshot is upcast like an old event.
    pub fn state<S: Record>(&self) -> Result<S, SnapshotError> {
        let latest = state_version::<S>();
        let state_type = std::any::type_name::<S>().to_owned();
        if self.state_version > latest {
            return Err(SnapshotError::Newer { state_type, found: self.state_version, latest });
        }
        // The shape the bytes were written in must be the shape this program declares for that
        // version: a type changed without a version bump (fields reordered, retyped) would
        // otherwise decode into the wrong fields.
        let expected = schema_fingerprint::<S>(self.state_version);
        if self.schema_fingerprint.is_none() || self.schema_fingerprint != expected {
            return Err(SnapshotError::SchemaMismatch {
                state_type,
                version: self.state_version,
                found: self.schema_fingerprint.map(|f| format!("{f:016x}")),
                expected: expected.map(|f| format!("{f:016x}")),
            });
        }
        let decode =
            S::decoder(self.state_version).ok_or_else(|| SnapshotError::UnknownVersion {
                state_type: state_type.clone(),
                version: self.state_version,
            })?;
        let mut reader = Reader::new(&self.payload);
        let state = decode(&mut reader)
            .and_then(|s| {
                if reader.is_empty() {
                    Ok(s)
                } else {
                    let kind = DecodeErrorKind::TrailingBytes(reader.remaining());
                    Err(DecodeError::new(kind, reader.offset()))
                }
            })
            .map_err(|source| SnapshotError::Decode {
                state_type: state_type.clone(),
                version: self.state_version,
                source,
            })?;
        Ok(state)
    }

    /// The file format: a magic line, a JSON header line (with the payload's CRC-32), the
    /// payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = Header {
            topic: self.topic.clone(),
            state_type: self.state_type.clone(),
            state_version: self.state_version,
            offsets: self.offsets.clone(),
            events: self.events,
            payload_len: self.payload.len(),
            crc32: crc32fast::hash(&self.payload),
            schema_fingerprint: self.schema_fingerprint.map(|f| format!("{f:016x}")),
            parked: self.parked.clone(),
        };
        let mut out = format!("{MAGIC}\n").into_bytes();
        out.extend(serde_json::to_vec(&header).expect("headers serialize"));
        out.push(b'\n');
        out.extend_from_slice(&self.payload);
        out
    }

    /// Reads [`Snapshot::to_bytes`]' format; `at` names the source in errors.
    pub fn from_bytes(bytes: &[u8], at: Location) -> Result<Self, SnapshotError> {
        let damaged = |reason: String| SnapshotError::Damaged { at: at.clone(), reason };
        let mut lines = bytes.splitn(3, |&b| b == b'\n');
        if lines.next() != Some(MAGIC.as_bytes()) {
            return Err(damaged(format!("it does not start with `{MAGIC}`")));
        }
        let header: Header = serde_json::from_slice(lines.next().unwrap_or_default())
            .map_err(|e| damaged(format!("its header is not readable: {e}")))?;
        let payload = lines.next().unwrap_or_default();
        if payload.len() != header.payload_len {
            return Err(damaged(format!(
                "its payload has {} bytes, the header says {}",
                payload.len(),
                header.payload_len
            )));
        }
        if crc32fast::hash(payload) != header.crc32 {
            return Err(damaged("its payload does not match its checksum".into()));
        }
        Ok(Snapshot {
            topic: header.topic,
            state_type: header.state_type,
            state_version: header.state_version,
            offsets: header.offsets,
            events: header.events,
            payload: payload.to_vec(),
            schema_fingerprint: match header.schema_fingerprint {
                Some(hex) => {
                    Some(u64::from_str_radix(&hex, 16).map_err(|_| {
                        damaged(format!("its schema fingerprint `{hex}` is not hex"))
                    })?)
                }
                None => None,
            },
            parked: header.parked,
        })
    }
}

/// The fingerprint of `S`'s schema at `version` (the shape its data has at that version): what
/// a snapshot of `S` written at `version` carries, and must carry to be read.
pub fn schema_fingerprint<S: Record>(version: u32) -> Option<u64> {
    let schema = crate::event::state_schema::<S>(version).ok()?;
    let parsed = apache_avro::Schema::parse_str(&schema.to_json().to_string()).ok()?;
    Some(crate::schema::rabin_fingerprint(&parsed))
}

/// The version a state type writes: its record's last change.
pub fn state_version<S: Record>() -> u32 {
    *S::CHANGES.last().expect("a record's changes start with version 1")
}

/// Where snapshots are kept.
pub trait SnapshotStore: Send + Sync + std::fmt::Debug {
    /// Stores `snapshot` durably as the newest.
    fn save(&self, snapshot: &Snapshot) -> Result<(), SnapshotError>;
    /// The stored snapshots, newest first, each read or refused with its reason.
    fn load(&self) -> Result<Vec<Result<Snapshot, SnapshotError>>, SnapshotError>;
}

/// Snapshots in a local directory (the embedded default): `<name>.snapshot` and the one before
/// it, `<name>.snapshot.prev`, each written to a temporary file, fsynced, then renamed, so a
/// crash leaves the old one or the new one, never half of one.
#[derive(Debug, Clone)]
pub struct DirStore {
    dir: PathBuf,
    name: String,
}

impl DirStore {
    /// Snapshots named `name` in `dir` (created when first saved).
    pub fn new(dir: impl Into<PathBuf>, name: &str) -> Self {
        DirStore { dir: dir.into(), name: name.to_owned() }
    }

    fn path(&self, suffix: &str) -> PathBuf {
        self.dir.join(format!("{}.snapshot{suffix}", self.name))
    }
}

impl SnapshotStore for DirStore {
    fn save(&self, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| SnapshotError::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let (tmp, current, prev) = (self.path(".tmp"), self.path(""), self.path(".prev"));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        file.write_all(&snapshot.to_bytes()).and_then(|()| file.sync_all()).map_err(io(&tmp))?;
        if current.exists() {
            std::fs::rename(&current, &prev).map_err(io(&current))?;
        }
        std::fs::rename(&tmp, &current).map_err(io(&tmp))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io(&self.dir))?;
        Ok(())
    }

    fn load(&self) -> Result<Vec<Result<Snapshot, SnapshotError>>, SnapshotError> {
        let mut found = Vec::new();
        for path in [self.path(""), self.path(".prev")] {
            match std::fs::read(&path) {
                Ok(bytes) => found.push(Snapshot::from_bytes(&bytes, Location::File(path))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(SnapshotError::Io { path, source }),
            }
        }
        Ok(found)
    }
}
