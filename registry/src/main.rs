//! `strata-registry`: the local Confluent-compatible Schema Registry, standalone
//! (`cargo xtask registry serve` runs the same thing).

use clap::Parser;

/// A local Confluent-compatible Schema Registry (REST API v1, AVRO), durable on disk.
#[derive(Debug, Parser)]
#[command(name = "strata-registry", version)]
struct Cli {
    #[command(flatten)]
    config: strata_registry::Config,
}

fn main() -> std::process::ExitCode {
    match strata_registry::serve(Cli::parse().config) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", strata::error::Chain(&e));
            std::process::ExitCode::from(2)
        }
    }
}
