//! The portal's only way to webhooks: requests to the public API's router, in process, with
//! the signed-in key as `user-key`. Authentication, plan gating, validation, limits and error
//! messages are therefore the API's own; the portal renders what the API answers.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tower::ServiceExt;

/// The public API, called in process.
#[derive(Clone)]
pub struct Api {
    router: Router,
}

/// A webhook as `GET /webhooks` shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub category: i32,
    pub last_failed_at: Option<i64>,
    pub secret: String,
}

/// `GET /webhooks/ID/stats`: the last 24 hours of attempts.
#[derive(Debug, Clone, Deserialize)]
pub struct Stats {
    pub webhook_id: i64,
    pub delivered: u64,
    pub failed: u64,
    pub success_rate: Option<f64>,
    pub hours: Vec<HourStats>,
    /// The newest attempt that was not a test ping.
    pub latest: Option<Latest>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Latest {
    pub at: String,
    pub delivered: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HourStats {
    pub start: String,
    pub delivered: u64,
    pub failed: u64,
}

/// One entry of `GET /webhooks/ID/deliveries`.
#[derive(Debug, Clone, Deserialize)]
pub struct Attempt {
    pub delivery_id: String,
    pub at: String,
    pub attempt: i32,
    pub kind: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: i64,
    pub entity_id: Option<i64>,
    /// Where the attempts older than this one start.
    pub cursor: String,
}

/// What `POST /webhooks/ID/test` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct TestOutcome {
    pub delivered: bool,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: i64,
    pub delivery_id: String,
}

/// What `GET /webhooks/ID/replay` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct ReplayStatus {
    pub state: String,
    pub since: String,
    pub until: Option<String>,
    pub records: u64,
    pub read: u64,
    pub queued: u64,
    pub error: Option<String>,
    pub warning: Option<String>,
}

/// One problem the API named, as in its `{"errors": [...]}` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// The API's messages about a refused request.
#[derive(Debug, Clone, Default)]
pub struct Problems(pub Vec<FieldError>);

impl Problems {
    /// The message about `field`, if any.
    pub fn about(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    /// The messages about anything but `fields` (the request as a whole, a full account).
    pub fn except(&self, fields: &[&str]) -> Vec<&str> {
        self.0
            .iter()
            .filter(|e| !fields.contains(&e.field.as_str()))
            .map(|e| e.message.as_str())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An answer of the API other than 2xx.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: StatusCode,
    pub errors: Problems,
    /// `Retry-After` of a 429, in seconds.
    pub retry_after: Option<HeaderValue>,
}

#[derive(Deserialize)]
struct ErrorBody {
    errors: Vec<FieldError>,
}

impl Refusal {
    /// The API's messages, one sentence per problem.
    pub fn message(&self) -> String {
        self.errors.except(&[]).join("; ")
    }

    /// Whether the request can be corrected on the page that sent it: invalid input (400)
    /// or a conflict with the account's state (409).
    pub fn correctable(&self) -> bool {
        matches!(self.status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT)
    }

    fn read(status: StatusCode, retry_after: Option<HeaderValue>, body: &[u8]) -> Refusal {
        let errors = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(parsed) => parsed.errors,
            // Not the API's error body (a timeout answered by a layer, a 405): say what
            // the status means, with the body's text if there is one.
            Err(_) => {
                let reason = status.canonical_reason().unwrap_or("Error");
                let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
                let message = match text.trim() {
                    "" => format!("the API answered {} {reason}", status.as_u16()),
                    text => format!("the API answered {} {reason}: {text}", status.as_u16()),
                };
                vec![FieldError {
                    field: "request".into(),
                    message,
                }]
            }
        };
        Refusal {
            status,
            errors: Problems(errors),
            retry_after,
        }
    }

    /// A 2xx body that is not what the API documents: a bug, shown as a 500.
    fn unreadable(what: &str, error: serde_json::Error) -> Refusal {
        tracing::error!(%what, %error, "the portal cannot read an answer of the API");
        Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            errors: Problems(vec![FieldError {
                field: "request".into(),
                message: "internal error".into(),
            }]),
            retry_after: None,
        }
    }
}

/// A request body and its content type.
struct Payload {
    content_type: &'static str,
    bytes: Vec<u8>,
}

impl Api {
    pub fn new(router: Router) -> Api {
        Api { router }
    }

    async fn call(
        &self,
        key: &str,
        method: Method,
        path: &str,
        payload: Option<Payload>,
    ) -> Result<Bytes, Refusal> {
        let mut request = Request::builder().method(method).uri(path);
        // A key that is not a valid header value is unknown to the API, like any other.
        if let Ok(value) = HeaderValue::from_str(key) {
            request = request.header("user-key", value);
        }
        let body = match payload {
            Some(payload) => {
                request = request.header(header::CONTENT_TYPE, payload.content_type);
                Body::from(payload.bytes)
            }
            None => Body::empty(),
        };
        let request = request.body(body).map_err(|e| Refusal {
            status: StatusCode::BAD_REQUEST,
            errors: Problems(vec![FieldError {
                field: "request".into(),
                message: e.to_string(),
            }]),
            retry_after: None,
        })?;
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
        // The API bounds what it answers; 1 MiB is far above any of its bodies.
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        if status.is_success() {
            Ok(bytes)
        } else {
            Err(Refusal::read(status, retry_after, &bytes))
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        key: &str,
        method: Method,
        path: &str,
        payload: Option<Payload>,
    ) -> Result<T, Refusal> {
        let bytes = self.call(key, method, path, payload).await?;
        serde_json::from_slice(&bytes).map_err(|e| Refusal::unreadable(path, e))
    }

    pub async fn webhooks(&self, key: &str) -> Result<Vec<Webhook>, Refusal> {
        self.json(key, Method::GET, "/webhooks", None).await
    }

    pub async fn webhook(&self, key: &str, id: i64) -> Result<Webhook, Refusal> {
        self.json(key, Method::GET, &format!("/webhooks/{id}"), None)
            .await
    }

    pub async fn all_stats(&self, key: &str) -> Result<Vec<Stats>, Refusal> {
        self.json(key, Method::GET, "/webhooks/stats", None).await
    }

    pub async fn stats(&self, key: &str, id: i64) -> Result<Stats, Refusal> {
        self.json(key, Method::GET, &format!("/webhooks/{id}/stats"), None)
            .await
    }

    pub async fn deliveries(
        &self,
        key: &str,
        id: i64,
        limit: usize,
        before: Option<&str>,
    ) -> Result<Vec<Attempt>, Refusal> {
        // The serializer is not Send: it must be gone before the call is awaited.
        let query = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("limit", &limit.to_string());
            if let Some(cursor) = before {
                query.append_pair("before", cursor);
            }
            query.finish()
        };
        let path = format!("/webhooks/{id}/deliveries?{query}");
        self.json(key, Method::GET, &path, None).await
    }

    /// Registers with the form fields as given (the API validates them).
    pub async fn register(&self, key: &str, fields: &[(&str, &str)]) -> Result<Webhook, Refusal> {
        let bytes = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish()
            .into_bytes();
        let payload = Payload {
            content_type: "application/x-www-form-urlencoded",
            bytes,
        };
        self.json(key, Method::POST, "/webhooks", Some(payload))
            .await
    }

    pub async fn delete(&self, key: &str, id: i64) -> Result<Webhook, Refusal> {
        self.json(key, Method::DELETE, &format!("/webhooks/{id}"), None)
            .await
    }

    pub async fn test(&self, key: &str, id: i64) -> Result<TestOutcome, Refusal> {
        self.json(key, Method::POST, &format!("/webhooks/{id}/test"), None)
            .await
    }

    /// Starts a replay of `since`..`until` (times as the API takes them; `None` is sent as
    /// null, which the API judges).
    pub async fn replay(
        &self,
        key: &str,
        id: i64,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<(), Refusal> {
        let body = serde_json::json!({ "since": since, "until": until });
        let payload = Payload {
            content_type: "application/json",
            bytes: body.to_string().into_bytes(),
        };
        self.call(
            key,
            Method::POST,
            &format!("/webhooks/{id}/replay"),
            Some(payload),
        )
        .await
        .map(drop)
    }

    /// The newest replay's progress; `None` when this API process started none.
    pub async fn replay_status(&self, key: &str, id: i64) -> Result<Option<ReplayStatus>, Refusal> {
        match self
            .json(key, Method::GET, &format!("/webhooks/{id}/replay"), None)
            .await
        {
            Ok(status) => Ok(Some(status)),
            Err(refusal)
                if refusal.status == StatusCode::NOT_FOUND
                    && refusal.errors.about("replay").is_some() =>
            {
                Ok(None)
            }
            Err(refusal) => Err(refusal),
        }
    }
}
