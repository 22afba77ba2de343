use hookstream_kafka::log::Fold;
use hookstream_model::{AccountId, Category, Event, RemovalReason, WebhookEvent, WebhookId};

use crate::Store;

fn registered(account: &str, category: Category) -> Option<WebhookEvent> {
    Some(WebhookEvent::now(Event::Registered {
        account: AccountId(account.into()),
        url: format!("http://127.0.0.1:1/{account}"),
        category,
        secret: "s".into(),
    }))
}

fn event(event: Event) -> Option<WebhookEvent> {
    Some(WebhookEvent { at: 1, event })
}

#[test]
fn folds_registration_failure_recovery_and_removal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    assert_eq!(store.next_offset(), 0);

    store
        .apply(0, registered("a", Category::Game))
        .expect("applies");
    store
        .apply(1, registered("b", Category::Game))
        .expect("applies");
    store
        .apply(2, registered("a", Category::Platform))
        .expect("applies");
    assert_eq!(store.next_offset(), 3);

    let ids = |ws: &[crate::Webhook]| ws.iter().map(|w| w.id).collect::<Vec<_>>();
    let sub_ids = |ws: crate::Subscribers| ws.iter().map(|w| w.id).collect::<Vec<_>>();
    assert_eq!(
        sub_ids(store.by_category(Category::Game).expect("reads")),
        [1, 2]
    );
    assert_eq!(
        ids(&store.by_account(&AccountId("a".into())).expect("reads")),
        [1, 3]
    );
    // "a" is not a prefix match for "ab".
    assert!(store
        .by_account(&AccountId("ab".into()))
        .expect("reads")
        .is_empty());

    store
        .apply(
            3,
            event(Event::Failed {
                webhook_id: WebhookId(1),
                first_failed_at: 10,
                last_failed_at: 10,
            }),
        )
        .expect("applies");
    store
        .apply(
            4,
            event(Event::Failed {
                webhook_id: WebhookId(1),
                first_failed_at: 10,
                last_failed_at: 20,
            }),
        )
        .expect("applies");
    let w = store.get(WebhookId(1)).expect("reads").expect("exists");
    assert_eq!((w.first_failed_at, w.last_failed_at), (Some(10), Some(20)));

    store
        .apply(
            5,
            event(Event::Recovered {
                webhook_id: WebhookId(1),
            }),
        )
        .expect("applies");
    let w = store.get(WebhookId(1)).expect("reads").expect("exists");
    assert_eq!((w.first_failed_at, w.last_failed_at), (None, Some(20)));

    store
        .apply(
            6,
            event(Event::Removed {
                webhook_id: WebhookId(1),
                reason: RemovalReason::Deleted,
            }),
        )
        .expect("applies");
    assert_eq!(store.get(WebhookId(1)).expect("reads"), None);
    assert_eq!(
        sub_ids(store.by_category(Category::Game).expect("reads")),
        [2]
    );
    assert_eq!(
        ids(&store.by_account(&AccountId("a".into())).expect("reads")),
        [3]
    );
}

#[test]
fn replayed_offsets_are_ignored_and_state_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path()).expect("opens");
        store
            .apply(0, registered("a", Category::Game))
            .expect("applies");
        // A re-delivered offset changes nothing.
        store
            .apply(0, registered("z", Category::Title))
            .expect("applies");
        // An undecodable record still advances the offset.
        store.apply(1, None).expect("applies");
        store.flush().expect("flushes");
    }
    let store = Store::open(dir.path()).expect("reopens");
    assert_eq!(store.next_offset(), 2);
    let w = store.get(WebhookId(1)).expect("reads").expect("exists");
    assert_eq!(w.account, "a");
    assert!(store
        .by_category(Category::Title)
        .expect("reads")
        .is_empty());
}

#[test]
fn reset_forgets_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    store
        .apply(0, registered("a", Category::Game))
        .expect("applies");
    store.reset().expect("resets");
    assert_eq!(store.next_offset(), 0);
    assert_eq!(store.get(WebhookId(1)).expect("reads"), None);
    assert!(store.by_category(Category::Game).expect("reads").is_empty());
    store
        .apply(0, registered("b", Category::Title))
        .expect("folds again");
    assert_eq!(
        store.get(WebhookId(1)).expect("reads").map(|w| w.account),
        Some("b".into())
    );
}

#[test]
fn corrupt_files_are_rebuilt_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    {
        let store = Store::open(&path).expect("opens");
        store
            .apply(0, registered("a", Category::Game))
            .expect("applies");
        store.flush().expect("flushes");
    }
    // Overwrite every file with garbage.
    for entry in walk(&path) {
        std::fs::write(&entry, b"not a sled file").expect("writes");
    }
    let store = Store::open(&path).expect("rebuilds");
    assert_eq!(store.next_offset(), 0, "folds the log again from the start");
    assert_eq!(store.get(WebhookId(1)).expect("reads"), None);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("lists").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_store_in_use_by_another_process_is_an_error_not_a_rebuild() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    store
        .apply(0, registered("a", Category::Game))
        .expect("applies");
    store.flush().expect("flushes");
    // sled locks its files per process, so the second open runs in a child process.
    let before = walk(dir.path()).len();
    let output = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "tests::open_from_child", "--nocapture"])
        .env("HOOKSTREAM_STORE_CHILD", dir.path())
        .output()
        .expect("child runs");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("child open failed"), "{out}");
    assert_eq!(walk(dir.path()).len(), before, "files left alone");
    assert_eq!(store.next_offset(), 1);
    assert!(store.get(WebhookId(1)).expect("reads").is_some());
}

/// Half of the test above: does something only in its child process.
#[test]
fn open_from_child() {
    if let Some(path) = std::env::var_os("HOOKSTREAM_STORE_CHILD") {
        match Store::open(std::path::Path::new(&path)) {
            Ok(_) => println!("child open succeeded"),
            Err(e) => println!("child open failed: {e}"),
        }
    }
}

#[test]
fn acks_keep_the_newest_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    let acks = store.acks();
    let (w, c) = (WebhookId(3), Category::Game);
    assert_eq!(acks.newest(w, c, 9).expect("reads"), None);
    let seen = acks.read(w, c, 9).expect("reads");
    acks.record(&seen, 5).expect("records");
    let seen = acks.read(w, c, 9).expect("reads");
    assert_eq!(seen.newest, Some(5));
    acks.record(&seen, 2).expect("records");
    assert_eq!(
        acks.newest(w, c, 9).expect("reads"),
        Some(5),
        "an older ack does not go back"
    );
    assert_eq!(acks.newest(w, c, 10).expect("reads"), None);
    assert_eq!(acks.newest(WebhookId(4), c, 9).expect("reads"), None);
    assert_eq!(acks.newest(w, Category::Title, 9).expect("reads"), None);
    store.reset().expect("resets");
    assert_eq!(acks.newest(w, c, 9).expect("reads"), None);
}

#[test]
fn acks_held_in_memory_are_read_before_and_after_their_flush() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, c) = (WebhookId(3), Category::Game);
    {
        let store = Store::open(dir.path()).expect("opens");
        let acks = store.acks();
        let seen = acks.read(w, c, 1).expect("reads");
        acks.record(&seen, 7).expect("records");
        assert_eq!(
            acks.newest(w, c, 1).expect("reads"),
            Some(7),
            "held, not yet flushed"
        );
        acks.flush().expect("flushes");
        assert_eq!(
            acks.newest(w, c, 1).expect("reads"),
            Some(7),
            "read from sled"
        );
        let seen = acks.read(w, c, 2).expect("reads");
        acks.record(&seen, 9).expect("records");
        store.flush().expect("a store flush writes held acks too");
    }
    let store = Store::open(dir.path()).expect("reopens");
    assert_eq!(store.acks().newest(w, c, 1).expect("reads"), Some(7));
    assert_eq!(store.acks().newest(w, c, 2).expect("reads"), Some(9));
}

#[test]
fn folded_answers_raise_versions_and_keep_their_positions() {
    use crate::Folded;
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, c) = (WebhookId(3), Category::Game);
    let folded = |entity, version| Folded {
        webhook: w,
        category: c,
        entity,
        version,
    };
    {
        let store = Store::open(dir.path()).expect("opens");
        let acks = store.acks();
        assert_eq!(acks.position(0).expect("reads"), None);
        // Read by this dispatcher before another's newer answer is folded and flushed.
        let seen = acks.read(w, c, 1).expect("reads");
        acks.fold(&[folded(1, 30), folded(2, 4), folded(2, 3)], 0, 17)
            .expect("folds");
        assert_eq!(acks.newest(w, c, 2).expect("reads"), Some(4), "the larger");
        assert_eq!(acks.position(0).expect("reads"), Some(17), "held");
        acks.flush().expect("flushes");
        acks.record(&seen, 20).expect("records");
        assert_eq!(
            acks.newest(w, c, 1).expect("reads"),
            Some(30),
            "an older own ack held in memory does not hide a newer folded one"
        );
        acks.flush().expect("flushes");
        assert_eq!(
            acks.newest(w, c, 1).expect("reads"),
            Some(30),
            "nor does writing it"
        );
        acks.fold(&[], 1, 5).expect("folds");
        store.flush().expect("flushes");
    }
    let store = Store::open(dir.path()).expect("reopens");
    let acks = store.acks();
    assert_eq!(
        (
            acks.position(0).expect("reads"),
            acks.position(1).expect("reads")
        ),
        (Some(17), Some(5))
    );
    assert_eq!(acks.newest(w, c, 1).expect("reads"), Some(30));
    store.reset().expect("resets");
    assert_eq!(
        acks.position(0).expect("reads"),
        None,
        "a rebuild folds again"
    );
}

#[test]
fn a_removed_webhook_leaves_no_delivery_log_or_acknowledgements() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    store
        .apply(0, registered("a", Category::Game))
        .expect("applies");
    store
        .apply(1, registered("b", Category::Game))
        .expect("applies");
    let now = hookstream_model::now_millis();
    let entry = |webhook: i64, offset: i64| crate::Entry {
        partition: 0,
        offset,
        webhook: WebhookId(webhook),
        at: now,
        delivered: true,
        payload: b"x".to_vec(),
    };
    let log = store.deliveries();
    log.apply(&[entry(1, 0), entry(2, 1), entry(1, 2)], 100)
        .expect("applies");
    let acks = store.acks();
    for webhook in [1, 2] {
        let seen = acks
            .read(WebhookId(webhook), Category::Game, 9)
            .expect("reads");
        acks.record(&seen, 5).expect("records");
    }
    acks.flush().expect("flushes");
    let seen = acks.read(WebhookId(1), Category::Game, 10).expect("reads");
    acks.record(&seen, 6).expect("held in memory only");
    acks.fold(&[], 0, 3).expect("a position");

    store
        .apply(
            2,
            event(Event::Removed {
                webhook_id: WebhookId(1),
                reason: RemovalReason::Deleted,
            }),
        )
        .expect("applies");
    assert!(log.newest(WebhookId(1), 10).expect("reads").is_empty());
    let hours = log.hours(WebhookId(1), now, now).expect("reads");
    assert_eq!((hours[0].delivered, hours[0].failed), (0, 0));
    assert_eq!(
        acks.newest(WebhookId(1), Category::Game, 9).expect("reads"),
        None
    );
    assert_eq!(
        acks.newest(WebhookId(1), Category::Game, 10)
            .expect("reads"),
        None
    );
    // The other webhook keeps its own, and the fold its position.
    assert_eq!(log.newest(WebhookId(2), 10).expect("reads").len(), 1);
    assert_eq!(
        acks.newest(WebhookId(2), Category::Game, 9).expect("reads"),
        Some(5)
    );
    assert_eq!(acks.position(0).expect("reads"), Some(3));
}

#[test]
fn a_batch_folds_like_one_event_at_a_time_and_skips_what_was_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    store
        .apply(0, registered("a", Category::Game))
        .expect("applies");
    let batch = vec![
        (0, registered("a", Category::Game)), // already applied: skipped, not a second webhook
        (1, registered("b", Category::Game)),
        (2, None), // undecodable: only advances the offset
        (
            3,
            event(Event::Removed {
                webhook_id: WebhookId(1),
                reason: RemovalReason::Deleted,
            }),
        ),
    ];
    store.apply_all(&batch).expect("applies the batch");
    assert_eq!(store.next_offset(), 4);
    let ids: Vec<i64> = store
        .by_category(Category::Game)
        .expect("reads")
        .iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(ids, [2], "webhook 1 removed within the batch, 2 registered");
    assert_eq!(store.count(), 1);
}
