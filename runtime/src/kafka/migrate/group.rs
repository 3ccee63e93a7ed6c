//! A migration in a consumer group: the source consumer's context resumes assigned partitions from the target's tail and delivers everything of a revoked partition before letting it go.

use super::*;
use crate::kafka::error::failed;

/// Fails with the producer's first failure, if any.
pub(super) fn delivered(producer: &MigrationProducer) -> Result<(), MigrateError> {
    producer.context().check()
}

/// What a rebalance changed, for the migration loop to apply after its poll.
pub(super) enum Change {
    Assigned(Vec<Resume>),
    /// Partitions revoked (their records flushed); `reassigned`: an assignment follows (the
    /// eager protocol revokes everything first).
    Revoked {
        partitions: Vec<i32>,
        reassigned: bool,
    },
    Failed(MigrateError),
}

/// The source consumer's context. In a consumer group it resumes each assigned partition from
/// the target's tail, and delivers every record of a revoked partition before letting it go,
/// so that the next owner reads a complete tail.
pub(super) struct Membership {
    pub(super) config: MigrateConfig,
    pub(super) producer: Arc<MigrationProducer>,
    pub(super) pipe: Arc<Pipe>,
    pub(super) changes: Mutex<Vec<Change>>,
    pub(super) changed: AtomicBool,
}

impl Membership {
    pub(super) fn push(&self, change: Change) {
        self.changes.lock().unwrap_or_else(PoisonError::into_inner).push(change);
        self.changed.store(true, Ordering::Release);
    }

    pub(super) fn take(&self) -> Vec<Change> {
        if !self.changed.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ClientContext for Membership {}

impl ConsumerContext for Membership {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        assignment: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let partitions: Vec<i32> = assignment
            .elements_for_topic(&self.config.from)
            .iter()
            .map(|e| e.partition())
            .collect();
        let done = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let points = resume_points(&self.config, &partitions).and_then(|points| {
                    for point in &points {
                        assignment
                            .set_partition_offset(
                                &self.config.from,
                                point.partition,
                                Offset::Offset(point.next),
                            )
                            .map_err(failed("assigning"))?;
                    }
                    Ok(points)
                });
                match points {
                    Ok(points) => {
                        self.push(Change::Assigned(points));
                        if cooperative {
                            consumer.incremental_assign(assignment)
                        } else {
                            consumer.assign(assignment)
                        }
                    }
                    Err(e) => {
                        self.push(Change::Failed(e));
                        consumer.assign(&TopicPartitionList::new())
                    }
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let flushed = self.pipe.drain().and_then(|()| {
                    self.producer
                        .flush(self.config.timeout)
                        .map_err(failed("delivering the records of revoked partitions"))?;
                    delivered(&self.producer)
                });
                if let Err(e) = flushed {
                    self.push(Change::Failed(e));
                }
                self.push(Change::Revoked { partitions, reassigned: !cooperative });
                if cooperative {
                    consumer.incremental_unassign(assignment)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                let code: RDKafkaErrorCode = other.into();
                let e = rdkafka::error::KafkaError::Rebalance(code);
                self.push(Change::Failed(failed("rebalancing")(e).into()));
                consumer.unassign()
            }
        };
        if let Err(e) = done {
            self.push(Change::Failed(failed("rebalancing")(e).into()));
        }
    }
}
