//! Acknowledged versions: for each (webhook, entity), the newest version (source offset)
//! that the webhook answered with a 2xx. A due retry of an older version is superseded.
//!
//! Unlike the rest of the store this is not folded from a topic: it is this dispatcher's own
//! record of what it delivered. Losing it only weakens supersede checks (an old version may
//! then be delivered once more after a newer one), never delivery itself.
//!
//! Acknowledgements are held in memory and written to sled in batches, by [`Acks::flush`]
//! (the dispatcher calls it every 200 ms) or when [`FLUSH_AT`] of them are waiting. A crash
//! loses at most those, about what sled's own flush interval would lose anyway.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hookstream_model::{Category, WebhookId};

use crate::store::be_i64;
use crate::StoreError;

type Key = [u8; 17];

/// Acknowledgements not yet in sled. Written in batches: one sled write per acknowledgement
/// costs more than the delivery it records.
#[derive(Default)]
struct Pending {
    /// Recorded since the last flush began.
    dirty: HashMap<Key, i64>,
    /// Being written by a flush; still read from until it is in sled.
    flushing: Arc<HashMap<Key, i64>>,
}

/// The acknowledged-versions tree.
#[derive(Clone)]
pub struct Acks {
    pub(crate) path: PathBuf,
    pub(crate) tree: sled::Tree,
    pending: Arc<Mutex<Pending>>,
}

/// Acknowledgements held in memory before a flush is due.
const FLUSH_AT: usize = 4096;

impl Acks {
    pub(crate) fn new(path: PathBuf, tree: sled::Tree) -> Acks {
        Acks {
            path,
            tree,
            pending: Arc::default(),
        }
    }

    fn key(webhook: WebhookId, category: Category, entity: i64) -> Key {
        let mut key = [0u8; 17];
        key[..8].copy_from_slice(&webhook.0.to_be_bytes());
        key[8] = category.key() as u8;
        key[9..].copy_from_slice(&entity.to_be_bytes());
        key
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    /// Reads the newest acknowledged version of one (webhook, entity).
    pub fn read(
        &self,
        webhook: WebhookId,
        category: Category,
        entity: i64,
    ) -> Result<Acked, StoreError> {
        let key = Self::key(webhook, category, entity);
        let held = {
            let pending = self.pending();
            pending
                .dirty
                .get(&key)
                .or_else(|| pending.flushing.get(&key))
                .copied()
        };
        let newest = match held {
            Some(version) => Some(version),
            None => {
                let value = self.tree.get(key).map_err(|e| self.err(e))?;
                value.and_then(|b| be_i64(&b))
            }
        };
        Ok(Acked { key, newest })
    }

    /// The newest acknowledged version, if any.
    pub fn newest(
        &self,
        webhook: WebhookId,
        category: Category,
        entity: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.read(webhook, category, entity).map(|a| a.newest)
    }

    /// Records that `version` was acknowledged, unless what `seen` read is as new. Held in
    /// memory until the next [`Acks::flush`] (at most [`FLUSH_AT`] of them); no read: the caller holds the (webhook, entity) from its [`Acks::read`] to this call,
    /// so no other acknowledgement of it came in between.
    pub fn record(&self, seen: &Acked, version: i64) -> Result<(), StoreError> {
        if seen.newest.is_some_and(|newest| newest >= version) {
            return Ok(());
        }
        let due = {
            let mut pending = self.pending();
            pending.dirty.insert(seen.key, version);
            pending.dirty.len() >= FLUSH_AT
        };
        if due {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the acknowledgements held in memory to sled, in one batch.
    pub fn flush(&self) -> Result<(), StoreError> {
        let batch = {
            let mut pending = self.pending();
            if pending.dirty.is_empty() || !pending.flushing.is_empty() {
                return Ok(()); // nothing to do, or another flush is writing
            }
            let dirty = std::mem::take(&mut pending.dirty);
            pending.flushing = Arc::new(dirty);
            pending.flushing.clone()
        };
        let mut writes = sled::Batch::default();
        for (key, version) in batch.iter() {
            writes.insert(key, &version.to_be_bytes());
        }
        let written = self.tree.apply_batch(writes).map_err(|e| self.err(e));
        let mut pending = self.pending();
        if written.is_err() {
            // Keep them for the next flush; newer records of the same keys win.
            for (key, version) in batch.iter() {
                pending.dirty.entry(*key).or_insert(*version);
            }
        }
        pending.flushing = Arc::default();
        written
    }

    /// Forgets what is held in memory (the store is being rebuilt).
    pub(crate) fn forget_pending(&self) {
        let mut pending = self.pending();
        pending.dirty.clear();
        pending.flushing = Arc::default();
    }
}

/// What [`Acks::read`] found for one (webhook, entity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acked {
    key: [u8; 17],
    /// The newest acknowledged version, if any was.
    pub newest: Option<i64>,
}
