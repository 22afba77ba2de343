//! Acknowledged versions: for each (webhook, entity), the newest version (source offset)
//! that the webhook answered with a 2xx. A due retry of an older version is superseded.
//!
//! Two sources feed it: this dispatcher's own deliveries ([`Acks::record`], under the
//! entity's lock) and the 2xx answers every dispatcher records on `hookstream.attempts`
//! ([`Acks::fold`], with how far each partition was read), so a retry that another
//! dispatcher's newer delivery superseded is dropped here too. Versions only grow: every
//! write keeps the larger of the old and the new. Losing the tree only weakens supersede
//! checks (an old version may then be delivered once more after a newer one), never delivery
//! itself.
//!
//! Acknowledgements are held in memory and written to sled in batches, by [`Acks::flush`]
//! (the dispatcher calls it every 200 ms) or when [`FLUSH_AT`] of them are waiting. A crash
//! loses at most those, about what sled's own flush interval would lose anyway; the folded
//! positions are written in the same batch, so a crash folds those records again.

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
    /// Per partition of the acks topic, the next offset to fold, since the last flush.
    positions: HashMap<i32, i64>,
    /// A flush is writing (it may carry positions only, so `flushing` can be empty).
    writing: bool,
}

impl Pending {
    /// Holds `version` for `key` unless a larger one is held.
    fn raise(&mut self, key: Key, version: i64) {
        let held = self.dirty.entry(key).or_insert(version);
        *held = (*held).max(version);
    }
}

/// One 2xx answer read from the attempts topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Folded {
    pub webhook: WebhookId,
    pub category: Category,
    pub entity: i64,
    pub version: i64,
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

    /// Keys of folded positions: 5 bytes, so never the 17 of an acknowledgement.
    fn position_key(partition: i32) -> [u8; 5] {
        let mut key = [b'p', 0, 0, 0, 0];
        key[1..].copy_from_slice(&partition.to_be_bytes());
        key
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
                .copied()
                .max(pending.flushing.get(&key).copied())
        };
        let stored = self.tree.get(key).map_err(|e| self.err(e))?;
        let newest = held.max(stored.and_then(|b| be_i64(&b)));
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
    /// memory until the next [`Acks::flush`] (at most [`FLUSH_AT`] of them), without a read:
    /// the caller holds the entity's lock from its [`Acks::read`] to this call, and a newer
    /// version folded meanwhile from another dispatcher is kept, since every write keeps the
    /// larger one.
    pub fn record(&self, seen: &Acked, version: i64) -> Result<(), StoreError> {
        if seen.newest.is_some_and(|newest| newest >= version) {
            return Ok(());
        }
        let due = {
            let mut pending = self.pending();
            pending.raise(seen.key, version);
            pending.dirty.len() >= FLUSH_AT
        };
        if due {
            self.flush()?;
        }
        Ok(())
    }

    /// Folds 2xx answers read from the attempts topic, and that `partition` was read up to
    /// `next` (exclusive). Held in memory like [`Acks::record`]'s.
    pub fn fold(&self, folded: &[Folded], partition: i32, next: i64) -> Result<(), StoreError> {
        let due = {
            let mut pending = self.pending();
            for f in folded {
                pending.raise(Self::key(f.webhook, f.category, f.entity), f.version);
            }
            pending.positions.insert(partition, next);
            pending.dirty.len() >= FLUSH_AT
        };
        if due {
            self.flush()?;
        }
        Ok(())
    }

    /// The next offset of `partition` of the attempts topic to fold, if any was folded.
    pub fn position(&self, partition: i32) -> Result<Option<i64>, StoreError> {
        if let Some(next) = self.pending().positions.get(&partition) {
            return Ok(Some(*next));
        }
        let stored = self
            .tree
            .get(Self::position_key(partition))
            .map_err(|e| self.err(e))?;
        Ok(stored.and_then(|b| be_i64(&b)))
    }

    /// Writes the acknowledgements and positions held in memory to sled, in one batch. Only
    /// one flush writes at a time, so reading the stored version and writing the larger one
    /// races with nothing.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (batch, positions) = {
            let mut pending = self.pending();
            if (pending.dirty.is_empty() && pending.positions.is_empty()) || pending.writing {
                return Ok(()); // nothing to do, or another flush is writing
            }
            pending.writing = true;
            let dirty = std::mem::take(&mut pending.dirty);
            pending.flushing = Arc::new(dirty);
            (
                pending.flushing.clone(),
                std::mem::take(&mut pending.positions),
            )
        };
        let written = self.write(&batch, &positions);
        let mut pending = self.pending();
        if written.is_err() {
            // Keep them for the next flush; versions merge by maximum, newer positions win.
            for (key, version) in batch.iter() {
                pending.raise(*key, *version);
            }
            for (partition, next) in positions {
                pending.positions.entry(partition).or_insert(next);
            }
        }
        pending.flushing = Arc::default();
        pending.writing = false;
        written
    }

    fn write(
        &self,
        batch: &HashMap<Key, i64>,
        positions: &HashMap<i32, i64>,
    ) -> Result<(), StoreError> {
        let mut writes = sled::Batch::default();
        for (key, version) in batch {
            let stored = self.tree.get(key).map_err(|e| self.err(e))?;
            let newest = stored
                .and_then(|b| be_i64(&b))
                .map_or(*version, |s| s.max(*version));
            writes.insert(key, &newest.to_be_bytes());
        }
        for (partition, next) in positions {
            writes.insert(&Self::position_key(*partition), &next.to_be_bytes());
        }
        self.tree.apply_batch(writes).map_err(|e| self.err(e))
    }

    /// Drops the acknowledged versions of `webhook` (it was removed).
    pub(crate) fn forget(&self, webhook: WebhookId) -> Result<(), StoreError> {
        let prefix = webhook.0.to_be_bytes();
        self.pending()
            .dirty
            .retain(|key, _| !key.starts_with(&prefix));
        // Position keys are 5 bytes long, so no 8-byte prefix finds them.
        let mut batch = sled::Batch::default();
        for key in self.tree.scan_prefix(prefix).keys() {
            batch.remove(key.map_err(|e| self.err(e))?);
        }
        self.tree.apply_batch(batch).map_err(|e| self.err(e))
    }

    /// Forgets what is held in memory (the store is being rebuilt).
    pub(crate) fn forget_pending(&self) {
        let mut pending = self.pending();
        pending.dirty.clear();
        pending.flushing = Arc::default();
        pending.positions.clear();
    }
}

/// What [`Acks::read`] found for one (webhook, entity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acked {
    key: [u8; 17],
    /// The newest acknowledged version, if any was.
    pub newest: Option<i64>,
}
