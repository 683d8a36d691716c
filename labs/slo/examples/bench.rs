//! Benchmark: a 30-day SLO's SLI recording-rule queries (error ratio over
//! 5m … 30d) over 30 days of 15-second samples for 50 series, evaluated at one
//! instant — by this evaluator, then by a real Prometheus server over the same
//! data in the same run, with the ratio.
//!
//! Run with `cargo run --release -p slo-toolkit --example bench`
//! (`-- --quick` skips the second Prometheus measurement, which waits about a
//! minute and a half for Prometheus to compact the backfilled blocks).
//!
//! The Prometheus side needs `prometheus` and `promtool` (Debian package
//! `prometheus`); without them only this evaluator's time is printed.

#[path = "../tests/support/real_prometheus.rs"]
#[expect(
    dead_code,
    reason = "the differential test uses the rest of the harness"
)]
mod real_prometheus;

use std::time::{Duration, Instant};

use real_prometheus::{InputSeries, Server, TempDir, Unavailable};
use slo_toolkit::promql::labels::parse_series_descriptor;
use slo_toolkit::promql::store::parse_float;
use slo_toolkit::promql::{instant_query, Storage, Value};

const STEP_MS: i64 = 15_000;
const DAYS: i64 = 30;
const WINDOWS: [&str; 8] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"];
const RUNS: usize = 9;
const PROMETHEUS_RUNS: usize = 5;

/// 25 instances, each with a 200 and a 500 counter growing at a steady rate.
fn series() -> Vec<InputSeries> {
    let points = DAYS * 86_400_000 / STEP_MS;
    let mut out = Vec::new();
    for i in 0..25 {
        for (status, inc) in [("200", 100 + i), ("500", 1 + i % 3)] {
            let (labels, _) = parse_series_descriptor(&format!(
                "http_requests_total{{instance=\"i{i}\", status=\"{status}\"}}"
            ))
            .expect("valid series");
            out.push(InputSeries {
                labels,
                points: (0..points)
                    .map(|k| (k * STEP_MS, (k * inc) as f64))
                    .collect(),
            });
        }
    }
    out
}

/// The SLI expressions Sloth records for each window.
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

fn scalar_of(v: &Value) -> f64 {
    match v {
        Value::Vector(els) if els.len() == 1 => els[0].value,
        Value::Scalar(x) => *x,
        _ => f64::NAN,
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let data = series();
    let mut storage = Storage::new();
    let load = Instant::now();
    for s in &data {
        for &(t, v) in &s.points {
            storage.append(&s.labels, t, v);
        }
    }
    println!(
        "loaded {} series, {} samples in {:.2?}",
        storage.series().len(),
        storage.sample_count(),
        load.elapsed()
    );
    let at = (DAYS * 86_400_000) - STEP_MS;
    let qs = queries();
    let mut ours_values = Vec::new();
    for q in &qs {
        // Warm-up, and the answers to check Prometheus's against.
        ours_values.push(scalar_of(
            &instant_query(&storage, q, at).expect("query runs"),
        ));
    }
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        for q in &qs {
            instant_query(&storage, q, at).expect("query runs");
        }
        runs.push(t.elapsed());
    }
    let ours = median(runs);
    println!(
        "this evaluator: {} SLI queries at one instant: {ours:.2?} (median of {RUNS}; goal < 50ms)",
        qs.len()
    );

    match prometheus_side(&data, &qs, at, &ours_values, ours, quick) {
        Ok(()) => {}
        Err(Unavailable::Missing(why)) => {
            println!("real Prometheus: not measured: {why}");
        }
        Err(Unavailable::Failed(why)) => {
            eprintln!("real Prometheus: {why}");
            std::process::exit(1);
        }
    }
}

/// Times the queries against a real Prometheus over the same data and prints
/// the ratio; the server and its data are gone when this returns.
fn prometheus_side(
    data: &[InputSeries],
    qs: &[String],
    at: i64,
    ours_values: &[f64],
    ours: Duration,
    quick: bool,
) -> Result<(), Unavailable> {
    real_prometheus::binaries()?;
    let io = |e: std::io::Error| Unavailable::Failed(e.to_string());
    let work = TempDir::new("bench").map_err(io)?;
    let tsdb = work.0.join("tsdb");
    std::fs::create_dir_all(&tsdb).map_err(io)?;
    let t = Instant::now();
    let mut last_pct = 0;
    let blocks = real_prometheus::backfill(
        real_prometheus::openmetrics_blocks(data),
        &work.0,
        &tsdb,
        |done, total| {
            let pct = done * 100 / total.max(1);
            if pct >= last_pct + 25 {
                last_pct = pct;
                println!("  backfilling with promtool: {done}/{total} blocks");
            }
        },
    )?;
    println!(
        "real Prometheus: backfilled {blocks} two-hour blocks with promtool in {:.1?}",
        t.elapsed()
    );
    let server = Server::start(&work.0, &tsdb, Duration::from_secs(60))?;
    let fresh = time_prometheus(&server, qs, at, ours_values)?;
    report(
        "Prometheus over the backfilled blocks",
        fresh,
        ours,
        server.block_count(),
    );
    if quick {
        return Ok(());
    }
    // A Prometheus that has held 30 days of data has compacted it into a few
    // large blocks; it starts compacting backfilled blocks a minute after start.
    println!("  waiting for Prometheus to compact the blocks (up to 3 minutes)…");
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last = (server.block_count(), Instant::now());
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let n = server.block_count();
        if n != last.0 {
            last = (n, Instant::now());
        } else if n < blocks && last.1.elapsed() > Duration::from_secs(10) {
            break;
        }
        if Instant::now() > deadline {
            println!("  compaction did not settle in time; skipping the second measurement");
            return Ok(());
        }
    }
    let compacted = time_prometheus(&server, qs, at, ours_values)?;
    report(
        "Prometheus after compaction",
        compacted,
        ours,
        server.block_count(),
    );
    Ok(())
}

fn report(what: &str, prom: Duration, ours: Duration, blocks: usize) {
    println!(
        "{what} ({blocks} blocks), same queries over HTTP: {prom:.2?} (median of {PROMETHEUS_RUNS}) \
         = {:.1}x this evaluator's time",
        prom.as_secs_f64() / ours.as_secs_f64().max(1e-9)
    );
}

/// Warms up, checks the answers equal ours, then times `PROMETHEUS_RUNS` runs.
fn time_prometheus(
    server: &Server,
    qs: &[String],
    at: i64,
    ours_values: &[f64],
) -> Result<Duration, Unavailable> {
    let mut max_rel: f64 = 0.0;
    for (q, ours) in qs.iter().zip(ours_values) {
        let json = server.instant_query(q, at).map_err(Unavailable::Failed)?;
        let theirs = json["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(parse_float)
            .ok_or_else(|| Unavailable::Failed(format!("{q}: unexpected answer {json}")))?;
        let rel = (theirs - ours).abs() / ours.abs().max(f64::MIN_POSITIVE);
        if rel.is_nan() || rel > 1e-9 {
            return Err(Unavailable::Failed(format!(
                "{q}: Prometheus says {theirs}, this evaluator {ours}"
            )));
        }
        max_rel = max_rel.max(rel);
    }
    println!("  answers agree with this evaluator's (largest relative difference {max_rel:.1e})");
    let mut runs = Vec::new();
    for _ in 0..PROMETHEUS_RUNS {
        let t = Instant::now();
        for q in qs {
            server.instant_query(q, at).map_err(Unavailable::Failed)?;
        }
        runs.push(t.elapsed());
    }
    Ok(median(runs))
}
