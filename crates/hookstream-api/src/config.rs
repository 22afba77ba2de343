use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Settings of the public API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address to listen on.
    pub listen: String,
    /// TOML file of API keys: `[[key]]` tables with `account`, `plan` and `sha256`.
    pub keys_file: PathBuf,
    /// Directory of the API's sled view of the webhook log.
    pub data_dir: PathBuf,
    /// Largest request body accepted, in bytes. Larger bodies get 400.
    pub max_body_bytes: usize,
    /// How long a write waits for Kafka and for the view to apply it, in milliseconds.
    pub write_timeout_ms: u64,
    /// How long a read waits to catch up with the log before answering from the view as it is.
    pub read_timeout_ms: u64,
    /// Deliveries per second that one `POST /webhooks/ID/replay` queues; 0 is unlimited.
    pub replay_rate: u32,
    /// Attempts kept per webhook in the delivery log (`GET /webhooks/ID/deliveries`).
    pub deliveries_kept: usize,
    /// Timeout of the ping that `POST /webhooks/ID/test` sends, in milliseconds.
    pub test_timeout_ms: u64,
    /// Requests per second one API key may make (0: no limit); more get 429.
    pub rate_limit_per_s: u32,
    /// Requests one API key may make at once before the rate applies.
    pub rate_limit_burst: u32,
    /// Webhooks one account may have; more registrations get 409.
    pub max_webhooks_per_account: usize,
    /// Longest a request may take, body included, in milliseconds; slower ones get 408.
    pub request_timeout_ms: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "0.0.0.0:8080".into(),
            keys_file: "keys.toml".into(),
            data_dir: "data/api".into(),
            max_body_bytes: 16 * 1024,
            write_timeout_ms: 10_000,
            read_timeout_ms: 2_000,
            replay_rate: 100,
            deliveries_kept: 100,
            test_timeout_ms: 10_000,
            rate_limit_per_s: 20,
            rate_limit_burst: 60,
            max_webhooks_per_account: 100,
            request_timeout_ms: 30_000,
        }
    }
}
