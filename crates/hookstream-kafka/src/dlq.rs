//! The dead-letter topic `hookstream.dlq`: records no process can read (undecodable, an
//! unknown schema or category, on the wrong topic, empty) are copied there with the reason,
//! counted, and skipped, so that one bad record never stops a process or stalls its
//! partition.
//!
//! A dead letter keeps the original key and payload byte for byte; where it came from and why
//! travel in headers (`hookstream-dlq-topic`, `-partition`, `-offset`, `-reason`,
//! `-service`). Its key is `<topic>/<partition>/<offset>`, so the compacted topic keeps one
//! copy when several processes refuse the same record (every follower of the webhook log).

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::Message;
use tracing::{error, warn};

use crate::producer::Producer;
use crate::KafkaConfig;

/// A record that could not be read, as it was.
#[derive(Debug, Clone, Copy)]
pub struct Unreadable<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
}

impl<'a> Unreadable<'a> {
    /// `record` as it was read.
    pub fn of<M: Message>(record: &'a M) -> Unreadable<'a> {
        Unreadable {
            topic: record.topic(),
            partition: record.partition(),
            offset: record.offset(),
            key: record.key(),
            payload: record.payload(),
        }
    }
}

/// Writes dead letters. Cheap to clone.
#[derive(Clone)]
pub struct DeadLetters {
    producer: Producer,
    topic: String,
    service: &'static str,
}

impl DeadLetters {
    /// Dead letters of `service` (`dispatch`, `api`, …), on `hookstream.dlq`.
    pub fn new(config: &KafkaConfig, producer: Producer, service: &'static str) -> DeadLetters {
        DeadLetters {
            producer,
            topic: config.topics().dlq(),
            service,
        }
    }

    /// Copies `record` to the dead-letter topic with `reason`, and counts it. Best effort:
    /// if Kafka does not take it within a while, the loss is logged and the caller goes on.
    pub async fn send(&self, record: Unreadable<'_>, reason: &str) {
        count(record.topic);
        let key = format!("{}/{}/{}", record.topic, record.partition, record.offset);
        let (partition, offset) = (record.partition.to_string(), record.offset.to_string());
        let headers = OwnedHeaders::new()
            .insert(header("hookstream-dlq-topic", record.topic))
            .insert(header("hookstream-dlq-partition", &partition))
            .insert(header("hookstream-dlq-offset", &offset))
            .insert(header("hookstream-dlq-reason", reason))
            .insert(header("hookstream-dlq-service", self.service))
            .insert(Header {
                key: "hookstream-dlq-key",
                value: record.key,
            });
        let mut letter = FutureRecord::to(&self.topic)
            .key(key.as_bytes())
            .headers(headers);
        if let Some(payload) = record.payload {
            letter = letter.payload(payload);
        }
        match self
            .producer
            .inner()
            .send(letter, Duration::from_secs(10))
            .await
        {
            Ok(_) => warn!(
                topic = record.topic,
                partition = record.partition,
                offset = record.offset,
                reason,
                "unreadable record sent to the dead-letter topic; skipped"
            ),
            Err((e, _)) => {
                error!(topic = record.topic, partition = record.partition, offset = record.offset, reason, error = %e, "unreadable record skipped; the dead-letter topic did not take it")
            }
        }
    }
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a [u8]> {
    Header {
        key,
        value: Some(value.as_bytes()),
    }
}

/// Counts an unreadable record of `topic` (also where no dead letter is written).
pub fn count(topic: &str) {
    metrics::counter!("hookstream_dead_letters_total", "topic" => topic.to_owned()).increment(1);
}
