//! Per-entity serialisation of attempts.

use std::collections::HashMap;
use std::sync::Arc;

use hookstream_model::DeliveryJob;

/// (webhook id, category key, entity id).
type Key = (i64, i32, i64);

/// One async lock per (webhook, category, entity) with attempts in flight, so that the
/// supersede check, the request and the acknowledgement of one entity's versions never
/// interleave: a retry of an old version cannot overtake a newer one in flight.
#[derive(Default)]
pub struct EntityLocks {
    held: std::sync::Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

impl EntityLocks {
    pub async fn lock(&self, job: &DeliveryJob) -> EntityGuard<'_> {
        let key = (job.webhook_id.0, job.category.key(), job.entity_id);
        let lock = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            held.entry(key).or_default().clone()
        };
        let guard = lock.clone().lock_owned().await;
        EntityGuard {
            locks: self,
            key,
            lock,
            _guard: guard,
        }
    }
}

pub struct EntityGuard<'a> {
    locks: &'a EntityLocks,
    key: Key,
    lock: Arc<tokio::sync::Mutex<()>>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for EntityGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().unwrap_or_else(|p| p.into_inner());
        // Ours, the map's and the guard's: nobody else waits, so the entry can go.
        if Arc::strong_count(&self.lock) <= 3 {
            held.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hookstream_model::{Category, ChangeOp, DeliveryJob, WebhookId};

    use super::EntityLocks;

    fn job(webhook: i64, entity: i64) -> DeliveryJob {
        DeliveryJob {
            delivery_id: "d".into(),
            webhook_id: WebhookId(webhook),
            category: Category::Game,
            entity_id: entity,
            change_id: "c".into(),
            op: ChangeOp::Update,
            data: "{}".into(),
            source_partition: 0,
            source_offset: 0,
            attempt: 1,
            first_failed_at: 0,
            due_at: 0,
            replay: false,
        }
    }

    #[tokio::test]
    async fn one_entity_at_a_time_others_free_and_nothing_left_behind() {
        let locks = EntityLocks::default();
        let held = locks.lock(&job(1, 7)).await;
        let same = tokio::time::timeout(Duration::from_millis(50), locks.lock(&job(1, 7))).await;
        assert!(same.is_err(), "the same (webhook, entity) must wait");
        let _other_entity = locks.lock(&job(1, 8)).await;
        let _other_webhook = locks.lock(&job(2, 7)).await;
        drop(held);
        drop(locks.lock(&job(1, 7)).await);
        drop((_other_entity, _other_webhook));
        assert!(
            locks.held.lock().expect("lock").is_empty(),
            "entries are removed when unused"
        );
    }
}
