//! `translate_group`: a consumer group's committed offsets moved to the equivalent target positions.

use super::*;
use crate::kafka::error::{failed, failed_at};

/// Sets consumer group `group`'s committed offsets on the target to the positions equivalent to
/// its committed offsets on the source: per partition, the first target record migrated from
/// the source offset the group would read next (or the target's end, when that record is not
/// migrated yet). The group must have no active members. Returns the offsets set, by
/// partition.
///
/// A target partition is in source order (each record names its source offset), so the
/// position is found by binary search, reading one record per step: a few dozen records
/// whatever the partition's size.
pub fn translate_group(
    config: &MigrateConfig,
    group: &str,
) -> Result<BTreeMap<i32, OffsetPair>, MigrateError> {
    config.validate()?;
    let mut client = config.client();
    client.set("group.id", group);
    let consumer: BaseConsumer = client.create().map_err(failed("creating a consumer"))?;
    let source = partitions(&consumer, &config.from, config.timeout)?
        .ok_or_else(|| missing("source", &config.from))?;
    let mut asked = TopicPartitionList::new();
    for &partition in &source {
        asked.add_partition(&config.from, partition);
    }
    let committed = consumer
        .committed_offsets(asked, config.timeout)
        .map_err(failed("reading the group's committed offsets"))?;
    // Another consumer reads the target, so the group's own handle assigns nothing.
    let reader: BaseConsumer = config.client().create().map_err(failed("creating a consumer"))?;
    let mut moves = BTreeMap::new();
    let mut target = TopicPartitionList::new();
    for element in committed.elements() {
        let Offset::Offset(next) = element.offset() else {
            continue; // nothing committed for this partition: nothing to translate
        };
        let partition = element.partition();
        let position = first_migrated_from(&reader, config, partition, next)?;
        target
            .add_partition_offset(&config.to, partition, Offset::Offset(position))
            .map_err(failed_at("translating offsets", &config.to, partition))?;
        moves.insert(partition, OffsetPair { source: next, target: position });
    }
    if target.count() > 0 {
        consumer
            .commit(&target, rdkafka::consumer::CommitMode::Sync)
            .map_err(failed("committing the group's offsets on the target"))?;
    }
    Ok(moves)
}

/// The offset of the first record of target partition `partition` migrated from source offset
/// `next` or later (the target's end when there is none), by binary search over the target's
/// offsets: each step reads one record and compares the source offset it names.
pub(super) fn first_migrated_from(
    reader: &BaseConsumer,
    config: &MigrateConfig,
    partition: i32,
    next: i64,
) -> Result<i64, MigrateError> {
    let topic = config.to.as_str();
    let (mut low, high) = reader
        .fetch_watermarks(topic, partition, config.timeout)
        .map_err(failed_at("reading the target's offsets", topic, partition))?;
    // The answer is `found` or lies in [low, hi): records past `low` that name an earlier
    // source offset come before it.
    let (mut hi, mut found) = (high, high);
    while low < hi {
        let mid = low + (hi - low) / 2;
        let record = record_at(reader, config, topic, partition, mid)?;
        let named = record.headers.get(SOURCE_OFFSET).and_then(|o| o.parse::<i64>().ok());
        if record.offset >= hi {
            // No record lies in [mid, hi).
            hi = mid;
        } else if named.is_some_and(|source| source >= next) {
            // No record lies in [mid, record.offset): the first qualifying one from mid on
            // is this one.
            found = found.min(record.offset);
            hi = mid;
        } else {
            low = record.offset + 1;
        }
    }
    Ok(found)
}
