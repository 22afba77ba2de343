//! Dispatch: delivers every change of the category topics to every webhook of its category,
//! at least once, retrying failures durably on the retry tier topics.
//!
//! * [`dispatcher`]: starts the two consumers (category topics, retry tiers) and stops them.
//! * [`lanes`]: one task per partition, in order, offsets stored once a record settled.
//! * [`changes`] / [`retries`]: the two record handlers; both end in [`attempt`].
//! * [`attempt`]: one attempt and its consequences (ack, streak events, removal, next job).
//! * [`attempt_log`]: one record per attempt on `hookstream.attempts` (the delivery log).
//! * [`acks_fold`]: every dispatcher's 2xx answers from that topic, for supersede checks.
//! * [`schedule`]: when the next attempt is due, on which tier; when a webhook is removed.
//! * [`egress`]: where deliveries may go (the SSRF guard), checked on every connection.
//! * [`endpoint`]: per-endpoint concurrency cap and circuit breaker.
//! * [`barrier`]: happens-before between the webhook log and the changes (DESIGN.md §3.2).
//! * [`deliver`]: the HTTP request and the classification of its outcome.
//! * [`sign`]: `webhook-id` and the Standard Webhooks signature.

pub mod acks_fold;
pub mod attempt;
pub mod attempt_log;
pub mod barrier;
pub mod changes;
mod config;
pub mod deliver;
pub mod dispatcher;
pub mod egress;
pub mod endpoint;
mod entity_lock;
mod health;
pub mod lanes;
pub mod retries;
pub mod schedule;
pub mod sign;
mod streak;
pub mod telemetry;
pub mod waiting;

pub use config::DispatchConfig;
pub use dispatcher::{run, RunError};
pub use egress::{Egress, EgressConfig};
