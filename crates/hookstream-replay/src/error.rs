use hookstream_kafka::KafkaError;
use hookstream_model::{Category, WebhookId};

/// Why a replay cannot start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("topic {0} does not exist: nothing was ever captured for this category, or kafka.category_prefix is wrong")]
    NoTopic(String),
    #[error("the range is empty: it ends ({until}) before it starts ({since})")]
    Backwards { since: String, until: String },
    #[error("the range starts in the future ({since}); nothing to replay")]
    Future { since: String },
    #[error("the whole range is older than what {topic} still holds (its oldest change is from {oldest}): retention removed it, if it held anything")]
    OutsideRetention { topic: String, oldest: String },
    #[error("retention removed every change {topic} held; nothing to replay")]
    AllExpired { topic: String },
    #[error("partition {0} is named twice")]
    PartitionTwice(i32),
    #[error("{topic} has no partition {partition} (it has {count})")]
    NoPartition {
        topic: String,
        partition: i32,
        count: usize,
    },
    #[error("offset {offset} of {topic} partition {partition} is no longer there: retention removed everything before offset {low}")]
    OffsetGone {
        topic: String,
        partition: i32,
        offset: i64,
        low: i64,
    },
    #[error("offset {offset} of {topic} partition {partition} is past its end ({high})")]
    OffsetPastEnd {
        topic: String,
        partition: i32,
        offset: i64,
        high: i64,
    },
    #[error("webhook {0} does not exist: it was never registered or has been removed")]
    NoWebhook(WebhookId),
    #[error("webhook {id} subscribes to {subscribed}, not {asked}")]
    WrongCategory {
        id: WebhookId,
        subscribed: String,
        asked: Category,
    },
    #[error("no webhook subscribes to {0}; nothing to replay")]
    NoSubscribers(Category),
    #[error("{source}")]
    Stopped {
        source: Box<ReplayError>,
        /// Where each unfinished partition resumes; what came before is queued.
        resume: Vec<(i32, i64)>,
    },
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("Kafka: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("the view of the webhook log: {0}")]
    Store(#[from] hookstream_store::StoreError),
}
