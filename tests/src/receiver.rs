//! A webhook receiver on 127.0.0.1 whose status code a test can switch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
}

#[derive(Default)]
struct Inner {
    status: AtomicU16,
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
    inner.received.lock().expect("lock").push(Received {
        method: method.to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    StatusCode::from_u16(inner.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
}
