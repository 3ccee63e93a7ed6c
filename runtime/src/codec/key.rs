//! Avro keys: a topic's record keys framed like its values, with their own subject
//! `<topic>-key`.
//!
//! Raw and string keys need nothing of this: [`crate::kafka::append::Appender::append`] takes the
//! aggregate id as bytes. A topic whose producers (or consumers in other languages) expect
//! Avro keys declares its key type on the event enum, `#[strata(key = Type)]`, where `Type`
//! is a primitive (`String`, `i32`, `i64`, `Vec<u8>`, `uuid::Uuid`) or a record deriving
//! `strata::Record`. Then:
//! - `cargo xtask schemas` locks the key's history in `schemas/<topic>-key/`, and `check`,
//!   `check --registry` and `register` treat it like the values' subject;
//! - [`crate::kafka::append::Appender::append_key`] frames the key with the key schema's id;
//! - [`KeyEncoder`] gives the same bytes (for [`crate::kafka::replay::Replay::load`]), and
//!   [`KeyDecoder`] reads keys back, from strata or any Confluent serializer.
//!
//! A key's bytes choose its partition, and they hold the schema id: a second version of a key
//! type would move every aggregate to other partitions, splitting its history. `cargo xtask
//! check` therefore refuses a key type with more than one version (`KEY_CHANGED`).
//!
//! ```
//! use std::sync::Arc;
//! use strata::codec::key::{KeyDecoder, KeyEncoder};
//! use strata::LocalSource;
//!
//! let source = Arc::new(LocalSource::new());
//! source.register("bank.accounts-key", "\"string\"").unwrap();
//! let encoder = KeyEncoder::<String>::new("bank.accounts", source.as_ref()).unwrap();
//! let bytes = encoder.encode(&"acc-1".to_owned());
//! assert_eq!(&bytes[..5], &[0, 0, 0, 0, 1]); // Confluent framing, schema id 1
//! let decoder = KeyDecoder::<String>::new("bank.accounts", source).unwrap();
//! assert_eq!(decoder.decode(&bytes).unwrap(), "acc-1");
//! ```

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};

use crate::codec::source::{SchemaSource, SourceError};
use crate::decode::Reader;
use crate::error::{DecodeError, DecodeErrorKind, SchemaError};
use crate::event::{DecodeFn, KeySchema, KeyType};
use crate::schema::rabin_fingerprint;

/// The codec's side of a key type's schema: its text and its id in a schema source.
impl KeySchema {
    /// The schema's text at `version`.
    pub fn text(&self, topic: &str, version: u32) -> Result<String, KeyError> {
        (self.schema)(version)
            .map(|schema| schema.to_json().to_string())
            .map_err(|source| KeyError::Schema { topic: topic.to_owned(), source })
    }

    /// The latest schema's id under `<topic>-key`, looked up (or registered, where `source`
    /// allows) in `source`.
    pub fn id_in(&self, topic: &str, source: &dyn SchemaSource) -> Result<u32, KeyError> {
        let text = self.text(topic, self.version)?;
        source
            .id_of(&crate::subject::key(topic), &text)
            .map_err(|source| KeyError::Source { topic: topic.to_owned(), source })
    }
}

/// A key could not be encoded or decoded, or its schema had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key type's schema cannot be generated.
    #[error("topic `{topic}`: the key type's schema cannot be generated")]
    Schema {
        /// The topic.
        topic: String,
        /// Why.
        #[source]
        source: SchemaError,
    },
    /// apache-avro refuses the key type's generated schema.
    #[error("topic `{topic}`: apache-avro refuses the key type's schema of version {version}")]
    Parse {
        /// The topic.
        topic: String,
        /// The key type's version.
        version: u32,
        /// Why.
        #[source]
        source: apache_avro::Error,
    },
    /// The key schema's id, or a writer's key schema, could not be had.
    #[error("topic `{topic}`: key schema (subject `{topic}-key`)")]
    Source {
        /// The topic.
        topic: String,
        /// The schema source's failure.
        #[source]
        source: SourceError,
    },
    /// The key's bytes do not decode.
    #[error("topic `{topic}`: the key does not decode")]
    Decode {
        /// The topic.
        topic: String,
        /// Why, with the schema id and the byte offset.
        #[source]
        source: DecodeError,
    },
    /// The key was written with a schema the key type cannot read.
    #[error("topic `{topic}`: the key's writer schema (id {id}) cannot be read as the key type")]
    Resolve {
        /// The topic.
        topic: String,
        /// The writer schema's id.
        id: u32,
        /// apache-avro's resolution failure.
        #[source]
        source: apache_avro::Error,
    },
}

/// Frames keys of type `K` with the latest key schema's id under `<topic>-key`.
pub struct KeyEncoder<K> {
    id: u32,
    _key: PhantomData<fn(&K)>,
}

impl<K> std::fmt::Debug for KeyEncoder<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEncoder").field("id", &self.id).finish()
    }
}

impl<K: KeyType> KeyEncoder<K> {
    /// Looks up (or registers, where `source` allows) the key schema under `<topic>-key`.
    pub fn new(topic: &str, source: &dyn SchemaSource) -> Result<Self, KeyError> {
        let id = KeySchema::of::<K>().id_in(topic, source)?;
        Ok(KeyEncoder { id, _key: PhantomData })
    }

    /// The key schema's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The framed key.
    pub fn encode(&self, key: &K) -> Vec<u8> {
        frame_key(self.id, key)
    }
}

/// `key` framed with the key schema's `id`: what [`KeyEncoder::encode`] and the appender's
/// `key_bytes` return.
pub(crate) fn frame_key<K: crate::Encode>(id: u32, key: &K) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    crate::codec::frame(&mut out, id, |out| key.encode(out));
    out
}

/// How a writer's key schema is read.
enum Plan<K> {
    /// One of the key type's own versions: its generated decoder.
    Own(DecodeFn<K>),
    /// Another schema: resolved by apache-avro into the latest, then decoded.
    Foreign(Arc<apache_avro::Schema>),
}

impl<K> Clone for Plan<K> {
    fn clone(&self) -> Self {
        match self {
            Plan::Own(decode) => Plan::Own(*decode),
            Plan::Foreign(schema) => Plan::Foreign(schema.clone()),
        }
    }
}

/// Reads framed keys of type `K`, whatever key schema wrote them: the key type's own versions
/// with its generated decoders, any other (another producer's) through Avro resolution.
pub struct KeyDecoder<K> {
    topic: String,
    source: Arc<dyn SchemaSource>,
    /// Each of the key type's versions' fingerprint.
    declared: Vec<(u64, u32)>,
    latest: apache_avro::Schema,
    plans: RwLock<HashMap<u32, Plan<K>>>,
}

impl<K> std::fmt::Debug for KeyDecoder<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyDecoder").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl<K: KeyType> KeyDecoder<K> {
    /// A decoder of `topic`'s keys with writer schemas from `source`.
    pub fn new(topic: &str, source: Arc<dyn SchemaSource>) -> Result<Self, KeyError> {
        let key = KeySchema::of::<K>();
        let mut versions = (1..=K::VERSION)
            .map(|version| {
                let text = key.text(topic, version)?;
                apache_avro::Schema::parse_str(&text).map_err(|source| KeyError::Parse {
                    topic: topic.to_owned(),
                    version,
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let declared =
            versions.iter().zip(1..).map(|(schema, v)| (rabin_fingerprint(schema), v)).collect();
        let latest = versions.pop().expect("a key type has a version 1");
        Ok(KeyDecoder {
            topic: topic.to_owned(),
            source,
            declared,
            latest,
            plans: RwLock::new(HashMap::new()),
        })
    }

    /// Decodes one framed key.
    pub fn decode(&self, bytes: &[u8]) -> Result<K, KeyError> {
        let decode_error =
            |source: DecodeError| KeyError::Decode { topic: self.topic.clone(), source };
        let (id, datum) = crate::wire::split_frame(bytes).map_err(decode_error)?;
        let plan = self.plan(id)?;
        let in_key =
            |e: DecodeError| decode_error(e.in_event(std::any::type_name::<K>(), Some(id), None));
        match plan {
            Plan::Own(decode) => {
                let mut reader = Reader::new(datum);
                let key = decode(&mut reader).map_err(in_key)?;
                match reader.remaining() {
                    0 => Ok(key),
                    left => Err(in_key(DecodeError::new(
                        DecodeErrorKind::TrailingBytes(left),
                        reader.offset(),
                    ))),
                }
            }
            Plan::Foreign(writer) => {
                let resolve = |source| KeyError::Resolve { topic: self.topic.clone(), id, source };
                let reader = apache_avro::reader::datum::GenericDatumReader::builder(&writer)
                    .reader_schema(&self.latest)
                    .build()
                    .map_err(resolve)?;
                let value = reader.read_value(&mut &datum[..]).map_err(resolve)?;
                let datum = apache_avro::writer::datum::GenericDatumWriter::builder(&self.latest)
                    .build()
                    .and_then(|writer| writer.write_value_to_vec(value))
                    .map_err(resolve)?;
                let decode = K::key_decoder(K::VERSION).expect("the latest version decodes");
                decode(&mut Reader::new(&datum)).map_err(in_key)
            }
        }
    }

    fn plan(&self, id: u32) -> Result<Plan<K>, KeyError> {
        if let Some(plan) = self.plans.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Ok(plan.clone());
        }
        let writer = self
            .source
            .schema(id)
            .map_err(|source| KeyError::Source { topic: self.topic.clone(), source })?;
        let own = self.declared.iter().find(|(f, _)| *f == writer.fingerprint);
        let plan = match own.and_then(|&(_, version)| K::key_decoder(version)) {
            Some(decode) => Plan::Own(decode),
            None => Plan::Foreign(Arc::new(writer.parsed.clone())),
        };
        self.plans.write().unwrap_or_else(|e| e.into_inner()).insert(id, plan.clone());
        Ok(plan)
    }
}
