//! The shared broker of a test run.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

/// Bootstrap address of the broker: `HOOKSTREAM_TEST_KAFKA`, else the test script's default.
pub fn bootstrap() -> String {
    std::env::var("HOOKSTREAM_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:19092".into())
}

/// The high watermark of partition 0 of `topic` (0 if the topic does not exist yet).
pub fn high_watermark(topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("consumer");
    match consumer.fetch_watermarks(topic, 0, Duration::from_secs(10)) {
        Ok((_, high)) => high,
        Err(e) => panic!(
            "cannot read watermarks of {topic} from {}: {e} (is Kafka running? scripts/test.sh starts it)",
            bootstrap()
        ),
    }
}
