//! Broker faults on brokers of the test's own: Kafka absent when the services start, the
//! broker restarted in the middle of a stream, and one of three brokers killed mid-stream. Each reports changes sent, delivered and
//! duplicated (run with `--nocapture` to see the figures).

use std::collections::HashMap;
use std::time::Duration;

use hookstream_tests::kafka::{OwnBroker, OwnCluster};
use hookstream_tests::stack::ALICE;
use hookstream_tests::{eventually, http_status as status, Receiver, Stack, WAIT};

/// Per change id (the `n` in its body), how many times it arrived.
fn arrivals(receiver: &Receiver) -> HashMap<u64, usize> {
    let mut seen = HashMap::new();
    for body in receiver.bodies() {
        let n = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["n"].as_u64());
        if let Some(n) = n {
            *seen.entry(n).or_insert(0) += 1;
        }
    }
    seen
}

/// Sends `changes` changes of Game (entities 1 to 20, `n` in each body), about 50 a second,
/// each until the ingest accepts it (it answers 503 while Kafka is away). Returns how many
/// times the ingest refused.
fn stream(ingest: &hookstream_tests::stack::Ingest, changes: u64) -> tokio::task::JoinHandle<u64> {
    let ingest = ingest.clone();
    tokio::spawn(async move {
        let mut refused = 0;
        for n in 0..changes {
            let entity = (n % 20 + 1) as i64;
            let data = format!(r#"{{"id":{entity},"n":{n}}}"#);
            while !ingest.try_change(1, entity, &data).await {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        refused
    })
}

/// Waits for every one of `changes` to arrive and reports sent, delivered and duplicated.
async fn all_delivered(receiver: &Receiver, changes: u64, refused: u64, fault: &str) {
    // Polled by hand rather than with `eventually`, to say what is missing on a timeout.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let seen = loop {
        let seen = arrivals(receiver);
        if seen.len() as u64 == changes {
            break seen;
        }
        if std::time::Instant::now() > deadline {
            let missing: Vec<u64> = (0..changes).filter(|n| !seen.contains_key(n)).collect();
            panic!(
                "{fault}: {} of {changes} delivered after 180 s; missing {missing:?}",
                seen.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let duplicated: usize = seen.values().map(|c| c - 1).sum();
    println!(
        "{fault}: {changes} changes accepted ({refused} ingest refusals), {} delivered, {duplicated} duplicates",
        seen.len()
    );
    assert!(
        (0..changes).all(|n| seen.contains_key(&n)),
        "no change is lost"
    );
}

async fn a_third_delivered(receiver: &Receiver, changes: u64) {
    eventually("a third of the stream delivered", WAIT, || async {
        (arrivals(receiver).len() as u64 >= changes / 3).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_started_before_kafka_wait_not_ready_and_recover() {
    let broker = OwnBroker::unstarted();
    let mut stack = Stack::new("no-kafka-yet");
    stack
        .overrides
        .insert("HOOKSTREAM_KAFKA__BROKERS".into(), broker.bootstrap());
    let dev = stack.spawn("dev", "dev");
    let mut waiting = HashMap::new();
    for service in ["api", "capture", "dispatch"] {
        let line = dev.wait_log(&format!("{service} waiting"), WAIT, |v| {
            v["fields"]["message"] == "not ready: waiting for Kafka"
                && v["fields"]["service"] == service
        });
        let addr = line["fields"]["addr"].as_str().expect("addr").to_owned();
        assert_eq!(
            status(&format!("http://{addr}/healthz")).await,
            Some(200),
            "{service} is alive"
        );
        assert_eq!(
            status(&format!("http://{addr}/readyz")).await,
            Some(503),
            "{service} is not ready"
        );
        waiting.insert(service, addr);
    }

    tokio::task::block_in_place(|| broker.restart());
    let (api, ingest) = (
        hookstream_tests::stack::Api::new(&dev.addr("api")),
        hookstream_tests::stack::Ingest::new(&dev.addr("capture")),
    );
    for service in ["api", "capture", "dispatch"] {
        let url = format!("http://{}/readyz", dev.addr(service));
        eventually(&format!("{service} ready"), WAIT, || async {
            (status(&url).await == Some(200)).then_some(())
        })
        .await;
        assert_eq!(
            dev.addr(service),
            waiting[service],
            "{service} kept its address"
        );
    }
    let receiver = Receiver::start(200).await;
    api.register(ALICE, &receiver.url, 1, "s").await;
    ingest.change(1, 1, "update", r#"{"id":1,"n":0}"#).await;
    receiver.wait_for_body(r#""n":0"#, WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_nothing() {
    let broker = OwnBroker::start();
    let mut stack = Stack::new("broker-restart");
    stack
        .overrides
        .insert("HOOKSTREAM_KAFKA__BROKERS".into(), broker.bootstrap());
    let (_dev, api, ingest) = stack.dev();
    let receiver = Receiver::start(200).await;
    api.register(ALICE, &receiver.url, 1, "s").await;

    // 300 changes over about 6 s; the broker stops and starts again in the middle.
    const CHANGES: u64 = 300;
    let sender = stream(&ingest, CHANGES);
    a_third_delivered(&receiver, CHANGES).await;
    // The ingest requests meanwhile wait in the producer (up to its 30 s message timeout)
    // or are refused and sent again.
    tokio::task::block_in_place(|| {
        broker.stop();
        broker.restart();
    });
    let refused = sender.await.expect("sender");
    all_delivered(&receiver, CHANGES, refused, "broker restart").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_three_brokers_mid_stream_loses_nothing() {
    let cluster = tokio::task::block_in_place(OwnCluster::start);
    let mut stack = Stack::new("cluster-kill");
    for (key, value) in [
        ("HOOKSTREAM_KAFKA__BROKERS", cluster.bootstrap()),
        ("HOOKSTREAM_KAFKA__REPLICATION_FACTOR", "3".into()),
        ("HOOKSTREAM_KAFKA__MIN_INSYNC_REPLICAS", "2".into()),
    ] {
        stack.overrides.insert(key.into(), value);
    }
    let (_dev, api, ingest) = stack.dev();
    let receiver = Receiver::start(200).await;
    api.register(ALICE, &receiver.url, 1, "s").await;

    const CHANGES: u64 = 300;
    let sender = stream(&ingest, CHANGES);
    a_third_delivered(&receiver, CHANGES).await;
    // Node 2 crashes; the other two hold a quorum and, with min.insync.replicas 2, every
    // acknowledged write.
    tokio::task::block_in_place(|| cluster.kill_node(2));
    let refused = sender.await.expect("sender");
    all_delivered(&receiver, CHANGES, refused, "one of three brokers killed").await;
}
