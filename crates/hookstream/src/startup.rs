//! Starting without Kafka: every service binds its address at once and answers `/healthz`
//! (200) and everything else (503, "waiting for Kafka") until the broker answers and
//! hookstream's topics exist; only then do the real services take the listeners.

use std::time::Duration;

use anyhow::Context;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use hookstream_kafka::admin::{ensure_topics, pipeline_topics};
use hookstream_kafka::KafkaConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// A service's listener, bound before Kafka is known to be there.
pub struct Bound {
    pub what: &'static str,
    listener: std::net::TcpListener,
}

impl Bound {
    pub fn bind(addr: &str, what: &'static str) -> anyhow::Result<Bound> {
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("{what}: cannot listen on {addr}"))?;
        listener.set_nonblocking(true)?;
        Ok(Bound { what, listener })
    }

    /// The listener for the real service, announced as `listening`.
    pub fn serve(self) -> anyhow::Result<TcpListener> {
        let listener = TcpListener::from_std(self.listener)?;
        info!(service = self.what, addr = %listener.local_addr()?, "listening");
        Ok(listener)
    }
}

/// How long one attempt to reach Kafka may take, and the pause between attempts.
const ATTEMPT: Duration = Duration::from_secs(10);
const PAUSE: Duration = Duration::from_secs(2);

/// Creates hookstream's topics, waiting for Kafka as long as it takes (or until
/// `shutdown`). From the first failed attempt on, the bound addresses answer as not ready.
pub async fn wait_for_kafka(
    kafka: &KafkaConfig,
    bound: &[&Bound],
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let topics = pipeline_topics(kafka);
    let waiting = CancellationToken::new();
    let mut servers = Vec::new();
    let mut attempts = 0u32;
    let outcome = loop {
        attempts += 1;
        match tokio::time::timeout(ATTEMPT, ensure_topics(kafka, &topics)).await {
            Ok(Ok(())) => {
                if attempts > 1 {
                    info!(attempts, "Kafka answers; starting");
                }
                break Ok(());
            }
            Ok(Err(e)) => {
                warn!(brokers = %kafka.brokers, error = %e, "waiting for Kafka; not ready")
            }
            Err(_) => warn!(brokers = %kafka.brokers, "waiting for Kafka (no answer); not ready"),
        }
        if attempts == 1 {
            for b in bound {
                let listener = TcpListener::from_std(b.listener.try_clone()?)?;
                info!(service = b.what, addr = %listener.local_addr()?, "not ready: waiting for Kafka");
                servers.push(tokio::spawn(serve_waiting(
                    listener,
                    kafka.brokers.clone(),
                    waiting.clone(),
                )));
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break Err(anyhow::anyhow!("stopped while waiting for Kafka")),
            _ = tokio::time::sleep(PAUSE) => {}
        }
    };
    waiting.cancel();
    for server in servers {
        let _ = server.await;
    }
    outcome
}

/// `/healthz` 200; `/readyz` and everything else 503 until `done`.
async fn serve_waiting(listener: TcpListener, brokers: String, done: CancellationToken) {
    let reason = format!("waiting for Kafka at {brokers}");
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .fallback(move || {
            let reason = reason.clone();
            async move { (StatusCode::SERVICE_UNAVAILABLE, reason) }
        });
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(done.cancelled_owned())
        .await;
}
