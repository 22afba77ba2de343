//! Newtype identifiers.

use std::fmt;

/// A webhook id: the offset of its `Registered` event on `hookstream.webhooks`, plus one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookId(pub i64);

impl WebhookId {
    /// The id of the webhook registered by the event at `offset` of the log.
    pub fn from_log_offset(offset: i64) -> WebhookId {
        WebhookId(offset + 1)
    }
}

impl fmt::Display for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The account that owns webhooks: the name a key file gives to a `user-key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub String);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
