//! Where a migration resumes: after the source offset the target's last record names.

use super::*;
use crate::kafka::error::{failed, failed_at};

/// The source offset named by the last record of target partition `partition`, if any, read
/// with `consumer` (a helper of its own: never a group member's handle).
pub(super) fn target_tail(
    consumer: &BaseConsumer,
    config: &MigrateConfig,
    partition: i32,
) -> Result<Option<i64>, MigrateError> {
    let (low, high) = consumer
        .fetch_watermarks(&config.to, partition, config.timeout)
        .map_err(failed_at("reading the target's offsets", &config.to, partition))?;
    if high <= low {
        return Ok(None);
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&config.to, partition, Offset::Offset(high - 1))
        .map_err(failed_at("reading the target's tail", &config.to, partition))?;
    consumer.assign(&assignment).map_err(failed_at(
        "reading the target's tail",
        &config.to,
        partition,
    ))?;
    let deadline = Instant::now() + config.timeout;
    loop {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message =
                message.map_err(failed_at("reading the target's tail", &config.to, partition))?;
            return match Provenance::read(crate::kafka::record::Headers::of(message.headers())) {
                Some(from) if from.partition == partition => Ok(Some(from.offset)),
                _ => Err(MigrateError::ForeignTarget {
                    target: config.to.clone(),
                    partition,
                    offset: message.offset(),
                }),
            };
        }
        if Instant::now() > deadline {
            return Err(MigrateError::Timeout {
                action: "reading the target's last record",
                topic: config.to.clone(),
                partition,
                timeout: config.timeout,
            });
        }
    }
}

/// Where one source partition's migration resumes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Resume {
    pub(super) partition: i32,
    /// The next source offset to migrate: right after the one the target's last record names.
    pub(super) next: i64,
    /// The source's end offset when resumed.
    pub(super) end: i64,
}

/// Where each of `partitions` resumes, from the target's tail. Refuses when the source no
/// longer holds the records right after it (deleted by retention before being migrated).
pub(super) fn resume_points(
    config: &MigrateConfig,
    partitions: &[i32],
) -> Result<Vec<Resume>, MigrateError> {
    let consumer: BaseConsumer = config.client().create().map_err(failed("creating a consumer"))?;
    partitions
        .iter()
        .map(|&partition| {
            let (low, end) = consumer
                .fetch_watermarks(&config.from, partition, config.timeout)
                .map_err(failed_at("reading the source's offsets", &config.from, partition))?;
            let next = match target_tail(&consumer, config, partition)? {
                Some(done) if done + 1 < low => {
                    return Err(MigrateError::RetentionGap {
                        topic: config.from.clone(),
                        partition,
                        migrated: done,
                        low,
                    });
                }
                Some(done) => done + 1,
                None => low,
            };
            Ok(Resume { partition, next, end })
        })
        .collect()
}
