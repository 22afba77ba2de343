//! The targets of the performance issue, checked against one run's figures.

use serde::Serialize;

use crate::report::Figures;

/// One target: the measured ratio or value, what it must reach, and whether it did.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub target: String,
    pub measured: f64,
    pub required: f64,
    pub met: bool,
}

fn at_least(target: impl Into<String>, measured: f64, required: f64) -> Verdict {
    Verdict {
        target: target.into(),
        measured,
        required,
        met: measured >= required,
    }
}

fn at_most(target: impl Into<String>, measured: f64, required: f64) -> Verdict {
    Verdict {
        target: target.into(),
        measured,
        required,
        met: measured <= required,
    }
}

/// Every target whose scenarios are in `figures`.
pub fn check(figures: &[Figures]) -> Vec<Verdict> {
    let get = |name: &str| figures.iter().find(|f| f.scenario == name);
    let rate = |f: &Figures| f.deliveries_per_s;
    let mut out = Vec::new();
    if let (Some(f), Some(l)) = (get("fanout"), get("limit-100")) {
        out.push(at_least("fanout / limit-100", rate(f) / rate(l), 0.5));
    }
    if let (Some(s), Some(l)) = (get("single"), get("limit-8")) {
        out.push(at_least("single / limit-8", rate(s) / rate(l), 0.35));
    }
    if let Some(latency) = get("steady").and_then(|s| s.latency_ms) {
        out.push(at_most("steady p50 ms", latency.p50, 5.0));
        out.push(at_most("steady p99 ms", latency.p99, 25.0));
    }
    if let (Some(i), Some(f)) = (get("isolation"), get("fanout")) {
        out.push(at_least("isolation / fanout", rate(i) / rate(f), 0.8));
    }
    if let Some(r) = get("ready") {
        let seconds = |key: &str| r.extra[key].as_f64().unwrap_or(f64::INFINITY);
        out.push(at_most(
            "ready from sled s",
            seconds("ready_from_sled_s"),
            2.0,
        ));
        out.push(at_most(
            "ready from empty sled s",
            seconds("ready_from_empty_s"),
            15.0,
        ));
    }
    for f in figures {
        if let Some(p) = f.process("dispatch") {
            out.push(at_most(
                format!("{} dispatch peak RSS MiB", f.scenario),
                p.peak_rss_mib,
                150.0,
            ));
        }
    }
    out
}
