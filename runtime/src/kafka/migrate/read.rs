//! Reading stored records: a partition streamed one record at a time, or one record at an offset.

use super::*;
use crate::kafka::error::{failed, failed_at};

/// A record as stored: what `verify` compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its offset.
    pub offset: i64,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its timestamp (milliseconds since the epoch), if any.
    pub timestamp: Option<i64>,
    /// Its value.
    pub value: Vec<u8>,
    /// Its headers (values read as UTF-8, lossily).
    pub headers: BTreeMap<String, String>,
}

/// The records of one partition up to its end offset when opened, read one at a time: memory
/// stays flat whatever the partition's size (librdkafka's prefetch is capped at 16 MiB).
pub fn partition_records(
    config: &MigrateConfig,
    topic: &str,
    partition: i32,
) -> Result<PartitionRecords, MigrateError> {
    let consumer: BaseConsumer = config
        .client()
        .set("queued.max.messages.kbytes", "16384")
        .create()
        .map_err(failed("creating a consumer"))?;
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, config.timeout)
        .map_err(failed_at("reading offsets", topic, partition))?;
    if high > low {
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition, Offset::Offset(low))
            .map_err(failed_at("assigning", topic, partition))?;
        consumer.assign(&assignment).map_err(failed_at("assigning", topic, partition))?;
    }
    Ok(PartitionRecords {
        consumer,
        topic: topic.to_owned(),
        partition,
        next: low,
        high,
        timeout: config.timeout,
    })
}

/// See [`partition_records`].
pub struct PartitionRecords {
    consumer: BaseConsumer,
    topic: String,
    partition: i32,
    next: i64,
    high: i64,
    timeout: Duration,
}

impl std::fmt::Debug for PartitionRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionRecords")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("next", &self.next)
            .field("high", &self.high)
            .finish_non_exhaustive()
    }
}

impl Iterator for PartitionRecords {
    type Item = Result<StoredRecord, MigrateError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.high {
            return None;
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    self.next = message.offset() + 1;
                    return Some(Ok(stored(&message)));
                }
                Some(Err(e)) => {
                    self.next = self.high;
                    return Some(Err(failed_at("reading", &self.topic, self.partition)(e).into()));
                }
                None if Instant::now() > deadline => {
                    self.next = self.high;
                    return Some(Err(MigrateError::Timeout {
                        action: "reading",
                        topic: self.topic.clone(),
                        partition: self.partition,
                        timeout: self.timeout,
                    }));
                }
                None => {}
            }
        }
    }
}

/// A consumed record, copied out.
pub(super) fn stored(message: &BorrowedMessage<'_>) -> StoredRecord {
    let headers = message
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| {
                    let value = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                    (h.key.to_owned(), value.into_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    StoredRecord {
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        timestamp: message.timestamp().to_millis(),
        value: message.payload().unwrap_or_default().to_vec(),
        headers,
    }
}

/// The first record at or after `offset` of `topic` partition `partition` (`None`: none
/// before `high`), read with `consumer` alone.
pub(super) fn record_at(
    consumer: &BaseConsumer,
    config: &MigrateConfig,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<StoredRecord, MigrateError> {
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Offset(offset))
        .map_err(failed_at("assigning", topic, partition))?;
    consumer.assign(&assignment).map_err(failed_at("assigning", topic, partition))?;
    let deadline = Instant::now() + config.timeout;
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(message) => {
                let message = message.map_err(failed_at("reading", topic, partition))?;
                if message.offset() >= offset {
                    return Ok(stored(&message));
                }
            }
            None if Instant::now() > deadline => {
                return Err(MigrateError::Timeout {
                    action: "reading one record",
                    topic: topic.to_owned(),
                    partition,
                    timeout: config.timeout,
                });
            }
            None => {}
        }
    }
}
