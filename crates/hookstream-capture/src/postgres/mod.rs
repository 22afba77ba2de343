//! The PostgreSQL source: logical decoding with the built-in `pgoutput` plugin.
//!
//! * [`pgoutput`]: decoding of the replication messages.
//! * [`json`]: column values (text format) to JSON.

pub mod json;
pub mod pgoutput;
