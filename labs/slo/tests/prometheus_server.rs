//! Differential check against a real Prometheus server (2.42, the Debian
//! package): three hours of a simulated toy-service run — counters with resets
//! and jittered scrape times, histograms, a scrape gap and a series that stops
//! (lookback), a gauge with NaN and negative values, an info metric for joins —
//! are backfilled into TSDB blocks with promtool and served by `prometheus` on
//! a free loopback port. Every query is asked of the server's HTTP API and of
//! this evaluator, as instant queries at several instants and as range
//! queries; label sets must be identical, values equal within 1e-9 relative
//! (Prometheus may add series in another order), exactly equal values must be
//! formatted the same, and errors must be errors on both sides. Skipped, with
//! a notice, when `prometheus` or `promtool` is not installed.

#[path = "support/real_prometheus.rs"]
#[expect(dead_code, reason = "the benchmark uses the rest of the harness")]
mod real_prometheus;

use std::time::Duration;

use real_prometheus::{InputSeries, Server, TempDir, Unavailable};
use serde_json::Value as Json;
use slo_toolkit::cli::api_json;
use slo_toolkit::promql::labels::{parse_series_descriptor, Labels};
use slo_toolkit::promql::store::parse_float;
use slo_toolkit::promql::{instant_query, range_query, Storage, Value};

const STEP_MS: i64 = 15_000;
const POINTS: i64 = 720; // three hours: the data spans two TSDB blocks

/// A small deterministic generator (no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
    }
}

fn labels(s: &str) -> Labels {
    parse_series_descriptor(s).expect("valid series").0
}

fn simulated_run() -> Vec<InputSeries> {
    let mut rng = Lcg(7);
    let mut out = Vec::new();
    let min = 60_000;
    for inst in ["a", "b", "c"] {
        // Instance b scrapes 7.3 s out of phase with jitter, so the rate
        // extrapolation sees ranges that don't line up with samples.
        let scrape_t = |i: i64, rng: &mut Lcg| match inst {
            "b" => i * STEP_MS + 7_300 + (rng.next() * 400.0) as i64 - 200,
            _ => i * STEP_MS,
        };
        for path in ["/api/pizza", "/api/ratings"] {
            for (status, lo, hi) in [("200", 50.0, 150.0), ("500", 0.0, 8.0)] {
                let mut v = 0.0;
                let mut points = Vec::new();
                for i in 0..POINTS {
                    let t = scrape_t(i, &mut rng);
                    v += (lo + (hi - lo) * rng.next()).floor();
                    if inst == "b" && (i == 160 || i == 500) {
                        v = (hi * rng.next()).floor(); // process restart: counter reset
                    }
                    let gap = inst == "a" && (70 * min..75 * min).contains(&t);
                    let gone = inst == "c" && path == "/api/ratings" && t >= 100 * min;
                    if !gap && !gone {
                        points.push((t, v));
                    }
                }
                out.push(InputSeries {
                    labels: labels(&format!(
                        "http_requests_total{{instance=\"{inst}\", path=\"{path}\", status=\"{status}\"}}"
                    )),
                    points,
                });
            }
        }
        let bounds = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];
        let mut counts = [0.0; 6];
        let mut buckets: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 6];
        let (mut sum, mut sum_pts) = (0.0, Vec::new());
        for i in 0..POINTS {
            let t = scrape_t(i, &mut rng);
            let slow = (60 * min..80 * min).contains(&t);
            let mut cum = 0.0;
            for (b, c) in counts.iter_mut().enumerate() {
                let share = if slow {
                    [5.0, 10.0, 20.0, 30.0, 20.0, 15.0][b]
                } else {
                    [40.0, 30.0, 15.0, 8.0, 5.0, 2.0][b]
                };
                cum += (share * (0.5 + rng.next())).floor();
                *c += cum;
            }
            for (b, s) in buckets.iter_mut().enumerate() {
                s.push((t, counts[b]));
            }
            sum += counts[5] * 0.01 * rng.next();
            sum_pts.push((t, sum));
        }
        for (b, points) in bounds.iter().zip(buckets) {
            out.push(InputSeries {
                labels: labels(&format!(
                    "http_request_duration_seconds_bucket{{instance=\"{inst}\", le=\"{b}\"}}"
                )),
                points,
            });
        }
        let count_pts = out.last().map(|s| s.points.clone()).unwrap_or_default();
        out.push(InputSeries {
            labels: labels(&format!(
                "http_request_duration_seconds_count{{instance=\"{inst}\"}}"
            )),
            points: count_pts,
        });
        out.push(InputSeries {
            labels: labels(&format!(
                "http_request_duration_seconds_sum{{instance=\"{inst}\"}}"
            )),
            points: sum_pts,
        });
        let mut q = 10.0;
        let mut points = Vec::new();
        for i in 0..POINTS {
            let t = scrape_t(i, &mut rng);
            q = (q + 6.0 * rng.next() - 3.0_f64).max(0.0).floor();
            points.push((t, q));
        }
        out.push(InputSeries {
            labels: labels(&format!("queue_depth{{instance=\"{inst}\"}}")),
            points,
        });
        let mut points = Vec::new();
        for i in 0..POINTS {
            let t = scrape_t(i, &mut rng);
            let down = inst == "a" && (280..300).contains(&i);
            points.push((t, if down { 0.0 } else { 1.0 }));
        }
        out.push(InputSeries {
            labels: labels(&format!("up{{instance=\"{inst}\", job=\"toy\"}}")),
            points,
        });
        let mut points = Vec::new();
        for i in 0..POINTS {
            let t = scrape_t(i, &mut rng);
            let v = if inst == "c" && (400..404).contains(&i) {
                f64::NAN // a sensor that reports NaN for a minute
            } else {
                -5.0 + 30.0 * rng.next()
            };
            points.push((t, v));
        }
        out.push(InputSeries {
            labels: labels(&format!("temperature_celsius{{instance=\"{inst}\"}}")),
            points,
        });
        // A broken histogram: buckets out of order (0.5 below 0.1 at times)
        // and, for instance c, no +Inf bucket.
        for (le, scale) in [("0.1", 1.0), ("0.5", 0.9), ("1", 2.0), ("+Inf", 2.5)] {
            if inst == "c" && le == "+Inf" {
                continue;
            }
            out.push(InputSeries {
                labels: labels(&format!("weird_bucket{{instance=\"{inst}\", le=\"{le}\"}}")),
                points: (0..POINTS)
                    .map(|i| {
                        (
                            i * STEP_MS,
                            (i as f64 * scale * (1.0 + 0.3 * (i as f64 / 7.0).sin())).floor(),
                        )
                    })
                    .collect(),
            });
        }
        out.push(InputSeries {
            labels: labels(&format!(
                "build_info{{instance=\"{inst}\", version=\"1.{}.0\"}}",
                if inst == "c" { 3 } else { 2 }
            )),
            points: (0..POINTS).map(|i| (i * STEP_MS, 1.0)).collect(),
        });
    }
    out
}

/// Instant queries, asked at every instant of `INSTANTS`.
const QUERIES: &[&str] = &[
    // Selectors, lookback, offset, @.
    "http_requests_total",
    "http_requests_total{status=~\"5..\"}",
    "http_requests_total{path!=\"/api/pizza\", status!~\"2..\"}",
    "{__name__=~\"up|queue_depth\", instance!=\"b\"}",
    "http_requests_total{instance=\"a\"} offset 10m",
    "http_requests_total{instance=\"c\"} offset -5m",
    "http_requests_total{instance=\"b\"} @ 1800",
    "up @ 5400.5 offset 1m",
    "http_requests_total{instance=\"b\", path=\"/api/pizza\", status=\"500\"}[2m]",
    "queue_depth[1m] offset 30s",
    // Counters: extrapolation, resets.
    "rate(http_requests_total[1m])",
    "rate(http_requests_total[5m])",
    "rate(http_requests_total[30m])",
    "rate(http_requests_total[2h])",
    "irate(http_requests_total[1m])",
    "irate(http_requests_total[5m])",
    "increase(http_requests_total[5m])",
    "increase(http_requests_total[1h])",
    "increase(http_requests_total[3h])",
    "resets(http_requests_total[1h])",
    "rate(http_requests_total[5m] offset 5m)",
    "rate(http_requests_total[5m] @ 3600)",
    // Gauges.
    "delta(queue_depth[5m])",
    "idelta(queue_depth[2m])",
    "deriv(queue_depth[10m])",
    "predict_linear(queue_depth[10m], 600)",
    "changes(queue_depth[5m])",
    "avg_over_time(queue_depth[10m])",
    "sum_over_time(queue_depth[5m])",
    "min_over_time(temperature_celsius[5m])",
    "max_over_time(temperature_celsius[5m])",
    "count_over_time(http_requests_total[5m])",
    "last_over_time(http_requests_total[10m])",
    "quantile_over_time(0.75, queue_depth[15m])",
    "stddev_over_time(queue_depth[15m])",
    "stdvar_over_time(temperature_celsius[15m])",
    "absent_over_time(http_requests_total{instance=\"c\", path=\"/api/ratings\"}[5m])",
    "present_over_time(http_requests_total{instance=\"c\", path=\"/api/ratings\"}[5m])",
    // Aggregations.
    "sum by (instance) (rate(http_requests_total[5m]))",
    "sum without (status) (rate(http_requests_total[5m]))",
    "avg by (instance) (queue_depth)",
    "max(temperature_celsius) - min(temperature_celsius)",
    "avg(temperature_celsius)",
    "count by (status) (http_requests_total)",
    "count_values(\"v\", up)",
    "group by (job) (up)",
    "stddev(rate(http_requests_total[5m]))",
    "stdvar by (path) (rate(http_requests_total[5m]))",
    "quantile(0.9, rate(http_requests_total[5m]))",
    "quantile by (instance) (0.5, queue_depth)",
    "topk(3, rate(http_requests_total[5m]))",
    "bottomk(2, rate(http_requests_total[5m]))",
    "topk by (instance) (1, rate(http_requests_total[5m]))",
    // The SLI shapes Sloth generates, and burn rates.
    "sum(rate(http_requests_total{status=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m]))",
    "sum by (path) (rate(http_requests_total{status=\"500\"}[30m])) / ignoring(status) sum by (path) (rate(http_requests_total[30m]))",
    "(sum(rate(http_requests_total{status=~\"5..\"}[1h])) / sum(rate(http_requests_total[1h]))) > bool (14.4 * 0.001)",
    // Vector matching.
    "rate(http_requests_total{status=\"500\"}[5m]) / ignoring(status) rate(http_requests_total{status=\"200\"}[5m])",
    "rate(http_requests_total[5m]) / on(instance) group_left sum by (instance) (rate(http_requests_total[5m]))",
    "rate(http_requests_total[5m]) * on(instance) group_left(version) build_info",
    "build_info * on(instance) group_right(version) queue_depth",
    "up and on(instance) (queue_depth > 10)",
    "up unless on(instance) (queue_depth > 10)",
    "(queue_depth > 10) or on(instance) up",
    "http_requests_total / on(instance) up",
    // Comparisons and arithmetic.
    "up == 0",
    "up == bool 1",
    "queue_depth > 10",
    "queue_depth > bool 10",
    "5 < queue_depth",
    "temperature_celsius > 0",
    "temperature_celsius != bool temperature_celsius",
    "-queue_depth",
    "queue_depth % 4",
    "queue_depth ^ 0.5",
    "temperature_celsius / 0",
    "sum by (instance) (http_requests_total) / 1000",
    "2 * 3 + 1",
    "1 > bool 2",
    // Histograms.
    "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(http_request_duration_seconds_bucket[5m]))",
    "histogram_quantile(0.99, sum by (instance, le) (increase(http_request_duration_seconds_bucket[10m])))",
    "histogram_quantile(1, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])",
    // Functions.
    "absent(nonexistent_metric{job=\"x\"})",
    "absent(up{instance=\"zzz\", job=~\"t.*\"})",
    "absent(up)",
    "clamp_min(queue_depth, 8)",
    "clamp_max(queue_depth, 8)",
    "clamp(temperature_celsius, 0, 20)",
    "abs(temperature_celsius)",
    "ceil(temperature_celsius)",
    "sqrt(temperature_celsius)",
    "ln(queue_depth)",
    "round(rate(http_requests_total[5m]), 0.1)",
    "vector(1) + scalar(sum(up))",
    "scalar(up)",
    "time()",
    "vector(time())",
    "minute()",
    "hour(vector(86399))",
    "timestamp(up)",
    "timestamp(queue_depth offset 1m)",
    "sort(queue_depth)",
    "sort_desc(temperature_celsius)",
    "label_replace(up, \"host\", \"host-$1\", \"instance\", \"(.*)\")",
    "label_replace(up, \"instance\", \"\", \"instance\", \"b\")",
    "label_join(up, \"id\", \"/\", \"job\", \"instance\")",
    // NaN, infinities, formatting.
    "topk(1, temperature_celsius)",
    "bottomk(1, temperature_celsius)",
    "quantile(0.5, temperature_celsius)",
    "stddev(temperature_celsius)",
    "sum(temperature_celsius)",
    "scalar(temperature_celsius{instance=\"c\"})",
    "changes(temperature_celsius[5m])",
    "resets(temperature_celsius[5m])",
    "delta(temperature_celsius[5m])",
    "deriv(temperature_celsius[5m])",
    "avg_over_time(temperature_celsius[5m])",
    "quantile_over_time(0.5, temperature_celsius[5m])",
    "count_values(\"value\", round(temperature_celsius))",
    "count_values(\"instance\", queue_depth)",
    "vector(1e21)",
    "vector(1e-7)",
    "vector(0.1) + 0.2",
    "NaN",
    "-Inf",
    "0x10 + 1e3",
    "log2(vector(0))",
    "exp(vector(1000))",
    "\"hello\"",
    "-time()",
    // More functions.
    "sgn(temperature_celsius)",
    "round(temperature_celsius)",
    "round(vector(-2.5))",
    "asinh(temperature_celsius)",
    "acosh(queue_depth)",
    "atanh(vector(0.5))",
    "pi()",
    "deg(vector(pi()))",
    "holt_winters(queue_depth[10m], 0.5, 0.5)",
    "holt_winters(temperature_celsius[5m], 0.1, 0.9)",
    "holt_winters(queue_depth[10m], 1, 0.5)",
    "queue_depth atan2 temperature_celsius",
    "queue_depth atan2 2",
    "-1 atan2 queue_depth",
    "clamp(queue_depth, 20, 10)",
    "days_in_month(vector(1e9))",
    "year()",
    "month(vector(-1))",
    "minute(up)",
    "day_of_year(vector(951782400))",
    "timestamp(timestamp(up))",
    "timestamp(rate(queue_depth[5m]))",
    "absent(sum(nonexistent))",
    "absent(nonexistent{a=\"b\", a=\"c\"})",
    "label_replace(up, \"x\", \"$1x$2\", \"instance\", \"(.)(.*)\")",
    "label_replace(up, \"x\", \"${1}_z\", \"instance\", \"([ab])\")",
    "label_replace(up, \"x\", \"y\", \"instance\", \"(\")",
    // More selectors and matching.
    "{__name__=~\"http_.*_total\", status=\"500\"}",
    "up{nonexistent=\"\"}",
    "up{job=~\"\"}",
    "http_requests_total{status=~\"5.*|\"}",
    "up offset 1d",
    "increase(http_requests_total[1m] offset 30s)",
    "rate(http_requests_total[10s])",
    "sum(http_requests_total) by (instance)",
    "sum without (le) (rate(http_request_duration_seconds_bucket[5m]))",
    "topk(scalar(count(up)), queue_depth)",
    "queue_depth * on(instance) group_left(job) up",
    "vector(1) and vector(2)",
    "up or vector(0)",
    "sum(up) == bool count(up)",
    "histogram_quantile(0.5, weird_bucket)",
    "histogram_quantile(0.9, rate(weird_bucket[5m]))",
    // Edge cases of aggregations and functions.
    "quantile(-1, queue_depth)",
    "quantile(2, queue_depth)",
    "quantile(NaN, queue_depth)",
    "histogram_quantile(NaN, rate(http_request_duration_seconds_bucket[5m]))",
    "histogram_quantile(-0.5, rate(http_request_duration_seconds_bucket[5m]))",
    "histogram_quantile(1.5, rate(http_request_duration_seconds_bucket[5m]))",
    "topk(0, queue_depth)",
    "topk(1.5, queue_depth)",
    "topk(-1, queue_depth)",
    "bottomk(2, temperature_celsius)",
    "count_values(\"t\", temperature_celsius > 20 or temperature_celsius != temperature_celsius)",
    "rate(temperature_celsius[5m])",
    "irate(temperature_celsius[1m])",
    "increase(temperature_celsius[3m])",
    "stddev_over_time(temperature_celsius[5m])",
    "sum_over_time(temperature_celsius[2m])",
    "temperature_celsius == temperature_celsius",
    "clamp(queue_depth, NaN, 1)",
    "round(temperature_celsius, 0)",
    "round(temperature_celsius, 3)",
    "+queue_depth",
    // (Not `offset 0`: a bare number as a duration is Prometheus 3 syntax,
    // which the parser accepts and 2.42 refuses.)
    "queue_depth offset 15s",
    "queue_depth == 3",
    "queue_depth == bool 3",
    "http_requests_total{status=\"500\"} + ignoring(status) group_left http_requests_total{status=\"200\"}",
    "up * on(instance) group_left(version, nonexistent) build_info",
    "sum by (instance) (rate(http_requests_total[5m])) and on() vector(1)",
    "vector(1) unless on() up",
    "label_join(up, \"a-b\", \",\", \"instance\")",
    "label_join(up, \"ab\", \",\", \"in-stance\")",
    "absent_over_time(nonexistent[5m])",
    "timestamp(vector(1))",
    "day_of_week(vector(-31536000))",
    "http_requests_total @ 0",
    "http_request_duration_seconds_bucket{le=\"+Inf\"}",
    "sum by (le) (http_request_duration_seconds_bucket{le=~\"0.1|1\"})",
    "count by (__name__) ({__name__=~\".+\", instance=\"a\"})",
    "label_replace(up, \"__name__\", \"renamed\", \"\", \"\")",
    "max by (instance) (temperature_celsius)",
    "avg(vector(1) * Inf or vector(2))",
    "sum(temperature_celsius) without ()",
    "scalar(queue_depth)",
    "vector(time()) % 3600",
    "max_over_time(up[10m:1m] @ 3600)",
    "changes(up[1h:1m])",
    "min_over_time(rate(http_requests_total[5m])[30m:5m] offset 10m)",
    // The remaining element-wise functions and vector-vector comparisons.
    "floor(temperature_celsius)",
    "log10(queue_depth)",
    "sin(temperature_celsius)",
    "cos(temperature_celsius)",
    "tan(temperature_celsius)",
    "asin(vector(0.5))",
    "acos(vector(2))",
    "atan(temperature_celsius)",
    "sinh(vector(3))",
    "cosh(vector(3))",
    "tanh(temperature_celsius)",
    "rad(temperature_celsius)",
    "day_of_month()",
    "queue_depth > bool on(instance) temperature_celsius",
    "queue_depth >= on(instance) temperature_celsius",
    "queue_depth + ignoring(job) up",
    "up or ignoring(job) queue_depth",
    "queue_depth unless ignoring(job) (up == 0)",
    // Subqueries.
    "max_over_time(up[10m:1m] offset 5m)",
    "count_over_time(up[1h:7m])",
    "sum_over_time(queue_depth[7m:45s])",
    "last_over_time(up[1m:15s])",
    "max_over_time(rate(http_requests_total{status=\"200\"}[2m])[10m:1m])",
    "avg_over_time(sum(rate(http_requests_total[1m]))[15m:30s])",
    "min_over_time(queue_depth[20m:])",
    "rate(http_requests_total{instance=\"b\", status=\"500\", path=\"/api/pizza\"}[5m])[10m:2m]",
];

/// The query as this evaluator spells it: Prometheus 3 (and the parser we
/// use) renamed `holt_winters` to `double_exponential_smoothing`.
fn ours(q: &str) -> String {
    q.replace("holt_winters(", "double_exponential_smoothing(")
}

/// Instants, in milliseconds: on and between scrapes, in the gap, after a
/// series stopped (6285 s is exactly the 5-minute lookback after its last
/// sample), around the block boundary at two hours.
const INSTANTS: &[i64] = &[
    300_000, 2_250_000, 2_460_000, 2_467_123, 4_320_000, 6_000_000, 6_090_000, 7_185_000,
    6_285_000, 6_350_000, 7_200_000, 7_201_000, 9_000_000, 10_785_000,
];

/// Range queries: `(query, start, end, step)` in milliseconds.
const RANGES: &[(&str, i64, i64, i64)] = &[
    ("rate(http_requests_total[5m])", 0, 10_800_000, 60_000),
    (
        "sum(rate(http_requests_total{status=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m]))",
        0,
        10_800_000,
        150_000,
    ),
    ("up", 3_600_000, 7_500_000, 17_000),
    (
        "http_requests_total{path=\"/api/ratings\"}",
        5_400_000,
        7_200_000,
        45_000,
    ),
    (
        "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        0,
        10_800_000,
        300_000,
    ),
    ("queue_depth @ start()", 1_000_000, 2_000_000, 100_000),
    ("queue_depth @ end()", 1_000_000, 2_000_000, 100_000),
    (
        "max_over_time(irate(http_requests_total[1m])[5m:30s])",
        2_000_000,
        3_000_000,
        120_000,
    ),
    ("scalar(sum(up))", 0, 3_600_000, 600_000),
    ("time() - 10", 0, 600_000, 60_000),
    ("absent(nonexistent)", 0, 600_000, 60_000),
    ("count_values(\"v\", queue_depth)", 0, 1_800_000, 90_000),
    ("timestamp(up)", 0, 1_800_000, 77_000),
    (
        "http_requests_total{instance=\"c\", path=\"/api/ratings\"}",
        5_700_000,
        6_600_000,
        20_000,
    ),
    (
        "rate(http_requests_total{instance=\"a\"}[1m])",
        4_000_000,
        5_000_000,
        30_000,
    ),
    ("sort_desc(queue_depth)", 0, 3_600_000, 900_000),
    (
        "topk(2, rate(http_requests_total[5m]))",
        0,
        10_800_000,
        600_000,
    ),
    (
        "absent_over_time(http_requests_total{instance=\"c\", path=\"/api/ratings\"}[1m])",
        5_900_000,
        6_400_000,
        10_000,
    ),
    (
        "http_requests_total{instance=\"c\", status=\"500\"}",
        6_280_000,
        6_290_000,
        1_000,
    ),
    (
        "max_over_time(queue_depth[5m:1m] @ start())",
        600_000,
        1_200_000,
        60_000,
    ),
    ("up", -600_000, 60_000, 60_000),
    (
        "holt_winters(queue_depth[10m], 0.3, 0.6)",
        600_000,
        3_600_000,
        300_000,
    ),
    (
        "increase(http_requests_total{instance=\"b\"}[10m])",
        0,
        10_800_000,
        333_000,
    ),
];

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Agreement counters.
#[derive(Default)]
struct Tally {
    values: usize,
    exact: usize,
    /// The expressions whose values matched only within the tolerance.
    inexact: Vec<String>,
}

fn json_labels(metric: &Json) -> Labels {
    Labels::new(
        metric
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())),
    )
}

fn json_point(p: &Json) -> Option<(i64, String)> {
    let t = p.get(0)?.as_f64()?;
    let v = p.get(1)?.as_str()?.to_string();
    Some(((t * 1000.0).round() as i64, v))
}

fn compare_value(ours: &str, theirs: &str, tally: &mut Tally) -> Result<(), String> {
    let a = parse_float(ours).ok_or_else(|| format!("unparseable value {ours:?}"))?;
    let b = parse_float(theirs).ok_or_else(|| format!("unparseable value {theirs:?}"))?;
    tally.values += 1;
    if !close(a, b) {
        return Err(format!("value {ours} vs Prometheus {theirs}"));
    }
    if a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()) {
        tally.exact += 1;
        if ours != theirs {
            return Err(format!("formatted {ours} vs Prometheus {theirs}"));
        }
    }
    Ok(())
}

type Points = Vec<(i64, String)>;

/// `(labels, points)` of a vector (one point each) or matrix result.
fn json_series(data: &Json) -> Result<Vec<(Labels, Points)>, String> {
    let mut out = Vec::new();
    for e in data["result"].as_array().ok_or("result is not a list")? {
        let points = match e.get("value") {
            Some(p) => vec![json_point(p).ok_or("bad sample")?],
            None => e["values"]
                .as_array()
                .ok_or("bad series")?
                .iter()
                .map(json_point)
                .collect::<Option<Vec<_>>>()
                .ok_or("bad point")?,
        };
        out.push((json_labels(&e["metric"]), points));
    }
    Ok(out)
}

/// Compares this evaluator's answer, in the API's JSON shape (so its float
/// formatting is checked too), with Prometheus's `data`.
fn compare(q: &str, ours: &Json, theirs: &Json, tally: &mut Tally) -> Result<(), String> {
    let kind = theirs["resultType"].as_str().unwrap_or("?");
    if ours["resultType"].as_str() != Some(kind) {
        return Err(format!(
            "result type {} vs Prometheus {kind}",
            ours["resultType"]
        ));
    }
    match kind {
        "scalar" | "string" => {
            let (ta, a) = json_point(&ours["result"]).ok_or("bad scalar")?;
            let (tb, b) = json_point(&theirs["result"]).ok_or("bad scalar")?;
            if ta != tb {
                return Err(format!("time {ta} vs Prometheus {tb}"));
            }
            if kind == "string" {
                return if a == b {
                    Ok(())
                } else {
                    Err(format!("string {a:?} vs {b:?}"))
                };
            }
            compare_value(&a, &b, tally)
        }
        _ => {
            let mut a = json_series(ours)?;
            let mut b = json_series(theirs)?;
            // Instant vectors come in evaluation order, which only sort()
            // and sort_desc() define; range results are sorted by labels.
            if !(kind == "vector" && q.starts_with("sort")) {
                a.sort_by(|x, y| x.0.cmp(&y.0));
                b.sort_by(|x, y| x.0.cmp(&y.0));
            }
            if a.len() != b.len() || a.iter().zip(&b).any(|(x, y)| x.0 != y.0) {
                let names = |v: &[(Labels, Points)]| {
                    v.iter()
                        .map(|e| e.0.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(format!(
                    "series differ:\n  ours: {}\n  Prometheus: {}",
                    names(&a),
                    names(&b)
                ));
            }
            for (x, y) in a.iter().zip(&b) {
                let ts_x: Vec<i64> = x.1.iter().map(|p| p.0).collect();
                let ts_y: Vec<i64> = y.1.iter().map(|p| p.0).collect();
                if ts_x != ts_y {
                    return Err(format!("{}: times {ts_x:?} vs Prometheus {ts_y:?}", x.0));
                }
                for ((t, v), (_, w)) in x.1.iter().zip(&y.1) {
                    compare_value(v, w, tally).map_err(|e| format!("{} @ {t}: {e}", x.0))?;
                }
            }
            Ok(())
        }
    }
}

/// Checks one query: both answer, or both refuse.
fn check(
    what: &str,
    t: i64,
    ours: Result<Value, slo_toolkit::promql::QueryError>,
    theirs: Result<Json, String>,
    tally: &mut Tally,
    errors_agreed: &mut Vec<String>,
) -> Result<(), String> {
    let theirs = theirs.map_err(|e| format!("{what}: no answer from Prometheus: {e}"))?;
    match (ours, theirs["status"].as_str()) {
        (Ok(v), Some("success")) => {
            let inexact = tally.values - tally.exact;
            let res = compare(what, &api_json(&v, t), &theirs["data"], tally)
                .map_err(|e| format!("{what}: {e}"));
            if tally.values - tally.exact > inexact {
                let expr = what.split(" at ").next().unwrap_or(what).to_string();
                if !tally.inexact.contains(&expr) {
                    tally.inexact.push(expr);
                }
            }
            res
        }
        (Err(_), Some("error")) => {
            errors_agreed.push(what.split(" at ").next().unwrap_or(what).to_string());
            Ok(())
        }
        (Ok(v), _) => Err(format!(
            "{what}: Prometheus refused ({}) but this evaluator answered {v}",
            theirs["error"]
        )),
        (Err(e), _) => Err(format!(
            "{what}: this evaluator refused ({e}) but Prometheus answered {}",
            theirs["data"]
        )),
    }
}

#[test]
fn evaluator_agrees_with_a_real_prometheus_server() {
    match real_prometheus::binaries() {
        Err(Unavailable::Missing(why)) => {
            println!("SKIPPED: {why}");
            return;
        }
        Err(e) => panic!("{e}"),
        Ok(()) => {}
    }
    // Both sides read the same OpenMetrics text, so timestamps and values
    // are parsed by each one's own rules.
    let blocks: Vec<String> = real_prometheus::openmetrics_blocks(&simulated_run()).collect();
    let mut storage = Storage::new();
    for text in &blocks {
        storage
            .load_timestamped(text, 0)
            .unwrap_or_else(|e| panic!("our loader: {e}"));
    }
    let work = TempDir::new("prometheus-server").expect("temp dir");
    let tsdb = work.0.join("tsdb");
    std::fs::create_dir_all(&tsdb).expect("tsdb dir");
    real_prometheus::backfill(blocks.into_iter(), &work.0, &tsdb, |_, _| {})
        .unwrap_or_else(|e| panic!("{e}"));
    let server =
        Server::start(&work.0, &tsdb, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));

    let mut tally = Tally::default();
    let mut errors_agreed = Vec::new();
    let mut failures = Vec::new();
    let mut cases = 0;
    for q in QUERIES {
        for &t in INSTANTS {
            cases += 1;
            let what = format!("{q} at {}", real_prometheus::seconds(t));
            if let Err(e) = check(
                &what,
                t,
                instant_query(&storage, &ours(q), t),
                server.instant_query(q, t),
                &mut tally,
                &mut errors_agreed,
            ) {
                failures.push(e);
            }
        }
    }
    for &(q, start, end, step) in RANGES {
        cases += 1;
        let what = format!("{q} from {start} to {end} step {step}");
        if let Err(e) = check(
            &what,
            end,
            range_query(&storage, &ours(q), start, end, step),
            server.range_query(q, start, end, step),
            &mut tally,
            &mut errors_agreed,
        ) {
            failures.push(e);
        }
    }
    drop(server);
    println!(
        "{cases} queries ({} expressions x {} instants, {} range queries) against Prometheus: \
         {} values compared, {} bit-identical, {} refused by both",
        QUERIES.len(),
        INSTANTS.len(),
        RANGES.len(),
        tally.values,
        tally.exact,
        errors_agreed.len()
    );
    errors_agreed.dedup();
    println!("refused by both: {}", errors_agreed.join("; "));
    println!(
        "equal within 1e-9 but not bit for bit: {}",
        tally.inexact.join("; ")
    );
    assert!(tally.values > 5_000, "too few values compared");
    // One line per expression (its first difference), so a wrong function
    // doesn't bury the others under a dozen instants.
    let mut firsts: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for f in &failures {
        let expr = f.split(" at ").next().unwrap_or(f);
        if seen.insert(expr) {
            firsts.push(f);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} answers differ from Prometheus, in {} expressions:\n{}",
        failures.len(),
        firsts.len(),
        firsts.join("\n")
    );
}
