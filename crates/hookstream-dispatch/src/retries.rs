//! The retry-tier path: a queued job waits in its partition until it is due (the lane holds
//! the partition meanwhile, pausing it when full), then is attempted like any delivery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookstream_kafka::dlq::Unreadable;
use hookstream_model::{now_millis, Codec, DeliveryJob, UnixMillis};
use rdkafka::message::OwnedMessage;
use rdkafka::Message;

use crate::attempt::Core;
use crate::lanes::{Handler, Interrupted, Stops};
use crate::waiting::pause;

pub struct Retries {
    pub core: Arc<Core>,
    pub codec: Codec<DeliveryJob>,
    /// The job each tier partition is on, for the oldest-due metric.
    pub heads: Arc<Heads>,
}

/// When the job at the head of each tier partition is (or was) due.
#[derive(Debug, Default)]
pub struct Heads(Mutex<HashMap<(String, i32), UnixMillis>>);

/// A partition's head job, forgotten when dropped.
struct Head<'a> {
    heads: &'a Heads,
    key: (String, i32),
}

impl Drop for Head<'_> {
    fn drop(&mut self) {
        self.heads.lock().remove(&self.key);
    }
}

impl Heads {
    fn start(&self, topic: &str, partition: i32, due_at: UnixMillis) -> Head<'_> {
        let key = (topic.to_owned(), partition);
        self.lock().insert(key.clone(), due_at);
        Head { heads: self, key }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), UnixMillis>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Per topic, how long its most overdue head job has been due at `now` (zero if none is).
    pub fn overdue(&self, now: UnixMillis) -> HashMap<String, Duration> {
        let mut out: HashMap<String, Duration> = HashMap::new();
        for ((topic, _), due_at) in self.lock().iter() {
            let late = Duration::from_millis((now - due_at).max(0) as u64);
            let slot = out.entry(topic.clone()).or_default();
            *slot = (*slot).max(late);
        }
        out
    }
}

impl Handler for Retries {
    async fn handle(&self, record: OwnedMessage, stops: &Stops) -> Result<(), Interrupted> {
        let job = match self.codec.decode_record(record.payload()) {
            Ok(job) => job,
            Err(e) => {
                let letter = Unreadable::of(&record);
                self.core.dead_letters.send(letter, &e.to_string()).await;
                return Ok(());
            }
        };
        // Held while the job is the partition's head, however its handling ends (a revoked
        // partition's lane is aborted mid-wait).
        let _head = self
            .heads
            .start(record.topic(), record.partition(), job.due_at);
        let wait = job.due_at - now_millis();
        if wait > 0 {
            // Not due yet: a draining dispatcher leaves it (unsettled) to the next owner.
            pause(&stops.draining, Duration::from_millis(wait as u64)).await?;
        }
        self.core.attempt(job, None, &stops.stop).await
    }
}
