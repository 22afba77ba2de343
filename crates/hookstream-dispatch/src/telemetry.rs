//! The dispatcher's Prometheus metrics: every name and label in one place.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `hookstream_deliveries_total` | `category`, `result` | attempts by outcome: `delivered`, `unauthorized`, `status`, `circuit_open`, or the error kind (`timeout`, `connect`, …) |
//! | `hookstream_delivery_duration_seconds` | `category` | request latency of attempts that were sent (histogram) |
//! | `hookstream_deliveries_dropped_total` | `reason` | `superseded` or `webhook_gone` |
//! | `hookstream_retries_queued_total` | `tier` | jobs queued on a retry tier |
//! | `hookstream_webhooks_removed_total` | `reason` | removals this dispatcher decided: `unauthorized`, `failing` |
//! | `hookstream_dispatch_ready` | | 1 while ready: the view caught up with the webhook log and Kafka answers |
//! | `hookstream_consumer_lag_records` | `consumer`, `topic` | records not yet settled on the partitions this dispatcher holds (librdkafka statistics, every 5 s); for `consumer="retries"` it is the depth of each retry tier |
//! | `hookstream_retry_oldest_due_seconds` | `tier` | how long the most overdue job at the head of a tier partition has been due (0 when none is) |
//! | `hookstream_circuits` | `state` | endpoints by breaker state: `closed`, `open`, `half_open` |
//! | `hookstream_attempt_log_dropped_total` | | attempt records not handed to Kafka (the producer's queue was full) |

use std::sync::Arc;
use std::time::Duration;

use hookstream_model::{Category, RemovalReason};

use crate::deliver::{Failure, Outcome};

/// Renders the process's metrics in the Prometheus text format.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// The latency histogram's name, for the recorder's bucket settings.
pub const DELIVERY_DURATION: &str = "hookstream_delivery_duration_seconds";

/// Buckets of [`DELIVERY_DURATION`], in seconds: loopback to a slow receiver's timeout.
pub const DELIVERY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One attempt's outcome; `latency` when a request was sent.
pub fn attempt(category: Category, outcome: &Outcome, latency: Option<Duration>) {
    let result = match outcome {
        Outcome::Delivered { .. } => "delivered",
        Outcome::Unauthorized => "unauthorized",
        Outcome::Failed(Failure::Status(_)) => "status",
        Outcome::Failed(Failure::CircuitOpen) => "circuit_open",
        Outcome::Failed(Failure::Error(kind)) => kind.as_str(),
    };
    metrics::counter!("hookstream_deliveries_total", "category" => category.slug(), "result" => result)
        .increment(1);
    if let Some(latency) = latency {
        metrics::histogram!(DELIVERY_DURATION, "category" => category.slug())
            .record(latency.as_secs_f64());
    }
}

/// Why a delivery was dropped without an attempt.
#[derive(Debug, Clone, Copy)]
pub enum Dropped {
    Superseded,
    WebhookGone,
}

pub fn dropped(reason: Dropped) {
    let reason = match reason {
        Dropped::Superseded => "superseded",
        Dropped::WebhookGone => "webhook_gone",
    };
    metrics::counter!("hookstream_deliveries_dropped_total", "reason" => reason).increment(1);
}

pub fn queued(tier: &str) {
    metrics::counter!("hookstream_retries_queued_total", "tier" => tier.to_owned()).increment(1);
}

pub fn removed(reason: RemovalReason) {
    metrics::counter!("hookstream_webhooks_removed_total", "reason" => reason.as_str())
        .increment(1);
}

pub fn consumer_lag(consumer: &'static str, topic: &str, records: i64) {
    metrics::gauge!("hookstream_consumer_lag_records", "consumer" => consumer, "topic" => topic.to_owned())
        .set(records as f64);
}

pub fn oldest_due(tier: &str, overdue: Duration) {
    metrics::gauge!("hookstream_retry_oldest_due_seconds", "tier" => tier.to_owned())
        .set(overdue.as_secs_f64());
}

/// Endpoints by breaker state.
pub fn circuits(closed: usize, open: usize, half_open: usize) {
    for (state, count) in [("closed", closed), ("open", open), ("half_open", half_open)] {
        metrics::gauge!("hookstream_circuits", "state" => state).set(count as f64);
    }
}

/// An attempt record the producer's queue did not take.
pub fn attempt_log_dropped() {
    metrics::counter!("hookstream_attempt_log_dropped_total").increment(1);
}

pub fn ready(ready: bool) {
    metrics::gauge!("hookstream_dispatch_ready").set(if ready { 1.0 } else { 0.0 });
}
