//! Differential check against real Prometheus (2.42, through `promtool test
//! rules`): a simulated two-hour toy-service run — counters with resets, a
//! scrape gap, a series going stale, histograms and gauges, 15 s apart — is
//! given to both engines; each query is answered by this evaluator at several
//! instants, and promtool checks every answer with Prometheus's engine. Where
//! promtool reports a difference, the two answers must still be equal within
//! 1e-9 relative (Prometheus sums series in a random order, so the last bits
//! can differ). Skipped, with a notice, when `promtool` is not installed.

use std::fmt::Write as _;
use std::process::Command;

use slo_toolkit::promql::labels::parse_series_descriptor;
use slo_toolkit::promql::store::parse_float;
use slo_toolkit::promql::{instant_query, Storage, Value};

const STEP_S: i64 = 15;
const POINTS: usize = 480; // two hours

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

/// `(series, values)` in promqltest notation; `None` = missing, `Some(NaN)` = stale.
fn simulated_run() -> Vec<(String, Vec<Option<f64>>)> {
    let mut rng = Lcg(42);
    let mut out = Vec::new();
    for inst in ["a", "b"] {
        for path in ["/api/pizza", "/api/ratings"] {
            for (status, lo, hi) in [("200", 50.0, 150.0), ("500", 0.0, 8.0)] {
                let mut v = 0.0;
                let mut vals = Vec::with_capacity(POINTS);
                for i in 0..POINTS {
                    v += (lo + (hi - lo) * rng.next()).floor();
                    let t = i as i64 * STEP_S;
                    if inst == "b" && t == 40 * 60 {
                        v = (hi * rng.next()).floor(); // process restart: counter reset
                    }
                    if inst == "a" && (70 * 60..75 * 60).contains(&t) {
                        vals.push(None); // failed scrapes
                    } else if inst == "b" && path == "/api/ratings" && t >= 100 * 60 {
                        vals.push(if t == 100 * 60 { Some(f64::NAN) } else { None });
                    // gone
                    } else {
                        vals.push(Some(v));
                    }
                }
                out.push((
                    format!("http_requests_total{{instance=\"{inst}\", path=\"{path}\", status=\"{status}\"}}"),
                    vals,
                ));
            }
        }
        let bounds = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];
        let mut counts = [0.0; 6];
        let mut series: Vec<Vec<Option<f64>>> = vec![Vec::new(); 6];
        for i in 0..POINTS {
            let t = i as i64 * STEP_S;
            let slow = (60 * 60..80 * 60).contains(&t);
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
            // Cumulative buckets: each bucket holds the total up to its bound.
            for (b, s) in series.iter_mut().enumerate() {
                s.push(Some(counts[b]));
            }
        }
        for (b, s) in bounds.iter().zip(series) {
            out.push((
                format!("http_request_duration_seconds_bucket{{instance=\"{inst}\", le=\"{b}\"}}"),
                s,
            ));
        }
        let mut q = 10.0;
        out.push((
            format!("queue_depth{{instance=\"{inst}\"}}"),
            (0..POINTS)
                .map(|_| {
                    q = (q + 6.0 * rng.next() - 3.0_f64).max(0.0).floor();
                    Some(q)
                })
                .collect(),
        ));
        out.push((
            format!("up{{instance=\"{inst}\"}}"),
            (0..POINTS)
                .map(|i| {
                    Some(if inst == "a" && (280..300).contains(&i) {
                        0.0
                    } else {
                        1.0
                    })
                })
                .collect(),
        ));
    }
    out
}

const QUERIES: &[&str] = &[
    "http_requests_total",
    "http_requests_total{status=~\"5..\"}",
    "http_requests_total{path!=\"/api/pizza\", status!~\"2..\"}",
    "http_requests_total{instance=\"a\"} offset 10m",
    "http_requests_total{instance=\"b\"} @ 1800",
    "rate(http_requests_total[1m])",
    "rate(http_requests_total[5m])",
    "rate(http_requests_total[30m])",
    "irate(http_requests_total[1m])",
    "increase(http_requests_total[5m])",
    "increase(http_requests_total[1h])",
    "delta(queue_depth[5m])",
    "idelta(queue_depth[2m])",
    "deriv(queue_depth[10m])",
    "predict_linear(queue_depth[10m], 600)",
    "resets(http_requests_total[1h])",
    "changes(queue_depth[5m])",
    "sum by (instance) (rate(http_requests_total[5m]))",
    "sum without (status) (rate(http_requests_total[5m]))",
    "sum(rate(http_requests_total{status=\"500\"}[5m])) / sum(rate(http_requests_total[5m]))",
    "sum by (path) (rate(http_requests_total{status=\"500\"}[5m])) / ignoring(status) sum by (path) (rate(http_requests_total[5m]))",
    "rate(http_requests_total{status=\"500\"}[5m]) / ignoring(status) rate(http_requests_total{status=\"200\"}[5m])",
    "rate(http_requests_total[5m]) / on(instance) group_left sum by (instance) (rate(http_requests_total[5m]))",
    "avg by (instance) (queue_depth)",
    "max(queue_depth) - min(queue_depth)",
    "count by (status) (http_requests_total)",
    "stddev(rate(http_requests_total[5m]))",
    "quantile(0.9, rate(http_requests_total[5m]))",
    "topk(3, rate(http_requests_total[5m]))",
    "bottomk(2, rate(http_requests_total[5m]))",
    "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(http_request_duration_seconds_bucket[5m]))",
    "histogram_quantile(0.99, sum by (instance, le) (increase(http_request_duration_seconds_bucket[10m])))",
    "avg_over_time(queue_depth[10m])",
    "sum_over_time(queue_depth[5m])",
    "min_over_time(queue_depth[30m])",
    "max_over_time(queue_depth[30m])",
    "count_over_time(http_requests_total[5m])",
    "last_over_time(http_requests_total[10m])",
    "quantile_over_time(0.75, queue_depth[15m])",
    "stddev_over_time(queue_depth[15m])",
    "stdvar_over_time(queue_depth[15m])",
    "absent(nonexistent_metric{job=\"x\"})",
    "absent_over_time(http_requests_total{instance=\"b\", path=\"/api/ratings\"}[5m])",
    "present_over_time(http_requests_total{instance=\"b\", path=\"/api/ratings\"}[5m])",
    "up == 0",
    "up == bool 1",
    "queue_depth > 10",
    "queue_depth > bool 10",
    "5 < queue_depth",
    "clamp_min(queue_depth, 8)",
    "clamp_max(queue_depth, 8)",
    "clamp(queue_depth, 5, 12)",
    "abs(delta(queue_depth[5m]))",
    "round(rate(http_requests_total[5m]), 0.1)",
    "vector(1) + scalar(sum(up))",
    "timestamp(up)",
    "label_replace(up, \"host\", \"host-$1\", \"instance\", \"(.*)\")",
    "label_join(up, \"id\", \"/\", \"instance\", \"instance\")",
    "up and on(instance) (queue_depth > 10)",
    "up unless on(instance) (queue_depth > 10)",
    "(queue_depth > 10) or on(instance) up",
    "max_over_time(rate(http_requests_total{status=\"200\"}[2m])[10m:1m])",
    "avg_over_time(sum(rate(http_requests_total[1m]))[15m:30s])",
    "sum(rate(http_requests_total[5m] offset 5m))",
    "rate(http_requests_total[5m] @ 3600)",
    "-queue_depth",
    "queue_depth % 4",
    "queue_depth ^ 0.5",
    "sum by (instance) (http_requests_total) / 1000",
];

const TIMES: &[&str] = &["5m", "37m30s", "41m", "72m", "100m", "101m30s", "119m45s"];

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Parses promtool's `{labels} value, {labels} value` lists.
fn parse_samples(s: &str) -> Option<Vec<(String, f64)>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    if rest == "nil" || rest.is_empty() {
        return Some(out);
    }
    while !rest.is_empty() {
        let (labels, after) = parse_series_descriptor(rest).ok()?;
        let after = after.trim_start();
        let end = after.find(", ").unwrap_or(after.len());
        let v = parse_float(after[..end].trim())?;
        out.push((labels.to_string(), v));
        rest = after[end..].trim_start_matches(", ").trim();
    }
    Some(out)
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

#[test]
fn evaluator_agrees_with_prometheus() {
    if Command::new("promtool").arg("--version").output().is_err() {
        println!("SKIPPED: promtool is not on PATH (apt-get install prometheus provides it)");
        return;
    }
    let run = simulated_run();
    let mut storage = Storage::new();
    let mut yaml = String::from(
        "rule_files: []\nevaluation_interval: 15s\ntests:\n- interval: 15s\n  input_series:\n",
    );
    for (series, vals) in &run {
        let (labels, _) = parse_series_descriptor(series).expect("valid series");
        let mut text = Vec::with_capacity(vals.len());
        for (i, v) in vals.iter().enumerate() {
            let t = i as i64 * STEP_S * 1000;
            match v {
                None => text.push("_".to_string()),
                Some(x) if x.is_nan() => {
                    storage.append(&labels, t, slo_toolkit::promql::store::stale_nan());
                    text.push("stale".into());
                }
                Some(x) => {
                    storage.append(&labels, t, *x);
                    text.push(format!("{x}"));
                }
            }
        }
        let _ = writeln!(
            yaml,
            "  - series: {}\n    values: '{}'",
            yaml_quote(series),
            text.join(" ")
        );
    }
    yaml.push_str("  promql_expr_test:\n");
    let mut cases = 0;
    for q in QUERIES {
        for at in TIMES {
            let t = slo_toolkit::promql::promqltest::parse_duration_ms(at).expect("valid time");
            let value =
                instant_query(&storage, q, t).unwrap_or_else(|e| panic!("{q} at {at}: {e}"));
            let Value::Vector(els) = value else {
                panic!("{q}: not a vector")
            };
            let _ = writeln!(
                yaml,
                "  - expr: {}\n    eval_time: {at}\n    exp_samples:",
                yaml_quote(q)
            );
            for e in &els {
                let v = if e.value.is_nan() {
                    ".nan".to_string()
                } else if e.value.is_infinite() {
                    if e.value > 0.0 {
                        ".inf".into()
                    } else {
                        "-.inf".into()
                    }
                } else {
                    format!("{:?}", e.value)
                };
                let _ = writeln!(
                    yaml,
                    "    - labels: {}\n      value: {v}",
                    yaml_quote(&e.labels.to_string())
                );
            }
            if els.is_empty() {
                yaml.push_str("      []\n");
            }
            cases += 1;
        }
    }
    let yaml = yaml.replace("    exp_samples:\n      []\n", "    exp_samples: []\n");
    let file = std::env::temp_dir().join(format!(
        "slo-toolkit-differential-{}.yml",
        std::process::id()
    ));
    std::fs::write(&file, &yaml).expect("write");
    let out = Command::new("promtool")
        .arg("test")
        .arg("rules")
        .arg(&file)
        .output()
        .expect("promtool runs");
    let _ = std::fs::remove_file(&file);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!(
        "{cases} instant queries ({} expressions x {} instants) compared with Prometheus",
        QUERIES.len(),
        TIMES.len()
    );
    assert!(cases >= 200);
    if out.status.success() {
        return;
    }
    // Every reported difference must be rounding only.
    let lines: Vec<&str> = text.lines().collect();
    let mut real = Vec::new();
    let mut i = 0;
    let mut blocks = 0;
    while i < lines.len() {
        let l = lines[i].trim();
        if l.starts_with("expr:") {
            blocks += 1;
            let exp = lines
                .get(i + 1)
                .map(|s| s.trim())
                .and_then(|s| s.strip_prefix("exp:"));
            let got = lines
                .get(i + 2)
                .map(|s| s.trim())
                .and_then(|s| s.strip_prefix("got:"));
            // Which of two tied series topk/bottomk picks depends on series order
            // (random in promtool's loader): compare only their values there.
            let ties_allowed = l.starts_with("expr: \"topk") || l.starts_with("expr: \"bottomk");
            let ok = match (exp.and_then(parse_samples), got.and_then(parse_samples)) {
                (Some(mut e), Some(mut g)) if ties_allowed => {
                    e.sort_by(|a, b| a.1.total_cmp(&b.1));
                    g.sort_by(|a, b| a.1.total_cmp(&b.1));
                    e.len() == g.len() && e.iter().zip(&g).all(|(a, b)| close(a.1, b.1))
                }
                (Some(mut e), Some(mut g)) => {
                    e.sort_by(|a, b| a.0.cmp(&b.0));
                    g.sort_by(|a, b| a.0.cmp(&b.0));
                    e.len() == g.len()
                        && e.iter().zip(&g).all(|(a, b)| a.0 == b.0 && close(a.1, b.1))
                }
                _ => false,
            };
            if !ok {
                real.push(lines[i..(i + 3).min(lines.len())].join("\n"));
            }
            i += 3;
            continue;
        }
        i += 1;
    }
    assert!(blocks > 0, "promtool failed without comparisons:\n{text}");
    println!("{blocks} answers differ from Prometheus's only in the last bits or in topk ties");
    assert!(
        real.is_empty(),
        "{} answers differ from Prometheus:\n{}",
        real.len(),
        real.join("\n\n")
    );
}

/// Range queries are instant queries at each step (as in Prometheus's
/// engine): check that the range evaluation agrees point for point.
#[test]
fn range_queries_match_instant_queries_at_each_step() {
    let run = simulated_run();
    let mut storage = Storage::new();
    for (series, vals) in &run {
        let (labels, _) = parse_series_descriptor(series).expect("valid series");
        for (i, v) in vals.iter().enumerate() {
            if let Some(x) = v {
                let v = if x.is_nan() {
                    slo_toolkit::promql::store::stale_nan()
                } else {
                    *x
                };
                storage.append(&labels, i as i64 * STEP_S * 1000, v);
            }
        }
    }
    let (start, end, step) = (0, 7_185_000, 300_000);
    for q in QUERIES {
        let Value::Matrix(series) = slo_toolkit::promql::range_query(&storage, q, start, end, step)
            .unwrap_or_else(|e| panic!("{q}: {e}"))
        else {
            panic!("{q}: range query must return a matrix");
        };
        let mut t = start;
        while t <= end {
            let Value::Vector(els) = instant_query(&storage, q, t).expect("instant") else {
                panic!("{q}: not a vector");
            };
            for e in &els {
                let s = series
                    .iter()
                    .find(|s| s.labels == e.labels)
                    .unwrap_or_else(|| {
                        panic!("{q} at {t}: {} missing from range result", e.labels)
                    });
                let p = s
                    .points
                    .iter()
                    .find(|p| p.0 == t)
                    .unwrap_or_else(|| panic!("{q} at {t}: no point"));
                assert!(close(p.1, e.value), "{q} at {t}: {} vs {}", p.1, e.value);
            }
            let n = series
                .iter()
                .filter(|s| s.points.iter().any(|p| p.0 == t))
                .count();
            assert_eq!(n, els.len(), "{q} at {t}: extra points in range result");
            t += step;
        }
    }
}
