//! The producer every component writes with: idempotent, `acks=all`.

use std::time::Duration;

use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};

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

    /// A producer for records that may be late and, rarely, lost: large batches (up to
    /// 100 ms of lingering) cost the broker far less per record than the idempotent
    /// producer's small ones. For the attempt log, never for deliveries or the webhook log.
    pub fn bulk(config: &KafkaConfig) -> Result<Producer, KafkaError> {
        let inner = config
            .client_config()
            .set("acks", "1")
            .set("linger.ms", "100")
            .set("batch.size", "1000000")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "60000")
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
        stored(
            topic,
            self.inner.send(record, Duration::from_secs(30)).await,
        )
    }

    /// Hands one record, with `headers`, to the producer without waiting for Kafka: for
    /// records whose loss costs an entry of a log kept for people (the delivery log), never a
    /// delivery. Fails at once when the local queue is full.
    pub fn send_best_effort(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<(), KafkaError> {
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        if !headers.is_empty() {
            let owned = headers
                .iter()
                .fold(OwnedHeaders::new(), |all, (key, value)| {
                    all.insert(Header {
                        key,
                        value: Some(*value),
                    })
                });
            record = record.headers(owned);
        }
        match self.inner.send_result(record) {
            // Dropping the delivery future does not cancel the send.
            Ok(_delivery) => Ok(()),
            Err((source, _)) => Err(KafkaError::Produce {
                topic: topic.to_owned(),
                source,
            }),
        }
    }

    /// Sends `records` (topic, key, payload) in the given order, which Kafka keeps within each
    /// partition, then waits for every acknowledgement. Unlike concurrent [`Producer::send`]
    /// calls, a full local queue never lets a later record overtake an earlier one: enqueuing
    /// waits for room and resumes with the same record.
    pub async fn send_in_order(
        &self,
        records: &[(&str, &[u8], &[u8])],
    ) -> Vec<Result<Stored, KafkaError>> {
        let mut pending = Vec::with_capacity(records.len());
        for (topic, key, payload) in records {
            let mut record = FutureRecord::to(topic).key(*key).payload(*payload);
            loop {
                match self.inner.send_result(record) {
                    Ok(delivery) => {
                        pending.push((topic.to_string(), Ok(delivery)));
                        break;
                    }
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                        back,
                    )) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((source, _)) => {
                        pending.push((topic.to_string(), Err(source)));
                        break;
                    }
                }
            }
        }
        let mut results = Vec::with_capacity(pending.len());
        for (topic, delivery) in pending {
            let outcome = match delivery {
                Err(source) => Err(KafkaError::Produce { topic, source }),
                Ok(future) => match future.await {
                    Ok(delivery) => stored(&topic, delivery),
                    Err(_) => Err(KafkaError::Produce {
                        topic,
                        source: rdkafka::error::KafkaError::Canceled,
                    }),
                },
            };
            results.push(outcome);
        }
        results
    }

    /// Whether a broker answers a metadata request about `topic` within `timeout`: the
    /// readiness check of the services that write.
    pub async fn reachable(&self, topic: &str, timeout: Duration) -> Result<(), KafkaError> {
        let (inner, topic) = (self.inner.clone(), topic.to_owned());
        tokio::task::spawn_blocking(move || {
            inner
                .client()
                .fetch_metadata(Some(&topic), timeout)
                .map(|_| ())
        })
        .await
        .map_err(|_| KafkaError::FollowerStopped)?
        .map_err(KafkaError::Client)
    }

    /// The underlying client, for flushing on shutdown.
    pub fn inner(&self) -> &FutureProducer {
        &self.inner
    }
}

/// Where Kafka stored a record, or why it did not.
fn stored(topic: &str, delivery: OwnedDeliveryResult) -> Result<Stored, KafkaError> {
    match delivery {
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
