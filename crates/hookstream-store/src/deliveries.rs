//! The delivery log: the newest attempts of each webhook, folded from `hookstream.attempts`,
//! at most `keep` per webhook; and per webhook and hour, how many attempts were answered 2xx
//! and how many were not, for as long as [`HOURS_KEPT`].

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hookstream_model::{now_millis, UnixMillis, WebhookId};

use crate::StoreError;

/// One attempt record as read from the topic: where it was, whose it is, its bytes.
#[derive(Debug, Clone)]
pub struct Entry {
    pub partition: i32,
    pub offset: i64,
    pub webhook: WebhookId,
    pub at: UnixMillis,
    /// Whether the receiver answered 2xx.
    pub delivered: bool,
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
    /// webhook ++ hour start ++ partition → [`Counts`]. Each partition's counts remember the
    /// last offset they hold, so folding a record again (after a crash) counts it once.
    hours: sled::Tree,
    /// Entries added per webhook since its last trim: trimming (a scan) runs once per
    /// `keep / 2` additions, so a webhook holds at most about 1.5 × `keep`.
    untrimmed: Arc<Mutex<HashMap<WebhookId, usize>>>,
}

impl Deliveries {
    pub(crate) fn new(
        path: PathBuf,
        entries: sled::Tree,
        positions: sled::Tree,
        hours: sled::Tree,
    ) -> Deliveries {
        Deliveries {
            path,
            entries,
            positions,
            hours,
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
        self.count(entries)?;
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

    /// Adds `entries` to their hours' counts, skipping those already counted.
    fn count(&self, entries: &[Entry]) -> Result<(), StoreError> {
        let mut counts: BTreeMap<[u8; 20], Counts> = BTreeMap::new();
        for entry in entries {
            let key = hour_key(entry.webhook, hour_of(entry.at), entry.partition);
            let counts = match counts.entry(key) {
                std::collections::btree_map::Entry::Occupied(held) => held.into_mut(),
                std::collections::btree_map::Entry::Vacant(slot) => {
                    let stored = self.hours.get(key).map_err(|e| self.err(e))?;
                    slot.insert(stored.as_deref().map(Counts::decode).unwrap_or_default())
                }
            };
            counts.add(entry.offset, entry.delivered);
        }
        let mut batch = sled::Batch::default();
        for (key, counts) in counts {
            batch.insert(key.to_vec(), counts.encode().to_vec());
        }
        self.hours.apply_batch(batch).map_err(|e| self.err(e))
    }

    /// Per hour from the one holding `since` to the one holding `until`, oldest first: how
    /// many attempts of `webhook` were delivered and how many failed (hours without any are
    /// there, with zeros).
    pub fn hours(
        &self,
        webhook: WebhookId,
        since: UnixMillis,
        until: UnixMillis,
    ) -> Result<Vec<Hour>, StoreError> {
        let (first, last) = (hour_of(since), hour_of(until));
        let mut hours: Vec<Hour> = (0..=((last - first) / HOUR_MS).max(0))
            .map(|n| Hour {
                start: first + n * HOUR_MS,
                delivered: 0,
                failed: 0,
            })
            .collect();
        let range = hour_key(webhook, first, 0)..hour_key(webhook, last + HOUR_MS, 0);
        for item in self.hours.range(range) {
            let (key, value) = item.map_err(|e| self.err(e))?;
            let start = ordered_time(&key[8..16]);
            let counts = Counts::decode(&value);
            if let Some(hour) = hours.get_mut(((start - first) / HOUR_MS) as usize) {
                hour.delivered += counts.delivered;
                hour.failed += counts.failed;
            }
        }
        Ok(hours)
    }

    fn trim(&self, webhook: WebhookId, keep: usize) -> Result<(), StoreError> {
        self.trim_hours(webhook)?;
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

    /// Drops the counts of `webhook` older than [`HOURS_KEPT`] before now (measured from now,
    /// not from the newest hour: one attempt stamped by a clock far ahead must not drop the
    /// rest).
    fn trim_hours(&self, webhook: WebhookId) -> Result<(), StoreError> {
        let horizon = hour_key(webhook, now_millis() - HOURS_KEPT * HOUR_MS, 0);
        let mut batch = sled::Batch::default();
        for key in self.hours.range(hour_key(webhook, 0, 0)..horizon).keys() {
            batch.remove(key.map_err(|e| self.err(e))?);
        }
        self.hours.apply_batch(batch).map_err(|e| self.err(e))
    }

    /// Drops every entry and count of `webhook` (it was removed). An attempt still in flight
    /// may add an entry afterwards; it is never shown.
    pub(crate) fn forget(&self, webhook: WebhookId) -> Result<(), StoreError> {
        let prefix = webhook.0.to_be_bytes();
        for tree in [&self.entries, &self.hours] {
            let mut batch = sled::Batch::default();
            for key in tree.scan_prefix(prefix).keys() {
                batch.remove(key.map_err(|e| self.err(e))?);
            }
            tree.apply_batch(batch).map_err(|e| self.err(e))?;
        }
        self.untrimmed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&webhook);
        Ok(())
    }

    /// The newest `limit` records of `webhook`, newest first.
    pub fn newest(&self, webhook: WebhookId, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let page = self.page(webhook, None, limit)?;
        Ok(page.into_iter().map(|(_, bytes)| bytes).collect())
    }

    /// The newest `limit` records of `webhook` older than `before` (all if `None`), newest
    /// first, each with its cursor.
    pub fn page(
        &self,
        webhook: WebhookId,
        before: Option<Cursor>,
        limit: usize,
    ) -> Result<Vec<(Cursor, Vec<u8>)>, StoreError> {
        let prefix = webhook.0.to_be_bytes();
        let mut end = [0xFFu8; 28];
        end[..8].copy_from_slice(&prefix);
        if let Some(Cursor(position)) = before {
            end[8..].copy_from_slice(&position);
        }
        let start = {
            let mut start = [0u8; 28];
            start[..8].copy_from_slice(&prefix);
            start
        };
        self.entries
            .range(start..end)
            .rev()
            .take(limit)
            .map(|item| {
                let (key, value) = item.map_err(|e| self.err(e))?;
                let mut position = [0u8; 20];
                if let Some(tail) = key.get(8..28) {
                    position.copy_from_slice(tail);
                }
                Ok((Cursor(position), value.to_vec()))
            })
            .collect()
    }
}

/// Where an entry of the delivery log is (its time, partition and offset): a page that ends
/// with it continues with what is older. Written as 40 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor([u8; 20]);

impl Cursor {
    /// Reads what [`Cursor`]'s `Display` wrote; `None` for anything else.
    pub fn parse(text: &str) -> Option<Cursor> {
        let mut position = [0u8; 20];
        hex::decode_to_slice(text, &mut position).ok()?;
        Some(Cursor(position))
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// An hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// Hours of counts kept per webhook, before its newest hour (two days).
pub const HOURS_KEPT: i64 = 48;

/// What one hour's attempts of a webhook came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hour {
    /// Start of the hour, unix milliseconds.
    pub start: UnixMillis,
    pub delivered: u64,
    pub failed: u64,
}

/// The counts of one (webhook, hour, partition): delivered, failed, and the offset of the
/// newest record counted (-1 for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    delivered: u64,
    failed: u64,
    last_offset: i64,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            delivered: 0,
            failed: 0,
            last_offset: -1,
        }
    }
}

impl Counts {
    /// Counts the record at `offset` unless it was counted already (records of a partition
    /// are folded in offset order).
    fn add(&mut self, offset: i64, delivered: bool) {
        if offset <= self.last_offset {
            return;
        }
        self.last_offset = offset;
        if delivered {
            self.delivered += 1;
        } else {
            self.failed += 1;
        }
    }

    fn encode(&self) -> [u8; 24] {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&self.delivered.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.failed.to_be_bytes());
        bytes[16..].copy_from_slice(&self.last_offset.to_be_bytes());
        bytes
    }

    /// Reads what [`Counts::encode`] wrote; anything else counts as nothing.
    fn decode(bytes: &[u8]) -> Counts {
        let word = |range: std::ops::Range<usize>| {
            bytes
                .get(range)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
        };
        match (word(0..8), word(8..16), word(16..24)) {
            (Some(delivered), Some(failed), Some(last)) => Counts {
                delivered,
                failed,
                last_offset: last as i64,
            },
            _ => Counts::default(),
        }
    }
}

/// The start of the hour holding `at`.
fn hour_of(at: UnixMillis) -> UnixMillis {
    at - at.rem_euclid(HOUR_MS)
}

/// Times before 1970 do not occur; the sign bit flipped keeps any i64 in byte order.
fn ordered(at: UnixMillis) -> [u8; 8] {
    ((at as u64) ^ (1 << 63)).to_be_bytes()
}

fn ordered_time(bytes: &[u8]) -> UnixMillis {
    let raw = <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .unwrap_or(1 << 63);
    (raw ^ (1 << 63)) as i64
}

fn hour_key(webhook: WebhookId, hour: UnixMillis, partition: i32) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..8].copy_from_slice(&webhook.0.to_be_bytes());
    key[8..16].copy_from_slice(&ordered(hour));
    key[16..].copy_from_slice(&partition.to_be_bytes());
    key
}

fn key(entry: &Entry) -> [u8; 28] {
    let mut key = [0u8; 28];
    key[..8].copy_from_slice(&entry.webhook.0.to_be_bytes());
    key[8..16].copy_from_slice(&ordered(entry.at));
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
            delivered: true,
            payload: payload.to_vec(),
        }
    }

    fn attempt(webhook: i64, at: i64, partition: i32, offset: i64, delivered: bool) -> Entry {
        Entry {
            partition,
            delivered,
            ..entry(webhook, at, offset, b"")
        }
    }

    #[test]
    fn pages_continue_before_their_cursor_and_end() {
        let (_dir, log) = open();
        let entries: Vec<Entry> = (0..5)
            .map(|n| entry(1, 1_000 + n, n, format!("a{n}").as_bytes()))
            .chain([entry(2, 1_002, 9, b"other")])
            .collect();
        log.apply(&entries, 100).expect("applies");
        let texts = |page: &[(Cursor, Vec<u8>)]| -> Vec<String> {
            page.iter()
                .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
                .collect()
        };
        let first = log.page(WebhookId(1), None, 2).expect("reads");
        assert_eq!(texts(&first), ["a4", "a3"]);
        let cursor = first[1].0.to_string();
        assert_eq!(cursor.len(), 40);
        let before = Cursor::parse(&cursor).expect("parses");
        let second = log.page(WebhookId(1), Some(before), 10).expect("reads");
        assert_eq!(
            texts(&second),
            ["a2", "a1", "a0"],
            "the rest, not another webhook's"
        );
        let last = Some(second[2].0);
        assert!(log.page(WebhookId(1), last, 10).expect("reads").is_empty());
        for bad in ["", "zz", &"0".repeat(39), &"0".repeat(42)] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hours_count_each_attempt_once_and_keep_two_days() {
        let (_dir, log) = open();
        // Three days ago, at the start of an hour.
        let day = hour_of(now_millis()) - 72 * HOUR_MS;
        let batch = [
            attempt(1, day + 10, 0, 0, true),
            attempt(1, day + 20, 1, 0, false),
            attempt(1, day + HOUR_MS + 5, 0, 1, true),
            attempt(1, day + 3 * HOUR_MS, 0, 2, false),
            attempt(2, day + 30, 0, 3, true),
        ];
        log.apply(&batch, 100).expect("applies");
        // A crash between the entries and the positions folds the batch again.
        log.apply(&batch, 100).expect("applies again");
        let hours = log
            .hours(WebhookId(1), day + 1, day + 3 * HOUR_MS + 1)
            .expect("reads");
        let counts: Vec<(i64, u64, u64)> = hours
            .iter()
            .map(|h| ((h.start - day) / HOUR_MS, h.delivered, h.failed))
            .collect();
        assert_eq!(counts, [(0, 1, 1), (1, 1, 0), (2, 0, 0), (3, 0, 1)]);
        let other = log.hours(WebhookId(2), day, day).expect("reads");
        assert_eq!((other[0].delivered, other[0].failed), (1, 0));

        // Counts older than two days are trimmed (when the webhook's entries are), and an
        // attempt stamped far ahead does not take the others with it.
        let mut later: Vec<Entry> = (0..60)
            .map(|n| attempt(1, day + 72 * HOUR_MS, 0, 10 + n, true))
            .collect();
        later.push(attempt(1, day + 1000 * HOUR_MS, 0, 70, true));
        log.apply(&later, 100).expect("applies");
        let first = log
            .hours(WebhookId(1), day, day + 3 * HOUR_MS)
            .expect("reads");
        assert!(
            first.iter().all(|h| h.delivered + h.failed == 0),
            "{first:?}"
        );
        let last = log
            .hours(WebhookId(1), day + 72 * HOUR_MS, day + 72 * HOUR_MS)
            .expect("reads");
        assert_eq!(last[0].delivered, 60);
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
