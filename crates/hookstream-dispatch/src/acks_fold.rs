//! Acknowledgements of every dispatcher: the 2xx answers of webhooks that may have retries,
//! which each dispatcher writes to `hookstream.acks` as it records them for itself, folded
//! into this dispatcher's [`Acks`](hookstream_store::Acks). A retry (or a change read again
//! after a failover) of a version that another dispatcher's newer delivery superseded is
//! dropped here too (DESIGN.md §3.3). The topic holds few records: a webhook that does not
//! fail writes none.
//!
//! Its own records (by their [`ORIGIN_HEADER`]) are skipped unread. A dispatcher with no
//! position yet starts a lookback (two failure windows) back; the supersede checks wait until
//! it has read what the topic held when it started ([`AcksFold::caught_up`]), for at most
//! [`CATCH_UP_LIMIT`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use hookstream_kafka::assign::{every_partition, Start};
use hookstream_kafka::{KafkaConfig, KafkaError};
use hookstream_model::{now_millis, Attempt, AttemptKind, Codec};
use hookstream_store::{Folded, Store, StoreError};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{Message, Offset};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::attempt_log::ORIGIN_HEADER;
use crate::waiting::until_ok;

/// Records folded per batch when the fold is behind.
const BATCH: usize = 500;

/// How long to wait before asking Kafka again for the topic.
const KAFKA_RETRY: Duration = Duration::from_secs(2);

/// How long supersede checks wait for the fold at start. Past it they go on with what was
/// read: a stalled fold must not stall deliveries to failing webhooks.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(60);

/// Whether the fold has read what the acks topic held when it started.
#[derive(Clone)]
pub struct AcksFold {
    caught_up: watch::Receiver<bool>,
}

impl AcksFold {
    /// Waits until the fold has caught up (at once, once it has).
    pub async fn caught_up(&self) {
        let mut caught_up = self.caught_up.clone();
        // An error means the fold stopped (the dispatcher is stopping): nothing to wait for.
        let _ = caught_up.wait_for(|done| *done).await;
    }
}

/// Starts folding; the task ends with `stop`, or on a store error.
pub fn start(
    kafka: KafkaConfig,
    store: Arc<Store>,
    lookback: Duration,
    own: Vec<u8>,
    stop: CancellationToken,
) -> (AcksFold, tokio::task::JoinHandle<Result<(), StoreError>>) {
    let (done, caught_up) = watch::channel(false);
    let reader = Reader {
        codec: Codec::new(),
        own,
    };
    let since = now_millis() - lookback.as_millis() as i64;
    let done = Arc::new(done);
    // The bound holds whatever the fold is doing, reaching Kafka included.
    let limit = done.clone();
    tokio::spawn(async move {
        tokio::time::sleep(CATCH_UP_LIMIT).await;
        if !*limit.borrow() {
            warn!(
                limit_s = CATCH_UP_LIMIT.as_secs(),
                "the acknowledgements of other dispatchers were not all read in time; supersede checks go on with what was read"
            );
            limit.send_replace(true);
        }
    });
    let task = tokio::spawn(follow(kafka, store, since, reader, done, stop));
    (AcksFold { caught_up }, task)
}

/// What reading one record needs.
struct Reader {
    codec: Codec<Attempt>,
    /// This dispatcher's [`ORIGIN_HEADER`].
    own: Vec<u8>,
}

impl Reader {
    /// The acknowledgement `record` holds, if it is one worth keeping and not this
    /// dispatcher's own.
    fn read(&self, record: &BorrowedMessage<'_>) -> Option<Folded> {
        let own = record.headers().is_some_and(|headers| {
            headers
                .iter()
                .any(|h| h.key == ORIGIN_HEADER && h.value == Some(self.own.as_slice()))
        });
        if own {
            return None;
        }
        match self.codec.decode_record(record.payload()) {
            Ok(attempt) => acknowledged(&attempt),
            Err(e) => {
                hookstream_kafka::dlq::count(record.topic());
                warn!(offset = record.offset(), error = %e, "undecodable attempt record; skipped");
                None
            }
        }
    }
}

async fn follow(
    kafka: KafkaConfig,
    store: Arc<Store>,
    since: i64,
    reader: Reader,
    done: Arc<watch::Sender<bool>>,
    stop: CancellationToken,
) -> Result<(), StoreError> {
    let topic = kafka.topics().acks();
    let assigned = until_ok(&stop, "read the acks topic", KAFKA_RETRY, || {
        assign(&kafka, &topic, &store, since)
    })
    .await;
    let Ok((consumer, mut behind)) = assigned else {
        return Ok(()); // stopped
    };
    let started = std::time::Instant::now();
    let note_caught_up = |behind: &HashMap<i32, i64>| {
        if behind.is_empty() && !*done.borrow() {
            info!(
                ms = started.elapsed().as_millis() as u64,
                "acknowledgements of every dispatcher read"
            );
            done.send_replace(true);
        }
    };
    note_caught_up(&behind);
    let mut batch = Batch::default();
    loop {
        let record = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            record = consumer.recv() => record,
        };
        match record {
            Ok(record) => batch.hold(&reader, &record),
            Err(e) => {
                warn!(error = %e, "reading the acks topic");
                continue;
            }
        }
        while batch.len < BATCH {
            match consumer.recv().now_or_never() {
                Some(Ok(next)) => batch.hold(&reader, &next),
                _ => break,
            }
        }
        for (partition, (folded, next)) in std::mem::take(&mut batch.partitions) {
            store.acks().fold(&folded, partition, next)?;
            if behind.get(&partition).is_some_and(|high| next >= *high) {
                behind.remove(&partition);
            }
        }
        batch.len = 0;
        note_caught_up(&behind);
    }
}

/// What one pass read, per partition: the answers to keep and the next offset.
#[derive(Default)]
struct Batch {
    partitions: BTreeMap<i32, (Vec<Folded>, i64)>,
    len: usize,
}

impl Batch {
    fn hold(&mut self, reader: &Reader, record: &BorrowedMessage<'_>) {
        self.len += 1;
        let (folded, next) = self
            .partitions
            .entry(record.partition())
            .or_insert_with(|| (Vec::new(), 0));
        *next = record.offset() + 1;
        folded.extend(reader.read(record));
    }
}

/// The acknowledgement `attempt` is: a 2xx answer to a change or a replay, with the version
/// delivered. The writer chose the webhooks (those that may have retries); anything else on
/// the topic is not an acknowledgement.
fn acknowledged(attempt: &Attempt) -> Option<Folded> {
    let delivered = attempt.status.is_some_and(|s| (200..300).contains(&s));
    if !delivered || attempt.kind == AttemptKind::Test {
        return None;
    }
    Some(Folded {
        webhook: attempt.webhook_id,
        category: attempt.category?,
        entity: attempt.entity_id?,
        version: attempt.version?,
    })
}

/// The consumer, from where the fold left off (or `since`), and per partition the end it
/// must reach to have caught up (partitions already there are left out).
async fn assign(
    kafka: &KafkaConfig,
    topic: &str,
    store: &Store,
    since: i64,
) -> Result<(Arc<StreamConsumer>, HashMap<i32, i64>), KafkaError> {
    let acks = store.acks();
    let (consumer, starts) = every_partition(
        kafka,
        topic,
        "hookstream-dispatch-acks-unused",
        |p| match acks.position(p) {
            Ok(Some(next)) => Start::Offset(next),
            _ => Start::Time(since),
        },
    )?;
    let consumer = Arc::new(consumer);
    let mut behind = HashMap::new();
    for (partition, start) in starts {
        let (low, high) = watermarks(&consumer, topic, partition).await?;
        let start = match start {
            Offset::Offset(n) => n,
            Offset::Beginning => low,
            _ => high,
        };
        if start < high {
            behind.insert(partition, high);
        }
    }
    info!(%topic, behind = behind.len(), "following acknowledgements");
    Ok((consumer, behind))
}

async fn watermarks(
    consumer: &Arc<StreamConsumer>,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), KafkaError> {
    let (consumer, owned) = (consumer.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        consumer
            .fetch_watermarks(&owned, partition, Duration::from_secs(5))
            .map_err(|source| KafkaError::Watermarks {
                topic: owned.clone(),
                source,
            })
    })
    .await
    .map_err(|_| KafkaError::FollowerStopped)?
}

#[cfg(test)]
mod tests {
    use hookstream_model::{now_millis, Attempt, AttemptKind, Category, WebhookId};
    use hookstream_store::Folded;

    use super::acknowledged;

    fn answer(status: Option<u16>, kind: AttemptKind, version: Option<i64>) -> Attempt {
        Attempt {
            delivery_id: "msg".into(),
            webhook_id: WebhookId(1),
            at: now_millis(),
            attempt: 1,
            status,
            error: None,
            latency_ms: 1,
            kind,
            category: Some(Category::Game),
            entity_id: Some(7),
            version,
        }
    }

    #[test]
    fn only_2xx_answers_with_a_version_are_acknowledgements() {
        let kept = Folded {
            webhook: WebhookId(1),
            category: Category::Game,
            entity: 7,
            version: 40,
        };
        let no_entity = Attempt {
            entity_id: None,
            ..answer(Some(200), AttemptKind::Change, Some(40))
        };
        let cases = [
            (
                answer(Some(204), AttemptKind::Change, Some(40)),
                Some(kept),
                "a 2xx",
            ),
            (
                answer(Some(200), AttemptKind::Replay, Some(40)),
                Some(kept),
                "a replay's 2xx",
            ),
            (
                answer(Some(500), AttemptKind::Change, Some(40)),
                None,
                "a failure",
            ),
            (
                answer(Some(401), AttemptKind::Change, Some(40)),
                None,
                "a 401",
            ),
            (
                answer(None, AttemptKind::Change, Some(40)),
                None,
                "no answer",
            ),
            (
                answer(Some(200), AttemptKind::Test, None),
                None,
                "a test ping",
            ),
            (
                answer(Some(200), AttemptKind::Change, None),
                None,
                "no version",
            ),
            (no_entity, None, "no entity"),
        ];
        for (attempt, expected, what) in cases {
            assert_eq!(acknowledged(&attempt), expected, "{what}");
        }
    }
}
