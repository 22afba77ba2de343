//! The retry-tier path: a queued job waits in its partition until it is due (the lane holds
//! the partition meanwhile, pausing it when full), then is attempted like any delivery.

use std::sync::Arc;
use std::time::Duration;

use hookstream_model::{now_millis, Codec, DeliveryJob};
use rdkafka::message::OwnedMessage;
use rdkafka::Message;
use tracing::error;

use crate::attempt::Core;
use crate::lanes::{Handler, Interrupted, Stops};
use crate::waiting::pause;

pub struct Retries {
    pub core: Arc<Core>,
    pub codec: Codec<DeliveryJob>,
}

impl Handler for Retries {
    async fn handle(&self, record: OwnedMessage, stops: &Stops) -> Result<(), Interrupted> {
        let job = match record.payload().map(|p| self.codec.decode(p)) {
            Some(Ok(job)) => job,
            Some(Err(e)) => {
                error!(topic = record.topic(), offset = record.offset(), error = %e, "undecodable retry job; skipped");
                return Ok(());
            }
            None => {
                error!(
                    topic = record.topic(),
                    offset = record.offset(),
                    "empty retry job; skipped"
                );
                return Ok(());
            }
        };
        let wait = job.due_at - now_millis();
        if wait > 0 {
            // Not due yet: a draining dispatcher leaves it (unsettled) to the next owner.
            pause(&stops.draining, Duration::from_millis(wait as u64)).await?;
        }
        self.core.attempt(job, None, &stops.stop).await
    }
}
