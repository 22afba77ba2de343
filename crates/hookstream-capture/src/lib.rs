//! Change capture: turns source changes into `EntityChange` records on `igdb.<category>`,
//! keyed by entity id so one entity's changes stay in order.
//!
//! Sources: [`ingest`], an authenticated HTTP endpoint for systems that push changes.

mod config;
pub mod ingest;
pub mod postgres;
mod publisher;

pub use config::CaptureConfig;
pub use publisher::Publisher;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Serves the ingest endpoint on `listener` until `shutdown` is cancelled.
pub async fn serve(
    publisher: Publisher,
    config: &CaptureConfig,
    metrics: Option<std::sync::Arc<dyn Fn() -> String + Send + Sync>>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    info!(addr = %listener.local_addr()?, "capture ingest listening");
    let mut state = ingest::IngestState::new(publisher, config);
    if let Some(render) = metrics {
        state = state.with_metrics(render);
    }
    let app = ingest::app(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
