//! [`Decoder`]: a framed record written with any historical (or foreign) schema, decoded into
//! the latest event type through one plan per writer schema id, built once.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, RwLock};

use crate::avro::resolve::Plan as Resolution;
use crate::codec::{CodecError, SchemaSource, WriterSchema, declared_schema};
use crate::decode::Reader;
use crate::error::{DecodeError, DecodeErrorKind, ResolveError};
use crate::event::{DecodeFn, Event};
use crate::schema::rabin_fingerprint;
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
    unreadable: Option<(u32, ResolveError)>,
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

/// How a decoder reads a writer schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAs {
    /// The writer schema is this declared version's own.
    Declared(u32),
    /// A foreign writer schema, resolved into this declared version.
    Resolved(u32),
}

impl ReadAs {
    /// The declared version the data is read as.
    pub fn version(self) -> u32 {
        match self {
            ReadAs::Declared(version) | ReadAs::Resolved(version) => version,
        }
    }
}

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

impl<E: Event> Decoder<E> {
    /// A decoder reading writer schemas from `source`.
    pub fn new(source: Arc<dyn SchemaSource>) -> Result<Self, CodecError> {
        let readers: Vec<apache_avro::Schema> = (1..=E::VERSION)
            .map(|v| declared_schema::<E>(v).map(|(_, parsed)| parsed))
            .collect::<Result<_, _>>()?;
        let declared =
            readers.iter().zip(1..).map(|(parsed, v)| (rabin_fingerprint(parsed), v)).collect();
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

    /// How the writer schema `id` is read: as which declared version, its own or resolved.
    pub fn version_of(&self, id: u32) -> Result<ReadAs, DecodeError> {
        let plan = self.plan(id)?;
        if let Some(reason) = &plan.unreadable {
            return Err(unresolvable(reason).in_event(std::any::type_name::<E>(), Some(id), None));
        }
        Ok(match plan.resolution {
            None => ReadAs::Declared(plan.version),
            Some(_) => ReadAs::Resolved(plan.version),
        })
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
            return Err(unresolvable(reason).in_event(event, Some(plan.id), None));
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
                    first_error.get_or_insert((version, e));
                }
            }
        }
        match partial {
            Some((version, resolution)) => plan(version, Some(resolution)),
            None => Plan {
                unreadable: Some(first_error.expect("every version was tried and refused")),
                ..plan(E::VERSION, None)
            },
        }
    }
}

/// A writer schema that resolves into no declared version: why, for the latest tried.
fn unresolvable((version, source): &(u32, ResolveError)) -> DecodeError {
    let kind = DecodeErrorKind::Unresolvable { version: *version, source: source.clone() };
    DecodeError::new(kind, 0)
}
