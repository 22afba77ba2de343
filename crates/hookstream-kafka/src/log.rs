//! The subscription event log, `hookstream.webhooks`.
//!
//! One partition, never compacted: every component that folds it agrees on the order of
//! events and so on webhook ids (offset of `Registered` + 1). [`EventLog::append`] writes;
//! [`Follower`] folds it into a [`Fold`] and offers [`Follower::catch_up`], the barrier
//! behind read-your-writes in the API and happens-before in dispatch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use hookstream_model::{Codec, WebhookEvent};
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::dlq::{DeadLetters, Unreadable};
use crate::producer::Producer;
use crate::{KafkaConfig, KafkaError};

/// The partition of the log. There is only one.
pub const PARTITION: i32 = 0;

/// Appends events to the log.
#[derive(Clone)]
pub struct EventLog {
    topic: String,
    producer: Producer,
    codec: Arc<Codec<WebhookEvent>>,
}

impl EventLog {
    pub fn new(config: &KafkaConfig, producer: Producer) -> EventLog {
        EventLog {
            topic: config.topics().webhooks(),
            producer,
            codec: Arc::new(Codec::new()),
        }
    }

    /// Appends `event` and returns its offset once Kafka acknowledged it.
    pub async fn append(&self, event: &WebhookEvent) -> Result<i64, KafkaError> {
        let payload = self
            .codec
            .encode(event)
            .expect("a WebhookEvent always matches its schema");
        let stored = self
            .producer
            .send(&self.topic, Some(PARTITION), b"", &payload)
            .await?;
        Ok(stored.offset)
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
}

/// What folds the log: the sled store of a component.
pub trait Fold: Send + Sync + 'static {
    /// The error of a failed apply. Failing to apply stops the follower: state would diverge.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The offset of the next event to apply (0 when nothing has been applied).
    fn next_offset(&self) -> i64;

    /// Applies the event at `offset`. Must be idempotent for offsets below `next_offset`.
    fn apply(&self, offset: i64, event: Option<WebhookEvent>) -> Result<(), Self::Error>;

    /// Applies consecutive events at once (a follower catching up hands them over in batches).
    /// The default applies them one by one.
    fn apply_all(&self, events: &[(i64, Option<WebhookEvent>)]) -> Result<(), Self::Error> {
        events
            .iter()
            .try_for_each(|(offset, event)| self.apply(*offset, event.clone()))
    }

    /// Forgets everything, so that folding starts again at offset 0.
    fn reset(&self) -> Result<(), Self::Error>;
}

/// Reads the log from where the fold left off and applies every event, in order.
pub struct Follower {
    /// Asks for the log's high watermark. A client of its own: on the follower's connection
    /// the request would queue behind the long-polling fetch.
    watermarks: Arc<BaseConsumer>,
    topic: String,
    applied: watch::Receiver<i64>,
}

impl Follower {
    /// Starts following. The returned task ends when `shutdown` is cancelled or a fold fails.
    /// Events that cannot be read are skipped, counted, and copied to `dead_letters` if
    /// given.
    pub async fn start<F: Fold>(
        config: &KafkaConfig,
        fold: Arc<F>,
        dead_letters: Option<DeadLetters>,
        shutdown: CancellationToken,
    ) -> Result<(Follower, tokio::task::JoinHandle<()>), KafkaError> {
        let topic = config.topics().webhooks();
        let consumer: StreamConsumer = config
            .client_config()
            .set("group.id", "hookstream-log-follower-unused")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "100")
            // Folding is slower than fetching: a small prefetch keeps a long log out of memory.
            .set("queued.max.messages.kbytes", "4096")
            .set("queued.min.messages", "5000")
            // A position outside the log (topic recreated under a running follower) must stop
            // folding, not jump to the end and pass the barrier on an incomplete view.
            .set("auto.offset.reset", "error")
            .create()
            .map_err(KafkaError::Client)?;
        let consumer = Arc::new(consumer);
        let watermarks: Arc<BaseConsumer> = Arc::new(
            config
                .client_config()
                .set("group.id", "hookstream-log-watermarks-unused")
                .set("enable.auto.commit", "false")
                .create()
                .map_err(KafkaError::Client)?,
        );
        let high = {
            let (watermarks, topic) = (watermarks.clone(), topic.clone());
            tokio::task::spawn_blocking(move || {
                fetch_high_watermark(&watermarks, &topic, Duration::from_secs(30))
            })
            .await
            .map_err(|_| KafkaError::FollowerStopped)??
        };
        if fold.next_offset() > high {
            // The log is shorter than what was folded: it was deleted and created again.
            warn!(
                folded = fold.next_offset(),
                log_end = high,
                "the view is ahead of the webhook log (was the topic recreated?); rebuilding it"
            );
            fold.reset().map_err(|e| KafkaError::Fold(e.to_string()))?;
        }
        let start = fold.next_offset();
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&topic, PARTITION, Offset::Offset(start))
            .map_err(KafkaError::Client)?;
        consumer.assign(&assignment).map_err(KafkaError::Client)?;
        let (tx, applied) = watch::channel(start);
        let task = tokio::spawn(follow(
            consumer.clone(),
            fold,
            tx,
            Unreadables {
                topic: topic.clone(),
                dead_letters,
            },
            shutdown,
        ));
        Ok((
            Follower {
                watermarks,
                topic,
                applied,
            },
            task,
        ))
    }

    /// The offset of the next event to apply: everything below it is folded.
    pub fn applied(&self) -> i64 {
        *self.applied.borrow()
    }

    /// Waits until every event at an offset below `target` has been folded.
    pub async fn wait_for(&self, target: i64, timeout: Duration) -> Result<(), KafkaError> {
        let started = Instant::now();
        let mut applied = self.applied.clone();
        let reached = tokio::time::timeout(timeout, applied.wait_for(|next| *next >= target)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(KafkaError::FollowerStopped),
            Err(_) => Err(KafkaError::CatchUpTimeout {
                target,
                reached: self.applied(),
                waited_ms: started.elapsed().as_millis(),
            }),
        }
    }

    /// The log's high watermark: the offset the next appended event will get.
    pub async fn high_watermark(&self) -> Result<i64, KafkaError> {
        let watermarks = self.watermarks.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            fetch_high_watermark(&watermarks, &topic, Duration::from_secs(2))
        })
        .await
        .map_err(|_| KafkaError::FollowerStopped)?
    }

    /// Folds every event appended before this call: fetches the high watermark, then waits
    /// until the fold reached it.
    pub async fn catch_up(&self, timeout: Duration) -> Result<(), KafkaError> {
        let started = Instant::now();
        let high = tokio::time::timeout(timeout, self.high_watermark())
            .await
            .map_err(|_| KafkaError::WatermarkTimeout {
                topic: self.topic.clone(),
                waited_ms: started.elapsed().as_millis(),
            })??;
        self.wait_for(high, timeout.saturating_sub(started.elapsed()))
            .await
    }
}

/// The high watermark of the log, retried for `patience` while the broker is settling
/// (a new topic's leader unknown yet, a leader moving).
///
/// After a failed attempt the topic's metadata is fetched again: this client has no fetcher
/// of its own, so nothing else would notice that the partition's leader moved, and it would
/// keep asking a dead broker until the periodic refresh minutes later.
fn fetch_high_watermark(
    consumer: &BaseConsumer,
    topic: &str,
    patience: Duration,
) -> Result<i64, KafkaError> {
    let started = Instant::now();
    loop {
        let left = patience.saturating_sub(started.elapsed());
        let attempt = left.clamp(MIN_ATTEMPT, MAX_ATTEMPT);
        match consumer.fetch_watermarks(topic, PARTITION, attempt) {
            Ok((_, high)) => return Ok(high),
            Err(source) => {
                debug!(error = %source, "high watermark not available; refreshing the leader");
                if let Err(e) = consumer.fetch_metadata(Some(topic), MAX_ATTEMPT) {
                    debug!(error = %e, "cannot refresh the metadata of the log");
                }
                if started.elapsed() >= patience {
                    return Err(KafkaError::Watermarks {
                        topic: topic.to_owned(),
                        source,
                    });
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// Bounds of one watermark request: long enough for a loaded broker, short enough that a
/// request sent to a broker that died is given up and the moved leader asked instead.
const MIN_ATTEMPT: Duration = Duration::from_millis(500);
const MAX_ATTEMPT: Duration = Duration::from_secs(2);

/// Events a follower folds at once at most, when it is behind.
const FOLD_BATCH: usize = 1000;

/// Where a follower reports events it cannot read.
struct Unreadables {
    topic: String,
    dead_letters: Option<DeadLetters>,
}

impl Unreadables {
    async fn report(&self, poison: &[Poison]) {
        for p in poison {
            let record = Unreadable {
                topic: &self.topic,
                partition: PARTITION,
                offset: p.offset,
                key: p.key.as_deref(),
                payload: p.payload.as_deref(),
            };
            match &self.dead_letters {
                Some(dead_letters) => dead_letters.send(record, &p.reason).await,
                None => crate::dlq::count(&self.topic),
            }
        }
    }
}

/// An event that could not be read, kept until its batch is folded.
struct Poison {
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    reason: String,
}

async fn follow<F: Fold>(
    consumer: Arc<StreamConsumer>,
    fold: Arc<F>,
    applied: watch::Sender<i64>,
    unreadables: Unreadables,
    shutdown: CancellationToken,
) {
    let codec = Codec::<WebhookEvent>::new();
    let mut batch: Vec<(i64, Option<WebhookEvent>)> = Vec::with_capacity(FOLD_BATCH);
    let mut poison: Vec<Poison> = Vec::new();
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return,
            message = consumer.recv() => message,
        };
        let mut message = match message {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "event log read failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        // Take what has already arrived along with it: one fold transaction for all of them.
        // Events the fold already holds (a re-read after a restart) are skipped by the fold.
        let mut last;
        loop {
            last = message.offset();
            let event = match codec.decode_record(message.payload()) {
                Ok(event) => Some(event),
                Err(e) => {
                    let reason = e.to_string();
                    error!(offset = last, %reason, "unreadable event in the webhook log; skipped");
                    poison.push(Poison {
                        offset: last,
                        key: message.key().map(<[u8]>::to_vec),
                        payload: message.payload().map(<[u8]>::to_vec),
                        reason,
                    });
                    None
                }
            };
            batch.push((last, event));
            drop(message);
            if batch.len() >= FOLD_BATCH {
                break;
            }
            match consumer.recv().now_or_never() {
                Some(Ok(next)) => message = next,
                _ => break,
            }
        }
        if let Err(e) = fold.apply_all(&batch) {
            error!(offset = last, error = %e, "cannot apply webhook log events; the follower stops");
            return;
        }
        debug!(events = batch.len(), last, "applied webhook log events");
        batch.clear();
        applied.send_replace(last + 1);
        if !poison.is_empty() {
            unreadables.report(&poison).await;
            poison.clear();
        }
    }
}
