//! `cargo xtask avro decode`: the general resolver on the command line, to debug payloads.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Context;
use strata::avro::resolve::Plan;

use crate::Outcome;
use crate::flags::AvroDecode;

fn schema(path: &Path) -> anyhow::Result<apache_avro::Schema> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    apache_avro::Schema::parse_str(&text)
        .with_context(|| format!("`{}` is not a valid Avro schema", path.display()))
}

impl AvroDecode {
    /// Runs `cargo xtask avro decode`.
    pub fn run(self) -> anyhow::Result<Outcome> {
        let writer = schema(&self.writer)?;
        let reader = match &self.reader {
            Some(path) => schema(path)?,
            None => writer.clone(),
        };
        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .context("cannot read the datum from standard input")?;
        let datum = if self.framed {
            strata::codec::split_frame(&input)
                .map(|(_, datum)| datum)
                .map_err(anyhow::Error::new)?
        } else {
            &input[..]
        };
        let plan = match Plan::new(&writer, &reader) {
            Ok(plan) => plan,
            Err(e) => {
                eprintln!("error: the writer schema cannot be read as the reader schema: {e}");
                return Ok(Outcome::Failed);
            }
        };
        let mut resolved = Vec::new();
        let json = plan.transcode(datum, &mut resolved).and_then(|()| plan.to_json(&resolved));
        match json {
            Ok(json) => {
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "{json}").context("cannot write to standard output")?;
                Ok(Outcome::Passed)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(Outcome::Failed)
            }
        }
    }
}
