//! Per-key request rate limits of the public API (429 with `Retry-After`).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// A token bucket per API key (by the key's SHA-256, so only known keys take memory).
pub struct KeyLimits {
    limiter: Option<RateLimiter<[u8; 32], DefaultKeyedStateStore<[u8; 32]>, DefaultClock>>,
    clock: DefaultClock,
    checks: AtomicU64,
}

/// Every this many checks, buckets of keys that went quiet are dropped.
const SHRINK_EVERY: u64 = 10_000;

impl KeyLimits {
    /// `per_second` requests a second with bursts of `burst`; 0 turns the limit off.
    pub fn new(per_second: u32, burst: u32) -> KeyLimits {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        KeyLimits {
            limiter,
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// `Err(wait)` when the key has used its requests: try again after `wait`.
    pub fn check(&self, key: &[u8; 32]) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SHRINK_EVERY == SHRINK_EVERY - 1 {
            limiter.retain_recent();
        }
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_and_others_are_not_affected() {
        let limits = KeyLimits::new(1, 3);
        let (a, b) = ([1u8; 32], [2u8; 32]);
        for n in 0..3 {
            assert_eq!(limits.check(&a), Ok(()), "request {n} of the burst");
        }
        let wait = limits.check(&a).expect_err("the fourth waits");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(limits.check(&b), Ok(()), "another key has its own bucket");
        let off = KeyLimits::new(0, 0);
        assert!((0..1000).all(|_| off.check(&a).is_ok()));
    }
}
