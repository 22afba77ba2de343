//! One delivery: the HTTP request and what its outcome means.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use hookstream_model::{AttemptError, Category};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, USER_AGENT};
use reqwest::redirect::Policy;

use crate::egress::{self, Egress, GuardedResolver};
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
    /// The `X-Hookstream-Event` header: `create`, `update`, or `ping` for a test.
    pub event: &'a str,
    pub body: Bytes,
    pub replay: bool,
}

/// The pooled HTTP client of a dispatcher.
#[derive(Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    egress: Arc<Egress>,
}

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

impl Deliverer {
    /// A client that connects only where `egress` permits: names are resolved by a
    /// [`GuardedResolver`], addresses in URLs are checked before each request.
    pub fn new(config: &DispatchConfig, egress: Arc<Egress>) -> Result<Deliverer, ClientError> {
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
            .dns_resolver(Arc::new(GuardedResolver::new(egress.clone())))
            .build()?;
        Ok(Deliverer { client, egress })
    }

    /// Sends one delivery and classifies the result. Never panics on network input.
    /// `parsed` is the delivery's URL already parsed, when the caller has it.
    pub async fn send(&self, delivery: &Delivery<'_>, parsed: Option<&reqwest::Url>) -> Response {
        let started = Instant::now();
        let timestamp = hookstream_model::now_millis() / 1000;
        let signature = sign::signature(
            delivery.secret,
            delivery.delivery_id,
            timestamp,
            &delivery.body,
        );
        let url = match parsed {
            Some(url) => url.clone(),
            None => match reqwest::Url::parse(delivery.url) {
                Ok(url) => url,
                Err(_) => return refused(AttemptError::Other, started),
            },
        };
        // Names are checked by the resolver when connecting; addresses here.
        if self.egress.check_url(&url).is_err() {
            return refused(AttemptError::Forbidden, started);
        }
        let request = self.client.post(url);
        let mut request = request
            .header(CONTENT_TYPE, "application/json")
            .header("X-Secret", delivery.secret)
            .header("webhook-id", delivery.delivery_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header("X-Hookstream-Category", delivery.category.slug())
            .header("X-Hookstream-Event", delivery.event);
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
                let outcome = Outcome::of_status(response.status().as_u16());
                // The status is the answer; the body is read only so that the connection can
                // serve the next request (an unread body closes it), and only so far.
                drain(response).await;
                (outcome, retry_after)
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

/// An attempt that was not sent.
fn refused(error: AttemptError, started: Instant) -> Response {
    Response {
        outcome: Outcome::Failed(Failure::Error(error)),
        retry_after: None,
        latency: started.elapsed(),
    }
}

/// A receiver's answer body read beyond this closes the connection instead.
const DRAIN_LIMIT: usize = 64 * 1024;

async fn drain(mut response: reqwest::Response) {
    let mut read = 0;
    while let Ok(Some(chunk)) = response.chunk().await {
        read += chunk.len();
        if read > DRAIN_LIMIT {
            return;
        }
    }
}

fn classify(error: &reqwest::Error) -> AttemptError {
    if egress::is_refusal(error) {
        AttemptError::Forbidden
    } else if error.is_timeout() {
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

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A receiver that answers every request on a connection with `200` and a 32 KiB body
    /// (more than the client reads with the headers), counting the connections it accepted.
    async fn receiver() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut seen = Vec::new();
                    loop {
                        let Ok(n) = stream.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        // One request per read of its end: headers and a body of "{}".
                        while let Some(end) = seen.windows(6).position(|w| w == b"\r\n\r\n{}") {
                            seen.drain(..end + 6);
                            let body = "x".repeat(32 * 1024);
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if stream.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (format!("http://{addr}/hook"), connections)
    }

    #[tokio::test]
    async fn a_connection_serves_the_next_delivery_after_a_body() {
        let (url, connections) = receiver().await;
        let loopback = Egress::new(&crate::EgressConfig {
            allow: vec!["127.0.0.1/32".into()],
            https_only: false,
        })
        .expect("valid");
        let deliverer =
            Deliverer::new(&DispatchConfig::default(), Arc::new(loopback)).expect("client");
        let parsed = reqwest::Url::parse(&url).expect("url");
        for n in 0..3 {
            let delivery = Delivery {
                url: &url,
                secret: "s",
                delivery_id: "msg_1",
                category: Category::Game,
                event: "update",
                body: Bytes::from_static(b"{}"),
                replay: false,
            };
            let parsed = (n % 2 == 0).then_some(&parsed);
            let response = deliverer.send(&delivery, parsed).await;
            assert_eq!(response.outcome, Outcome::Delivered { status: 200 });
        }
        assert_eq!(
            connections.load(Ordering::SeqCst),
            1,
            "the answer's body was read, so the connection was kept"
        );
    }

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
