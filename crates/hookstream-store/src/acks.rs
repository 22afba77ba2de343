//! Acknowledged versions: for each (webhook, entity), the newest version (source offset)
//! that the webhook answered with a 2xx. A due retry of an older version is superseded.
//!
//! Unlike the rest of the store this is not folded from a topic: it is this dispatcher's own
//! record of what it delivered. Losing it only weakens supersede checks (an old version may
//! then be delivered once more after a newer one), never delivery itself.

use std::path::PathBuf;

use hookstream_model::{Category, WebhookId};

use crate::store::be_i64;
use crate::StoreError;

/// The acknowledged-versions tree.
#[derive(Clone)]
pub struct Acks {
    pub(crate) path: PathBuf,
    pub(crate) tree: sled::Tree,
}

impl Acks {
    fn key(webhook: WebhookId, category: Category, entity: i64) -> [u8; 17] {
        let mut key = [0u8; 17];
        key[..8].copy_from_slice(&webhook.0.to_be_bytes());
        key[8] = category.key() as u8;
        key[9..].copy_from_slice(&entity.to_be_bytes());
        key
    }

    fn err(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    /// Records that `version` was acknowledged; keeps the newest.
    pub fn record(
        &self,
        webhook: WebhookId,
        category: Category,
        entity: i64,
        version: i64,
    ) -> Result<(), StoreError> {
        self.tree
            .fetch_and_update(Self::key(webhook, category, entity), |old| {
                let old = old.and_then(be_i64).unwrap_or(i64::MIN);
                Some(old.max(version).to_be_bytes().to_vec())
            })
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The newest acknowledged version, if any.
    pub fn newest(
        &self,
        webhook: WebhookId,
        category: Category,
        entity: i64,
    ) -> Result<Option<i64>, StoreError> {
        let value = self
            .tree
            .get(Self::key(webhook, category, entity))
            .map_err(|e| self.err(e))?;
        Ok(value.and_then(|b| be_i64(&b)))
    }
}
