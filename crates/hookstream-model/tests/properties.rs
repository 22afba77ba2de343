//! Properties of the codecs: every record survives a round trip, and no input makes a
//! decoder panic (it answers a record or an error).

use hookstream_model::*;
use proptest::prelude::*;

fn category() -> impl Strategy<Value = Category> {
    (1i64..=23).prop_map(|key| Category::from_key(key).expect("1 to 23 are categories"))
}

fn op() -> impl Strategy<Value = ChangeOp> {
    prop_oneof![Just(ChangeOp::Create), Just(ChangeOp::Update)]
}

fn change() -> impl Strategy<Value = EntityChange> {
    (
        "\\PC{0,40}",
        category(),
        any::<i64>(),
        op(),
        "\\PC{0,200}",
        any::<i64>(),
        proptest::option::of(any::<i64>()),
    )
        .prop_map(
            |(change_id, category, entity_id, op, data, captured_at, lsn)| EntityChange {
                change_id,
                category,
                entity_id,
                op,
                data,
                captured_at,
                lsn,
            },
        )
}

fn event() -> impl Strategy<Value = WebhookEvent> {
    let reason = prop_oneof![
        Just(RemovalReason::Deleted),
        Just(RemovalReason::Unauthorized),
        Just(RemovalReason::Failing),
    ];
    let event = prop_oneof![
        ("\\PC{1,20}", "\\PC{0,100}", category(), "\\PC{0,64}").prop_map(
            |(account, url, category, secret)| Event::Registered {
                account: AccountId(account),
                url,
                category,
                secret,
            }
        ),
        (any::<i64>(), any::<i64>(), any::<i64>()).prop_map(|(id, first, last)| {
            Event::Failed {
                webhook_id: WebhookId(id),
                first_failed_at: first,
                last_failed_at: last,
            }
        }),
        any::<i64>().prop_map(|id| Event::Recovered {
            webhook_id: WebhookId(id)
        }),
        (any::<i64>(), reason).prop_map(|(id, reason)| Event::Removed {
            webhook_id: WebhookId(id),
            reason,
        }),
    ];
    (any::<i64>(), event).prop_map(|(at, event)| WebhookEvent { at, event })
}

fn job() -> impl Strategy<Value = DeliveryJob> {
    (
        (change(), any::<i64>(), "\\PC{0,40}"),
        (
            any::<i32>(),
            any::<i64>(),
            any::<i32>(),
            any::<i64>(),
            any::<i64>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |((change, webhook, delivery_id), (partition, offset, attempt, first, due, replay))| {
                DeliveryJob {
                    delivery_id,
                    webhook_id: WebhookId(webhook),
                    category: change.category,
                    entity_id: change.entity_id,
                    change_id: change.change_id,
                    op: change.op,
                    data: change.data.into(),
                    source_partition: partition,
                    source_offset: offset,
                    attempt,
                    first_failed_at: first,
                    due_at: due,
                    replay,
                }
            },
        )
}

fn attempt() -> impl Strategy<Value = Attempt> {
    let error = prop_oneof![
        Just(AttemptError::Timeout),
        Just(AttemptError::Connect),
        Just(AttemptError::Tls),
        Just(AttemptError::Dns),
        Just(AttemptError::Redirect),
        Just(AttemptError::Other),
        Just(AttemptError::CircuitOpen),
        Just(AttemptError::Forbidden),
    ];
    let kind = prop_oneof![
        Just(AttemptKind::Change),
        Just(AttemptKind::Replay),
        Just(AttemptKind::Test)
    ];
    (
        ("\\PC{0,40}", any::<i64>(), any::<i64>(), any::<i32>()),
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(error),
            any::<i64>(),
            kind,
            proptest::option::of(category()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<i64>()),
        ),
    )
        .prop_map(
            |(
                (delivery_id, webhook, at, n),
                (status, error, latency_ms, kind, category, entity, version),
            )| {
                Attempt {
                    delivery_id,
                    webhook_id: WebhookId(webhook),
                    at,
                    attempt: n,
                    status,
                    error,
                    latency_ms,
                    kind,
                    category,
                    entity_id: entity,
                    version,
                }
            },
        )
}

fn round_trips<T: AvroRecord + PartialEq + std::fmt::Debug>(
    record: T,
) -> Result<(), TestCaseError> {
    let codec = Codec::<T>::new();
    let bytes = codec
        .encode(&record)
        .expect("every record matches its schema");
    prop_assert_eq!(codec.decode(&bytes).expect("decodes"), record);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn changes_round_trip(record in change()) { round_trips(record)?; }

    #[test]
    fn webhook_events_round_trip(record in event()) { round_trips(record)?; }

    #[test]
    fn delivery_jobs_round_trip(record in job()) { round_trips(record)?; }

    #[test]
    fn attempts_round_trip(record in attempt()) { round_trips(record)?; }

    /// Arbitrary bytes, and bytes behind a valid header, are a record or an error.
    #[test]
    fn decoders_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300), valid_header in any::<bool>()) {
        let mut bytes = Vec::new();
        if valid_header {
            let codec = Codec::<EntityChange>::new();
            let sample = codec.encode(&EntityChange {
                change_id: "x".into(),
                category: Category::from_key(1).expect("game"),
                entity_id: 1,
                op: ChangeOp::Create,
                data: "{}".into(),
                captured_at: 0,
                lsn: None,
            }).expect("encodes");
            bytes.extend_from_slice(&sample[..10]);
        }
        bytes.extend_from_slice(&body);
        let _ = Codec::<EntityChange>::new().decode(&bytes);
        let _ = Codec::<WebhookEvent>::new().decode(&bytes);
        let _ = Codec::<DeliveryJob>::new().decode(&bytes);
        let _ = Codec::<Attempt>::new().decode(&bytes);
    }

    /// A valid record cut short or with a flipped byte is an error or another record, never a
    /// panic.
    #[test]
    fn damaged_records_never_panic(record in change(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
        let codec = Codec::<EntityChange>::new();
        let mut bytes = codec.encode(&record).expect("encodes");
        let at = flip.index(bytes.len());
        bytes[at] ^= 0xFF;
        let _ = codec.decode(&bytes);
        let len = cut.index(bytes.len());
        let _ = codec.decode(&bytes[..len]);
    }
}
