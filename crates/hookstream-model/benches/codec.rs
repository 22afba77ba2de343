//! The Avro single-object codec on the hot path: a change decoded per record by the
//! dispatcher, encoded per change by capture, and a delivery job encoded per retry.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hookstream_model::{Category, ChangeOp, Codec, DeliveryJob, EntityChange, WebhookId};

fn change() -> EntityChange {
    EntityChange {
        change_id: "0b6c5cf4-1a7f-4c59-9d3e-6f0f1d2a7b10".into(),
        category: Category::Game,
        entity_id: 1942,
        op: ChangeOp::Update,
        data: concat!(
            r#"{"id":1942,"name":"The Witcher 3: Wild Hunt","slug":"the-witcher-3-wild-hunt","#,
            r#""summary":"RPG and sequel to The Witcher 2 (2011).","rating":92.5,"#,
            r#""platforms":[6,48,49,130],"genres":[12,31],"updated_at":1700000000}"#
        )
        .into(),
        captured_at: 1_764_547_200_123,
        lsn: Some(0x16_B374_D848),
    }
}

fn codec(c: &mut Criterion) {
    let changes = Codec::<EntityChange>::new();
    let record = change();
    let bytes = changes.encode(&record).expect("encodes");
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    group.bench_function("EntityChange encode", |b| {
        b.iter(|| changes.encode(black_box(&record)).expect("encodes"))
    });
    group.bench_function("EntityChange decode", |b| {
        b.iter(|| changes.decode(black_box(&bytes)).expect("decodes"))
    });

    let jobs = Codec::<DeliveryJob>::new();
    let job = DeliveryJob {
        delivery_id: "msg_4573ae7995e8cda4c8d78c01ae0bed5a".into(),
        webhook_id: WebhookId(17),
        category: record.category,
        entity_id: record.entity_id,
        change_id: record.change_id.clone(),
        op: record.op,
        data: record.data.as_str().into(),
        source_partition: 3,
        source_offset: 123_456,
        attempt: 2,
        first_failed_at: 1_764_547_200_000,
        due_at: 1_764_547_210_000,
        replay: false,
    };
    let job_bytes = jobs.encode(&job).expect("encodes");
    group.bench_function("DeliveryJob encode", |b| {
        b.iter(|| jobs.encode(black_box(&job)).expect("encodes"))
    });
    group.bench_function("DeliveryJob decode", |b| {
        b.iter(|| jobs.decode(black_box(&job_bytes)).expect("decodes"))
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
