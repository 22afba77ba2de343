//! Harness of the end-to-end tests: the real `hookstream` binary, a real Kafka broker on
//! loopback (started by `scripts/test.sh`), and receivers whose answers a test controls.
//!
//! Every test works in its own [`Namespace`]: topic prefixes and consumer groups of its
//! own, so tests share one broker and run in parallel.

pub mod kafka;
pub mod postgres;
pub mod process;
pub mod receiver;
pub mod stack;

pub use process::Proc;
pub use receiver::{Received, Receiver};
pub use stack::{Namespace, Stack};

use std::time::{Duration, Instant};

/// How long any wait of a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(45);

/// The status a GET of `url` answers, or `None` if nothing answers within 10 s.
pub async fn http_status(url: &str) -> Option<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .ok()?;
    client
        .get(url)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if started.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
