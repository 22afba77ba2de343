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

fn keys(entries: &[(&str, u8)]) -> String {
    use base64::Engine;
    let quoted: Vec<String> = entries
        .iter()
        .map(|(id, byte)| {
            format!(
                "\"{id}:{}\"",
                base64::engine::general_purpose::STANDARD.encode([*byte; 32])
            )
        })
        .collect();
    format!("[{}]", quoted.join(", "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_sealed_in_the_log_and_keys_rotate() {
    let mut stack = Stack::new("sealed");
    let setting = "HOOKSTREAM_SECURITY__SECRET_KEYS";
    stack
        .overrides
        .insert(setting.into(), keys(&[("k1", 0x11)]));
    let (mut api_proc, _capture, api, ingest) = stack.api_and_capture();
    let mut dispatch = stack.spawn("dispatch", "dispatch");
    let log = stack.ns.webhooks_topic();
    let tag = std::process::id();
    let (first_secret, second_secret) = (format!("first-{tag}"), format!("second-{tag}"));
    let (first, second) = (Receiver::start(200).await, Receiver::start(200).await);
    let first_id = api.register(ALICE, &first.url, 1, &first_secret).await;

    let in_log = || {
        kafka::raw_payloads(&log)
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let text = in_log();
    assert!(
        !text.contains(&first_secret),
        "the log holds no secret in the clear"
    );
    assert!(text.contains("hs1:k1:"), "sealed with k1");
    let (_, shown) = api.get(ALICE, &format!("/webhooks/{first_id}")).await;
    assert_eq!(
        shown["secret"],
        first_secret.as_str(),
        "its owner sees it opened"
    );
    ingest.change(1, 1, "update", r#"{"id":1,"n":1}"#).await;
    let got = first.wait_for_body(r#""n":1"#, WAIT).await;
    assert_eq!(
        got.header("x-secret"),
        first_secret,
        "receivers get it opened"
    );

    // Rotation: k2 seals from now on, k1 still opens.
    api_proc.terminate(WAIT);
    dispatch.terminate(WAIT);
    stack
        .overrides
        .insert(setting.into(), keys(&[("k2", 0x22), ("k1", 0x11)]));
    let api_proc = stack.spawn("api", "api");
    let api = hookstream_tests::stack::Api::new(&api_proc.addr("api"));
    let mut dispatch = stack.spawn("dispatch", "dispatch");
    api.register(ALICE, &second.url, 1, &second_secret).await;
    let text = in_log();
    assert!(
        text.contains("hs1:k2:") && !text.contains(&second_secret),
        "sealed with k2"
    );
    ingest.change(1, 1, "update", r#"{"id":1,"n":2}"#).await;
    assert_eq!(
        first
            .wait_for_body(r#""n":2"#, WAIT)
            .await
            .header("x-secret"),
        first_secret
    );
    assert_eq!(
        second
            .wait_for_body(r#""n":2"#, WAIT)
            .await
            .header("x-secret"),
        second_secret
    );

    // Without k1, the secret it sealed cannot be opened: that webhook gets nothing, and the
    // dispatcher says why; the other is served.
    dispatch.terminate(WAIT);
    stack
        .overrides
        .insert(setting.into(), keys(&[("k2", 0x22)]));
    let dispatch = stack.spawn("dispatch", "dispatch");
    ingest.change(1, 1, "update", r#"{"id":1,"n":3}"#).await;
    second.wait_for_body(r#""n":3"#, WAIT).await;
    dispatch.wait_log("the missing key", WAIT, |v| {
        v["fields"]["message"] == "cannot open the webhook's secret; not sent"
            && v["fields"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("\"k1\""))
    });
    assert!(
        !first.bodies().iter().any(|b| b.contains(r#""n":3"#)),
        "nothing is sent with a secret that cannot be opened"
    );
}
