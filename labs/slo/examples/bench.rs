//! Benchmark: a 30-day SLO's SLI queries (error ratio over 5m … 30d) over 30
//! days of 15-second samples for 50 series, evaluated at one instant.
//!
//! Run with `cargo run --release -p slo-toolkit --example bench`.

use std::time::{Duration, Instant};

use slo_toolkit::promql::labels::parse_series_descriptor;
use slo_toolkit::promql::store::expand_series_values;
use slo_toolkit::promql::{instant_query, Storage};

const STEP_S: i64 = 15;
const DAYS: i64 = 30;
const WINDOWS: [&str; 8] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"];

fn series() -> Vec<(String, String)> {
    let points = DAYS * 86_400 / STEP_S;
    let mut out = Vec::new();
    for i in 0..25 {
        out.push((
            format!("http_requests_total{{instance=\"i{i}\", status=\"200\"}}"),
            format!("0+{}x{}", 100 + i, points - 1),
        ));
        out.push((
            format!("http_requests_total{{instance=\"i{i}\", status=\"500\"}}"),
            format!("0+{}x{}", 1 + i % 3, points - 1),
        ));
    }
    out
}

fn queries() -> Vec<String> {
    WINDOWS
        .iter()
        .map(|w| {
            format!(
                "sum(rate(http_requests_total{{status=~\"5..\"}}[{w}])) / sum(rate(http_requests_total[{w}]))"
            )
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let data = series();
    let mut storage = Storage::new();
    let load = Instant::now();
    for (s, v) in &data {
        let (labels, _) = parse_series_descriptor(s).expect("valid");
        for (i, x) in expand_series_values(v)
            .expect("valid")
            .into_iter()
            .enumerate()
        {
            if let Some(x) = x {
                storage.append(&labels, i as i64 * STEP_S * 1000, x);
            }
        }
    }
    println!(
        "loaded {} series, {} samples in {:.2?}",
        storage.series().len(),
        storage.sample_count(),
        load.elapsed()
    );
    let at = (DAYS * 86_400 - STEP_S) * 1000;
    let qs = queries();
    let mut runs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for q in &qs {
            instant_query(&storage, q, at).expect("query runs");
        }
        runs.push(t.elapsed());
    }
    let ours = median(runs);
    println!(
        "this evaluator: {} SLI queries at one instant: {ours:.2?} (median of 5; goal < 50ms)",
        qs.len()
    );

    // A comparison with real Prometheus needs a Prometheus server over TSDB
    // blocks of the same data: promtool's rule unit tests refuse queries this
    // large ("query processing would load too many samples into memory").
}
