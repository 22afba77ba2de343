use rdkafka::error::KafkaError as RdKafkaError;

/// A failure talking to Kafka. All of these may succeed if tried again later.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("cannot create Kafka client: {0}")]
    Client(#[source] RdKafkaError),
    #[error("cannot create topic {topic}: {source}")]
    CreateTopic {
        topic: String,
        #[source]
        source: RdKafkaError,
    },
    #[error("Kafka did not acknowledge the record on {topic}: {source}")]
    Produce {
        topic: String,
        #[source]
        source: RdKafkaError,
    },
    #[error("cannot read the high watermark of {topic}: {source}")]
    Watermarks {
        topic: String,
        #[source]
        source: RdKafkaError,
    },
    #[error("no high watermark of {topic} within {waited_ms} ms (is its leader reachable?)")]
    WatermarkTimeout { topic: String, waited_ms: u128 },
    #[error("the event log has not been folded up to offset {target} within {waited_ms} ms (at {reached})")]
    CatchUpTimeout {
        target: i64,
        reached: i64,
        waited_ms: u128,
    },
    #[error("topics have no leader yet: {}", .0.join(", "))]
    TopicsNotReady(Vec<String>),
    #[error("cannot reset the view of the event log: {0}")]
    Fold(String),
    #[error("the event log follower has stopped")]
    FollowerStopped,
}
