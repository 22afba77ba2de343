//! Reads a range of a category topic and queues a targeted delivery per (record, webhook) on
//! the immediate tier.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::{Quota, RateLimiter};
use hookstream_dispatch::changes::{first_attempt, read_change, Source};
use hookstream_kafka::producer::Producer;
use hookstream_kafka::{KafkaConfig, KafkaError};
use hookstream_model::{now_millis, Category, Codec, DeliveryJob, EntityChange, WebhookId};
use rdkafka::consumer::{Consumer, StreamConsumer};
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
/// sends what it queued and reports where it stopped). On an error, what was sent stays
/// sent and the error says where to resume ([`ReplayError::Stopped`]).
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
    let todo: Todo = range
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
        durable: todo.clone(),
    };
    let mut reading = Reading {
        consumer: &consumer,
        topic: &range.topic,
        category,
        webhooks,
        todo,
        changes: Codec::new(),
    };
    let read = reading.all(&mut queue, &mut summary, progress, stop).await;
    let sent = queue.flush(&reading.todo).await;
    summary.elapsed = started.elapsed();
    match read.and(sent) {
        Ok(()) => {
            summary.stopped_at = resume_points(&reading.todo);
            Ok(summary)
        }
        Err(e) => Err(ReplayError::Stopped {
            source: Box::new(e),
            resume: resume_points(&queue.durable).unwrap_or_default(),
        }),
    }
}

/// Per partition: the next offset to read and the end of the range.
type Todo = HashMap<i32, (i64, i64)>;

fn resume_points(todo: &Todo) -> Option<Vec<(i32, i64)>> {
    if todo.is_empty() {
        return None;
    }
    let mut at: Vec<(i32, i64)> = todo.iter().map(|(p, (next, _))| (*p, *next)).collect();
    at.sort();
    Some(at)
}

/// The read side of a replay: what is left of each partition.
struct Reading<'a> {
    consumer: &'a StreamConsumer,
    topic: &'a str,
    category: Category,
    webhooks: &'a [WebhookId],
    todo: Todo,
    changes: Codec<EntityChange>,
}

impl Reading<'_> {
    async fn all(
        &mut self,
        queue: &mut Queue,
        summary: &mut Summary,
        progress: &dyn Progress,
        stop: &CancellationToken,
    ) -> Result<(), ReplayError> {
        while !self.todo.is_empty() {
            let record = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                record = self.consumer.recv() => record,
            };
            let record = match record {
                Ok(record) => record,
                // The partition's end (at least the range's end, which was at most the end
                // then): nothing of the range is left on it, even where offsets have gaps.
                Err(rdkafka::error::KafkaError::PartitionEOF(partition)) => {
                    self.done(partition);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let (partition, offset) = (record.partition(), record.offset());
            let Some(&(_, end)) = self.todo.get(&partition) else {
                continue;
            };
            if offset >= end {
                self.done(partition);
                continue;
            }
            let mut queued = 0;
            let read = read_change(
                &self.changes,
                self.topic,
                record.payload(),
                Some(self.category),
            );
            match read {
                Ok(change) => {
                    let data: Arc<str> = change.data.as_str().into();
                    let source = Source { partition, offset };
                    let now = now_millis();
                    for webhook in self.webhooks {
                        let job = first_attempt(&change, &data, source, *webhook, now, true);
                        if !queue.push(job, &self.todo, stop).await? {
                            // Stopped while waiting for the rate limit: this record is
                            // where a resume starts (its jobs queued so far come again,
                            // with the same webhook-id).
                            summary.deliveries += queued;
                            progress.advance(0, queued);
                            return Ok(());
                        }
                        queued += 1;
                    }
                }
                Err(reason) => {
                    warn!(topic = self.topic, offset, %reason, "unreadable change; skipped");
                    summary.skipped += 1
                }
            }
            summary.records += 1;
            summary.deliveries += queued;
            progress.advance(1, queued);
            if offset + 1 >= end {
                self.done(partition);
            } else if let Some(next) = self.todo.get_mut(&partition) {
                next.0 = offset + 1;
            }
        }
        Ok(())
    }

    /// Nothing of the range is left on `partition`: stop fetching it.
    fn done(&mut self, partition: i32) {
        if self.todo.remove(&partition).is_some() {
            let mut list = TopicPartitionList::new();
            list.add_partition(self.topic, partition);
            // Only saves fetching: records of a finished partition are ignored anyway.
            let _ = self.consumer.pause(&list);
        }
    }
}

/// A consumer of its own, outside any group, assigned to the start of each partition.
fn reader(kafka: &KafkaConfig, topic: &str, todo: &Todo) -> Result<StreamConsumer, ReplayError> {
    let consumer: StreamConsumer = kafka
        .client_config()
        .set("group.id", "hookstream-replay-unused")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
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
    /// What the reading had left when the last batch was acknowledged: where a replay that
    /// failed resumes.
    durable: Todo,
}

const LINGER: Duration = Duration::from_millis(100);

impl Queue {
    /// Queues `job`; `false` when `stop` came while waiting for the rate limit. `todo` is
    /// the reading's state once the jobs sent so far are acknowledged.
    async fn push(
        &mut self,
        job: DeliveryJob,
        todo: &Todo,
        stop: &CancellationToken,
    ) -> Result<bool, ReplayError> {
        if self.producer.is_none() {
            return Ok(true);
        }
        if let Some(limiter) = &self.limiter {
            tokio::select! {
                _ = stop.cancelled() => return Ok(false),
                _ = limiter.until_ready() => {}
            }
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
            self.flush(todo).await?;
        }
        Ok(true)
    }

    /// Sends the batch and waits for its acknowledgements; `todo` is where the reading is.
    async fn flush(&mut self, todo: &Todo) -> Result<(), ReplayError> {
        let Some(producer) = &self.producer else {
            return Ok(());
        };
        if self.batch.is_empty() {
            self.durable = todo.clone();
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
        self.durable = todo.clone();
        Ok(())
    }
}
