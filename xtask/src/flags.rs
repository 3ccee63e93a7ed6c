//! The whole command line of `cargo xtask`, with help on every flag.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::Outcome;

/// strata's commands: keep `schemas/` in step with the event types, gate compatibility, work
/// with a Schema Registry, migrate and redrive topics, manage read models.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
pub struct Xtask {
    #[command(subcommand)]
    /// The command to run.
    pub command: Command,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the schema files of new versions into `schemas/`; never rewrites a published one.
    ///
    /// A published version whose derived schema differs is written beside it as
    /// `v<N>.avsc.new` for review, and the command fails. In CI (`CI` set) it only checks.
    Schemas(Schemas),
    /// The offline gate for CI: the derived schemas match the committed history, and every
    /// version is compatible with the earlier ones at its subject's level
    /// (`schemas/compatibility.json`, default BACKWARD_TRANSITIVE), except declared breaks.
    Check(Check),
    /// Avro tools for debugging payloads.
    #[command(subcommand)]
    Avro(Avro),
    /// Check schema files for compatibility as the Schema Registry would, at a level.
    ///
    /// Exits 0 when compatible, 1 when not (every incompatibility is reported), 2 when the
    /// check could not run.
    Compat(Compat),
    /// Register each subject's unregistered versions in the Schema Registry, in order.
    ///
    /// Idempotent: a rerun registers nothing. Refuses (registering nothing) whatever
    /// `check --registry` refuses: drift, incompatibilities, a registry that disagrees. A
    /// declared break the registry refuses is registered by lowering the subject's level to NONE
    /// for that one registration. Where the registry supports schema references, each record
    /// of the topic union is registered under `<topic>-<record full name>` and the union refers
    /// to them; otherwise (or with `--inline`) the union is registered whole.
    Register(Register),
    /// Rewrite a topic so every record carries the newest schema version, exactly once.
    ///
    /// Source partition p goes to target partition p (created with the source's partition
    /// count when missing); keys, timestamps and headers are kept, provenance headers added
    /// (`strata.source.topic`, `.partition`, `.offset`, `.schema_id`). A rerun resumes after
    /// the last record of each target partition. With `--verify`, compares the two topics
    /// instead and exits 1 on any difference.
    #[cfg(feature = "kafka")]
    Migrate(Migrate),
    /// Left out of this build: says which feature brings it.
    #[cfg(not(feature = "kafka"))]
    #[command(hide = true, disable_help_flag = true)]
    Migrate(LeftOut),
    /// Write dead letters back into a topic, once each: decoded through the current upcasters
    /// (a record dead-lettered by a since-fixed upgrade now reads), with their original key,
    /// timestamp and headers, plus `strata.redrive.from` and `strata.redrive.count`.
    ///
    /// Resumable: a rerun after a crash skips what the crashed run wrote. Dead letters that
    /// still fail stay behind (listed, retried by the next run); one already redriven
    /// `--max-redrives` times is held by the loop guard. Exits 1 when any stays behind.
    #[cfg(feature = "kafka")]
    Redrive(Redrive),
    /// Left out of this build: says which feature brings it.
    #[cfg(not(feature = "kafka"))]
    #[command(hide = true, disable_help_flag = true)]
    Redrive(LeftOut),
    /// Read models in PostgreSQL (`strata::kafka::readmodel`): list every version with its state and
    /// stored offsets, or drop a version that no longer serves.
    #[cfg(feature = "postgres")]
    #[command(subcommand)]
    ReadModels(ReadModels),
    /// Left out of this build: says which feature brings it.
    #[cfg(not(feature = "postgres"))]
    #[command(hide = true, disable_help_flag = true)]
    ReadModels(LeftOut),
    /// A local Confluent-compatible Schema Registry, for development and tests.
    #[cfg(feature = "registry-server")]
    #[command(subcommand)]
    Registry(Registry),
    /// Left out of this build: says which feature brings it.
    #[cfg(not(feature = "registry-server"))]
    #[command(hide = true, disable_help_flag = true)]
    Registry(LeftOut),
}

/// The arguments of a command this build left out, taken as they come.
#[derive(Debug, clap::Args)]
pub struct LeftOut {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

/// The error of a command left out of this build: which feature of `strata-es-xtask` brings it.
#[cfg(not(all(feature = "kafka", feature = "postgres", feature = "registry-server")))]
fn left_out(command: &str, feature: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`cargo xtask {command}` is not in this build: it needs the `{feature}` feature of \
         `strata-es-xtask` (in your xtask's Cargo.toml: `features = [\"{feature}\"]`)"
    )
}

/// `cargo xtask registry ...`.
#[cfg(feature = "registry-server")]
#[derive(Debug, Subcommand)]
pub enum Registry {
    /// Serve Confluent's Schema Registry REST API v1 (AVRO schemas) from a local directory,
    /// until Ctrl-C or SIGTERM.
    ///
    /// Every acknowledged write is fsynced before the answer and survives `kill -9`. Binds
    /// 127.0.0.1 by default; prints the URL as the first line of standard output; logs one
    /// line per request to standard error. JSON and PROTOBUF schemas are refused (42201).
    Serve(strata_registry::Config),
}

/// Flags of `cargo xtask compat`.
#[derive(Debug, Parser)]
pub struct Compat {
    /// The compatibility level, as Confluent names it: NONE, BACKWARD, BACKWARD_TRANSITIVE,
    /// FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE.
    #[arg(long, value_name = "LEVEL")]
    pub level: strata::avro::compat::Level,
    /// The new schema (`.avsc`).
    #[arg(long, value_name = "FILE")]
    pub new: PathBuf,
    /// An earlier version (`.avsc`); repeat it, oldest first.
    #[arg(long = "old", value_name = "FILE")]
    pub old: Vec<PathBuf>,
    /// How to print the findings.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// How findings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people.
    Text,
    /// One JSON document.
    Json,
    /// GitHub Actions annotations (`::error file=...::message`).
    Github,
    /// JUnit XML: one test case per earlier version and direction checked.
    Junit,
}

/// `cargo xtask avro ...`.
#[derive(Debug, Subcommand)]
pub enum Avro {
    /// Decode one binary datum (on standard input) written with `--writer`, resolved into
    /// `--reader` with Avro's schema-resolution rules as Avro Java applies them; print it in
    /// Avro's JSON encoding. Exits 1, with the reason, when the datum cannot be read.
    Decode(AvroDecode),
}

/// Flags of `cargo xtask avro decode`.
#[derive(Debug, Parser)]
pub struct AvroDecode {
    /// The schema the datum was written with (`.avsc`).
    #[arg(long, value_name = "FILE")]
    pub writer: PathBuf,
    /// The schema to read it as (default: the writer's).
    #[arg(long, value_name = "FILE")]
    pub reader: Option<PathBuf>,
    /// The datum is Confluent-framed (magic byte and schema id first); the header is skipped.
    #[arg(long)]
    pub framed: bool,
}

/// Flags of `cargo xtask schemas`.
#[derive(Debug, Parser)]
pub struct Schemas {
    /// Check only: fail when a version has no file, a file matches no version, or a published
    /// version's derived schema differs from its file. Writes nothing.
    #[arg(long)]
    pub check: bool,
    /// Take doc comments edited since publication into the published files (their docs only:
    /// a file that differs from the type in anything else is never rewritten).
    #[arg(long, conflicts_with = "check")]
    pub accept_docs: bool,
    /// The schema history directory (default: `schemas/` in the workspace root).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Flags of `cargo xtask migrate`.
#[cfg(feature = "kafka")]
#[derive(Debug, Parser)]
pub struct Migrate {
    /// The source topic.
    #[arg(long, value_name = "TOPIC")]
    pub from: String,
    /// The target topic.
    #[arg(long, value_name = "TOPIC")]
    pub to: String,
    /// The Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// The event type, by its topic (default: the one whose topic is `--from`).
    #[arg(long, value_name = "TOPIC")]
    pub event: Option<String>,
    /// Keep migrating new source records until Ctrl-C or SIGTERM, then print where each
    /// partition stands in both topics (for the consumers' cut-over).
    #[arg(long, conflicts_with_all = ["verify", "dry_run"])]
    pub follow: bool,
    /// Read and decode every source record, write nothing: counts per writer schema id and
    /// version, and every record that cannot be decoded with its coordinates (exit 1 if any).
    #[arg(long, conflicts_with = "verify")]
    pub dry_run: bool,
    /// Compare the target with the source instead: per partition, each target record naming
    /// its source offset in order, the same key, timestamp and value; with
    /// `--dead-letter-topic`, the records the migration dead-lettered are accounted for there.
    #[arg(long)]
    pub verify: bool,
    /// Register the newest schema version under the topic's subject when the registry lacks it
    /// (otherwise its id must already be registered).
    #[arg(long, requires = "url")]
    pub register: bool,
    /// After migrating, set consumer group G's committed offsets on the target to the positions
    /// equivalent to its committed offsets on the source (G must have no active members), so
    /// its consumers switch topics without reprocessing or skipping.
    #[arg(long, value_name = "GROUP")]
    pub translate_group: Option<String>,
    /// Send records that cannot be decoded here (with their coordinates), instead of stopping;
    /// with `--verify`, where to find them.
    #[arg(long, value_name = "TOPIC")]
    pub dead_letter_topic: Option<String>,
    /// Split the source partitions with every instance started with the same group (Kafka's
    /// consumer-group protocol); each resumes its partitions from the target's tail.
    #[arg(long, value_name = "GROUP", conflicts_with_all = ["verify", "dry_run"])]
    pub group: Option<String>,
    /// A librdkafka setting for every client (repeatable), e.g. `-X session.timeout.ms=6000`.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = kafka_setting)]
    pub kafka: Vec<(String, String)>,
    /// The schema history directory, when no registry is given (ids as `schemas/` assigns them).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// How to reach the Schema Registry.
    #[command(flatten)]
    pub registry: RegistryFlags,
}

/// Flags of `cargo xtask redrive`.
#[cfg(feature = "kafka")]
#[derive(Debug, Parser)]
pub struct Redrive {
    /// The dead-letter topic.
    #[arg(long, value_name = "TOPIC")]
    pub from: String,
    /// The topic written (usually the one the dead letters came from).
    #[arg(long, value_name = "TOPIC")]
    pub to: String,
    /// The Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// The event type, by its topic (default: the one whose topic is `--to`).
    #[arg(long, value_name = "TOPIC")]
    pub event: Option<String>,
    /// Read and decode every dead letter, write and commit nothing: what a run would do.
    #[arg(long)]
    pub dry_run: bool,
    /// Hold back a dead letter already redriven this many times (its `strata.redrive.count`).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub max_redrives: u32,
    /// The consumer group keeping the progress (default `strata-redrive-<from>-<to>`).
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Records per acknowledged, committed batch.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub batch: usize,
    /// A librdkafka setting for every client (repeatable), e.g. `-X security.protocol=ssl`.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = kafka_setting)]
    pub kafka: Vec<(String, String)>,
    /// The schema history directory, when no registry is given (ids as `schemas/` assigns them).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// How to reach the Schema Registry.
    #[command(flatten)]
    pub registry: RegistryFlags,
}

#[cfg(feature = "kafka")]
fn kafka_setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

/// Flags of `cargo xtask register`.
#[derive(Debug, Parser)]
pub struct Register {
    /// The schema history directory (default: `schemas/` in the workspace root).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Check and print what would be registered; register nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Register each topic union whole, even where the registry supports references.
    #[arg(long)]
    pub inline: bool,
    /// The subject name strategy the producers use (Confluent's
    /// `value.subject.name.strategy`): `topic` (`<topic>-value`, the event union), `record`
    /// (`<record full name>`) or `topic-record` (`<topic>-<record full name>`), each record's
    /// distinct shapes in order.
    #[arg(long, value_name = "STRATEGY", env = "STRATA_SUBJECT_STRATEGY", default_value_t)]
    pub subject_strategy: strata::subject::SubjectStrategy,
    /// How to reach the Schema Registry.
    #[command(flatten)]
    pub registry: RegistryFlags,
}

/// Flags of `cargo xtask check`.
#[derive(Debug, Parser)]
pub struct Check {
    /// The schema history directory (default: `schemas/` in the workspace root).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Also check against a live Schema Registry (`--registry URL` or `SCHEMA_REGISTRY_URL`):
    /// its registered history must match `schemas/`, and the unregistered versions are checked
    /// at the level the registry gives each subject, by strata and by the registry, which must
    /// agree. A subject the registry lacks is fine.
    /// How to reach the Schema Registry.
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// The subject name strategy the producers use (Confluent's
    /// `value.subject.name.strategy`): `topic` (`<topic>-value`, the event union), `record`
    /// (`<record full name>`) or `topic-record` (`<topic>-<record full name>`), each record's
    /// distinct shapes in order.
    #[arg(long, value_name = "STRATEGY", env = "STRATA_SUBJECT_STRATEGY", default_value_t)]
    pub subject_strategy: strata::subject::SubjectStrategy,
    /// How to print the compatibility findings.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `cargo xtask read-models ...`.
#[cfg(feature = "postgres")]
#[derive(Debug, clap::Subcommand)]
pub enum ReadModels {
    /// Every version of the read models in the database: name, version, state (`building`,
    /// `serving`, `retired`), topic, and the next offset stored per partition.
    List {
        /// The database.
        #[command(flatten)]
        database: Database,
        /// Only this read model.
        #[arg(long)]
        name: Option<String>,
    },
    /// Drops a version that does not serve: its schema `<name>_v<version>` with its tables, its
    /// stored offsets, its registration.
    Drop {
        /// The database.
        #[command(flatten)]
        database: Database,
        /// The read model.
        #[arg(long)]
        name: String,
        /// The version to drop.
        #[arg(long)]
        version: u32,
    },
}

/// Where the read models live.
#[cfg(feature = "postgres")]
#[derive(Debug, Clone, clap::Args)]
pub struct Database {
    /// A PostgreSQL connection string (`host=... user=... dbname=...`, or a
    /// `postgresql://` URL); without TLS.
    #[arg(long, value_name = "CONNECTION", env = "DATABASE_URL")]
    pub database: String,
}

impl Xtask {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<Outcome> {
        match self.command {
            Command::Schemas(flags) => flags.run(),
            Command::Check(flags) => flags.run(),
            Command::Register(flags) => flags.run(),
            #[cfg(feature = "kafka")]
            Command::Migrate(flags) => flags.run(),
            #[cfg(not(feature = "kafka"))]
            Command::Migrate(_) => Err(left_out("migrate", "kafka")),
            #[cfg(feature = "kafka")]
            Command::Redrive(flags) => flags.run(),
            #[cfg(not(feature = "kafka"))]
            Command::Redrive(_) => Err(left_out("redrive", "kafka")),
            #[cfg(feature = "postgres")]
            Command::ReadModels(command) => command.run(),
            #[cfg(not(feature = "postgres"))]
            Command::ReadModels(_) => Err(left_out("read-models", "postgres")),
            Command::Avro(Avro::Decode(flags)) => flags.run(),
            Command::Compat(flags) => flags.run(),
            #[cfg(feature = "registry-server")]
            Command::Registry(Registry::Serve(config)) => {
                strata_registry::serve(config)?;
                Ok(Outcome::Passed)
            }
            #[cfg(not(feature = "registry-server"))]
            Command::Registry(_) => Err(left_out("registry", "registry-server")),
        }
    }
}

/// How to reach the registry (the environment variables are those Confluent's tools read).
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryFlags {
    /// The Schema Registry's base URL (`https://` works too).
    #[arg(long = "registry", value_name = "URL", env = "SCHEMA_REGISTRY_URL")]
    pub url: Option<String>,
    /// HTTP basic auth, `USER:PASSWORD`.
    #[arg(
        long = "registry-user-info",
        value_name = "USER:PASSWORD",
        env = "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
        hide_env_values = true
    )]
    pub user_info: Option<String>,
    /// A bearer token.
    #[arg(
        long = "registry-token",
        value_name = "TOKEN",
        env = "SCHEMA_REGISTRY_BEARER_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// A header sent with every request, `NAME: VALUE`; repeat it for more.
    #[arg(long = "registry-header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// The timeout of one request, in seconds.
    #[arg(long = "registry-timeout", value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
    /// How often a request failing for a transient reason (connection, 5xx, 429) is retried,
    /// with exponential backoff from 200 ms.
    #[arg(long = "registry-retries", value_name = "N", default_value_t = 3)]
    pub retries: u32,
}
