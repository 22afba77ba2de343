//! The producer every component writes with: idempotent, `acks=all`.

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::{KafkaConfig, KafkaError};

/// Where Kafka stored a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub partition: i32,
    pub offset: i64,
}

/// An idempotent producer: a record is acknowledged only once every in-sync replica has it,
/// and retries never duplicate or reorder records of one partition.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer,
}

impl Producer {
    pub fn new(config: &KafkaConfig) -> Result<Producer, KafkaError> {
        let inner = config
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "30000")
            .create()
            .map_err(KafkaError::Client)?;
        Ok(Producer { inner })
    }

    /// Sends one record and waits until Kafka acknowledged it.
    pub async fn send(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: &[u8],
        payload: &[u8],
    ) -> Result<Stored, KafkaError> {
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        if let Some(p) = partition {
            record = record.partition(p);
        }
        match self.inner.send(record, Duration::from_secs(30)).await {
            Ok(delivery) => Ok(Stored {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Err((source, _)) => Err(KafkaError::Produce {
                topic: topic.to_owned(),
                source,
            }),
        }
    }

    /// The underlying client, for flushing on shutdown.
    pub fn inner(&self) -> &FutureProducer {
        &self.inner
    }
}
