//! Any bytes given to the decoders of the four records: a record or an error, never a panic,
//! a hang or an allocation the input does not pay for.
#![no_main]

use hookstream_model::{Attempt, Codec, DeliveryJob, EntityChange, WebhookEvent};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

struct Codecs {
    change: Codec<EntityChange>,
    event: Codec<WebhookEvent>,
    job: Codec<DeliveryJob>,
    attempt: Codec<Attempt>,
}

fn codecs() -> &'static Codecs {
    static CODECS: OnceLock<Codecs> = OnceLock::new();
    CODECS.get_or_init(|| Codecs {
        change: Codec::new(),
        event: Codec::new(),
        job: Codec::new(),
        attempt: Codec::new(),
    })
}

fuzz_target!(|data: &[u8]| {
    let c = codecs();
    // A decoded record must encode again (it is a valid value of its schema).
    if let Ok(change) = c.change.decode(data) {
        let _ = c.change.encode(&change).expect("a decoded change encodes");
    }
    if let Ok(event) = c.event.decode(data) {
        let _ = c.event.encode(&event).expect("a decoded event encodes");
    }
    if let Ok(job) = c.job.decode(data) {
        let _ = c.job.encode(&job).expect("a decoded job encodes");
    }
    if let Ok(attempt) = c.attempt.decode(data) {
        let _ = c.attempt.encode(&attempt).expect("a decoded attempt encodes");
    }
});
