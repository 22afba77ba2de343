//! Publishes `EntityChange` records to their category topics.

use std::sync::Arc;

use hookstream_kafka::producer::{Producer, Stored};
use hookstream_kafka::{KafkaConfig, KafkaError, Topics};
use hookstream_model::{Codec, EntityChange};

/// Writes changes to `igdb.<slug>`, keyed by entity id, with the idempotent producer.
#[derive(Clone)]
pub struct Publisher {
    producer: Producer,
    topics: Topics,
    codec: Arc<Codec<EntityChange>>,
}

/// Where a published change went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub topic: String,
    pub stored: Stored,
}

impl Publisher {
    pub fn new(config: &KafkaConfig) -> Result<Publisher, KafkaError> {
        Ok(Publisher {
            producer: Producer::new(config)?,
            topics: config.topics(),
            codec: Arc::new(Codec::new()),
        })
    }

    /// Whether Kafka answers within `timeout` (the readiness check of capture).
    pub async fn reachable(&self, timeout: std::time::Duration) -> Result<(), KafkaError> {
        let topic = self.topics.category(hookstream_model::Category::Game);
        self.producer.reachable(&topic, timeout).await
    }

    /// Publishes `changes` in order (per partition) and waits for every acknowledgement.
    pub async fn publish_in_order(
        &self,
        changes: &[EntityChange],
    ) -> Vec<Result<Published, KafkaError>> {
        let encoded: Vec<(String, String, Vec<u8>)> = changes
            .iter()
            .map(|c| {
                let payload = self
                    .codec
                    .encode(c)
                    .expect("an EntityChange always matches its schema");
                (self.topics.category(c.category), c.key(), payload)
            })
            .collect();
        let records: Vec<(&str, &[u8], &[u8])> = encoded
            .iter()
            .map(|(topic, key, payload)| (topic.as_str(), key.as_bytes(), payload.as_slice()))
            .collect();
        self.producer
            .send_in_order(&records)
            .await
            .into_iter()
            .zip(encoded)
            .map(|(stored, (topic, _, _))| stored.map(|stored| Published { topic, stored }))
            .collect()
    }
}
