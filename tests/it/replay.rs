//! Replay (DESIGN.md §2): a time range of a category topic sent again to one webhook, from
//! the CLI and from the API, marked `X-Hookstream-Replay: true`, with the original
//! `webhook-id`s; a dry run sends nothing; bad requests say what is wrong.

use std::collections::HashMap;
use std::time::Duration;

use hookstream_model::now_millis;
use hookstream_tests::stack::{ALICE, BOB};
use hookstream_tests::{eventually, kafka, Received, Receiver, Stack, WAIT};
use serde_json::json;

/// Ingests one version of each of `ids` and waits until `receivers` got all of them.
async fn batch(
    ingest: &hookstream_tests::stack::Ingest,
    receivers: &[&Receiver],
    ids: &[i64],
    version: &str,
) {
    let changes: Vec<(i32, i64, String)> = ids
        .iter()
        .map(|id| (1, *id, format!(r#"{{"id":{id},"v":"{version}"}}"#)))
        .collect();
    ingest.batch(&changes).await;
    for receiver in receivers {
        for id in ids {
            receiver
                .wait_for_body(&format!(r#"{{"id":{id},"v":"{version}"}}"#), WAIT)
                .await;
        }
    }
}

fn replayed(receiver: &Receiver) -> Vec<Received> {
    receiver
        .received()
        .into_iter()
        .filter(|r| r.header("x-hookstream-replay") == "true")
        .collect()
}

/// A time strictly after every change captured so far, and before any captured later.
async fn boundary() -> i64 {
    let t = now_millis() + 1;
    tokio::time::sleep(Duration::from_millis(5)).await;
    t
}

fn rfc3339(millis: i64) -> String {
    hookstream_replay::rfc3339(millis)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_range_replays_to_one_webhook_exactly_with_the_replay_header() {
    let stack = Stack::new("replay");
    let (_dev, api, ingest) = stack.dev();
    let (mine, other) = (Receiver::start(200).await, Receiver::start(200).await);
    let id = api.register(ALICE, &mine.url, 1, "s-mine").await;
    api.register(ALICE, &other.url, 1, "s-other").await;

    let t0 = boundary().await;
    batch(&ingest, &[&mine, &other], &[1, 2, 3], "before").await;
    let since = boundary().await;
    batch(&ingest, &[&mine, &other], &[1, 2, 3, 4], "in").await;
    batch(&ingest, &[&mine, &other], &[1], "in-again").await;
    let until = boundary().await;
    batch(&ingest, &[&mine, &other], &[1, 2], "after").await;
    let in_range: Vec<String> = [1, 2, 3, 4]
        .iter()
        .map(|id| format!(r#"{{"id":{id},"v":"in"}}"#))
        .chain([r#"{"id":1,"v":"in-again"}"#.to_owned()])
        .collect();
    let original_ids: HashMap<String, String> = mine
        .received()
        .into_iter()
        .map(|r| (r.body.clone(), r.header("webhook-id").to_owned()))
        .collect();

    let replay_topic = format!("{}hs.replay", stack.ns.prefix);
    let (since_text, until_text, id_text) = (rfc3339(since), rfc3339(until), id.to_string());
    let args = [
        "replay",
        "--category",
        "game",
        "--since",
        &since_text,
        "--until",
        &until_text,
        "--webhook",
        &id_text,
    ];
    let dry = stack.run(&[&args[..], &["--dry-run"]].concat());
    assert!(dry.success, "{dry:?}");
    assert!(
        dry.stdout.contains("dry run: 5 records") && dry.stdout.contains("would queue 5"),
        "{dry:?}"
    );
    assert_eq!(
        kafka::record_count(&replay_topic),
        0,
        "a dry run queues nothing"
    );

    let done = stack.run(&args);
    assert!(done.success, "{done:?}");
    assert!(done.stdout.contains("replayed 5 records"), "{done:?}");
    let jobs = kafka::delivery_jobs(&replay_topic);
    assert_eq!(jobs.len(), 5, "one job per record of the range: {jobs:?}");
    assert!(jobs.iter().all(|j| j.webhook_id.0 == id && j.replay));

    let got = eventually("the five replayed deliveries", WAIT, || async {
        let got = replayed(&mine);
        (got.len() >= 5).then_some(got)
    })
    .await;
    let mut bodies: Vec<String> = got.iter().map(|r| r.body.clone()).collect();
    let entity_1: Vec<&String> = bodies
        .iter()
        .filter(|b| b.starts_with(r#"{"id":1,"#))
        .collect();
    assert_eq!(
        entity_1,
        [&in_range[0], &in_range[4]],
        "one entity's versions arrive in their order"
    );
    bodies.sort();
    let mut expected = in_range.clone();
    expected.sort();
    assert_eq!(bodies, expected, "exactly the records of the range");
    for r in &got {
        assert_eq!(r.header("x-secret"), "s-mine");
        assert_eq!(
            Some(&r.header("webhook-id").to_owned()),
            original_ids.get(&r.body),
            "a replay keeps the original webhook-id"
        );
    }
    assert!(replayed(&other).is_empty(), "only the named webhook");

    // The same range through the API, for the owner only.
    let body = json!({"since": since_text, "until": until});
    let path = format!("/webhooks/{id}/replay");
    let (status, reply) = api.post_json(BOB, &path, &body).await;
    assert_eq!(status, 404, "another account's webhook: {reply}");
    let (status, reply) = api.get(ALICE, &path).await;
    assert_eq!(status, 404, "no replay yet: {reply}");
    assert_eq!(reply["errors"][0]["field"], "replay", "{reply}");
    let (status, reply) = api.post_json(ALICE, &path, &body).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["records"], 5, "{reply}");
    assert_eq!(reply["category"], 1, "{reply}");
    eventually("five more replayed deliveries", WAIT, || async {
        (replayed(&mine).len() >= 10).then_some(())
    })
    .await;
    // Its progress, once done: every record read and its delivery queued.
    let progress = eventually("the replay reported done", WAIT, || async {
        let (status, reply) = api.get(ALICE, &path).await;
        assert_eq!(status, 200, "{reply}");
        (reply["state"] == "done").then_some(reply)
    })
    .await;
    assert_eq!(
        (
            progress["records"].clone(),
            progress["read"].clone(),
            progress["queued"].clone()
        ),
        (json!(5), json!(5), json!(5)),
        "{progress}"
    );
    let (status, _) = api.get(BOB, &path).await;
    assert_eq!(status, 404, "another account's replay");
    let mut again: Vec<String> = replayed(&mine)[5..]
        .iter()
        .map(|r| r.body.clone())
        .collect();
    again.sort();
    assert_eq!(again, expected);

    // What each bad request gets.
    let future = rfc3339(now_millis() + 3_600_000);
    let cases = [
        (json!({"since": future}), "since", "future"),
        (json!({"until": until}), "since", "required"),
        (
            json!({"since": until, "until": since}),
            "until",
            "before it starts",
        ),
        (json!({"since": "last week"}), "since", "RFC 3339"),
    ];
    for (body, field, message) in cases {
        let (status, reply) = api.post_json(ALICE, &path, &body).await;
        assert_eq!(status, 400, "{body}: {reply}");
        assert_eq!(reply["errors"][0]["field"], field, "{body}: {reply}");
        let text = reply["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{body}: {reply}");
    }
    let missing = stack.run(&["replay", "--since", &since_text, "--webhook", "999999"]);
    assert!(!missing.success);
    assert!(
        missing.stderr.contains("webhook 999999 does not exist"),
        "{missing:?}"
    );
    let no_start = stack.run(&["replay", "--category", "game"]);
    assert!(!no_start.success);
    assert!(no_start.stderr.contains("--since"), "{no_start:?}");

    // Retention removes the first batch: a range inside it is refused, one reaching into it
    // replays what is left and says what is gone.
    let category_topic = format!("{}igdb.game", stack.ns.prefix);
    kafka::expire_before(&category_topic, since).await;
    let (t0_text, dry_args) = (rfc3339(t0), ["--dry-run", "--webhook", &id_text]);
    let gone = stack.run(
        &[
            &["replay", "--since", &t0_text, "--until", &since_text][..],
            &dry_args,
        ]
        .concat(),
    );
    assert!(!gone.success, "{gone:?}");
    assert!(gone.stderr.contains("retention removed it"), "{gone:?}");
    let partial = stack.run(
        &[
            &["replay", "--since", &t0_text, "--until", &until_text][..],
            &dry_args,
        ]
        .concat(),
    );
    assert!(partial.success, "{partial:?}");
    assert!(partial.stderr.contains("warning: retention"), "{partial:?}");
    assert!(partial.stdout.contains("dry run: 5 records"), "{partial:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_a_replay_to_all_webhooks_and_its_resume_arguments_finish_it() {
    let stack = Stack::new("replay-stop");
    let (_dev, api, ingest) = stack.dev();
    let receivers = [Receiver::start(200).await, Receiver::start(200).await];
    let mut ids = Vec::new();
    for (n, receiver) in receivers.iter().enumerate() {
        ids.push(
            api.register(ALICE, &receiver.url, 1, &format!("s{n}"))
                .await,
        );
    }
    let since = boundary().await;
    let entities: Vec<i64> = (1..=30).collect();
    batch(&ingest, &[&receivers[0], &receivers[1]], &entities, "v").await;

    let replay_topic = format!("{}hs.replay", stack.ns.prefix);
    let since_text = rfc3339(since);
    // 20 deliveries a second: 60 take three seconds, time enough to interrupt.
    let replay = stack.start(&[
        "replay",
        "--category",
        "game",
        "--since",
        &since_text,
        "--rate",
        "20/s",
    ]);
    eventually("the first replayed jobs", WAIT, || async {
        (kafka::record_count(&replay_topic) > 0).then_some(())
    })
    .await;
    replay.interrupt();
    let stopped = replay.finish(WAIT);
    assert!(stopped.success, "Ctrl-C is a clean stop: {stopped:?}");
    let resume = stopped
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("stopped before the end; resume with: hookstream "))
        .unwrap_or_else(|| panic!("says how to resume: {stopped:?}"))
        .to_owned();
    assert!(
        resume.contains("--category game") && resume.contains("--rate 20"),
        "the same replay, from where it stopped: {resume}"
    );
    let queued = kafka::record_count(&replay_topic);
    assert!(queued < 60, "stopped early, after {queued} jobs");

    let args: Vec<&str> = resume.split_whitespace().collect();
    let rest = stack.run(&args);
    assert!(rest.success, "{rest:?}");

    // Together the two runs queued every (record, webhook) pair: the cut loses nothing.
    let jobs = kafka::delivery_jobs(&replay_topic);
    let mut pairs: Vec<(i64, i64)> = jobs.iter().map(|j| (j.webhook_id.0, j.entity_id)).collect();
    pairs.sort();
    pairs.dedup();
    let expected: Vec<(i64, i64)> = ids
        .iter()
        .flat_map(|id| entities.iter().map(move |e| (*id, *e)))
        .collect();
    assert_eq!(pairs, expected, "every record to every webhook");
    for receiver in &receivers {
        eventually("the replayed deliveries", WAIT, || async {
            (replayed(receiver).len() >= 30).then_some(())
        })
        .await;
    }
}
