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
            let position = Position {
                topic: &books.topic,
                partition,
                offset,
                key: message.key(),
                timestamp: message.timestamp().to_millis(),
                headers: crate::kafka::record::Headers::of(message.headers()),
            };
            let quarantined = run.quarantine == Some((partition, offset));
            let refused = match message.payload() {
                None => Some((None, RecordError::Tombstone)),
                Some(_) if quarantined => None,
                Some(bytes) => match self.decoder.decode(bytes) {
                    Err(e) => Some((e.schema_id(), RecordError::Decode(e))),
                    Ok(event) => match self.model.apply(&mut tx, event, &position) {
                        Ok(()) => None,
                        Err(e) if transient_apply(&*e) => {
                            break Outcome::Rewind { quarantine: None, forget: None };
                        }
                        // The transaction may be aborted: roll back, and treat the record as
                        // bad when it comes round again.
                        Err(e) => {
                            tracing::warn!(partition, offset, error = %crate::error::Chain(&*e), "apply refused a record; rolling the batch back");
                            run.last_refusal = Some(e);
                            break Outcome::Rewind {
                                quarantine: Some((partition, offset)),
                                forget: None,
                            };
                        }
                    },
                },
            };
            let bad = match refused {
                Some(bad) => Some(bad),
                None if quarantined => {
                    let refusal = run.last_refusal.take().unwrap_or_else(|| "refused".into());
                    Some((
                        message.payload().and_then(crate::kafka::record::frame_id),
                        RecordError::Refused(refusal),
                    ))
                }
                None => None,
            };
            if quarantined {
                run.quarantine = None;
            }
            match bad {
                None => applied += 1,
                Some((schema_id, source)) => match (dead_letters, &self.config.dead_letter_topic) {
                    (Some(producer), Some(dlt)) => {
                        crate::kafka::record::dead_letter(
                            producer, dlt, &message, schema_id, &source,
                        )?;
                        producer
                            .flush(self.config.timeout)
                            .map_err(failed("delivering a dead letter"))?;
                        tracing::warn!(partition, offset, %source, "record sent to the dead-letter topic");
                        run.report.dead_lettered += 1;
                    }
                    _ => {
                        break Outcome::CommitThenFail(ProjectorError::Record(FailedRecord {
                            topic: books.topic.clone(),
                            partition,
                            offset,
                            schema_id,
                            source,
                        }));
                    }
                },
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
            return Ok(Some(Outcome::Rewind { quarantine: None, forget: None }));
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
        return Ok(Some(Outcome::Rewind { quarantine: None, forget: Some(partition) }));
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
        Outcome::Rewind { quarantine, forget } => {
            tx.rollback().map_err(books.database("rolling a batch back"))?;
            run.report.retried += 1;
            if quarantine.is_some() {
                run.quarantine = quarantine;
            }
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
                    run.report.retried += 1;
                    run.rewind(consumer, &books.topic, None);
                    return Ok(Outcome::Commit);
                }
                Err(e) => return Err(books.database("committing a batch")(e)),
            }
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
