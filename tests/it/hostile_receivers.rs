//! Receivers that misbehave on purpose: one answers 200 and then streams a gigabyte, one
//! trickles its answer a byte at a time. The dispatcher's memory stays bounded, each attempt
//! ends within the request timeout, and a healthy receiver is served meanwhile.

use std::time::Duration;

use hookstream_tests::stack::ALICE;
use hookstream_tests::{eventually, Receiver, Stack, WAIT};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Reads a request's head and as much body as arrived, then runs `answer` on the socket.
async fn serve<F, Fut>(answer: F) -> String
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buf).await;
                answer(socket).await;
            });
        }
    });
    url
}

/// `200 OK`, then 1 GiB of body in 64 KiB chunks (stops when the client goes away).
async fn gigabyte(mut socket: tokio::net::TcpStream) {
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\nContent-Type: text/plain\r\n\r\n";
    if socket.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..16_384 {
        if socket.write_all(&chunk).await.is_err() {
            return;
        }
    }
}

/// The status line one byte every 250 ms.
async fn trickle(mut socket: tokio::net::TcpStream) {
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" {
        if socket.write_all(&[*byte]).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_answer_and_a_trickling_one_cost_bounded_memory_and_time() {
    let mut stack = Stack::new("hostile-receivers");
    // The first retry comes after 10 s: the test sees one attempt per receiver.
    stack
        .overrides
        .insert("HOOKSTREAM_DISPATCH__TIME_SCALE".into(), "1".into());
    let (_api, _capture, api, ingest) = stack.api_and_capture();
    let dispatch = stack.spawn("dispatch", "dispatch");
    let big = serve(gigabyte).await;
    let slow = serve(trickle).await;
    let healthy = Receiver::start(200).await;
    let ids = [
        api.register(ALICE, &big, 1, "s").await,
        api.register(ALICE, &slow, 1, "s").await,
    ];
    api.register(ALICE, &healthy.url, 1, "s").await;
    ingest.change(1, 1, "update", r#"{"id":1}"#).await;
    healthy.wait_for_count(1, WAIT).await;

    let attempt = |id: i64| {
        let api = api.clone();
        async move {
            eventually(&format!("the attempt to webhook {id}"), WAIT, || async {
                let (_, log) = api.get(ALICE, &format!("/webhooks/{id}/deliveries")).await;
                let first: Value = log[0].clone();
                (!first.is_null()).then_some(first)
            })
            .await
        }
    };
    let big_attempt = attempt(ids[0]).await;
    let slow_attempt = attempt(ids[1]).await;
    // The status is the answer: the gigabyte is not read (64 KiB at most).
    assert_eq!(big_attempt["status"], 200, "{big_attempt}");
    // The trickle runs into the request timeout (3 s in the tests) and no further.
    assert_eq!(slow_attempt["error"], "timeout", "{slow_attempt}");
    let latency = slow_attempt["latency_ms"].as_i64().unwrap_or(i64::MAX);
    assert!(
        (2_900..4_500).contains(&latency),
        "ended by the 3 s timeout: {slow_attempt}"
    );
    let peak = peak_rss_mib(dispatch.pid());
    assert!(
        peak > 0.0 && peak < 200.0,
        "the dispatcher's peak RSS stayed bounded: {peak:.0} MiB"
    );
}
