//! The projector's run: the consumer set up, each partition loaded from its stored offset,
//! batches applied one after another (`batch.rs`), partitions a rebalance took forgotten,
//! progress and lag reported, and the version switched once caught up.

use super::*;

impl<E: Event, M: ReadModel<E>> Projector<E, M> {
    /// A projector of `model`, reading writer schemas from `source`.
    pub fn new(
        config: ProjectorConfig,
        source: Arc<dyn SchemaSource>,
        model: M,
    ) -> Result<Self, ProjectorError> {
        validate_name(M::NAME)?;
        if M::VERSION == 0 {
            return Err(ProjectorError::VersionZero { name: M::NAME.to_owned() });
        }
        let topic = config.topic.clone().unwrap_or_else(|| E::TOPIC.to_owned());
        // Outside a group, the id only names the offsets written for monitoring tools.
        let group = config
            .group
            .clone()
            .unwrap_or_else(|| format!("strata-readmodel-{}-v{}", M::NAME, M::VERSION));
        Ok(Projector { config, topic, group, decoder: Decoder::new(source)?, model })
    }

    /// The read model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Registers the version (creating its tables the first time), then applies the topic
    /// into it until the callback returns `false` (follow) or every partition is applied
    /// (catch-up); switches readers to this version once it is caught up.
    pub fn run(
        &mut self,
        db: &mut Client,
        on_progress: OnProgress<'_>,
    ) -> Result<ProjectorReport, ProjectorError> {
        self.project(db, on_progress, Source::Log)
    }

    /// Hands the dead letters this read model sent back to it, once their cause is fixed (an
    /// upgrade function, a schema, a bug in `apply`): reads the dead-letter topic up to its
    /// end offsets at start and applies each letter exactly once, in its key's order, with the
    /// position of its original record; the dead-letter topic's offsets are stored in the same
    /// transactions, so a crash or a rerun never applies one twice (a copy a rolled-back batch
    /// sent again is skipped). A key whose letters are all applied is unparked: its next
    /// records are applied as they come. A letter that fails again goes back to the
    /// dead-letter topic, its key's later letters behind it, for the next redrive. The event
    /// topic is never written.
    pub fn redrive(
        &mut self,
        db: &mut Client,
        on_progress: OnProgress<'_>,
    ) -> Result<ProjectorReport, ProjectorError> {
        if self.config.dead_letter_topic.is_none() {
            return Err(ProjectorError::NoDeadLetterTopic {
                name: M::NAME.to_owned(),
                version: M::VERSION,
            });
        }
        self.project(db, on_progress, Source::DeadLetters)
    }

    /// [`Projector::run`] over the event topic, or [`Projector::redrive`] over the dead letters.
    fn project(
        &mut self,
        db: &mut Client,
        on_progress: OnProgress<'_>,
        source: Source,
    ) -> Result<ProjectorReport, ProjectorError> {
        let span = tracing::info_span!("projector", name = M::NAME, version = M::VERSION, topic = %self.topic, ?source);
        let _entered = span.enter();
        let mut books = register(db, &mut self.model, M::NAME, M::VERSION, &self.topic)?;
        let (mode, group) = match (source, &self.config.dead_letter_topic) {
            (Source::DeadLetters, Some(dlt)) => {
                books.topic = dlt.clone();
                (Mode::CatchUp, format!("{}-redrive", self.group))
            }
            _ => (self.config.mode, self.group.clone()),
        };
        let in_group = self.config.group.is_some() && source == Source::Log;
        // The connection's tables are the version's: `prepare` and `apply` name them unqualified.
        db.batch_execute(&format!("SET search_path TO \"{}\"", version_schema(&books)))
            .map_err(books.database("setting the search path"))?;
        self.model.prepare(db).map_err(|source| ProjectorError::Prepare {
            name: M::NAME.to_owned(),
            version: M::VERSION,
            source,
        })?;

        let stats_every = self.config.progress_every.as_millis().clamp(100, 60_000).to_string();
        let settings = [
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("group.id", group.as_str()),
            ("statistics.interval.ms", stats_every.as_str()),
        ];
        let context = Watch {
            topic: books.topic.clone(),
            any: AtomicBool::new(false),
            partitions: Mutex::new(Vec::new()),
            highs: Mutex::new(BTreeMap::new()),
        };

        let consumer: BaseConsumer<Watch> =
            crate::kafka::client(&self.config.brokers, &settings, &self.config.kafka)
                .create_with_context(context)
                .map_err(failed("creating the consumer"))?;
        let topic = books.topic.clone();
        let partitions = crate::kafka::partitions(&consumer, &topic, self.config.timeout)
            .map_err(failed("reading the topic's metadata"))?;
        if partitions.is_empty() {
            return Err(ProjectorError::MissingTopic { topic });
        }
        // Read once: the first offsets (where a new partition's stored offset starts) and, in
        // catch-up, the ends to reach.
        let watermarks = self.watermarks(&consumer, &partitions)?;
        let ends = (mode == Mode::CatchUp).then(|| watermarks.clone());
        let dead_letters = match &self.config.dead_letter_topic {
            Some(_) => Some(
                crate::kafka::client(
                    &self.config.brokers,
                    &[("enable.idempotence", "true")],
                    &self.config.kafka,
                )
                .create::<BaseProducer>()
                .map_err(failed("creating the dead-letter producer"))?,
            ),
            None => None,
        };

        let mut run = Run {
            parts: HashMap::new(),
            quarantine: HashMap::new(),
            report: ProjectorReport::default(),
            started: Instant::now(),
            source,
            ends: ends.iter().flatten().map(|(&p, &(_, high))| (p, high)).collect(),
            parked: HashMap::new(),
            failed_again: HashSet::new(),
            undo: Vec::new(),
            breaker: Window::default(),
        };
        if in_group {
            // Partitions are loaded as their first records arrive.
            consumer.subscribe(&[&topic]).map_err(failed("joining the consumer group"))?;
        } else {
            let mut assignment = TopicPartitionList::new();
            for (&partition, &(low, _)) in &watermarks {
                let next = self.load(db, &books, partition, low, &mut run)?;
                assignment
                    .add_partition_offset(&topic, partition, Offset::Offset(next))
                    .map_err(failed("assigning partitions"))?;
            }
            consumer.assign(&assignment).map_err(failed("assigning partitions"))?;
        }
        // A batch's worth of work is far above a clock read's cost: one read per loop.
        let mut last_tick = Instant::now();
        let mut pending: Option<BorrowedMessage<'_>> = None;
        let mut idle = false;
        let mut state = self.check_state(db, &books, &consumer, &partitions, &mut run, false)?;
        loop {
            let tick = last_tick.elapsed() >= self.config.progress_every;
            if tick {
                last_tick = Instant::now();
            }
            if tick || (idle && ends.is_some()) {
                state = self.check_state(db, &books, &consumer, &partitions, &mut run, idle)?;
                if let Some(ends) = &ends
                    && lag(&stored_offsets(db, &books)?, ends) == 0
                {
                    break;
                }
            }
            if tick {
                let progress = self.progress(db, &books, &consumer, &run, state)?;
                if !on_progress(&progress) {
                    break;
                }
            }
            let message = match pending.take() {
                Some(message) => message,
                None => match consumer.poll(Duration::from_millis(100)) {
                    None => {
                        idle = true;
                        continue;
                    }
                    Some(polled) => polled.map_err(failed("consuming"))?,
                },
            };
            idle = false;
            self.forget_revoked(&consumer, &mut run);
            match run.admit(&consumer, &message)? {
                Admission::Skip => continue,
                Admission::Apply => {}
                Admission::Load => {
                    let partition = message.partition();
                    let (low, _) = self.watermark(&consumer, partition)?;
                    self.load(db, &books, partition, low, &mut run)?;
                    pending = Some(message);
                    continue;
                }
            }
            let outcome = self.batch(db, &books, &consumer, message, &dead_letters, &mut run)?;
            if let Outcome::Pending(message) = outcome {
                pending = Some(message);
            }
        }
        // Nothing is open here: every batch ends committed or rolled back.
        state = self.check_state(db, &books, &consumer, &partitions, &mut run, true)?;
        on_progress(&self.progress(db, &books, &consumer, &run, state)?);
        run.report.serving = state == VersionState::Serving;
        tracing::info!(applied = run.report.applied, "projector stopped");
        Ok(run.report)
    }

    /// Drops what this instance held of partitions the group took from it.
    fn forget_revoked(&self, consumer: &BaseConsumer<Watch>, run: &mut Run) {
        let context = consumer.context();
        if context.any.swap(false, Ordering::AcqRel) {
            let revoked =
                std::mem::take(&mut *context.partitions.lock().unwrap_or_else(|e| e.into_inner()));
            for partition in revoked {
                run.parts.remove(&partition);
                run.parked.remove(&partition);
                tracing::debug!(partition, "partition revoked");
            }
        }
    }

    /// Reads (or creates, at the partition's first offset `low`) the stored offset of a
    /// partition this instance now holds.
    fn load(
        &self,
        db: &mut Client,
        books: &Books,
        partition: i32,
        low: i64,
        run: &mut Run,
    ) -> Result<i64, ProjectorError> {
        db.execute(
            "INSERT INTO strata.read_model_offsets (name, version, topic, partition, next_offset) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&books.name, &books.version, &books.topic, &partition, &low],
        )
        .map_err(books.database("creating a partition's offset"))?;
        let stored: i64 = db
            .query_one(
                "SELECT next_offset FROM strata.read_model_offsets \
                 WHERE name = $1 AND version = $2 AND topic = $3 AND partition = $4",
                &[&books.name, &books.version, &books.topic, &partition],
            )
            .map_err(books.database("reading a partition's offset"))?
            .get(0);
        if stored < low {
            return Err(ProjectorError::Gap {
                name: books.name.to_owned(),
                version: books.version as u32,
                topic: books.topic.clone(),
                partition,
                stored,
                low,
            });
        }
        if run.source == Source::Log {
            run.parked.insert(partition, parked_keys(db, books, partition)?);
        }
        tracing::debug!(partition, stored, "partition loaded");
        run.parts.insert(
            partition,
            Part { committed: stored, next: stored, sought: false, locked: false },
        );
        Ok(stored)
    }

    /// The first offset and the high watermark of each partition.
    fn watermarks(
        &self,
        consumer: &BaseConsumer<Watch>,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, (i64, i64)>, ProjectorError> {
        partitions.iter().map(|&p| Ok((p, self.watermark(consumer, p)?))).collect()
    }

    /// The first offset and the high watermark of `partition` (a broker request).
    fn watermark(
        &self,
        consumer: &BaseConsumer<Watch>,
        partition: i32,
    ) -> Result<(i64, i64), ProjectorError> {
        let topic = &consumer.context().topic;
        consumer.fetch_watermarks(topic, partition, self.config.timeout).map_err(|e| {
            let e = ClientError::new("reading the partition's offsets", e);
            ProjectorError::Kafka(e.at(topic, Some(partition)))
        })
    }

    /// The version's state, taking over from the serving version when this one is building
    /// and caught up; a retired version stops the run. Whether every partition is caught up
    /// (a broker request per partition) is asked only when this instance's own partitions are,
    /// or it has nothing to read (`idle`).
    fn check_state(
        &self,
        db: &mut Client,
        books: &Books,
        consumer: &BaseConsumer<Watch>,
        partitions: &[i32],
        run: &mut Run,
        idle: bool,
    ) -> Result<VersionState, ProjectorError> {
        let state = version_state(db, books)?;
        match state {
            VersionState::Serving => Ok(state),
            VersionState::Retired => Err(ProjectorError::Superseded {
                name: books.name.to_owned(),
                version: books.version as u32,
                serving: serving_version(db, books)?.unwrap_or(0),
            }),
            // Dead letters handed back say nothing of whether the version is caught up.
            VersionState::Building if run.source == Source::DeadLetters => Ok(state),
            VersionState::Building => {
                let own_caught_up =
                    run.lag(consumer.context()).is_some_and(|lag| lag <= self.config.switch_at_lag);
                if !idle && !own_caught_up {
                    return Ok(state);
                }
                let ends = self.watermarks(consumer, partitions)?;
                let lag = lag(&stored_offsets(db, books)?, &ends);
                if lag > self.config.switch_at_lag {
                    return Ok(state);
                }
                if switch(db, books)? {
                    run.report.switched = true;
                    tracing::info!(lag, "this version serves readers now");
                }
                version_state(db, books)
            }
        }
    }

    /// The metrics: lag of every partition the instance holds (assigned, whether or not a
    /// record of it arrived yet), from the stored offsets and the last known high watermarks.
    fn progress(
        &self,
        db: &mut Client,
        books: &Books,
        consumer: &BaseConsumer<Watch>,
        run: &Run,
        state: VersionState,
    ) -> Result<ProjectorProgress, ProjectorError> {
        let assigned = consumer.assignment().map_err(failed("reading the assignment"))?;
        let stored = stored_offsets(db, books)?;
        let highs = consumer.context().highs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let lag_by_partition: BTreeMap<i32, i64> = assigned
            .elements_for_topic(&consumer.context().topic)
            .iter()
            .map(|element| {
                let partition = element.partition();
                let next = run.parts.get(&partition).map(|p| p.committed);
                let next = next.or_else(|| stored.get(&partition).copied()).unwrap_or(0);
                let high = highs.get(&partition).copied().unwrap_or(next);
                (partition, (high - next).max(0))
            })
            .collect();
        Ok(ProjectorProgress {
            applied: run.report.applied,
            rate: crate::kafka::rate(run.report.applied, run.started),
            lag: lag_by_partition.values().sum(),
            lag_by_partition,
            dead_lettered: run.report.dead_lettered,
            retried: run.report.retried,
            serving: state == VersionState::Serving,
        })
    }
}

impl Run {
    /// Undoes the memory changes of a batch that rolled back.
    pub(super) fn undo_batch(&mut self) {
        for change in self.undo.drain(..).rev() {
            match change {
                Undo::Parked(partition, key) => {
                    if let Some(keys) = self.parked.get_mut(&partition) {
                        keys.remove(&key);
                    }
                }
                Undo::Unparked(partition, key) => {
                    self.parked.entry(partition).or_default().insert(key);
                }
                Undo::FailedAgain(partition, key) => {
                    self.failed_again.remove(&(partition, key));
                }
                Undo::Quarantined(at, refusal) => {
                    self.quarantine.insert(at, refusal);
                }
            }
        }
    }

    /// The loaded partitions' lag behind their last known high watermarks, summed; `None`
    /// while any is unknown (librdkafka's statistics know a partition once it fetched from it).
    fn lag(&self, watch: &Watch) -> Option<i64> {
        let highs = watch.highs.lock().unwrap_or_else(|e| e.into_inner());
        self.parts
            .iter()
            .map(|(partition, part)| {
                highs.get(partition).map(|high| (high - part.committed).max(0))
            })
            .sum()
    }

    /// Where `message` stands; seeks back when it is past the partition's next offset.
    pub(super) fn admit(
        &mut self,
        consumer: &BaseConsumer<Watch>,
        message: &BorrowedMessage<'_>,
    ) -> Result<Admission, ProjectorError> {
        let Some(part) = self.parts.get_mut(&message.partition()) else {
            return Ok(Admission::Load);
        };
        let offset = message.offset();
        // A redrive takes the letters there were when it started, not those it sends back.
        if self.source == Source::DeadLetters
            && self.ends.get(&message.partition()).is_some_and(|&end| offset >= end)
        {
            return Ok(Admission::Skip);
        }
        if offset == part.next || (part.sought && offset > part.next) {
            part.sought = false;
            return Ok(Admission::Apply);
        }
        if offset > part.next {
            // Past the stored offset: the group's start (Kafka's commit) is ahead of it.
            seek(consumer, message.topic(), message.partition(), part.next)?;
            part.sought = true;
        }
        Ok(Admission::Skip)
    }

    /// After a rollback: every partition the batch touched goes back to its stored offset;
    /// `forget`: a partition whose stored offset moved, re-read before its next record.
    pub(super) fn rewind(
        &mut self,
        consumer: &BaseConsumer<Watch>,
        topic: &str,
        forget: Option<i32>,
    ) {
        let mut unsought = Vec::new();
        for (&partition, part) in self.parts.iter_mut() {
            if part.next != part.committed || part.locked || Some(partition) == forget {
                part.next = part.committed;
                part.locked = false;
                part.sought = true;
                if let Err(e) = seek(consumer, topic, partition, part.next) {
                    // Taken from this instance meanwhile, most likely. Forgotten, a partition
                    // is reloaded by its next record, and one past the stored offset is sought
                    // back then (`admit`), so nothing is skipped.
                    tracing::warn!(partition, error = %crate::error::Chain(&e), "seek after a rollback failed");
                    unsought.push(partition);
                }
            }
        }
        // A partition whose stored offset moved is read again from its stored offset once
        // reloaded: the seek above makes its next record arrive for the load.
        for partition in unsought.into_iter().chain(forget) {
            self.parts.remove(&partition);
        }
    }
}

pub(super) fn seek(
    consumer: &BaseConsumer<Watch>,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<(), ProjectorError> {
    consumer.seek(topic, partition, Offset::Offset(offset), Duration::from_secs(10)).map_err(|e| {
        ProjectorError::Kafka(
            ClientError::new("seeking to the stored offset", e)
                .at(topic, Some(partition))
                .at_offset(Some(offset)),
        )
    })
}
