//! Partition lanes: a consumer's records are handed to one task per partition, which handles
//! them one at a time, in order, and stores each offset once its record settled.
//!
//! Partitions do not wait for each other. A lane holds at most `capacity` records; when it is
//! full, or its head is not due yet (retry tiers), the partition is paused in librdkafka and
//! rewound to the first record not taken, and resumed once the lane has drained — so a slow
//! partition costs neither memory nor the progress of the others, and no busy loop runs.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::OwnedMessage;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::telemetry;

/// The record could not be settled because the dispatcher is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

/// The two signals a handler sees when its dispatcher stops.
#[derive(Debug, Clone, Default)]
pub struct Stops {
    /// The dispatcher is draining: finish in-flight work, but start no long wait.
    pub draining: CancellationToken,
    /// Draining took too long: give up now, leaving the record unsettled.
    pub stop: CancellationToken,
}

/// Handles one record. Returns once the record is settled; its offset is then stored.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        record: OwnedMessage,
        stops: &Stops,
    ) -> impl Future<Output = Result<(), Interrupted>> + Send;
}

/// A consumer context that reports revoked partitions to the lane loop, and the consumer's
/// lag from librdkafka's statistics.
pub struct LaneContext {
    revoked: mpsc::UnboundedSender<Vec<(String, i32)>>,
    /// `changes` or `retries`: the `consumer` label of the lag metric.
    name: &'static str,
}

impl ClientContext for LaneContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, stats) in &statistics.topics {
            // Records not yet settled, from the last stored offset to the partition's end;
            // -1 while unknown (no stored offset yet).
            let lag: i64 = stats
                .partitions
                .values()
                .filter(|p| p.partition >= 0 && p.desired)
                .map(|p| p.consumer_lag_stored.max(p.consumer_lag).max(0))
                .sum();
            telemetry::consumer_lag(self.name, topic, lag);
        }
    }
}

impl ConsumerContext for LaneContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(list) => {
                // Hand the partitions over with every settled record committed, not only those
                // of the last auto-commit: the next owner then re-sends only what was in flight.
                if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
                    debug!(error = %e, "nothing to commit before the revocation, or the commit failed");
                }
                let partitions = list
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                let _ = self.revoked.send(partitions);
            }
            Rebalance::Assign(list) => info!(partitions = list.count(), "partitions assigned"),
            Rebalance::Error(e) => warn!(error = %e, "rebalance error"),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // A partition paused by a lane that was then revoked stays paused in librdkafka when it
        // comes back to this consumer; its new lane starts unpaused, so resume it here.
        if let Rebalance::Assign(list) = rebalance {
            if let Err(e) = consumer.resume(list) {
                warn!(error = %e, "cannot resume newly assigned partitions");
            }
        }
    }
}

/// A consumer whose revocations reach its lanes.
pub type LaneConsumer = StreamConsumer<LaneContext>;

/// Where a lane consumer reports the partitions it lost.
pub type Revocations = mpsc::UnboundedReceiver<Vec<(String, i32)>>;

/// Makes the context of a lane consumer and the receiver of its revocations.
pub fn context(name: &'static str) -> (LaneContext, Revocations) {
    let (revoked, rx) = mpsc::unbounded_channel();
    (LaneContext { revoked, name }, rx)
}

type Partition = (String, i32);

struct Lane {
    tx: mpsc::Sender<OwnedMessage>,
    task: JoinHandle<()>,
    /// Set while the partition is paused; records from this offset on are dropped until resume.
    paused_at: Option<i64>,
    pause_flag: Arc<AtomicBool>,
}

/// Settings of the lanes.
#[derive(Debug, Clone, Copy)]
pub struct LaneConfig {
    pub capacity: usize,
    pub drain_timeout: Duration,
}

/// Runs the consumer until `shutdown`, then drains the lanes (bounded by `drain_timeout`).
pub async fn run<H: Handler>(
    consumer: Arc<LaneConsumer>,
    mut revoked: Revocations,
    handler: Arc<H>,
    config: LaneConfig,
    shutdown: CancellationToken,
) {
    let mut lanes: HashMap<Partition, Lane> = HashMap::new();
    let (drained_tx, mut drained_rx) = mpsc::unbounded_channel::<Partition>();
    let stops = Stops {
        draining: shutdown.clone(),
        stop: CancellationToken::new(),
    };
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(partitions) = revoked.recv() => {
                for partition in partitions {
                    if let Some(lane) = lanes.remove(&partition) {
                        // Its unsettled records are the new owner's now (from the committed offset).
                        lane.task.abort();
                        debug!(topic = %partition.0, partition = partition.1, "lane closed: partition revoked");
                    }
                }
            }
            Some(partition) = drained_rx.recv() => {
                if let Some(lane) = lanes.get_mut(&partition) {
                    if lane.paused_at.take().is_some() {
                        set_paused(&consumer, &partition, false);
                    }
                }
            }
            message = consumer.recv() => {
                let message = match message {
                    Ok(m) => m.detach(),
                    Err(e) => {
                        warn!(error = %e, "consumer error");
                        continue;
                    }
                };
                let partition = (message.topic().to_owned(), message.partition());
                let lane = lanes.entry(partition.clone()).or_insert_with(|| {
                    spawn_lane(&consumer, &handler, &partition, config.capacity, drained_tx.clone(), stops.clone())
                });
                let offset = message.offset();
                if !offer(&consumer, lane, &partition, message).await {
                    // The lane died (its handler panicked): start over from this record.
                    warn!(topic = %partition.0, partition = partition.1, offset, "lane ended unexpectedly; restarting it");
                    lanes.remove(&partition);
                    rewind(&consumer, &partition, offset);
                }
            }
        }
    }
    drain(lanes, config.drain_timeout, stops.stop).await;
}

/// Hands `message` to its lane; pauses and rewinds the partition when the lane is full.
async fn offer(
    consumer: &LaneConsumer,
    lane: &mut Lane,
    partition: &Partition,
    message: OwnedMessage,
) -> bool {
    if lane.paused_at.is_some_and(|at| message.offset() >= at) {
        // Fetched before the pause took effect; it is fetched again after the resume.
        return true;
    }
    match lane.tx.try_send(message) {
        Err(mpsc::error::TrySendError::Full(message)) => {
            let offset = message.offset();
            lane.pause_flag.store(true, Ordering::SeqCst);
            let paused = set_paused(consumer, partition, true);
            if paused && rewind(consumer, partition, offset) {
                lane.paused_at = Some(offset);
            } else {
                if paused {
                    set_paused(consumer, partition, false);
                }
                // Could not pause: wait for room instead (holds every partition, loses nothing).
                lane.pause_flag.store(false, Ordering::SeqCst);
                return lane.tx.send(message).await.is_ok();
            }
            true
        }
        Ok(()) => true,
        // The record stays unsettled; the caller restarts the lane from it.
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

fn spawn_lane<H: Handler>(
    consumer: &Arc<LaneConsumer>,
    handler: &Arc<H>,
    partition: &Partition,
    capacity: usize,
    drained: mpsc::UnboundedSender<Partition>,
    stops: Stops,
) -> Lane {
    let (tx, mut rx) = mpsc::channel::<OwnedMessage>(capacity.max(1));
    let pause_flag = Arc::new(AtomicBool::new(false));
    let (consumer, handler, partition, flag) = (
        consumer.clone(),
        handler.clone(),
        partition.clone(),
        pause_flag.clone(),
    );
    let task = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            if handler.handle(message.clone(), &stops).await.is_err() {
                return;
            }
            if let Err(e) =
                consumer.store_offset(message.topic(), message.partition(), message.offset())
            {
                debug!(error = %e, "offset not stored (partition revoked?)");
            }
            if rx.is_empty() && flag.swap(false, Ordering::SeqCst) {
                let _ = drained.send(partition.clone());
            }
        }
    });
    Lane {
        tx,
        task,
        paused_at: None,
        pause_flag,
    }
}

fn tpl(partition: &Partition, offset: Option<i64>) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    match offset {
        Some(o) => {
            let _ = list.add_partition_offset(&partition.0, partition.1, Offset::Offset(o));
        }
        None => {
            list.add_partition(&partition.0, partition.1);
        }
    }
    list
}

fn set_paused(consumer: &LaneConsumer, partition: &Partition, paused: bool) -> bool {
    let list = tpl(partition, None);
    let result = if paused {
        consumer.pause(&list)
    } else {
        consumer.resume(&list)
    };
    match result {
        Ok(()) => true,
        Err(e) => {
            warn!(topic = %partition.0, partition = partition.1, paused, error = %e, "pause/resume failed");
            false
        }
    }
}

fn rewind(consumer: &LaneConsumer, partition: &Partition, offset: i64) -> bool {
    match consumer.seek_partitions(tpl(partition, Some(offset)), Duration::from_secs(5)) {
        Ok(list) => list.elements().iter().all(|e| e.error().is_ok()),
        Err(e) => {
            warn!(topic = %partition.0, partition = partition.1, error = %e, "rewind failed");
            false
        }
    }
}

/// Lets every lane finish what it holds, up to `timeout`; then stops the rest.
async fn drain(lanes: HashMap<Partition, Lane>, timeout: Duration, stop: CancellationToken) {
    let tasks: Vec<JoinHandle<()>> = lanes.into_values().map(|lane| lane.task).collect();
    let count = tasks.len();
    let all = futures::future::join_all(tasks);
    tokio::pin!(all);
    if tokio::time::timeout(timeout, &mut all).await.is_err() {
        warn!(
            lanes = count,
            ?timeout,
            "lanes not drained in time; stopping them"
        );
        stop.cancel();
        let _ = all.await;
    } else {
        info!(lanes = count, "lanes drained");
    }
}
