//! Failure streak bookkeeping: which event a delivery outcome appends to the log.
//!
//! The streak of a webhook starts at its first failure and ends with a 2xx. The log gets a
//! `Failed` event at the start of a streak and then at most one per interval (not one per
//! attempt), and `Recovered` when the streak ends. Removal at the end of the failure window
//! is the schedule's decision (`schedule.rs`).

use hookstream_model::{Event, UnixMillis, WebhookId};
use hookstream_store::Webhook;

/// The event, if any, that an outcome for `webhook` at `now` appends.
pub fn event_for(
    webhook: &Webhook,
    delivered: bool,
    now: UnixMillis,
    interval_ms: i64,
) -> Option<Event> {
    let id = WebhookId(webhook.id);
    match (delivered, webhook.first_failed_at) {
        (true, None) => None,
        (true, Some(_)) => Some(Event::Recovered { webhook_id: id }),
        (false, None) => Some(Event::Failed {
            webhook_id: id,
            first_failed_at: now,
            last_failed_at: now,
        }),
        (false, Some(first)) => {
            let last = webhook.last_failed_at.unwrap_or(first);
            (now - last >= interval_ms).then_some(Event::Failed {
                webhook_id: id,
                first_failed_at: first,
                last_failed_at: now,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(first: Option<i64>, last: Option<i64>) -> Webhook {
        Webhook {
            id: 1,
            account: "a".into(),
            url: "http://127.0.0.1/".into(),
            category: 1,
            secret: "s".into(),
            first_failed_at: first,
            last_failed_at: last,
        }
    }

    #[test]
    fn events_per_outcome() {
        let id = WebhookId(1);
        assert_eq!(event_for(&webhook(None, None), true, 5, 60), None);
        assert_eq!(
            event_for(&webhook(Some(1), Some(2)), true, 5, 60),
            Some(Event::Recovered { webhook_id: id })
        );
        assert_eq!(
            event_for(&webhook(None, Some(2)), false, 500, 60),
            Some(Event::Failed {
                webhook_id: id,
                first_failed_at: 500,
                last_failed_at: 500
            })
        );
        assert_eq!(
            event_for(&webhook(Some(100), Some(130)), false, 150, 60),
            None,
            "rate bound"
        );
        assert_eq!(
            event_for(&webhook(Some(100), Some(130)), false, 200, 60),
            Some(Event::Failed {
                webhook_id: id,
                first_failed_at: 100,
                last_failed_at: 200
            })
        );
    }
}
