//! Change capture from PostgreSQL (logical decoding, pgoutput) onto the category topics.

use hookstream_model::{Category, ChangeOp};
use hookstream_tests::kafka::changes;
use hookstream_tests::postgres::Database;
use hookstream_tests::stack::ALICE;
use hookstream_tests::{eventually, Proc, Receiver, Stack, WAIT};
use serde_json::{json, Value};

fn wait_started(capture: &Proc) {
    capture.wait_log("PostgreSQL source started", WAIT, |v| {
        v["fields"]["message"] == "PostgreSQL source started"
    });
}

async fn wait_for_changes(
    topic: &str,
    count: usize,
) -> Vec<(String, hookstream_model::EntityChange)> {
    eventually(&format!("{count} changes on {topic}"), WAIT, || async {
        let got = changes(topic);
        (got.len() >= count).then_some(got)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_and_updates_reach_their_topics_deletes_and_unmapped_tables_do_not() {
    let mut stack = Stack::new("pg-basic");
    let db = Database::create(&stack.ns.prefix).await;
    db.execute(
        "CREATE TABLE games (id bigint PRIMARY KEY, name text, rating numeric(5,2), updated_at timestamptz);
         CREATE TABLE platforms (id int PRIMARY KEY, name text);
         CREATE TABLE secrets (id int PRIMARY KEY, v text);",
    )
    .await;
    stack.config_file(&db.capture_config(&[("games", "game"), ("public.platforms", "11")]));
    let capture = stack.spawn("capture", "capture");
    wait_started(&capture);

    db.execute("INSERT INTO games VALUES (1, 'Doom', 90.5, '2015-05-19 00:00:00+00')")
        .await;
    db.execute("INSERT INTO platforms VALUES (6, 'PC')").await;
    db.execute("UPDATE games SET rating = 91.25 WHERE id = 1")
        .await;
    db.execute("INSERT INTO secrets VALUES (1, 'not for webhooks')")
        .await;
    db.execute("DELETE FROM games WHERE id = 1").await;
    db.execute("BEGIN; INSERT INTO platforms VALUES (7, 'marker'); COMMIT;")
        .await;

    let p = &stack.ns.prefix;
    let platforms = wait_for_changes(&format!("{p}igdb.platform"), 2).await;
    let games = changes(&format!("{p}igdb.game"));
    assert_eq!(games.len(), 2, "create and update, no delete: {games:?}");
    let (key, create) = &games[0];
    assert_eq!(
        (key.as_str(), create.entity_id, create.op, create.category),
        ("1", 1, ChangeOp::Create, Category::Game)
    );
    assert_eq!(
        create.data,
        r#"{"id":1,"name":"Doom","rating":90.50,"updated_at":1431993600}"#
    );
    let (_, update) = &games[1];
    assert_eq!(update.op, ChangeOp::Update);
    assert_eq!(
        update.data,
        r#"{"id":1,"name":"Doom","rating":91.25,"updated_at":1431993600}"#
    );
    assert!(
        create.lsn.is_some() && update.lsn > create.lsn,
        "records carry commit LSNs in commit order"
    );
    assert!(create.change_id.starts_with("pg:"));
    let platform_ids: Vec<i64> = platforms.iter().map(|(_, c)| c.entity_id).collect();
    assert_eq!(platform_ids.len(), 2);
    assert!(platform_ids.contains(&6) && platform_ids.contains(&7));
    // Nothing else anywhere: the unmapped table and the delete published nothing.
    let total: usize = Category::ALL
        .iter()
        .map(|c| changes(&c.topic(&format!("{p}igdb."))).len())
        .sum();
    assert_eq!(total, 4);

    // What capture did is on its /metrics: counts by op and category, the delete, the lag.
    let metrics = reqwest::get(format!("http://{}/metrics", capture.addr("capture")))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("text");
    let has = |name: &str, labels: &[&str], value: &str| {
        metrics.lines().any(|l| {
            l.starts_with(name)
                && labels.iter().all(|x| l.contains(x))
                && l.ends_with(&format!(" {value}"))
        })
    };
    assert!(
        has(
            "hookstream_capture_changes_total",
            &["op=\"update\"", "category=\"game\""],
            "1"
        ),
        "{metrics}"
    );
    assert!(
        has(
            "hookstream_capture_changes_total",
            &["op=\"create\"", "category=\"platform\""],
            "2"
        ),
        "{metrics}"
    );
    assert!(
        has("hookstream_capture_deletes_ignored_total", &[], "1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hookstream_capture_lag_bytes"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hookstream_capture_lag_seconds"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_supported_type_round_trips_to_json() {
    let mut stack = Stack::new("pg-types");
    let db = Database::create(&stack.ns.prefix).await;
    db.execute(
        "CREATE TABLE kinds (
           id bigint PRIMARY KEY, b bool, i2 int2, i4 int4, i8 int8, f4 real, f8 double precision,
           n numeric, t text, vc varchar(10), ts timestamptz, tsn timestamp, d date, j json,
           jb jsonb, ai int[], at text[], an numeric[], nul text, u uuid)",
    )
    .await;
    stack.config_file(&db.capture_config(&[("kinds", "keyword")]));
    let capture = stack.spawn("capture", "capture");
    wait_started(&capture);
    db.execute(
        r#"INSERT INTO kinds VALUES (
             9, true, -2, 2147483647, 9007199254740993, 1.5, 0.1, 12345678901234567890.123,
             'Geralt "of" Rivia', 'ü', '2015-05-19 02:00:00+02', '2015-05-19 00:00:00',
             '2015-05-19', '{"a": [1, 2]}', '{"b": {"c": null}}', '{1,2,3}',
             '{"with space",plain,NULL}', '{1.50,2}', NULL, '0b6c5cf4-1a7f-4c59-9d3e-6f0f1d2a7b10')"#,
    )
    .await;
    let got = wait_for_changes(&format!("{}igdb.keyword", stack.ns.prefix), 1).await;
    let data = &got[0].1.data;
    // Integers and numerics keep every digit (2^53 + 1 would not survive a float).
    assert!(data.contains(r#""i8":9007199254740993"#), "{data}");
    assert!(data.contains(r#""n":12345678901234567890.123"#), "{data}");
    let value: Value = serde_json::from_str(data).expect("valid JSON");
    assert_eq!(
        value,
        json!({
            "id": 9, "b": true, "i2": -2, "i4": 2147483647, "i8": 9007199254740993_i64, "f4": 1.5,
            "f8": 0.1, "n": 12345678901234567890.123, "t": "Geralt \"of\" Rivia", "vc": "ü",
            "ts": 1431993600, "tsn": 1431993600, "d": "2015-05-19", "j": {"a": [1, 2]},
            "jb": {"b": {"c": null}}, "ai": [1, 2, 3], "at": ["with space", "plain", null],
            "an": [1.5, 2], "nul": null, "u": "0b6c5cf4-1a7f-4c59-9d3e-6f0f1d2a7b10"
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_toasted_column_survives_an_update_of_another() {
    let mut stack = Stack::new("pg-toast");
    let db = Database::create(&stack.ns.prefix).await;
    db.execute("CREATE TABLE games (id bigint PRIMARY KEY, name text, summary text)")
        .await;
    stack.config_file(&db.capture_config(&[("games", "game")]));
    let capture = stack.spawn("capture", "capture");
    wait_started(&capture);
    // ~190 KB of hex digits: stored out of line (TOAST) even after compression.
    db.execute("INSERT INTO games SELECT 1, 'Doom', string_agg(md5(i::text), '') FROM generate_series(1, 6000) i").await;
    db.execute("UPDATE games SET name = 'DOOM' WHERE id = 1")
        .await;
    let got = wait_for_changes(&format!("{}igdb.game", stack.ns.prefix), 2).await;
    let summary = |data: &str| {
        serde_json::from_str::<Value>(data).expect("json")["summary"]
            .as_str()
            .map(str::len)
    };
    assert_eq!(summary(&got[0].1.data), Some(6000 * 32));
    assert_eq!(
        summary(&got[1].1.data),
        Some(6000 * 32),
        "the unchanged TOASTed value is in the update"
    );
    assert!(got[1].1.data.contains(r#""name":"DOOM""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_in_postgresql_reaches_the_webhook() {
    let mut stack = Stack::new("pg-e2e");
    let db = Database::create(&stack.ns.prefix).await;
    db.execute("CREATE TABLE games (id bigint PRIMARY KEY, name text, rating numeric); INSERT INTO games VALUES (1942, 'The Witcher 3', 92)").await;
    stack.config_file(&db.capture_config(&[("games", "game")]));
    let (dev, api, _ingest) = stack.dev();
    wait_started(&dev);
    let receiver = Receiver::start(200).await;
    api.register(ALICE, &receiver.url, 1, "s").await;
    db.execute("UPDATE games SET name = 'The Witcher 3: Wild Hunt' WHERE id = 1942")
        .await;
    let got = receiver.wait_for_body("Wild Hunt", WAIT).await;
    assert_eq!(
        got.body,
        r#"{"id":1942,"name":"The Witcher 3: Wild Hunt","rating":92}"#
    );
    assert_eq!(got.header("x-hookstream-event"), "update");
    assert_eq!(got.header("x-hookstream-category"), "game");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_a_clear_error() {
    let mut stack = Stack::new("pg-missing");
    let db = Database::create(&stack.ns.prefix).await;
    stack.config_file(&db.capture_config(&[("no_such_table", "game")]));
    let mut capture = stack.spawn("capture", "capture");
    capture.wait_log("the missing table error", WAIT, |v| {
        v["fields"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("table public.no_such_table does not exist"))
    });
    assert_eq!(
        capture.terminate(WAIT),
        Some(1),
        "capture stops with an error"
    );
}

/// SIGKILL capture in the middle of a 10,000-row workload and start it again: every committed
/// change is on Kafka, in commit order per entity. Duplicates (re-sent after the kill) are
/// counted, not forbidden.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_capture_mid_workload_and_restart_loses_nothing() {
    let mut stack = Stack::new("pg-kill");
    let db = Database::create(&stack.ns.prefix).await;
    db.execute("CREATE TABLE games (id bigint PRIMARY KEY, v int NOT NULL)")
        .await;
    let config = db.capture_config_with(&[("games", "game")], "batch_changes = 500\n");
    stack.config_file(&config);
    let mut first = stack.spawn("capture-1", "capture");
    wait_started(&first);

    let started = std::time::Instant::now();
    let workload = {
        let url = db.url.clone();
        tokio::spawn(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connects");
            tokio::spawn(connection);
            for t in 0..100 {
                let sql = format!(
                    "INSERT INTO games SELECT i, 0 FROM generate_series({}, {}) i",
                    t * 100 + 1,
                    t * 100 + 100
                );
                client.batch_execute(&sql).await.expect("insert");
            }
            for _ in 0..3 {
                client
                    .batch_execute("UPDATE games SET v = v + 1 WHERE id <= 100")
                    .await
                    .expect("update");
            }
        })
    };
    let topic = format!("{}igdb.game", stack.ns.prefix);
    wait_for_changes(&topic, 2_000).await;
    first.kill();
    let killed_at = hookstream_model::now_millis();
    let at_kill = changes(&topic).len();
    workload.await.expect("workload");

    let restarted = std::time::Instant::now();
    let _second = stack.spawn("capture-2", "capture");
    const EXPECTED: usize = 10_000 + 300;
    let got = eventually("every committed change on Kafka", WAIT, || async {
        let got = changes(&topic);
        let distinct: std::collections::HashSet<&str> =
            got.iter().map(|(_, c)| c.change_id.as_str()).collect();
        (distinct.len() >= EXPECTED).then_some(got)
    })
    .await;
    let caught_up = restarted.elapsed();

    // Per entity, in commit order: LSNs never go back, versions climb 0, 1, 2, 3.
    let mut by_entity: std::collections::HashMap<i64, Vec<&hookstream_model::EntityChange>> =
        Default::default();
    for (key, change) in &got {
        assert_eq!(key, &change.entity_id.to_string());
        by_entity.entry(change.entity_id).or_default().push(change);
    }
    assert_eq!(by_entity.len(), 10_000);
    for (id, list) in &by_entity {
        assert!(
            list.windows(2).all(|w| w[0].lsn <= w[1].lsn),
            "entity {id} out of commit order"
        );
        let v = |c: &hookstream_model::EntityChange| {
            serde_json::from_str::<Value>(&c.data).expect("json")["v"].as_i64()
        };
        assert!(
            list.windows(2).all(|w| v(w[0]) <= v(w[1])),
            "entity {id} went back a version"
        );
        let expected_last = if *id <= 100 { 3 } else { 0 };
        assert_eq!(
            list.last().and_then(|c| v(c)),
            Some(expected_last),
            "entity {id}"
        );
    }
    let duplicates = got.len() - EXPECTED;
    // Lag: from the commit in PostgreSQL to the record on Kafka, for what the first capture
    // published before it was killed (the rest waited for the restart on purpose).
    let mut lags: Vec<i64> = hookstream_tests::kafka::changes_timed(&topic)
        .iter()
        .filter(|(_, _, at)| *at < killed_at)
        .map(|(_, c, at)| at - c.captured_at)
        .collect();
    lags.sort_unstable();
    let percentile = |p: f64| {
        lags.get(((lags.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    eprintln!(
        "pg-kill: capture lag commit -> Kafka before the kill: p50 {} ms, p99 {} ms, max {} ms",
        percentile(0.5),
        percentile(0.99),
        percentile(1.0)
    );
    eprintln!(
        "pg-kill: {EXPECTED} committed changes; {at_kill} on Kafka when capture was killed after {:.1} s; \
         {} records after the restart ({duplicates} duplicates); caught up {:.1} s after the restart ({:.0} changes/s)",
        started.elapsed().as_secs_f64() - caught_up.as_secs_f64(),
        got.len(),
        caught_up.as_secs_f64(),
        (EXPECTED - at_kill.min(EXPECTED)) as f64 / caught_up.as_secs_f64()
    );
}

/// PostgreSQL restarted under a running capture: it reconnects and continues without loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_survives_a_postgresql_restart() {
    let server = hookstream_tests::postgres::OwnServer::start();
    let mut stack = Stack::new("pg-restart");
    let db = Database::create_on(&server.url(), &stack.ns.prefix).await;
    db.execute("CREATE TABLE games (id bigint PRIMARY KEY, v int NOT NULL)")
        .await;
    stack.config_file(&db.capture_config(&[("games", "game")]));
    let capture = stack.spawn("capture", "capture");
    wait_started(&capture);
    db.execute("INSERT INTO games SELECT i, 0 FROM generate_series(1, 500) i")
        .await;
    let topic = format!("{}igdb.game", stack.ns.prefix);
    wait_for_changes(&topic, 500).await;

    server.restart();
    // A new connection of the test's own; capture finds its way back by itself.
    let db = Database::reconnect(&db).await;
    db.execute("INSERT INTO games SELECT i, 1 FROM generate_series(501, 1000) i")
        .await;
    db.execute("UPDATE games SET v = 2 WHERE id <= 10").await;
    let got = eventually("every change after the restart", WAIT, || async {
        let got = changes(&topic);
        let distinct: std::collections::HashSet<String> =
            got.iter().map(|(_, c)| c.change_id.clone()).collect();
        (distinct.len() >= 1010).then_some(got)
    })
    .await;
    let ids: std::collections::HashSet<i64> = got.iter().map(|(_, c)| c.entity_id).collect();
    assert_eq!(ids.len(), 1000, "every row, before and after the restart");
    assert!(
        capture.log_text().contains("reconnecting"),
        "it noticed the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_logical_wal_is_a_clear_error() {
    let server = hookstream_tests::postgres::OwnServer::start_with_wal_level("replica");
    let mut stack = Stack::new("pg-wal");
    let db = Database::create_on(&server.url(), &stack.ns.prefix).await;
    db.execute("CREATE TABLE games (id bigint PRIMARY KEY)")
        .await;
    stack.config_file(&db.capture_config(&[("games", "game")]));
    let mut capture = stack.spawn("capture", "capture");
    capture.wait_log("the wal_level error", WAIT, |v| {
        v["fields"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("wal_level=replica") && e.contains("wal_level=logical"))
    });
    assert_eq!(
        capture.terminate(WAIT),
        Some(1),
        "capture stops with an error"
    );
}

/// Snapshot + stream: rows that existed before capture first started and rows changed while
/// the snapshot was taken all arrive, the newest version last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_stream_misses_nothing() {
    let mut stack = Stack::new("pg-snapshot");
    let db = Database::create(&stack.ns.prefix).await;
    db.execute("CREATE TABLE games (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO games SELECT i, 0 FROM generate_series(1, 3000) i").await;
    let config = db.capture_config_with(&[("games", "game")], "snapshot = true\n");
    stack.config_file(&config);
    let capture = stack.spawn("capture", "capture");
    // Change rows while capture starts and takes the snapshot.
    for round in 1..=5 {
        db.execute(&format!(
            "UPDATE games SET v = {round} WHERE id <= 50; INSERT INTO games VALUES ({}, {round})",
            3000 + round
        ))
        .await;
    }
    wait_started(&capture);
    db.execute("UPDATE games SET v = 9 WHERE id = 1").await;

    let topic = format!("{}igdb.game", stack.ns.prefix);
    let got = eventually("every row and every change", WAIT, || async {
        let got = changes(&topic);
        let last_of_1 = got
            .iter()
            .rev()
            .find(|(_, c)| c.entity_id == 1)
            .map(|(_, c)| c.data.clone());
        let ids: std::collections::HashSet<i64> = got.iter().map(|(_, c)| c.entity_id).collect();
        (ids.len() == 3005 && last_of_1.as_deref() == Some(r#"{"id":1,"v":9}"#)).then_some(got)
    })
    .await;
    let v = |c: &hookstream_model::EntityChange| {
        serde_json::from_str::<Value>(&c.data).expect("json")["v"].as_i64()
    };
    for id in 2..=50 {
        let last = got
            .iter()
            .rev()
            .find(|(_, c)| c.entity_id == id)
            .map(|(_, c)| v(c));
        assert_eq!(
            last,
            Some(Some(5)),
            "entity {id} ends at its newest version"
        );
    }
    assert!(capture.log_text().contains("snapshot published"));
}
