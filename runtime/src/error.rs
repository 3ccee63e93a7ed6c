//! The ground floor's error types, each naming what failed and where: a schema that cannot be
//! generated, an upgrade that fails, bytes that do not decode. The crate's [`Error`](crate::Error),
//! covering every public error type, is at the top (`lib.rs`), above every module.

/// An error and its causes on one line, `what: why: deeper why`, for messages that must carry
/// the whole story (an HTTP answer, a header). An error's own `Display` says what failed; its
/// causes are its [`source`](std::error::Error::source) chain, never repeated in the text.
///
/// ```
/// let error = strata::avro::canonical::parse("{", &[], false).unwrap_err();
/// let text = strata::error::Chain(&error).to_string();
/// assert!(text.starts_with("the schema is not valid JSON: EOF while parsing"), "{text}");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut said = self.0.to_string();
        f.write_str(&said)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            // Some errors print their cause in their own message too (rdkafka's `KafkaError`
            // does): a cause the message before it already said is not said again.
            let text = error.to_string();
            if !said.contains(&text) {
                write!(f, ": {text}")?;
            }
            said = text;
            cause = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Chain;

    /// An error that prints its cause in its own message, as rdkafka's do.
    #[derive(Debug, thiserror::Error)]
    #[error("consuming: {0}")]
    struct Says(#[source] std::io::Error);

    /// One that does not.
    #[derive(Debug, thiserror::Error)]
    #[error("reading the partition")]
    struct Wraps(#[source] Says);

    #[test]
    fn a_cause_is_said_once() {
        let error = Wraps(Says(std::io::Error::other("all brokers down")));
        assert_eq!(Chain(&error).to_string(), "reading the partition: consuming: all brokers down");
    }
}

/// A Rust type whose schema at some version cannot be generated, such as a default that does
/// not fit its field's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema of version {version}, at `{path}`: {message}")]
pub struct SchemaError {
    version: u32,
    path: String,
    message: String,
}

impl SchemaError {
    /// An error at `path` inside the schema of `version`.
    pub fn new(version: u32, path: impl Into<String>, message: impl Into<String>) -> Self {
        SchemaError { version, path: path.into(), message: message.into() }
    }

    /// The aggregate version whose schema failed.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The path of the offending type or field, such as `AccountOpened.currency`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// An upgrade step from one version of a record to the next failed.
///
/// Upgrade functions written by users return it; strata adds the record and versions.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct UpcastError {
    record: Option<&'static str>,
    from_version: Option<u32>,
    to_version: Option<u32>,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl UpcastError {
    /// An upgrade failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        UpcastError {
            record: None,
            from_version: None,
            to_version: None,
            message: message.into(),
            source: None,
        }
    }

    /// An upgrade failure caused by another error.
    pub fn caused_by(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        UpcastError { source: Some(Box::new(source)), ..UpcastError::new(message) }
    }

    /// Names the record and the step, unless an inner step already did.
    #[doc(hidden)]
    pub fn at_step(mut self, record: &'static str, from_version: u32, to_version: u32) -> Self {
        if self.record.is_none() {
            self.record = Some(record);
            self.from_version = Some(from_version);
            self.to_version = Some(to_version);
        }
        self
    }

    /// The record whose upgrade failed, such as `AccountOpened`.
    pub fn record(&self) -> Option<&'static str> {
        self.record
    }

    /// The version the failing step started from.
    pub fn from_version(&self) -> Option<u32> {
        self.from_version
    }

    /// The version the failing step led to.
    pub fn to_version(&self) -> Option<u32> {
        self.to_version
    }

    /// What the upgrade function said.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn describe(&self) -> String {
        match (self.record, self.from_version, self.to_version) {
            (Some(record), Some(from), Some(to)) => {
                format!("upgrading `{record}` from version {from} to {to}: {}", self.message)
            }
            _ => self.message.clone(),
        }
    }
}

/// Bytes that could not be decoded, with where: byte offset, field path, and (when decoding
/// framed records) schema id, writer version and event type.
#[derive(Debug)]
pub struct DecodeError {
    inner: Box<DecodeErrorInner>,
}

#[derive(Debug)]
struct DecodeErrorInner {
    kind: DecodeErrorKind,
    offset: usize,
    /// Innermost first, as the error travels outwards.
    path: Vec<PathSegment>,
    schema_id: Option<u32>,
    writer_version: Option<u32>,
    /// The writer schema matched no declared version and was resolved into `writer_version`.
    foreign: bool,
    event_type: Option<&'static str>,
}

#[derive(Debug, Clone)]
enum PathSegment {
    Record(&'static str),
    Field(&'static str),
    Index(usize),
    Key(String),
}

/// What was wrong with the bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended inside a value.
    #[error("unexpected end of input: {needed} more byte(s) needed")]
    UnexpectedEnd {
        /// How many more bytes the value needed.
        needed: usize,
    },
    /// A varint ran past 64 bits.
    #[error("a varint is longer than 64 bits")]
    VarintOverflow,
    /// A number does not fit the Avro or Rust type read.
    #[error("{value} is out of range for `{ty}`")]
    OutOfRange {
        /// The number read.
        value: i64,
        /// The type it had to fit.
        ty: &'static str,
    },
    /// A boolean byte other than 0 or 1.
    #[error("{0} is not a boolean (0 or 1)")]
    InvalidBool(u8),
    /// A negative length or block size.
    #[error("negative length {0}")]
    NegativeLength(i64),
    /// A string that is not UTF-8.
    #[error("a string is not UTF-8")]
    InvalidUtf8(#[source] std::str::Utf8Error),
    /// A union branch index out of range.
    #[error("union branch {index} does not exist: the union has {branches}")]
    InvalidBranch {
        /// The index read.
        index: i64,
        /// How many branches there are.
        branches: usize,
    },
    /// An enum symbol index out of range.
    #[error("enum symbol {index} does not exist: the enum has {symbols}")]
    InvalidSymbol {
        /// The index read.
        index: i32,
        /// How many symbols there are.
        symbols: usize,
    },
    /// An array or map with more zero-size items than the limit.
    #[error("more than {limit} items that take no bytes")]
    TooManyItems {
        /// The limit.
        limit: u64,
    },
    /// A value that is not valid for its logical type.
    #[error("`{value}` is not a valid `{ty}`")]
    InvalidLogical {
        /// The logical type.
        ty: &'static str,
        /// The value read, shortened.
        value: String,
    },
    /// A decimal whose unscaled value does not fit its precision.
    #[error("not a valid `decimal({precision}, {scale})`")]
    InvalidDecimal {
        /// The decimal type's precision.
        precision: u32,
        /// The decimal type's scale.
        scale: u32,
        /// The value and the precision it exceeds.
        #[source]
        source: DecimalRangeError,
    },
    /// A decimal stored in more bytes than strata's decimals (an `i128`) hold.
    #[error("a decimal of {0} bytes holds more than 38 digits")]
    DecimalTooLong(usize),
    /// Bytes left after the datum.
    #[error("{0} byte(s) left after the value")]
    TrailingBytes(usize),
    /// A framed record that does not start with Confluent's magic byte 0.
    #[error("unknown magic byte {0}: Confluent framing starts with 0")]
    UnknownMagicByte(u8),
    /// A framed record shorter than the 5-byte header.
    #[error("a framed record of {0} byte(s) is shorter than the 5-byte header")]
    TruncatedHeader(usize),
    /// The writer schema could not be had: the schema source (the committed history, a
    /// registry) failed. The cause is the source's error (a
    /// [`SourceError`](crate::codec::source::SourceError)); asked again next time.
    #[error("the writer schema cannot be had")]
    Source(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Data of the writer schema that the reader schema cannot read (a writer branch, symbol
    /// or field the reader has no place for), met in this record.
    #[error("writer schema cannot be read: {0}")]
    Unreadable(Mismatch),
    /// Values nested deeper than the resolver follows.
    #[error("values nest deeper than {max} levels")]
    TooDeep {
        /// The deepest nesting followed.
        max: usize,
    },
    /// A writer schema that no declared version matches and that resolves into none.
    #[error(
        "the writer schema matches no declared version and resolves into none (as version {version})"
    )]
    Unresolvable {
        /// The latest version tried.
        version: u32,
        /// Why it does not resolve into that version.
        source: ResolveError,
    },
    /// An upgrade step failed.
    #[error(transparent)]
    Upcast(UpcastError),
}

impl DecodeError {
    /// An error of `kind` at byte `offset`.
    pub fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        DecodeError {
            inner: Box::new(DecodeErrorInner {
                kind,
                offset,
                path: Vec::new(),
                schema_id: None,
                writer_version: None,
                foreign: false,
                event_type: None,
            }),
        }
    }

    /// What was wrong.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.inner.kind
    }

    /// The byte offset in the datum (after any framing header) where the bad value starts.
    pub fn offset(&self) -> usize {
        self.inner.offset
    }

    /// The path of the value inside the event, such as `AccountOpened.holder` or
    /// `OrderPlaced.lines[2].sku`.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for (i, segment) in self.inner.path.iter().rev().enumerate() {
            match segment {
                PathSegment::Record(name) if i == 0 => out.push_str(name),
                PathSegment::Record(_) => {}
                PathSegment::Field(name) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(name);
                }
                PathSegment::Index(index) => out.push_str(&format!("[{index}]")),
                PathSegment::Key(key) => out.push_str(&format!("[{key:?}]")),
            }
        }
        out
    }

    /// The writer's schema id, when the record was framed.
    pub fn schema_id(&self) -> Option<u32> {
        self.inner.schema_id
    }

    /// The declared version the writer schema matched (`None` for a foreign writer schema,
    /// which matched none: see [`read_as_version`](Self::read_as_version)).
    pub fn writer_version(&self) -> Option<u32> {
        self.inner.writer_version.filter(|_| !self.inner.foreign)
    }

    /// The declared version the datum was read as: the one the writer schema matched, or the
    /// one a foreign writer schema was resolved into.
    pub fn read_as_version(&self) -> Option<u32> {
        self.inner.writer_version
    }

    /// Whether the writer schema matched no declared version and was resolved into one.
    pub fn foreign_writer(&self) -> bool {
        self.inner.foreign
    }

    /// Marks the writer schema as foreign: resolved into the version of [`in_event`](Self::in_event).
    #[doc(hidden)]
    pub fn foreign(mut self) -> Self {
        self.inner.foreign = true;
        self
    }

    /// The event type being decoded.
    pub fn event_type(&self) -> Option<&'static str> {
        self.inner.event_type
    }

    #[doc(hidden)]
    pub fn in_field(mut self, field: &'static str) -> Self {
        self.inner.path.push(PathSegment::Field(field));
        self
    }

    #[doc(hidden)]
    pub fn in_record(mut self, record: &'static str) -> Self {
        self.inner.path.push(PathSegment::Record(record));
        self
    }

    #[doc(hidden)]
    pub fn in_index(mut self, index: usize) -> Self {
        self.inner.path.push(PathSegment::Index(index));
        self
    }

    #[doc(hidden)]
    pub fn in_key(mut self, key: &str) -> Self {
        self.inner.path.push(PathSegment::Key(key.chars().take(64).collect()));
        self
    }

    /// Adds where the datum came from: its schema id, the version it matched, the event type.
    #[doc(hidden)]
    pub fn in_event(
        mut self,
        event_type: &'static str,
        schema_id: Option<u32>,
        writer_version: Option<u32>,
    ) -> Self {
        self.inner.event_type = Some(event_type);
        self.inner.schema_id = self.inner.schema_id.or(schema_id);
        self.inner.writer_version = self.inner.writer_version.or(writer_version);
        self
    }

    #[doc(hidden)]
    pub fn upcast(error: UpcastError, offset: usize) -> Self {
        DecodeError::new(DecodeErrorKind::Upcast(error), offset)
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot decode")?;
        if let Some(event) = self.inner.event_type {
            write!(f, " `{event}`")?;
        }
        let version = self.inner.writer_version.map(|v| {
            if self.inner.foreign {
                format!("a foreign writer schema read as version {v}")
            } else {
                format!("writer version {v}")
            }
        });
        match (self.inner.schema_id, version) {
            (Some(id), Some(v)) => write!(f, " (schema id {id}, {v})")?,
            (Some(id), None) => write!(f, " (schema id {id})")?,
            (None, Some(v)) => write!(f, " ({v})")?,
            (None, None) => {}
        }
        write!(f, " at byte {}", self.inner.offset)?;
        let path = self.path();
        if !path.is_empty() {
            write!(f, ", `{path}`")?;
        }
        write!(f, ": {}", self.inner.kind)
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.inner.kind {
            DecodeErrorKind::InvalidUtf8(e) => Some(e),
            DecodeErrorKind::InvalidDecimal { source, .. } => Some(source),
            DecodeErrorKind::Source(source) => Some(source.as_ref()),
            DecodeErrorKind::Upcast(e) => Some(e),
            DecodeErrorKind::Unresolvable { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A value with more digits than its decimal type's precision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the unscaled value {unscaled} has more than {precision} digits")]
pub struct DecimalRangeError {
    /// The unscaled value.
    pub unscaled: i128,
    /// The precision it exceeds.
    pub precision: u32,
}

/// A value that has no Avro JSON form: a default (a float that is not finite, a timestamp out
/// of range) or a value rendered as JSON (to compare two events). What
/// [`AvroType::default_json`](crate::AvroType::default_json) returns for a custom type.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct JsonError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl JsonError {
    /// A value that has no JSON form, and why.
    pub fn new(message: impl Into<String>) -> Self {
        JsonError { message: message.into(), source: None }
    }

    /// The same, with the error that caused it.
    pub fn caused_by(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        JsonError { message: message.into(), source: Some(Box::new(source)) }
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Why data of a writer schema cannot be read as a reader schema, and where: a path of the
/// reader's names, such as `/Order/lines/items`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct Mismatch {
    /// Where, in the reader schema.
    pub path: String,
    /// What does not match.
    pub kind: MismatchKind,
}

/// What of a writer schema a reader schema has no place for (Avro's resolution rules).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MismatchKind {
    /// A branch of the writer's union that no branch of the reader's union reads.
    #[error(
        "the writer's union branch {index} (`{writer}`) matches no branch of the reader's union"
    )]
    WriterBranch {
        /// The branch's index in the writer's union.
        index: usize,
        /// The branch's type or name.
        writer: String,
    },
    /// A writer type that no branch of the reader's union reads.
    #[error("the writer's `{writer}` matches no branch of the reader's union")]
    NoReaderBranch {
        /// The writer's type or name.
        writer: String,
    },
    /// Two fixed types of different names.
    #[error("the writer's fixed `{writer}` is not the reader's `{reader}`")]
    FixedName {
        /// The writer's name.
        writer: String,
        /// The reader's name.
        reader: String,
    },
    /// Two fixed types of different sizes.
    #[error(
        "fixed `{name}` has {writer} bytes in the writer's schema and {reader} in the reader's"
    )]
    FixedSize {
        /// The reader's name.
        name: String,
        /// The writer's size.
        writer: usize,
        /// The reader's size.
        reader: usize,
    },
    /// Two enums of different names.
    #[error("the writer's enum `{writer}` is not the reader's `{reader}`")]
    EnumName {
        /// The writer's name.
        writer: String,
        /// The reader's name.
        reader: String,
    },
    /// A writer's symbol the reader's enum lacks, without a default to read it as.
    #[error(
        "symbol `{symbol}` of enum `{reader}` is not in the reader's enum, which has no default"
    )]
    Symbol {
        /// The symbol.
        symbol: String,
        /// The reader's enum.
        reader: String,
    },
    /// A reader field without a default that the writer's record lacks.
    #[error(
        "the reader's field `{field}` has no default and the writer's record `{writer}` lacks it"
    )]
    MissingField {
        /// The reader's field.
        field: String,
        /// The writer's record.
        writer: String,
    },
    /// Two types no promotion relates.
    #[error("the writer's `{writer}` cannot be read as the reader's `{reader}`")]
    Incompatible {
        /// The writer's type or name.
        writer: String,
        /// The reader's type or name.
        reader: String,
    },
}

/// A writer schema that cannot be resolved into a reader schema at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The writer schema is not one the resolver can take.
    #[error("the writer schema")]
    Writer(#[source] ModelError),
    /// The reader schema is not one the resolver can take.
    #[error("the reader schema")]
    Reader(#[source] ModelError),
    /// The writer's data cannot be read as the reader's anywhere.
    #[error(transparent)]
    Mismatch(#[from] Mismatch),
    /// A default of the reader's that does not fit its field's type.
    #[error("{path}: the reader's default")]
    Default {
        /// The field, as a path of the reader's names.
        path: String,
        /// What is wrong with the default.
        #[source]
        source: DefaultError,
    },
}

/// A schema the resolver and the compatibility checker cannot model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A name used but never defined (nor given as a reference).
    #[error("the schema refers to `{name}`, which it does not define")]
    Undefined {
        /// The name.
        name: String,
    },
}

/// A default value (Avro JSON) that does not fit its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DefaultError {
    /// It nests deeper than a default is followed.
    #[error("a default nests too deep")]
    TooDeep,
    /// It is not a value of the type.
    #[error("`{json}` is not a `{ty}`")]
    NotA {
        /// The default, as JSON.
        json: String,
        /// The type.
        ty: String,
    },
    /// A union without branches, which has no default.
    #[error("an empty union has no default")]
    EmptyUnion,
    /// A record default lacking a field that has no default of its own.
    #[error("`{json}` lacks field `{field}`, which has no default")]
    LacksField {
        /// The default, as JSON.
        json: String,
        /// The field.
        field: String,
    },
}
