//! Run reports: the k6 summary as a table, thresholds and checks as rows,
//! and the per-second series as charts.

use lab_engine::runner::thresholds::{Aggregation, Op};
use lab_engine::runner::{Plan, SecondPoint};
use serde_json::Value;

use crate::grade::{RunEnd, RunResult};
use crate::report::{Chart, K6CheckRow, Line, Point, Reference, RunReport, Table, ThresholdRow};

/// Most points per line of a run chart; longer runs are bucketed.
const MAX_POINTS: usize = 400;

/// The report of one run.
pub(crate) fn run_report(r: &RunResult) -> RunReport {
    let empty = |exit_code: i64, error: Option<String>| RunReport {
        id: r.spec.id.clone(),
        title: r.spec.title.clone(),
        scenario: r.spec.scenario.clone(),
        exit_code,
        duration: 0.0,
        aborted: None,
        error,
        thresholds: Vec::new(),
        checks: Vec::new(),
        metrics: Table {
            title: "End-of-test summary".into(),
            ..Table::default()
        },
        text: String::new(),
        charts: Vec::new(),
        logs: Vec::new(),
    };
    let s = match &r.end {
        // The learner's own script's error is reported once, at the top of the report.
        RunEnd::Failed { code, .. } if r.spec.fixture().is_none() => {
            return empty(
                i64::from(*code),
                Some(format!(
                    "Did not start: {} could not run (the error is shown above).",
                    r.spec.script
                )),
            )
        }
        RunEnd::Failed { code, message } => return empty(i64::from(*code), Some(message.clone())),
        RunEnd::Cancelled(None) => {
            return empty(
                i64::from(lab_engine::runner::exit::EXTERNAL_ABORT),
                Some("cancelled".into()),
            )
        }
        RunEnd::Done(s) | RunEnd::Cancelled(Some(s)) => s,
    };
    RunReport {
        id: r.spec.id.clone(),
        title: r.spec.title.clone(),
        scenario: s.scenario.clone(),
        exit_code: i64::from(s.exit_code),
        duration: s.duration,
        aborted: s.aborted.clone(),
        error: None,
        thresholds: s
            .thresholds
            .iter()
            .map(|t| ThresholdRow {
                metric: t.metric.clone(),
                expression: t.expression.clone(),
                ok: t.ok,
            })
            .collect(),
        checks: k6_checks(&s.data),
        metrics: metrics_table(&s.data),
        text: s.text.clone(),
        charts: run_charts(&r.spec.id, &s.series, r.plan.as_ref()),
        logs: s.logs.clone(),
    }
}

/// Every k6 check of the run, groups flattened into `group::check` names.
pub(crate) fn k6_checks(data: &Value) -> Vec<K6CheckRow> {
    fn walk(group: &Value, out: &mut Vec<K6CheckRow>) {
        let path = group["path"].as_str().unwrap_or("");
        for c in group["checks"].as_array().into_iter().flatten() {
            let name = c["name"].as_str().unwrap_or("");
            out.push(K6CheckRow {
                name: if path.is_empty() {
                    name.to_owned()
                } else {
                    format!("{}::{name}", path.trim_start_matches("::"))
                },
                passes: c["passes"].as_i64().unwrap_or(0),
                fails: c["fails"].as_i64().unwrap_or(0),
            });
        }
        for g in group["groups"].as_array().into_iter().flatten() {
            walk(g, out);
        }
    }
    let mut out = Vec::new();
    walk(&data["root_group"], &mut out);
    out
}

const STATS: [&str; 6] = ["avg", "min", "med", "max", "p(90)", "p(95)"];

/// k6's end-of-test summary as a table: one row per metric.
pub(crate) fn metrics_table(data: &Value) -> Table {
    let mut columns = vec!["metric".to_owned()];
    columns.extend(STATS.iter().map(|s| (*s).to_owned()));
    columns.push("count".into());
    columns.push("rate".into());
    let mut rows = Vec::new();
    if let Some(metrics) = data["metrics"].as_object() {
        let mut names: Vec<&String> = metrics.keys().collect();
        names.sort();
        for name in names {
            let m = &metrics[name];
            let v = &m["values"];
            let num = |k: &str| v[k].as_f64();
            let time = m["contains"].as_str() == Some("time");
            let mut row = vec![name.clone()];
            match m["type"].as_str().unwrap_or("") {
                "trend" => {
                    for s in STATS {
                        row.push(num(s).map_or_else(String::new, |x| {
                            if time {
                                human_ms(x)
                            } else {
                                short(x)
                            }
                        }));
                    }
                    row.extend([String::new(), String::new()]);
                }
                "counter" => {
                    row.extend(std::iter::repeat_n(String::new(), STATS.len()));
                    row.push(num("count").map_or_else(String::new, short));
                    row.push(num("rate").map_or_else(String::new, |x| format!("{}/s", short(x))));
                }
                "rate" => {
                    row.extend(std::iter::repeat_n(String::new(), STATS.len()));
                    let passes = num("passes").unwrap_or(0.0);
                    let fails = num("fails").unwrap_or(0.0);
                    row.push(format!("{} of {}", short(passes), short(passes + fails)));
                    row.push(
                        num("rate").map_or_else(String::new, |x| format!("{:.2}%", x * 100.0)),
                    );
                }
                "gauge" => {
                    // A gauge's current value goes in `count`: for k6's gauges
                    // (`vus`, `vus_max`) it is a number of things.
                    row.push(String::new());
                    row.push(num("min").map_or_else(String::new, short));
                    row.push(String::new());
                    row.push(num("max").map_or_else(String::new, short));
                    row.extend([String::new(), String::new()]);
                    row.push(num("value").map_or_else(String::new, short));
                    row.push(String::new());
                }
                _ => continue,
            }
            rows.push(row);
        }
    }
    Table {
        title: "End-of-test summary".into(),
        columns,
        rows,
    }
}

/// `61.69ms`, `1.02s`, `250µs`: k6's way of writing durations.
pub(crate) fn human_ms(ms: f64) -> String {
    if ms == 0.0 {
        "0s".into()
    } else if ms < 1.0 {
        format!("{}µs", trim2(ms * 1000.0))
    } else if ms < 1000.0 {
        format!("{}ms", trim2(ms))
    } else {
        format!("{}s", trim2(ms / 1000.0))
    }
}

fn trim2(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A number without needless decimals.
pub(crate) fn short(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// Per-second points bucketed so a chart has at most [`MAX_POINTS`].
fn bucketed(series: &[SecondPoint], value: impl Fn(&[SecondPoint]) -> Option<f64>) -> Vec<Point> {
    let size = series.len().div_ceil(MAX_POINTS).max(1);
    series
        .chunks(size)
        .filter_map(|chunk| {
            let v = value(chunk)?;
            v.is_finite().then(|| Point::new(chunk[0].t as f64, v))
        })
        .collect()
}

/// The worst second of a bucket (tails are what these charts are for);
/// seconds without requests have no latency and are skipped.
fn worst(chunk: &[SecondPoint], f: impl Fn(&SecondPoint) -> f64) -> Option<f64> {
    chunk.iter().filter(|p| p.reqs > 0).map(f).reduce(f64::max)
}

fn mean(chunk: &[SecondPoint], f: impl Fn(&SecondPoint) -> f64) -> Option<f64> {
    if chunk.is_empty() {
        return None;
    }
    Some(chunk.iter().map(f).sum::<f64>() / chunk.len() as f64)
}

/// The latency threshold to draw as a reference: the first percentile
/// bound on `http_req_duration`.
fn latency_reference(plan: Option<&Plan>) -> Option<Reference> {
    let plan = plan?;
    plan.thresholds
        .iter()
        .filter(|t| t.key == "http_req_duration")
        .flat_map(|t| &t.exprs)
        .find(|r| {
            matches!(r.expr.agg, Aggregation::Percentile(_)) && matches!(r.expr.op, Op::Lt | Op::Le)
        })
        .map(|r| Reference {
            label: format!("threshold {}", r.expr.source),
            value: r.expr.value,
        })
}

/// Latency percentiles, requests/s, error rate and VUs over the run.
pub(crate) fn run_charts(run: &str, series: &[SecondPoint], plan: Option<&Plan>) -> Vec<Chart> {
    let bucket_note = if series.len() > MAX_POINTS {
        format!(
            " (worst second of every {})",
            series.len().div_ceil(MAX_POINTS)
        )
    } else {
        String::new()
    };
    let chart = |id: &str, title: String, unit: &str, lines: Vec<Line>| Chart {
        id: format!("{run}-{id}"),
        title,
        unit: unit.into(),
        lines,
        reference: None,
        marks: Vec::new(),
    };
    let mut latency = chart(
        "latency",
        format!("Request duration percentiles{bucket_note}"),
        "ms",
        vec![
            Line {
                name: "p50".into(),
                points: bucketed(series, |c| worst(c, |p| p.p50_ms)),
            },
            Line {
                name: "p95".into(),
                points: bucketed(series, |c| worst(c, |p| p.p95_ms)),
            },
            Line {
                name: "p99".into(),
                points: bucketed(series, |c| worst(c, |p| p.p99_ms)),
            },
        ],
    );
    latency.reference = latency_reference(plan);
    vec![
        latency,
        chart(
            "rps",
            "Requests per second".into(),
            "req/s",
            vec![Line {
                name: "requests/s".into(),
                points: bucketed(series, |c| mean(c, |p| p.reqs as f64)),
            }],
        ),
        chart(
            "errors",
            "Failed requests".into(),
            "%",
            vec![Line {
                name: "failed".into(),
                points: bucketed(series, |c| {
                    let reqs: i64 = c.iter().map(|p| p.reqs).sum();
                    let errors: i64 = c.iter().map(|p| p.errors).sum();
                    (reqs > 0).then(|| errors as f64 * 100.0 / reqs as f64)
                }),
            }],
        ),
        chart(
            "vus",
            "Virtual users".into(),
            "VUs",
            vec![Line {
                name: "VUs".into(),
                points: bucketed(series, |c| c.iter().map(|p| p.vus as f64).reduce(f64::max)),
            }],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_k6() {
        assert_eq!(human_ms(61.694), "61.69ms");
        assert_eq!(human_ms(1020.0), "1.02s");
        assert_eq!(human_ms(0.25), "250µs");
        assert_eq!(short(3.0), "3");
        assert_eq!(short(0.12345678), "0.1235");
    }

    #[test]
    fn long_runs_are_bucketed() {
        let series: Vec<SecondPoint> = (0..3000)
            .map(|t| SecondPoint {
                t,
                vus: 1,
                reqs: 1,
                errors: 0,
                checks_ok: 0,
                checks_failed: 0,
                p50_ms: 1.0,
                p95_ms: if t == 1234 { 500.0 } else { 2.0 },
                p99_ms: 3.0,
            })
            .collect();
        let charts = run_charts("r", &series, None);
        let p95 = &charts[0].lines[1].points;
        assert!(p95.len() <= MAX_POINTS);
        // The one slow second survives bucketing.
        assert!(p95.iter().any(|p| p.v == 500.0));
    }
}
