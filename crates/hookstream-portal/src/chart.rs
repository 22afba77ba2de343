//! The 24-hour chart of a webhook's page: an inline SVG of stacked bars (delivered below,
//! failed above), drawn on the server so it needs no script, with a text equivalent.

use maud::{html, Markup};

use crate::api::HourStats;

const WIDTH: u64 = 480;
const HEIGHT: u64 = 120;
const BAR: u64 = WIDTH / 24;

/// The chart of `hours` (oldest first).
pub fn day(hours: &[HourStats]) -> Markup {
    let top = hours
        .iter()
        .map(|h| h.delivered + h.failed)
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = |n: u64| n * (HEIGHT - 10) / top;
    let summary = format!(
        "Deliveries per hour over the last 24 hours: {} delivered and {} failed in all; the busiest hour had {top} attempts.",
        hours.iter().map(|h| h.delivered).sum::<u64>(),
        hours.iter().map(|h| h.failed).sum::<u64>(),
    );
    html! {
        figure.chart {
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-labelledby="chart-title"
                xmlns="http://www.w3.org/2000/svg" {
                title #chart-title { (summary) }
                line.axis x1="0" y1=(HEIGHT) x2=(WIDTH) y2=(HEIGHT) {}
                @for (n, hour) in hours.iter().enumerate() {
                    @let x = n as u64 * BAR + 1;
                    @let ok = scale(hour.delivered);
                    @let bad = scale(hour.failed);
                    g {
                        title { (hour.start) ": " (hour.delivered) " delivered, " (hour.failed) " failed" }
                        rect.delivered x=(x) y=(HEIGHT - ok) width=(BAR - 2) height=(ok) {}
                        rect.failed x=(x) y=(HEIGHT - ok - bad) width=(BAR - 2) height=(bad) {}
                    }
                }
            }
            figcaption {
                span.key.delivered-key { "Delivered" } " " span.key.failed-key { "Failed" }
                " – one bar per hour, oldest on the left."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(delivered: u64, failed: u64) -> HourStats {
        HourStats {
            start: "2026-12-01T00:00:00.000Z".into(),
            delivered,
            failed,
        }
    }

    #[test]
    fn bars_scale_to_the_busiest_hour() {
        let mut hours: Vec<HourStats> = (0..24).map(|_| hour(0, 0)).collect();
        hours[23] = hour(30, 10);
        hours[0] = hour(0, 4);
        let svg = day(&hours).into_string();
        assert_eq!(svg.matches("<rect").count(), 48);
        // The busiest hour fills the chart: 30 and 10 of 40 are 82 and 27 of the 110 px.
        assert!(svg.contains(r#"y="38" width="18" height="82""#), "{svg}");
        assert!(svg.contains(r#"y="11" width="18" height="27""#), "{svg}");
        assert!(svg.contains("30 delivered and 14 failed in all"), "{svg}");
    }

    #[test]
    fn an_empty_day_draws_flat_bars() {
        let hours: Vec<HourStats> = (0..24).map(|_| hour(0, 0)).collect();
        let svg = day(&hours).into_string();
        assert!(svg.contains(r#"height="0""#));
        assert!(svg.contains("0 delivered and 0 failed"));
    }
}
