//! The delivery log's source: one `Attempt` record per attempt on `hookstream.attempts`,
//! keyed by webhook id so that one webhook's attempts stay in order. The same records, for
//! the 2xx answers of webhooks that may have retries only, go to `hookstream.acks`, which
//! every dispatcher folds into its supersede checks ([`crate::acks_fold`]).

use std::time::Duration;

use hookstream_kafka::producer::Producer;
use hookstream_kafka::KafkaConfig;
use hookstream_model::{now_millis, Attempt, AttemptError, AttemptKind, Codec, DeliveryJob};
use tracing::debug;

use crate::deliver::{Failure, Outcome};
use crate::telemetry;

/// The header that says which process wrote an attempt record, so that a dispatcher's fold
/// of acknowledgements skips its own without decoding them.
pub const ORIGIN_HEADER: &str = "hookstream-origin";

/// Writes attempt records without waiting for Kafka: a lost record costs an entry of the
/// delivery log, never a delivery.
pub struct AttemptLog {
    producer: Producer,
    topic: String,
    codec: Codec<Attempt>,
    /// This process's [`ORIGIN_HEADER`]: random, new at every start.
    origin: Vec<u8>,
}

impl AttemptLog {
    /// The writer of `hookstream.attempts`.
    pub fn new(kafka: &KafkaConfig, producer: Producer) -> AttemptLog {
        Self::to(kafka.topics().attempts(), producer)
    }

    /// The writer of `hookstream.acks`.
    pub fn acks(kafka: &KafkaConfig, producer: Producer) -> AttemptLog {
        Self::to(kafka.topics().acks(), producer)
    }

    fn to(topic: String, producer: Producer) -> AttemptLog {
        AttemptLog {
            producer,
            topic,
            codec: Codec::new(),
            origin: format!("{:016x}", fastrand::u64(..)).into_bytes(),
        }
    }

    /// What this log writes in [`ORIGIN_HEADER`].
    pub fn origin(&self) -> &[u8] {
        &self.origin
    }

    /// Records one attempt (best effort).
    pub fn record(&self, attempt: &Attempt) {
        let payload = match self.codec.encode(attempt) {
            Ok(payload) => payload,
            Err(e) => {
                debug!(error = %e, "attempt record does not encode; not logged");
                return;
            }
        };
        let key = attempt.webhook_id.0.to_string();
        if let Err(e) = self.producer.send_best_effort(
            &self.topic,
            key.as_bytes(),
            &payload,
            &[(ORIGIN_HEADER, &self.origin)],
        ) {
            telemetry::attempt_log_dropped();
            debug!(error = %e, "attempt not written to the delivery log");
        }
    }
}

/// The record of `job`'s attempt that ended in `outcome`.
pub fn record_of(job: &DeliveryJob, outcome: &Outcome, latency: Option<Duration>) -> Attempt {
    let (status, error) = status_and_error(outcome);
    Attempt {
        delivery_id: job.delivery_id.clone(),
        webhook_id: job.webhook_id,
        at: now_millis(),
        attempt: job.attempt.max(1),
        status,
        error,
        latency_ms: latency.map_or(0, |l| l.as_millis() as i64),
        kind: if job.replay {
            AttemptKind::Replay
        } else {
            AttemptKind::Change
        },
        category: Some(job.category),
        entity_id: Some(job.entity_id),
        version: Some(job.source_offset),
    }
}

/// The HTTP status that came back, or why none did.
pub fn status_and_error(outcome: &Outcome) -> (Option<u16>, Option<AttemptError>) {
    match *outcome {
        Outcome::Delivered { status } => (Some(status), None),
        Outcome::Unauthorized => (Some(401), None),
        Outcome::Failed(Failure::Status(status)) => (Some(status), None),
        Outcome::Failed(Failure::Error(kind)) => (None, Some(kind)),
        Outcome::Failed(Failure::CircuitOpen) => (None, Some(AttemptError::CircuitOpen)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_a_status_or_an_error() {
        let cases = [
            (Outcome::Delivered { status: 204 }, (Some(204), None)),
            (Outcome::Unauthorized, (Some(401), None)),
            (Outcome::Failed(Failure::Status(503)), (Some(503), None)),
            (
                Outcome::Failed(Failure::Error(AttemptError::Timeout)),
                (None, Some(AttemptError::Timeout)),
            ),
            (
                Outcome::Failed(Failure::CircuitOpen),
                (None, Some(AttemptError::CircuitOpen)),
            ),
        ];
        for (outcome, expected) in cases {
            assert_eq!(status_and_error(&outcome), expected, "{outcome:?}");
        }
    }
}
