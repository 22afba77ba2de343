//! `cdc`: PostgreSQL → capture → Kafka. A table of `rows` games, then every row updated (in
//! transactions of [`ROWS_PER_TX`]) while capture decodes the WAL through its slot; timed until
//! every update is on the category topic.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hookstream_tests::postgres::Database;
use hookstream_tests::Stack;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use serde_json::json;

use crate::procstat;
use crate::report::{Figures, Process};

const ROWS_PER_TX: usize = 10_000;

pub async fn run(rows: usize, partitions: usize, deadline: Duration) -> anyhow::Result<Figures> {
    let mut stack = Stack::new("cdc");
    for (k, v) in [
        ("HOOKSTREAM_KAFKA__PARTITIONS", partitions.to_string()),
        (
            "RUST_LOG",
            "warn,hookstream=info,hookstream_capture=info".into(),
        ),
    ] {
        stack.overrides.insert(k.into(), v);
    }
    let db = Database::create(&stack.ns.prefix).await;
    db.execute(&format!(
        "CREATE TABLE games (id bigint PRIMARY KEY, name text, rating numeric(6,2), updated_at timestamptz);
         INSERT INTO games SELECT n, 'Game ' || n, n % 100, now() FROM generate_series(1, {rows}) AS n;"
    ))
    .await;
    // The rows exist before capture starts and no snapshot is taken: only the updates count.
    let config = db.capture_config_with(&[("games", "game")], "snapshot = false\n");
    stack.config_file(&config);
    let mut capture = stack.spawn("capture", "capture");
    capture.wait_log("PostgreSQL source started", Duration::from_secs(60), |v| {
        v["fields"]["message"] == "PostgreSQL source started"
    });
    let topic = format!("{}igdb.game", stack.ns.prefix);
    let watermarks: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", hookstream_tests::kafka::bootstrap())
        .create()
        .context("a client for watermarks")?;

    let cpu_before = procstat::cpu(capture.pid()).unwrap_or_default();
    let started = Instant::now();
    for first in (1..=rows).step_by(ROWS_PER_TX) {
        let last = (first + ROWS_PER_TX - 1).min(rows);
        db.execute(&format!(
            "UPDATE games SET rating = rating + 1, updated_at = now() WHERE id BETWEEN {first} AND {last}"
        ))
        .await;
    }
    let committed = started.elapsed();
    let on_kafka = loop {
        // Until capture has created the topic, its partitions are unknown: nothing yet.
        let have = published(&watermarks, &topic, partitions).unwrap_or(0);
        if have >= rows as i64 {
            break started.elapsed();
        }
        if started.elapsed() > deadline {
            bail!("cdc: {have} of {rows} updates on {topic} after {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cpu = (procstat::cpu(capture.pid()).unwrap_or_default() - cpu_before).as_secs_f64();
    let peak = procstat::memory_mib(capture.pid(), "VmHWM:").unwrap_or(0.0);
    capture.terminate(Duration::from_secs(20));
    let wall = on_kafka.as_secs_f64();
    Ok(Figures {
        scenario: "cdc".into(),
        complete: true,
        changes: rows as u64,
        expected: rows as u64,
        wall_s: wall,
        changes_per_s: rows as f64 / wall.max(1e-9),
        processes: vec![Process {
            name: "capture".into(),
            cpu_s_per_1k: cpu / (rows as f64 / 1000.0),
            peak_rss_mib: peak,
        }],
        extra: json!({
            "sql_s": committed.as_secs_f64(),
            "lag_after_last_commit_s": (on_kafka - committed).as_secs_f64(),
            "rows_per_transaction": ROWS_PER_TX,
        }),
        ..Figures::default()
    })
}

/// Records on `topic` so far, over its partitions.
fn published(client: &BaseConsumer, topic: &str, partitions: usize) -> anyhow::Result<i64> {
    let mut total = 0;
    for partition in 0..partitions as i32 {
        let (low, high) = client
            .fetch_watermarks(topic, partition, Duration::from_secs(5))
            .with_context(|| format!("watermarks of {topic} [{partition}]"))?;
        total += high - low;
    }
    Ok(total)
}
