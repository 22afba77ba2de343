//! DESIGN.md §3.2: a change captured after a registration returned is delivered to it, even
//! when the dispatcher is a separate process whose view of the log lags.

use hookstream_tests::stack::ALICE;
use hookstream_tests::{Receiver, Stack, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_then_ingest_at_once_twenty_times() {
    let stack = Stack::new("hb");
    let (_api_proc, _capture, api, ingest) = stack.api_and_capture();
    let _dispatch = stack.spawn("dispatch", "dispatch");

    let mut receivers = Vec::new();
    for round in 0..20 {
        let receiver = Receiver::start(200).await;
        api.register(ALICE, &receiver.url, 1, "s").await;
        ingest
            .change(
                1,
                5000 + round,
                "create",
                &format!(r#"{{"id": {}, "round": {round}}}"#, 5000 + round),
            )
            .await;
        receivers.push((round, receiver));
    }
    for (round, receiver) in &receivers {
        // Each webhook gets the change ingested right after it was registered (and the later ones).
        receiver
            .wait_for_body(&format!(r#""round": {round}}}"#), WAIT)
            .await;
    }
    // The first webhook was registered before every change, so it has all twenty.
    receivers[0].1.wait_for_count(20, WAIT).await;
}
