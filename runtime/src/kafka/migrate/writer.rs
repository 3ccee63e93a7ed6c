//! The migration's writing half, on a thread of its own: the reading thread (consume, decode,
//! re-encode) fills batches of outgoing records and hands them over; the writer produces them
//! in order, serves the producer's delivery reports and hands the emptied batches back.
//!
//! Two threads because librdkafka's per-record work (queueing a message, building its headers,
//! serving and freeing its delivery report) costs as much as the reading half: on one thread
//! the migration ran at 40-47% of a bare copy, whose loop does neither decoding nor headers.
//! Each record's librdkafka allocations are made and freed on the writer thread (a batch's own
//! buffers go back and forth, never freed), which keeps the allocator's arenas uncontended.

use std::ops::Range;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Mutex, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::client::ClientContext;
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::{MigrateConfig, MigrateError, Provenance, SOURCE_SCHEMA_ID, add_provenance};

/// Records per batch handed over.
const BATCH: usize = 512;
/// Batches in flight between the two threads.
const IN_FLIGHT: usize = 4;
/// How long a record may wait in a batch being filled.
const LATENCY: Duration = Duration::from_millis(20);

/// The producer's failures, from its delivery reports or from queueing: the first one stops
/// the migration.
pub(super) struct Deliveries {
    failed: Mutex<Option<MigrateError>>,
}

impl Deliveries {
    pub(super) fn new() -> Self {
        Deliveries { failed: Mutex::new(None) }
    }

    fn fail(&self, why: impl FnOnce() -> MigrateError) {
        self.failed.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert_with(why);
    }

    /// Fails with the first failure, if any (taken: later checks pass).
    pub(super) fn check(&self) -> Result<(), MigrateError> {
        match self.failed.lock().unwrap_or_else(PoisonError::into_inner).take() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, message)) = result {
            // Named by the source record it carries (its provenance headers).
            let from = Provenance::read(crate::kafka::record::Headers::of(message.headers()));
            self.fail(|| {
                let action = "delivering the migrated record of this source record";
                let e = crate::kafka::ClientError::new(action, e.clone());
                MigrateError::Kafka(match &from {
                    Some(from) => {
                        e.at(&from.topic, Some(from.partition)).at_offset(Some(from.offset))
                    }
                    None => e.at("?", None),
                })
            });
        }
    }
}

pub(super) type MigrationProducer = BaseProducer<Deliveries>;

/// One outgoing record; its bytes live in its batch.
struct Outgoing {
    partition: i32,
    offset: i64,
    timestamp: Option<i64>,
    key: Option<Range<usize>>,
    value: Range<usize>,
    /// The source record's headers, in `Batch::headers`.
    headers: Range<usize>,
    /// `Some`: the writer schema id of a migrated record; `None`: a dead letter.
    schema_id: Option<Option<u32>>,
    /// A dead letter's reason, in `Batch::text`.
    error: Range<usize>,
}

/// Records handed from the reading thread to the writer, with their bytes.
#[derive(Default)]
pub(super) struct Batch {
    records: Vec<Outgoing>,
    bytes: Vec<u8>,
    /// Header names and reasons (text, so that names come back as `&str`).
    text: String,
    /// Source headers: name in `text`, value in `bytes`.
    headers: Vec<(Range<usize>, Option<Range<usize>>)>,
}

impl Batch {
    fn clear(&mut self) {
        self.records.clear();
        self.bytes.clear();
        self.text.clear();
        self.headers.clear();
    }

    fn bytes(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    fn text(&mut self, text: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(text);
        start..self.text.len()
    }

    /// Adds `message` re-encoded as `value` (`Ok`), or as a dead letter for `Err(reason)`.
    fn add(&mut self, message: &BorrowedMessage<'_>, value: Result<(&[u8], Option<u32>), &str>) {
        let first = self.headers.len();
        if let Some(headers) = message.headers() {
            for h in headers.iter() {
                let name = self.text(h.key);
                let value = h.value.map(|v| self.bytes(v));
                self.headers.push((name, value));
            }
        }
        let key = message.key().map(|k| self.bytes(k));
        let (value, schema_id, error) = match value {
            Ok((value, id)) => (self.bytes(value), Some(id), 0..0),
            Err(reason) => {
                (self.bytes(message.payload().unwrap_or_default()), None, self.text(reason))
            }
        };
        self.records.push(Outgoing {
            partition: message.partition(),
            offset: message.offset(),
            timestamp: message.timestamp().to_millis(),
            key,
            value,
            headers: first..self.headers.len(),
            schema_id,
            error,
        });
    }
}

enum Job {
    Batch(Batch),
    /// Answered once every batch handed over before it is queued in the producer.
    Barrier(SyncSender<()>),
    Stop,
}

/// The reading thread's end of the pipe.
pub(super) struct Pipe {
    filling: Mutex<Batch>,
    jobs: SyncSender<Job>,
    spare: Mutex<Receiver<Batch>>,
}

/// The writer's end.
pub(super) struct WriterEnd {
    jobs: Receiver<Job>,
    spare: SyncSender<Batch>,
}

pub(super) fn pipe() -> (Pipe, WriterEnd) {
    let (jobs, jobs_rx) = sync_channel(IN_FLIGHT);
    let (spare_tx, spare) = sync_channel(IN_FLIGHT + 2);
    let pipe = Pipe { filling: Mutex::new(Batch::default()), jobs, spare: Mutex::new(spare) };
    (pipe, WriterEnd { jobs: jobs_rx, spare: spare_tx })
}

fn writer_gone() -> MigrateError {
    MigrateError::WriterStopped
}

impl Pipe {
    /// Adds a record (see [`Batch::add`]), handing the batch over once full.
    pub(super) fn add(
        &self,
        message: &BorrowedMessage<'_>,
        value: Result<(&[u8], Option<u32>), &str>,
    ) -> Result<(), MigrateError> {
        let mut filling = self.filling.lock().unwrap_or_else(PoisonError::into_inner);
        filling.add(message, value);
        if filling.records.len() >= BATCH { self.hand_over(&mut filling) } else { Ok(()) }
    }

    fn hand_over(&self, filling: &mut Batch) -> Result<(), MigrateError> {
        let spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner).try_recv();
        let full = std::mem::replace(filling, spare.unwrap_or_default());
        self.jobs.send(Job::Batch(full)).map_err(|_| writer_gone())
    }

    /// Returns once every record added is queued in the producer.
    pub(super) fn drain(&self) -> Result<(), MigrateError> {
        {
            let mut filling = self.filling.lock().unwrap_or_else(PoisonError::into_inner);
            if !filling.records.is_empty() {
                self.hand_over(&mut filling)?;
            }
        }
        let (done, wait) = sync_channel(1);
        self.jobs.send(Job::Barrier(done)).map_err(|_| writer_gone())?;
        wait.recv().map_err(|_| writer_gone())
    }

    /// Ends the writer (records not drained are dropped: call [`Pipe::drain`] first).
    pub(super) fn stop(&self) {
        let _ = self.jobs.send(Job::Stop);
    }
}

/// The writer thread: produces every record handed over, in order, until stopped. After a
/// failure it produces nothing more (the reading thread sees the failure and stops).
///
/// Idle for [`LATENCY`], it takes the batch being filled itself, so that a trickle of records
/// (a follow migration) is written within about that much time.
pub(super) fn write(
    end: WriterEnd,
    pipe: &Pipe,
    producer: &MigrationProducer,
    config: &MigrateConfig,
) {
    let mut texts = [String::new(), String::new(), String::new()];
    let mut last_id = None;
    let mut failed = false;
    loop {
        let job = match end.jobs.recv_timeout(LATENCY) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                // The reader hands batches over while holding `filling`: once it is held here,
                // every batch handed over before is in the channel, and runs first. Never
                // waited for: the reader may hold it while waiting for room in the channel.
                let mut filling = match pipe.filling.try_lock() {
                    Ok(filling) => filling,
                    Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                    Err(TryLockError::WouldBlock) => continue,
                };
                match end.jobs.try_recv() {
                    Ok(job) => job,
                    Err(_) if filling.records.is_empty() => continue,
                    Err(_) => Job::Batch(std::mem::take(&mut *filling)),
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match job {
            Job::Batch(mut batch) => {
                for record in &batch.records {
                    if failed {
                        break;
                    }
                    if let Err(why) =
                        produce(producer, config, &batch, record, &mut texts, &mut last_id)
                    {
                        producer.context().fail(|| why);
                        failed = true;
                    }
                }
                batch.clear();
                let _ = end.spare.try_send(batch);
            }
            Job::Barrier(done) => {
                let _ = done.send(());
            }
            Job::Stop => break,
        }
    }
}

/// Queues one record: a migrated one with its provenance, or a dead letter with its reason.
fn produce(
    producer: &MigrationProducer,
    config: &MigrateConfig,
    batch: &Batch,
    record: &Outgoing,
    [partition, offset, id]: &mut [String; 3],
    last_id: &mut Option<Option<u32>>,
) -> Result<(), MigrateError> {
    use std::fmt::Write;
    partition.clear();
    let _ = write!(partition, "{}", record.partition);
    offset.clear();
    let _ = write!(offset, "{}", record.offset);
    let mut headers = OwnedHeaders::new_with_capacity(record.headers.len() + 4);
    for (name, value) in &batch.headers[record.headers.clone()] {
        let value = value.as_ref().map(|v| &batch.bytes[v.clone()]);
        headers = headers.insert(Header { key: &batch.text[name.clone()], value });
    }
    headers =
        add_provenance(headers, config.from.as_bytes(), partition.as_bytes(), offset.as_bytes());
    let topic = match (record.schema_id, &config.dead_letter_topic) {
        (Some(schema_id), _) => {
            if *last_id != Some(schema_id) {
                *last_id = Some(schema_id);
                id.clear();
                if let Some(schema_id) = schema_id {
                    let _ = write!(id, "{schema_id}");
                }
            }
            headers = headers.insert(Header { key: SOURCE_SCHEMA_ID, value: Some(id.as_bytes()) });
            config.to.as_str()
        }
        (None, Some(dead)) => {
            let error = &batch.text[record.error.clone()];
            headers = headers.insert(Header { key: super::ERROR, value: Some(error.as_bytes()) });
            dead.as_str()
        }
        (None, None) => unreachable!("the reading half dead-letters only with a dead-letter topic"),
    };
    let mut out: BaseRecord<'_, [u8], [u8]> =
        BaseRecord::to(topic).payload(&batch.bytes[record.value.clone()]).headers(headers);
    if record.schema_id.is_some() {
        out = out.partition(record.partition);
    }
    // A dead letter keeps the record's own time too, so a redrive writes it back as it was.
    if let Some(at) = record.timestamp {
        out = out.timestamp(at);
    }
    if let Some(key) = &record.key {
        out = out.key(&batch.bytes[key.clone()]);
    }
    send(producer, out, config.timeout).map_err(|e| match e {
        Send::QueueFull => {
            MigrateError::QueueFull { topic: topic.to_owned(), timeout: config.timeout }
        }
        Send::Failed(e) => MigrateError::Kafka(
            crate::kafka::ClientError::new("producing", e).at(topic, Some(record.partition)),
        ),
    })
}

/// Why a record could not be queued.
enum Send {
    /// The producer's queue stayed full past the timeout.
    QueueFull,
    /// librdkafka refused the record.
    Failed(rdkafka::error::KafkaError),
}

/// Queues `record`, waiting up to `timeout` while the producer's queue is full.
fn send(
    producer: &MigrationProducer,
    mut record: BaseRecord<'_, [u8], [u8]>,
    timeout: Duration,
) -> Result<(), Send> {
    let mut deadline = None;
    loop {
        match producer.send(record) {
            Ok(()) => {
                producer.poll(Duration::ZERO);
                crate::kafka::crash_point("migrate.sent");
                return Ok(());
            }
            Err((e, returned))
                if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
            {
                let deadline = *deadline.get_or_insert_with(|| Instant::now() + timeout);
                if Instant::now() > deadline {
                    return Err(Send::QueueFull);
                }
                producer.poll(Duration::from_millis(10));
                record = returned;
            }
            Err((e, _)) => return Err(Send::Failed(e)),
        }
    }
}
