//! One delivery: the HTTP request and what its outcome means.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use hookstream_model::{AttemptError, Category, ChangeOp};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, USER_AGENT};
use reqwest::redirect::Policy;

use crate::schedule::parse_retry_after;
use crate::sign;
use crate::DispatchConfig;

/// What a delivery attempt means for the webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Any 2xx.
    Delivered { status: u16 },
    /// 401: the webhook is removed at once.
    Unauthorized,
    /// Anything else: another status, or no response.
    Failed(Failure),
}

/// Why an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Status(u16),
    Error(AttemptError),
    /// Not sent: the endpoint's circuit breaker is open.
    CircuitOpen,
}

impl Outcome {
    /// Classifies a response status. Redirects are failures: they are never followed.
    pub fn of_status(status: u16) -> Outcome {
        match status {
            200..=299 => Outcome::Delivered { status },
            401 => Outcome::Unauthorized,
            other => Outcome::Failed(Failure::Status(other)),
        }
    }
}

/// What came back from one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub outcome: Outcome,
    /// The receiver's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
    pub latency: Duration,
}

/// Everything a request needs, borrowed from the change and the webhook.
pub struct Delivery<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    pub delivery_id: &'a str,
    pub category: Category,
    pub op: ChangeOp,
    pub body: Bytes,
    pub replay: bool,
}

/// The pooled HTTP client of a dispatcher.
#[derive(Clone)]
pub struct Deliverer {
    client: reqwest::Client,
}

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

impl Deliverer {
    pub fn new(config: &DispatchConfig) -> Result<Deliverer, ClientError> {
        let mut defaults = HeaderMap::new();
        defaults.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("hookstream/", env!("CARGO_PKG_VERSION"))),
        );
        let client = reqwest::Client::builder()
            .default_headers(defaults)
            .redirect(Policy::none())
            .timeout(Duration::from_millis(config.request_timeout_ms))
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Deliverer { client })
    }

    /// Sends one delivery and classifies the result. Never panics on network input.
    pub async fn send(&self, delivery: &Delivery<'_>) -> Response {
        let started = Instant::now();
        let timestamp = hookstream_model::now_millis() / 1000;
        let signature = sign::signature(
            delivery.secret,
            delivery.delivery_id,
            timestamp,
            &delivery.body,
        );
        let mut request = self
            .client
            .post(delivery.url)
            .header(CONTENT_TYPE, "application/json")
            .header("X-Secret", delivery.secret)
            .header("webhook-id", delivery.delivery_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header("X-Hookstream-Category", delivery.category.slug())
            .header("X-Hookstream-Event", delivery.op.as_str());
        if delivery.replay {
            request = request.header("X-Hookstream-Replay", "true");
        }
        let (outcome, retry_after) = match request.body(delivery.body.clone()).send().await {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                // The body is not read: the status is the answer.
                (Outcome::of_status(response.status().as_u16()), retry_after)
            }
            Err(e) => (Outcome::Failed(Failure::Error(classify(&e))), None),
        };
        Response {
            outcome,
            retry_after,
            latency: started.elapsed(),
        }
    }
}

fn classify(error: &reqwest::Error) -> AttemptError {
    if error.is_timeout() {
        AttemptError::Timeout
    } else if error.is_connect() {
        AttemptError::Connect
    } else if error.is_redirect() {
        AttemptError::Redirect
    } else {
        AttemptError::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_once() {
        assert_eq!(Outcome::of_status(200), Outcome::Delivered { status: 200 });
        assert_eq!(Outcome::of_status(204), Outcome::Delivered { status: 204 });
        assert_eq!(Outcome::of_status(401), Outcome::Unauthorized);
        for status in [301, 302, 304, 400, 403, 404, 410, 429, 500, 503] {
            assert_eq!(
                Outcome::of_status(status),
                Outcome::Failed(Failure::Status(status))
            );
        }
    }
}
