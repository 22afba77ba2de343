//! `hookstream-bench`: the end-to-end benchmark. Run it with `scripts/bench.sh`, which builds
//! it in release mode and starts the broker; see BENCHMARKS.md for what it measures.

mod cdc;
mod clock;
mod driver;
mod limit;
mod plot;
mod procstat;
mod ready;
mod receiver;
mod report;
mod scenario;
mod targets;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

use crate::clock::Clock;
use crate::driver::Pace;
use crate::receiver::Stats;
use crate::report::{Figures, Process, Series};
use crate::scenario::{Pipeline, Settings};

/// The receiver and the limit client allocate per request like the dispatcher does: the same
/// allocator on both sides keeps the ratio about the pipeline.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// End-to-end benchmark of hookstream on loopback: one JSON line of figures per scenario.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Scenarios to run, in this order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "limit,single,fanout,steady,isolation,ready,cdc"
    )]
    scenarios: Vec<String>,
    /// Multiplies every count (changes, requests, seconds of `steady`): 0.1 for a quick look.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Where the figures (JSON) and plots (SVG) go.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Partitions of every category topic.
    #[arg(long, default_value_t = 8)]
    partitions: usize,
    /// dispatch.clock_skew_ms of the dispatcher (all processes share one clock here).
    #[arg(long, default_value_t = 0)]
    clock_skew_ms: u64,
    /// dispatch.request_timeout_ms of the dispatcher.
    #[arg(long, default_value_t = 2_000)]
    request_timeout_ms: u64,
    /// Extra settings for every hookstream process, as KEY=VALUE (`HOOKSTREAM_…`).
    #[arg(long = "set", value_parser = key_value)]
    env: Vec<(String, String)>,
    /// PID of the broker, to report its CPU.
    #[arg(long, env = "HOOKSTREAM_BENCH_KAFKA_PID")]
    kafka_pid: Option<u32>,
    /// Longest one scenario may run.
    #[arg(long, default_value_t = 600)]
    deadline_s: u64,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

/// Concurrency of the `limit` client in its two runs: an endpoint's cap in the dispatcher
/// (`single`), and one connection per receiver (`fanout`).
const LIMIT_SINGLE: usize = 8;
const LIMIT_FANOUT: usize = 100;

fn scaled(n: usize, scale: f64) -> usize {
    ((n as f64 * scale).round() as usize).max(1)
}

fn pipeline(name: &str, scale: f64) -> anyhow::Result<Pipeline> {
    let flood = Pace::Flood {
        batch: 1000,
        in_flight: 4,
    };
    Ok(match name {
        "single" => Pipeline {
            name: "single",
            webhooks: 1,
            changes: scaled(200_000, scale),
            pace: flood,
            hang: false,
        },
        "fanout" => Pipeline {
            name: "fanout",
            webhooks: 100,
            changes: scaled(20_000, scale),
            pace: flood,
            hang: false,
        },
        "isolation" => Pipeline {
            name: "isolation",
            webhooks: 100,
            changes: scaled(20_000, scale),
            pace: flood,
            hang: true,
        },
        "steady" => Pipeline {
            name: "steady",
            webhooks: 10,
            changes: scaled(60_000, scale),
            pace: Pace::Steady {
                per_second: 1000,
                tick: Duration::from_millis(10),
            },
            hang: false,
        },
        other => {
            bail!(
                "unknown scenario {other:?} (limit, single, fanout, steady, isolation, ready, cdc)"
            )
        }
    })
}

/// `limit`: the minimal client against the same receiver, at `concurrency`.
async fn limit(
    name: &str,
    ports: usize,
    concurrency: usize,
    count: usize,
) -> anyhow::Result<Figures> {
    let stats = Arc::new(Stats::new(Clock::start(), ports, count, None));
    stats.accepted(0..count);
    let addrs = receiver::start(stats.clone(), ports).await?;
    let me = std::process::id();
    let cpu_before = procstat::cpu(me).unwrap_or_default();
    let clock = stats.clock();
    let start = clock.elapsed();
    limit::run(&addrs, concurrency, count).await?;
    let wall = (clock.elapsed() - start).as_secs_f64();
    let requests = stats.requests.load(Ordering::Relaxed);
    let cpu = (procstat::cpu(me).unwrap_or_default() - cpu_before).as_secs_f64();
    let first = (start.as_micros() / receiver::BUCKET.as_micros()) as usize;
    let timeline = stats.timeline(clock.elapsed());
    Ok(Figures {
        scenario: name.to_owned(),
        complete: requests == count as u64,
        webhooks: ports as u64,
        expected: count as u64,
        delivered: stats.unique.load(Ordering::Relaxed),
        wall_s: wall,
        deliveries_per_s: requests as f64 / wall.max(1e-9),
        processes: vec![Process {
            name: "bench (receiver + client)".into(),
            cpu_s_per_1k: cpu / (requests.max(1) as f64 / 1000.0),
            peak_rss_mib: procstat::memory_mib(me, "VmHWM:").unwrap_or(0.0),
        }],
        series: Some(Series {
            bucket_ms: receiver::BUCKET.as_millis() as u64,
            deliveries: timeline.get(first..).unwrap_or_default().to_vec(),
            ..Series::default()
        }),
        extra: serde_json::json!({ "concurrency": concurrency }),
        ..Figures::default()
    })
}

async fn run(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let settings = Settings {
        partitions: args.partitions,
        clock_skew_ms: args.clock_skew_ms,
        request_timeout_ms: args.request_timeout_ms,
        env: args.env.clone(),
        deadline: Duration::from_secs(args.deadline_s),
        kafka_pid: args.kafka_pid,
    };
    let mut all = Vec::new();
    for name in &args.scenarios {
        let results = match name.as_str() {
            "limit" => {
                let count = scaled(200_000, args.scale);
                vec![
                    limit("limit-8", 1, LIMIT_SINGLE, count).await?,
                    limit("limit-100", 100, LIMIT_FANOUT, count).await?,
                ]
            }
            "ready" => vec![ready::run(scaled(100_000, args.scale), args.partitions).await?],
            "cdc" => vec![
                cdc::run(
                    scaled(200_000, args.scale),
                    args.partitions,
                    settings.deadline,
                )
                .await?,
            ],
            other => vec![pipeline(other, args.scale)?.run(&settings).await?],
        };
        for figures in results {
            println!("{}", figures.line());
            let json = args.out.join(format!("{}.json", figures.scenario));
            let mut value = serde_json::to_value(&figures)?;
            value["series"] = serde_json::to_value(&figures.series)?;
            std::fs::write(&json, serde_json::to_string_pretty(&value)?)?;
            if let Some(series) = &figures.series {
                plot::draw(&args.out, &figures.scenario, series)?;
            }
            all.push(figures);
        }
    }
    let verdicts = targets::check(&all);
    if !verdicts.is_empty() {
        println!(
            "{}",
            serde_json::to_string(&serde_json::json!({ "targets": verdicts }))?
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}
