//! `/healthz`, `/readyz` and `/metrics` of a dispatcher.
//!
//! Live as soon as it serves; ready once its view has folded the webhook log up to the end it
//! had at start, so that an orchestrator does not count a dispatcher that is still rebuilding
//! its view from an empty sled.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::telemetry::{self, Render};

/// Whether the dispatcher is ready; set once, by the start-up catch-up.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
        telemetry::ready(true);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
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
                match ready.is_ready() {
                    true => (StatusCode::OK, "ready"),
                    false => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "catching up with the webhook log",
                    ),
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
