//! The delivery log: `hookstream.attempts` folded into this API's sled store, served as
//! `GET /webhooks/ID/deliveries`; and `POST /webhooks/ID/test`, a ping whose attempt is
//! recorded like any other.

use std::time::Duration;

use futures::FutureExt;
use hookstream_dispatch::attempt_log::{status_and_error, AttemptLog};
use hookstream_dispatch::deliver::{Deliverer, Delivery, Outcome};
use hookstream_dispatch::waiting::until_ok;
use hookstream_kafka::assign::{every_partition, Start};
use hookstream_kafka::{KafkaConfig, KafkaError};
use hookstream_model::{now_millis, Attempt, AttemptKind, Codec, UnixMillis, WebhookId};
use hookstream_store::{Cursor, Deliveries, Entry, Webhook, HOUR_MS};
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::{ApiError, FieldError};

/// Records folded per sled batch when the follower is behind.
const BATCH: usize = 500;

/// Folds `hookstream.attempts` into `log` until `shutdown`, keeping `keep` per webhook.
/// Kafka trouble is retried; only a broken store stops it.
pub async fn follow(
    kafka: KafkaConfig,
    log: Deliveries,
    keep: usize,
    shutdown: CancellationToken,
) -> Result<(), hookstream_store::StoreError> {
    let assigned = until_ok(
        &shutdown,
        "read the attempts topic for the delivery log",
        Duration::from_secs(2),
        || async { assign(&kafka, &log) },
    )
    .await;
    let Ok(consumer) = assigned else {
        return Ok(()); // shut down
    };
    let codec = Codec::<Attempt>::new();
    let mut held: Vec<Entry> = Vec::with_capacity(BATCH);
    loop {
        let record = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            record = consumer.recv() => record,
        };
        match record {
            Ok(record) => hold(&codec, &record, &mut held),
            Err(e) => {
                warn!(error = %e, "reading the attempts topic");
                continue;
            }
        }
        // Fold what arrived together; a lone record is folded at once.
        while held.len() < BATCH {
            match consumer.recv().now_or_never() {
                Some(Ok(next)) => hold(&codec, &next, &mut held),
                _ => break,
            }
        }
        log.apply(&held, keep)?;
        held.clear();
    }
}

/// Adds the attempt `record` holds to `held`; counts and skips one that does not decode.
fn hold(codec: &Codec<Attempt>, record: &BorrowedMessage<'_>, held: &mut Vec<Entry>) {
    match codec.decode_record(record.payload()) {
        Ok(attempt) => held.push(Entry {
            partition: record.partition(),
            offset: record.offset(),
            webhook: attempt.webhook_id,
            at: attempt.at,
            delivered: attempt.status.is_some_and(|s| (200..300).contains(&s)),
            payload: record.payload().unwrap_or_default().to_vec(),
        }),
        Err(e) => {
            hookstream_kafka::dlq::count(record.topic());
            warn!(offset = record.offset(), error = %e, "undecodable attempt record; skipped")
        }
    }
}

/// A consumer of every partition of the attempts topic, from where the log left off.
fn assign(kafka: &KafkaConfig, log: &Deliveries) -> Result<StreamConsumer, KafkaError> {
    let topic = kafka.topics().attempts();
    let (consumer, _) =
        every_partition(
            kafka,
            &topic,
            "hookstream-api-deliveries-unused",
            |p| match log.position(p) {
                Ok(Some(next)) => Start::Offset(next),
                _ => Start::Beginning,
            },
        )?;
    info!(%topic, "delivery log following");
    Ok(consumer)
}

/// One attempt as `GET /webhooks/ID/deliveries` shows it.
#[derive(Debug, Serialize)]
pub struct AttemptBody {
    /// The `webhook-id` header of the delivery: the same for every attempt of it.
    delivery_id: String,
    at: String,
    attempt: i32,
    kind: &'static str,
    status: Option<u16>,
    error: Option<&'static str>,
    latency_ms: i64,
    entity_id: Option<i64>,
    /// Pass as `before` for the attempts older than this one.
    cursor: String,
}

impl AttemptBody {
    fn new(a: Attempt, cursor: Cursor) -> Self {
        AttemptBody {
            cursor: cursor.to_string(),
            delivery_id: a.delivery_id,
            at: hookstream_replay::rfc3339(a.at),
            attempt: a.attempt,
            kind: a.kind.as_str(),
            status: a.status,
            error: a.error.map(|e| e.as_str()),
            latency_ms: a.latency_ms,
            entity_id: a.entity_id,
        }
    }
}

/// The page of `webhook`'s attempts that `page` asks for, newest first.
pub fn page(
    log: &Deliveries,
    webhook: WebhookId,
    page: Page,
) -> Result<Vec<AttemptBody>, ApiError> {
    let codec = Codec::<Attempt>::new();
    let records = log
        .page(webhook, page.before, page.limit)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(records
        .into_iter()
        .filter_map(|(cursor, bytes)| Some(AttemptBody::new(codec.decode(&bytes).ok()?, cursor)))
        .collect())
}

/// What `GET /webhooks/ID/stats` answers: the attempts of the last 24 hours, per hour.
#[derive(Debug, Serialize)]
pub struct StatsBody {
    webhook_id: i64,
    /// Start of the first hour counted (the hour 23 hours before the current one).
    since: String,
    /// Attempts answered 2xx.
    delivered: u64,
    /// Attempts that were not (any other status, or no answer).
    failed: u64,
    /// `delivered / (delivered + failed)`; absent without attempts.
    #[serde(skip_serializing_if = "Option::is_none")]
    success_rate: Option<f64>,
    /// 24 hours, oldest first.
    hours: Vec<HourBody>,
    /// The newest attempt that was not a test ping, from the delivery log; absent without
    /// one. Whether it was answered 2xx says whether the webhook is delivering now.
    #[serde(skip_serializing_if = "Option::is_none")]
    latest: Option<LatestBody>,
}

#[derive(Debug, Serialize)]
struct LatestBody {
    at: String,
    delivered: bool,
}

/// Attempts looked at, newest first, for the newest that is not a test ping: as many as a
/// webhook keeps by default (`api.deliveries_kept`).
const LATEST_SCAN: usize = 100;

#[derive(Debug, Serialize)]
struct HourBody {
    start: String,
    delivered: u64,
    failed: u64,
}

/// Hours `GET /webhooks/ID/stats` covers, the current one included.
const STATS_HOURS: i64 = 24;

/// The attempts of `webhook` in the 24 hours up to `now`.
pub fn last_day(
    log: &Deliveries,
    webhook: WebhookId,
    now: UnixMillis,
) -> Result<StatsBody, ApiError> {
    let since = now - (STATS_HOURS - 1) * HOUR_MS;
    let hours = log
        .hours(webhook, since, now)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let codec = Codec::<Attempt>::new();
    let latest = log
        .newest(webhook, LATEST_SCAN)
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .iter()
        .filter_map(|bytes| codec.decode(bytes).ok())
        .find(|a| a.kind != AttemptKind::Test)
        .map(|a| LatestBody {
            at: hookstream_replay::rfc3339(a.at),
            delivered: a.status.is_some_and(|s| (200..300).contains(&s)),
        });
    let delivered = hours.iter().map(|h| h.delivered).sum::<u64>();
    let failed = hours.iter().map(|h| h.failed).sum::<u64>();
    let attempts = delivered + failed;
    Ok(StatsBody {
        webhook_id: webhook.0,
        since: hookstream_replay::rfc3339(hours.first().map_or(since, |h| h.start)),
        delivered,
        failed,
        success_rate: (attempts > 0).then(|| delivered as f64 / attempts as f64),
        hours: hours
            .into_iter()
            .map(|h| HourBody {
                start: hookstream_replay::rfc3339(h.start),
                delivered: h.delivered,
                failed: h.failed,
            })
            .collect(),
        latest,
    })
}

/// Most entries one `GET /webhooks/ID/deliveries` answers.
pub const MAX_LIMIT: usize = 100;

/// Entries a `GET /webhooks/ID/deliveries` without `limit` answers.
const DEFAULT_LIMIT: usize = 20;

/// Which attempts `GET /webhooks/ID/deliveries` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// `?limit=N`: 1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`].
    pub limit: usize,
    /// `?before=CURSOR`: only attempts older than the one with that `cursor`.
    pub before: Option<Cursor>,
}

/// Reads `limit` and `before` from the query; every problem is reported at once.
pub fn parse_page(query: Option<&str>) -> Result<Page, ApiError> {
    let mut page = Page {
        limit: DEFAULT_LIMIT,
        before: None,
    };
    let mut errors = Vec::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => page.limit = n,
                _ => errors.push(FieldError::new(
                    "limit",
                    format!("{value:?} is not a number from 1 to {MAX_LIMIT}"),
                )),
            },
            "before" => match Cursor::parse(&value) {
                Some(cursor) => page.before = Some(cursor),
                None => errors.push(FieldError::new(
                    "before",
                    format!("{value:?} is not the cursor of an attempt"),
                )),
            },
            _ => {}
        }
    }
    match errors.is_empty() {
        true => Ok(page),
        false => Err(ApiError::Invalid(errors)),
    }
}

/// What `POST /webhooks/ID/test` answers.
#[derive(Debug, Serialize)]
pub struct TestOutcome {
    /// Whether the receiver answered 2xx.
    delivered: bool,
    status: Option<u16>,
    error: Option<&'static str>,
    latency_ms: i64,
    delivery_id: String,
}

/// Sends a ping to `webhook` and records its attempt. A test never removes a webhook,
/// whatever the receiver answers.
pub async fn ping(
    deliverer: &Deliverer,
    attempts: &AttemptLog,
    webhook: &Webhook,
    secret: &str,
) -> TestOutcome {
    let delivery_id = format!("msg_test_{:016x}", fastrand::u64(..));
    let category = webhook
        .category()
        .unwrap_or(hookstream_model::Category::Game);
    let body = serde_json::json!({
        "ping": true,
        "webhook_id": webhook.id,
        "category": webhook.category,
        "sent_at": now_millis(),
    })
    .to_string();
    let delivery = Delivery {
        url: &webhook.url,
        secret,
        delivery_id: &delivery_id,
        category,
        event: "ping",
        body: body.into(),
        replay: false,
    };
    let response = deliverer.send(&delivery, None).await;
    let (status, error) = status_and_error(&response.outcome);
    let latency_ms = response.latency.as_millis() as i64;
    attempts.record(&Attempt {
        delivery_id: delivery_id.clone(),
        webhook_id: webhook.id(),
        at: now_millis(),
        attempt: 1,
        status,
        error,
        latency_ms,
        kind: AttemptKind::Test,
        category: webhook.category(),
        entity_id: None,
        version: None,
    });
    TestOutcome {
        delivered: matches!(response.outcome, Outcome::Delivered { .. }),
        status,
        error: error.map(|e| e.as_str()),
        latency_ms,
        delivery_id,
    }
}
