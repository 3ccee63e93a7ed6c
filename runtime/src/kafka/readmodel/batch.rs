//! One batch of a projector: records applied as polled into one open transaction, each
//! touched partition's offset row locked and checked, then committed with the new offsets, or
//! rolled back and rewound; bad records stopped at or dead-lettered; transient database
//! failures retried.

use super::*;

impl<E: Event, M: ReadModel<E>> Projector<E, M> {
    /// Applies one batch, starting with `first`, in one transaction, and commits it or rolls it
    /// back.
    pub(super) fn batch<'c>(
        &mut self,
        db: &mut Client,
        books: &Books,
        consumer: &'c BaseConsumer<Watch>,
        first: BorrowedMessage<'c>,
        dead_letters: &Option<BaseProducer>,
        run: &mut Run,
    ) -> Result<Outcome<'c>, ProjectorError> {
        let mut tx = db.transaction().map_err(books.database("beginning a batch"))?;
        let began = Instant::now();
        let mut applied = 0u64;
        let mut message = first;
        let outcome = loop {
            let partition = message.partition();
            if let Some(rewind) = lock(&mut tx, books, run, partition)? {
                break rewind;
            }
            let offset = message.offset();
            match self.take(&mut tx, books, &message, dead_letters, run)? {
                Taken::Applied => {
                    applied += 1;
                    crate::kafka::crash_point("projector.applied");
                }
                Taken::Passed => {}
                Taken::Stop(outcome) => break outcome,
            }
            let part = run.parts.get_mut(&partition).expect("an admitted record's partition");
            part.next = offset + 1;
            if applied as usize >= self.config.batch_records
                || began.elapsed() >= self.config.batch_wait
            {
                break Outcome::Commit;
            }
            match next_admitted(consumer, run)? {
                None => break Outcome::Commit,
                Some(Ok(polled)) => message = polled,
                Some(Err(polled)) => break Outcome::Pending(polled),
            }
        };
        end(tx, books, consumer, run, outcome, applied)
    }

    /// Takes one admitted record into the open batch: applies it; or sends it to the
    /// dead-letter topic, parking its key (a redrive sends a letter that fails again back
    /// there); or, in a redrive, skips a letter whose record was applied already.
    fn take<'c>(
        &mut self,
        tx: &mut Transaction<'_>,
        books: &Books,
        message: &BorrowedMessage<'_>,
        dead_letters: &Option<BaseProducer>,
        run: &mut Run,
    ) -> Result<Taken<'c>, ProjectorError> {
        let (partition, offset) = (message.partition(), message.offset());
        let key = message.key().unwrap_or_default();
        let headers = crate::kafka::record::Headers::of(message.headers());
        // Where the record is in the event topic: here, or where a letter came from.
        let (log_partition, log_offset) = match run.source {
            Source::Log => (partition, offset),
            Source::DeadLetters => match Provenance::read(headers) {
                Some(from) if from.topic == books.log => (from.partition, from.offset),
                _ => (-1, offset),
            },
        };
        // Each `None` when the statement failed transiently: the batch is applied again.
        let row = |tx: &mut Transaction<'_>| {
            let params: [&(dyn postgres::types::ToSql + Sync); 5] =
                [&books.name, &books.version, &books.log, &log_partition, &key];
            let found = tx.query_opt(&books.parked, &params);
            let found =
                found.map(|row| row.map(|row| (row.get::<_, i64>(0), row.get::<_, i64>(1))));
            unless_transient(found, books, "reading a parked key")
        };
        let settle = |tx: &mut Transaction<'_>, letters: i64, action: &'static str| {
            let params: [&(dyn postgres::types::ToSql + Sync); 7] = [
                &books.name,
                &books.version,
                &books.log,
                &log_partition,
                &key,
                &letters,
                &log_offset,
            ];
            unless_transient(tx.execute(&books.settle, &params).map(drop), books, action)
        };
        let retry = || Taken::Stop(Outcome::Rewind { forget: None });
        // A key with dead letters outstanding: this record goes behind them, unapplied.
        let mut behind = false;
        let mut outstanding = None;
        match run.source {
            Source::Log => {
                if run.parked.get(&partition).is_some_and(|keys| keys.contains(key)) {
                    let Some(found) = row(tx)? else { return Ok(retry()) };
                    match found {
                        Some((letters, _)) if letters > 0 => behind = true,
                        _ => {
                            // Its letters were applied by a redrive meanwhile: this record is
                            // applied, and a stray copy of its letter is a duplicate then.
                            if settle(tx, 0, "unparking a key")?.is_none() {
                                return Ok(retry());
                            }
                            if let Some(keys) = run.parked.get_mut(&partition) {
                                keys.remove(key);
                            }
                            run.undo.push(Undo::Unparked(partition, key.to_vec()));
                        }
                    }
                }
            }
            Source::DeadLetters => {
                let Some(found) = row(tx)? else { return Ok(retry()) };
                if let Some((_, through)) = found
                    && log_offset <= through
                    && log_partition >= 0
                {
                    run.report.duplicates += 1;
                    return Ok(Taken::Passed);
                }
                outstanding = found.map(|(letters, _)| letters);
                behind = run.failed_again.contains(&(log_partition, key.to_vec()));
            }
        }
        let bad = if behind {
            Some((message.payload().and_then(crate::kafka::record::frame_id), RecordError::Parked))
        } else {
            let position = Position {
                topic: &books.log,
                partition: log_partition,
                offset: log_offset,
                key: message.key(),
                timestamp: message.timestamp().to_millis(),
                headers,
            };
            let quarantined = run.quarantine.remove(&(partition, offset));
            match message.payload() {
                None => Some((None, RecordError::Tombstone)),
                Some(bytes) if let Some(refusal) = quarantined => {
                    Some((crate::kafka::record::frame_id(bytes), RecordError::Refused(refusal)))
                }
                Some(bytes) => match self.decoder.decode(bytes) {
                    Err(e) => Some((e.schema_id(), RecordError::Decode(e))),
                    Ok(event) => match self.model.apply(tx, event, &position) {
                        Ok(()) => None,
                        Err(e) if transient_apply(&*e) => return Ok(retry()),
                        // The transaction may be aborted: roll back, and treat the record as
                        // bad when it comes round again.
                        Err(e) => {
                            tracing::warn!(partition, offset, error = %crate::error::Chain(&*e), "apply refused a record; rolling the batch back");
                            run.quarantine.insert((partition, offset), e);
                            return Ok(Taken::Stop(Outcome::Rewind { forget: None }));
                        }
                    },
                },
            }
        };
        let Some((schema_id, source)) = bad else {
            run.breaker.record(false, self.config.breaker);
            if let Some(letters) = outstanding
                && settle(tx, i64::from(letters > 0), "counting a dead letter applied")?.is_none()
            {
                return Ok(retry());
            }
            return Ok(Taken::Applied);
        };
        let failed =
            FailedRecord { topic: books.topic.clone(), partition, offset, schema_id, source };
        if dead_letters.is_none() || failed.source.is_unavailable() {
            return Ok(Taken::Stop(Outcome::CommitThenFail(ProjectorError::Record(failed))));
        }
        // The breaker counts every record bound for the dead-letter topic, parked ones too.
        if run.breaker.record(true, self.config.breaker) {
            let breaker = self.config.breaker.unwrap_or_default();
            return Ok(Taken::Stop(Outcome::CommitThenFail(ProjectorError::Breaker {
                name: books.name.to_owned(),
                version: books.version as u32,
                window: breaker.window,
                max_failed: breaker.max_failed,
                last: failed,
            })));
        }
        let FailedRecord { schema_id, source, .. } = failed;
        let parked = matches!(source, RecordError::Parked);
        self.send_letter(tx, books, message, dead_letters, schema_id, &source, run)?;
        if let RecordError::Refused(refusal) = source {
            run.undo.push(Undo::Quarantined((partition, offset), refusal));
        }
        if parked {
            run.report.parked += 1;
        } else if run.source == Source::DeadLetters {
            run.failed_again.insert((log_partition, key.to_vec()));
            run.undo.push(Undo::FailedAgain(log_partition, key.to_vec()));
        }
        Ok(Taken::Passed)
    }

    /// Sends `message` to the dead-letter topic (a letter handed back: back there, its
    /// provenance kept) and waits for the acknowledgement; from the event topic, counts one
    /// more letter of its key, parking it.
    #[allow(clippy::too_many_arguments)]
    fn send_letter(
        &self,
        tx: &mut Transaction<'_>,
        books: &Books,
        message: &BorrowedMessage<'_>,
        dead_letters: &Option<BaseProducer>,
        schema_id: Option<u32>,
        source: &RecordError,
        run: &mut Run,
    ) -> Result<(), ProjectorError> {
        let (Some(producer), Some(dlt)) = (dead_letters, &self.config.dead_letter_topic) else {
            unreachable!("letters are sent only with a dead-letter topic");
        };
        let (partition, offset) = (message.partition(), message.offset());
        match run.source {
            Source::Log => {
                crate::kafka::record::dead_letter(producer, dlt, message, schema_id, source)?;
            }
            Source::DeadLetters => {
                crate::kafka::record::dead_letter_again(producer, dlt, message, source)?;
            }
        }
        producer.flush(self.config.timeout).map_err(failed("delivering a dead letter"))?;
        tracing::warn!(partition, offset, %source, "record sent to the dead-letter topic");
        crate::kafka::crash_point("projector.lettered");
        run.report.dead_lettered += 1;
        if run.source == Source::Log {
            let key = message.key().unwrap_or_default();
            let params: [&(dyn postgres::types::ToSql + Sync); 5] =
                [&books.name, &books.version, &books.log, &partition, &key];
            tx.execute(&books.park, &params).map_err(books.database("parking a key"))?;
            if run.parked.entry(partition).or_default().insert(key.to_vec()) {
                run.undo.push(Undo::Parked(partition, key.to_vec()));
            }
        }
        Ok(())
    }
}

/// What became of one record in a batch.
enum Taken<'c> {
    /// Applied.
    Applied,
    /// Dead-lettered, parked, or (a duplicate letter) skipped: the batch moves past it.
    Passed,
    /// The batch ends here.
    Stop(Outcome<'c>),
}

/// The first record of `partition` in a batch locks its offset row and checks that it still
/// holds the offset this instance read: `Some` rewind when it does not (another instance moved
/// the partition on) or the lock hit a transient failure.
fn lock<'c>(
    tx: &mut Transaction<'_>,
    books: &Books,
    run: &mut Run,
    partition: i32,
) -> Result<Option<Outcome<'c>>, ProjectorError> {
    let part = run.parts.get_mut(&partition).expect("an admitted record's partition");
    if part.locked {
        return Ok(None);
    }
    let row = tx
        .query_one(&books.lock, &[&books.name, &books.version, &books.topic, &partition])
        .map_err(books.database("locking a partition's offset"));
    let stored: i64 = match row {
        Ok(row) => row.get(0),
        Err(e) if transient(&e) => {
            return Ok(Some(Outcome::Rewind { forget: None }));
        }
        Err(e) => return Err(e),
    };
    if stored != part.committed {
        tracing::info!(
            partition,
            stored,
            held = part.committed,
            "another instance moved the partition on; re-reading it"
        );
        return Ok(Some(Outcome::Rewind { forget: Some(partition) }));
    }
    part.locked = true;
    Ok(None)
}

/// The next record a batch can take (`Ok`), or one it cannot take yet (`Err`: a rebalance
/// took partitions, or its partition is not loaded); `None` when nothing arrived. Skipped ones
/// (before a partition's stored offset, or ahead of a seek) are polled past.
#[allow(clippy::type_complexity)]
fn next_admitted<'c>(
    consumer: &'c BaseConsumer<Watch>,
    run: &mut Run,
) -> Result<Option<Result<BorrowedMessage<'c>, BorrowedMessage<'c>>>, ProjectorError> {
    loop {
        let Some(polled) = consumer.poll(Duration::from_millis(10)) else {
            return Ok(None);
        };
        let polled = polled.map_err(failed("consuming"))?;
        if consumer.context().any.load(Ordering::Acquire) {
            return Ok(Some(Err(polled)));
        }
        match run.admit(consumer, &polled)? {
            Admission::Apply => return Ok(Some(Ok(polled))),
            Admission::Skip => continue,
            Admission::Load => return Ok(Some(Err(polled))),
        }
    }
}

/// Ends a batch as `outcome` says: rolled back and rewound, or committed with each locked
/// partition's next offset (a transient failure of the commit rewinds instead).
fn end<'c>(
    mut tx: Transaction<'_>,
    books: &Books,
    consumer: &BaseConsumer<Watch>,
    run: &mut Run,
    outcome: Outcome<'c>,
    applied: u64,
) -> Result<Outcome<'c>, ProjectorError> {
    match outcome {
        Outcome::Rewind { forget } => {
            tx.rollback().map_err(books.database("rolling a batch back"))?;
            run.undo_batch();
            run.report.retried += 1;
            run.rewind(consumer, &books.topic, forget);
            Ok(Outcome::Commit)
        }
        Outcome::Commit | Outcome::Pending(_) | Outcome::CommitThenFail(_) => {
            let mut stored = TopicPartitionList::new();
            for (&partition, part) in run.parts.iter().filter(|(_, p)| p.locked) {
                let params: [&(dyn postgres::types::ToSql + Sync); 5] =
                    [&part.next, &books.name, &books.version, &books.topic, &partition];
                tx.execute(&books.store, &params).map_err(books.database("storing offsets"))?;
                let _ =
                    stored.add_partition_offset(&books.topic, partition, Offset::Offset(part.next));
            }
            match tx.commit() {
                Ok(()) => {}
                Err(e) if is_transient(&e) => {
                    run.undo_batch();
                    run.report.retried += 1;
                    run.rewind(consumer, &books.topic, None);
                    return Ok(Outcome::Commit);
                }
                Err(e) => return Err(books.database("committing a batch")(e)),
            }
            crate::kafka::crash_point("projector.committed");
            run.undo.clear();
            for part in run.parts.values_mut().filter(|p| p.locked) {
                part.committed = part.next;
                part.locked = false;
            }
            run.report.applied += applied;
            if stored.count() > 0 {
                // For monitoring tools only; the stored offsets decide.
                let _ = consumer.commit(&stored, CommitMode::Async);
            }
            match outcome {
                Outcome::CommitThenFail(e) => Err(e),
                other => Ok(other),
            }
        }
    }
}

/// A statement's result in a batch: `Ok(None)` when it failed transiently (the batch is rolled
/// back and applied again), the error naming `action` when it failed otherwise.
fn unless_transient<T>(
    result: Result<T, postgres::Error>,
    books: &Books,
    action: &'static str,
) -> Result<Option<T>, ProjectorError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if is_transient(&e) => Ok(None),
        Err(e) => Err(books.database(action)(e)),
    }
}

/// Whether a database error is worth a retry: a deadlock or a serialization failure.
pub(super) fn transient(e: &ProjectorError) -> bool {
    match e {
        ProjectorError::Database { source, .. } => is_transient(source),
        _ => false,
    }
}

pub(super) fn is_transient(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// Whether an error of `apply` comes from a transient database failure.
pub(super) fn transient_apply(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = current {
        if let Some(pg) = error.downcast_ref::<postgres::Error>() {
            return is_transient(pg);
        }
        current = error.source();
    }
    false
}
