//! The webhooks a replay goes to.

use hookstream_model::{Category, WebhookId};
use hookstream_store::Store;

use crate::ReplayError;

/// Who receives a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Every webhook of the category, as the view holds them now.
    Subscribers,
    /// One webhook, which must subscribe to the category.
    Webhook(WebhookId),
}

/// The webhook ids `target` stands for in `category`, from a view that has caught up.
pub fn resolve(
    store: &Store,
    category: Category,
    target: Target,
) -> Result<Vec<WebhookId>, ReplayError> {
    match target {
        Target::Webhook(id) => {
            let webhook = store.get(id)?.ok_or(ReplayError::NoWebhook(id))?;
            match webhook.category() {
                Some(subscribed) if subscribed == category => Ok(vec![id]),
                subscribed => Err(ReplayError::WrongCategory {
                    id,
                    subscribed: subscribed
                        .map_or_else(|| webhook.category.to_string(), |c| c.to_string()),
                    asked: category,
                }),
            }
        }
        Target::Subscribers => Ok(store
            .by_category(category)?
            .iter()
            .map(|w| w.id())
            .collect()),
    }
}

/// The category of webhook `id`, for a replay that names only the webhook.
pub fn category_of(store: &Store, id: WebhookId) -> Result<Category, ReplayError> {
    let webhook = store.get(id)?.ok_or(ReplayError::NoWebhook(id))?;
    webhook.category().ok_or(ReplayError::NoWebhook(id))
}
