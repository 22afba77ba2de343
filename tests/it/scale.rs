//! Scale-out: dispatchers join, die and leave one consumer group without losing a delivery
//! (DESIGN.md §3.1); a graceful stop causes no duplicate (§3.4 says duplicates share ids).

use std::collections::{HashMap, HashSet};

use hookstream_tests::stack::{Api, Ingest, ALICE};
use hookstream_tests::{eventually, Proc, Receiver, Stack, WAIT};

const CATEGORY: i32 = 1;

/// `count` receivers answering 200, each registered for `CATEGORY`.
async fn registered_receivers(api: &Api, count: usize) -> Vec<Receiver> {
    let mut receivers = Vec::new();
    for _ in 0..count {
        let receiver = Receiver::start(200).await;
        api.register(ALICE, &receiver.url, CATEGORY, "s").await;
        receivers.push(receiver);
    }
    receivers
}

fn wait_assigned(dispatcher: &Proc) {
    dispatcher.wait_log("partitions assigned", WAIT, |v| {
        v["fields"]["message"] == "partitions assigned"
    });
}

async fn stream(ingest: &Ingest, range: std::ops::Range<i64>) {
    let ids: Vec<i64> = range.collect();
    for chunk in ids.chunks(20) {
        let batch: Vec<(i32, i64, String)> = chunk
            .iter()
            .map(|n| {
                (
                    CATEGORY,
                    1000 + n,
                    format!(r#"{{"id": {}, "n": {n}}}"#, 1000 + n),
                )
            })
            .collect();
        ingest.batch(&batch).await;
    }
}

/// Waits until every receiver has every change `0..count`; returns deliveries and duplicates.
async fn all_delivered(receivers: &[Receiver], count: i64) -> (usize, usize) {
    let mut deliveries = 0;
    let mut duplicates = 0;
    for receiver in receivers {
        let got = eventually("every change at every webhook", WAIT, || async {
            let received = receiver.received();
            let distinct: HashSet<&str> = received.iter().map(|r| r.body.as_str()).collect();
            (distinct.len() as i64 >= count).then_some(received)
        })
        .await;
        let mut ids_per_body: HashMap<&str, HashSet<&str>> = HashMap::new();
        for r in &got {
            ids_per_body
                .entry(r.body.as_str())
                .or_default()
                .insert(r.header("webhook-id"));
        }
        assert_eq!(ids_per_body.len() as i64, count, "unexpected bodies");
        assert!(
            ids_per_body.values().all(|ids| ids.len() == 1),
            "a duplicate with another webhook-id"
        );
        deliveries += got.len();
        duplicates += got.len() - ids_per_body.len();
    }
    (deliveries, duplicates)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_a_dispatcher_mid_stream_and_add_another() {
    let stack = Stack::new("chaos");
    let (_api_proc, _capture, api, ingest) = stack.api_and_capture();
    let receivers = registered_receivers(&api, 4).await;
    let mut d1 = stack.spawn("d1", "dispatch");
    let d2 = stack.spawn("d2", "dispatch");
    let d3 = stack.spawn("d3", "dispatch");
    for d in [&d1, &d2, &d3] {
        wait_assigned(d);
    }

    const CHANGES: i64 = 200;
    stream(&ingest, 0..CHANGES / 2).await;
    // Mid-stream: d1 has delivered some of its share, likely not committed all of it.
    receivers[0].wait_for_count(20, WAIT).await;
    d1.kill();
    let d4 = stack.spawn("d4", "dispatch");
    stream(&ingest, CHANGES / 2..CHANGES).await;

    let (deliveries, duplicates) = all_delivered(&receivers, CHANGES).await;
    eprintln!(
        "chaos: {CHANGES} changes x {} webhooks = {} pairs, all delivered; {deliveries} deliveries, {duplicates} duplicates (same webhook-id)",
        receivers.len(),
        CHANGES as usize * receivers.len()
    );
    drop((d2, d3, d4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_a_dispatcher_mid_stream_without_duplicates() {
    let stack = Stack::new("graceful");
    let (_api_proc, _capture, api, ingest) = stack.api_and_capture();
    let receivers = registered_receivers(&api, 2).await;
    let mut d1 = stack.spawn("d1", "dispatch");
    let d2 = stack.spawn("d2", "dispatch");
    wait_assigned(&d1);
    wait_assigned(&d2);

    const CHANGES: i64 = 120;
    stream(&ingest, 0..CHANGES / 2).await;
    receivers[0].wait_for_count(10, WAIT).await;
    let code = d1.terminate(WAIT);
    assert_eq!(code, Some(0), "graceful stop; it said:\n{}", d1.tail());
    assert!(
        d1.log_text().contains("lanes drained"),
        "it drained before leaving"
    );
    stream(&ingest, CHANGES / 2..CHANGES).await;

    let (deliveries, duplicates) = all_delivered(&receivers, CHANGES).await;
    eprintln!(
        "graceful: {deliveries} deliveries of {CHANGES} changes to {} webhooks",
        receivers.len()
    );
    assert_eq!(duplicates, 0, "a graceful stop must not cause duplicates");
    drop(d2);
}
