//! The target topic: created with the source's partition count, replication factor and own settings, or checked to fit.

use super::*;
use crate::kafka::error::failed;

/// Creates the target with the source's partition count, or checks the existing one has it.
pub(super) fn prepare_target(config: &MigrateConfig, source: &[i32]) -> Result<(), MigrateError> {
    let consumer: BaseConsumer = config.client().create().map_err(failed("creating a consumer"))?;
    match partitions(&consumer, &config.to, config.timeout)? {
        Some(target) if target.len() == source.len() => Ok(()),
        Some(target) => Err(MigrateError::PartitionCountMismatch {
            source_topic: config.from.clone(),
            source_partitions: source.len(),
            target: config.to.clone(),
            target_partitions: target.len(),
        }),
        None => {
            let admin: AdminClient<DefaultClientContext> =
                config.client().create().map_err(failed("creating the admin client"))?;
            let options = AdminOptions::new().operation_timeout(Some(config.timeout));
            let carried = carried_settings(config, &admin, &options)?;
            let replicas = source_replicas(&consumer, config)?;
            let mut topic =
                NewTopic::new(&config.to, source.len() as i32, TopicReplication::Fixed(replicas));
            for (name, value) in &carried {
                topic = topic.set(name, value);
            }
            for result in futures_executor::block_on(admin.create_topics([&topic], &options))
                .map_err(failed("creating the target"))?
            {
                result.map_err(|(t, code)| {
                    let e = rdkafka::error::KafkaError::AdminOp(code);
                    MigrateError::Kafka(
                        crate::kafka::ClientError::new("creating the target", e).at(&t, None),
                    )
                })?;
            }
            Ok(())
        }
    }
}

/// Topic settings a target created for the source takes from it (where set on the source):
/// what the topic keeps, what it accepts and how it stamps records.
pub(super) const CARRIED: [&str; 9] = [
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "delete.retention.ms",
    "min.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "min.insync.replicas",
    "compression.type",
];

/// The source's own values of the [`CARRIED`] settings.
pub(super) fn carried_settings(
    config: &MigrateConfig,
    admin: &AdminClient<DefaultClientContext>,
    options: &AdminOptions,
) -> Result<Vec<(String, String)>, MigrateError> {
    let source = ResourceSpecifier::Topic(&config.from);
    let described = futures_executor::block_on(admin.describe_configs([&source], options))
        .map_err(failed("reading the source's settings"))?;
    let mut carried = Vec::new();
    for resource in described {
        let resource = resource.map_err(|code| {
            let e = rdkafka::error::KafkaError::AdminOp(code);
            let e = crate::kafka::ClientError::new("reading the source's settings", e);
            MigrateError::Kafka(e.at(&config.from, None))
        })?;
        for entry in resource.entries {
            let own = matches!(entry.source, ConfigSource::DynamicTopic) && !entry.is_default;
            if let (true, Some(value)) =
                (own && CARRIED.contains(&entry.name.as_str()), entry.value)
            {
                carried.push((entry.name, value));
            }
        }
    }
    Ok(carried)
}

/// The source's replication factor (that of its first partition).
pub(super) fn source_replicas(
    consumer: &BaseConsumer,
    config: &MigrateConfig,
) -> Result<i32, MigrateError> {
    let metadata = consumer
        .fetch_metadata(Some(&config.from), config.timeout)
        .map_err(failed("reading the source's metadata"))?;
    let replicas = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == config.from)
        .flat_map(|t| t.partitions().iter().map(|p| p.replicas().len()))
        .next()
        .unwrap_or(0);
    match i32::try_from(replicas) {
        Ok(replicas) if replicas > 0 => Ok(replicas),
        _ => Err(MigrateError::NoReplicas { topic: config.from.clone() }),
    }
}
