use std::collections::BTreeMap;

use hookstream_model::Category;
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// Where the broker is and how hookstream's topics are named and created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma-separated `host:port`.
    pub brokers: String,
    /// Prefix of the 23 category topics (`igdb.` gives `igdb.game`, …).
    pub category_prefix: String,
    /// Prefix of hookstream's own topics (`hookstream.` gives `hookstream.webhooks`, …).
    pub internal_prefix: String,
    /// Partitions of each category topic when hookstream creates it.
    pub partitions: i32,
    /// Replication factor of every topic hookstream creates.
    pub replication_factor: i32,
    /// `min.insync.replicas` of every topic hookstream creates: with `acks=all`, a write
    /// succeeds only once this many replicas have it (2 with a replication factor of 3).
    pub min_insync_replicas: i32,
    /// `retention.ms` of the category topics: how far back replays can reach. -1 keeps all.
    pub category_retention_ms: i64,
    /// `retention.ms` of `hookstream.attempts`: how far back the delivery log can be rebuilt.
    pub attempts_retention_ms: i64,
    /// Extra librdkafka properties for every client (e.g. `security.protocol`).
    pub client: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            category_prefix: "igdb.".into(),
            internal_prefix: "hookstream.".into(),
            partitions: 6,
            replication_factor: 1,
            min_insync_replicas: 1,
            category_retention_ms: 30 * 24 * 3600 * 1000,
            attempts_retention_ms: 7 * 24 * 3600 * 1000,
            client: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// The topic names this configuration gives.
    pub fn topics(&self) -> Topics {
        Topics {
            category_prefix: self.category_prefix.clone(),
            internal_prefix: self.internal_prefix.clone(),
        }
    }

    /// A librdkafka configuration with the brokers and the extra properties set.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in &self.client {
            config.set(key, value);
        }
        config
    }
}

/// The names of hookstream's topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    category_prefix: String,
    internal_prefix: String,
}

impl Topics {
    /// `igdb.<slug>`: the changes of one category.
    pub fn category(&self, category: Category) -> String {
        category.topic(&self.category_prefix)
    }

    /// All 23 category topics, in key order.
    pub fn categories(&self) -> Vec<String> {
        Category::ALL.iter().map(|c| self.category(*c)).collect()
    }

    /// The category whose topic is `topic`.
    pub fn category_of(&self, topic: &str) -> Option<Category> {
        let slug = topic.strip_prefix(&self.category_prefix)?;
        Category::from_slug(slug).ok()
    }

    /// `hookstream.retry.<tier>`: deliveries waiting for their next attempt.
    pub fn retry(&self, tier: &str) -> String {
        format!("{}retry.{tier}", self.internal_prefix)
    }

    /// `hookstream.replay`: the immediate tier, where replays queue targeted deliveries.
    pub fn replay(&self) -> String {
        format!("{}replay", self.internal_prefix)
    }

    /// `hookstream.dlq`: records that could not be read, with the reason.
    pub fn dlq(&self) -> String {
        format!("{}dlq", self.internal_prefix)
    }

    /// `hookstream.attempts`: one record per delivery attempt, for the delivery log.
    pub fn attempts(&self) -> String {
        format!("{}attempts", self.internal_prefix)
    }

    /// `hookstream.acks`: the 2xx answers of webhooks that may have retries, as attempt
    /// records, so that every dispatcher's supersede checks know them.
    pub fn acks(&self) -> String {
        format!("{}acks", self.internal_prefix)
    }

    /// `hookstream.webhooks`: the subscription event log (one partition, kept forever).
    pub fn webhooks(&self) -> String {
        format!("{}webhooks", self.internal_prefix)
    }
}
