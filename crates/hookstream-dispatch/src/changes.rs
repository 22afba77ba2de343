//! The category-topic path: each change becomes attempt 1 of a delivery to every webhook of
//! its category that the view holds once the happens-before barrier is passed.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use hookstream_kafka::dlq::Unreadable;
use hookstream_kafka::Topics;
use hookstream_model::{
    now_millis, Category, Codec, DeliveryJob, EntityChange, UnixMillis, WebhookId,
};
use rdkafka::message::OwnedMessage;
use rdkafka::Message;

use crate::attempt::Core;
use crate::lanes::{Handler, Interrupted, Stops};
use crate::sign;
use crate::waiting::until_ok;

pub struct Changes {
    pub core: Arc<Core>,
    pub topics: Topics,
    pub codec: Codec<EntityChange>,
}

/// The change a record of `topic` holds, or why it holds none: it is empty, does not decode,
/// or is not of `category`, the topic's (`None`: `topic` is no category topic). The
/// dispatcher and replays read category topics alike.
pub fn read_change(
    codec: &Codec<EntityChange>,
    topic: &str,
    payload: Option<&[u8]>,
    category: Option<Category>,
) -> Result<EntityChange, String> {
    let change = codec.decode_record(payload).map_err(|e| e.to_string())?;
    match category {
        Some(category) if category == change.category => Ok(change),
        _ => Err(format!(
            "a change of category {} on topic {topic}",
            change.category
        )),
    }
}

impl Handler for Changes {
    async fn handle(&self, record: OwnedMessage, stops: &Stops) -> Result<(), Interrupted> {
        // A change in hand is delivered even while draining; only the hard stop interrupts.
        let stop = &stops.stop;
        let (topic, payload) = (record.topic(), record.payload());
        let category = self.topics.category_of(topic);
        let change = match read_change(&self.codec, topic, payload, category) {
            Ok(change) => change,
            Err(reason) => {
                let letter = Unreadable::of(&record);
                self.core.dead_letters.send(letter, &reason).await;
                return Ok(());
            }
        };
        self.core
            .barrier
            .pass(record.timestamp().to_millis(), stop)
            .await?;
        let webhooks = until_ok(
            stop,
            "read subscriptions",
            Duration::from_secs(1),
            || async { self.core.store.by_category(change.category) },
        )
        .await?;
        let now = now_millis();
        let data: Arc<str> = change.data.as_str().into();
        let source = Source {
            partition: record.partition(),
            offset: record.offset(),
        };
        let jobs: Vec<DeliveryJob> = webhooks
            .iter()
            .map(|webhook| first_attempt(&change, &data, source, webhook.id(), now, false))
            .collect();
        // The webhooks were just read from the view: the attempts need not read them again.
        let attempts = jobs
            .into_iter()
            .zip(webhooks.iter().cloned())
            .map(|(job, webhook)| self.core.attempt(job, Some(webhook), stop));
        let settled = join_all(attempts).await;
        settled.into_iter().collect()
    }
}

/// Where a change was read: its category partition and offset.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub partition: i32,
    pub offset: i64,
}

/// Attempt 1 of delivering `change` (read at `source`, its JSON `data`) to `webhook`, due
/// `now`. Replays build their jobs here too, so a replayed delivery has the same
/// `webhook-id` as the original.
pub fn first_attempt(
    change: &EntityChange,
    data: &Arc<str>,
    source: Source,
    webhook: WebhookId,
    now: UnixMillis,
    replay: bool,
) -> DeliveryJob {
    DeliveryJob {
        delivery_id: sign::delivery_id(&change.change_id, webhook),
        webhook_id: webhook,
        category: change.category,
        entity_id: change.entity_id,
        change_id: change.change_id.clone(),
        op: change.op,
        data: data.clone(),
        source_partition: source.partition,
        source_offset: version(change, source.offset),
        attempt: 1,
        first_failed_at: 0,
        due_at: now,
        replay,
    }
}

/// The version of the entity a change carries, for supersede checks: its PostgreSQL LSN when it
/// has one (stable when capture re-sends it, increasing per row), else its offset.
fn version(change: &EntityChange, offset: i64) -> i64 {
    change.lsn.unwrap_or(offset)
}
