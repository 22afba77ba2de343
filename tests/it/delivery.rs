//! One change delivered end to end, with the headers of DESIGN.md §1; DELETE and 401
//! removal stop deliveries.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use hookstream_tests::stack::ALICE;
use hookstream_tests::{eventually, Receiver, Stack, WAIT};
use sha2::Sha256;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_nested_form_and_flat_form_registrations_all_receive_the_change() {
    let stack = Stack::new("deliver");
    let (_dev, api, ingest) = stack.dev();
    let (by_json, by_nested, by_flat) = (
        Receiver::start(200).await,
        Receiver::start(204).await,
        Receiver::start(200).await,
    );

    api.register(ALICE, &by_json.url, 1, "secret-json").await;
    let nested = format!(
        "webhook%5Burl%5D={}&webhook%5Bcategory%5D=1&webhook%5Bsecret%5D=secret+nested",
        by_nested.url
    );
    let (status, reply) = api
        .post_raw(
            Some(ALICE),
            Some("application/x-www-form-urlencoded"),
            nested.into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["secret"], "secret nested");
    let flat = format!("url={}&category=1&secret=secret-flat", by_flat.url);
    let (status, reply) = api
        .post_raw(
            Some(ALICE),
            Some("application/x-www-form-urlencoded"),
            flat.into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    // A webhook of another category must not get it.
    let other = Receiver::start(200).await;
    api.register(ALICE, &other.url, 2, "other").await;

    let data =
        r#"{"id": 1942, "name": "The Witcher 3: Wild Hunt", "rating": 92.5, "tags": [1, 2]}"#;
    ingest.change(1, 1942, "update", data).await;

    for (receiver, secret) in [
        (&by_json, "secret-json"),
        (&by_nested, "secret nested"),
        (&by_flat, "secret-flat"),
    ] {
        let got = receiver.wait_for_body("1942", WAIT).await;
        assert_eq!(got.method, "POST");
        assert_eq!(got.body, data, "the body is the entity exactly as captured");
        assert_eq!(got.header("content-type"), "application/json");
        assert_eq!(got.header("x-secret"), secret);
        assert_eq!(got.header("x-hookstream-category"), "game");
        assert_eq!(got.header("x-hookstream-event"), "update");
        assert!(
            got.header("webhook-id").starts_with("msg_"),
            "{:?}",
            got.headers
        );
        // Standard Webhooks: v1,base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")).
        let signed = format!(
            "{}.{}.{}",
            got.header("webhook-id"),
            got.header("webhook-timestamp"),
            got.body
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac");
        mac.update(signed.as_bytes());
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(got.header("webhook-signature"), expected);
        // And as the reference implementation of Standard Webhooks sees it.
        let reference =
            standardwebhooks::Webhook::from_bytes(secret.as_bytes().to_vec()).expect("key");
        reference
            .verify(got.body.as_bytes(), &header_map(&got))
            .expect("standardwebhooks verifies the delivery");
        let ts: i64 = got
            .header("webhook-timestamp")
            .parse()
            .expect("unix seconds");
        assert!((ts - hookstream_model::now_millis() / 1000).abs() < 120);
    }
    let ids: std::collections::HashSet<String> = [&by_json, &by_nested, &by_flat]
        .iter()
        .map(|r| r.received()[0].header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "one webhook-id per (change, webhook)");

    // A marker change settles after the first one (same entity, same partition): by then the
    // other category's receiver would have had it.
    ingest
        .change(1, 1942, "update", r#"{"id": 1942, "marker": true}"#)
        .await;
    by_json.wait_for_body("marker", WAIT).await;
    assert!(
        other.received().is_empty(),
        "a category 2 webhook got a game change"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_delivery_after_delete_returned() {
    let stack = Stack::new("delete");
    let (_dev, api, ingest) = stack.dev();
    let gone = Receiver::start(200).await;
    let control = Receiver::start(200).await;
    let id = api.register(ALICE, &gone.url, 11, "s").await;
    api.register(ALICE, &control.url, 11, "c").await;

    ingest
        .change(11, 6, "create", r#"{"id": 6, "v": "before"}"#)
        .await;
    gone.wait_for_body("before", WAIT).await;

    let (status, removed) = api.delete(ALICE, &format!("/webhooks/{id}")).await;
    assert_eq!(
        (status, removed["id"].as_i64()),
        (200, Some(id)),
        "{removed}"
    );
    assert_eq!(api.get(ALICE, &format!("/webhooks/{id}")).await.0, 404);

    // Same entity → same partition → settled in order: once the control has "last", the
    // deleted webhook has been passed over for "after".
    ingest
        .change(11, 6, "update", r#"{"id": 6, "v": "after"}"#)
        .await;
    ingest
        .change(11, 6, "update", r#"{"id": 6, "v": "last"}"#)
        .await;
    control.wait_for_body("last", WAIT).await;
    assert_eq!(
        gone.bodies(),
        [r#"{"id": 6, "v": "before"}"#],
        "delivered after DELETE returned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_removes_the_webhook_at_once() {
    let stack = Stack::new("unauthorized");
    let (_dev, api, ingest) = stack.dev();
    let refusing = Receiver::start(401).await;
    let control = Receiver::start(200).await;
    let id = api.register(ALICE, &refusing.url, 5, "s").await;
    api.register(ALICE, &control.url, 5, "c").await;

    ingest
        .change(5, 70, "create", r#"{"id": 70, "n": 1}"#)
        .await;
    refusing.wait_for_body(r#""n": 1"#, WAIT).await;
    eventually("GET to answer 404 after the 401", WAIT, || async {
        (api.get(ALICE, &format!("/webhooks/{id}")).await.0 == 404).then_some(())
    })
    .await;
    let (_, list) = api.get(ALICE, "/webhooks").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    ingest
        .change(5, 70, "update", r#"{"id": 70, "n": 2}"#)
        .await;
    ingest
        .change(5, 70, "update", r#"{"id": 70, "n": 3}"#)
        .await;
    control.wait_for_body(r#""n": 3"#, WAIT).await;
    assert_eq!(
        refusing.received().len(),
        1,
        "a removed webhook got more deliveries (401 is not retried)"
    );
}

fn header_map(got: &hookstream_tests::Received) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in &got.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(name.as_str()),
            http::HeaderValue::from_str(value),
        ) {
            map.insert(name, value);
        }
    }
    map
}

/// A secret in the Standard Webhooks form `whsec_<base64>` signs with the decoded bytes, as
/// the reference implementation expects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whsec_secrets_verify_with_the_reference_implementation() {
    let stack = Stack::new("whsec");
    let (_dev, api, ingest) = stack.dev();
    let receiver = Receiver::start(200).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    api.register(ALICE, &receiver.url, 3, secret).await;
    ingest
        .change(3, 9, "create", r#"{"id": 9, "name": "Geralt"}"#)
        .await;
    let got = receiver.wait_for_body("Geralt", WAIT).await;
    assert_eq!(got.header("x-secret"), secret);
    let reference = standardwebhooks::Webhook::new(secret).expect("whsec secret");
    reference
        .verify(got.body.as_bytes(), &header_map(&got))
        .expect("standardwebhooks verifies the delivery");
    assert!(
        reference.verify(b"{\"id\": 9}", &header_map(&got)).is_err(),
        "a tampered body must not verify"
    );
}
