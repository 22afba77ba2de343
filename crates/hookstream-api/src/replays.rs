//! `POST /webhooks/ID/replay`: an owner replays a time range of their webhook's category to
//! it. The range is resolved before the answer; the deliveries are queued in the background
//! at `api.replay_rate`. `GET /webhooks/ID/replay` tells how far the newest one got.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hookstream_kafka::KafkaConfig;
use hookstream_model::{Category, UnixMillis, WebhookId};
use hookstream_replay::{range, rfc3339, run, Options, ReplayError, Start};
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::{ApiError, FieldError};

/// The replays this API process runs.
pub struct Replays {
    kafka: KafkaConfig,
    rate: Option<NonZeroU32>,
    /// The newest replay this process started for each webhook, running or finished.
    latest: Mutex<HashMap<WebhookId, Arc<Tracker>>>,
    shutdown: CancellationToken,
}

/// What `POST /webhooks/ID/replay` answers (202).
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    webhook_id: i64,
    category: i32,
    since: String,
    until: Option<String>,
    /// Records in the range, each queued as one delivery.
    records: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

/// Where a replay is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum State {
    Running,
    /// Every record of the range was read and its delivery queued.
    Done,
    /// Stopped before the end; what was queued stays queued.
    Failed {
        error: String,
    },
}

/// What `GET /webhooks/ID/replay` answers.
#[derive(Debug, Serialize)]
pub struct Status {
    #[serde(flatten)]
    accepted: Accepted,
    #[serde(flatten)]
    state: State,
    /// Records of the range read so far (of `records`).
    read: u64,
    /// Deliveries queued so far.
    queued: u64,
}

/// How far one replay got, updated as it goes.
struct Tracker {
    accepted: Accepted,
    read: AtomicU64,
    queued: AtomicU64,
    state: Mutex<State>,
}

impl Tracker {
    fn state(&self) -> State {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn finish(&self, state: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }
}

impl run::Progress for Tracker {
    fn advance(&self, records: u64, deliveries: u64) {
        self.read.fetch_add(records, Ordering::Relaxed);
        self.queued.fetch_add(deliveries, Ordering::Relaxed);
    }
}

impl Replays {
    pub fn new(kafka: KafkaConfig, rate: u32, shutdown: CancellationToken) -> Replays {
        Replays {
            kafka,
            rate: NonZeroU32::new(rate),
            latest: Mutex::new(HashMap::new()),
            shutdown,
        }
    }

    /// Resolves the range and starts queueing its deliveries to `webhook`.
    pub async fn start(
        self: &Arc<Self>,
        webhook: WebhookId,
        category: Category,
        body: &[u8],
    ) -> Result<Accepted, ApiError> {
        let (since, until) = parse(body)?;
        // Checked again when the replay is recorded; this spares a refused one the lookup.
        self.not_running(webhook)?;
        let range = range::lookup(&self.kafka, category, Start::Time(since), until)
            .await
            .map_err(invalid_range)?;
        let accepted = Accepted {
            webhook_id: webhook.0,
            category: category.key(),
            since: rfc3339(since),
            until: until.map(rfc3339),
            records: range.records(),
            warning: range.warning.clone(),
        };
        let tracker = Arc::new(Tracker {
            accepted: accepted.clone(),
            read: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            state: Mutex::new(State::Running),
        });
        {
            let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
            running_check(&latest, webhook)?;
            latest.insert(webhook, tracker.clone());
        }
        // Marks the replay failed if its task ends without saying how (a panic).
        let running = Running(tracker);
        let this = self.clone();
        tokio::spawn(async move {
            let options = Options {
                rate: this.rate,
                dry_run: false,
            };
            let tracker = running.0.as_ref();
            let done = run::run(
                &this.kafka,
                category,
                &range,
                &[webhook],
                options,
                tracker,
                &this.shutdown,
            )
            .await;
            let state = match done {
                Ok(summary) => {
                    info!(%webhook, records = summary.records, deliveries = summary.deliveries, stopped_at = ?summary.stopped_at, "replay queued");
                    match summary.stopped_at {
                        None => State::Done,
                        Some(_) => State::Failed {
                            error: "the API process stopped before the end of the range".into(),
                        },
                    }
                }
                Err(ReplayError::Stopped { source, resume }) => {
                    warn!(%webhook, error = %source, ?resume, "replay stopped early; what was queued stays queued");
                    State::Failed {
                        error: source.to_string(),
                    }
                }
                Err(e) => {
                    warn!(%webhook, error = %e, "replay failed");
                    State::Failed {
                        error: e.to_string(),
                    }
                }
            };
            tracker.finish(state);
        });
        Ok(accepted)
    }

    fn not_running(&self, webhook: WebhookId) -> Result<(), ApiError> {
        running_check(
            &self.latest.lock().unwrap_or_else(|p| p.into_inner()),
            webhook,
        )
    }

    /// Forgets the replays of a deleted webhook.
    pub fn forget(&self, webhook: WebhookId) {
        self.latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&webhook);
    }

    /// How far the newest replay to `webhook` that this process started got.
    pub fn status(&self, webhook: WebhookId) -> Result<Status, ApiError> {
        let latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        let tracker = latest.get(&webhook).ok_or_else(|| {
            ApiError::NotFoundOther(
                "replay",
                format!("no replay to webhook {webhook} was started on this API process"),
            )
        })?;
        Ok(Status {
            accepted: tracker.accepted.clone(),
            state: tracker.state(),
            read: tracker.read.load(Ordering::Relaxed),
            queued: tracker.queued.load(Ordering::Relaxed),
        })
    }
}

/// 409 while a replay to `webhook` runs.
fn running_check(
    latest: &HashMap<WebhookId, Arc<Tracker>>,
    webhook: WebhookId,
) -> Result<(), ApiError> {
    match latest.get(&webhook) {
        Some(tracker) if tracker.state() == State::Running => Err(ApiError::Conflict(format!(
            "a replay to webhook {webhook} is still running; try again when it is done"
        ))),
        _ => Ok(()),
    }
}

struct Running(Arc<Tracker>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.state() == State::Running {
            self.0.finish(State::Failed {
                error: "the replay ended unexpectedly".into(),
            });
        }
    }
}

/// `{"since": TIME, "until": TIME?}`, each an RFC 3339 string or unix milliseconds.
fn parse(body: &[u8]) -> Result<(UnixMillis, Option<UnixMillis>), ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::Invalid(vec![FieldError::new(
            "body",
            format!("not a JSON object {{\"since\": …, \"until\": …}}: {e}"),
        )])
    })?;
    let mut errors = Vec::new();
    let mut time = |field: &str, required: bool| match value.get(field) {
        None | Some(Value::Null) if !required => None,
        None | Some(Value::Null) => {
            errors.push(FieldError::new(
                field,
                "is required: an RFC 3339 time or unix milliseconds",
            ));
            None
        }
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
        Some(Value::String(s)) => hookstream_replay::parse_time(s)
            .map_err(|e| errors.push(FieldError::new(field, e)))
            .ok(),
        Some(other) => {
            errors.push(FieldError::new(
                field,
                format!("{other} is neither an RFC 3339 time nor unix milliseconds"),
            ));
            None
        }
    };
    let since = time("since", true);
    let until = time("until", false);
    match since {
        Some(since) if errors.is_empty() => Ok((since, until)),
        _ => Err(ApiError::Invalid(errors)),
    }
}

/// A range the topic cannot serve is the caller's to fix; Kafka trouble is not.
fn invalid_range(e: ReplayError) -> ApiError {
    match e {
        ReplayError::Backwards { .. } => {
            ApiError::Invalid(vec![FieldError::new("until", e.to_string())])
        }
        ReplayError::Future { .. }
        | ReplayError::OutsideRetention { .. }
        | ReplayError::AllExpired { .. } => {
            ApiError::Invalid(vec![FieldError::new("since", e.to_string())])
        }
        ReplayError::NoTopic(_) => ApiError::Invalid(vec![FieldError::new(
            "since",
            "nothing was ever captured for this category",
        )]),
        other => ApiError::Unavailable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse_or_name_the_field() {
        assert_eq!(
            parse(br#"{"since": "2026-12-01T00:00:00Z"}"#).ok(),
            Some((1_796_083_200_000, None))
        );
        assert_eq!(
            parse(br#"{"since": 5, "until": 9}"#).ok(),
            Some((5, Some(9)))
        );
        let cases: [(&[u8], &str, &str); 5] = [
            (b"{}", "since", "required"),
            (b"nope", "body", "JSON"),
            (br#"{"since": "monday"}"#, "since", "RFC 3339"),
            (br#"{"since": 1, "until": true}"#, "until", "neither"),
            (br#"{"since": [1]}"#, "since", "neither"),
        ];
        for (body, field, message) in cases {
            match parse(body) {
                Err(ApiError::Invalid(errors)) => {
                    assert_eq!(errors[0].field, field, "{errors:?}");
                    assert!(errors[0].message.contains(message), "{errors:?}");
                }
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
    }
}
