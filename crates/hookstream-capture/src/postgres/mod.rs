//! The PostgreSQL source: logical decoding with the built-in `pgoutput` plugin.
//!
//! * [`pgoutput`]: decoding of the replication messages.
//! * [`json`]: column values (text format) to JSON.
//! * [`source`]: the loop that reads the slot, publishes, then advances the slot.
//! * `snapshot`: the optional initial snapshot of existing rows.

mod config;
pub mod json;
pub mod pgoutput;
mod snapshot;
pub mod source;

pub use config::{PostgresConfig, TableConfig};
pub use source::{run, SourceError};
