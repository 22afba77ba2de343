//! `hookstream replay`: sends a range of a category topic to webhooks again.

use std::io::IsTerminal;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hookstream_kafka::log::Follower;
use hookstream_kafka::KafkaConfig;
use hookstream_model::{Category, UnixMillis, WebhookId};
use hookstream_replay::{
    range, rfc3339, run, targets, Options, Progress, ReplayError, Start, Summary, Target,
};
use hookstream_store::Store;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

/// What to replay, to whom, how fast.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Category: its slug (`game`), or its key (`1`). May be left out with --webhook.
    #[arg(long, value_parser = parse_category)]
    category: Option<Category>,
    /// Start at the first change at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    #[arg(long, value_parser = hookstream_replay::parse_time, conflicts_with = "from_offset")]
    since: Option<UnixMillis>,
    /// Stop before the first change at or after this time (default: the topic's end now).
    #[arg(long, value_parser = hookstream_replay::parse_time)]
    until: Option<UnixMillis>,
    /// Start partition P at offset O instead (repeatable; only the named partitions are read).
    #[arg(long = "from-offset", value_name = "P:O", value_parser = parse_offset)]
    from_offset: Vec<(i32, i64)>,
    /// Send only to this webhook (default: every current webhook of the category).
    #[arg(long)]
    webhook: Option<i64>,
    /// At most this many deliveries queued per second, e.g. `200` or `200/s`.
    #[arg(long, value_parser = parse_rate)]
    rate: Option<NonZeroU32>,
    /// Count what would be sent; send nothing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(args: ReplayArgs, kafka: KafkaConfig) -> anyhow::Result<()> {
    let start = match (args.since, args.from_offset.is_empty()) {
        (Some(since), true) => Start::Time(since),
        (None, false) => Start::Offsets(args.from_offset.clone()),
        _ => bail!("say where to start: --since TIME or --from-offset P:O"),
    };
    let stop = CancellationToken::new();
    let ctrl_c = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping: sending what is queued (Ctrl-C again quits at once)…");
            ctrl_c.cancel();
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });

    let (category, webhooks) = targets_of(&args, &kafka).await?;
    let range = range::lookup(&kafka, category, start, args.until).await?;
    if let Some(warning) = &range.warning {
        eprintln!("warning: {warning}");
    }
    let terminal = std::io::stderr().is_terminal();
    let bar = Bar::new(range.records(), terminal);
    let options = Options {
        rate: args.rate,
        dry_run: args.dry_run,
    };
    let done = run::run(&kafka, category, &range, &webhooks, options, &bar, &stop).await;
    bar.done();
    let summary = match done {
        Ok(summary) => summary,
        Err(ReplayError::Stopped { source, resume }) => {
            if !resume.is_empty() {
                eprintln!(
                    "what was queued stays queued; resume with: {}",
                    resume_command(&args, category, &resume)
                );
            }
            return Err(anyhow::Error::new(*source).context("the replay stopped early"));
        }
        Err(e) => return Err(e.into()),
    };
    print_summary(&args, category, &range, webhooks.len(), &summary, &kafka);
    Ok(())
}

/// The category and the webhooks, from a view of the webhook log folded into a temporary
/// store (a replay does not touch any service's files).
async fn targets_of(
    args: &ReplayArgs,
    kafka: &KafkaConfig,
) -> anyhow::Result<(Category, Vec<WebhookId>)> {
    let dir = tempfile::Builder::new()
        .prefix("hookstream-replay-")
        .tempdir()
        .context("cannot create a temporary directory for the webhook view")?;
    let store = Arc::new(Store::open(dir.path())?);
    let stop = CancellationToken::new();
    let (follower, task) = Follower::start(kafka, store.clone(), None, stop.clone()).await?;
    follower
        .catch_up(Duration::from_secs(120))
        .await
        .context("cannot read the webhook log")?;
    let target = args
        .webhook
        .map_or(Target::Subscribers, |id| Target::Webhook(WebhookId(id)));
    let category = match (args.category, target) {
        (Some(category), _) => category,
        (None, Target::Webhook(id)) => targets::category_of(&store, id)?,
        (None, Target::Subscribers) => bail!("say which category: --category SLUG"),
    };
    let webhooks = targets::resolve(&store, category, target)?;
    stop.cancel();
    let _ = task.await;
    if webhooks.is_empty() && !args.dry_run {
        return Err(ReplayError::NoSubscribers(category).into());
    }
    Ok((category, webhooks))
}

fn print_summary(
    args: &ReplayArgs,
    category: Category,
    range: &hookstream_replay::Range,
    webhooks: usize,
    summary: &Summary,
    kafka: &KafkaConfig,
) {
    let what = match args.webhook {
        Some(id) => format!("webhook {id}"),
        None => format!("{webhooks} webhook(s)"),
    };
    let window = match (args.since, args.until) {
        (Some(since), Some(until)) => format!(" from {} to {}", rfc3339(since), rfc3339(until)),
        (Some(since), None) => format!(" from {}", rfc3339(since)),
        _ => String::new(),
    };
    let seconds = summary.elapsed.as_secs_f64();
    if args.dry_run {
        println!(
            "dry run: {} records of {}{window}; would queue {} deliveries to {what}",
            summary.records, range.topic, summary.deliveries
        );
    } else {
        println!(
            "replayed {} records of {}{window}: {} deliveries to {what} queued on {} in {seconds:.1} s",
            summary.records,
            range.topic,
            summary.deliveries,
            kafka.topics().replay()
        );
    }
    if summary.skipped > 0 {
        println!(
            "{} records were not changes of the category and were skipped",
            summary.skipped
        );
    }
    if let Some(at) = &summary.stopped_at {
        println!(
            "stopped before the end; resume with: {}",
            resume_command(args, category, at)
        );
    }
}

/// The command that replays what a stopped replay had left: the same target, end, rate and
/// mode, from the partitions' next offsets.
fn resume_command(args: &ReplayArgs, category: Category, at: &[(i32, i64)]) -> String {
    let mut words = vec![
        "hookstream replay".to_owned(),
        format!("--category {}", category.slug()),
    ];
    if let Some(until) = args.until {
        words.push(format!("--until {}", rfc3339(until)));
    }
    if let Some(id) = args.webhook {
        words.push(format!("--webhook {id}"));
    }
    if let Some(rate) = args.rate {
        words.push(format!("--rate {rate}"));
    }
    if args.dry_run {
        words.push("--dry-run".into());
    }
    words.extend(at.iter().map(|(p, o)| format!("--from-offset {p}:{o}")));
    words.join(" ")
}

/// A progress bar on a terminal; nothing otherwise (the summary says it all). Its message
/// is the deliveries queued so far.
struct Bar {
    bar: ProgressBar,
    deliveries: AtomicU64,
}

impl Bar {
    fn new(total: u64, terminal: bool) -> Bar {
        let deliveries = AtomicU64::new(0);
        if !terminal {
            return Bar {
                bar: ProgressBar::hidden(),
                deliveries,
            };
        }
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:40} {pos}/{len} records · {per_sec} · ETA {eta} · {msg} deliveries",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar { bar, deliveries }
    }

    fn done(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn advance(&self, records: u64, deliveries: u64) {
        self.bar.inc(records);
        if deliveries > 0 {
            let sent = self.deliveries.fetch_add(deliveries, Ordering::Relaxed) + deliveries;
            self.bar.set_message(sent.to_string());
        }
    }
}

fn parse_category(text: &str) -> Result<Category, String> {
    let result = match text.parse::<i64>() {
        Ok(key) => Category::from_key(key),
        Err(_) => Category::from_slug(&text.to_ascii_lowercase().replace('-', "_")),
    };
    result.map_err(|e| e.to_string())
}

fn parse_offset(text: &str) -> Result<(i32, i64), String> {
    let bad = || format!("{text:?} is not PARTITION:OFFSET, e.g. 0:1200");
    let (p, o) = text.split_once(':').ok_or_else(bad)?;
    let partition = p.trim().parse::<i32>().map_err(|_| bad())?;
    let offset = o.trim().parse::<i64>().map_err(|_| bad())?;
    if partition < 0 || offset < 0 {
        return Err(bad());
    }
    Ok((partition, offset))
}

fn parse_rate(text: &str) -> Result<NonZeroU32, String> {
    let number = text.trim().strip_suffix("/s").unwrap_or(text.trim());
    number.parse::<NonZeroU32>().map_err(|_| {
        format!("{text:?} is not a rate such as 200 or 200/s (deliveries per second, at least 1)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_or_say_what_is_expected() {
        assert_eq!(parse_category("game"), Ok(Category::Game));
        assert_eq!(
            parse_category("1"),
            Ok(Category::from_key(1).expect("key 1"))
        );
        assert!(parse_category("games").is_err());
        assert_eq!(parse_offset("3:120"), Ok((3, 120)));
        for bad in ["3", "a:1", "1:-2", "-1:0", ""] {
            let err = parse_offset(bad).expect_err(bad);
            assert!(err.contains("PARTITION:OFFSET"), "{err}");
        }
        assert_eq!(parse_rate("200/s").map(NonZeroU32::get), Ok(200));
        assert_eq!(parse_rate("5").map(NonZeroU32::get), Ok(5));
        for bad in ["0", "fast", "-3/s"] {
            assert!(parse_rate(bad).expect_err(bad).contains("rate"));
        }
    }
}
