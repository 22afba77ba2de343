//! HTTP routes of the public API.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use hookstream_dispatch::Egress;
use hookstream_model::{AccountId, Sealer, WebhookId};
use hookstream_store::Webhook;
use serde::Serialize;

use crate::keys::Caller;
use crate::limits::KeyLimits;
use crate::{
    deliveries, registration, ApiConfig, ApiError, FieldError, Keys, Probe, Registry, Replays,
};

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    keys: Arc<Keys>,
    registry: Arc<Registry>,
    replays: Arc<Replays>,
    /// The delivery log and test pings.
    probe: Arc<Probe>,
    /// Where webhook URLs may point.
    egress: Arc<Egress>,
    /// Requests per key.
    limits: Arc<KeyLimits>,
    /// Seals secrets for the log and opens them for their owner.
    sealer: Arc<Sealer>,
    request_timeout: std::time::Duration,
    max_body_bytes: usize,
    /// Renders the process's Prometheus metrics, when a recorder is installed.
    metrics: Option<Render>,
}

/// Renders metrics in the Prometheus text format.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

impl AppState {
    pub fn new(
        keys: Arc<Keys>,
        registry: Arc<Registry>,
        replays: Arc<Replays>,
        probe: Arc<Probe>,
        egress: Arc<Egress>,
        sealer: Arc<Sealer>,
        config: &ApiConfig,
    ) -> AppState {
        AppState {
            keys,
            registry,
            replays,
            probe,
            egress,
            sealer,
            limits: Arc::new(KeyLimits::new(
                config.rate_limit_per_s,
                config.rate_limit_burst,
            )),
            request_timeout: std::time::Duration::from_millis(config.request_timeout_ms),
            max_body_bytes: config.max_body_bytes,
            metrics: None,
        }
    }

    /// Serves `/metrics` with what `render` returns.
    pub fn with_metrics(mut self, render: Option<Render>) -> AppState {
        self.metrics = render;
        self
    }
}

/// The API's routes, without a listener (tests can drive it directly).
pub fn app(state: AppState) -> Router {
    let timeout = state.request_timeout;
    Router::new()
        .route("/webhooks", get(list).post(register))
        // Any other method on it is the 404 that `/webhooks/{id}` gives a non-numeric id.
        .route(
            "/webhooks/stats",
            get(all_stats).fallback(|| async { ApiError::NotFound("stats".into()) }),
        )
        .route("/webhooks/{id}", get(show).delete(remove))
        .route("/webhooks/{id}/stats", get(stats))
        .route("/webhooks/{id}/replay", post(replay).get(replay_status))
        .route("/webhooks/{id}/deliveries", get(delivery_log))
        .route("/webhooks/{id}/test", post(test_ping))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route_layer(middleware::from_fn(count_requests))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

/// Counts every request to a known route as `hookstream_api_requests_total{route, method,
/// status}`, the route as declared (`/webhooks/{id}`), not as requested.
async fn count_requests(request: Request, next: Next) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("hookstream_api_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    response
}

/// The OpenAPI description of the public routes (checked in at `spec/openapi.json`).
pub const OPENAPI: &str = include_str!("../spec/openapi.json");

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    match &state.metrics {
        Some(render) => (StatusCode::OK, render()).into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are off").into_response(),
    }
}

/// A webhook as the API shows it (DESIGN.md §1).
#[derive(Debug, Serialize)]
struct WebhookBody {
    id: i64,
    url: String,
    category: i32,
    last_failed_at: Option<i64>,
    secret: String,
}

impl AppState {
    /// The secret of `w` as its owner and its receiver know it.
    fn secret(&self, w: &Webhook) -> Result<String, ApiError> {
        self.sealer
            .open(&w.secret)
            .map_err(|e| ApiError::Internal(format!("webhook {}: {e}", w.id)))
    }

    /// A webhook as its owner sees it, the secret opened.
    fn body(&self, w: Webhook) -> Result<WebhookBody, ApiError> {
        let secret = self.secret(&w)?;
        Ok(WebhookBody {
            id: w.id,
            url: w.url,
            category: w.category,
            last_failed_at: w.last_failed_at,
            secret,
        })
    }
}

/// The caller behind the `user-key` header, if it may use webhooks.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<AccountId, ApiError> {
    let key = headers
        .get("user-key")
        .ok_or(ApiError::Unauthorized("the user-key header is required"))?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("unknown user-key"))?;
    let hash = crate::keys::hash_key(key);
    let Caller { account, plan } = state
        .keys
        .lookup_hashed(&hash)
        .ok_or(ApiError::Unauthorized("unknown user-key"))?;
    state.limits.check(&hash).map_err(ApiError::RateLimited)?;
    if !plan.allows_webhooks() {
        return Err(ApiError::PlanForbidden(plan.name()));
    }
    Ok(account.clone())
}

/// The caller's webhook `id` (another account's is not found).
async fn owned(state: &AppState, headers: &HeaderMap, id: &str) -> Result<Webhook, ApiError> {
    let account = authorize(state, headers)?;
    state.registry.get(&account, parse_id(id)?).await
}

fn parse_id(text: &str) -> Result<WebhookId, ApiError> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(WebhookId(id)),
        _ => Err(ApiError::NotFound(text.chars().take(32).collect())),
    }
}

async fn register(
    State(state): State<AppState>,
    request: Request,
) -> Result<impl IntoResponse, ApiError> {
    let account = authorize(&state, request.headers())?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_body(request.into_body(), state.max_body_bytes).await?;
    let mut new = registration::parse(content_type.as_deref(), &body).map_err(ApiError::Invalid)?;
    check_egress(&state.egress, &new.url)?;
    new.secret = state.sealer.seal(&new.secret);
    let webhook = state.registry.register(&account, new).await?;
    Ok(Json(state.body(webhook)?))
}

/// A URL whose host is a refused address is refused now; names are checked when connecting.
fn check_egress(egress: &Egress, url: &str) -> Result<(), ApiError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| ApiError::Internal(format!("a validated URL does not parse: {e}")))?;
    egress
        .check_url(&parsed)
        .map_err(|refusal| ApiError::Invalid(vec![FieldError::new("url", refusal.to_string())]))
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let account = authorize(&state, &headers)?;
    let webhooks = state.registry.list(&account).await?;
    let bodies = webhooks
        .into_iter()
        .map(|w| state.body(w))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(bodies))
}

async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let webhook = owned(&state, &headers, &id).await?;
    Ok(Json(state.body(webhook)?))
}

async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let account = authorize(&state, &headers)?;
    let webhook = state.registry.delete(&account, parse_id(&id)?).await?;
    state.replays.forget(webhook.id());
    Ok(Json(state.body(webhook)?))
}

async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<impl IntoResponse, ApiError> {
    let webhook = owned(&state, request.headers(), &id).await?;
    let category = webhook
        .category()
        .ok_or_else(|| ApiError::Internal(format!("webhook {id} has an unknown category")))?;
    let body = read_body(request.into_body(), state.max_body_bytes).await?;
    let accepted = state.replays.start(webhook.id(), category, &body).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

async fn delivery_log(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Result<impl IntoResponse, ApiError> {
    let account = authorize(&state, &headers)?;
    let page = deliveries::parse_page(uri.query())?;
    let webhook = state.registry.get(&account, parse_id(&id)?).await?;
    Ok(Json(deliveries::page(
        &state.probe.log,
        webhook.id(),
        page,
    )?))
}

async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let webhook = owned(&state, &headers, &id).await?;
    Ok(Json(deliveries::last_day(
        &state.probe.log,
        webhook.id(),
        hookstream_model::now_millis(),
    )?))
}

/// The last day's counts of every webhook of the account, in the order of `GET /webhooks`.
async fn all_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let account = authorize(&state, &headers)?;
    let now = hookstream_model::now_millis();
    let all = state
        .registry
        .list(&account)
        .await?
        .iter()
        .map(|w| deliveries::last_day(&state.probe.log, w.id(), now))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(all))
}

async fn replay_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let webhook = owned(&state, &headers, &id).await?;
    Ok(Json(state.replays.status(webhook.id())?))
}

async fn test_ping(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let webhook = owned(&state, &headers, &id).await?;
    let secret = state.secret(&webhook)?;
    let probe = &state.probe;
    Ok(Json(
        deliveries::ping(&probe.deliverer, &probe.attempts, &webhook, &secret).await,
    ))
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match state.registry.ready().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => e.into_response(),
    }
}

/// Reads at most `limit` bytes; a larger body is a 400 like any other bad input.
async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::Invalid(vec![FieldError::new(
            "body",
            format!("request body is larger than {limit} bytes or could not be read"),
        )])
    })
}
