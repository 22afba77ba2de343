//! `WebhookEvent`: one entry of the subscription event log `hookstream.webhooks`.

use apache_avro::types::Value;

use crate::change::category_field;
use crate::codec::{AvroRecord, DecodeError};
use crate::value::{record, symbol, Fields};
use crate::{AccountId, Category, UnixMillis, WebhookId};

/// Why a webhook was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemovalReason {
    /// Its owner sent `DELETE /webhooks/ID`.
    Deleted,
    /// A delivery was answered with 401.
    Unauthorized,
    /// No 2xx for the whole failure window.
    Failing,
}

impl RemovalReason {
    const SYMBOLS: [&'static str; 3] = ["deleted", "unauthorized", "failing"];

    pub fn as_str(self) -> &'static str {
        match self {
            RemovalReason::Deleted => "deleted",
            RemovalReason::Unauthorized => "unauthorized",
            RemovalReason::Failing => "failing",
        }
    }

    fn parse(s: &str) -> Result<RemovalReason, DecodeError> {
        match s {
            "deleted" => Ok(RemovalReason::Deleted),
            "unauthorized" => Ok(RemovalReason::Unauthorized),
            "failing" => Ok(RemovalReason::Failing),
            other => Err(DecodeError::Invalid {
                what: "Removed.reason",
                message: format!("unknown reason {other:?}"),
            }),
        }
    }
}

/// What happened to a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A webhook was registered; its id is this event's offset + 1.
    Registered {
        account: AccountId,
        url: String,
        category: Category,
        secret: String,
    },
    /// Deliveries are failing; the streak began at `first_failed_at`.
    Failed {
        webhook_id: WebhookId,
        first_failed_at: UnixMillis,
        last_failed_at: UnixMillis,
    },
    /// A delivery succeeded after a failure streak.
    Recovered { webhook_id: WebhookId },
    /// The webhook is gone: nothing more is delivered to it.
    Removed {
        webhook_id: WebhookId,
        reason: RemovalReason,
    },
}

/// An [`Event`] with the time it was appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub at: UnixMillis,
    pub event: Event,
}

impl WebhookEvent {
    /// The event, stamped now.
    pub fn now(event: Event) -> WebhookEvent {
        WebhookEvent {
            at: crate::now_millis(),
            event,
        }
    }
}

const REGISTERED: u32 = 0;
const FAILED: u32 = 1;
const RECOVERED: u32 = 2;
const REMOVED: u32 = 3;

impl AvroRecord for WebhookEvent {
    const NAME: &'static str = "WebhookEvent";
    const SCHEMA: &'static str = include_str!("../../../schemas/WebhookEvent.avsc");

    fn to_value(&self) -> Value {
        let (branch, inner) = match &self.event {
            Event::Registered {
                account,
                url,
                category,
                secret,
            } => (
                REGISTERED,
                record(vec![
                    ("account", Value::String(account.0.clone())),
                    ("url", Value::String(url.clone())),
                    ("category", Value::Int(category.key())),
                    ("secret", Value::String(secret.clone())),
                ]),
            ),
            Event::Failed {
                webhook_id,
                first_failed_at,
                last_failed_at,
            } => (
                FAILED,
                record(vec![
                    ("webhook_id", Value::Long(webhook_id.0)),
                    ("first_failed_at", Value::TimestampMillis(*first_failed_at)),
                    ("last_failed_at", Value::TimestampMillis(*last_failed_at)),
                ]),
            ),
            Event::Recovered { webhook_id } => (
                RECOVERED,
                record(vec![("webhook_id", Value::Long(webhook_id.0))]),
            ),
            Event::Removed { webhook_id, reason } => (
                REMOVED,
                record(vec![
                    ("webhook_id", Value::Long(webhook_id.0)),
                    ("reason", symbol(&RemovalReason::SYMBOLS, reason.as_str())),
                ]),
            ),
        };
        record(vec![
            ("at", Value::TimestampMillis(self.at)),
            ("event", Value::Union(branch, Box::new(inner))),
        ])
    }

    fn from_value(value: Value) -> Result<Self, DecodeError> {
        let mut f = Fields::of(Self::NAME, value)?;
        let at = f.long("at")?;
        let (branch, inner) = f.union("event")?;
        let event = match branch {
            REGISTERED => {
                let mut r = Fields::of("Registered", inner)?;
                Event::Registered {
                    account: AccountId(r.string("account")?),
                    url: r.string("url")?,
                    category: category_field(r.int("category")?)?,
                    secret: r.string("secret")?,
                }
            }
            FAILED => {
                let mut r = Fields::of("Failed", inner)?;
                Event::Failed {
                    webhook_id: WebhookId(r.long("webhook_id")?),
                    first_failed_at: r.long("first_failed_at")?,
                    last_failed_at: r.long("last_failed_at")?,
                }
            }
            RECOVERED => {
                let mut r = Fields::of("Recovered", inner)?;
                Event::Recovered {
                    webhook_id: WebhookId(r.long("webhook_id")?),
                }
            }
            REMOVED => {
                let mut r = Fields::of("Removed", inner)?;
                Event::Removed {
                    webhook_id: WebhookId(r.long("webhook_id")?),
                    reason: RemovalReason::parse(&r.symbol("reason")?)?,
                }
            }
            other => {
                return Err(DecodeError::Invalid {
                    what: "WebhookEvent.event",
                    message: format!("unknown union branch {other}"),
                })
            }
        };
        Ok(WebhookEvent { at, event })
    }
}
