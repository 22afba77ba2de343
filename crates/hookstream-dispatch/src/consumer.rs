//! The dispatch loop: read a change, pass the barrier, deliver to every subscriber, then
//! store the offset. Offsets are stored only for records whose deliveries all settled.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use hookstream_kafka::admin::{ensure_topics, pipeline_topics};
use hookstream_kafka::log::{EventLog, Follower};
use hookstream_kafka::producer::Producer;
use hookstream_kafka::{KafkaConfig, KafkaError, Topics};
use hookstream_model::{
    now_millis, Codec, EntityChange, Event, RemovalReason, WebhookEvent, WebhookId,
};
use hookstream_store::{Store, StoreError, Webhook};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::barrier::Barrier;
use crate::deliver::{ClientError, Deliverer, Delivery, Outcome};
use crate::{health, sign, streak, DispatchConfig};

/// Why a dispatcher stopped before being asked to.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot serve health endpoints: {0}")]
    Health(#[from] std::io::Error),
    #[error("the webhook log follower stopped")]
    FollowerStopped,
}

/// Everything one dispatcher works with.
struct Dispatcher {
    config: DispatchConfig,
    topics: Topics,
    store: Arc<Store>,
    log: EventLog,
    barrier: Barrier,
    deliverer: Deliverer,
    codec: Codec<EntityChange>,
}

/// Runs a dispatcher until `shutdown` is cancelled; then commits and leaves the group.
pub async fn run(
    config: DispatchConfig,
    kafka: KafkaConfig,
    health_listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    ensure_topics(&kafka, &pipeline_topics(&kafka)).await?;
    let store = Arc::new(Store::open(&config.data_dir)?);
    let (follower, follower_task) =
        Follower::start(&kafka, store.clone(), shutdown.clone()).await?;
    let barrier = Barrier::new(
        follower,
        config.clock_skew_ms,
        Duration::from_millis(config.sync_timeout_ms),
    );
    let mut dispatcher = Dispatcher {
        topics: kafka.topics(),
        log: EventLog::new(&kafka, Producer::new(&kafka)?),
        deliverer: Deliverer::new(&config)?,
        codec: Codec::new(),
        store,
        barrier,
        config,
    };
    let consumer = dispatcher.consumer(&kafka)?;
    let health = health::serve(health_listener, shutdown.clone());
    info!(group = %dispatcher.config.group_id, "dispatcher started");
    let result = tokio::select! {
        r = dispatcher.consume(&consumer, &shutdown) => r,
        r = health => r.map_err(RunError::Health),
        _ = follower_task => Err(RunError::FollowerStopped),
    };
    // Leave cleanly: commit what settled, so a successor does not redeliver it.
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        debug!(error = %e, "final commit had nothing to commit or failed");
    }
    dispatcher.store.flush()?;
    info!("dispatcher stopped");
    result
}

impl Dispatcher {
    fn consumer(&self, kafka: &KafkaConfig) -> Result<StreamConsumer, KafkaError> {
        let consumer: StreamConsumer = kafka
            .client_config()
            .set("group.id", &self.config.group_id)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("enable.auto.commit", "true")
            .set(
                "auto.commit.interval.ms",
                self.config.commit_interval_ms.to_string(),
            )
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set("fetch.wait.max.ms", "20")
            .create()
            .map_err(KafkaError::Client)?;
        let topics = self.topics.categories();
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names).map_err(KafkaError::Client)?;
        Ok(consumer)
    }

    async fn consume(
        &mut self,
        consumer: &StreamConsumer,
        shutdown: &CancellationToken,
    ) -> Result<(), RunError> {
        loop {
            let message = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                message = consumer.recv() => message,
            };
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    warn!(error = %e, "consumer error");
                    continue;
                }
            };
            if self.handle(&message, shutdown).await.is_err() {
                // Interrupted by shutdown before the record settled: its offset stays unstored.
                return Ok(());
            }
            if let Err(e) = consumer.store_offset_from_message(&message) {
                // The partition was revoked meanwhile; its new owner redelivers the record.
                debug!(error = %e, "offset not stored");
            }
        }
    }

    /// Delivers one record to every subscriber. `Err` only when interrupted by shutdown.
    async fn handle(
        &mut self,
        message: &BorrowedMessage<'_>,
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let Some(change) = self.decode(message) else {
            return Ok(());
        };
        self.barrier
            .pass(message.timestamp().to_millis(), shutdown)
            .await
            .map_err(|_| Interrupted)?;
        let webhooks = loop {
            match self.store.by_category(change.category) {
                Ok(w) => break w,
                Err(e) => {
                    error!(error = %e, "cannot read subscriptions; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Err(Interrupted),
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        let body = Bytes::from(change.data.clone());
        let outcomes = join_all(
            webhooks
                .iter()
                .map(|w| self.deliver(w, &change, body.clone(), shutdown)),
        )
        .await;
        for (webhook, outcome) in webhooks.iter().zip(outcomes) {
            let outcome = outcome?;
            self.record(webhook, outcome).await;
        }
        Ok(())
    }

    fn decode(&self, message: &BorrowedMessage<'_>) -> Option<EntityChange> {
        let decoded = message.payload().map(|p| self.codec.decode(p));
        match decoded {
            Some(Ok(change))
                if self.topics.category_of(message.topic()) == Some(change.category) =>
            {
                Some(change)
            }
            Some(Ok(change)) => {
                error!(topic = message.topic(), offset = message.offset(), category = %change.category, "change on the wrong topic; skipped");
                None
            }
            Some(Err(e)) => {
                error!(topic = message.topic(), offset = message.offset(), error = %e, "undecodable change; skipped");
                None
            }
            None => {
                error!(
                    topic = message.topic(),
                    offset = message.offset(),
                    "empty record; skipped"
                );
                None
            }
        }
    }

    /// Delivers to one webhook, retrying in process on the configured backoff.
    async fn deliver(
        &self,
        webhook: &Webhook,
        change: &EntityChange,
        body: Bytes,
        shutdown: &CancellationToken,
    ) -> Result<Outcome, Interrupted> {
        let delivery_id = sign::delivery_id(&change.change_id, WebhookId(webhook.id));
        let delivery = Delivery {
            url: &webhook.url,
            secret: &webhook.secret,
            delivery_id: &delivery_id,
            category: change.category,
            op: change.op,
            body,
            replay: false,
        };
        let mut pauses = self.config.retry_backoff_ms.iter();
        loop {
            let (outcome, latency) = self.deliverer.send(&delivery).await;
            debug!(webhook = webhook.id, %delivery_id, ?outcome, latency_ms = latency.as_millis() as u64, "delivery attempt");
            let Outcome::Failed(failure) = outcome else {
                return Ok(outcome);
            };
            let Some(pause) = pauses.next() else {
                warn!(webhook = webhook.id, %delivery_id, ?failure, "delivery failed; giving up on it");
                return Ok(outcome);
            };
            tokio::select! {
                _ = shutdown.cancelled() => return Err(Interrupted),
                _ = tokio::time::sleep(Duration::from_millis(*pause)) => {}
            }
        }
    }

    /// Appends what the outcome means for the webhook to the log.
    async fn record(&self, webhook: &Webhook, outcome: Outcome) {
        let event = match outcome {
            Outcome::Unauthorized => Some(Event::Removed {
                webhook_id: WebhookId(webhook.id),
                reason: RemovalReason::Unauthorized,
            }),
            Outcome::Delivered { .. } | Outcome::Failed(_) => streak::event_for(
                webhook,
                matches!(outcome, Outcome::Delivered { .. }),
                now_millis(),
                self.config.failed_event_interval_ms as i64,
                self.config.failure_window_ms as i64,
            ),
        };
        let Some(event) = event else { return };
        let removal = matches!(event, Event::Removed { .. });
        match self.log.append(&WebhookEvent::now(event.clone())).await {
            Ok(offset) => {
                info!(webhook = webhook.id, ?event, "webhook event appended");
                // Later records must not be matched against a view that still has it.
                if removal {
                    self.barrier.wait_for_own(offset).await;
                }
            }
            Err(e) => {
                error!(webhook = webhook.id, ?event, error = %e, "cannot append webhook event")
            }
        }
    }
}

struct Interrupted;
