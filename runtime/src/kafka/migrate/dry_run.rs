//! `dry_run`: every source record decoded, nothing written.

use super::*;
use crate::kafka::error::failed;

/// What a dry run found: every source record read and decoded, nothing written.
#[derive(Debug, Default)]
pub struct DryRunReport {
    /// Records read.
    pub records: u64,
    /// Records per writer schema id.
    pub by_schema_id: BTreeMap<u32, SchemaIdCount>,
    /// Every record that cannot be decoded, with its coordinates and why.
    pub undecodable: Vec<Undecodable>,
}

/// The records of one writer schema id in a dry run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaIdCount {
    /// How the id is read: as a declared version, or a foreign schema resolved into one
    /// (`None`: the id cannot be read).
    pub read_as: Option<crate::codec::ReadAs>,
    /// Records written with it.
    pub records: u64,
    /// Records per event type: the full name of the writer's union branch (`?` where the
    /// record cannot be read that far).
    pub by_event: BTreeMap<String, u64>,
}

/// A source record that cannot be decoded.
#[derive(Debug)]
pub struct Undecodable {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Why.
    pub error: DecodeError,
}

/// Reads and decodes every source record up to the end offsets seen at start; writes nothing.
/// Streams the partitions (memory stays flat), and does no schema work per record: each
/// schema id's version and event names come from its decoding plan, built once.
pub fn dry_run(
    config: &MigrateConfig,
    transcoder: &dyn Transcode,
) -> Result<DryRunReport, MigrateError> {
    config.validate()?;
    let consumer: BaseConsumer = config.client().create().map_err(failed("creating a consumer"))?;
    let source = partitions(&consumer, &config.from, config.timeout)?
        .ok_or_else(|| missing("source", &config.from))?;
    let mut report = DryRunReport::default();
    let mut value = Vec::new();
    for partition in source {
        for record in partition_records(config, &config.from, partition)? {
            let record = record?;
            report.records += 1;
            if let Ok((id, _)) = crate::wire::split_frame(&record.value) {
                let count = report.by_schema_id.entry(id).or_insert_with(|| {
                    let read_as = transcoder.writer_version(id).ok();
                    SchemaIdCount { read_as, ..SchemaIdCount::default() }
                });
                count.records += 1;
                let event = transcoder.event_name(&record.value).unwrap_or_else(|| "?".into());
                *count.by_event.entry(event).or_default() += 1;
            }
            if let Err(error) = transcoder.transcode(&record.value, &mut value) {
                report.undecodable.push(Undecodable { partition, offset: record.offset, error });
            }
        }
    }
    Ok(report)
}
