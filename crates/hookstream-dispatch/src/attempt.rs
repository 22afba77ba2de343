//! One delivery attempt and everything its outcome implies, shared by the category-topic
//! path (attempt 1) and the retry tiers (attempts 2, 3, …).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookstream_kafka::dlq::DeadLetters;
use hookstream_kafka::log::EventLog;
use hookstream_kafka::producer::Producer;
use hookstream_model::{
    now_millis, AttemptError, Codec, DeliveryJob, Event, RemovalReason, Sealer, WebhookEvent,
};
use hookstream_store::{Acked, Store, Webhook};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::acks_fold::AcksFold;
use crate::attempt_log::{self, AttemptLog};
use crate::barrier::Barrier;
use crate::deliver::{Deliverer, Delivery, Failure, Outcome};
use crate::endpoint::Endpoints;
use crate::entity_lock::EntityLocks;
use crate::lanes::Interrupted;
use crate::schedule::{Next, Schedule};
use crate::telemetry::{self, Dropped};
use crate::waiting::until_ok;
use crate::{streak, DispatchConfig};

/// What every attempt needs. Shared by all lanes of a dispatcher.
pub struct Core {
    pub config: DispatchConfig,
    pub schedule: Schedule,
    pub store: Arc<Store>,
    pub log: EventLog,
    pub barrier: Barrier,
    pub deliverer: Deliverer,
    pub endpoints: Endpoints,
    pub producer: Producer,
    /// Retry tier topics, one per schedule entry.
    pub tier_topics: Vec<String>,
    pub job_codec: Codec<DeliveryJob>,
    /// Serialises attempts of one (webhook, entity) on this dispatcher.
    pub entity_locks: EntityLocks,
    /// Opens the webhooks' secrets as the log holds them.
    pub sealer: Arc<Sealer>,
    /// Where records that cannot be read go.
    pub dead_letters: DeadLetters,
    /// Where attempts are recorded for the delivery log, unless turned off.
    pub attempt_log: Option<AttemptLog>,
    /// Where the 2xx answers of webhooks that may have retries are shared with the other
    /// dispatchers (`hookstream.acks`).
    pub ack_log: AttemptLog,
    /// Every dispatcher's acknowledgements, read from `hookstream.acks`.
    pub acks_fold: AcksFold,
}

impl Core {
    /// Attempts `job` once and settles it: delivered, dropped (webhook gone, superseded),
    /// removed (401, window over), or durably queued for its next attempt.
    /// `matched` is the webhook as the caller just read it from the view, if it did.
    pub async fn attempt(
        &self,
        job: DeliveryJob,
        matched: Option<Arc<Webhook>>,
        stop: &CancellationToken,
    ) -> Result<(), Interrupted> {
        // Every wait inside (the entity lock, an endpoint slot, the request) gives way to the
        // hard stop. Abandoning an attempt half-way leaves its record unsettled: at worst a
        // duplicate later, never a loss.
        tokio::select! {
            _ = stop.cancelled() => Err(Interrupted),
            settled = self.attempt_once(job, matched, stop) => settled,
        }
    }

    async fn attempt_once(
        &self,
        job: DeliveryJob,
        matched: Option<Arc<Webhook>>,
        stop: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let _entity = self.entity_locks.lock(&job).await;
        let webhook = match matched {
            Some(webhook) => Some(webhook),
            None => self.webhook(&job, stop).await?.map(Arc::new),
        };
        let Some(webhook) = webhook else {
            debug!(webhook = %job.webhook_id, delivery = %job.delivery_id, "webhook gone; delivery dropped");
            telemetry::dropped(Dropped::WebhookGone);
            return Ok(());
        };
        let acked = match self.schedule.may_have_retries(&webhook, now_millis()) {
            true => {
                // What other dispatchers acknowledged before this one started is read first.
                self.acks_fold.caught_up().await;
                Some(self.acked(&job, stop).await?)
            }
            false => None,
        };
        let newest = acked.and_then(|a| a.newest);
        // Replays resend history on purpose and are never superseded.
        if !job.replay && newest.is_some_and(|newest| newest >= job.source_offset) {
            info!(webhook = %job.webhook_id, entity = job.entity_id, version = job.source_offset, "superseded by a newer acknowledged version; dropped");
            telemetry::dropped(Dropped::Superseded);
            return Ok(());
        }
        let (outcome, retry_after, latency) = match self.sealer.open(&webhook.secret) {
            Ok(secret) => self.send(&job, &webhook, &secret).await,
            Err(e) => {
                // Not sent: a failure like any other, retried until the key is configured
                // (or the failure window removes the webhook).
                error!(webhook = webhook.id, error = %e, "cannot open the webhook's secret; not sent");
                (
                    Outcome::Failed(Failure::Error(AttemptError::Other)),
                    None,
                    None,
                )
            }
        };
        telemetry::attempt(job.category, &outcome, latency);
        let record = attempt_log::record_of(&job, &outcome, latency);
        if let Some(log) = &self.attempt_log {
            log.record(&record);
        }
        let now = now_millis();
        match outcome {
            Outcome::Delivered { .. } => {
                if let Some(acked) = acked {
                    self.ack_log.record(&record);
                    let acks = self.store.acks();
                    until_ok(stop, "record the acknowledgement", STORE_RETRY, || async {
                        acks.record(&acked, job.source_offset)
                    })
                    .await?;
                }
                self.note_streak(&webhook, true, now, stop).await?;
            }
            Outcome::Unauthorized => {
                info!(
                    webhook = webhook.id,
                    "receiver answered 401; removing the webhook"
                );
                self.remove(&webhook, RemovalReason::Unauthorized, stop)
                    .await?;
            }
            Outcome::Failed(failure) => {
                let streak_start = webhook.first_failed_at.unwrap_or(now);
                let next = self.schedule.after_failure(
                    job.attempt.max(1) as u32,
                    now,
                    streak_start,
                    retry_after,
                    fastrand::f64(),
                );
                match next {
                    Next::Remove => {
                        info!(
                            webhook = webhook.id,
                            ?failure,
                            "no 2xx for the whole failure window; removing the webhook"
                        );
                        self.remove(&webhook, RemovalReason::Failing, stop).await?;
                    }
                    Next::Retry { due, tier } => {
                        self.note_streak(&webhook, false, now, stop).await?;
                        let next = DeliveryJob {
                            attempt: job.attempt + 1,
                            first_failed_at: streak_start,
                            due_at: due,
                            ..job
                        };
                        debug!(
                            webhook = webhook.id,
                            ?failure,
                            attempt = next.attempt,
                            in_ms = due - now,
                            "delivery failed; queued for a retry"
                        );
                        self.enqueue(tier, &next, stop).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// One request for `job` to `webhook` with its opened `secret`, through the endpoint's
    /// breaker and concurrency slot: the outcome, the receiver's `Retry-After`, and the
    /// latency if a request was sent.
    async fn send(
        &self,
        job: &DeliveryJob,
        webhook: &Webhook,
        secret: &str,
    ) -> (Outcome, Option<Duration>, Option<Duration>) {
        let delivery = Delivery {
            url: &webhook.url,
            secret,
            delivery_id: &job.delivery_id,
            category: job.category,
            event: job.op.as_str(),
            body: Bytes::from_owner(SharedJson(job.data.clone())),
            replay: job.replay,
        };
        // The attempt at the end of the failure window is always made, breaker or not: its
        // failure is what removes the webhook.
        let last_chance = webhook
            .first_failed_at
            .is_some_and(|first| now_millis() >= self.schedule.window_end(first));
        let lease = if last_chance {
            Some(self.endpoints.lease_forced(&webhook.url).await)
        } else {
            self.endpoints.lease(&webhook.url).await
        };
        match lease {
            None => (Outcome::Failed(Failure::CircuitOpen), None, None),
            Some(lease) => {
                let response = self.deliverer.send(&delivery, lease.url()).await;
                lease.finish(!matches!(response.outcome, Outcome::Failed(_)));
                debug!(webhook = webhook.id, delivery = %job.delivery_id, attempt = job.attempt, partition = job.source_partition, version = job.source_offset, outcome = ?response.outcome, latency_ms = response.latency.as_millis() as u64, "delivery attempt");
                (
                    response.outcome,
                    response.retry_after,
                    Some(response.latency),
                )
            }
        }
    }

    /// The newest version of the entity the webhook acknowledged: a job of an older one is
    /// superseded. Read under the entity lock, which is held until the ack is recorded.
    /// Only webhooks that may have retries queued keep acknowledgements (see
    /// [`Schedule::may_have_retries`]).
    async fn acked(
        &self,
        job: &DeliveryJob,
        stop: &CancellationToken,
    ) -> Result<Acked, Interrupted> {
        let acks = self.store.acks();
        until_ok(stop, "read acknowledgements", STORE_RETRY, || async {
            acks.read(job.webhook_id, job.category, job.entity_id)
        })
        .await
    }

    /// The job's webhook. `None` only once the view has folded its registration (its id is
    /// the offset of its `Registered` event + 1) and it is not there: removed. A view that is
    /// behind (a dispatcher that just started) is waited for, never taken for a removal.
    async fn webhook(
        &self,
        job: &DeliveryJob,
        stop: &CancellationToken,
    ) -> Result<Option<Webhook>, Interrupted> {
        let follower = self.barrier.follower();
        loop {
            let found = until_ok(stop, "read the webhook", STORE_RETRY, || async {
                self.store.get(job.webhook_id)
            })
            .await?;
            if let Some(webhook) = found {
                return Ok(Some(webhook));
            }
            if follower.applied() >= job.webhook_id.0 {
                return Ok(None);
            }
            tokio::select! {
                _ = stop.cancelled() => return Err(Interrupted),
                _ = follower.wait_for(job.webhook_id.0, Duration::from_secs(5)) => {}
            }
        }
    }

    /// Appends `Failed` / `Recovered` when the streak calls for it. The first failure of a
    /// streak must reach the log (the failure window is measured from it) and is retried until
    /// durable; later `Failed` events and `Recovered` are best effort.
    async fn note_streak(
        &self,
        webhook: &Webhook,
        delivered: bool,
        now: i64,
        stop: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let interval = self.config.failed_event_interval_ms as i64;
        let Some(event) = streak::event_for(webhook, delivered, now, interval) else {
            return Ok(());
        };
        if !delivered && webhook.first_failed_at.is_none() {
            return self
                .append_durably(event, "record the start of a failure streak", stop)
                .await;
        }
        if let Err(e) = self.log.append(&WebhookEvent::now(event)).await {
            warn!(webhook = webhook.id, error = %e, "cannot record the failure streak");
        }
        Ok(())
    }

    /// Appends `Removed` and waits until the view has it, so that no later record is matched
    /// against the webhook.
    async fn remove(
        &self,
        webhook: &Webhook,
        reason: RemovalReason,
        stop: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let event = Event::Removed {
            webhook_id: webhook.id(),
            reason,
        };
        self.append_durably(event, "append the removal", stop)
            .await?;
        telemetry::removed(reason);
        info!(
            webhook = webhook.id,
            reason = reason.as_str(),
            "webhook removed"
        );
        Ok(())
    }

    /// Appends `event` to the webhook log, retrying until Kafka acknowledged it, then waits
    /// until this dispatcher's view has folded it.
    async fn append_durably(
        &self,
        event: Event,
        what: &str,
        stop: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let event = WebhookEvent::now(event);
        let offset = until_ok(stop, what, APPEND_RETRY, || self.log.append(&event)).await?;
        self.barrier.wait_for_own(offset).await;
        Ok(())
    }

    /// Queues `job` on retry tier `tier`, retrying until Kafka acknowledged it.
    async fn enqueue(
        &self,
        tier: usize,
        job: &DeliveryJob,
        stop: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let tier = tier.min(self.tier_topics.len() - 1);
        let topic = &self.tier_topics[tier];
        let payload = self
            .job_codec
            .encode(job)
            .expect("a DeliveryJob always matches its schema");
        until_ok(stop, "queue a retry", APPEND_RETRY, || {
            self.producer
                .send(topic, None, job.delivery_id.as_bytes(), &payload)
        })
        .await?;
        if let Some(name) = self.schedule.tiers().get(tier) {
            telemetry::queued(name);
        }
        Ok(())
    }
}

/// Pause between tries of a failed store operation.
const STORE_RETRY: Duration = Duration::from_secs(1);
/// Pause between tries of a failed write to Kafka.
const APPEND_RETRY: Duration = Duration::from_millis(500);

/// A change's JSON as a request body, shared rather than copied per delivery.
struct SharedJson(Arc<str>);

impl AsRef<[u8]> for SharedJson {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}
