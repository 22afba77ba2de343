//! Idempotent topic creation.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use tracing::info;

use crate::{KafkaConfig, KafkaError};

/// A topic hookstream needs, with the settings it is created with.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub config: Vec<(&'static str, String)>,
}

/// The category topics and the webhook log, as configured.
pub fn pipeline_topics(config: &KafkaConfig) -> Vec<TopicSpec> {
    let topics = config.topics();
    let mut specs: Vec<TopicSpec> = topics
        .categories()
        .into_iter()
        .map(|name| TopicSpec {
            name,
            partitions: config.partitions,
            config: vec![("retention.ms", config.category_retention_ms.to_string())],
        })
        .collect();
    specs.push(TopicSpec {
        name: topics.dlq(),
        partitions: 1,
        // One copy per refused record (several followers refuse the same one), kept a while.
        config: vec![
            ("cleanup.policy", "compact,delete".into()),
            ("retention.ms", config.category_retention_ms.to_string()),
        ],
    });
    specs.push(TopicSpec {
        name: topics.attempts(),
        partitions: config.partitions,
        config: vec![("retention.ms", config.attempts_retention_ms.to_string())],
    });
    // Few records: only answers to webhooks that failed lately (DESIGN.md §3.3).
    specs.push(TopicSpec {
        name: topics.acks(),
        partitions: config.partitions,
        config: vec![("retention.ms", config.attempts_retention_ms.to_string())],
    });
    specs.push(TopicSpec {
        name: topics.webhooks(),
        // One partition: the log is totally ordered and webhook ids derive from its offsets.
        partitions: 1,
        config: vec![
            ("cleanup.policy", "delete".into()),
            ("retention.ms", "-1".into()),
            ("retention.bytes", "-1".into()),
        ],
    });
    specs
}

/// The retry tier topics, one per schedule entry, kept well past their longest wait, and the
/// immediate tier `hookstream.replay`.
pub fn retry_topics(config: &KafkaConfig, tiers: &[String], delays_ms: &[u64]) -> Vec<TopicSpec> {
    let topics = config.topics();
    let longest = delays_ms.iter().copied().max().unwrap_or(0) as i64;
    let retention = (7 * 24 * 3600 * 1000_i64).max(longest.saturating_mul(4));
    tiers
        .iter()
        .map(|tier| topics.retry(tier))
        .chain([topics.replay()])
        .map(|name| TopicSpec {
            name,
            partitions: config.partitions,
            config: vec![("retention.ms", retention.to_string())],
        })
        .collect()
}

/// Creates every topic in `specs` that does not exist yet; existing topics are left as they are.
pub async fn ensure_topics(config: &KafkaConfig, specs: &[TopicSpec]) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = config
        .client_config()
        .create()
        .map_err(KafkaError::Client)?;
    let min_isr = config.min_insync_replicas.to_string();
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|spec| {
            let mut topic = NewTopic::new(
                &spec.name,
                spec.partitions,
                TopicReplication::Fixed(config.replication_factor),
            )
            .set("min.insync.replicas", &min_isr);
            for (key, value) in &spec.config {
                topic = topic.set(key, value);
            }
            topic
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(|source| KafkaError::CreateTopic {
            topic: "(all)".into(),
            source,
        })?;
    let mut created = 0;
    for result in results {
        match result {
            Ok(_) => created += 1,
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::CreateTopic {
                    topic,
                    source: rdkafka::error::KafkaError::AdminOp(code),
                })
            }
        }
    }
    if created > 0 {
        info!(created, total = specs.len(), "created topics");
    }
    wait_for_leaders(&admin, specs).await
}

/// Waits until every partition of `specs` has a leader: a topic that was just created is not
/// usable until its metadata reached the broker we talk to.
async fn wait_for_leaders(
    admin: &AdminClient<DefaultClientContext>,
    specs: &[TopicSpec],
) -> Result<(), KafkaError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut pending: Vec<&TopicSpec> = specs.iter().collect();
    while !pending.is_empty() {
        let metadata = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))
            .map_err(KafkaError::Client)?;
        pending.retain(|spec| {
            !metadata.topics().iter().any(|t| {
                t.name() == spec.name
                    && t.error().is_none()
                    && !t.partitions().is_empty()
                    && t.partitions()
                        .iter()
                        .all(|p| p.leader() >= 0 && p.error().is_none())
            })
        });
        if pending.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            return Err(KafkaError::TopicsNotReady(
                pending.iter().map(|s| s.name.clone()).collect(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
