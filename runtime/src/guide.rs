//! The user reference: how to declare an event type's history, what every attribute key
//! means, and what the derives generate. Documentation only.
//!
//! # The model
//!
//! An aggregate keeps all its events in one Kafka topic, keyed by aggregate id, so the order of
//! each aggregate's events is kept. Its event type is an enum with one variant per kind of
//! event, each carrying a record struct; the enum is the topic's schema, an Avro union of the
//! records (Confluent's recommended way to keep several event types in one ordered topic).
//!
//! **Version `N` of the enum is version `N` of the subject `<topic>-value`.** Every declared
//! version must change the schema (the history check enforces it), so registering the
//! versions in order gives the subject exactly these numbers. Records, nested records and enums
//! of the aggregate count versions in the same sequence: `added(in = 3)` on a field of a
//! nested record means "from version 3 of the aggregate on".
//!
//! Lifetimes are half-open: a field or variant is present from the version that adds it up
//! to, but not including, the version that removes it.
//!
//! # `#[derive(strata::Event)]`, on the aggregate's enum
//!
//! | key | meaning |
//! |---|---|
//! | `topic = "bank.accounts"` | the topic (required); the subject is `<topic>-value` |
//! | `version = 3` | the latest version (required) |
//! | `namespace = "com.example.bank"` | the Avro namespace its records inherit |
//! | `key = OrderKey` | the topic's Avro key type (a record deriving `strata::Record`, or `String`, `i32`, `i64`, `Vec<u8>`, `uuid::Uuid`): its history is locked in `schemas/<topic>-key/`, gated and registered like the values'; see [`crate::codec::key`] |
//! | `retired(variant = "Closed", ty = "AccountClosed", in = 3, upgrade = "f")` | a variant gone from the latest enum: its record type, the first version without it, and `f: fn(AccountClosed) -> Result<AccountEvent, UpcastError>` mapping it into a current event; optional `added = N` (first version with it) and `after = "Variant"` (its place in the union; default: last) |
//!
//! | `breaks(in = 4, reason = "...")` | version 4 breaks Avro compatibility with the versions before it on purpose (a retired event, a retype only an upgrade function handles): `cargo xtask check` reports its findings as acknowledged, and checks later versions only from version 4 on |
//!
//! On a variant: `#[strata(added = 2)]`, the first version with it. Each variant carries
//! exactly one type deriving [`Record`](derive@crate::Record); a union holds each record once.
//! A variant is renamed by renaming its record (see `renamed` below); the Rust variant name
//! never reaches Avro.
//!
//! # `#[derive(strata::Record)]`, on a struct with named fields
//!
//! Container keys:
//!
//! | key | meaning |
//! |---|---|
//! | `name = "AccountOpened"` | the Avro name, when not the Rust name |
//! | `namespace = "com.example"` | the Avro namespace, when not inherited from the event or enclosing record |
//! | `renamed(from = "FundsDeposited", in = 2)` | the record's Avro name before version 2 (kept as an alias after) |
//! | `removed(field = "branch_code", ty = "String", in = 3, discard)` | a field gone from the latest struct, declared so older versions can still be generated. Options: `added = N`, `default = expr`, `after = "field"` (its place; default: last; a field that was not the last needs it, and the history check prints the exact `after` when it is missing), and either `upgrade = "f"` (a record upgrade into version 3 that carries the value forward) or `discard` (its value is dropped, explicitly) |
//! | `upgrade(in = 3, with = "f")` | the whole step into version 3 is `f: fn(RecordV2) -> Result<Record, UpcastError>`: from the view of the shape before (named after the version that shape began in) to the next shape (`RecordV3`, or the struct itself when 3 is its latest shape) |
//! | `state` | a state type (what snapshots hold): its history is locked in `schemas/<namespace>.<Name>-state/` like an event type's, so a change without a version bump fails `cargo xtask schemas --check`; never registered with a Schema Registry |
//!
//! Field keys:
//!
//! | key | meaning |
//! |---|---|
//! | `added(in = 2, default = "EUR")` | first version with the field; older data gets the default, which is also the Avro default. The default is any Rust expression converted with `From` into the field's type |
//! | `added(in = 3, upgrade = "f")` | the value is computed from the view of the shape before: `f: fn(&RecordV2) -> Result<FieldType, UpcastError>`; a `default` may be given as well, for other Avro readers |
//! | `added(in = 2)` | allowed for `Option` fields only: older data gets `None` |
//! | `default = expr` | the field's default from its first version on |
//! | `renamed(from = "owner", in = 2)` | the field's name before version 2 (kept as an alias after) |
//! | `changed(in = 3, from = "i32")` | the field's type before version 3. An Avro promotion (int to long, float or double; long to float or double; float to double; string to bytes and back; `T` to `Option<T>`) converts by itself, failing instead of truncating where a Rust type is narrower; any other change needs `upgrade = "f"` with `f: fn(&RecordV2) -> Result<NewType, UpcastError>` |
//!
//! A key may be repeated (several renames, several type changes), one version each.
//! `///` doc comments become the schemas' `doc`.
//!
//! # Names, and serde
//!
//! A record's, enum's or field's Avro name is its Rust name, unless serde names it otherwise:
//! strata reads `#[serde(rename = "...")]` on records, fields, enums and symbols, and
//! `#[serde(rename_all = "...")]` on records and enums, so the Avro names and the serde names
//! of a type cannot drift apart. A strata `name` that contradicts serde's `rename` is an error,
//! and so is a serde name that is not a valid Avro name (`kebab-case`). Nothing else of serde's
//! applies: strata never encodes through serde.
//!
//! # `#[derive(strata::Enum)]`, on a unit-only enum
//!
//! An Avro enum whose symbols are the variant names. Container keys `name`, `namespace` and
//! `renamed` as for records; on a variant, `added = N` (a symbol added in version N) and
//! `default` (the symbol readers use for a symbol they do not know; it lets a reader on an
//! older version read data with newer symbols).
//!
//! # What is generated
//!
//! For a record whose shape changes at versions 1, 2 and 3:
//!
//! - `AccountOpenedV1` and `AccountOpenedV2`: typed views of the earlier shapes, with the
//!   field names and types each version had, beside the struct and with its visibility. The
//!   struct itself is the latest shape. Nested records in a view are already upgraded: each
//!   record upgrades its own history.
//! - `AccountOpenedV3`: an alias of the struct while 3 is its latest shape. It is the name
//!   that shape keeps as a view once a later version changes the record, so a record upgrade
//!   written as `fn(AccountOpenedV2) -> Result<AccountOpenedV3, UpcastError>` compiles
//!   unchanged then (a struct expression through the alias builds the struct itself).
//! - `AccountOpenedV1::upgrade(self) -> Result<AccountOpenedV2, UpcastError>` and so on: one
//!   step per version, running the declared upgrade functions;
//!   [`View::upcast`](crate::View::upcast) chains them to the latest.
//! - [`AvroType`](crate::AvroType) (the schema at any version) and
//!   [`Record`](crate::Record) (the versions at which it changes).
//!
//! For an event enum: [`Event`](crate::Event) (the union schema of every version),
//! [`FromRecord`](crate::FromRecord) for every record of its history (a current record becomes
//! its variant, a retired one goes through its upgrade function), and a registration that
//! [`event_types`](crate::event_types) finds, so `cargo xtask` knows every event type linked
//! into it.
//!
//! ```
//! use strata::{UpcastError, View};
//!
//! #[derive(strata::Record, Debug, PartialEq)]
//! #[strata(removed(field = "legacy_code", ty = "String", in = 3, discard))]
//! pub struct Registered {
//!     #[strata(renamed(from = "mail", in = 2))]
//!     pub email: String,
//!     #[strata(added(in = 2, default = false))]
//!     pub verified: bool,
//!     #[strata(changed(in = 3, from = "String", upgrade = "age_from_text"))]
//!     pub age: u32,
//! }
//!
//! fn age_from_text(v2: &RegisteredV2) -> Result<u32, UpcastError> {
//!     v2.age.parse().map_err(|e| UpcastError::caused_by("age is not a number", e))
//! }
//!
//! let v1 = RegisteredV1 { mail: "a@example.com".into(), age: "42".into(), legacy_code: "x".into() };
//! assert_eq!(
//!     v1.upcast()?,
//!     Registered { email: "a@example.com".into(), verified: false, age: 42 }
//! );
//! # Ok::<(), UpcastError>(())
//! ```
//!
//! # Type mapping
//!
//! | Rust | Avro |
//! |---|---|
//! | `bool` | `boolean` |
//! | `i8`, `i16`, `i32`, `u8`, `u16` | `int` |
//! | `i64`, `u32` | `long` |
//! | `f32`, `f64` | `float`, `double` |
//! | `String`; `compact_str::CompactString` (feature `compact_str`, no allocation up to 24 bytes) | `string` |
//! | `Vec<u8>` | `bytes` |
//! | `[u8; N]` | `fixed` of size N, named `<Record>_<field>_<N>` |
//! | `Option<T>` | `["null", T]` with `"default": null` |
//! | `Vec<T>` | `array` |
//! | `HashMap<K, T, S>` (any hasher `S`), `BTreeMap<K, T>`, with keys `K` `String` or `CompactString` | `map` |
//! | `Box<T>` | as `T` (for recursive records) |
//! | `uuid::Uuid` | `string` with logical type `uuid` |
//! | `time::OffsetDateTime` (feature `time`, default); `chrono::DateTime<Utc>` (feature `chrono`) | `long` with logical type `timestamp-micros` |
//! | [`TimestampMillis`](crate::TimestampMillis) | `long` with logical type `timestamp-millis` |
//! | `time::Date`; `chrono::NaiveDate` | `int` with logical type `date` |
//! | [`Decimal<P, S>`](crate::Decimal) | `bytes` with logical type `decimal(P, S)` |
//! | structs deriving `Record`, enums deriving `Enum` | named `record`, `enum` |
//!
//! Any other type implements [`AvroType`](crate::AvroType), [`Decode`](crate::Decode) and
//! [`Encode`](crate::Encode) by hand: that is the escape hatch.
//!
//! # Writing a new version
//!
//! 1. Raise `version` on the event enum.
//! 2. Declare each change on the record where it happens, with `in = <the new version>`:
//!    `added`, `renamed`, `changed`, `removed`, or a new variant with `added`, or a retired one.
//! 3. Where meaning changes, write the upgrade function the compiler asks for; it receives the
//!    typed view of the previous version.
//! 4. Run `cargo xtask schemas`: it writes `schemas/<subject>/v<N>.avsc` and never rewrites an
//!    earlier file. Commit it. CI runs `cargo xtask check` and `cargo test`, which fail if a
//!    published version's schema changed or a version has no file.
//!
//! # Subjects under other naming strategies
//!
//! strata registers the topic schema under the TopicNameStrategy subject `<topic>-value`. Teams
//! that use the RecordNameStrategy (`<record full name>`) or TopicRecordNameStrategy
//! (`<topic>-<record full name>`) register each record on its own; a record's subject versions
//! are then its distinct shapes, [`Record::CHANGES`](crate::Record::CHANGES) in order: the
//! record subject's version `k` is the shape starting at aggregate version `CHANGES[k - 1]`.
//! The topic union refers to those subjects through schema references.
//!
//! # Known limits
//!
//! - A record belongs to one aggregate's version sequence; sharing it between two event types
//!   with different histories is not supported.
//! - Views are named `<Record>V<version>` in the record's module; a type of that name there
//!   clashes.
//! - Clippy 1.95's `duplicated_attributes` lint misreads two `#[strata(...)]` keys with the same
//!   nested key on one item (rust-clippy#13238, fixed upstream); allow it on that item.
