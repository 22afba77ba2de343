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

    /// Publishes one change and waits for Kafka's acknowledgement (acks=all).
    pub async fn publish(&self, change: &EntityChange) -> Result<Published, KafkaError> {
        let topic = self.topics.category(change.category);
        let payload = self
            .codec
            .encode(change)
            .expect("an EntityChange always matches its schema");
        let stored = self
            .producer
            .send(&topic, None, change.key().as_bytes(), &payload)
            .await?;
        Ok(Published { topic, stored })
    }
}
