//! `/metrics` of the dispatcher and the API: after a known scenario, the counters they must show.

use std::collections::BTreeMap;

use hookstream_tests::stack::ALICE;
use hookstream_tests::{eventually, Receiver, Stack, WAIT};

/// A sample of the Prometheus text format: metric name and its labels, sorted.
type Series = (String, BTreeMap<String, String>);

/// What a scrape must show: metric, labels, value.
type Expected<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

fn parse(text: &str) -> BTreeMap<Series, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        out.insert((name.to_owned(), labels), value);
    }
    out
}

fn value(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .get(&(name.to_owned(), labels))
        .copied()
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_show_deliveries_by_result_removals_readiness_and_api_requests() {
    let stack = Stack::new("metrics");
    let (_api_proc, _capture, api, ingest) = stack.api_and_capture();
    let dispatch = stack.spawn("dispatch", "dispatch");
    let addr = dispatch.addr("dispatch");
    let healthy = Receiver::start(200).await;
    let refusing = Receiver::start(401).await;
    api.register(ALICE, &healthy.url, 1, "s").await;
    let refused = api.register(ALICE, &refusing.url, 1, "r").await;

    // One entity: one partition, one change at a time, so the 401 removes the webhook before
    // the next change is matched and exactly one attempt is refused.
    for n in 0..3 {
        let data = format!(r#"{{"id": 900, "n": {n}}}"#);
        ingest.change(1, 900, "update", &data).await;
    }
    healthy.wait_for_count(3, WAIT).await;
    eventually("the 401 webhook to be removed", WAIT, || async {
        (api.get(ALICE, &format!("/webhooks/{refused}")).await.0 == 404).then_some(())
    })
    .await;

    let scrape = || async {
        let response = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("dispatch answers");
        assert_eq!(response.status(), 200);
        parse(&response.text().await.expect("body"))
    };
    // Removal is counted once its event is folded, which the API's 404 does not wait for.
    let samples = eventually("the removal to be counted", WAIT, || async {
        let samples = scrape().await;
        (value(
            &samples,
            "hookstream_webhooks_removed_total",
            &[("reason", "unauthorized")],
        ) >= 1.0)
            .then_some(samples)
    })
    .await;
    let game = ("category", "game");
    let table: &[Expected] = &[
        (
            "hookstream_deliveries_total",
            &[game, ("result", "delivered")],
            3.0,
        ),
        (
            "hookstream_deliveries_total",
            &[game, ("result", "unauthorized")],
            1.0,
        ),
        (
            "hookstream_webhooks_removed_total",
            &[("reason", "unauthorized")],
            1.0,
        ),
        ("hookstream_delivery_duration_seconds_count", &[game], 4.0),
        ("hookstream_dispatch_ready", &[], 1.0),
    ];
    for (name, labels, expected) in table {
        assert_eq!(
            value(&samples, name, labels),
            *expected,
            "{name}{labels:?} in the scrape:\n{samples:#?}"
        );
    }
    // Gauges read every few seconds: consumer lag (librdkafka statistics), breaker states and
    // how overdue the tiers' heads are. Everything settled, so the lag is zero.
    let game_topic = format!("{}igdb.game", stack.ns.prefix);
    let present = |samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]| {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        samples.get(&(name.to_owned(), labels)).copied()
    };
    let gauges = eventually("the lag and breaker gauges", WAIT, || async {
        let samples = scrape().await;
        let lag = present(
            &samples,
            "hookstream_consumer_lag_records",
            &[("consumer", "changes"), ("topic", &game_topic)],
        );
        let closed = present(&samples, "hookstream_circuits", &[("state", "closed")]);
        (lag == Some(0.0) && closed.is_some_and(|c| c >= 1.0)).then_some(samples)
    })
    .await;
    for tier in ["10s", "replay"] {
        assert_eq!(
            present(
                &gauges,
                "hookstream_retry_oldest_due_seconds",
                &[("tier", tier)]
            ),
            Some(0.0),
            "no job is overdue on {tier}: {gauges:#?}"
        );
    }
    assert_eq!(
        present(&gauges, "hookstream_circuits", &[("state", "open")]),
        Some(0.0)
    );

    let api_samples = {
        let response = reqwest::get(format!("{}/metrics", api.base))
            .await
            .expect("api answers");
        assert_eq!(response.status(), 200);
        parse(&response.text().await.expect("body"))
    };
    let requests = |route: &str, method: &str, status: &str| {
        value(
            &api_samples,
            "hookstream_api_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(
        requests("/webhooks", "POST", "200"),
        2.0,
        "{api_samples:#?}"
    );
    assert!(
        requests("/webhooks/{id}", "GET", "404") >= 1.0,
        "the GET that saw the removal, by its declared route: {api_samples:#?}"
    );

    let buckets = samples
        .keys()
        .filter(|(name, _)| name == "hookstream_delivery_duration_seconds_bucket")
        .count();
    assert!(
        buckets > 10,
        "latency is a histogram with buckets, got {buckets}"
    );
}
