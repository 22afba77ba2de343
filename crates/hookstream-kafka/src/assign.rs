//! Consumers that read every partition of a topic from positions their caller keeps (in
//! sled), outside any consumer group: the followers of `hookstream.attempts`.

use std::time::Duration;

use hookstream_model::UnixMillis;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::{KafkaConfig, KafkaError};

/// Where a follower starts reading one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The first record still kept.
    Beginning,
    /// This offset (where the follower left off).
    Offset(i64),
    /// The first record written at or after this time; the end if there is none.
    Time(UnixMillis),
}

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// A consumer assigned every partition of `topic`, each from where `start` says, and where
/// each partition starts (a time resolved to an offset: the end when nothing is that new). `group` names
/// the client only: nothing is ever committed.
pub fn every_partition(
    kafka: &KafkaConfig,
    topic: &str,
    group: &str,
    mut start: impl FnMut(i32) -> Start,
) -> Result<(StreamConsumer, Vec<(i32, Offset)>), KafkaError> {
    let consumer: StreamConsumer = kafka
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .create()
        .map_err(KafkaError::Client)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(KafkaError::Client)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(KafkaError::TopicsNotReady(vec![topic.to_owned()]));
    }
    let mut assignment = TopicPartitionList::new();
    let mut by_time = TopicPartitionList::new();
    for partition in partitions {
        let (list, offset) = match start(partition) {
            Start::Beginning => (&mut assignment, Offset::Beginning),
            Start::Offset(next) => (&mut assignment, Offset::Offset(next)),
            // offsets_for_times takes the time where the offset goes.
            Start::Time(at) => (&mut by_time, Offset::Offset(at)),
        };
        list.add_partition_offset(topic, partition, offset)
            .map_err(KafkaError::Client)?;
    }
    if by_time.count() > 0 {
        let found = consumer
            .offsets_for_times(by_time, METADATA_TIMEOUT)
            .map_err(KafkaError::Client)?;
        for element in found.elements() {
            // A partition that could not answer fails the whole assignment (it is retried),
            // rather than silently starting at the end.
            element.error().map_err(KafkaError::Client)?;
            // No record at or after the time: the end, as an offset now, so that a record
            // written before the first fetch is still read.
            let offset = match element.offset() {
                Offset::Offset(o) if o >= 0 => o,
                _ => {
                    consumer
                        .fetch_watermarks(topic, element.partition(), METADATA_TIMEOUT)
                        .map_err(|source| KafkaError::Watermarks {
                            topic: topic.to_owned(),
                            source,
                        })?
                        .1
                }
            };
            let offset = Offset::Offset(offset);
            assignment
                .add_partition_offset(topic, element.partition(), offset)
                .map_err(KafkaError::Client)?;
        }
    }
    consumer.assign(&assignment).map_err(KafkaError::Client)?;
    let starts = assignment
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset()))
        .collect();
    Ok((consumer, starts))
}
