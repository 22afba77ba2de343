//! Reads a range of a category topic and queues a targeted delivery per (record, webhook) on
//! the immediate tier.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::{Quota, RateLimiter};
use hookstream_dispatch::changes::{first_attempt, Source};
use hookstream_kafka::producer::Producer;
use hookstream_kafka::{KafkaConfig, KafkaError};
use hookstream_model::{now_millis, Category, Codec, DeliveryJob, EntityChange, WebhookId};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::{Range, ReplayError};

/// How a replay runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// At most this many deliveries queued per second.
    pub rate: Option<NonZeroU32>,
    /// Count what would be queued; queue nothing.
    pub dry_run: bool,
}

/// Told how far a replay got, as it goes.
pub trait Progress: Send + Sync {
    /// `records` more records were read, `deliveries` more deliveries queued (or counted).
    fn advance(&self, records: u64, deliveries: u64);
}

/// Progress nobody watches.
pub struct Silent;

impl Progress for Silent {
    fn advance(&self, _: u64, _: u64) {}
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records read from the range.
    pub records: u64,
    /// Deliveries queued (counted, in a dry run).
    pub deliveries: u64,
    /// Records that were not changes of the category (skipped, as dispatchers do).
    pub skipped: u64,
    /// Set when stopped before the end: where each unfinished partition would resume.
    pub stopped_at: Option<Vec<(i32, i64)>>,
    pub elapsed: Duration,
}

/// Jobs sent to Kafka per batch, in order, before their acknowledgements are awaited.
const BATCH: usize = 500;

/// Replays `range` of `category` to `webhooks` until done or `stop` is cancelled (then it
/// finishes the batch in hand and reports where it stopped).
pub async fn run(
    kafka: &KafkaConfig,
    category: Category,
    range: &Range,
    webhooks: &[WebhookId],
    options: Options,
    progress: &dyn Progress,
    stop: &CancellationToken,
) -> Result<Summary, ReplayError> {
    let started = Instant::now();
    let mut todo: HashMap<i32, (i64, i64)> = range
        .partitions
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| (p.partition, (p.start, p.end)))
        .collect();
    let mut summary = Summary {
        records: 0,
        deliveries: 0,
        skipped: 0,
        stopped_at: None,
        elapsed: Duration::ZERO,
    };
    if todo.is_empty() {
        return Ok(summary);
    }
    if !options.dry_run {
        // Dispatchers create the immediate tier too; a replay may come first.
        let immediate = hookstream_kafka::admin::retry_topics(kafka, &[], &[]);
        hookstream_kafka::admin::ensure_topics(kafka, &immediate).await?;
    }
    let consumer = reader(kafka, &range.topic, &todo)?;
    let mut queue = Queue {
        producer: match options.dry_run {
            true => None,
            false => Some(Producer::new(kafka)?),
        },
        topic: kafka.topics().replay(),
        codec: Codec::new(),
        limiter: options
            .rate
            .map(|rate| RateLimiter::direct(Quota::per_second(rate))),
        batch: Vec::with_capacity(BATCH),
        batch_started: None,
    };
    let changes = Codec::<EntityChange>::new();
    while !todo.is_empty() {
        let record = tokio::select! {
            _ = stop.cancelled() => break,
            record = consumer.recv() => record?,
        };
        let partition = record.partition();
        let Some(&(_, end)) = todo.get(&partition) else {
            continue;
        };
        if record.offset() >= end {
            todo.remove(&partition);
            continue;
        }
        summary.records += 1;
        let queued = match decode(&changes, &record, category) {
            Some(change) => {
                let data: Arc<str> = change.data.as_str().into();
                let source = Source {
                    partition,
                    offset: record.offset(),
                };
                let now = now_millis();
                for webhook in webhooks {
                    let job = first_attempt(&change, &data, source, *webhook, now, true);
                    queue.push(job).await?;
                }
                webhooks.len() as u64
            }
            None => {
                summary.skipped += 1;
                0
            }
        };
        summary.deliveries += queued;
        progress.advance(1, queued);
        if record.offset() + 1 >= end {
            todo.remove(&partition);
        } else if let Some(next) = todo.get_mut(&partition) {
            next.0 = record.offset() + 1;
        }
    }
    queue.flush().await?;
    if !todo.is_empty() {
        let mut at: Vec<(i32, i64)> = todo.iter().map(|(p, (next, _))| (*p, *next)).collect();
        at.sort();
        summary.stopped_at = Some(at);
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// A consumer of its own, outside any group, assigned to the start of each partition.
fn reader(
    kafka: &KafkaConfig,
    topic: &str,
    todo: &HashMap<i32, (i64, i64)>,
) -> Result<StreamConsumer, ReplayError> {
    let consumer: StreamConsumer = kafka
        .client_config()
        .set("group.id", "hookstream-replay-unused")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "error")
        .set("queued.max.messages.kbytes", "16384")
        .create()
        .map_err(KafkaError::Client)?;
    let mut assignment = TopicPartitionList::new();
    for (partition, (start, _)) in todo {
        assignment.add_partition_offset(topic, *partition, Offset::Offset(*start))?;
    }
    consumer.assign(&assignment)?;
    Ok(consumer)
}

fn decode(
    codec: &Codec<EntityChange>,
    record: &BorrowedMessage<'_>,
    category: Category,
) -> Option<EntityChange> {
    let (topic, offset) = (record.topic(), record.offset());
    match record.payload().map(|p| codec.decode(p)) {
        Some(Ok(change)) if change.category == category => Some(change),
        Some(Ok(change)) => {
            warn!(topic, offset, category = %change.category, "change of another category; skipped");
            None
        }
        Some(Err(e)) => {
            warn!(topic, offset, error = %e, "undecodable change; skipped");
            None
        }
        None => {
            warn!(topic, offset, "empty record; skipped");
            None
        }
    }
}

type Limiter = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    governor::clock::DefaultClock,
>;

/// Jobs on their way to the immediate tier, sent in order in batches.
struct Queue {
    /// `None` in a dry run.
    producer: Option<Producer>,
    topic: String,
    codec: Codec<DeliveryJob>,
    limiter: Option<Limiter>,
    batch: Vec<(Vec<u8>, Vec<u8>)>,
    /// When the oldest job of the batch was pushed: a slow, rate-limited replay still sends
    /// its jobs within [`LINGER`].
    batch_started: Option<Instant>,
}

const LINGER: Duration = Duration::from_millis(100);

impl Queue {
    async fn push(&mut self, job: DeliveryJob) -> Result<(), ReplayError> {
        if self.producer.is_none() {
            return Ok(());
        }
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        // One entity's replays to one webhook stay in one partition, in order.
        let key = format!("{}:{}", job.webhook_id, job.entity_id).into_bytes();
        let payload = self
            .codec
            .encode(&job)
            .expect("a DeliveryJob always matches its schema");
        self.batch.push((key, payload));
        let started = *self.batch_started.get_or_insert_with(Instant::now);
        if self.batch.len() >= BATCH || started.elapsed() >= LINGER {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ReplayError> {
        let Some(producer) = &self.producer else {
            return Ok(());
        };
        if self.batch.is_empty() {
            return Ok(());
        }
        let records: Vec<(&str, &[u8], &[u8])> = self
            .batch
            .iter()
            .map(|(key, payload)| (self.topic.as_str(), key.as_slice(), payload.as_slice()))
            .collect();
        for result in producer.send_in_order(&records).await {
            result?;
        }
        self.batch.clear();
        self.batch_started = None;
        Ok(())
    }
}
