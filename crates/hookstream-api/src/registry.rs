//! The webhook registry: writes go to the event log, reads come from the sled view.

use std::sync::Arc;
use std::time::Duration;

use hookstream_kafka::log::{EventLog, Follower};
use hookstream_model::{AccountId, Event, RemovalReason, WebhookEvent, WebhookId};
use hookstream_store::{Store, Webhook};
use tracing::{info, warn};

use crate::registration::NewWebhook;
use crate::{ApiConfig, ApiError};

/// Registers, lists and removes webhooks of an account.
pub struct Registry {
    log: EventLog,
    follower: Follower,
    store: Arc<Store>,
    write_timeout: Duration,
    read_timeout: Duration,
    max_per_account: usize,
}

impl Registry {
    pub fn new(
        log: EventLog,
        follower: Follower,
        store: Arc<Store>,
        config: &ApiConfig,
    ) -> Registry {
        Registry {
            log,
            follower,
            store,
            write_timeout: Duration::from_millis(config.write_timeout_ms),
            read_timeout: Duration::from_millis(config.read_timeout_ms),
            max_per_account: config.max_webhooks_per_account,
        }
    }

    /// Appends a `Registered` event and answers once this view applied it. An account at
    /// `api.max_webhooks_per_account` gets 409 (checked on the view: registrations racing
    /// each other on several API processes can pass it by the number in flight).
    pub async fn register(
        &self,
        account: &AccountId,
        new: NewWebhook,
    ) -> Result<Webhook, ApiError> {
        self.catch_up().await;
        let held = self.store.by_account(account).map_err(internal)?.len();
        if held >= self.max_per_account {
            return Err(ApiError::Conflict(format!(
                "this account has {held} webhooks, the most it may have; delete one first"
            )));
        }
        let event = WebhookEvent::now(Event::Registered {
            account: account.clone(),
            url: new.url,
            category: new.category,
            secret: new.secret,
        });
        let offset = self.append(&event).await?;
        let id = WebhookId::from_log_offset(offset);
        info!(%account, %id, category = %new.category, "webhook registered");
        match self.store.get(id).map_err(internal)? {
            Some(webhook) => Ok(webhook),
            // Removed between the append and this read (another replica, or a dispatcher).
            None => Err(ApiError::NotFound(id.to_string())),
        }
    }

    /// The account's webhooks, after catching up with the log.
    pub async fn list(&self, account: &AccountId) -> Result<Vec<Webhook>, ApiError> {
        self.catch_up().await;
        self.store.by_account(account).map_err(internal)
    }

    /// One of the account's webhooks; another account's id is not found.
    pub async fn get(&self, account: &AccountId, id: WebhookId) -> Result<Webhook, ApiError> {
        self.catch_up().await;
        self.owned(account, id)
    }

    /// Appends `Removed{deleted}` and answers with the removed record once applied.
    pub async fn delete(&self, account: &AccountId, id: WebhookId) -> Result<Webhook, ApiError> {
        self.catch_up().await;
        let webhook = self.owned(account, id)?;
        let event = WebhookEvent::now(Event::Removed {
            webhook_id: id,
            reason: RemovalReason::Deleted,
        });
        self.append(&event).await?;
        info!(%account, %id, "webhook deleted");
        Ok(webhook)
    }

    /// Whether the view is reachable and caught up with the log.
    pub async fn ready(&self) -> Result<(), ApiError> {
        self.follower
            .catch_up(self.read_timeout)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))
    }

    fn owned(&self, account: &AccountId, id: WebhookId) -> Result<Webhook, ApiError> {
        match self.store.get(id).map_err(internal)? {
            Some(webhook) if webhook.account == account.0 => Ok(webhook),
            _ => Err(ApiError::NotFound(id.to_string())),
        }
    }

    /// Appends `event` and waits until this view has applied it.
    async fn append(&self, event: &WebhookEvent) -> Result<i64, ApiError> {
        let offset = tokio::time::timeout(self.write_timeout, self.log.append(event))
            .await
            .map_err(|_| ApiError::Unavailable("Kafka did not acknowledge the write in time; nothing was registered or changed".into()))?
            .map_err(|e| {
                warn!(error = %e, "event log append failed");
                ApiError::Unavailable("Kafka is not available; nothing was registered or changed".into())
            })?;
        self.follower
            .wait_for(offset + 1, self.write_timeout)
            .await
            .map_err(|e| {
                warn!(offset, error = %e, "view did not apply our own write in time");
                ApiError::Unavailable(format!(
                    "the change was recorded (log offset {offset}) but this server has not applied it yet; read it again shortly"
                ))
            })?;
        Ok(offset)
    }

    /// Folds what was appended before this read; on failure, answers from the view as it is.
    async fn catch_up(&self) {
        if let Err(e) = self.follower.catch_up(self.read_timeout).await {
            warn!(error = %e, "reading from a view that may be behind the log");
        }
    }
}

fn internal(e: hookstream_store::StoreError) -> ApiError {
    ApiError::Internal(e.to_string())
}
