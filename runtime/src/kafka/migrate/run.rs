//! The migration loop: the reading half (consume, decode, re-encode) on the caller's thread, the writing half on its own (`writer`).

use super::*;
use crate::kafka::error::{failed, failed_at};

/// Migrates every source record up to the end offsets seen at start, resuming after what the
/// target already holds.
pub fn migrate(
    config: &MigrateConfig,
    transcoder: &dyn Transcode,
) -> Result<MigrationReport, MigrateError> {
    migrate_with(config, transcoder, &mut |_| true)
}

/// [`migrate`] reporting progress about every `progress_every`; the callback returns `false` to
/// stop (the way to end a follow migration: `Mode::Follow`).
///
/// With `config.group`, instances sharing the group split the source partitions through
/// Kafka's consumer-group protocol: each resumes every partition it is assigned from the
/// target's tail, and delivers everything it wrote to a partition before giving it up. In
/// catch-up mode an instance stops once the partitions it holds are migrated up to their end
/// offsets when assigned (the others' partitions are theirs to finish).
pub fn migrate_with(
    config: &MigrateConfig,
    transcoder: &dyn Transcode,
    on_progress: &mut dyn FnMut(&Progress) -> bool,
) -> Result<MigrationReport, MigrateError> {
    config.validate()?;
    let producer: Arc<MigrationProducer> = Arc::new(
        config
            .client_with(&[("linger.ms", "5"), ("message.timeout.ms", "0")])
            // What exactly once rests on, whatever the user's settings: an idempotent producer
            // whose failed batch stops it rather than leave a gap behind later records. Records
            // never expire locally (by default): an unreachable broker fails the final flush.
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("enable.gapless.guarantee", "true")
            .create_with_context(Deliveries::new())
            .map_err(failed("creating the producer"))?,
    );
    let (pipe, writer_end) = writer::pipe();
    let pipe = Arc::new(pipe);
    std::thread::scope(|scope| {
        let writer = std::thread::Builder::new()
            .name("strata-migrate-writer".into())
            .spawn_scoped(scope, || writer::write(writer_end, &pipe, &producer, config))
            .map_err(MigrateError::Thread)?;
        let stop = StopWriter(&pipe);
        let result = read(config, transcoder, on_progress, &producer, &pipe);
        if result.is_err() {
            // Best effort: what was read before the failure is written (a rerun resumes after
            // it either way).
            let _ = pipe.drain().map(|()| producer.flush(config.timeout));
        }
        drop(stop);
        if writer.join().is_err() {
            return Err(MigrateError::WriterStopped);
        }
        result
    })
}

/// Stops the writer thread however the reading half ends, a panicking progress callback
/// included (the scope would otherwise wait for the writer forever).
pub(super) struct StopWriter<'a>(&'a Pipe);

impl Drop for StopWriter<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The reading half of [`migrate_with`]: consumes, decodes and re-encodes, hands the records to
/// the writer thread through `pipe`.
pub(super) fn read(
    config: &MigrateConfig,
    transcoder: &dyn Transcode,
    on_progress: &mut dyn FnMut(&Progress) -> bool,
    producer: &Arc<MigrationProducer>,
    pipe: &Arc<Pipe>,
) -> Result<MigrationReport, MigrateError> {
    let membership = Membership {
        config: config.clone(),
        producer: Arc::clone(producer),
        pipe: Arc::clone(pipe),
        changes: Mutex::new(Vec::new()),
        changed: AtomicBool::new(false),
    };
    // Large fetches: a fetch per few records costs the broker and librdkafka's thread more
    // than the records themselves (measured: 60% of a bare copy's rate with these, 42% without).
    let mut client =
        config.client_with(&[("fetch.min.bytes", "500000"), ("fetch.wait.max.ms", "100")]);
    if let Some(group) = &config.group {
        client.set("group.id", group);
    }
    let consumer: BaseConsumer<Membership> =
        client.create_with_context(membership).map_err(failed("creating a consumer"))?;
    let source = partitions(&consumer, &config.from, config.timeout)?
        .ok_or_else(|| missing("source", &config.from))?;
    prepare_target(config, &source)?;
    if config.group.is_some() {
        consumer.subscribe(&[config.from.as_str()]).map_err(failed("joining the group"))?;
    } else {
        let points = resume_points(config, &source)?;
        let mut assignment = TopicPartitionList::new();
        for point in &points {
            assignment
                .add_partition_offset(&config.from, point.partition, Offset::Offset(point.next))
                .map_err(failed("assigning"))?;
        }
        consumer.assign(&assignment).map_err(failed("assigning"))?;
        consumer.context().push(Change::Assigned(points));
    }

    let mut report = MigrationReport::default();
    let mut held = Held::default();
    let mut value = Vec::with_capacity(256);
    let started = Instant::now();
    let mut ticker = crate::kafka::Ticker::new(config.progress_every);
    let mut idle = false;
    loop {
        held.apply(consumer.context().take(), &mut report)?;
        if held.done() && config.mode == Mode::CatchUp {
            break;
        }
        if ticker.due(idle) {
            delivered(producer)?;
            let progress = Progress::of(report.migrated, started, &held.positions, &held.ends);
            if !on_progress(&progress) {
                break;
            }
        }
        let polled = consumer.poll(Duration::from_millis(100));
        idle = polled.is_none();
        let Some(message) = polled else {
            continue;
        };
        let message = message.map_err(failed("consuming"))?;
        let (partition, offset) = (message.partition(), message.offset());
        held.apply(consumer.context().take(), &mut report)?;
        // A record of a partition no longer held, or from before it was resumed: its owner
        // migrates it (after the target's tail).
        let (Some(end), Some(next)) =
            (held.ends.get_mut(&partition), held.positions.get(&partition))
        else {
            continue;
        };
        if offset < *next {
            continue;
        }
        if offset >= *end {
            if !(config.mode == Mode::Follow) {
                held.positions.insert(partition, offset + 1);
                continue;
            }
            *end = offset + 1;
            report.ends.insert(partition, offset + 1);
        }
        let payload = message.payload().unwrap_or_default();
        match transcoder.transcode(payload, &mut value) {
            Ok(()) => {
                let schema_id = crate::wire::split_frame(payload).ok().map(|(id, _)| id);
                pipe.add(&message, Ok((&value, schema_id)))?;
                report.migrated += 1;
            }
            Err(source)
                if config.dead_letter_topic.is_some() && !source.is_source_unavailable() =>
            {
                pipe.add(&message, Err(&crate::error::Chain(&source).to_string()))?;
                report.dead_lettered += 1;
            }
            Err(source) => {
                return Err(MigrateError::Record(crate::kafka::record::FailedRecord {
                    topic: config.from.clone(),
                    partition,
                    offset,
                    schema_id: source.schema_id(),
                    source: crate::kafka::record::RecordError::Decode(source),
                }));
            }
        }
        held.positions.insert(partition, offset + 1);
    }
    pipe.drain()?;
    producer.flush(config.timeout).map_err(failed("delivering the migrated records"))?;
    delivered(producer)?;
    // The offset map: where each partition stands, in both topics.
    let mut stood = held.left;
    stood.extend(held.positions);
    for (partition, next) in stood {
        let (_, high) = consumer
            .fetch_watermarks(&config.to, partition, config.timeout)
            .map_err(failed_at("reading the target's offsets", &config.to, partition))?;
        report.offset_map.insert(partition, OffsetPair { source: next, target: high });
    }
    Ok(report)
}

/// The source partitions an instance holds, and where they stand.
#[derive(Default)]
pub(super) struct Held {
    /// Per held partition: the next source offset to migrate.
    pub(super) positions: BTreeMap<i32, i64>,
    /// Per held partition: the end offset to reach (catch-up), or the highest seen (follow).
    pub(super) ends: BTreeMap<i32, i64>,
    /// Where the partitions given up stood (for the offset map).
    pub(super) left: BTreeMap<i32, i64>,
    /// Whether partitions are assigned (none may be) and no assignment is pending.
    pub(super) assigned: bool,
}

impl Held {
    pub(super) fn apply(
        &mut self,
        changes: Vec<Change>,
        report: &mut MigrationReport,
    ) -> Result<(), MigrateError> {
        for change in changes {
            match change {
                Change::Assigned(points) => {
                    self.assigned = true;
                    for Resume { partition, next, end } in points {
                        self.positions.insert(partition, next);
                        self.ends.insert(partition, end);
                        report.resumed_from.insert(partition, next);
                        report.ends.insert(partition, end);
                    }
                }
                Change::Revoked { partitions, reassigned } => {
                    self.assigned = !reassigned;
                    for partition in partitions {
                        self.ends.remove(&partition);
                        if let Some(next) = self.positions.remove(&partition) {
                            self.left.insert(partition, next);
                        }
                    }
                }
                Change::Failed(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Every held partition migrated up to its end offset.
    pub(super) fn done(&self) -> bool {
        self.assigned && self.positions.iter().all(|(p, next)| *next >= self.ends[p])
    }
}
