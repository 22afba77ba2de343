//! The plots of a scenario, drawn as SVG: deliveries per second and the dispatcher's memory
//! over time, and the latency distribution by percentile.

use std::path::Path;

use anyhow::anyhow;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::Series;

const SIZE: (u32, u32) = (900, 560);

/// Draws `<dir>/<name>-throughput.svg` and, when there are latencies, `<name>-latency.svg`.
pub fn draw(dir: &Path, name: &str, series: &Series) -> anyhow::Result<()> {
    throughput(&dir.join(format!("{name}-throughput.svg")), name, series)?;
    if !series.latency_us.is_empty() {
        latency(&dir.join(format!("{name}-latency.svg")), name, series)?;
    }
    Ok(())
}

fn throughput(path: &Path, name: &str, series: &Series) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (top, bottom) = root.split_vertically(SIZE.1 * 62 / 100);
    let per_s = 1000.0 / series.bucket_ms.max(1) as f64;
    let secs = |i: usize| i as f64 * series.bucket_ms as f64 / 1000.0;
    let rates: Vec<(f64, f64)> = series
        .deliveries
        .iter()
        .enumerate()
        .map(|(i, n)| (secs(i), *n as f64 * per_s))
        .collect();
    let end = secs(series.deliveries.len().max(series.dispatch_rss_mib.len())).max(1.0);
    let peak = rates.iter().map(|r| r.1).fold(1.0, f64::max);
    let caption = format!("{name}: deliveries per second");
    let mut chart = over_time(&top, (&caption, 20), end, peak * 1.1, "deliveries/s")?;
    chart
        .draw_series(AreaSeries::new(rates, 0.0, BLUE.mix(0.25)).border_style(BLUE))
        .map_err(|e| anyhow!("{e}"))?;

    let rss: Vec<(f64, f64)> = series
        .dispatch_rss_mib
        .iter()
        .enumerate()
        .map(|(i, m)| (secs(i), *m))
        .collect();
    let top_rss = rss.iter().map(|r| r.1).fold(160.0, f64::max);
    let caption = ("dispatcher resident set (MiB)", 16);
    let mut chart = over_time(&bottom, caption, end, top_rss * 1.05, "MiB")?;
    chart
        .draw_series(LineSeries::new(rss, RED.stroke_width(2)))
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 150.0), (end, 150.0)],
            BLACK.mix(0.4).stroke_width(1),
        ))
        .map_err(|e| anyhow!("{e}"))?
        .label("150 MiB target");
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

type Area<'b> = DrawingArea<SVGBackend<'b>, Shift>;
type Panel<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A panel of some quantity over the scenario's seconds, its axes drawn.
fn over_time<'a, 'b>(
    area: &'a Area<'b>,
    (caption, size): (&str, u32),
    seconds: f64,
    top: f64,
    y_desc: &str,
) -> anyhow::Result<Panel<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", size))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..seconds, 0.0..top)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(y_desc)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    Ok(chart)
}

/// Latency by percentile, the x axis in "nines" (50 %, 90 %, 99 %, 99.9 %, …).
fn latency(path: &Path, name: &str, series: &Series) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let points: Vec<(f64, f64)> = series
        .latency_us
        .iter()
        .filter(|(q, _)| *q < 1.0)
        .map(|(q, us)| (nines(*q), *us as f64 / 1000.0))
        .collect();
    let x_end = points.iter().map(|p| p.0).fold(2.0, f64::max).min(5.0);
    let y_end = points.iter().map(|p| p.1).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{name}: latency from ingest acceptance to receipt"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_end, (0.05..y_end * 1.2).log_scale())
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("milliseconds")
        .x_label_formatter(&|x| percentile_label(*x))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .draw_series(LineSeries::new(
            points.into_iter().map(|(x, y)| (x, y.max(0.05))),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// 0.9 → 1, 0.99 → 2, 0.999 → 3.
fn nines(quantile: f64) -> f64 {
    -(1.0 - quantile).max(1e-9).log10()
}

fn percentile_label(nines: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-nines));
    if p < 99.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.2}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_nines() {
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(3.0), "99.90%");
        assert_eq!(percentile_label(nines(0.5)), "50%");
    }

    #[test]
    fn draws_both_plots() {
        let dir = tempfile_dir();
        let series = Series {
            bucket_ms: 100,
            deliveries: vec![0, 10, 50, 40],
            dispatch_rss_mib: vec![40.0, 50.0, 52.0, 52.0],
            latency_us: vec![(0.5, 1500), (0.9, 3000), (0.99, 9000), (1.0, 20_000)],
        };
        draw(&dir, "unit", &series).expect("draws");
        for file in ["unit-throughput.svg", "unit-latency.svg"] {
            let svg = std::fs::read_to_string(dir.join(file)).expect("written");
            assert!(svg.starts_with("<svg"), "{file}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("hookstream-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }
}
