//! Waits that give way to a stopping dispatcher.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::lanes::Interrupted;

/// Sleeps for `wait` unless `stop` comes first.
pub async fn pause(stop: &CancellationToken, wait: Duration) -> Result<(), Interrupted> {
    tokio::select! {
        _ = stop.cancelled() => Err(Interrupted),
        _ = tokio::time::sleep(wait) => Ok(()),
    }
}

/// Runs `op` until it succeeds, `wait` apart, unless `stop` comes first. For what must not be
/// given up (a broken disk or an unreachable broker must not lose a delivery).
pub async fn until_ok<T, E, F, Fut>(
    stop: &CancellationToken,
    what: &str,
    wait: Duration,
    mut op: F,
) -> Result<T, Interrupted>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    loop {
        let outcome = tokio::select! {
            _ = stop.cancelled() => return Err(Interrupted),
            outcome = op() => outcome,
        };
        match outcome {
            Ok(value) => return Ok(value),
            Err(e) => {
                warn!(error = %e, "cannot {what}; retrying");
                pause(stop, wait).await?;
            }
        }
    }
}
