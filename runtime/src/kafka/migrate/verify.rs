//! `verify`: both topics compared partition by partition, streamed, dead letters accounted for.

use super::*;
use crate::kafka::error::failed;

/// One partition's verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCheck {
    /// The partition.
    pub partition: i32,
    /// Records in the source.
    pub source: u64,
    /// Records in the target.
    pub target: u64,
    /// Source records found in the dead-letter topic instead of the target.
    pub dead_lettered: u64,
    /// The first difference, if any.
    pub problem: Option<String>,
}

/// Reads both topics and checks each partition: target record i names the i-th source record
/// that was not dead-lettered (no gap, no duplicate, same order); the same key and timestamp;
/// the target value is the source value re-encoded as the latest version.
///
/// With [`MigrateConfig::dead_letter_topic`], the source records the migration sent there
/// (found by their provenance headers) are accounted for as dead letters, not as missing.
pub fn verify(
    config: &MigrateConfig,
    transcoder: &dyn Transcode,
) -> Result<Vec<PartitionCheck>, MigrateError> {
    config.validate()?;
    let consumer: BaseConsumer = config.client().create().map_err(failed("creating a consumer"))?;
    let source = partitions(&consumer, &config.from, config.timeout)?
        .ok_or_else(|| missing("source", &config.from))?;
    let target = partitions(&consumer, &config.to, config.timeout)?
        .ok_or_else(|| missing("target", &config.to))?;
    if target.len() != source.len() {
        return Err(MigrateError::PartitionCountMismatch {
            source_topic: config.from.clone(),
            source_partitions: source.len(),
            target: config.to.clone(),
            target_partitions: target.len(),
        });
    }
    let dead = match &config.dead_letter_topic {
        Some(topic) => dead_letters(config, &consumer, topic)?,
        None => BTreeMap::new(),
    };
    let unaccounted = if config.dead_letter_topic.is_some() {
        ""
    } else {
        "; if the migration dead-lettered it, verify with its dead-letter topic \
         (`MigrateConfig::dead_letter_topic`; `cargo xtask migrate --verify --dead-letter-topic T`)"
    };
    let latest = transcoder.latest_id().to_be_bytes();
    let mut checks = Vec::new();
    for &partition in &source {
        // Both partitions streamed side by side: memory stays flat whatever their size.
        let mut sources = partition_records(config, &config.from, partition)?;
        let mut targets = partition_records(config, &config.to, partition)?;
        let dead_here = dead.get(&partition);
        let (mut source_count, mut target_count, mut dead_lettered) = (0u64, 0u64, 0u64);
        let mut problem = None;
        for s in sources.by_ref() {
            let s = s?;
            source_count += 1;
            if dead_here.is_some_and(|offsets| offsets.contains(&s.offset)) {
                dead_lettered += 1;
                continue;
            }
            let Some(t) = targets.next().transpose()? else {
                problem = Some(format!(
                    "source offset {} and after are missing from the target{unaccounted}",
                    s.offset
                ));
                break;
            };
            target_count += 1;
            let named = t.headers.get(SOURCE_OFFSET).and_then(|o| o.parse::<i64>().ok());
            let why = match named {
                None => Some(format!(
                    "target offset {} names no source offset (header `{SOURCE_OFFSET}`)",
                    t.offset
                )),
                Some(n) if n > s.offset => Some(format!(
                    "source offset {} is missing from the target (target offset {} names source offset {n}){unaccounted}",
                    s.offset, t.offset
                )),
                Some(n) if n < s.offset => Some(format!(
                    "target offset {} names source offset {n} again or out of order, expected {}",
                    t.offset, s.offset
                )),
                Some(_) if t.key != s.key => {
                    Some(format!("target offset {}: the key differs", t.offset))
                }
                Some(_) if t.timestamp != s.timestamp => {
                    Some(format!("target offset {}: the timestamp differs", t.offset))
                }
                Some(_) if t.value.get(1..5) != Some(&latest[..]) => Some(format!(
                    "target offset {}: not framed with the latest schema id",
                    t.offset
                )),
                Some(_) => match transcoder.same(&s.value, &t.value) {
                    Ok(true) => None,
                    Ok(false) => Some(format!("target offset {}: the value differs", t.offset)),
                    Err(e) => Some(format!(
                        "offset {} or its source: {}",
                        t.offset,
                        crate::error::Chain(&e)
                    )),
                },
            };
            if why.is_some() {
                problem = why;
                break;
            }
        }
        // The rest of both partitions, counted (the first difference is reported already).
        let mut extra = None;
        for t in targets.by_ref() {
            let t = t?;
            extra.get_or_insert(t.offset);
            target_count += 1;
        }
        for s in sources {
            s?;
            source_count += 1;
        }
        if problem.is_none()
            && let Some(extra) = extra
        {
            problem = Some(format!(
                "{source_count} source record(s) ({dead_lettered} dead-lettered), {target_count} target record(s): target offset {extra} and after name no further source record"
            ));
        }
        checks.push(PartitionCheck {
            partition,
            source: source_count,
            target: target_count,
            dead_lettered,
            problem,
        });
    }
    Ok(checks)
}

/// The source offsets, per source partition, of the records a migration of `config.from`
/// sent to the dead-letter topic (read from their provenance headers).
pub(super) fn dead_letters(
    config: &MigrateConfig,
    consumer: &BaseConsumer,
    topic: &str,
) -> Result<BTreeMap<i32, std::collections::BTreeSet<i64>>, MigrateError> {
    let mut dead: BTreeMap<i32, std::collections::BTreeSet<i64>> = BTreeMap::new();
    let Some(partitions) = partitions(consumer, topic, config.timeout)? else {
        return Ok(dead);
    };
    for partition in partitions {
        for record in partition_records(config, topic, partition)? {
            let record = record?;
            let from = Provenance::read_with(|name| record.headers.get(name).map(String::as_str));
            if let Some(from) = from.filter(|from| from.topic == config.from) {
                dead.entry(from.partition).or_default().insert(from.offset);
            }
        }
    }
    Ok(dead)
}
