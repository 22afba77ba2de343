//! `/readyz` of every service follows Kafka: not ready while the broker is down, ready again
//! once it is back (and `/healthz` stays up throughout).

use hookstream_tests::kafka::OwnBroker;
use hookstream_tests::{eventually, http_status as status, Stack, WAIT};

async fn all_answer(urls: &[String], expected: u16, what: &str) {
    for url in urls {
        eventually(
            &format!("{url} answering {expected} ({what})"),
            WAIT,
            || async { (status(url).await == Some(expected)).then_some(()) },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_false_while_kafka_is_down_and_true_once_it_is_back() {
    let broker = OwnBroker::start();
    let mut stack = Stack::new("readyz");
    stack
        .overrides
        .insert("HOOKSTREAM_KAFKA__BROKERS".into(), broker.bootstrap());
    // A short read timeout: the API's readiness waits this long for Kafka.
    stack
        .overrides
        .insert("HOOKSTREAM_API__READ_TIMEOUT_MS".into(), "1000".into());
    let dev = stack.spawn("dev", "dev");
    let services = ["api", "capture", "dispatch"];
    let ready: Vec<String> = services
        .iter()
        .map(|s| format!("http://{}/readyz", dev.addr(s)))
        .collect();
    let live: Vec<String> = services
        .iter()
        .map(|s| format!("http://{}/healthz", dev.addr(s)))
        .collect();
    all_answer(&ready, 200, "the broker is up").await;

    broker.stop();
    all_answer(&ready, 503, "the broker is down").await;
    all_answer(&live, 200, "alive all the same").await;

    broker.restart();
    all_answer(&ready, 200, "the broker is back").await;
}
