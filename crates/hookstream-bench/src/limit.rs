//! The machine's ceiling: the same receiver driven by a minimal client, `concurrency`
//! HTTP/1.1 keep-alive connections each sending one request after another. No Kafka, no
//! signing, no state: what is left is the cost of HTTP on loopback.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::driver;

/// Sends requests `0..count` spread over `concurrency` connections to `addrs` (round robin),
/// bodies the size of a delivery's, and returns once every one was answered.
pub async fn run(addrs: &[SocketAddr], concurrency: usize, count: usize) -> anyhow::Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..concurrency {
        let addr = addrs[c % addrs.len()];
        let next = next.clone();
        tasks.spawn(async move { connection(addr, next, count).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a client task panicked")??;
    }
    Ok(())
}

async fn connection(addr: SocketAddr, next: Arc<AtomicUsize>, count: usize) -> anyhow::Result<()> {
    let stream = TcpStream::connect(addr)
        .await
        .context("connecting to the receiver")?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    loop {
        let seq = next.fetch_add(1, Ordering::Relaxed);
        if seq >= count {
            return Ok(());
        }
        let body = Bytes::from(driver::entity(driver::ENTITIES, seq));
        let request = Request::post("/hook")
            .header("host", addr.to_string())
            .header("content-type", "application/json")
            .body(Full::new(body))?;
        let response = sender
            .send_request(request)
            .await
            .context("request failed")?;
        response.into_body().collect().await?;
    }
}
