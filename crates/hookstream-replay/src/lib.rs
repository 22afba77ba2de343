//! Replay: sends history from a category topic to webhooks again (DESIGN.md §2).
//!
//! * [`range`]: turns a time range or start offsets into an offset range per partition
//!   (`offsets_for_times`), and says when retention removed part or all of it.
//! * [`targets`]: the webhooks a replay goes to, checked against the view.
//! * [`run`]: reads the range and queues one targeted delivery per (record, webhook) on the
//!   immediate tier `hookstream.replay`, rate-limited; dispatchers deliver them with the normal
//!   rules, marked `X-Hookstream-Replay: true`.

mod error;
pub mod range;
pub mod run;
pub mod targets;

pub use error::ReplayError;
pub use range::{PartitionRange, Range, Start};
pub use run::{Options, Progress, Summary};
pub use targets::Target;

/// A time as people read it: RFC 3339 in UTC with milliseconds.
pub fn rfc3339(millis: hookstream_model::UnixMillis) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| format!("{millis} ms"))
}

/// Parses an RFC 3339 time (`2026-12-01T00:00:00Z`) into unix milliseconds.
pub fn parse_time(text: &str) -> Result<hookstream_model::UnixMillis, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("{text:?} is not an RFC 3339 time such as 2026-12-01T00:00:00Z: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_bad_ones_say_what_is_expected() {
        let t = parse_time("2026-12-01T00:00:00Z").expect("parses");
        assert_eq!(t, 1_796_083_200_000);
        assert_eq!(rfc3339(t), "2026-12-01T00:00:00.000Z");
        assert_eq!(parse_time("2026-12-01T01:00:00+01:00"), Ok(t));
        let err = parse_time("yesterday").expect_err("not a time");
        assert!(err.contains("RFC 3339"), "{err}");
    }
}
