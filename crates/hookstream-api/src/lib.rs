//! The public API of DESIGN.md §1: register, list, get and delete webhooks.
//!
//! Writes append to `hookstream.webhooks`; reads come from this process's own sled view of
//! that log. A registration answers only after the view applied it (read-your-writes).

mod config;
mod deliveries;
mod error;
pub mod keys;
mod limits;
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

/// What the delivery log routes need: the folded log, and the means to send a test ping.
pub struct Probe {
    pub(crate) deliverer: Deliverer,
    pub(crate) attempts: AttemptLog,
    pub(crate) log: hookstream_store::Deliveries,
}

use std::sync::Arc;

use hookstream_dispatch::attempt_log::AttemptLog;
use hookstream_dispatch::deliver::Deliverer;
use hookstream_dispatch::{DispatchConfig, Egress};
use hookstream_kafka::log::{EventLog, Follower};
use hookstream_kafka::producer::Producer;
use hookstream_kafka::KafkaConfig;
use hookstream_model::Sealer;
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
    #[error("{0}")]
    Client(String),
    #[error("cannot serve HTTP: {0}")]
    Serve(#[from] std::io::Error),
}

/// Builds the API's state: keys, the sled view and its follower, the log producer.
/// `dispatch` is how deliveries are made: test pings go out the same way. The pipeline's
/// topics must exist (the binary creates them before it starts any service).
pub async fn build(
    config: &ApiConfig,
    kafka: &KafkaConfig,
    dispatch: &DispatchConfig,
    egress: Arc<Egress>,
    sealer: Arc<Sealer>,
    shutdown: CancellationToken,
) -> Result<(AppState, tokio::task::JoinHandle<()>), StartError> {
    let keys = Keys::load(&config.keys_file)?;
    let store = Arc::new(Store::open(&config.data_dir)?);
    let (follower, task) = Follower::start(kafka, store.clone(), None, shutdown.clone()).await?;
    let log = EventLog::new(kafka, Producer::new(kafka)?);
    let registry = Registry::new(log, follower, store.clone(), config);
    let replays = Replays::new(kafka.clone(), config.replay_rate, shutdown.clone());
    let probe = Probe {
        deliverer: Deliverer::new(
            &DispatchConfig {
                request_timeout_ms: config.test_timeout_ms,
                ..dispatch.clone()
            },
            egress.clone(),
        )
        .map_err(|e| StartError::Client(e.to_string()))?,
        attempts: AttemptLog::new(kafka, Producer::bulk(kafka)?),
        log: store.deliveries(),
    };
    let follow = deliveries::follow(
        kafka.clone(),
        store.deliveries(),
        config.deliveries_kept,
        shutdown,
    );
    // Either follower stopping stops the API: its views would go stale.
    let task = tokio::spawn(async move {
        tokio::select! {
            _ = task => {}
            folded = follow => {
                if let Err(e) = folded {
                    tracing::error!(error = %e, "the delivery log stopped");
                }
            }
        }
    });
    let state = AppState::new(
        Arc::new(keys),
        Arc::new(registry),
        Arc::new(replays),
        Arc::new(probe),
        egress,
        sealer,
        config,
    );
    Ok((state, task))
}

/// Serves `app` (the API's routes, [`app`], and whatever was merged with them) on
/// `listener` until `shutdown` is cancelled.
pub async fn serve(
    app: axum::Router,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    info!(addr = %listener.local_addr()?, "api listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
