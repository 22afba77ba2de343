use std::path::{Path, PathBuf};
use std::sync::Arc;

use hookstream_kafka::log::Fold;
use hookstream_model::{AccountId, Category, Event, UnixMillis, WebhookEvent, WebhookId};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use tracing::{info, warn};

use crate::subscriptions::{Cache, Subscribers};
use crate::{Acks, Deliveries};

/// Bump when the layout or the record encoding changes: older files are then rebuilt.
const FORMAT: &[u8] = b"hookstream-store-1";
const NEXT_OFFSET: &[u8] = b"next_offset";
const FORMAT_KEY: &[u8] = b"format";
/// How long opening waits for a lock held by a store that is closing.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// sled's page cache. Its default (1 GiB) would let a dispatcher's memory grow with its acks.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// A registered webhook as the read model knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: i64,
    pub account: String,
    pub url: String,
    pub category: i32,
    pub secret: String,
    /// Start of the current failure streak, if one is running.
    pub first_failed_at: Option<UnixMillis>,
    /// The latest failed delivery, if any ever failed.
    pub last_failed_at: Option<UnixMillis>,
}

impl Webhook {
    pub fn id(&self) -> WebhookId {
        WebhookId(self.id)
    }

    pub fn category(&self) -> Option<Category> {
        Category::from_key(self.category.into()).ok()
    }
}

/// A failure of the store itself (disk, corruption). Not retryable by the caller.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sled store at {path}: {source}")]
    Sled {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("corrupt record in the store: {0}")]
    Corrupt(String),
}

/// The sled read model. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    webhooks: sled::Tree,
    by_category: sled::Tree,
    by_account: sled::Tree,
    meta: sled::Tree,
    acks: Acks,
    deliveries: Deliveries,
    subscribers: Arc<Cache>,
}

impl Store {
    /// Opens the store at `path`, rebuilding it (empty, to be folded from offset 0) when it is
    /// corrupt or was written in another format.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        match Self::open_waiting_for_lock(path) {
            Ok(Some(store)) => return Ok(store),
            Ok(None) => {
                warn!(path = %path.display(), "store written in another format; rebuilding from the log")
            }
            // I/O errors (permissions, a full disk, another process holding the lock) are not
            // corruption: deleting the files would destroy a running process's state.
            Err(
                e @ StoreError::Sled {
                    source: sled::Error::Io(_),
                    ..
                },
            ) => return Err(e),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "store is corrupt; rebuilding from the log")
            }
        }
        if path.exists() {
            std::fs::remove_dir_all(path).map_err(|e| StoreError::Sled {
                path: path.to_owned(),
                source: sled::Error::Io(e),
            })?;
        }
        let store = Self::open_existing(path)?
            .ok_or_else(|| StoreError::Corrupt("fresh store has a foreign format".into()))?;
        Ok(store)
    }

    /// [`Store::open_existing`], waiting up to [`LOCK_WAIT`] while the files are locked: the
    /// lock of a store just dropped in this process is released by sled's flusher thread a
    /// moment later. Another process holding them is still an error after the wait.
    fn open_waiting_for_lock(path: &Path) -> Result<Option<Store>, StoreError> {
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match Self::open_existing(path) {
                Err(StoreError::Sled {
                    source: sled::Error::Io(e),
                    ..
                }) if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    /// Opens the files as they are: `None` if they hold another format.
    fn open_existing(path: &Path) -> Result<Option<Store>, StoreError> {
        let err = |source| StoreError::Sled {
            path: path.to_owned(),
            source,
        };
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(err)?;
        let tree = |name: &str| db.open_tree(name).map_err(err);
        let store = Store {
            path: path.to_owned(),
            webhooks: tree("webhooks")?,
            by_category: tree("by_category")?,
            by_account: tree("by_account")?,
            meta: tree("meta")?,
            acks: Acks::new(path.to_owned(), tree("acks")?),
            deliveries: Deliveries::new(
                path.to_owned(),
                tree("deliveries")?,
                tree("deliveries_positions")?,
                tree("deliveries_hours")?,
            ),
            subscribers: Arc::default(),
            db,
        };
        match store.meta.get(FORMAT_KEY).map_err(err)? {
            Some(format) if format.as_ref() == FORMAT => {}
            Some(_) => return Ok(None),
            None if store.webhooks.is_empty() && store.meta.is_empty() => {
                store.meta.insert(FORMAT_KEY, FORMAT).map_err(err)?;
            }
            None => return Ok(None),
        }
        info!(path = %path.display(), next_offset = store.read_next_offset()?, "store opened");
        Ok(Some(store))
    }

    fn sled_err(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    fn read_next_offset(&self) -> Result<i64, StoreError> {
        match self.meta.get(NEXT_OFFSET).map_err(|e| self.sled_err(e))? {
            None => Ok(0),
            Some(bytes) => decode_i64(&bytes),
        }
    }

    /// The webhook with this id, if it exists (not removed).
    pub fn get(&self, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
        match self
            .webhooks
            .get(id.0.to_be_bytes())
            .map_err(|e| self.sled_err(e))?
        {
            None => Ok(None),
            Some(bytes) => decode_webhook(&bytes).map(Some),
        }
    }

    /// The webhooks of `account`, by id.
    pub fn by_account(&self, account: &AccountId) -> Result<Vec<Webhook>, StoreError> {
        let prefix = account_prefix(account);
        self.collect_index(&self.by_account, &prefix)
    }

    /// The webhooks listening to `category`, by id. Served from memory until the next fold.
    pub fn by_category(&self, category: Category) -> Result<Subscribers, StoreError> {
        let generation = match self.subscribers.get(category) {
            Ok(list) => return Ok(list),
            Err(generation) => generation,
        };
        let list: Subscribers = self
            .collect_index(&self.by_category, &[category.key() as u8])?
            .into_iter()
            .map(Arc::new)
            .collect();
        self.subscribers.keep(category, generation, list.clone());
        Ok(list)
    }

    fn collect_index(&self, index: &sled::Tree, prefix: &[u8]) -> Result<Vec<Webhook>, StoreError> {
        let mut out = Vec::new();
        for entry in index.scan_prefix(prefix) {
            let (key, _) = entry.map_err(|e| self.sled_err(e))?;
            let id = decode_i64(&key[key.len() - 8..])?;
            // An index entry without its record would be a bug; skip rather than fail reads.
            if let Some(webhook) = self.get(WebhookId(id))? {
                out.push(webhook);
            }
        }
        Ok(out)
    }

    /// How many webhooks the view holds.
    pub fn count(&self) -> usize {
        self.webhooks.len()
    }

    /// The delivery log the API folds from `hookstream.attempts`.
    pub fn deliveries(&self) -> Deliveries {
        self.deliveries.clone()
    }

    /// The acknowledged versions a dispatcher's supersede checks read.
    pub fn acks(&self) -> &Acks {
        &self.acks
    }

    /// Flushes to disk, acknowledgements held in memory included.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.acks.flush()?;
        self.db.flush().map(|_| ()).map_err(|e| self.sled_err(e))
    }

    /// Applies events of the log in one transaction, atomically with the new `next_offset`.
    /// Events below the stored `next_offset` are skipped: they were applied before.
    fn apply_events(&self, events: &[(i64, Option<WebhookEvent>)]) -> Result<(), StoreError> {
        let mut removed: Vec<(i64, WebhookId)> = events
            .iter()
            .filter_map(|(offset, event)| match event.as_ref().map(|e| &e.event) {
                Some(Event::Removed { webhook_id, .. }) => Some((*offset, *webhook_id)),
                _ => None,
            })
            .collect();
        // Only a batch with a removal pays a read for which of its events are new.
        if !removed.is_empty() {
            let first_new = self.read_next_offset()?;
            removed.retain(|(offset, _)| *offset >= first_new);
        }
        let trees = (
            &self.webhooks,
            &self.by_category,
            &self.by_account,
            &self.meta,
        );
        let result = trees.transaction(|(webhooks, by_category, by_account, meta)| {
            let mut next = match meta.get(NEXT_OFFSET)? {
                None => 0,
                Some(bytes) => decode_i64(&bytes).map_err(ConflictableTransactionError::Abort)?,
            };
            let before = next;
            for (offset, event) in events {
                if *offset < next {
                    continue;
                }
                apply_one(webhooks, by_category, by_account, *offset, event.as_ref())?;
                next = offset + 1;
            }
            if next != before {
                meta.insert(NEXT_OFFSET, &next.to_be_bytes())?;
            }
            Ok(())
        });
        self.subscribers.invalidate();
        match result {
            Ok(()) => {}
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(self.sled_err(e)),
        }
        // What a removed webhook leaves: its delivery log and acknowledged versions. Nobody can
        // read them any more (its id answers 404 and is never reused).
        for (_, webhook) in removed {
            self.deliveries.forget(webhook)?;
            self.acks.forget(webhook)?;
        }
        Ok(())
    }
}

type Tx<'a> = &'a sled::transaction::TransactionalTree;
type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// Applies the event at `offset` inside a fold transaction.
fn apply_one(
    webhooks: Tx<'_>,
    by_category: Tx<'_>,
    by_account: Tx<'_>,
    offset: i64,
    event: Option<&WebhookEvent>,
) -> TxResult<()> {
    let load =
        |id: WebhookId| -> Result<Option<Webhook>, ConflictableTransactionError<StoreError>> {
            match webhooks.get(id.0.to_be_bytes())? {
                None => Ok(None),
                Some(bytes) => decode_webhook(&bytes)
                    .map(Some)
                    .map_err(ConflictableTransactionError::Abort),
            }
        };
    let save = |w: &Webhook| -> Result<(), ConflictableTransactionError<StoreError>> {
        webhooks.insert(&w.id.to_be_bytes(), encode_webhook(w))?;
        Ok(())
    };
    match event.map(|e| &e.event) {
        None => {}
        Some(Event::Registered {
            account,
            url,
            category,
            secret,
        }) => {
            let webhook = Webhook {
                id: WebhookId::from_log_offset(offset).0,
                account: account.0.clone(),
                url: url.clone(),
                category: category.key(),
                secret: secret.clone(),
                first_failed_at: None,
                last_failed_at: None,
            };
            save(&webhook)?;
            by_category.insert(category_key(*category, webhook.id()), &[])?;
            by_account.insert(account_key(account, webhook.id()), &[])?;
        }
        Some(Event::Failed {
            webhook_id,
            first_failed_at,
            last_failed_at,
        }) => {
            if let Some(mut w) = load(*webhook_id)? {
                w.first_failed_at = Some(w.first_failed_at.unwrap_or(*first_failed_at));
                w.last_failed_at = Some((*last_failed_at).max(w.last_failed_at.unwrap_or(0)));
                save(&w)?;
            }
        }
        Some(Event::Recovered { webhook_id }) => {
            if let Some(mut w) = load(*webhook_id)? {
                w.first_failed_at = None;
                save(&w)?;
            }
        }
        Some(Event::Removed { webhook_id, .. }) => {
            if let Some(w) = load(*webhook_id)? {
                webhooks.remove(&w.id.to_be_bytes())?;
                if let Some(c) = w.category() {
                    by_category.remove(category_key(c, w.id()))?;
                }
                by_account.remove(account_key(&AccountId(w.account.clone()), w.id()))?;
            }
        }
    }
    Ok(())
}

impl Fold for Store {
    type Error = StoreError;

    fn next_offset(&self) -> i64 {
        self.read_next_offset().unwrap_or(0)
    }

    fn apply(&self, offset: i64, event: Option<WebhookEvent>) -> Result<(), StoreError> {
        self.apply_events(&[(offset, event)])
    }

    fn apply_all(&self, events: &[(i64, Option<WebhookEvent>)]) -> Result<(), StoreError> {
        self.apply_events(events)
    }

    fn reset(&self) -> Result<(), StoreError> {
        for tree in [
            &self.webhooks,
            &self.by_category,
            &self.by_account,
            &self.acks.tree,
        ] {
            tree.clear().map_err(|e| self.sled_err(e))?;
        }
        self.subscribers.invalidate();
        self.acks.forget_pending();
        self.meta
            .remove(NEXT_OFFSET)
            .map_err(|e| self.sled_err(e))?;
        self.flush()
    }
}

fn category_key(category: Category, id: WebhookId) -> Vec<u8> {
    let mut key = vec![category.key() as u8];
    key.extend_from_slice(&id.0.to_be_bytes());
    key
}

fn account_prefix(account: &AccountId) -> Vec<u8> {
    let mut key = account.0.as_bytes().to_vec();
    key.push(0);
    key
}

fn account_key(account: &AccountId, id: WebhookId) -> Vec<u8> {
    let mut key = account_prefix(account);
    key.extend_from_slice(&id.0.to_be_bytes());
    key
}

/// A big-endian i64, if `bytes` is one.
pub(crate) fn be_i64(bytes: &[u8]) -> Option<i64> {
    bytes.try_into().ok().map(i64::from_be_bytes)
}

fn decode_i64(bytes: &[u8]) -> Result<i64, StoreError> {
    be_i64(bytes)
        .ok_or_else(|| StoreError::Corrupt(format!("expected 8 bytes, found {}", bytes.len())))
}

fn encode_webhook(webhook: &Webhook) -> Vec<u8> {
    serde_json::to_vec(webhook).expect("a Webhook always serializes")
}

fn decode_webhook(bytes: &[u8]) -> Result<Webhook, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("webhook record: {e}")))
}
