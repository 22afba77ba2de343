//! A webhook receiver on 127.0.0.1 whose status code a test can switch.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    /// When it arrived.
    pub at: Instant,
    /// The status the receiver answered (or was about to answer, for a hanging one).
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
}

#[derive(Default)]
struct Inner {
    status: AtomicU16,
    /// Statuses for the next requests, before `status` applies again.
    script: Mutex<VecDeque<u16>>,
    /// Every n-th request (1-based) gets 500; 0 turns it off.
    fail_every: AtomicUsize,
    /// How long to wait before answering, in milliseconds.
    delay_ms: AtomicU64,
    received: Mutex<Vec<Received>>,
}

/// A running receiver. Stops when dropped with the test's runtime.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

impl Receiver {
    /// Starts a receiver answering `status` to every request.
    pub async fn start(status: u16) -> Receiver {
        let inner = Arc::new(Inner::default());
        inner.status.store(status, Ordering::SeqCst);
        let app = Router::new().fallback(receive).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, inner }
    }

    pub fn set_status(&self, status: u16) {
        self.inner.status.store(status, Ordering::SeqCst);
    }

    /// The next `count` requests get `status`, then the usual status again.
    pub fn answer_next(&self, count: usize, status: u16) {
        let mut script = self.inner.script.lock().expect("lock");
        script.extend(std::iter::repeat_n(status, count));
    }

    /// Every `n`-th request gets 500.
    pub fn fail_every(&self, n: usize) {
        self.inner.fail_every.store(n, Ordering::SeqCst);
    }

    /// Waits `delay` before answering each request (a slow or hanging endpoint).
    pub fn set_delay(&self, delay: Duration) {
        self.inner
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().expect("lock").clone()
    }

    /// Bodies received so far, in order.
    pub fn bodies(&self) -> Vec<String> {
        self.received().into_iter().map(|r| r.body).collect()
    }

    /// Waits until a request whose body contains `needle` arrived, and returns it.
    pub async fn wait_for_body(&self, needle: &str, timeout: Duration) -> Received {
        let what = format!("a delivery containing {needle:?} at {}", self.url);
        crate::eventually(&what, timeout, || async {
            self.received()
                .into_iter()
                .find(|r| r.body.contains(needle))
        })
        .await
    }

    /// Waits until at least `count` requests arrived.
    pub async fn wait_for_count(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let what = format!("{count} deliveries at {}", self.url);
        crate::eventually(&what, timeout, || async {
            let all = self.received();
            (all.len() >= count).then_some(all)
        })
        .await
    }
}

async fn receive(
    State(inner): State<Arc<Inner>>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let status = {
        let mut received = inner.received.lock().expect("lock");
        let n = received.len() + 1;
        let every = inner.fail_every.load(Ordering::SeqCst);
        let scripted = inner.script.lock().expect("lock").pop_front();
        let status = match scripted {
            Some(status) => status,
            None if every > 0 && n % every == 0 => 500,
            None => inner.status.load(Ordering::SeqCst),
        };
        received.push(Received {
            method: method.to_string(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
            status,
        });
        status
    };
    let delay = inner.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}
