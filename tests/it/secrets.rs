//! Secrets never show up where operators look: in no log line of any service (at debug
//! level), no metric, no error answer, and no record of the attempt log.

use hookstream_tests::stack::{ADMIN_TOKEN, ALICE, BOB};
use hookstream_tests::{eventually, kafka, Receiver, Stack, WAIT};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_appear_in_no_log_metric_error_or_attempt_record() {
    let mut stack = Stack::new("secrets");
    stack.overrides.insert("RUST_LOG".into(), "debug".into());
    let (api_proc, capture, api, ingest) = stack.api_and_capture();
    let dispatch = stack.spawn("dispatch", "dispatch");
    let tag = std::process::id();
    let secrets = [
        format!("alpha-secret-{tag}"),
        format!("beta-secret-{tag}"),
        // A Standard Webhooks key: its base64 and its bytes must not leak either.
        "whsec_c2VjcmV0LWtleS1ieXRlcy0xMjM0NTY3OA==".to_owned(),
        format!("gamma-secret-{tag}"),
    ];
    let (ok, flaky, refusing, pinged) = (
        Receiver::start(200).await,
        Receiver::start(200).await,
        Receiver::start(401).await,
        Receiver::start(200).await,
    );
    flaky.answer_next(2, 500);
    let ids = [
        api.register(ALICE, &ok.url, 1, &secrets[0]).await,
        api.register(ALICE, &flaky.url, 1, &secrets[1]).await,
        api.register(ALICE, &refusing.url, 1, &secrets[2]).await,
        api.register(ALICE, &pinged.url, 2, &secrets[3]).await,
    ];
    ingest.change(1, 7, "update", r#"{"id":7}"#).await;
    ok.wait_for_count(1, WAIT).await;
    flaky.wait_for_count(3, WAIT).await;
    refusing.wait_for_count(1, WAIT).await;
    let (status, _) = api
        .post_json(ALICE, &format!("/webhooks/{}/test", ids[3]), &json!({}))
        .await;
    assert_eq!(status, 200);
    // Error answers: another account, a bad key, a bad body.
    let mut answers = Vec::new();
    answers.push(
        api.get(BOB, &format!("/webhooks/{}", ids[0]))
            .await
            .1
            .to_string(),
    );
    answers.push(api.get("no-such-key", "/webhooks").await.1.to_string());
    answers.push(
        api.post_raw(
            Some(ALICE),
            Some("application/json"),
            b"{\"webhook\":{".to_vec(),
        )
        .await
        .1
        .to_string(),
    );
    let check = stack.run(&["config", "check"]);
    assert!(check.success, "{check:?}");

    let metrics = |addr: String| async move {
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("answers")
            .text()
            .await
            .expect("body")
    };
    let mut places: Vec<(String, String)> = vec![
        ("api log".into(), api_proc.log_text()),
        ("capture log".into(), capture.log_text()),
        ("dispatch log".into(), dispatch.log_text()),
        ("api metrics".into(), metrics(api_proc.addr("api")).await),
        (
            "dispatch metrics".into(),
            metrics(dispatch.addr("dispatch")).await,
        ),
        (
            "config check".into(),
            format!("{}{}", check.stdout, check.stderr),
        ),
        ("error answers".into(), answers.join("\n")),
    ];
    let topic = format!("{}hs.attempts", stack.ns.prefix);
    // Six attempts: one to each of three receivers, two more to the flaky one, the ping.
    let attempts = eventually("the six attempt records", WAIT, || async {
        let attempts = kafka::raw_payloads(&topic);
        (attempts.len() >= 6).then_some(attempts)
    })
    .await;
    places.push((
        "attempt records".into(),
        attempts
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>()
            .join("\n"),
    ));
    assert!(
        places[2].1.contains("delivery attempt"),
        "the dispatcher logged at debug level"
    );
    let mut needles: Vec<String> = secrets.to_vec();
    needles.push("c2VjcmV0LWtleS1ieXRlcy0xMjM0NTY3OA".into());
    needles.push("secret-key-bytes-12345678".into());
    needles.push(ADMIN_TOKEN.into());
    needles.push(ALICE.into());
    for (place, text) in &places {
        for needle in &needles {
            assert!(
                !text.contains(needle.as_str()),
                "{needle:?} appears in the {place}"
            );
        }
    }
}
