use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;

/// Settings of a dispatcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Consumer group shared by all dispatchers (the retry tiers use `<group_id>.retry`).
    pub group_id: String,
    /// Directory of this dispatcher's sled view of the webhook log.
    pub data_dir: PathBuf,
    /// Address of the health endpoints (`/healthz`, `/readyz`).
    pub listen: String,
    /// Timeout of one delivery request, in milliseconds.
    pub request_timeout_ms: u64,
    /// Timeout of establishing a connection, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Waits before attempts 2, 3, … of a failed delivery, in milliseconds; the last repeats
    /// until the webhook recovers or is removed. Each names a retry tier topic
    /// (`hookstream.retry.10s`, …).
    pub schedule_ms: Vec<u64>,
    /// Multiplies every wait of the schedule, the failure window and the Retry-After clamp
    /// (tests run the schedule in seconds with e.g. 0.001). Tier names are unscaled.
    pub time_scale: f64,
    /// Random spread of each wait: 0.2 is ±20 %.
    pub jitter: f64,
    /// Longest `Retry-After` honoured, in milliseconds.
    pub retry_after_max_ms: u64,
    /// A webhook with no 2xx for this long is removed, in milliseconds (24 h). The last
    /// attempt is scheduled at the window's end.
    pub failure_window_ms: u64,
    /// At most one `Failed` event per webhook per this many milliseconds.
    pub failed_event_interval_ms: u64,
    /// Concurrent requests to one endpoint (scheme, host and port).
    pub endpoint_concurrency: usize,
    /// Consecutive failures that open an endpoint's circuit breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker rejects deliveries before a probe, in milliseconds.
    pub breaker_cooldown_ms: u64,
    /// Records buffered per partition; a full partition is paused until it drains.
    pub lane_capacity: usize,
    /// How long a stopping dispatcher lets in-flight deliveries finish, in milliseconds.
    pub shutdown_timeout_ms: u64,
    /// Clock skew allowed between capture and dispatch hosts, in milliseconds. A change whose
    /// timestamp is within this much of the last log sync triggers a new sync.
    pub clock_skew_ms: u64,
    /// How long to wait for the webhook log to catch up before trying again, in milliseconds.
    pub sync_timeout_ms: u64,
    /// How often stored offsets are committed, in milliseconds.
    pub commit_interval_ms: u64,
    /// Record every attempt on `hookstream.attempts`, for the API's delivery log.
    pub record_attempts: bool,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            group_id: "hookstream-dispatch".into(),
            data_dir: "data/dispatch".into(),
            listen: "0.0.0.0:8082".into(),
            request_timeout_ms: 10_000,
            connect_timeout_ms: 3_000,
            schedule_ms: vec![
                10_000, 60_000, 300_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000,
            ],
            time_scale: 1.0,
            jitter: 0.2,
            retry_after_max_ms: 3_600_000,
            failure_window_ms: 24 * 3600 * 1000,
            failed_event_interval_ms: 60_000,
            endpoint_concurrency: 8,
            breaker_threshold: 5,
            breaker_cooldown_ms: 30_000,
            lane_capacity: 512,
            shutdown_timeout_ms: 30_000,
            clock_skew_ms: 1_000,
            sync_timeout_ms: 5_000,
            commit_interval_ms: 1_000,
            record_attempts: true,
        }
    }
}

impl DispatchConfig {
    /// The retry schedule these settings give.
    pub fn schedule(&self) -> Schedule {
        Schedule::new(
            &self.schedule_ms,
            self.time_scale,
            self.failure_window_ms,
            self.jitter,
            self.retry_after_max_ms,
        )
    }

    /// Checks what serde cannot. Pure.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.schedule_ms.is_empty() {
            problems.push("dispatch.schedule_ms needs at least one wait");
        }
        if !(self.time_scale > 0.0 && self.time_scale.is_finite()) {
            problems.push("dispatch.time_scale must be a positive number");
        }
        if !(0.0..0.9).contains(&self.jitter) {
            problems.push("dispatch.jitter must be at least 0 and below 0.9");
        }
        if self.request_timeout_ms == 0 {
            problems.push("dispatch.request_timeout_ms must be more than 0");
        }
        if self.endpoint_concurrency == 0 || self.lane_capacity == 0 {
            problems.push(
                "dispatch.endpoint_concurrency and dispatch.lane_capacity must be at least 1",
            );
        }
        if self.breaker_threshold == 0 {
            problems.push("dispatch.breaker_threshold must be at least 1");
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}
