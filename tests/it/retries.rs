//! DESIGN.md §1 failure rules with the schedule scaled down: retries on the tiers, the
//! failure window, and per-entity order under retries (§3.3).

use std::time::Duration;

use hookstream_model::{Event, RemovalReason, WebhookId};
use hookstream_tests::kafka::webhook_events;
use hookstream_tests::stack::{Ingest, ALICE};
use hookstream_tests::{eventually, Proc, Receiver, Stack, WAIT};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_then_recovering_is_delivered_on_the_schedule() {
    // time_scale 0.01: waits of 100 ms, 600 ms, 3 s, … (±20 %).
    let stack = Stack::new("recover");
    let (_dev, api, ingest) = stack.dev();
    let receiver = Receiver::start(200).await;
    receiver.answer_next(3, 500);
    let id = api.register(ALICE, &receiver.url, 1, "s").await;
    ingest
        .change(1, 11, "update", r#"{"id": 11, "v": 1}"#)
        .await;

    let failed_at = eventually("last_failed_at during the streak", WAIT, || async {
        let (_, webhook) = api.get(ALICE, &format!("/webhooks/{id}")).await;
        webhook["last_failed_at"].as_i64()
    })
    .await;
    assert!(
        receiver.received().iter().all(|r| r.status == 500),
        "seen while still failing"
    );

    let got = receiver.wait_for_count(4, WAIT).await;
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 500, 200]);
    assert!(got.iter().all(|r| r.body == got[0].body));
    assert!(
        got.iter()
            .all(|r| r.header("webhook-id") == got[0].header("webhook-id")),
        "one webhook-id across retries"
    );
    let gaps: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (gap, scheduled_ms) in gaps.iter().zip([100u64, 600, 3000]) {
        let scheduled = Duration::from_millis(scheduled_ms);
        assert!(
            *gap >= scheduled.mul_f64(0.8),
            "attempts too close: {gaps:?}"
        );
        assert!(
            *gap <= scheduled.mul_f64(1.2) + Duration::from_secs(2),
            "attempts too far apart: {gaps:?}"
        );
    }

    // The streak ended: Recovered on the log; last_failed_at keeps the last failure.
    eventually("a Recovered event", WAIT, || async {
        webhook_events(&stack.ns.webhooks_topic())
            .iter()
            .any(|e| {
                e.event
                    == Event::Recovered {
                        webhook_id: WebhookId(id),
                    }
            })
            .then_some(())
    })
    .await;
    let (_, webhook) = api.get(ALICE, &format!("/webhooks/{id}")).await;
    assert!(
        webhook["last_failed_at"].as_i64() >= Some(failed_at),
        "{webhook}"
    );
    assert_eq!(receiver.received().len(), 4, "nothing after the success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_failing_is_removed_at_the_end_of_the_window() {
    let mut stack = Stack::new("window");
    // The 24 h window becomes 8.64 s; the longest wait (8 h) 2.88 s.
    stack
        .overrides
        .insert("HOOKSTREAM_DISPATCH__TIME_SCALE".into(), "0.0001".into());
    let (_dev, api, ingest) = stack.dev();
    let failing = Receiver::start(500).await;
    let control = Receiver::start(200).await;
    let id = api.register(ALICE, &failing.url, 7, "s").await;
    api.register(ALICE, &control.url, 7, "c").await;
    ingest.change(7, 3, "update", r#"{"id": 3, "n": 1}"#).await;

    eventually(
        "GET to answer 404 after the window",
        Duration::from_secs(60),
        || async { (api.get(ALICE, &format!("/webhooks/{id}")).await.0 == 404).then_some(()) },
    )
    .await;
    let attempts_at_removal = failing.received().len();
    assert!(attempts_at_removal >= 2, "it was retried before removal");

    let events = webhook_events(&stack.ns.webhooks_topic());
    let first_failed = events
        .iter()
        .find_map(|e| match e.event {
            Event::Failed {
                webhook_id,
                first_failed_at,
                ..
            } if webhook_id.0 == id => Some(first_failed_at),
            _ => None,
        })
        .expect("a Failed event");
    let removed = events
        .iter()
        .find(|e| matches!(e.event, Event::Removed { webhook_id, .. } if webhook_id.0 == id))
        .expect("a Removed event");
    assert_eq!(
        removed.event,
        Event::Removed {
            webhook_id: WebhookId(id),
            reason: RemovalReason::Failing
        }
    );
    let lasted = removed.at - first_failed;
    assert!(
        (8_640..8_640 + 4_000).contains(&lasted),
        "removed {lasted} ms after the first failure, not at the window's end (8640 ms)"
    );

    // No attempt after removal: a later change reaches the control only, and no retry of the
    // first change turns up during twice the longest scaled wait.
    ingest.change(7, 3, "update", r#"{"id": 3, "n": 2}"#).await;
    control.wait_for_body(r#""n": 2"#, WAIT).await;
    tokio::time::sleep(Duration::from_millis(2 * 2_880)).await;
    assert_eq!(
        failing.received().len(),
        attempts_at_removal,
        "attempted after removal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_never_go_backwards_under_injected_failures() {
    let stack = Stack::new("order");
    let (dev, api, ingest) = stack.dev();
    let receiver = Receiver::start(200).await;
    receiver.fail_every(3);
    api.register(ALICE, &receiver.url, 1, "s").await;
    const VERSIONS: i64 = 30;
    for v in 1..=VERSIONS {
        ingest
            .change(1, 42, "update", &format!(r#"{{"id": 42, "version": {v}}}"#))
            .await;
    }
    let version = |body: &str| {
        serde_json::from_str::<Value>(body).expect("json")["version"]
            .as_i64()
            .expect("version")
    };
    eventually("the newest version acknowledged", WAIT, || async {
        receiver
            .received()
            .iter()
            .any(|r| r.status == 200 && version(&r.body) == VERSIONS)
            .then_some(())
    })
    .await;

    let mut acknowledged = 0;
    for request in receiver.received() {
        let v = version(&request.body);
        assert!(
            v >= acknowledged,
            "got version {v} after version {acknowledged} was acknowledged"
        );
        if request.status == 200 {
            acknowledged = acknowledged.max(v);
        }
    }
    assert!(
        dev.log_text().contains("superseded"),
        "failed old versions were dropped as superseded"
    );
}

/// An api and a capture without a dispatcher, and a webhook whose receiver answers 503 once,
/// then 200. The first retry waits 5 s (±20 %): long enough to stop a dispatcher before it.
async fn one_failure_queued(name: &str) -> (Stack, (Proc, Proc), Ingest, Receiver) {
    let mut stack = Stack::new(name);
    stack
        .overrides
        .insert("HOOKSTREAM_DISPATCH__TIME_SCALE".into(), "0.5".into());
    let (api_proc, capture, api, ingest) = stack.api_and_capture();
    let receiver = Receiver::start(200).await;
    receiver.answer_next(1, 503);
    api.register(ALICE, &receiver.url, 1, "s").await;
    (stack, (api_proc, capture), ingest, receiver)
}

/// A queued retry lives in Kafka: a dispatcher stopped while it waits leaves it to another
/// dispatcher (with sled files of its own), which delivers it when due, with the same id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_retry_outlives_its_dispatcher() {
    let (stack, _services, ingest, receiver) = one_failure_queued("pending").await;
    let mut first = stack.spawn("d1", "dispatch");
    ingest.change(1, 5, "update", r#"{"id": 5, "v": 1}"#).await;
    receiver.wait_for_count(1, WAIT).await;
    assert_eq!(
        first.terminate(WAIT),
        Some(0),
        "graceful stop; it said:\n{}",
        first.tail()
    );
    assert!(
        !first.log_text().contains("not drained in time"),
        "a job not yet due held up the stop"
    );

    let _second = stack.spawn("d2", "dispatch");
    let got = receiver.wait_for_count(2, WAIT).await;
    assert_eq!((got[0].status, got[1].status), (503, 200));
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert!(
        got[1].at - got[0].at >= Duration::from_secs(4),
        "retried before it was due"
    );
}

/// Per-entity order across a failover (DESIGN.md §3.3): a retry queued by one dispatcher,
/// whose newer version that dispatcher delivered, is dropped by the dispatcher that takes it
/// over with sled files of its own: it read the acknowledgement from `hookstream.attempts`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_superseded_on_another_dispatcher_is_dropped() {
    let (stack, _services, ingest, receiver) = one_failure_queued("failover-order").await;
    let mut first = stack.spawn("d1", "dispatch");
    ingest.change(1, 5, "update", r#"{"id": 5, "v": 1}"#).await;
    receiver.wait_for_count(1, WAIT).await;
    ingest.change(1, 5, "update", r#"{"id": 5, "v": 2}"#).await;
    let got = receiver.wait_for_count(2, WAIT).await;
    assert_eq!(
        (got[0].status, got[1].status),
        (503, 200),
        "version 1 failed, version 2 was acknowledged"
    );
    assert!(got[1].body.contains(r#""v": 2"#), "{}", got[1].body);
    assert_eq!(first.terminate(WAIT), Some(0), "{}", first.tail());

    let second = stack.spawn("d2", "dispatch");
    eventually(
        "the retry of version 1 dropped as superseded",
        WAIT,
        || async { second.log_text().contains("superseded").then_some(()) },
    )
    .await;
    let got = receiver.received();
    assert_eq!(
        got.len(),
        2,
        "version 1 was sent again after version 2 was acknowledged: {:?}",
        got.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert!(
        second
            .log_text()
            .contains("acknowledgements of every dispatcher read"),
        "{}",
        second.tail()
    );
}

/// A redirect is a failure and is not followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_a_failure_and_is_retried() {
    let stack = Stack::new("redirect");
    let (_dev, api, ingest) = stack.dev();
    let receiver = Receiver::start(200).await;
    receiver.answer_next(1, 302);
    api.register(ALICE, &receiver.url, 1, "s").await;
    ingest.change(1, 8, "update", r#"{"id": 8}"#).await;
    let got = receiver.wait_for_count(2, WAIT).await;
    assert_eq!((got[0].status, got[1].status), (302, 200));
    assert_eq!(
        receiver.received().len(),
        2,
        "the Location was not followed"
    );
}
