//! The delivery log: the newest attempts of each webhook, folded from `hookstream.attempts`,
//! at most `keep` per webhook.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hookstream_model::{UnixMillis, WebhookId};

use crate::StoreError;

/// One attempt record as read from the topic: where it was, whose it is, its bytes.
#[derive(Debug, Clone)]
pub struct Entry {
    pub partition: i32,
    pub offset: i64,
    pub webhook: WebhookId,
    pub at: UnixMillis,
    /// The record as it was on the topic (Avro single-object encoded).
    pub payload: Vec<u8>,
}

/// Attempts by webhook and time, and how far each partition of the topic was folded.
#[derive(Clone)]
pub struct Deliveries {
    path: PathBuf,
    /// webhook (8 bytes, big-endian) ++ at ++ partition ++ offset → record bytes.
    entries: sled::Tree,
    /// partition (4 bytes) → next offset to fold.
    positions: sled::Tree,
    /// Entries added per webhook since its last trim: trimming (a scan) runs once per
    /// `keep / 2` additions, so a webhook holds at most about 1.5 × `keep`.
    untrimmed: Arc<Mutex<HashMap<WebhookId, usize>>>,
}

impl Deliveries {
    pub(crate) fn new(path: PathBuf, entries: sled::Tree, positions: sled::Tree) -> Deliveries {
        Deliveries {
            path,
            entries,
            positions,
            untrimmed: Arc::default(),
        }
    }

    fn err(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    /// The next offset to fold of `partition`, if any was folded.
    pub fn position(&self, partition: i32) -> Result<Option<i64>, StoreError> {
        let found = self
            .positions
            .get(partition.to_be_bytes())
            .map_err(|e| self.err(e))?;
        Ok(found.and_then(|bytes| {
            <[u8; 8]>::try_from(bytes.as_ref())
                .ok()
                .map(i64::from_be_bytes)
        }))
    }

    /// Adds `entries`, then drops the oldest of every webhook they touched beyond `keep`.
    pub fn apply(&self, entries: &[Entry], keep: usize) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let mut positions = sled::Batch::default();
        let mut touched = BTreeMap::new();
        for entry in entries {
            batch.insert(key(entry).to_vec(), entry.payload.as_slice());
            positions.insert(
                entry.partition.to_be_bytes().to_vec(),
                (entry.offset + 1).to_be_bytes().to_vec(),
            );
            *touched.entry(entry.webhook).or_insert(0) += 1;
        }
        self.entries.apply_batch(batch).map_err(|e| self.err(e))?;
        let due: Vec<WebhookId> = {
            let mut untrimmed = self.untrimmed.lock().unwrap_or_else(|p| p.into_inner());
            touched
                .into_iter()
                .filter(|(webhook, added)| {
                    let count = untrimmed.entry(*webhook).or_insert(0);
                    *count += added;
                    let due = *count > keep / 2;
                    if due {
                        *count = 0;
                    }
                    due
                })
                .map(|(webhook, _)| webhook)
                .collect()
        };
        for webhook in due {
            self.trim(webhook, keep)?;
        }
        // Positions last: a crash in between folds the batch again, which only rewrites it.
        self.positions
            .apply_batch(positions)
            .map_err(|e| self.err(e))
    }

    fn trim(&self, webhook: WebhookId, keep: usize) -> Result<(), StoreError> {
        let prefix = webhook.0.to_be_bytes();
        let count = self.entries.scan_prefix(prefix).count();
        if count <= keep {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for item in self.entries.scan_prefix(prefix).keys().take(count - keep) {
            batch.remove(item.map_err(|e| self.err(e))?);
        }
        self.entries.apply_batch(batch).map_err(|e| self.err(e))
    }

    /// The newest `limit` records of `webhook`, newest first.
    pub fn newest(&self, webhook: WebhookId, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        self.entries
            .scan_prefix(webhook.0.to_be_bytes())
            .values()
            .rev()
            .take(limit)
            .map(|value| value.map(|v| v.to_vec()).map_err(|e| self.err(e)))
            .collect()
    }
}

fn key(entry: &Entry) -> [u8; 28] {
    let mut key = [0u8; 28];
    key[..8].copy_from_slice(&entry.webhook.0.to_be_bytes());
    // Times before 1970 do not occur; the sign bit flipped keeps any i64 in order.
    key[8..16].copy_from_slice(&((entry.at as u64) ^ (1 << 63)).to_be_bytes());
    key[16..20].copy_from_slice(&entry.partition.to_be_bytes());
    key[20..].copy_from_slice(&entry.offset.to_be_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Deliveries) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::Store::open(dir.path()).expect("opens");
        (dir, store.deliveries())
    }

    fn entry(webhook: i64, at: i64, offset: i64, payload: &[u8]) -> Entry {
        Entry {
            partition: 0,
            offset,
            webhook: WebhookId(webhook),
            at,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn newest_first_per_webhook_bounded_and_positions_kept() {
        let (_dir, log) = open();
        assert_eq!(log.position(0).expect("reads"), None);
        let batch = [
            entry(1, 10, 0, b"a"),
            entry(2, 11, 1, b"other"),
            entry(1, 30, 2, b"c"),
            entry(1, 20, 3, b"b"),
        ];
        log.apply(&batch, 10).expect("applies");
        assert_eq!(
            log.newest(WebhookId(1), 10).expect("reads"),
            [b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]
        );
        assert_eq!(log.newest(WebhookId(1), 1).expect("reads"), [b"c".to_vec()]);
        assert_eq!(
            log.newest(WebhookId(2), 10).expect("reads"),
            [b"other".to_vec()]
        );
        assert_eq!(log.position(0).expect("reads"), Some(4));

        log.apply(&[entry(1, 40, 4, b"d")], 2).expect("applies");
        assert_eq!(
            log.newest(WebhookId(1), 10).expect("reads"),
            [b"d".to_vec(), b"c".to_vec()],
            "only the newest `keep` stay"
        );
        // Trimming runs once per keep/2 additions: the bound holds within 1.5 × keep.
        for n in 0..50 {
            log.apply(&[entry(3, 100 + n, 10 + n, b"x")], 10)
                .expect("applies");
            let held = log.newest(WebhookId(3), 100).expect("reads").len();
            assert!(held <= 15, "{held} entries after {} additions", n + 1);
        }
    }
}
