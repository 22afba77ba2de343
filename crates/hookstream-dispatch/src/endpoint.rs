//! Per-endpoint isolation: a concurrency cap and a circuit breaker per origin
//! (`scheme://host:port`), so one slow or dead receiver cannot take every connection.
//!
//! The breaker opens after `threshold` consecutive failures; while open, deliveries to the
//! endpoint are not attempted (they go to the retry tiers). After `cooldown` one probe is
//! let through (half-open): its success closes the breaker, its failure opens it again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The state of one endpoint's breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// Whether a delivery may go out now.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Send it (as the half-open probe when `probe`).
    Send { probe: bool },
    /// The circuit is open: do not send.
    Rejected,
}

/// Breaker transitions, kept apart from time and locks so they can be tested directly.
#[derive(Debug, Clone, Copy)]
pub struct Breaker {
    pub threshold: u32,
    pub cooldown: Duration,
}

impl Breaker {
    pub fn admit(&self, circuit: &mut Circuit, now: Instant) -> Admission {
        match *circuit {
            Circuit::Closed { .. } => Admission::Send { probe: false },
            Circuit::Open { until } if now >= until => {
                *circuit = Circuit::HalfOpen { probing: true };
                Admission::Send { probe: true }
            }
            Circuit::Open { .. } | Circuit::HalfOpen { probing: true } => Admission::Rejected,
            Circuit::HalfOpen { probing: false } => {
                *circuit = Circuit::HalfOpen { probing: true };
                Admission::Send { probe: true }
            }
        }
    }

    pub fn record(&self, circuit: &mut Circuit, success: bool, now: Instant) {
        *circuit = match (*circuit, success) {
            (_, true) => Circuit::Closed { failures: 0 },
            (Circuit::Closed { failures }, false) if failures + 1 < self.threshold => {
                Circuit::Closed {
                    failures: failures + 1,
                }
            }
            (_, false) => Circuit::Open {
                until: now + self.cooldown,
            },
        };
    }
}

struct Endpoint {
    slots: Arc<Semaphore>,
    circuit: Mutex<Circuit>,
}

/// All endpoints a dispatcher delivers to.
pub struct Endpoints {
    breaker: Breaker,
    concurrency: usize,
    maps: Mutex<Maps>,
}

#[derive(Default)]
struct Maps {
    by_origin: HashMap<String, Arc<Endpoint>>,
    /// Webhook URL → its origin's endpoint and the URL parsed, so a delivery parses no URL.
    by_url: HashMap<String, (Arc<Endpoint>, Option<reqwest::Url>)>,
}

/// URLs remembered before `by_url` is started afresh (removed webhooks leave entries).
const MAX_URLS: usize = 200_000;

/// Leave to send one request to an endpoint: holds one of its concurrency slots.
pub struct Lease {
    endpoint: Arc<Endpoint>,
    url: Option<reqwest::Url>,
    breaker: Breaker,
    _slot: OwnedSemaphorePermit,
}

impl Lease {
    /// The webhook URL, parsed once for all its deliveries (`None` if it does not parse).
    pub fn url(&self) -> Option<&reqwest::Url> {
        self.url.as_ref()
    }

    /// Records the request's outcome in the endpoint's breaker.
    pub fn finish(self, success: bool) {
        let mut circuit = self
            .endpoint
            .circuit
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        self.breaker.record(&mut circuit, success, Instant::now());
    }
}

impl Endpoints {
    pub fn new(concurrency: usize, breaker: Breaker) -> Endpoints {
        Endpoints {
            breaker,
            concurrency: concurrency.max(1),
            maps: Mutex::default(),
        }
    }

    fn endpoint(&self, url: &str) -> (Arc<Endpoint>, Option<reqwest::Url>) {
        let mut maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = maps.by_url.get(url) {
            return known.clone();
        }
        let parsed = reqwest::Url::parse(url).ok();
        let endpoint = maps
            .by_origin
            .entry(origin(parsed.as_ref(), url))
            .or_insert_with(|| {
                Arc::new(Endpoint {
                    slots: Arc::new(Semaphore::new(self.concurrency)),
                    circuit: Mutex::new(Circuit::Closed { failures: 0 }),
                })
            })
            .clone();
        if maps.by_url.len() >= MAX_URLS {
            maps.by_url.clear();
        }
        maps.by_url
            .insert(url.to_owned(), (endpoint.clone(), parsed.clone()));
        (endpoint, parsed)
    }

    /// Waits for a free slot of the endpoint, then asks its breaker. `None`: circuit open.
    pub async fn lease(&self, url: &str) -> Option<Lease> {
        let (endpoint, url) = self.endpoint(url);
        let slot = endpoint.slots.clone().acquire_owned().await.ok()?;
        let admission = {
            let mut circuit = endpoint.circuit.lock().unwrap_or_else(|p| p.into_inner());
            self.breaker.admit(&mut circuit, Instant::now())
        };
        match admission {
            Admission::Send { .. } => Some(Lease {
                endpoint,
                url,
                breaker: self.breaker,
                _slot: slot,
            }),
            Admission::Rejected => None,
        }
    }

    /// Waits for a free slot of the endpoint and leases it whatever its breaker says.
    pub async fn lease_forced(&self, url: &str) -> Lease {
        let (endpoint, url) = self.endpoint(url);
        let slot = endpoint
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("endpoint semaphores are never closed");
        Lease {
            endpoint,
            url,
            breaker: self.breaker,
            _slot: slot,
        }
    }

    /// The breaker state of every endpoint, for metrics and tests.
    pub fn circuits(&self) -> Vec<(String, Circuit)> {
        let maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        maps.by_origin
            .iter()
            .map(|(origin, e)| {
                (
                    origin.clone(),
                    *e.circuit.lock().unwrap_or_else(|p| p.into_inner()),
                )
            })
            .collect()
    }
}

/// `scheme://host:port` of a URL; the URL itself if it does not parse.
fn origin(parsed: Option<&reqwest::Url>, url: &str) -> String {
    match parsed {
        Some(u) => format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port_or_known_default().unwrap_or(0)
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_probes_after_the_cooldown() {
        let b = Breaker {
            threshold: 3,
            cooldown: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        let mut c = Circuit::Closed { failures: 0 };
        for _ in 0..2 {
            assert_eq!(b.admit(&mut c, t0), Admission::Send { probe: false });
            b.record(&mut c, false, t0);
        }
        assert_eq!(c, Circuit::Closed { failures: 2 });
        b.record(&mut c, false, t0);
        assert_eq!(
            c,
            Circuit::Open {
                until: t0 + Duration::from_secs(10)
            }
        );
        assert_eq!(
            b.admit(&mut c, t0 + Duration::from_secs(9)),
            Admission::Rejected
        );
        // Cooldown over: exactly one probe.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.admit(&mut c, t1), Admission::Send { probe: true });
        assert_eq!(b.admit(&mut c, t1), Admission::Rejected);
        // The probe fails: open again, from now.
        b.record(&mut c, false, t1);
        assert_eq!(
            c,
            Circuit::Open {
                until: t1 + Duration::from_secs(10)
            }
        );
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(b.admit(&mut c, t2), Admission::Send { probe: true });
        b.record(&mut c, true, t2);
        assert_eq!(c, Circuit::Closed { failures: 0 });
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker {
            threshold: 2,
            cooldown: Duration::from_secs(1),
        };
        let t = Instant::now();
        let mut c = Circuit::Closed { failures: 0 };
        b.record(&mut c, false, t);
        b.record(&mut c, true, t);
        b.record(&mut c, false, t);
        assert_eq!(c, Circuit::Closed { failures: 1 });
    }

    #[tokio::test]
    async fn endpoints_are_per_origin_and_capped() {
        let endpoints = Endpoints::new(
            1,
            Breaker {
                threshold: 1,
                cooldown: Duration::from_secs(60),
            },
        );
        let first = endpoints
            .lease("http://127.0.0.1:1/a")
            .await
            .expect("closed");
        // Same origin, other path: waits for the slot.
        let waiting = tokio::time::timeout(
            Duration::from_millis(50),
            endpoints.lease("http://127.0.0.1:1/b"),
        )
        .await;
        assert!(waiting.is_err(), "the cap of 1 must hold");
        // Another origin is not affected.
        let other = endpoints
            .lease("http://127.0.0.1:2/")
            .await
            .expect("closed");
        first.finish(false);
        assert!(
            endpoints.lease("http://127.0.0.1:1/b").await.is_none(),
            "open after one failure"
        );
        other.finish(true);
        assert!(endpoints.lease("http://127.0.0.1:2/x").await.is_some());
    }
}
