//! From what the operator asked for (a time range or start offsets) to an offset range per
//! partition of one category topic.

use std::time::Duration;

use hookstream_model::{now_millis, UnixMillis};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::{rfc3339, ReplayError};

/// Where a replay starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The first change at or after this time, on every partition.
    Time(UnixMillis),
    /// These offsets, on these partitions only.
    Offsets(Vec<(i32, i64)>),
}

/// The records `[start, end)` of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRange {
    pub partition: i32,
    pub start: i64,
    pub end: i64,
}

impl PartitionRange {
    pub fn len(&self) -> u64 {
        (self.end - self.start).max(0) as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a replay reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub topic: String,
    pub partitions: Vec<PartitionRange>,
    /// Set when retention already removed part of the range: what is left is replayed.
    pub warning: Option<String>,
}

impl Range {
    /// Records in the range (category topics are written without transactions and never
    /// compacted, so offsets are consecutive).
    pub fn records(&self) -> u64 {
        self.partitions.iter().map(PartitionRange::len).sum()
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// Resolves `start`..`until` on `category`'s topic with a client of its own.
pub async fn lookup(
    kafka: &hookstream_kafka::KafkaConfig,
    category: hookstream_model::Category,
    start: Start,
    until: Option<UnixMillis>,
) -> Result<Range, ReplayError> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", "hookstream-replay-unused")
        .set("enable.auto.commit", "false")
        .create()
        .map_err(hookstream_kafka::KafkaError::Client)?;
    let topic = kafka.topics().category(category);
    tokio::task::spawn_blocking(move || resolve(&consumer, &topic, &start, until))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Resolves `start`..`until` on `topic`. Blocking: call from `spawn_blocking`.
pub fn resolve(
    consumer: &BaseConsumer,
    topic: &str,
    start: &Start,
    until: Option<UnixMillis>,
) -> Result<Range, ReplayError> {
    if let Start::Time(since) = *start {
        if since > now_millis() {
            return Err(ReplayError::Future {
                since: rfc3339(since),
            });
        }
        if let Some(until) = until.filter(|until| *until < since) {
            return Err(ReplayError::Backwards {
                since: rfc3339(since),
                until: rfc3339(until),
            });
        }
    }
    let count = partition_count(consumer, topic)?;
    let mut partitions = Vec::new();
    let ends = match until {
        Some(until) => Some(offsets_at(consumer, topic, count, until)?),
        None => None,
    };
    let starts: Vec<(i32, i64)> = match start {
        Start::Time(since) => offsets_at(consumer, topic, count, *since)?
            .into_iter()
            .enumerate()
            .map(|(p, o)| (p as i32, o))
            .collect(),
        Start::Offsets(offsets) => offsets.clone(),
    };
    let mut oldest_left: Option<UnixMillis> = None;
    let mut emptied = 0;
    let mut seen = std::collections::HashSet::new();
    for (partition, offset) in starts {
        if !seen.insert(partition) {
            return Err(ReplayError::PartitionTwice(partition));
        }
        if partition < 0 || partition as usize >= count {
            return Err(ReplayError::NoPartition {
                topic: topic.to_owned(),
                partition,
                count,
            });
        }
        let (low, high) = consumer.fetch_watermarks(topic, partition, TIMEOUT)?;
        // offsets_for_times answers the end for "nothing at or after": the high watermark.
        let offset = if offset < 0 { high } else { offset };
        if let Start::Offsets(_) = start {
            if offset < low {
                return Err(ReplayError::OffsetGone {
                    topic: topic.to_owned(),
                    partition,
                    offset,
                    low,
                });
            }
            if offset > high {
                return Err(ReplayError::OffsetPastEnd {
                    topic: topic.to_owned(),
                    partition,
                    offset,
                    high,
                });
            }
        }
        if low > 0 && low == high {
            emptied += 1;
        }
        let end = match &ends {
            Some(ends) if ends[partition as usize] >= 0 => ends[partition as usize],
            _ => high,
        };
        if let (Start::Time(since), true) = (start, low > 0 && low < high) {
            // Retention removed the start of this partition: did the range reach into it?
            let oldest = timestamp_at(consumer, topic, partition, low)?;
            if let Some(oldest) = oldest.filter(|oldest| *since < *oldest) {
                oldest_left = Some(oldest_left.map_or(oldest, |o| o.min(oldest)));
            }
        }
        partitions.push(PartitionRange {
            partition,
            start: offset.min(end),
            end,
        });
    }
    if emptied == count && matches!(start, Start::Time(_)) {
        return Err(ReplayError::AllExpired {
            topic: topic.to_owned(),
        });
    }
    let range = Range {
        topic: topic.to_owned(),
        partitions,
        warning: oldest_left.map(|oldest| {
            format!(
                "retention already removed the start of the range from {topic}: replaying from {} on",
                rfc3339(oldest)
            )
        }),
    };
    if let Some(oldest) = oldest_left {
        if range.records() == 0 && until.is_some_and(|until| until <= oldest) {
            return Err(ReplayError::OutsideRetention {
                topic: topic.to_owned(),
                oldest: rfc3339(oldest),
            });
        }
    }
    Ok(range)
}

fn partition_count(consumer: &BaseConsumer, topic: &str) -> Result<usize, ReplayError> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let missing = || ReplayError::NoTopic(topic.to_owned());
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(missing)?;
    match found.error() {
        Some(code) if RDKafkaErrorCode::from(code) == RDKafkaErrorCode::UnknownTopicOrPartition => {
            Err(missing())
        }
        _ if found.partitions().is_empty() => Err(missing()),
        _ => Ok(found.partitions().len()),
    }
}

/// Per partition, the offset of the first record at or after `time`, or -1 for none.
fn offsets_at(
    consumer: &BaseConsumer,
    topic: &str,
    count: usize,
    time: UnixMillis,
) -> Result<Vec<i64>, ReplayError> {
    let mut query = TopicPartitionList::new();
    for partition in 0..count as i32 {
        query.add_partition_offset(topic, partition, Offset::Offset(time))?;
    }
    let answer = consumer.offsets_for_times(query, TIMEOUT)?;
    let mut offsets = vec![-1; count];
    for element in answer.elements() {
        if let Offset::Offset(o) = element.offset() {
            if let Some(slot) = offsets.get_mut(element.partition() as usize) {
                *slot = o;
            }
        }
    }
    Ok(offsets)
}

/// The timestamp of the record at `offset`, if it can be read within the timeout.
fn timestamp_at(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<Option<UnixMillis>, ReplayError> {
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    consumer.assign(&assignment)?;
    let deadline = std::time::Instant::now() + TIMEOUT;
    let found = loop {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(record)) if record.partition() == partition => {
                break record.timestamp().to_millis();
            }
            Some(_) | None if std::time::Instant::now() < deadline => continue,
            _ => break None,
        }
    };
    consumer.unassign()?;
    Ok(found)
}
