//! Subject names, spelled once: a topic's values (`<topic>-value`) and keys (`<topic>-key`),
//! a state type's locked history (`<full name>-state`), one record of a topic
//! (`<topic>-<record>`), and Confluent's three value subject name strategies
//! ([`SubjectStrategy`]) with the records each registers ([`record_schemas`]).

/// The suffix of a state type's subject in `schemas/`: no Schema Registry subject ends so
/// (topic subjects end `-value` or `-key`, record names have no `-`).
const STATE_SUFFIX: &str = "-state";

/// The subject of a topic's values under the TopicNameStrategy: `<topic>-value`.
pub fn value(topic: &str) -> String {
    format!("{topic}-value")
}

/// The subject of a topic's Avro keys: `<topic>-key`.
pub fn key(topic: &str) -> String {
    format!("{topic}-key")
}

/// The subject a state type's history is locked under in `schemas/` (never registered):
/// `<full name>-state`.
pub fn state(full_name: &str) -> String {
    format!("{full_name}{STATE_SUFFIX}")
}

/// The subject of one record of a topic: `<topic>-<record full name>`, the
/// TopicRecordNameStrategy's, also where `register` puts the records a topic union refers to.
pub fn topic_record(topic: &str, record: &str) -> String {
    format!("{topic}-{record}")
}

/// The state type a `schemas/` subject is the history of, if it is a state subject.
pub fn state_name(subject: &str) -> Option<&str> {
    subject.strip_suffix(STATE_SUFFIX)
}

/// The topic a values subject (`<topic>-value`) names, if it is one.
pub fn value_topic(subject: &str) -> Option<&str> {
    subject.strip_suffix("-value")
}

/// How records name their schema's subject: Confluent's `value.subject.name.strategy`.
///
/// Parsed from `topic`, `record` or `topic-record`, or from Confluent's class names
/// (`TopicNameStrategy`, `io.confluent.kafka.serializers.subject.RecordNameStrategy`, ...).
///
/// ```
/// use strata::subject::SubjectStrategy;
///
/// let strategy: SubjectStrategy = "TopicRecordNameStrategy".parse().unwrap();
/// assert_eq!(strategy.subject("bank.accounts", Some("com.example.Opened")), "bank.accounts-com.example.Opened");
/// assert_eq!(SubjectStrategy::Topic.subject("bank.accounts", None), "bank.accounts-value");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectStrategy {
    /// `<topic>-value`, the topic's event union (the default, what `schemas/` holds).
    #[default]
    Topic,
    /// `<record full name>`: each event framed with its record's own schema and id.
    Record,
    /// `<topic>-<record full name>`: the same, the subject scoped by topic.
    TopicRecord,
}

impl SubjectStrategy {
    /// The subject of a value of `topic` whose record is `record` (its full name): the
    /// topic's subject for [`SubjectStrategy::Topic`] or when no record is named.
    pub fn subject(self, topic: &str, record: Option<&str>) -> String {
        match (self, record) {
            (SubjectStrategy::Record, Some(record)) => record.to_owned(),
            (SubjectStrategy::TopicRecord, Some(record)) => topic_record(topic, record),
            _ => value(topic),
        }
    }

    /// `topic`, `record` or `topic-record`.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectStrategy::Topic => "topic",
            SubjectStrategy::Record => "record",
            SubjectStrategy::TopicRecord => "topic-record",
        }
    }
}

impl std::fmt::Display for SubjectStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A subject name strategy that is none of the three.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown subject name strategy `{0}`: expected topic, record or topic-record (or Confluent's TopicNameStrategy, RecordNameStrategy, TopicRecordNameStrategy)"
)]
pub struct UnknownStrategy(pub String);

impl std::str::FromStr for SubjectStrategy {
    type Err = UnknownStrategy;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let name = text.rsplit('.').next().unwrap_or(text);
        match name.to_ascii_lowercase().replace('_', "-").as_str() {
            "topic" | "topicnamestrategy" => Ok(SubjectStrategy::Topic),
            "record" | "recordnamestrategy" => Ok(SubjectStrategy::Record),
            "topic-record" | "topicrecordnamestrategy" => Ok(SubjectStrategy::TopicRecord),
            _ => Err(UnknownStrategy(text.to_owned())),
        }
    }
}

/// A record of an event union that names a type another record of the union defines, so it
/// has no schema of its own (for the record subject name strategies).
#[derive(Debug, thiserror::Error)]
#[error(
    "event record `{record}` does not stand alone (it names a type another record of the union defines), so it cannot have a subject of its own"
)]
pub struct NotStandalone {
    /// The record's full name.
    pub record: String,
    /// apache-avro's refusal of the record's schema alone.
    #[source]
    pub source: apache_avro::Error,
}

/// Each record of the event union `union` (a schema's JSON: a union, or one record) with its
/// full name and its schema as a text of its own: what the record name strategies register.
pub fn record_schemas(union: &serde_json::Value) -> Result<Vec<(String, String)>, NotStandalone> {
    let branches = match union {
        serde_json::Value::Array(branches) => branches.as_slice(),
        one => std::slice::from_ref(one),
    };
    branches
        .iter()
        .map(|branch| {
            let name = branch.get("name").and_then(serde_json::Value::as_str).unwrap_or_default();
            let full = match branch.get("namespace").and_then(serde_json::Value::as_str) {
                Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
                _ => name.to_owned(),
            };
            let text = branch.to_string();
            match apache_avro::Schema::parse_str(&text) {
                Ok(_) => Ok((full, text)),
                Err(source) => Err(NotStandalone { record: full, source }),
            }
        })
        .collect()
}
