//! Poison records: what no process can read goes to `hookstream.dlq` with the reason, is
//! counted, and stalls nothing (the records after it on the same partition are delivered).

use hookstream_model::{now_millis, Category, ChangeOp, Codec, EntityChange};
use hookstream_tests::kafka::{dead_letters, produce};
use hookstream_tests::stack::ALICE;
use hookstream_tests::{eventually, Receiver, Stack, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_records_go_to_the_dead_letter_topic_and_stall_nothing() {
    let stack = Stack::new("poison");
    let (dev, api, ingest) = stack.dev();
    let first = Receiver::start(200).await;
    api.register(ALICE, &first.url, 1, "s").await;
    let p = &stack.ns.prefix;
    let (game, webhooks, dlq) = (
        format!("{p}igdb.game"),
        format!("{p}hs.webhooks"),
        format!("{p}hs.dlq"),
    );

    // On the partition of entity 42 (the key decides it), ahead of its next change.
    let platform_change = Codec::<EntityChange>::new()
        .encode(&EntityChange {
            change_id: "c-1".into(),
            category: Category::from_key(11).expect("platform"),
            entity_id: 42,
            op: ChangeOp::Update,
            data: r#"{"id":42}"#.into(),
            captured_at: now_millis(),
            lsn: None,
        })
        .expect("encodes");
    let mut unknown_schema = vec![0xC3, 0x01];
    unknown_schema.extend_from_slice(&[0xAB; 8]);
    unknown_schema.extend_from_slice(b"\x02\x04xy");
    let poison: [(&str, Option<&[u8]>); 4] = [
        ("garbage", Some(b"not avro at all")),
        ("empty", None),
        ("unknown schema", Some(&unknown_schema)),
        ("wrong topic", Some(&platform_change)),
    ];
    for (_, payload) in &poison {
        produce(&game, b"42", *payload).await;
    }
    // And one on the webhook log, which every API and dispatcher folds.
    produce(&webhooks, b"", Some(b"\xC3\x01garbage")).await;

    // Both still move: a webhook registered after the bad event, a change after the bad ones.
    let second = Receiver::start(200).await;
    api.register(ALICE, &second.url, 1, "s").await;
    ingest
        .change(1, 42, "update", r#"{"id":42,"ok":true}"#)
        .await;
    for receiver in [&first, &second] {
        receiver.wait_for_body(r#""ok":true"#, WAIT).await;
    }

    let letters = eventually("five dead letters", WAIT, || async {
        let letters = dead_letters(&dlq);
        (letters.len() >= 5).then_some(letters)
    })
    .await;
    let from = |topic: &str| -> Vec<_> {
        letters
            .iter()
            .filter(|l| l.headers.get("hookstream-dlq-topic").map(String::as_str) == Some(topic))
            .collect()
    };
    let on_game = from(&game);
    assert_eq!(on_game.len(), 4, "{letters:#?}");
    for ((what, payload), letter) in poison.iter().zip(&on_game) {
        assert_eq!(
            letter.payload.as_deref(),
            *payload,
            "{what}: kept byte for byte"
        );
        assert!(
            letter
                .headers
                .get("hookstream-dlq-reason")
                .is_some_and(|r| !r.is_empty()),
            "{what}: {letter:?}"
        );
        assert_eq!(letter.headers["hookstream-dlq-key"], "42", "{what}");
        assert_eq!(letter.headers["hookstream-dlq-service"], "dispatch");
    }
    assert!(
        on_game[3].headers["hookstream-dlq-reason"].contains("on topic"),
        "{:?}",
        on_game[3]
    );
    assert!(
        !from(&webhooks).is_empty(),
        "the bad webhook-log event too: {letters:#?}"
    );

    let metrics = reqwest::get(format!("http://{}/metrics", dev.addr("dispatch")))
        .await
        .expect("dispatch answers")
        .text()
        .await
        .expect("body");
    let counted = format!("hookstream_dead_letters_total{{topic=\"{game}\"}} 4");
    assert!(metrics.contains(&counted), "{counted} in\n{metrics}");
}
