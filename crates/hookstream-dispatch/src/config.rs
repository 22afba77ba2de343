use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Settings of a dispatcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Consumer group shared by all dispatchers.
    pub group_id: String,
    /// Directory of this dispatcher's sled view of the webhook log.
    pub data_dir: PathBuf,
    /// Address of the health endpoints (`/healthz`, `/readyz`).
    pub listen: String,
    /// Timeout of one delivery request, in milliseconds.
    pub request_timeout_ms: u64,
    /// Timeout of establishing a connection, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Pauses between in-process attempts of a failed delivery, in milliseconds. After the
    /// last one the delivery is given up and recorded as failed.
    pub retry_backoff_ms: Vec<u64>,
    /// A webhook with no 2xx for this long is removed, in milliseconds (24 h).
    pub failure_window_ms: u64,
    /// At most one `Failed` event per webhook per this many milliseconds.
    pub failed_event_interval_ms: u64,
    /// Clock skew allowed between capture and dispatch hosts, in milliseconds. A change whose
    /// timestamp is within this much of the last log sync triggers a new sync.
    pub clock_skew_ms: u64,
    /// How long to wait for the webhook log to catch up before trying again, in milliseconds.
    pub sync_timeout_ms: u64,
    /// How often stored offsets are committed, in milliseconds.
    pub commit_interval_ms: u64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            group_id: "hookstream-dispatch".into(),
            data_dir: "data/dispatch".into(),
            listen: "0.0.0.0:8082".into(),
            request_timeout_ms: 10_000,
            connect_timeout_ms: 3_000,
            retry_backoff_ms: vec![100, 1_000, 5_000],
            failure_window_ms: 24 * 3600 * 1000,
            failed_event_interval_ms: 60_000,
            clock_skew_ms: 1_000,
            sync_timeout_ms: 5_000,
            commit_interval_ms: 1_000,
        }
    }
}
