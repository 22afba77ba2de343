//! Subscription matching: the webhooks of a change's category, per change record. Served
//! from memory between folds; a fold (any webhook event) makes the next read scan sled.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hookstream_kafka::log::Fold;
use hookstream_model::{AccountId, Category, Event, WebhookEvent};
use hookstream_store::Store;

fn store_with(webhooks: usize) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    let events: Vec<(i64, Option<WebhookEvent>)> = (0..webhooks)
        .map(|n| {
            let category = if n % 2 == 0 {
                Category::Game
            } else {
                Category::Platform
            };
            let event = WebhookEvent::now(Event::Registered {
                account: AccountId(format!("account-{}", n % 100)),
                url: format!("https://hooks-{n}.example.com/igdb"),
                category,
                secret: format!("secret-{n}"),
            });
            (n as i64, Some(event))
        })
        .collect();
    for chunk in events.chunks(1000) {
        store.apply_all(chunk).expect("folds");
    }
    (dir, store)
}

fn matching(c: &mut Criterion) {
    let mut group = c.benchmark_group("match");
    for webhooks in [200usize, 20_000] {
        let (_dir, store) = store_with(webhooks);
        group.bench_with_input(
            BenchmarkId::new("cached", webhooks / 2),
            &store,
            |b, store| b.iter(|| store.by_category(black_box(Category::Game)).expect("reads")),
        );
        let mut offset = webhooks as i64;
        group.bench_with_input(
            BenchmarkId::new("after a fold", webhooks / 2),
            &store,
            |b, store| {
                b.iter(|| {
                    store.apply(offset, None).expect("folds");
                    offset += 1;
                    store.by_category(black_box(Category::Game)).expect("reads")
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
