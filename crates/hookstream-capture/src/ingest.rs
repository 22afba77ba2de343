//! `POST /v1/changes`: an authenticated HTTP source for systems that push their changes.
//!
//! Body: one change `{"category": 1 | "game", "id": 42, "op": "create" | "update",
//! "data": {…}}`, an array of them, or `{"changes": [...]}`. The whole batch is validated
//! before anything is published; the answer lists where each change was stored.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hookstream_model::{Category, ChangeOp, EntityChange, FieldError};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use tracing::{info, warn};

use crate::{CaptureConfig, Publisher};

/// State of the ingest endpoint.
#[derive(Clone)]
pub struct IngestState {
    publisher: Publisher,
    token: Arc<str>,
    /// Renders the process's Prometheus metrics, when a recorder is installed.
    metrics: Option<Arc<dyn Fn() -> String + Send + Sync>>,
    max_batch: usize,
    max_body_bytes: usize,
    request_timeout: Duration,
}

impl IngestState {
    pub fn new(publisher: Publisher, config: &CaptureConfig) -> IngestState {
        IngestState {
            publisher,
            token: config.admin_token.as_str().into(),
            metrics: None,
            max_batch: config.max_batch,
            max_body_bytes: config.max_body_bytes,
            request_timeout: Duration::from_millis(config.request_timeout_ms),
        }
    }
}

impl IngestState {
    /// Serves `/metrics` with what `render` returns (the Prometheus text format).
    pub fn with_metrics(mut self, render: Arc<dyn Fn() -> String + Send + Sync>) -> IngestState {
        self.metrics = Some(render);
        self
    }
}

/// The ingest routes.
pub fn app(state: IngestState) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/v1/changes", post(ingest))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.request_timeout,
        ))
        .with_state(state)
}

/// Ready while Kafka answers: changes accepted now can be published.
async fn ready(State(state): State<IngestState>) -> Response {
    match state.publisher.reachable(Duration::from_secs(2)).await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Kafka is not reachable: {e}"),
        )
            .into_response(),
    }
}

/// What an ingest request gets instead of being published.
#[derive(Debug)]
enum Rejection {
    /// 403: no admin token is configured.
    Disabled,
    /// 401: missing or wrong token.
    Unauthorized(&'static str),
    /// 400: the batch is malformed; nothing was published.
    Invalid(Vec<FieldError>),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let one = |message: &str| {
            vec![FieldError {
                field: "authorization".into(),
                message: message.into(),
            }]
        };
        let (status, list) = match self {
            Rejection::Disabled => (
                StatusCode::FORBIDDEN,
                one("ingest is disabled: capture.admin_token is not set"),
            ),
            Rejection::Unauthorized(message) => (StatusCode::UNAUTHORIZED, one(message)),
            Rejection::Invalid(list) => (StatusCode::BAD_REQUEST, list),
        };
        (status, Json(serde_json::json!({ "errors": list }))).into_response()
    }
}

async fn metrics(State(state): State<IngestState>) -> Response {
    match &state.metrics {
        Some(render) => ([("content-type", "text/plain; version=0.0.4")], render()).into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}

#[derive(Debug, Serialize)]
struct Accepted {
    change_id: String,
    category: &'static str,
    id: i64,
    topic: String,
    partition: i32,
    offset: i64,
}

async fn ingest(State(state): State<IngestState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(rejection) = authorize(&state, &headers) {
        return rejection.into_response();
    }
    let changes = match parse_batch(&body, state.max_batch) {
        Ok(changes) => changes,
        Err(list) => return Rejection::Invalid(list).into_response(),
    };
    let results = state.publisher.publish_in_order(&changes).await;
    let mut accepted = Vec::with_capacity(changes.len());
    let mut failed = Vec::new();
    for (change, result) in changes.iter().zip(results) {
        match result {
            Ok(published) => accepted.push(Accepted {
                change_id: change.change_id.clone(),
                category: change.category.slug(),
                id: change.entity_id,
                topic: published.topic,
                partition: published.stored.partition,
                offset: published.stored.offset,
            }),
            Err(e) => {
                warn!(error = %e, entity_id = change.entity_id, "change not published");
                failed.push(serde_json::json!({
                    "category": change.category.slug(),
                    "id": change.entity_id,
                    "message": "Kafka did not acknowledge this change; send it again",
                }));
            }
        }
    }
    info!(
        accepted = accepted.len(),
        failed = failed.len(),
        "ingest batch"
    );
    let status = if failed.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "accepted": accepted.len(),
        "changes": accepted,
        "failed": failed,
    });
    (status, Json(body)).into_response()
}

fn authorize(state: &IngestState, headers: &HeaderMap) -> Result<(), Rejection> {
    if state.token.is_empty() {
        return Err(Rejection::Disabled);
    }
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if constant_time_eq(token.as_bytes(), state.token.as_bytes()) => Ok(()),
        Some(_) => Err(Rejection::Unauthorized("wrong admin token")),
        None => Err(Rejection::Unauthorized(
            "send the admin token as Authorization: Bearer <token>",
        )),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses and validates a whole batch; any error rejects all of it.
pub fn parse_batch(body: &[u8], max_batch: usize) -> Result<Vec<EntityChange>, Vec<FieldError>> {
    let fail = |field: &str, message: String| {
        vec![FieldError {
            field: field.into(),
            message,
        }]
    };
    let top: Value =
        serde_json::from_slice(body).map_err(|e| fail("body", format!("malformed JSON: {e}")))?;
    // Keep each change's raw text so `data` is published exactly as sent.
    let raw_items: Vec<Box<RawValue>> = match &top {
        Value::Array(_) => serde_json::from_slice(body),
        Value::Object(map) if map.contains_key("changes") => {
            #[derive(serde::Deserialize)]
            struct Wrapped {
                changes: Vec<Box<RawValue>>,
            }
            serde_json::from_slice::<Wrapped>(body).map(|w| w.changes)
        }
        Value::Object(_) => serde_json::from_slice::<Box<RawValue>>(body).map(|one| vec![one]),
        _ => {
            return Err(fail(
                "body",
                "expected a change object, an array of them, or {\"changes\": [...]}".into(),
            ))
        }
    }
    .map_err(|e| {
        fail(
            "changes",
            format!("expected an array of change objects: {e}"),
        )
    })?;
    if raw_items.is_empty() {
        return Err(fail("changes", "no changes given".into()));
    }
    if raw_items.len() > max_batch {
        return Err(fail(
            "changes",
            format!(
                "{} changes given; at most {max_batch} per request",
                raw_items.len()
            ),
        ));
    }
    let captured_at = hookstream_model::now_millis();
    let mut changes = Vec::with_capacity(raw_items.len());
    let mut problems = Vec::new();
    for (index, raw) in raw_items.iter().enumerate() {
        match parse_change(raw, captured_at) {
            Ok(change) => changes.push(change),
            Err(list) => problems.extend(list.into_iter().map(|(field, message)| FieldError {
                field: format!("changes[{index}].{field}"),
                message,
            })),
        }
    }
    if problems.is_empty() {
        Ok(changes)
    } else {
        Err(problems)
    }
}

#[derive(serde::Deserialize)]
struct RawChange<'a> {
    category: Option<Value>,
    id: Option<Value>,
    op: Option<Value>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

fn parse_change(
    raw: &RawValue,
    captured_at: i64,
) -> Result<EntityChange, Vec<(&'static str, String)>> {
    let change: RawChange<'_> = serde_json::from_str(raw.get())
        .map_err(|e| vec![("body", format!("not a change object: {e}"))])?;
    let mut problems = Vec::new();
    let category = match &change.category {
        Some(Value::Number(n)) => n.as_i64().and_then(|k| Category::from_key(k).ok()),
        Some(Value::String(s)) => s.parse::<Category>().ok(),
        _ => None,
    };
    if category.is_none() {
        problems.push((
            "category",
            "must be a category key 1..23 or a slug such as \"game\"".into(),
        ));
    }
    let id = change
        .id
        .as_ref()
        .and_then(Value::as_i64)
        .filter(|id| *id > 0);
    if id.is_none() {
        problems.push(("id", "must be a positive integer".into()));
    }
    let op = match &change.op {
        Some(Value::String(s)) => ChangeOp::parse(s),
        _ => None,
    };
    if op.is_none() {
        problems.push(("op", "must be \"create\" or \"update\"".into()));
    }
    let data = change
        .data
        .filter(|d| d.get().trim_start().starts_with('{'));
    if data.is_none() {
        problems.push(("data", "must be the entity as a JSON object".into()));
    }
    match (category, id, op, data) {
        (Some(category), Some(entity_id), Some(op), Some(data)) if problems.is_empty() => {
            Ok(EntityChange {
                change_id: uuid::Uuid::new_v4().to_string(),
                category,
                entity_id,
                op,
                data: data.get().to_owned(),
                captured_at,
                lsn: None,
            })
        }
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests;
