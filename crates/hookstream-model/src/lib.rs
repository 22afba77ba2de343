//! The shared model of hookstream.
//!
//! * [`Category`]: the 23 IGDB webhook categories, their keys, names and topic slugs.
//! * [`EntityChange`], [`WebhookEvent`], [`DeliveryJob`], [`Attempt`]: the records on the wire.
//! * [`codec`]: Avro single-object encoding of those records, with schema evolution.

mod attempt;
mod category;
mod change;
pub mod codec;
mod event;
mod field_error;
mod ids;
mod job;
pub mod sealed;
mod value;

pub use attempt::{Attempt, AttemptError, AttemptKind};
pub use category::{Category, UnknownCategory};
pub use change::{ChangeOp, EntityChange};
pub use codec::{AvroRecord, Codec, DecodeError, EncodeError};
pub use event::{Event, RemovalReason, WebhookEvent};
pub use field_error::FieldError;
pub use ids::{AccountId, WebhookId};
pub use job::DeliveryJob;
pub use sealed::{SealError, Sealer};

/// Milliseconds since the unix epoch, the time unit of every record.
pub type UnixMillis = i64;

/// The current time in [`UnixMillis`].
pub fn now_millis() -> UnixMillis {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod codec_tests;
