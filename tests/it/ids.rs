//! Webhook ids come from the log: unique and increasing across API replicas.

use std::collections::HashSet;

use hookstream_tests::stack::{Api, ALICE};
use hookstream_tests::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_processes_registering_concurrently_get_unique_increasing_ids() {
    let stack = Stack::new("ids");
    let first = stack.spawn("api-1", "api");
    let second = stack.spawn("api-2", "api");
    let apis = [Api::new(&first.addr("api")), Api::new(&second.addr("api"))];

    let runs = apis.iter().map(|api| {
        let api = api.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..100 {
                ids.push(
                    api.register(ALICE, &format!("http://127.0.0.1:9/{n}"), 1, "s")
                        .await,
                );
            }
            ids
        })
    });
    let mut all = HashSet::new();
    for run in runs.collect::<Vec<_>>() {
        let ids = run.await.expect("task");
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids of one client must increase: {ids:?}"
        );
        all.extend(ids);
    }
    assert_eq!(all.len(), 200, "ids must be unique across API processes");
    // Both replicas fold the same log, so both list all 200 with the same ids.
    for api in &apis {
        let (_, list) = api.get(ALICE, "/webhooks").await;
        let listed: HashSet<i64> = list
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|w| w["id"].as_i64())
            .collect();
        assert_eq!(listed, all);
    }
}
