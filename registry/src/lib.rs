//! A local Confluent-compatible Schema Registry, durable on disk: for development, CI and
//! tests, without a JVM, Docker or Kafka. Any Confluent client (Java, Python, Go, Rust) uses it
//! unchanged: it follows Confluent's REST API v1 (`application/vnd.schemaregistry.v1+json`),
//! its error codes and its rules for ids, versions, deletes, references, configs and modes.
//! AVRO only: JSON and PROTOBUF schemas are refused with 42201.
//!
//! From a test: start it on a free port, take the URL, stop it (or drop it).
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("strata-registry-doc-{}", std::process::id()));
//! let server = strata_registry::Server::start(strata_registry::Config::new(&dir))?;
//! let url = server.url(); // http://127.0.0.1:PORT
//! # assert!(url.starts_with("http://127.0.0.1:"));
//! server.stop()?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! From a shell: `cargo xtask registry serve` (or the `strata-registry` binary), with
//! `--dir`, `--listen`, `--basic-auth USER:PASSWORD` and `--max-request-bytes`.

#![warn(missing_docs)]

mod api;
mod error;
mod server;
mod store;

pub use api::CONTENT_TYPE;
pub use error::{ApiError, LogConflict, OpenError, ServerError, StoreError};
pub use server::{Config, Server, serve};
