//! The sled read model: webhooks folded from `hookstream.webhooks`.
//!
//! Everything here is derived state. It can be rebuilt from the log at any time, and it is
//! rebuilt when the files are missing, corrupt, or written by an incompatible version.
//! Trees:
//!
//! * `webhooks`: id → [`Webhook`] (JSON)
//! * `by_category`: category key ++ id → ()
//! * `by_account`: account ++ 0x00 ++ id → ()
//! * `meta`: `next_offset` (the log offset of the next event to fold) and `format`.
//! * `acks`: (webhook, entity) → newest acknowledged version ([`Acks`]).
//! * `deliveries`, `deliveries_positions`, `deliveries_hours`: the API's delivery log and its
//!   hourly counts ([`Deliveries`]).

mod acks;
mod deliveries;
mod store;
mod subscriptions;

pub use acks::{Acked, Acks, Folded};
pub use deliveries::{Cursor, Deliveries, Entry, Hour, HOUR_MS};
pub use store::{Store, StoreError, Webhook};
pub use subscriptions::Subscribers;

#[cfg(test)]
mod tests;
