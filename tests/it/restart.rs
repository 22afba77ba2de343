//! A dispatcher restarted with its sled files resumes without duplicating committed
//! deliveries; restarted without them, or with them damaged, it rebuilds its view from the log.

use hookstream_tests::stack::ALICE;
use hookstream_tests::{Receiver, Stack, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_and_without_sled() {
    let stack = Stack::new("restart");
    let (_api_proc, _capture, api, ingest) = stack.api_and_capture();
    let receiver = Receiver::start(200).await;
    api.register(ALICE, &receiver.url, 1, "s").await;

    // One entity: one partition, so any redelivery would arrive before later changes.
    let change = |n: usize| format!(r#"{{"id": 77, "n": {n}}}"#);
    let mut dispatch = stack.spawn("dispatch", "dispatch");
    for n in 0..5 {
        ingest.change(1, 77, "update", &change(n)).await;
    }
    receiver.wait_for_count(5, WAIT).await;
    let code = dispatch.terminate(WAIT);
    assert_eq!(
        code,
        Some(0),
        "graceful stop; it said:\n{}",
        dispatch.tail()
    );

    let dispatch = stack.spawn("dispatch", "dispatch");
    for n in 5..10 {
        ingest.change(1, 77, "update", &change(n)).await;
    }
    receiver.wait_for_body(r#""n": 9}"#, WAIT).await;
    let expected: Vec<String> = (0..10).map(change).collect();
    assert_eq!(
        receiver.bodies(),
        expected,
        "no duplicates, in order, after a restart with sled"
    );
    assert!(
        dispatch.log_text().contains("store opened"),
        "reopened its store"
    );
    drop(dispatch); // SIGKILL

    std::fs::remove_dir_all(stack.data_dir("dispatch")).expect("removes sled files");
    let dispatch = stack.spawn("dispatch", "dispatch");
    for n in 10..13 {
        ingest.change(1, 77, "update", &change(n)).await;
    }
    receiver.wait_for_body(r#""n": 12}"#, WAIT).await;
    let bodies = receiver.bodies();
    for n in 10..13 {
        assert!(
            bodies.contains(&change(n)),
            "change {n} not delivered after rebuilding: {bodies:?}"
        );
    }
    let opened = dispatch.wait_log("store opened", WAIT, |v| {
        v["fields"]["message"] == "store opened"
    });
    assert_eq!(
        opened["fields"]["next_offset"], 0,
        "rebuilt from the start of the log"
    );
    let ready = dispatch.wait_log("ready", WAIT, |v| {
        v["fields"]["message"] == "view caught up with the webhook log; ready"
    });
    assert_eq!(
        ready["fields"]["webhooks"], 1,
        "the rebuilt view holds the webhook"
    );
    let readyz = reqwest::get(format!("http://{}/readyz", dispatch.addr("dispatch")))
        .await
        .expect("dispatch answers");
    assert_eq!(readyz.status(), 200, "ready once caught up");
}

/// Overwrites every file of a sled directory with garbage of the same length.
fn corrupt(dir: &std::path::Path) -> usize {
    let mut damaged = 0;
    for entry in std::fs::read_dir(dir).expect("sled dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let len = std::fs::metadata(&path)
                .map(|m| m.len())
                .unwrap_or(0)
                .max(64);
            std::fs::write(&path, vec![0xA5u8; len as usize]).expect("overwrites");
            damaged += 1;
        } else if path.is_dir() {
            damaged += corrupt(&path);
        }
    }
    damaged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_sled_files_are_rebuilt_from_the_log() {
    let stack = Stack::new("corrupt-sled");
    let (_api_proc, _capture, api, ingest) = stack.api_and_capture();
    let receivers = [Receiver::start(200).await, Receiver::start(200).await];
    for r in &receivers {
        api.register(ALICE, &r.url, 1, "s").await;
    }
    let mut dispatch = stack.spawn("dispatch", "dispatch");
    ingest.change(1, 5, "update", r#"{"id":5,"n":1}"#).await;
    for r in &receivers {
        r.wait_for_body(r#""n":1"#, WAIT).await;
    }
    assert_eq!(dispatch.terminate(WAIT), Some(0));
    let damaged = corrupt(&stack.data_dir("dispatch").join("dispatch"));
    assert!(damaged > 0, "there were sled files to damage");

    let dispatch = stack.spawn("dispatch", "dispatch");
    dispatch.wait_log("the rebuild", WAIT, |v| {
        v["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("rebuilding from the log"))
    });
    let ready = dispatch.wait_log("ready", WAIT, |v| {
        v["fields"]["message"] == "view caught up with the webhook log; ready"
    });
    assert_eq!(
        ready["fields"]["webhooks"], 2,
        "both webhooks are back: {ready}"
    );
    ingest.change(1, 5, "update", r#"{"id":5,"n":2}"#).await;
    for r in &receivers {
        r.wait_for_body(r#""n":2"#, WAIT).await;
    }
}
