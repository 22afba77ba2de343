//! The public API of DESIGN.md §1: register, list, get and delete webhooks.
//!
//! Writes append to `hookstream.webhooks`; reads come from this process's own sled view of
//! that log. A registration answers only after the view applied it (read-your-writes).

mod config;
mod error;
pub mod keys;
pub mod registration;
mod registry;
mod replays;
mod routes;

pub use config::ApiConfig;
pub use error::{ApiError, FieldError};
pub use keys::{KeyError, Keys, Plan};
pub use registry::Registry;
pub use replays::Replays;
pub use routes::{app, AppState};

use std::sync::Arc;

use hookstream_kafka::log::{EventLog, Follower};
use hookstream_kafka::producer::Producer;
use hookstream_kafka::KafkaConfig;
use hookstream_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] hookstream_store::StoreError),
    #[error(transparent)]
    Kafka(#[from] hookstream_kafka::KafkaError),
    #[error("cannot serve HTTP: {0}")]
    Serve(#[from] std::io::Error),
}

/// Builds the API's state: keys, the sled view and its follower, the log producer.
pub async fn build(
    config: &ApiConfig,
    kafka: &KafkaConfig,
    shutdown: CancellationToken,
) -> Result<(AppState, tokio::task::JoinHandle<()>), StartError> {
    let keys = Keys::load(&config.keys_file)?;
    let store = Arc::new(Store::open(&config.data_dir)?);
    let (follower, task) = Follower::start(kafka, store.clone(), shutdown.clone()).await?;
    let log = EventLog::new(kafka, Producer::new(kafka)?);
    let registry = Registry::new(log, follower, store, config);
    let replays = Replays::new(kafka.clone(), config.replay_rate, shutdown);
    Ok((
        AppState::new(
            Arc::new(keys),
            Arc::new(registry),
            Arc::new(replays),
            config,
        ),
        task,
    ))
}

/// Serves the API on `listener` until `shutdown` is cancelled.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    info!(addr = %listener.local_addr()?, "api listening");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
