//! Happens-before between the webhook log and the category topics (DESIGN.md §3.2).
//!
//! Before a change with timestamp `t` is matched against subscriptions, the view must hold
//! every event appended to `hookstream.webhooks` before `t`. A sync reads the log's high
//! watermark at some instant `s` and folds up to it, so afterwards every event appended
//! before `s` is in the view. A change is therefore safe to match without a new sync when
//! `t + skew < s` of the last sync; otherwise the barrier syncs again.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use hookstream_kafka::log::Follower;
use hookstream_model::{now_millis, UnixMillis};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::lanes::Interrupted;
use crate::waiting::until_ok;

/// Decides when the view must be synced with the log, and syncs it.
///
/// Syncs are coalesced: one runs at a time, and a change that waited for its turn passes
/// without one of its own when the sync that ran meanwhile started late enough for it.
pub struct Barrier {
    follower: Follower,
    turn: tokio::sync::Mutex<()>,
    skew_ms: i64,
    timeout: Duration,
    /// Start of the last completed sync; every event appended before it is in the view.
    synced_at: AtomicI64,
}

impl Barrier {
    pub fn new(follower: Follower, skew_ms: u64, timeout: Duration) -> Barrier {
        Barrier {
            follower,
            turn: tokio::sync::Mutex::new(()),
            skew_ms: skew_ms as i64,
            timeout,
            synced_at: AtomicI64::new(i64::MIN),
        }
    }

    /// Whether a change stamped `timestamp` needs a sync first.
    pub fn needs_sync(&self, timestamp: Option<UnixMillis>) -> bool {
        needs_sync(
            self.synced_at.load(Ordering::SeqCst),
            self.skew_ms,
            timestamp,
        )
    }

    /// Returns once the view holds every event appended before `timestamp`. Retries while
    /// Kafka is unreachable: matching against a stale view could lose deliveries.
    pub async fn pass(
        &self,
        timestamp: Option<UnixMillis>,
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        if !self.needs_sync(timestamp) {
            return Ok(());
        }
        let _turn = tokio::select! {
            _ = shutdown.cancelled() => return Err(Interrupted),
            turn = self.turn.lock() => turn,
        };
        while self.needs_sync(timestamp) {
            let started = now_millis();
            until_ok(
                shutdown,
                "sync with the webhook log",
                Duration::from_millis(500),
                || self.follower.catch_up(self.timeout),
            )
            .await?;
            self.synced_at.fetch_max(started, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Waits until the view applied the event at `offset` (our own writes), however long it
    /// takes: a removal must be in the view before later records are matched.
    pub async fn wait_for_own(&self, offset: i64) {
        while let Err(e) = self.follower.wait_for(offset + 1, self.timeout).await {
            warn!(offset, error = %e, "own event not yet folded; still waiting");
            if matches!(e, hookstream_kafka::KafkaError::FollowerStopped) {
                return;
            }
        }
    }

    /// The log follower, for readiness.
    pub fn follower(&self) -> &Follower {
        &self.follower
    }
}

fn needs_sync(synced_at: UnixMillis, skew_ms: i64, timestamp: Option<UnixMillis>) -> bool {
    match timestamp {
        // Without a timestamp nothing can be assumed.
        None => true,
        Some(t) => t.saturating_add(skew_ms) >= synced_at,
    }
}

#[cfg(test)]
mod tests {
    use super::needs_sync;

    #[test]
    fn syncs_unless_the_change_is_clearly_older_than_the_last_sync() {
        assert!(needs_sync(i64::MIN, 1000, Some(0)), "never synced");
        assert!(needs_sync(10_000, 1000, None), "no timestamp");
        assert!(needs_sync(10_000, 1000, Some(9_500)), "within the skew");
        assert!(needs_sync(10_000, 0, Some(10_000)), "same instant");
        assert!(
            !needs_sync(10_000, 1000, Some(8_999)),
            "older than sync - skew"
        );
    }
}
