use apache_avro::types::Value;
use apache_avro::Schema;

use crate::codec::{write_single_object, AvroRecord, Codec, DecodeError};
use crate::*;

fn change(lsn: Option<i64>) -> EntityChange {
    EntityChange {
        change_id: "0b6c5cf4-1a7f-4c59-9d3e-6f0f1d2a7b10".into(),
        category: Category::GameVersion,
        entity_id: 1942,
        op: ChangeOp::Update,
        data: r#"{"id":1942,"name":"The Witcher 3","tags":[1, 2 ,3],"ü":"ß"}"#.into(),
        captured_at: 1_764_547_200_123,
        lsn,
    }
}

#[track_caller]
fn round_trip<T: AvroRecord + PartialEq + std::fmt::Debug>(record: T) {
    let codec = Codec::<T>::new();
    let bytes = codec.encode(&record).expect("encodes");
    assert_eq!(&bytes[..2], &[0xC3, 0x01]);
    assert_eq!(&bytes[..10], codec.header());
    assert_eq!(codec.decode(&bytes).expect("decodes"), record);
}

#[test]
fn every_record_round_trips() {
    round_trip(change(None));
    round_trip(change(Some(0x16B_3748)));
    for event in [
        Event::Registered {
            account: AccountId("acme".into()),
            url: "https://example.com/hook?x=1".into(),
            category: Category::Title,
            secret: "s3cret".into(),
        },
        Event::Failed {
            webhook_id: WebhookId(7),
            first_failed_at: 10,
            last_failed_at: 20,
        },
        Event::Recovered {
            webhook_id: WebhookId(7),
        },
        Event::Removed {
            webhook_id: WebhookId(7),
            reason: RemovalReason::Unauthorized,
        },
        Event::Removed {
            webhook_id: WebhookId(8),
            reason: RemovalReason::Failing,
        },
    ] {
        round_trip(WebhookEvent { at: 123, event });
    }
    round_trip(DeliveryJob {
        delivery_id: "msg_abc".into(),
        webhook_id: WebhookId(3),
        category: Category::Game,
        entity_id: 5,
        change_id: "c".into(),
        op: ChangeOp::Create,
        data: "{}".into(),
        source_partition: 2,
        source_offset: 99,
        attempt: 4,
        first_failed_at: 1,
        due_at: 2,
        replay: true,
    });
    for (status, error, kind, entity) in [
        (Some(204), None, AttemptKind::Change, Some(5)),
        (
            None,
            Some(AttemptError::Timeout),
            AttemptKind::Replay,
            Some(6),
        ),
        (
            None,
            Some(AttemptError::CircuitOpen),
            AttemptKind::Test,
            None,
        ),
    ] {
        round_trip(Attempt {
            delivery_id: "msg_abc".into(),
            webhook_id: WebhookId(3),
            at: 1,
            attempt: 1,
            status,
            error,
            latency_ms: 12,
            kind,
            category: entity.map(|_| Category::Game),
            entity_id: entity,
            version: entity.map(|e| e * 10),
        });
    }
}

/// The header must be what the Avro library itself writes for single-object encoding.
#[test]
fn header_matches_the_reference_writer() {
    let codec = Codec::<EntityChange>::new();
    let value = change(None).to_value();
    let mut reference = Vec::new();
    apache_avro::GenericSingleObjectWriter::new_with_capacity(codec.schema(), 1024)
        .expect("writer")
        .write_value(value.clone(), &mut reference)
        .expect("reference write");
    assert_eq!(codec.encode_value(value).expect("encodes"), reference);
}

/// A record written before `lsn` existed (schema v1) is read by the current schema.
#[test]
fn old_entity_change_is_read_by_the_new_schema() {
    let v1 = Schema::parse_str(EntityChange::HISTORY[0]).expect("v1 parses");
    let old = Value::Record(vec![
        ("change_id".into(), Value::String("old-1".into())),
        ("category".into(), Value::Int(1)),
        ("entity_id".into(), Value::Long(42)),
        ("op".into(), Value::Enum(0, "create".into())),
        ("data".into(), Value::String(r#"{"id":42}"#.into())),
        ("captured_at".into(), Value::TimestampMillis(5)),
    ]);
    let bytes = write_single_object(&v1, old, "EntityChange").expect("v1 encodes");
    let codec = Codec::<EntityChange>::new();
    assert_ne!(
        &bytes[2..10],
        &codec.fingerprint(),
        "v1 has its own fingerprint"
    );
    let read = codec.decode(&bytes).expect("v1 record decodes");
    assert_eq!(
        read,
        EntityChange {
            change_id: "old-1".into(),
            category: Category::Game,
            entity_id: 42,
            op: ChangeOp::Create,
            data: r#"{"id":42}"#.into(),
            captured_at: 5,
            lsn: None,
        }
    );
}

/// An attempt written before `version` existed (schema v1) is read, without a version.
#[test]
fn old_attempt_is_read_by_the_new_schema() {
    let v1 = Schema::parse_str(Attempt::HISTORY[0]).expect("v1 parses");
    let old = Value::Record(vec![
        ("delivery_id".into(), Value::String("msg_old".into())),
        ("webhook_id".into(), Value::Long(3)),
        ("at".into(), Value::TimestampMillis(7)),
        ("attempt".into(), Value::Int(2)),
        ("status".into(), Value::Union(1, Box::new(Value::Int(200)))),
        ("error".into(), Value::Union(0, Box::new(Value::Null))),
        ("latency_ms".into(), Value::Long(4)),
        ("kind".into(), Value::Enum(0, "change".into())),
        ("category".into(), Value::Union(1, Box::new(Value::Int(1)))),
        (
            "entity_id".into(),
            Value::Union(1, Box::new(Value::Long(42))),
        ),
    ]);
    let bytes = write_single_object(&v1, old, "Attempt").expect("v1 encodes");
    let codec = Codec::<Attempt>::new();
    assert_ne!(
        &bytes[2..10],
        &codec.fingerprint(),
        "v1 has its own fingerprint"
    );
    let read = codec.decode(&bytes).expect("v1 record decodes");
    assert_eq!(
        (read.entity_id, read.status, read.attempt, read.version),
        (Some(42), Some(200), 2, None)
    );
}

#[test]
fn history_schemas_are_readable_by_the_current_ones() {
    use apache_avro::schema_compatibility::SchemaCompatibility;
    fn check<T: AvroRecord>() {
        let current = Codec::<T>::new();
        for old in T::HISTORY {
            let old = Schema::parse_str(old).expect("parses");
            SchemaCompatibility::can_read(&old, current.schema()).expect("compatible");
        }
    }
    check::<EntityChange>();
    check::<Attempt>();
}

#[test]
fn bad_bytes_get_typed_errors() {
    let codec = Codec::<EntityChange>::new();
    let good = codec.encode(&change(None)).expect("encodes");

    assert_eq!(
        codec.decode(&good[..5]),
        Err(DecodeError::Truncated { len: 5 })
    );
    assert_eq!(
        codec.decode(b"{\"json\": \"not avro\"}"),
        Err(DecodeError::NotSingleObject { first: *b"{\"" })
    );
    let mut other_schema = good.clone();
    other_schema[2] ^= 0xFF;
    assert!(matches!(
        codec.decode(&other_schema),
        Err(DecodeError::UnknownSchema { .. })
    ));
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        codec.decode(&trailing),
        Err(DecodeError::TrailingBytes { len: 1, .. })
    ));
    assert!(matches!(
        codec.decode(&good[..good.len() - 3]),
        Err(DecodeError::Avro { .. })
    ));
    // A WebhookEvent is not an EntityChange.
    let event = Codec::<WebhookEvent>::new()
        .encode(&WebhookEvent::now(Event::Recovered {
            webhook_id: WebhookId(1),
        }))
        .expect("encodes");
    assert!(matches!(
        codec.decode(&event),
        Err(DecodeError::UnknownSchema { .. })
    ));
}

#[test]
fn an_out_of_range_category_on_the_wire_is_rejected() {
    let codec = Codec::<EntityChange>::new();
    let mut value = change(None).to_value();
    if let Value::Record(fields) = &mut value {
        fields[1].1 = Value::Int(99);
    }
    let bytes = codec.encode_value(value).expect("schema-valid");
    assert!(matches!(
        codec.decode(&bytes),
        Err(DecodeError::Invalid {
            what: "category",
            ..
        })
    ));
}
