//! `/healthz`, `/readyz` and `/metrics` of a dispatcher.
//!
//! Live as soon as it serves; ready once its view has folded the webhook log up to the end it
//! had at start, so that an orchestrator does not count a dispatcher that is still rebuilding
//! its view from an empty sled, and for as long as Kafka answers (checked every
//! [`KAFKA_PROBE`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use hookstream_kafka::producer::Producer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::telemetry::{self, Render};

/// How often a dispatcher asks Kafka whether it is there.
pub const KAFKA_PROBE: Duration = Duration::from_secs(2);

/// Whether the dispatcher is ready: caught up (set once, by the start-up catch-up) and Kafka
/// reachable (kept current by [`probe_kafka`]).
#[derive(Debug, Clone)]
pub struct Readiness(Arc<Flags>);

#[derive(Debug)]
struct Flags {
    caught_up: AtomicBool,
    kafka: AtomicBool,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness(Arc::new(Flags {
            caught_up: AtomicBool::new(false),
            kafka: AtomicBool::new(true),
        }))
    }
}

impl Readiness {
    pub fn set_caught_up(&self) {
        self.0.caught_up.store(true, Ordering::SeqCst);
        telemetry::ready(self.is_ready());
    }

    fn set_kafka(&self, reachable: bool) {
        self.0.kafka.store(reachable, Ordering::SeqCst);
        telemetry::ready(self.is_ready());
    }

    pub fn is_ready(&self) -> bool {
        self.why_not().is_none()
    }

    /// What keeps the dispatcher from being ready, if anything.
    pub fn why_not(&self) -> Option<&'static str> {
        if !self.0.caught_up.load(Ordering::SeqCst) {
            Some("catching up with the webhook log")
        } else if !self.0.kafka.load(Ordering::SeqCst) {
            Some("Kafka is not reachable")
        } else {
            None
        }
    }
}

/// Asks Kafka every [`KAFKA_PROBE`] whether it answers, until `stop`; logs each change.
pub async fn probe_kafka(
    producer: Producer,
    topic: String,
    ready: Readiness,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(KAFKA_PROBE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was = true;
    while stop.run_until_cancelled(tick.tick()).await.is_some() {
        let answer = producer.reachable(&topic, KAFKA_PROBE).await;
        let now = answer.is_ok();
        match (&answer, was) {
            (Err(e), true) => warn!(error = %e, "Kafka is not reachable; not ready"),
            (Ok(()), false) => info!("Kafka is reachable again"),
            _ => {}
        }
        ready.set_kafka(now);
        was = now;
    }
}

pub async fn serve(
    listener: TcpListener,
    ready: Readiness,
    metrics: Option<Render>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || async move {
                match ready.why_not() {
                    None => (StatusCode::OK, "ready"),
                    Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason),
                }
            }),
        )
        .route(
            "/metrics",
            get(move || async move {
                match &metrics {
                    Some(render) => (StatusCode::OK, render()),
                    None => (StatusCode::NOT_FOUND, "metrics are off".to_owned()),
                }
            }),
        );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
