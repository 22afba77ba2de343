//! The API's one error type and its stable JSON body:
//! `{"errors": [{"field": "...", "message": "..."}]}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tracing::error;

pub use hookstream_model::FieldError;

/// Everything a handler can answer other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed; nothing was written.
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// 401: missing or unknown `user-key`.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 403: the key's plan has no webhooks.
    #[error("plan {0} has no webhooks")]
    PlanForbidden(&'static str),
    /// 404: no such webhook on this account (also for other accounts' ids).
    #[error("webhook not found")]
    NotFound(String),
    /// 404: something other than a webhook is not there (field, message).
    #[error("not found: {1}")]
    NotFoundOther(&'static str, String),
    /// 409: the request conflicts with work in progress (a replay already running).
    #[error("conflict: {0}")]
    Conflict(String),
    /// 429: the key used up its requests; `Retry-After` says when to try again.
    #[error("rate limited")]
    RateLimited(std::time::Duration),
    /// 503: Kafka or the view is not available right now; the client may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or a broken disk. Logged; the client sees a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct Body {
    errors: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, errors) = match self {
            ApiError::Invalid(errors) => (StatusCode::BAD_REQUEST, errors),
            ApiError::Unauthorized(message) => (
                StatusCode::UNAUTHORIZED,
                vec![FieldError::new("user-key", message)],
            ),
            ApiError::PlanForbidden(plan) => (
                StatusCode::FORBIDDEN,
                vec![FieldError::new(
                    "user-key",
                    format!(
                        "webhooks are available on the Pro, Ultra and Enterprise plans; this key is on the {plan} plan"
                    ),
                )],
            ),
            ApiError::NotFound(id) => (
                StatusCode::NOT_FOUND,
                vec![FieldError::new("id", format!("no webhook {id} on this account"))],
            ),
            ApiError::NotFoundOther(field, message) => {
                (StatusCode::NOT_FOUND, vec![FieldError::new(field, message)])
            }
            ApiError::RateLimited(wait) => {
                let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
                let body = Body {
                    errors: vec![FieldError::new(
                        "user-key",
                        format!("too many requests with this key; try again in {seconds} s"),
                    )],
                };
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(axum::http::header::RETRY_AFTER, seconds.to_string())],
                    Json(body),
                )
                    .into_response();
            }
            ApiError::Conflict(message) => (
                StatusCode::CONFLICT,
                vec![FieldError::new("request", message)],
            ),
            ApiError::Unavailable(message) => (
                StatusCode::SERVICE_UNAVAILABLE,
                vec![FieldError::new("request", message)],
            ),
            ApiError::Internal(detail) => {
                error!(%detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    vec![FieldError::new("request", "internal error")],
                )
            }
        };
        (status, Json(Body { errors })).into_response()
    }
}
