//! Hostile input to the public API: each gets its status, nothing is written, and the service
//! keeps answering; per-key rate limits (429 with Retry-After) and the per-account cap.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use hookstream_tests::kafka::high_watermark;
use hookstream_tests::stack::{Api, ALICE, BOB};
use hookstream_tests::Stack;

/// Sends `request` as raw bytes and returns the status line's code (0 if the connection was
/// closed without one).
fn raw(addr: &str, request: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The server may answer and close before reading everything; that is fine.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn post(path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nuser-key: {ALICE}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_their_status_and_write_nothing() {
    let stack = Stack::new("hostile");
    let proc = stack.spawn("api", "api");
    let addr = proc.addr("api");
    let api = Api::new(&addr);
    api.register(ALICE, "http://127.0.0.1:9/ok", 1, "s").await;
    let log_end = high_watermark(&stack.ns.webhooks_topic());

    let deep = format!(
        r#"{{"webhook":{}{{"url":"http://127.0.0.1/"}}{}}}"#,
        r#"{"x":"#.repeat(10_000),
        "}".repeat(10_000)
    );
    let many_headers: String = (0..500).map(|n| format!("x-h{n}: v\r\n")).collect();
    let huge_header = format!("x-big: {}\r\n", "a".repeat(1_000_000));
    let url_tricks = [
        r#"{"webhook":{"url":"http://127.0.0.1#@evil.example/","category":1,"secret":"s"}}"#,
        r#"{"webhook":{"url":"http://evil.example@127.0.0.1/","category":1,"secret":"s"}}"#,
        r#"{"webhook":{"url":"http://127.0.0.1\u0000.evil.example/","category":1,"secret":"s"}}"#,
        r#"{"webhook":{"url":"javascript:alert(1)","category":1,"secret":"s"}}"#,
        r#"{"webhook":{"url":"http://exa mple.example/","category":1,"secret":"s"}}"#,
    ];
    let mut cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("deep JSON", post("/webhooks", "", deep.as_bytes()), 400),
        (
            "invalid UTF-8",
            post("/webhooks", "", b"{\"webhook\":{\"url\":\"\xff\xfe\"}}"),
            400,
        ),
        (
            "a body over the limit",
            post("/webhooks", "", &vec![b' '; 2_000_000]),
            400,
        ),
        ("500 headers", post("/webhooks", &many_headers, b"{}"), 431),
        ("a 1 MB header", post("/webhooks", &huge_header, b"{}"), 431),
        (
            "a NUL in the path",
            b"GET /webhooks/\x00 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            "not HTTP",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec(),
            400,
        ),
    ];
    for body in url_tricks {
        cases.push((body, post("/webhooks", "", body.as_bytes()), 400));
    }
    for (what, request, expected) in cases {
        let status = raw(&addr, &request);
        // A server may also close such a connection without a status line.
        assert!(
            status == expected
                || (expected >= 431 && status == 0)
                || (what == "not HTTP" && status == 0),
            "{what}: got {status}, expected {expected}"
        );
        let (alive, _) = api.get(ALICE, "/webhooks").await;
        assert_eq!(alive, 200, "the API answers after {what}");
    }
    assert_eq!(
        high_watermark(&stack.ns.webhooks_topic()),
        log_end,
        "nothing was written"
    );

    // An internationalised host is stored in its ASCII form.
    let (status, reply) = api
        .post_raw(
            Some(ALICE),
            Some("application/json"),
            r#"{"webhook":{"url":"https://bücher.example/hook","category":1,"secret":"s"}}"#
                .as_bytes()
                .to_vec(),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["url"], "https://xn--bcher-kva.example/hook");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_rate_gets_429_with_retry_after_and_an_account_has_a_cap() {
    let mut stack = Stack::new("limits");
    for (key, value) in [
        ("HOOKSTREAM_API__RATE_LIMIT_PER_S", "1"),
        ("HOOKSTREAM_API__RATE_LIMIT_BURST", "5"),
        ("HOOKSTREAM_API__MAX_WEBHOOKS_PER_ACCOUNT", "2"),
    ] {
        stack.overrides.insert(key.into(), value.into());
    }
    let proc = stack.spawn("api", "api");
    let api = Api::new(&proc.addr("api"));
    api.register(ALICE, "http://127.0.0.1:9/a", 1, "s").await;
    api.register(ALICE, "http://127.0.0.1:9/b", 1, "s").await;
    let (status, reply) = api
        .post_raw(
            Some(ALICE),
            Some("application/json"),
            br#"{"webhook":{"url":"http://127.0.0.1:9/c","category":1,"secret":"s"}}"#.to_vec(),
        )
        .await;
    assert_eq!(
        status, 409,
        "the third webhook of an account with a cap of 2: {reply}"
    );
    assert!(reply["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("2 webhooks"));

    // Three requests used, two left of the burst of five: the sixth within the second is
    // refused, with a Retry-After in whole seconds.
    let client = reqwest::Client::new();
    let mut refused = None;
    for _ in 0..4 {
        let response = client
            .get(format!("{}/webhooks", api.base))
            .header("user-key", ALICE)
            .send()
            .await
            .expect("answers");
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("a request over the burst is refused");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // Another key has its own bucket.
    let (status, _) = api.get(BOB, "/webhooks").await;
    assert_eq!(status, 200);
}
