use serde::{Deserialize, Serialize};

use crate::postgres::PostgresConfig;

/// Settings of change capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    /// Address of the HTTP ingest endpoint (`POST /v1/changes`).
    pub listen: String,
    /// Bearer token that ingest requests must carry. Empty disables the endpoint.
    pub admin_token: String,
    /// Largest ingest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most changes accepted in one ingest request.
    pub max_batch: usize,
    /// Longest an ingest request may take, body and Kafka's acknowledgements included, in
    /// milliseconds; slower ones get 408 (what was published by then stays published).
    pub request_timeout_ms: u64,
    /// The PostgreSQL source (logical decoding); off while `url` is empty.
    pub postgres: PostgresConfig,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            listen: "0.0.0.0:8081".into(),
            admin_token: String::new(),
            max_body_bytes: 4 * 1024 * 1024,
            max_batch: 1000,
            request_timeout_ms: 60_000,
            postgres: PostgresConfig::default(),
        }
    }
}
