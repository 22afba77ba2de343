//! `ready`: how long a dispatcher takes to be ready with many webhooks in the log, from an
//! empty sled (the whole log folded) and from its own sled (reopened, nothing to fold).
//!
//! The log is seeded by producing `Registered` events straight to it: the API is not what is
//! measured here, and registering 100,000 webhooks through it would take longer than the rest.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hookstream_kafka::producer::Producer;
use hookstream_kafka::KafkaConfig;
use hookstream_model::{AccountId, Category, Codec, Event, WebhookEvent};
use hookstream_tests::{Proc, Stack};
use serde_json::json;

use crate::procstat;
use crate::report::{Figures, Process};

/// Events produced per `send_in_order` call.
const CHUNK: usize = 5_000;

pub async fn run(webhooks: usize, partitions: usize) -> anyhow::Result<Figures> {
    let mut stack = Stack::new("ready");
    stack.overrides.insert(
        "HOOKSTREAM_KAFKA__PARTITIONS".into(),
        partitions.to_string(),
    );
    stack
        .overrides
        .insert("RUST_LOG".into(), crate::scenario::QUIET_LOG.into());
    // The API process creates the topics; the log is then seeded behind its back.
    let mut api = stack.spawn("api", "api");
    api.addr("api");
    let kafka = KafkaConfig {
        brokers: hookstream_tests::kafka::bootstrap(),
        category_prefix: format!("{}igdb.", stack.ns.prefix),
        internal_prefix: format!("{}hs.", stack.ns.prefix),
        ..KafkaConfig::default()
    };
    let seeded = Instant::now();
    seed(&kafka, webhooks).await?;
    let seed_s = seeded.elapsed().as_secs_f64();

    let (from_empty, empty_proc) = ready(&stack, webhooks)?;
    let mut first = empty_proc;
    let peak_empty = procstat::memory_mib(first.pid(), "VmHWM:").unwrap_or(0.0);
    first.terminate(Duration::from_secs(30));
    let (from_sled, mut second) = ready(&stack, webhooks)?;
    let peak_sled = procstat::memory_mib(second.pid(), "VmHWM:").unwrap_or(0.0);
    let peak = peak_sled.max(peak_empty);
    second.terminate(Duration::from_secs(30));
    api.terminate(Duration::from_secs(10));
    Ok(Figures {
        scenario: "ready".into(),
        complete: true,
        webhooks: webhooks as u64,
        wall_s: from_empty + from_sled,
        processes: vec![Process {
            name: "dispatch".into(),
            cpu_s_per_1k: 0.0,
            peak_rss_mib: peak,
        }],
        extra: json!({
            "ready_from_empty_s": from_empty,
            "ready_from_sled_s": from_sled,
            "seed_s": seed_s,
            "peak_rss_from_empty_mib": peak_empty,
            "peak_rss_from_sled_mib": peak_sled,
            "fold_per_s": webhooks as f64 / from_empty.max(1e-9),
        }),
        ..Figures::default()
    })
}

/// Produces `count` registrations, in order, to the webhook log.
async fn seed(kafka: &KafkaConfig, count: usize) -> anyhow::Result<()> {
    let producer = Producer::new(kafka)?;
    let codec = Codec::<WebhookEvent>::new();
    let topic = kafka.topics().webhooks();
    let mut next = 0;
    while next < count {
        let end = (next + CHUNK).min(count);
        let payloads: Vec<Vec<u8>> = (next..end)
            .map(|n| {
                codec.encode(&WebhookEvent::now(Event::Registered {
                    account: AccountId(format!("account-{}", n % 1000)),
                    url: format!("https://hooks-{}.example.com/igdb/{n}", n % 5000),
                    category: Category::from_key((n % 23 + 1) as i64).unwrap_or(Category::Game),
                    secret: format!("secret-{n}"),
                }))
            })
            .collect::<Result<_, _>>()
            .context("encoding a registration")?;
        let records: Vec<(&str, &[u8], &[u8])> = payloads
            .iter()
            .map(|p| (topic.as_str(), &b""[..], p.as_slice()))
            .collect();
        for stored in producer.send_in_order(&records).await {
            stored.context("seeding the webhook log")?;
        }
        next = end;
    }
    Ok(())
}

/// Spawns a dispatcher and returns the seconds until it said it was ready, measured by us
/// from the spawn (process start-up and topic checks included).
fn ready(stack: &Stack, webhooks: usize) -> anyhow::Result<(f64, Proc)> {
    let spawned = Instant::now();
    let dispatch = stack.spawn("dispatch", "dispatch");
    let line = dispatch.wait_log("ready", Duration::from_secs(300), |v| {
        v["fields"]["message"] == "view caught up with the webhook log; ready"
    });
    let took = spawned.elapsed().as_secs_f64();
    let held = line["fields"]["webhooks"].as_u64().unwrap_or(0);
    if held != webhooks as u64 {
        bail!("the dispatcher was ready with {held} webhooks, not {webhooks}");
    }
    Ok((took, dispatch))
}
