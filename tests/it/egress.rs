//! The SSRF guard (DESIGN.md §6): URLs whose host is a refused address are refused at
//! registration; names are resolved on every connection and refused there when they point at
//! a refused address; the allow-list lets loopback through only when it says so.

use hookstream_tests::kafka::high_watermark;
use hookstream_tests::stack::ALICE;
use hookstream_tests::{eventually, Receiver, Stack, WAIT};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_addresses_at_registration_and_at_connect_unless_allowed() {
    let mut stack = Stack::new("egress");
    // No allow-list: the policy as it ships.
    stack
        .overrides
        .insert("HOOKSTREAM_EGRESS__ALLOW".into(), "[]".into());
    let (_dev, api, ingest) = stack.dev();
    let receiver = Receiver::start(200).await;
    let port = receiver
        .url
        .rsplit(':')
        .next()
        .unwrap_or("1/hook")
        .to_owned();

    let log_end = high_watermark(&stack.ns.webhooks_topic());
    let refused = [
        (format!("http://127.0.0.1:{port}"), "loopback"),
        ("http://127.1/hook".to_owned(), "loopback"),
        ("http://2130706433/hook".to_owned(), "loopback"),
        ("http://[::1]/hook".to_owned(), "loopback"),
        ("http://[::ffff:127.0.0.1]/hook".to_owned(), "IPv4-mapped"),
        ("http://10.0.0.8/hook".to_owned(), "private"),
        ("http://192.168.1.1/hook".to_owned(), "private"),
        ("http://100.64.1.1/hook".to_owned(), "CGNAT"),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "cloud metadata",
        ),
        ("http://[fd00:ec2::254]/".to_owned(), "cloud metadata"),
        ("http://[fe80::1]/".to_owned(), "link-local"),
        ("http://[fc00::1]/".to_owned(), "unique-local"),
        ("http://224.0.0.1/".to_owned(), "multicast"),
        ("http://0.0.0.0/".to_owned(), "unspecified"),
    ];
    for (url, kind) in &refused {
        let body = json!({"webhook": {"url": url, "category": 1, "secret": "s"}});
        let (status, reply) = api
            .post_raw(
                Some(ALICE),
                Some("application/json"),
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(status, 400, "{url}: {reply}");
        assert_eq!(reply["errors"][0]["field"], "url", "{url}: {reply}");
        let message = reply["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(kind), "{url}: {message}");
    }
    assert_eq!(
        high_watermark(&stack.ns.webhooks_topic()),
        log_end,
        "nothing was written for a refused URL"
    );

    // A name is accepted at registration and refused when it resolves to loopback.
    let by_name = format!("http://localhost:{port}");
    let id = api.register(ALICE, &by_name, 1, "s").await;
    ingest.change(1, 5, "update", r#"{"id":5}"#).await;
    let path = format!("/webhooks/{id}/deliveries");
    let log = eventually("the refused attempt in the delivery log", WAIT, || async {
        let (_, reply) = api.get(ALICE, &path).await;
        let first = reply[0].clone();
        (!first.is_null()).then_some(first)
    })
    .await;
    assert_eq!(log["error"], "forbidden", "{log}");
    assert!(log["status"].is_null(), "{log}");
    let (status, ping) = api
        .post_json(ALICE, &format!("/webhooks/{id}/test"), &json!({}))
        .await;
    assert_eq!(status, 200, "{ping}");
    assert_eq!(
        (ping["delivered"].clone(), ping["error"].clone()),
        (json!(false), json!("forbidden"))
    );
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );

    // The shipped tests' allow-list (127.0.0.1/32) lets the same receiver be registered.
    let allowing = Stack::new("egress-allowed");
    let api_proc = allowing.spawn("api", "api");
    let open = hookstream_tests::stack::Api::new(&api_proc.addr("api"));
    open.register(ALICE, &format!("http://127.0.0.1:{port}"), 1, "s")
        .await;
    let body = json!({"webhook": {"url": "http://127.0.0.2/hook", "category": 1, "secret": "s"}});
    let (status, reply) = open
        .post_raw(
            Some(ALICE),
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 400, "only what the allow-list names: {reply}");
}
