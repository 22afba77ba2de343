//! The retry schedule: when a failed delivery is attempted next, on which tier, and when a
//! failing webhook is removed. Pure: time and randomness come in as arguments.
//!
//! Attempt 1 is the delivery itself. After a failure, attempt `n + 1` is due `delay(n)`
//! later, where `delay` walks the configured list (10 s, 1 min, 5 min, 30 min, 1 h, 2 h,
//! 4 h, 8 h by default) and then repeats its last entry, with ±jitter. A `Retry-After` of
//! the receiver lengthens the wait, up to a clamp. No attempt is scheduled past the end of
//! the failure window (first failure of the streak + window): the last one is put exactly
//! there, and a failure at or after it removes the webhook.

use std::time::Duration;

use hookstream_model::UnixMillis;
use hookstream_store::Webhook;

/// The schedule, with the time scale already applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Waits after failures 1, 2, …; the last repeats forever.
    delays: Vec<Duration>,
    /// Tier names, one per entry of `delays` (from the unscaled configuration).
    labels: Vec<String>,
    window: Duration,
    jitter: f64,
    retry_after_max: Duration,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Attempt again at `due`, queued on tier `tier` (an index into [`Schedule::tiers`]).
    Retry { due: UnixMillis, tier: usize },
    /// The failure window is over: remove the webhook.
    Remove,
}

impl Schedule {
    /// A schedule of `delays_ms` (unscaled, they name the tiers), each multiplied by `scale`.
    pub fn new(
        delays_ms: &[u64],
        scale: f64,
        window_ms: u64,
        jitter: f64,
        retry_after_max_ms: u64,
    ) -> Schedule {
        let scaled = |ms: u64| Duration::from_secs_f64((ms as f64 * scale).max(0.0) / 1000.0);
        let delays_ms = if delays_ms.is_empty() {
            &[0][..]
        } else {
            delays_ms
        };
        Schedule {
            delays: delays_ms.iter().map(|ms| scaled(*ms)).collect(),
            labels: delays_ms.iter().map(|ms| label(*ms)).collect(),
            window: scaled(window_ms),
            jitter: jitter.clamp(0.0, 0.9),
            retry_after_max: scaled(retry_after_max_ms),
        }
    }

    /// The tier labels (`10s`, `1m`, …), one per configured delay.
    pub fn tiers(&self) -> &[String] {
        &self.labels
    }

    /// The failure window, scaled.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// When the failure window of a streak that began at `streak_start` closes.
    pub fn window_end(&self, streak_start: UnixMillis) -> UnixMillis {
        streak_start.saturating_add(millis(self.window))
    }

    /// Whether retries of `webhook` may still be queued at `now`: it failed within the last
    /// two failure windows. A retry exists only after a failure, and the first failure of a
    /// streak is in the log before its retry is queued; every retry of a streak is due by the
    /// streak's window end, and the second window is slack for lagging tier consumers. Only
    /// such webhooks need their acknowledgements kept, for the supersede check: a webhook that
    /// never fails costs no store access per delivery.
    pub fn may_have_retries(&self, webhook: &Webhook, now: UnixMillis) -> bool {
        let window = millis(self.window);
        webhook.first_failed_at.is_some()
            || webhook
                .last_failed_at
                .is_some_and(|failed| now < failed.saturating_add(window.saturating_mul(2)))
    }

    /// The scaled wait after the `failures`-th consecutive failure of a delivery (1-based).
    pub fn delay(&self, failures: u32) -> Duration {
        let index = (failures.max(1) as usize - 1).min(self.delays.len() - 1);
        self.delays[index]
    }

    /// What follows the failure of attempt `attempt` at `now`, for a webhook whose failure
    /// streak began at `streak_start`. `unit` is a uniform random number in [0, 1).
    pub fn after_failure(
        &self,
        attempt: u32,
        now: UnixMillis,
        streak_start: UnixMillis,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Next {
        let window_end = self.window_end(streak_start);
        if now >= window_end {
            return Next::Remove;
        }
        let base = self.delay(attempt);
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        let mut wait = base.mul_f64(factor);
        if let Some(asked) = retry_after {
            wait = wait.max(asked.min(self.retry_after_max));
        }
        let due = now.saturating_add(millis(wait)).min(window_end);
        Next::Retry {
            due,
            tier: self.tier_for(Duration::from_millis((due - now).max(0) as u64)),
        }
    }

    /// The longest tier whose delay is at most `wait`: a job never waits behind jobs of a
    /// tier that are due later than itself (but for jitter).
    fn tier_for(&self, wait: Duration) -> usize {
        self.delays
            .iter()
            .enumerate()
            .filter(|(_, d)| **d <= wait)
            .max_by_key(|(_, d)| **d)
            .map(|(i, _)| i)
            .unwrap_or(0)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A short tier name for a delay: `10s`, `1m`, `8h`, `250ms`.
pub fn label(ms: u64) -> String {
    match ms {
        0 => "now".into(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        ms => format!("{ms}ms"),
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date, relative to `now`.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: [u64; 8] = [
        10_000, 60_000, 300_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000,
    ];
    const HOUR: i64 = 3_600_000;

    fn schedule() -> Schedule {
        Schedule::new(&DEFAULT, 1.0, 24 * HOUR as u64, 0.2, HOUR as u64)
    }

    #[test]
    fn only_webhooks_that_failed_lately_may_have_retries() {
        let s = schedule();
        let day = 24 * HOUR;
        let webhook = |first: Option<i64>, last: Option<i64>| Webhook {
            id: 1,
            account: "a".into(),
            url: "http://127.0.0.1:1/".into(),
            category: 1,
            secret: "s".into(),
            first_failed_at: first,
            last_failed_at: last,
        };
        let now = 10 * day;
        assert!(
            !s.may_have_retries(&webhook(None, None), now),
            "never failed"
        );
        assert!(
            s.may_have_retries(&webhook(Some(now - 5 * day), Some(now - 5 * day)), now),
            "in a streak, however long"
        );
        assert!(
            s.may_have_retries(&webhook(None, Some(now - HOUR)), now),
            "recovered an hour ago"
        );
        assert!(
            s.may_have_retries(&webhook(None, Some(now - 2 * day + 1)), now),
            "within two windows"
        );
        assert!(
            !s.may_have_retries(&webhook(None, Some(now - 2 * day)), now),
            "two windows ago"
        );
    }

    #[test]
    fn tiers_are_named_after_the_configured_delays() {
        assert_eq!(
            schedule().tiers(),
            ["10s", "1m", "5m", "30m", "1h", "2h", "4h", "8h"]
        );
        assert_eq!(label(250), "250ms");
        assert_eq!(label(0), "now");
    }

    #[test]
    fn default_schedule_without_jitter_walks_the_list_then_repeats_eight_hours() {
        let s = schedule();
        let mid = 0.5; // no jitter
        let mut now = 0;
        let mut dues = Vec::new();
        for attempt in 1..=12 {
            match s.after_failure(attempt, now, 0, None, mid) {
                Next::Retry { due, tier } => {
                    dues.push((due - now, s.tiers()[tier].clone()));
                    now = due;
                }
                Next::Remove => break,
            }
        }
        let waits: Vec<i64> = dues.iter().map(|(w, _)| *w).collect();
        // 10s 1m 5m 30m 1h 2h 4h 8h is 15h36m10s; one more 8h, then the rest is clamped.
        assert_eq!(
            waits,
            [
                10_000,
                60_000,
                300_000,
                1_800_000,
                HOUR,
                2 * HOUR,
                4 * HOUR,
                8 * HOUR,
                8 * HOUR,
                1_430_000
            ]
        );
        assert_eq!(now, 24 * HOUR, "the last attempt is at the window's end");
        assert_eq!(
            dues[9].1, "5m",
            "a clamped wait goes to the longest tier not longer than it"
        );
        assert_eq!(s.after_failure(10, now, 0, None, mid), Next::Remove);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let s = schedule();
        for unit in [0.0, 0.25, 0.999] {
            let Next::Retry { due, .. } = s.after_failure(2, 0, 0, None, unit) else {
                panic!()
            };
            assert!((48_000..=72_000).contains(&due), "{due}");
        }
    }

    #[test]
    fn retry_after_lengthens_up_to_the_clamp_and_never_past_the_window() {
        let s = schedule();
        let at = |ra: Duration, now: i64| match s.after_failure(1, now, 0, Some(ra), 0.5) {
            Next::Retry { due, .. } => due - now,
            Next::Remove => -1,
        };
        assert_eq!(at(Duration::from_secs(120), 0), 120_000);
        assert_eq!(
            at(Duration::from_secs(1), 0),
            10_000,
            "shorter than the schedule: the schedule wins"
        );
        assert_eq!(at(Duration::from_secs(999_999), 0), HOUR, "clamped");
        assert_eq!(
            at(Duration::from_secs(7200), 24 * HOUR - 1000),
            1000,
            "clamped to the window end"
        );
    }

    #[test]
    fn time_scale_shrinks_everything() {
        let s = Schedule::new(&DEFAULT, 0.001, 24 * HOUR as u64, 0.0, HOUR as u64);
        assert_eq!(s.delay(1), Duration::from_millis(10));
        assert_eq!(s.window(), Duration::from_millis(86_400));
        assert_eq!(s.tiers()[0], "10s");
    }

    #[test]
    fn retry_after_forms() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_411_280);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(1320))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
