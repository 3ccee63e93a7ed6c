//! The front door for framed records: [`Decoder`] turns a record written with any historical
//! (or foreign) schema into the latest event type, [`Encoder`] frames the latest type with its
//! schema id.
//!
//! The decoder builds one plan per writer schema id, once: the id's schema is matched to a
//! declared version by the fingerprint of its parsing canonical form, and that version's
//! compiled decoder reads the bytes directly. A schema that matches no declared version
//! (another producer's) is resolved with Avro's rules into the latest declared version that
//! can read all of its data, and its records are rewritten into that version's layout first.
//!
//! ```
//! use std::sync::Arc;
//! use strata::{Decoder, Encoder, LocalSource};
//!
//! #[derive(strata::Event, Debug, PartialEq)]
//! #[strata(topic = "lights", version = 2)]
//! pub enum LightEvent {
//!     Switched(Switched),
//! }
//!
//! #[derive(strata::Record, Debug, PartialEq)]
//! pub struct Switched {
//!     pub on: bool,
//!     #[strata(added(in = 2, default = 100))]
//!     pub brightness: i32,
//! }
//!
//! // A registry in production; here a local source holding both versions.
//! let source = Arc::new(LocalSource::new());
//! use strata::Event;
//! let v1 = source.register("lights-value", &LightEvent::schema(1)?.to_json().to_string())?;
//!
//! // A record an older producer wrote with version 1: branch 0, `on: true`.
//! let old_record = [0, 0, 0, 0, v1 as u8, 0, 1];
//! let decoder = Decoder::<LightEvent>::new(source.clone())?;
//! let event = decoder.decode(&old_record)?;
//! assert_eq!(event, LightEvent::Switched(Switched { on: true, brightness: 100 }));
//!
//! // Encoding frames the latest type with the latest schema's id, reusing the buffer.
//! let encoder = Encoder::<LightEvent>::new(source.as_ref())?;
//! let mut buffer = Vec::new();
//! encoder.encode(&event, &mut buffer);
//! assert_eq!(decoder.decode(&buffer)?, event);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, RwLock};

use crate::decode::Reader;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::event::{DecodeFn, Event};
use crate::resolve::Plan as Resolution;
use crate::source::{SchemaSource, SourceError, WriterSchema, fingerprint};
use crate::wire;

/// How one writer schema id is decoded.
struct Plan<E> {
    id: u32,
    version: u32,
    decode: DecodeFn<E>,
    /// For a foreign writer schema: the rewrite into `version`'s layout.
    resolution: Option<Resolution>,
    /// A writer schema no declared version can read; every record with this id fails so.
    /// Remembered like any plan: the answer for a schema never changes.
    unreadable: Option<String>,
    /// The full names of the writer schema's union branches (its event types), in its order.
    branches: Arc<[String]>,
}

/// Schema ids are small integers chosen by the registry, not attacker-controlled keys worth
/// SipHash: they are used as their own hash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type PlanMap<E> = HashMap<u32, Arc<Plan<E>>, BuildHasherDefault<IdHasher>>;

/// Decodes framed records of the event type `E`, whatever version wrote them.
pub struct Decoder<E: Event> {
    source: Arc<dyn SchemaSource>,
    /// Each declared version's fingerprint.
    declared: Vec<(u64, u32)>,
    /// Each declared version's schema, for resolving foreign writers.
    readers: Vec<apache_avro::Schema>,
    plans: RwLock<PlanMap<E>>,
    /// Held while a plan is built, so concurrent first sightings of an id build it once.
    building: Mutex<()>,
    _event: PhantomData<fn() -> E>,
}

impl<E: Event> std::fmt::Debug for Decoder<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("event", &std::any::type_name::<E>())
            .finish_non_exhaustive()
    }
}

/// Two records could not be compared as values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// A record does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A decoded event has no JSON form to compare.
    #[error("the decoded event cannot be rendered as JSON")]
    Render(#[from] crate::error::JsonError),
}

/// A decoder or encoder could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The schema source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A declared version's schema could not be generated.
    #[error("`{event}` version {version}: the schema cannot be generated")]
    Schema {
        /// The event type.
        event: &'static str,
        /// The version.
        version: u32,
        /// Why.
        #[source]
        source: crate::error::SchemaError,
    },
    /// A transcoder was asked of a state type, which has no topic to migrate.
    #[error("`{rust_name}` is a state type: it has no topic to transcode")]
    NotAnEvent {
        /// The state type.
        rust_name: &'static str,
    },
    /// A declared version's generated schema does not parse with apache-avro.
    #[error("`{event}` version {version}: apache-avro refuses the generated schema")]
    Parse {
        /// The event type.
        event: &'static str,
        /// The version.
        version: u32,
        /// Why.
        #[source]
        source: apache_avro::Error,
    },
}

fn declared_schema<E: Event>(version: u32) -> Result<(String, apache_avro::Schema), CodecError> {
    let event = std::any::type_name::<E>();
    let text = E::schema(version)
        .map_err(|source| CodecError::Schema { event, version, source })?
        .to_json()
        .to_string();
    let parsed = apache_avro::Schema::parse_str(&text).map_err(|source| CodecError::Parse {
        event,
        version,
        source,
    })?;
    Ok((text, parsed))
}

impl<E: Event> Decoder<E> {
    /// A decoder reading writer schemas from `source`.
    pub fn new(source: Arc<dyn SchemaSource>) -> Result<Self, CodecError> {
        let readers: Vec<apache_avro::Schema> = (1..=E::VERSION)
            .map(|v| declared_schema::<E>(v).map(|(_, parsed)| parsed))
            .collect::<Result<_, _>>()?;
        let declared =
            readers.iter().zip(1..).map(|(parsed, v)| (fingerprint(parsed), v)).collect();
        Ok(Decoder {
            source,
            declared,
            readers,
            plans: RwLock::new(PlanMap::default()),
            building: Mutex::new(()),
            _event: PhantomData,
        })
    }

    /// Decodes one framed record.
    pub fn decode(&self, record: &[u8]) -> Result<E, DecodeError> {
        let event = std::any::type_name::<E>();
        let (id, datum) = wire::split_frame(record).map_err(|e| e.in_event(event, None, None))?;
        let plan = self.plan(id).map_err(|e| e.in_event(event, Some(id), None))?;
        Self::run(&plan, datum)
    }

    /// Decodes one datum written with schema `id` (no framing).
    pub fn decode_datum(&self, id: u32, datum: &[u8]) -> Result<E, DecodeError> {
        let plan =
            self.plan(id).map_err(|e| e.in_event(std::any::type_name::<E>(), Some(id), None))?;
        Self::run(&plan, datum)
    }

    /// Decodes a batch of framed records, reusing the plan while consecutive records share a
    /// schema id, and appends each result to `out`. One failing record does not stop the
    /// others; its error carries its coordinates.
    pub fn decode_batch<'a>(
        &self,
        records: impl IntoIterator<Item = &'a [u8]>,
        out: &mut Vec<Result<E, DecodeError>>,
    ) {
        let event = std::any::type_name::<E>();
        let mut last: Option<Arc<Plan<E>>> = None;
        for record in records {
            let result = wire::split_frame(record)
                .map_err(|e| e.in_event(event, None, None))
                .and_then(|(id, datum)| {
                    let plan = match &last {
                        Some(plan) if plan.id == id => plan.clone(),
                        _ => {
                            let plan =
                                self.plan(id).map_err(|e| e.in_event(event, Some(id), None))?;
                            last = Some(plan.clone());
                            plan
                        }
                    };
                    Self::run(&plan, datum)
                });
            out.push(result);
        }
    }

    /// The declared version the writer schema `id` is read as, and whether it matched exactly
    /// (`false`: a foreign schema resolved into it).
    pub fn version_of(&self, id: u32) -> Result<(u32, bool), DecodeError> {
        let plan = self.plan(id)?;
        if let Some(reason) = &plan.unreadable {
            return Err(unreadable(reason.clone()).in_event(
                std::any::type_name::<E>(),
                Some(id),
                None,
            ));
        }
        Ok((plan.version, plan.resolution.is_none()))
    }

    /// The event type a framed record was written as: the full name of its writer schema's
    /// union branch (the writer's own order, foreign writers included), looked up in the plan
    /// of its schema id. `None` when the record cannot be read that far.
    pub fn event_name(&self, record: &[u8]) -> Option<String> {
        let (id, datum) = wire::split_frame(record).ok()?;
        let plan = self.plan(id).ok()?;
        let branch = usize::try_from(Reader::new(datum).read_long().ok()?).ok()?;
        plan.branches.get(branch).cloned()
    }

    fn run(plan: &Plan<E>, datum: &[u8]) -> Result<E, DecodeError> {
        let event = std::any::type_name::<E>();
        if let Some(reason) = &plan.unreadable {
            return Err(unreadable(reason.clone()).in_event(event, Some(plan.id), None));
        }
        let context = |e: DecodeError| {
            let e = e.in_event(event, Some(plan.id), Some(plan.version));
            if plan.resolution.is_some() { e.foreign() } else { e }
        };
        match &plan.resolution {
            None => {
                let mut r = Reader::new(datum);
                let value = (plan.decode)(&mut r).map_err(context)?;
                if !r.is_empty() {
                    let trailing =
                        DecodeError::new(DecodeErrorKind::TrailingBytes(r.remaining()), r.offset());
                    return Err(context(trailing));
                }
                Ok(value)
            }
            Some(resolution) => {
                let mut rewritten = Vec::with_capacity(datum.len() + 16);
                resolution.transcode(datum, &mut rewritten).map_err(context)?;
                (plan.decode)(&mut Reader::new(&rewritten)).map_err(context)
            }
        }
    }

    /// Whether records of schema `id` decode without asking the schema source (its plan is
    /// built).
    pub fn is_prepared(&self, id: u32) -> bool {
        self.plans.read().unwrap_or_else(|e| e.into_inner()).contains_key(&id)
    }

    /// Fetches the schema of `id` and builds its plan, if not done yet: what an async caller
    /// runs on a blocking thread before decoding the first record of a new id.
    pub fn prepare(&self, id: u32) -> Result<(), DecodeError> {
        self.plan(id).map(|_| ())
    }

    fn plan(&self, id: u32) -> Result<Arc<Plan<E>>, DecodeError> {
        if let Some(plan) = self.plans.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Ok(plan.clone());
        }
        let _building = self.building.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(plan) = self.plans.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Ok(plan.clone());
        }
        // A source that fails (an unknown id, a registry that cannot be reached) is asked again
        // next time; a schema that cannot be read is remembered as such.
        let writer = self
            .source
            .schema(id)
            .map_err(|e| DecodeError::new(DecodeErrorKind::Source(Box::new(e)), 0))?;
        let plan = Arc::new(self.build(&writer));
        self.plans.write().unwrap_or_else(|e| e.into_inner()).insert(id, plan.clone());
        Ok(plan)
    }

    fn build(&self, writer: &WriterSchema) -> Plan<E> {
        let decoder =
            |version| E::decoder(version).expect("a decoder exists for every declared version");
        let branches: Arc<[String]> = match &writer.parsed {
            apache_avro::Schema::Union(union) => union
                .variants()
                .iter()
                .map(|branch| match branch {
                    apache_avro::Schema::Record(r) => r.name.fullname(None),
                    apache_avro::Schema::Ref { name } => name.fullname(None),
                    other => {
                        format!("{:?}", apache_avro::schema::SchemaKind::from(other)).to_lowercase()
                    }
                })
                .collect(),
            _ => Arc::new([]),
        };
        let plan = |version, resolution| Plan {
            id: writer.id,
            version,
            decode: decoder(version),
            resolution,
            unreadable: None,
            branches: branches.clone(),
        };
        if let Some(&(_, version)) = self.declared.iter().find(|(f, _)| *f == writer.fingerprint) {
            return plan(version, None);
        }
        // A foreign schema: the latest version that reads all of its data, else the latest
        // that reads some of it (the rest fails record by record, saying why).
        let mut partial = None;
        let mut first_error = None;
        for version in (1..=E::VERSION).rev() {
            match Resolution::new(&writer.parsed, &self.readers[version as usize - 1]) {
                Ok(resolution) if resolution.is_total() => return plan(version, Some(resolution)),
                Ok(resolution) => {
                    partial.get_or_insert((version, resolution));
                }
                Err(e) => {
                    first_error.get_or_insert(format!("as version {version}: {e}"));
                }
            }
        }
        match partial {
            Some((version, resolution)) => plan(version, Some(resolution)),
            None => Plan {
                unreadable: Some(format!(
                    "schema id {} matches no version of `{}` and resolves into none: {}",
                    writer.id,
                    std::any::type_name::<E>(),
                    first_error.unwrap_or_default()
                )),
                ..plan(E::VERSION, None)
            },
        }
    }
}

fn unreadable(message: String) -> DecodeError {
    DecodeError::new(DecodeErrorKind::Unreadable(message), 0)
}

/// Encodes the latest event type, framed with the latest version's schema id.
#[derive(Debug)]
pub struct Encoder<E: Event> {
    id: u32,
    _event: PhantomData<fn(E)>,
}

impl<E: Event> Encoder<E> {
    /// An encoder whose schema id is looked up (or registered, where the source allows) once.
    pub fn new(source: &dyn SchemaSource) -> Result<Self, CodecError> {
        let (text, _) = declared_schema::<E>(E::VERSION)?;
        let id = source.id_of(&E::subject(), &text)?;
        Ok(Encoder { id, _event: PhantomData })
    }

    /// The schema id records are framed with.
    pub fn schema_id(&self) -> u32 {
        self.id
    }

    /// Replaces the contents of `out` with the framed record of `event`; reuse `out` across
    /// records to avoid allocating.
    pub fn encode(&self, event: &E, out: &mut Vec<u8>) {
        out.clear();
        wire::write_header(out, self.id);
        event.encode(out);
    }

    /// Appends the unframed datum of `event` to `out`.
    pub fn encode_datum(&self, event: &E, out: &mut Vec<u8>) {
        event.encode(out);
    }
}

/// Rewrites a framed record of any version as the latest version: what a topic migration does
/// to every record. Type-erased, so tools reach it through [`crate::EventType`].
pub trait Transcode: Send + Sync {
    /// Writes `record`'s event, framed with the latest schema's id, into `out` (cleared first).
    fn transcode(&self, record: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError>;
    /// Whether two framed records (any versions) hold the same latest event, compared as values
    /// (equal values may encode differently: a map's entry order).
    fn same(&self, a: &[u8], b: &[u8]) -> Result<bool, CompareError>;
    /// The id records are framed with.
    fn latest_id(&self) -> u32;
    /// The declared version a writer schema id is read as, and whether it matched exactly.
    fn writer_version(&self, id: u32) -> Result<(u32, bool), DecodeError>;
    /// The event type a record was written as: the full name of its writer schema's union
    /// branch, foreign writers included. `None` when the record cannot be read so far.
    fn event_name(&self, record: &[u8]) -> Option<String>;
}

/// [`Transcode`] for event type `E`: its decoder and its encoder.
#[derive(Debug)]
pub struct Transcoder<E: Event> {
    decoder: Decoder<E>,
    encoder: Encoder<E>,
}

impl<E: Event> Transcoder<E> {
    /// Schemas from `source`; the latest one's id is looked up (or registered, as the source
    /// does) once.
    pub fn new(source: Arc<dyn SchemaSource>) -> Result<Self, CodecError> {
        let encoder = Encoder::new(source.as_ref())?;
        Ok(Transcoder { decoder: Decoder::new(source)?, encoder })
    }

    /// The same, boxed behind [`Transcode`].
    pub fn boxed(source: Arc<dyn SchemaSource>) -> Result<Box<dyn Transcode>, CodecError> {
        Ok(Box::new(Self::new(source)?))
    }
}

impl<E: Event> Transcode for Transcoder<E> {
    fn transcode(&self, record: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let event = self.decoder.decode(record)?;
        out.clear();
        self.encoder.encode(&event, out);
        Ok(())
    }

    fn same(&self, a: &[u8], b: &[u8]) -> Result<bool, CompareError> {
        let json = |record: &[u8]| -> Result<serde_json::Value, CompareError> {
            Ok(self.decoder.decode(record)?.to_json()?)
        };
        Ok(json(a)? == json(b)?)
    }

    fn latest_id(&self) -> u32 {
        self.encoder.schema_id()
    }

    fn writer_version(&self, id: u32) -> Result<(u32, bool), DecodeError> {
        self.decoder.version_of(id)
    }

    fn event_name(&self, record: &[u8]) -> Option<String> {
        self.decoder.event_name(record)
    }
}
