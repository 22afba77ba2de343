//! DESIGN.md §1: auth, plans, ownership and the table of bad inputs. Nothing is appended to
//! the log for any rejected request.

use hookstream_tests::kafka::high_watermark;
use hookstream_tests::stack::{ALICE, BOB, FREE};
use hookstream_tests::Stack;
use serde_json::{json, Value};

const JSON: Option<&str> = Some("application/json");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_400_with_the_field_and_write_nothing() {
    let stack = Stack::new("bad-inputs");
    let (_dev, api, _ingest) = stack.dev();
    // One good registration first, so the log exists and its end is known.
    api.register(ALICE, "http://127.0.0.1:9/ok", 1, "s").await;
    let log_end = high_watermark(&stack.ns.webhooks_topic());

    let long_secret = "x".repeat(257);
    let huge = format!(
        r#"{{"webhook":{{"url":"http://127.0.0.1/","category":1,"secret":"{}"}}}}"#,
        "y".repeat(20_000)
    );
    let cases: Vec<(Option<&str>, Vec<u8>, &str)> = vec![
        (JSON, b"{not json".to_vec(), "body"),
        (JSON, br#"{"webhook":{"category":1,"secret":"s"}}"#.to_vec(), "url"),
        (JSON, br#"{"webhook":{"url":"http://127.0.0.1/","secret":"s"}}"#.to_vec(), "category"),
        (JSON, br#"{"webhook":{"url":"http://127.0.0.1/","category":1}}"#.to_vec(), "secret"),
        (JSON, br#"{"webhook":{"url":"gopher://127.0.0.1/","category":1,"secret":"s"}}"#.to_vec(), "url"),
        (JSON, br#"{"webhook":{"url":"http://me:pw@127.0.0.1/","category":1,"secret":"s"}}"#.to_vec(), "url"),
        (JSON, br#"{"webhook":{"url":"http://127.0.0.1/","category":24,"secret":"s"}}"#.to_vec(), "category"),
        (JSON, br#"{"webhook":{"url":"http://127.0.0.1/","category":0,"secret":"s"}}"#.to_vec(), "category"),
        (JSON, br#"{"webhook":{"url":"http://127.0.0.1/","category":1,"secret":""}}"#.to_vec(), "secret"),
        (JSON, format!(r#"{{"webhook":{{"url":"http://127.0.0.1/","category":1,"secret":"{long_secret}"}}}}"#).into_bytes(), "secret"),
        (JSON, huge.into_bytes(), "body"),
        (FORM, b"webhook[url]=http://127.0.0.1/&webhook[category]=99&webhook[secret]=s".to_vec(), "category"),
        (FORM, b"url=http://127.0.0.1/&category=1".to_vec(), "secret"),
        (FORM, b"url=http://127.0.0.1/&category=1&secret=%FF".to_vec(), "body"),
        (Some("text/xml"), b"<webhook/>".to_vec(), "body"),
    ];
    for (content_type, body, field) in cases {
        let shown = String::from_utf8_lossy(&body)
            .chars()
            .take(80)
            .collect::<String>();
        let (status, reply) = api.post_raw(Some(ALICE), content_type, body).await;
        assert_eq!(status, 400, "{shown}: {reply}");
        let errors = reply["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{shown}: no errors in {reply}"));
        assert!(
            errors.iter().any(
                |e| e["field"] == field && e["message"].as_str().is_some_and(|m| !m.is_empty())
            ),
            "{shown}: expected an error on {field:?}, got {reply}"
        );
    }
    assert_eq!(
        high_watermark(&stack.ns.webhooks_topic()),
        log_end,
        "a rejected request appended to the log"
    );
    let (_, list) = api.get(ALICE, "/webhooks").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_plans_and_ownership() {
    let stack = Stack::new("auth");
    let (_dev, api, _ingest) = stack.dev();
    let good = json!({"webhook": {"url": "http://127.0.0.1:9/", "category": 1, "secret": "s"}})
        .to_string();

    let (status, reply) = api.post_raw(None, JSON, good.clone().into_bytes()).await;
    assert_eq!(
        (status, error_field(&reply)),
        (401, "user-key".into()),
        "{reply}"
    );
    let (status, reply) = api
        .post_raw(Some("no-such-key"), JSON, good.clone().into_bytes())
        .await;
    assert_eq!(status, 401, "{reply}");
    let (status, reply) = api
        .post_raw(Some(FREE), JSON, good.clone().into_bytes())
        .await;
    assert_eq!(status, 403, "{reply}");
    assert!(
        reply["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Pro, Ultra and Enterprise") && m.contains("Free")),
        "{reply}"
    );
    let (status, _) = api.get(FREE, "/webhooks").await;
    assert_eq!(status, 403);

    let alice_id = api.register(ALICE, "http://127.0.0.1:9/a", 2, "sa").await;
    let bob_id = api.register(BOB, "http://127.0.0.1:9/b", 3, "sb").await;

    let (status, mine) = api.get(ALICE, &format!("/webhooks/{alice_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        mine,
        json!({"id": alice_id, "url": "http://127.0.0.1:9/a", "category": 2, "last_failed_at": null, "secret": "sa"})
    );
    // Another account's id is 404, never 403, for GET and DELETE alike.
    assert_eq!(api.get(ALICE, &format!("/webhooks/{bob_id}")).await.0, 404);
    assert_eq!(
        api.delete(ALICE, &format!("/webhooks/{bob_id}")).await.0,
        404
    );
    assert_eq!(api.get(ALICE, "/webhooks/999999").await.0, 404);
    assert_eq!(api.get(ALICE, "/webhooks/abc").await.0, 404);
    let (_, list) = api.get(ALICE, "/webhooks").await;
    assert_eq!(list, json!([mine]));
    // Bob's webhook is untouched by Alice's attempt.
    assert_eq!(api.get(BOB, &format!("/webhooks/{bob_id}")).await.0, 200);

    let (status, removed) = api.delete(ALICE, &format!("/webhooks/{alice_id}")).await;
    assert_eq!((status, &removed), (200, &mine));
    assert_eq!(
        api.get(ALICE, &format!("/webhooks/{alice_id}")).await.0,
        404
    );
    assert_eq!(
        api.delete(ALICE, &format!("/webhooks/{alice_id}")).await.0,
        404
    );
    assert_eq!(api.get(ALICE, "/webhooks").await.1, json!([]));
}

fn error_field(reply: &Value) -> String {
    reply["errors"][0]["field"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}
