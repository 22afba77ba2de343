//! One endpoint hanging past the timeout does not hold up the others, and memory stays flat.

use std::time::Duration;

use hookstream_tests::stack::ALICE;
use hookstream_tests::{Receiver, Stack, WAIT};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_does_not_hold_up_ten_healthy_ones() {
    let mut stack = Stack::new("isolation");
    stack.overrides.insert(
        "HOOKSTREAM_DISPATCH__REQUEST_TIMEOUT_MS".into(),
        "300".into(),
    );
    let (dev, api, ingest) = stack.dev();
    let hanging = Receiver::start(200).await;
    hanging.set_delay(Duration::from_secs(30));
    let hanging_id = api.register(ALICE, &hanging.url, 1, "h").await;
    let mut healthy = Vec::new();
    for _ in 0..10 {
        let receiver = Receiver::start(200).await;
        api.register(ALICE, &receiver.url, 1, "ok").await;
        healthy.push(receiver);
    }
    let rss_before = rss_kib(dev.pid());

    const CHANGES: i64 = 60;
    let batch: Vec<(i32, i64, String)> = (0..CHANGES)
        .map(|n| (1, 100 + n, format!(r#"{{"id": {}, "n": {n}}}"#, 100 + n)))
        .collect();
    ingest.batch(&batch).await;
    for receiver in &healthy {
        let got = receiver.wait_for_count(CHANGES as usize, WAIT).await;
        assert_eq!(
            got.len(),
            CHANGES as usize,
            "each healthy webhook gets each change once"
        );
    }
    // The hanging webhook is still failing, and still registered.
    let (status, webhook) = api.get(ALICE, &format!("/webhooks/{hanging_id}")).await;
    assert_eq!(status, 200);
    assert!(webhook["last_failed_at"].is_i64(), "{webhook}");
    assert!(!hanging.received().is_empty(), "it was tried");

    let rss_after = rss_kib(dev.pid());
    eprintln!("isolation: dev RSS {rss_before} KiB before, {rss_after} KiB after {CHANGES} changes × 11 webhooks");
    assert!(rss_after < 512 * 1024, "RSS {rss_after} KiB");
}
