//! `hookstream sink`: a receiver for demos that prints every delivery it gets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

#[derive(Debug, clap::Args)]
pub struct SinkArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: String,
    /// Status code to answer every delivery with.
    #[arg(long, default_value_t = 200)]
    status: u16,
}

struct Sink {
    status: StatusCode,
    received: AtomicU64,
}

pub async fn run(args: SinkArgs) -> anyhow::Result<()> {
    let status = StatusCode::from_u16(args.status)?;
    let state = Arc::new(Sink {
        status,
        received: AtomicU64::new(0),
    });
    let app = Router::new().fallback(post(receive)).with_state(state);
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    println!(
        "sink: listening on http://{} (answering {status})",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn receive(State(sink): State<Arc<Sink>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = sink.received.fetch_add(1, Ordering::Relaxed) + 1;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
    };
    println!(
        "sink: delivery #{n}: {} {}{} webhook-id={} X-Secret={}\n      {}",
        header("x-hookstream-event"),
        header("x-hookstream-category"),
        if headers.contains_key("x-hookstream-replay") {
            " (replay)"
        } else {
            ""
        },
        header("webhook-id"),
        if headers.contains_key("x-secret") {
            "(present)"
        } else {
            "(missing)"
        },
        String::from_utf8_lossy(&body)
    );
    sink.status
}
