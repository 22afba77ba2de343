//! The fast receiver: one hyper HTTP/1.1 server (keep-alive) on `n` loopback ports, one port
//! per simulated customer. It answers 200 at once (or hangs, on the port told to), and records
//! for each delivery its arrival, whether it is the first of its (port, change), and the
//! latency from the change's ingest acceptance.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::clock::Clock;

/// Length of one bucket of the deliveries-over-time series.
pub const BUCKET: Duration = Duration::from_millis(100);
/// Buckets kept: one hour.
const BUCKETS: usize = 36_000;

/// What the receiver saw. Shared between its connections and the scenario.
pub struct Stats {
    clock: Clock,
    /// Acceptance time of each change (µs on `clock`, +1; 0 = not yet accepted).
    accepted: Vec<AtomicU64>,
    /// One bit per (port, change): set by its first delivery.
    seen: Vec<AtomicU64>,
    changes: usize,
    /// First deliveries, all ports.
    pub unique: AtomicU64,
    /// Every request, duplicates included.
    pub requests: AtomicU64,
    /// Deliveries whose change had no acceptance time yet (the ingest answer was slower than
    /// the whole pipeline); their latency counts as 0.
    pub before_acceptance: AtomicU64,
    /// Requests whose body did not carry a change number.
    pub unparsable: AtomicU64,
    /// First deliveries per [`BUCKET`] since the clock's start.
    timeline: Vec<AtomicU64>,
    /// End-to-end latency of first deliveries, µs; one histogram per port (little contention).
    latency: Vec<Mutex<Histogram<u64>>>,
    /// The port whose requests hang, if any.
    hang_port: Option<usize>,
    /// Set at the end of a scenario: hanging requests return.
    released: AtomicBool,
}

impl Stats {
    pub fn new(clock: Clock, ports: usize, changes: usize, hang_port: Option<usize>) -> Stats {
        let words = (ports * changes).div_ceil(64);
        Stats {
            clock,
            accepted: (0..changes).map(|_| AtomicU64::new(0)).collect(),
            seen: (0..words).map(|_| AtomicU64::new(0)).collect(),
            changes,
            unique: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            before_acceptance: AtomicU64::new(0),
            unparsable: AtomicU64::new(0),
            timeline: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            latency: (0..ports)
                .map(|_| Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3).expect("bounds")))
                .collect(),
            hang_port,
            released: AtomicBool::new(false),
        }
    }

    /// The clock every time of this scenario is read on.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Marks changes `range` as accepted by the ingest now.
    pub fn accepted(&self, range: std::ops::Range<usize>) {
        let now = self.clock.micros() + 1;
        for seq in range {
            self.accepted[seq].store(now, Ordering::Relaxed);
        }
    }

    /// Records one request for change `seq` on port `port`.
    fn record(&self, port: usize, seq: Option<usize>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let Some(seq) = seq.filter(|s| *s < self.changes) else {
            self.unparsable.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let bit = port * self.changes + seq;
        let mask = 1u64 << (bit % 64);
        if self.seen[bit / 64].fetch_or(mask, Ordering::Relaxed) & mask != 0 {
            return; // a duplicate
        }
        let now = self.clock.micros();
        let accepted = self.accepted[seq].load(Ordering::Relaxed);
        let latency = if accepted == 0 {
            self.before_acceptance.fetch_add(1, Ordering::Relaxed);
            0
        } else {
            now.saturating_sub(accepted - 1)
        };
        if let Ok(mut h) = self.latency[port].lock() {
            h.saturating_record(latency.max(1));
        }
        let bucket = (now / BUCKET.as_micros() as u64) as usize;
        if let Some(b) = self.timeline.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.unique.fetch_add(1, Ordering::Relaxed);
    }

    /// Latency of first deliveries on every port but `except`.
    pub fn latency(&self, except: Option<usize>) -> Histogram<u64> {
        let mut all = Histogram::new_with_bounds(1, 600_000_000, 3).expect("bounds");
        for (port, h) in self.latency.iter().enumerate() {
            if Some(port) == except {
                continue;
            }
            if let Ok(h) = h.lock() {
                let _ = all.add(&*h);
            }
        }
        all
    }

    /// First deliveries per bucket, up to `until` (on the clock).
    pub fn timeline(&self, until: Duration) -> Vec<u64> {
        let n = (until.as_micros() / BUCKET.as_micros()) as usize + 1;
        self.timeline
            .iter()
            .take(n.min(BUCKETS))
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }

    /// Lets hanging requests return.
    pub fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
    }
}

/// Binds `ports` listeners on 127.0.0.1 and serves them until the runtime ends.
pub async fn start(stats: Arc<Stats>, ports: usize) -> anyhow::Result<Vec<SocketAddr>> {
    let mut addrs = Vec::with_capacity(ports);
    for port in 0..ports {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding a receiver port")?;
        addrs.push(listener.local_addr()?);
        tokio::spawn(accept(listener, port, stats.clone()));
    }
    Ok(addrs)
}

async fn accept(listener: TcpListener, port: usize, stats: Arc<Stats>) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let stats = stats.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, port, stats.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    request: Request<Incoming>,
    port: usize,
    stats: Arc<Stats>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    if stats.hang_port == Some(port) {
        // Past any delivery timeout; returns early once the scenario is over.
        for _ in 0..600 {
            if stats.released.load(Ordering::Relaxed) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    } else {
        stats.record(port, seq_of(&body));
    }
    Ok(Response::new(Empty::new()))
}

/// The change number a body carries as `"seq":N`.
pub fn seq_of(body: &[u8]) -> Option<usize> {
    const KEY: &[u8] = b"\"seq\":";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit());
    let mut n: usize = 0;
    let mut any = false;
    for d in digits {
        n = n.checked_mul(10)?.checked_add((d - b'0') as usize)?;
        any = true;
    }
    any.then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_change_number() {
        assert_eq!(seq_of(br#"{"id":7,"seq":1234,"name":"x"}"#), Some(1234));
        assert_eq!(seq_of(br#"{"seq":0}"#), Some(0));
        assert_eq!(seq_of(br#"{"id":7}"#), None);
        assert_eq!(seq_of(br#"{"seq":"a"}"#), None);
        assert_eq!(seq_of(br#"{"seq":99999999999999999999999}"#), None);
    }

    #[test]
    fn counts_first_deliveries_once_per_port() {
        let stats = Stats::new(Clock::start(), 2, 10, None);
        stats.accepted(0..10);
        for (port, seq) in [(0, 3), (0, 3), (1, 3), (1, 9), (0, 11)] {
            stats.record(port, Some(seq));
        }
        stats.record(0, None);
        assert_eq!(stats.requests.load(Ordering::Relaxed), 6);
        assert_eq!(stats.unique.load(Ordering::Relaxed), 3);
        assert_eq!(stats.unparsable.load(Ordering::Relaxed), 2);
        assert_eq!(stats.latency(None).len(), 3);
        assert_eq!(stats.latency(Some(1)).len(), 1);
    }
}
