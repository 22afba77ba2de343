//! Per-delivery work that is not I/O: the `webhook-id` of a (change, webhook) and the
//! Standard Webhooks signature of the body.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hookstream_dispatch::sign;
use hookstream_model::WebhookId;

fn signing(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign");
    let change_id = "0b6c5cf4-1a7f-4c59-9d3e-6f0f1d2a7b10";
    group.bench_function("delivery_id", |b| {
        b.iter(|| sign::delivery_id(black_box(change_id), black_box(WebhookId(17))))
    });
    for size in [300usize, 4_096] {
        let body = vec![b'x'; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("signature", size), &body, |b, body| {
            b.iter(|| {
                sign::signature(
                    black_box("bench-secret"),
                    "msg_4573ae7995e8cda4c8d78c01ae0bed5a",
                    1_764_547_200,
                    black_box(body),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
