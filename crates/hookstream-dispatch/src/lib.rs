//! Dispatch: one consumer group over the 23 category topics; each change is delivered to
//! every webhook of its category.
//!
//! * [`barrier`]: happens-before between the webhook log and the changes (DESIGN.md §3.2).
//! * [`deliver`]: the HTTP request of one delivery and the classification of its outcome.
//! * [`sign`]: `webhook-id` and the Standard Webhooks signature.
//! * [`consumer`]: the loop that ties them together and stores offsets of settled records.

pub mod barrier;
mod config;
pub mod consumer;
pub mod deliver;
pub mod endpoint;
mod health;
pub mod schedule;
pub mod sign;
mod streak;

pub use config::DispatchConfig;
pub use consumer::{run, RunError};
