//! What a scenario reports: one JSON line of figures, and the series its plots are drawn from.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Figures of one scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    pub scenario: String,
    /// Whether every expected delivery arrived before the deadline.
    pub complete: bool,
    pub changes: u64,
    pub webhooks: u64,
    pub expected: u64,
    /// First deliveries (per webhook and change).
    pub delivered: u64,
    /// Requests beyond the first per webhook and change.
    pub duplicates: u64,
    pub wall_s: f64,
    /// Changes accepted by the ingest per second (until the last was accepted).
    pub changes_per_s: f64,
    /// First deliveries per second, from the first change sent to the last delivery.
    pub deliveries_per_s: f64,
    /// From ingest acceptance to receipt, first deliveries only.
    pub latency_ms: Option<Latency>,
    /// Deliveries that arrived before the ingest's answer did (counted with latency 0).
    pub before_acceptance: u64,
    pub processes: Vec<Process>,
    #[serde(skip)]
    pub series: Option<Series>,
    /// Scenario-specific figures.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub extra: serde_json::Value,
}

/// Cost of one process over the scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Process {
    pub name: String,
    /// CPU seconds (user + system) per 1,000 deliveries.
    pub cpu_s_per_1k: f64,
    /// Peak resident set over the process's life.
    pub peak_rss_mib: f64,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// Series over the scenario, for the plots.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Series {
    pub bucket_ms: u64,
    /// First deliveries per bucket.
    pub deliveries: Vec<u64>,
    /// Resident set of the dispatcher, sampled once per bucket.
    pub dispatch_rss_mib: Vec<f64>,
    /// (quantile, latency µs) pairs of the latency distribution.
    pub latency_us: Vec<(f64, u64)>,
}

impl Figures {
    /// The figures as the JSON line the bench prints.
    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!(r#"{{"error":"{e}"}}"#))
    }

    /// The CPU and RSS of process `name`, if it took part.
    pub fn process(&self, name: &str) -> Option<&Process> {
        self.processes.iter().find(|p| p.name == name)
    }
}
