//! Times as the pages show them: readable UTC inside a `<time>` element that carries the
//! exact instant.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use maud::{html, Markup};

/// `at` (unix milliseconds) as `2026-12-03 17:45:12 UTC`.
pub fn element(at: i64) -> Markup {
    match DateTime::<Utc>::from_timestamp_millis(at) {
        Some(t) => html! {
            time datetime=(t.to_rfc3339_opts(SecondsFormat::Millis, true)) {
                (t.format("%Y-%m-%d %H:%M:%S UTC"))
            }
        },
        None => html! { (at) },
    }
}

/// [`element`], or "never".
pub fn optional(at: Option<i64>) -> Markup {
    match at {
        Some(at) => element(at),
        None => html! { "never" },
    }
}

/// An RFC 3339 time from the API, shown like [`element`] (as it is if it does not parse).
pub fn rfc3339(text: &str) -> Markup {
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => element(t.timestamp_millis()),
        Err(_) => html! { (text) },
    }
}

/// A time typed in the replay form for the API: a `datetime-local` value (no zone) is UTC,
/// anything else goes to the API as it is, to be judged there.
pub fn from_form(text: &str) -> String {
    let text = text.trim();
    for format in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            return local.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true);
        }
    }
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc() {
        let shown = element(1_796_083_200_000).into_string();
        assert!(shown.contains("2026-12-01 00:00:00 UTC"), "{shown}");
        assert!(
            shown.contains(r#"datetime="2026-12-01T00:00:00.000Z""#),
            "{shown}"
        );
        assert_eq!(optional(None).into_string(), "never");
        assert!(rfc3339("2026-12-01T00:00:00Z")
            .into_string()
            .contains("00:00:00 UTC"));
        assert_eq!(rfc3339("soon").into_string(), "soon");
    }

    #[test]
    fn form_times_without_a_zone_are_utc() {
        assert_eq!(from_form("2026-12-01T10:30"), "2026-12-01T10:30:00.000Z");
        assert_eq!(
            from_form(" 2026-12-01T10:30:05 "),
            "2026-12-01T10:30:05.000Z"
        );
        assert_eq!(
            from_form("2026-12-01T10:30:05+02:00"),
            "2026-12-01T10:30:05+02:00"
        );
        assert_eq!(from_form("yesterday"), "yesterday");
        assert_eq!(from_form(""), "");
    }
}
