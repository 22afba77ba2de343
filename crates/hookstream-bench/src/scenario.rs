//! The pipeline scenarios: api, capture and one dispatcher as processes of their own on a
//! real broker, webhooks pointing at the fast receiver, changes through the HTTP ingest.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hookstream_tests::stack::{ADMIN_TOKEN, ALICE};
use hookstream_tests::{Proc, Stack};
use serde_json::{json, Value};

use crate::clock::Clock;
use crate::driver::{self, Pace};
use crate::procstat;
use crate::receiver::{self, Stats, BUCKET};
use crate::report::{Figures, Process, Series};

/// The log filter of every process a scenario starts: warnings, and the info lines the harness
/// reads (addresses, start, readiness).
pub const QUIET_LOG: &str = "warn,hookstream=info,hookstream_dispatch::dispatcher=info";

/// One pipeline scenario.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: &'static str,
    pub webhooks: usize,
    pub changes: usize,
    pub pace: Pace,
    /// Whether receiver 0 hangs past the delivery timeout.
    pub hang: bool,
}

/// Settings every pipeline scenario shares.
#[derive(Debug, Clone)]
pub struct Settings {
    pub partitions: usize,
    /// Every process runs on this host, so the clocks agree: 0 unless told otherwise.
    pub clock_skew_ms: u64,
    pub request_timeout_ms: u64,
    /// Extra `HOOKSTREAM_…` settings for every process.
    pub env: Vec<(String, String)>,
    /// Longest a scenario may take before it is reported as incomplete.
    pub deadline: Duration,
    pub kafka_pid: Option<u32>,
}

/// The processes of a running pipeline.
struct Running {
    api: Proc,
    capture: Proc,
    dispatch: Proc,
}

impl Running {
    fn all(&self) -> [&Proc; 3] {
        [&self.api, &self.capture, &self.dispatch]
    }

    fn stop(mut self) {
        for p in [&mut self.dispatch, &mut self.capture, &mut self.api] {
            p.terminate(Duration::from_secs(20));
        }
    }
}

fn start(name: &str, settings: &Settings) -> (Stack, Running) {
    let mut stack = Stack::new(name);
    let o = &mut stack.overrides;
    let mut set = |k: &str, v: String| {
        o.insert(k.to_owned(), v);
    };
    set("RUST_LOG", QUIET_LOG.into());
    set(
        "HOOKSTREAM_KAFKA__PARTITIONS",
        settings.partitions.to_string(),
    );
    set("HOOKSTREAM_DISPATCH__TIME_SCALE", "1".into());
    set(
        "HOOKSTREAM_DISPATCH__CLOCK_SKEW_MS",
        settings.clock_skew_ms.to_string(),
    );
    set(
        "HOOKSTREAM_DISPATCH__REQUEST_TIMEOUT_MS",
        settings.request_timeout_ms.to_string(),
    );
    set("HOOKSTREAM_DISPATCH__COMMIT_INTERVAL_MS", "1000".into());
    set("HOOKSTREAM_CAPTURE__MAX_BATCH", "5000".into());
    for (k, v) in &settings.env {
        set(k, v.clone());
    }
    let (api, capture, _, _) = stack.api_and_capture();
    let dispatch = stack.spawn("dispatch", "dispatch");
    (
        stack,
        Running {
            api,
            capture,
            dispatch,
        },
    )
}

impl Pipeline {
    /// Runs the scenario and returns its figures.
    pub async fn run(&self, settings: &Settings) -> anyhow::Result<Figures> {
        let hang_port = self.hang.then_some(0);
        let stats = Arc::new(Stats::new(
            Clock::start(),
            self.webhooks,
            self.changes,
            hang_port,
        ));
        let addrs = receiver::start(stats.clone(), self.webhooks).await?;
        let (_stack, running) = start(self.name, settings);
        let api = hookstream_tests::stack::Api::new(&running.api.addr("api"));
        let ingest = format!("http://{}", running.capture.addr("capture"));
        running
            .dispatch
            .wait_log("dispatcher start", Duration::from_secs(60), |v| {
                v["fields"]["message"] == "dispatcher started"
            });
        for addr in &addrs {
            api.register(ALICE, &format!("http://{addr}/hook"), 1, "bench-secret")
                .await;
        }
        let healthy = (self.webhooks - usize::from(self.hang)) as u64;
        warm_up(&ingest, &stats, healthy).await?;

        let clock = stats.clock();
        let start = clock.elapsed();
        let cpu_before = cpu_of(&running, settings.kafka_pid);
        let load = tokio::spawn(driver::run(
            ingest.clone(),
            ADMIN_TOKEN,
            1,
            driver::ENTITIES,
            self.changes,
            self.pace,
            stats.clone(),
        ));
        let expected = healthy * self.changes as u64;
        let mut rss = Vec::new();
        let mut ingested_at = None;
        let mut last = 0;
        let deadline = start + settings.deadline;
        let base = stats.unique.load(Ordering::Relaxed);
        while clock.elapsed() < deadline {
            let done = stats.unique.load(Ordering::Relaxed) - base;
            if done != last {
                last = done;
            }
            if ingested_at.is_none() && load.is_finished() {
                ingested_at = Some(clock.elapsed());
            }
            rss.push(procstat::memory_mib(running.dispatch.pid(), "VmRSS:").unwrap_or(0.0));
            if done >= expected && ingested_at.is_some() {
                break;
            }
            tokio::time::sleep(BUCKET).await;
        }
        let end = clock.elapsed();
        stats.release();
        match load.is_finished() {
            true => load.await.context("the load task panicked")??,
            false => {
                load.abort();
                bail!(
                    "{}: the ingest did not take every change in time",
                    self.name
                );
            }
        }
        let cpu_after = cpu_of(&running, settings.kafka_pid);
        let delivered = stats.unique.load(Ordering::Relaxed) - base;
        let wall = (end - start).as_secs_f64();
        let ingest_wall = ingested_at
            .unwrap_or(end)
            .saturating_sub(start)
            .as_secs_f64();
        let latency = stats.latency(hang_port);
        let processes = cpu_before
            .into_iter()
            .zip(cpu_after)
            .map(|((name, pid, before), (_, _, after))| Process {
                cpu_s_per_1k: (after - before).as_secs_f64() / (delivered.max(1) as f64 / 1000.0),
                peak_rss_mib: procstat::memory_mib(pid, "VmHWM:").unwrap_or(0.0),
                name,
            })
            .collect();
        let first_bucket = (start.as_micros() / BUCKET.as_micros()) as usize;
        let timeline = stats.timeline(end);
        let figures = Figures {
            scenario: self.name.to_owned(),
            complete: delivered >= expected,
            changes: self.changes as u64,
            webhooks: self.webhooks as u64,
            expected,
            delivered,
            duplicates: stats.requests.load(Ordering::Relaxed)
                - stats.unique.load(Ordering::Relaxed)
                - stats.unparsable.load(Ordering::Relaxed),
            wall_s: wall,
            changes_per_s: self.changes as f64 / ingest_wall.max(1e-9),
            deliveries_per_s: delivered as f64 / wall.max(1e-9),
            latency_ms: Some(crate::report::Latency::of(&latency)),
            before_acceptance: stats.before_acceptance.load(Ordering::Relaxed),
            processes,
            series: Some(Series {
                bucket_ms: BUCKET.as_millis() as u64,
                deliveries: timeline.get(first_bucket..).unwrap_or_default().to_vec(),
                dispatch_rss_mib: rss,
                latency_us: latency
                    .iter_quantiles(1)
                    .map(|q| (q.quantile_iterated_to(), q.value_iterated_to()))
                    .collect(),
            }),
            extra: json!({}),
        };
        running.stop();
        Ok(figures)
    }
}

/// Sends one change without a change number and waits until every healthy receiver got it:
/// the consumer group has joined and every webhook is matched before the clock runs.
async fn warm_up(ingest: &str, stats: &Stats, healthy: u64) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let body = json!({"category": 1, "id": 1, "op": "update", "data": {"id": 1, "warm_up": true}});
    let response = client
        .post(format!("{ingest}/v1/changes"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .context("the ingest does not answer")?;
    if !response.status().is_success() {
        let reply: Value = response.json().await.unwrap_or(Value::Null);
        bail!("warm-up change refused: {reply}");
    }
    for _ in 0..1200 {
        if stats.unparsable.load(Ordering::Relaxed) >= healthy {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the warm-up change did not reach every receiver within 60 s")
}

/// CPU used so far by each process of the run, the broker's and this one's.
fn cpu_of(running: &Running, kafka: Option<u32>) -> Vec<(String, u32, Duration)> {
    let mut pids: Vec<(String, u32)> = running
        .all()
        .iter()
        .map(|p| (p.name.clone(), p.pid()))
        .collect();
    if let Some(pid) = kafka {
        pids.push(("kafka".into(), pid));
    }
    pids.push(("bench (receiver + load)".into(), std::process::id()));
    pids.into_iter()
        .map(|(name, pid)| {
            let cpu = procstat::cpu(pid).unwrap_or_default();
            (name, pid, cpu)
        })
        .collect()
}
