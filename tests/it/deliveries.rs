//! The delivery log (`GET /webhooks/ID/deliveries`) and test pings (`POST /webhooks/ID/test`).

use hookstream_tests::stack::{ALICE, BOB};
use hookstream_tests::{eventually, Receiver, Stack, WAIT};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_shows_failed_then_successful_attempts_and_test_pings() {
    let stack = Stack::new("deliveries");
    let (_dev, api, ingest) = stack.dev();
    let receiver = Receiver::start(200).await;
    receiver.answer_next(2, 500);
    let id = api.register(ALICE, &receiver.url, 1, "s3cret").await;
    ingest.change(1, 77, "update", r#"{"id":77}"#).await;
    receiver.wait_for_count(3, WAIT).await;

    let path = format!("/webhooks/{id}/deliveries");
    let log = eventually("three attempts in the delivery log", WAIT, || async {
        let (status, reply) = api.get(ALICE, &path).await;
        assert_eq!(status, 200, "{reply}");
        let entries = reply.as_array().cloned().unwrap_or_default();
        (entries.len() >= 3).then_some(entries)
    })
    .await;
    let field = |entry: &Value, name: &str| entry[name].clone();
    assert_eq!(
        log.iter().map(|e| field(e, "status")).collect::<Vec<_>>(),
        [json!(200), json!(500), json!(500)],
        "newest first: {log:?}"
    );
    assert_eq!(
        log.iter().map(|e| field(e, "attempt")).collect::<Vec<_>>(),
        [json!(3), json!(2), json!(1)],
        "{log:?}"
    );
    let webhook_id = receiver.received()[0].header("webhook-id").to_owned();
    for entry in &log {
        assert_eq!(entry["delivery_id"], webhook_id.as_str(), "{entry}");
        assert_eq!(entry["kind"], "change");
        assert_eq!(entry["entity_id"], 77);
        assert!(entry["latency_ms"].as_i64().is_some(), "{entry}");
        assert!(
            entry["at"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{entry}"
        );
    }
    let (status, reply) = api.get(ALICE, &format!("{path}?limit=1")).await;
    assert_eq!(
        (status, reply.as_array().map(Vec::len)),
        (200, Some(1)),
        "{reply}"
    );
    // Pages: each continues before the cursor of the last entry of the one before.
    let mut paged = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let (status, reply) = api.get(ALICE, &format!("{path}?{query}")).await;
        assert_eq!(status, 200, "{query}: {reply}");
        let page = reply.as_array().cloned().unwrap_or_default();
        let Some(last) = page.last() else { break };
        let cursor = last["cursor"].as_str().unwrap_or_default().to_owned();
        assert_eq!(cursor.len(), 40, "{last}");
        query = format!("limit=2&before={cursor}");
        paged.extend(page);
        assert!(paged.len() <= log.len(), "pages repeat entries: {paged:?}");
    }
    assert_eq!(paged, log, "the pages together are the log");
    for bad in ["0", "101", "many"] {
        let (status, reply) = api.get(ALICE, &format!("{path}?limit={bad}")).await;
        assert_eq!(status, 400, "limit={bad}: {reply}");
        assert_eq!(reply["errors"][0]["field"], "limit", "{reply}");
    }
    let (status, reply) = api
        .get(ALICE, &format!("{path}?limit=0&before=yesterday"))
        .await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(
        (
            reply["errors"][0]["field"].clone(),
            reply["errors"][1]["field"].clone()
        ),
        (json!("limit"), json!("before")),
        "both problems at once: {reply}"
    );
    let (status, _) = api.get(BOB, &path).await;
    assert_eq!(status, 404, "another account's webhook");

    // The last day's counts: one delivered, two failed, in the current hour.
    let stats = format!("/webhooks/{id}/stats");
    let (status, day) = api.get(ALICE, &stats).await;
    assert_eq!(status, 200, "{day}");
    assert_eq!(
        (day["delivered"].clone(), day["failed"].clone()),
        (json!(1), json!(2)),
        "{day}"
    );
    let rate = day["success_rate"].as_f64().unwrap_or(-1.0);
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{day}");
    let hours = day["hours"].as_array().cloned().unwrap_or_default();
    assert_eq!(hours.len(), 24, "{day}");
    let sum = |field: &str| hours.iter().filter_map(|h| h[field].as_u64()).sum::<u64>();
    assert_eq!(
        (sum("delivered"), sum("failed")),
        (1, 2),
        "the hours add up: {day}"
    );
    assert_eq!(
        day["latest"]["delivered"], true,
        "the newest attempt succeeded: {day}"
    );
    let (status, all) = api.get(ALICE, "/webhooks/stats").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all[0]["webhook_id"], id, "{all}");
    assert_eq!(all[0]["failed"], 2, "{all}");
    let (status, _) = api.get(BOB, &stats).await;
    assert_eq!(status, 404, "another account's counts");
    let (status, none) = api.get(BOB, "/webhooks/stats").await;
    assert_eq!(
        (status, none),
        (200, json!([])),
        "an account without webhooks"
    );
    let (status, reply) = api.post_json(ALICE, "/webhooks/stats", &json!({})).await;
    assert_eq!(status, 404, "stats take no POST: {reply}");
    assert!(
        reply["errors"][0]["message"].is_string(),
        "a JSON error: {reply}"
    );

    // A test ping: sent at once, answered with its outcome, logged as a test.
    let test = format!("/webhooks/{id}/test");
    let (status, reply) = api.post_json(ALICE, &test, &json!({})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["delivered"], true, "{reply}");
    assert_eq!(reply["status"], 200, "{reply}");
    let ping = receiver.wait_for_body("\"ping\":true", WAIT).await;
    assert_eq!(ping.header("x-hookstream-event"), "ping");
    assert_eq!(ping.header("x-secret"), "s3cret");
    assert_eq!(
        ping.header("webhook-id"),
        reply["delivery_id"].as_str().unwrap_or("?")
    );
    eventually("the ping in the delivery log", WAIT, || async {
        let (_, reply) = api.get(ALICE, &path).await;
        (reply[0]["kind"] == "test" && reply[0]["entity_id"].is_null()).then_some(())
    })
    .await;

    // A ping answered 401 reports it and removes nothing.
    receiver.set_status(401);
    let (status, reply) = api.post_json(ALICE, &test, &json!({})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        (reply["delivered"].clone(), reply["status"].clone()),
        (json!(false), json!(401))
    );
    let (status, _) = api.get(ALICE, &format!("/webhooks/{id}")).await;
    assert_eq!(status, 200, "a test ping never removes the webhook");
}
