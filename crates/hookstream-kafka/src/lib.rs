//! Kafka plumbing shared by every hookstream component.
//!
//! * [`KafkaConfig`] and [`Topics`]: where things live on the broker.
//! * [`admin`]: idempotent topic creation.
//! * [`assign`]: consumers of every partition of a topic from positions kept by the caller.
//! * [`producer`]: the idempotent, `acks=all` producer.
//! * [`dlq`]: the dead-letter topic for records no process can read.
//! * [`log`]: the subscription event log `hookstream.webhooks`: appending, and a follower
//!   that folds it into a [`log::Fold`] (the sled store) with a catch-up barrier.

pub mod admin;
pub mod assign;
mod config;
pub mod dlq;
mod error;
pub mod log;
pub mod producer;

pub use config::{KafkaConfig, Topics};
pub use error::KafkaError;
