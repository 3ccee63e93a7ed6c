//! [`ClientError`], the one shape of every Kafka failure, and the one adapter from rdkafka's
//! error to it (`failed`, `failed_at`) that every job's `map_err` uses.

use rdkafka::error::KafkaError;

/// A Kafka client or broker failure: what was being done, where (topic, partition, offset, as
/// far as known), and rdkafka's error as the cause. Boxed: errors stay small on the happy path.
#[derive(Debug)]
pub struct ClientError(Box<Failure>);

#[derive(Debug)]
struct Failure {
    action: &'static str,
    topic: Option<String>,
    partition: Option<i32>,
    offset: Option<i64>,
    source: KafkaError,
}

impl ClientError {
    /// A failure of `action`, nowhere in particular.
    pub(crate) fn new(action: &'static str, source: KafkaError) -> Self {
        ClientError(Box::new(Failure {
            action,
            topic: None,
            partition: None,
            offset: None,
            source,
        }))
    }

    /// The same, at `topic` (and `partition`).
    pub(crate) fn at(mut self, topic: &str, partition: Option<i32>) -> Self {
        self.0.topic = Some(topic.to_owned());
        self.0.partition = partition;
        self
    }

    /// The same, at `offset`.
    pub(crate) fn at_offset(mut self, offset: Option<i64>) -> Self {
        self.0.offset = offset;
        self
    }

    /// What was being done, such as `reading the target's offsets`.
    pub fn action(&self) -> &'static str {
        self.0.action
    }

    /// The topic, when the call concerned one.
    pub fn topic(&self) -> Option<&str> {
        self.0.topic.as_deref()
    }

    /// The partition, when the call concerned one.
    pub fn partition(&self) -> Option<i32> {
        self.0.partition
    }

    /// The offset, when the call concerned one.
    pub fn offset(&self) -> Option<i64> {
        self.0.offset
    }

    /// rdkafka's error.
    pub fn kafka_error(&self) -> &KafkaError {
        &self.0.source
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = &self.0;
        write!(f, "kafka: {}", e.action)?;
        let Some(topic) = &e.topic else { return Ok(()) };
        write!(f, " (topic `{topic}`")?;
        if let Some(partition) = e.partition {
            write!(f, " partition {partition}")?;
        }
        if let Some(offset) = e.offset {
            write!(f, " offset {offset}")?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0.source)
    }
}

/// rdkafka's error as a [`ClientError`] of `action`: `.map_err(failed("reading metadata"))?`
/// (the job's own error converts from it with `#[from]`).
pub(crate) fn failed(action: &'static str) -> impl Fn(KafkaError) -> ClientError {
    move |e| ClientError::new(action, e)
}

/// The same, at `topic` partition `partition`.
pub(crate) fn failed_at<'a>(
    action: &'static str,
    topic: &'a str,
    partition: i32,
) -> impl Fn(KafkaError) -> ClientError + 'a {
    move |e| ClientError::new(action, e).at(topic, Some(partition))
}

#[cfg(test)]
mod tests {
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};

    use super::ClientError;

    #[test]
    fn a_broker_outage_is_said_once() {
        let code = RDKafkaErrorCode::AllBrokersDown;
        let error = ClientError::new("consuming", KafkaError::MessageConsumption(code));
        let text = crate::error::Chain(&error).to_string();
        assert_eq!(text.matches("AllBrokersDown").count(), 1, "{text}");
        assert!(text.starts_with("kafka: consuming: Message consumption error"), "{text}");
    }
}
