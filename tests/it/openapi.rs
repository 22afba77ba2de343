//! The served OpenAPI description matches the routes: every operation it names exists and
//! answers only with statuses it declares, and it names every public operation.

use hookstream_tests::stack::{Api, ALICE};
use hookstream_tests::Stack;
use serde_json::Value;

/// The public operations: DESIGN.md §1, replay and its progress, the delivery log, the
/// last day's counts and test pings.
const OPERATIONS: [(&str, &str); 10] = [
    ("delete", "/webhooks/{id}"),
    ("get", "/webhooks"),
    ("get", "/webhooks/stats"),
    ("get", "/webhooks/{id}"),
    ("get", "/webhooks/{id}/deliveries"),
    ("get", "/webhooks/{id}/replay"),
    ("get", "/webhooks/{id}/stats"),
    ("post", "/webhooks"),
    ("post", "/webhooks/{id}/replay"),
    ("post", "/webhooks/{id}/test"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_spec_matches_the_routes() {
    let stack = Stack::new("openapi");
    let proc = stack.spawn("api", "api");
    let api = Api::new(&proc.addr("api"));
    let client = reqwest::Client::new();
    let spec: Value = client
        .get(format!("{}/openapi.json", api.base))
        .send()
        .await
        .expect("api answers")
        .json()
        .await
        .expect("the spec is JSON");
    assert_eq!(spec["openapi"], "3.1.0");

    let mut named = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if method == "parameters" {
                continue;
            }
            named.push((method.clone(), path.clone()));
            let url = format!("{}{}", api.base, path.replace("{id}", "987654321"));
            let request = match method.as_str() {
                "get" => client.get(&url),
                "post" => client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body("{}"),
                "delete" => client.delete(&url),
                other => panic!("unexpected method {other} in the spec"),
            };
            let response = request
                .header("user-key", ALICE)
                .send()
                .await
                .expect("answers");
            let status = response.status().as_u16().to_string();
            let body: Value = response.json().await.unwrap_or_else(|_| {
                panic!("{method} {path}: not one of our JSON answers (no such route?)")
            });
            let declared = operation["responses"].as_object().expect("responses");
            assert!(
                declared.contains_key(&status),
                "{method} {path} answered {status}, which the spec does not declare: {body}"
            );
        }
    }
    named.sort();
    let expected: Vec<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        named, expected,
        "the spec names exactly the public operations"
    );
}
