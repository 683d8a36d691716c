//! End-of-test summaries: the data k6 passes to `handleSummary`, the
//! `--summary-export` JSON, and the text layout k6 prints.

use std::fmt::Write as _;

use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use super::metrics::{fmt_num, Contains, GroupNode, MetricType, Sink, Store};
use super::options::Plan;
use super::thresholds::Aggregation;

/// Result of evaluating one threshold expression.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdResult {
    /// Metric key (with tag filter).
    pub key: String,
    /// Expression source.
    pub source: String,
    /// Whether it passed.
    pub ok: bool,
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

fn stat(sink: &mut Sink, name: &str, duration: f64) -> Option<f64> {
    let agg = match name {
        "avg" => Aggregation::Avg,
        "min" => Aggregation::Min,
        "max" => Aggregation::Max,
        "med" => Aggregation::Med,
        "count" => Aggregation::Count,
        other => {
            let p: f64 = other.strip_prefix("p(")?.strip_suffix(')')?.parse().ok()?;
            Aggregation::Percentile(p)
        }
    };
    Some(sink.aggregate(agg, duration))
}

fn values(
    kind: MetricType,
    sink: &mut Sink,
    trend_stats: &[String],
    duration: f64,
) -> Map<String, Value> {
    let mut m = Map::new();
    match kind {
        MetricType::Trend => {
            for s in trend_stats {
                if let Some(v) = stat(sink, s, duration) {
                    m.insert(s.clone(), json!(v));
                }
            }
        }
        MetricType::Counter => {
            m.insert(
                "count".into(),
                json!(sink.aggregate(Aggregation::Count, duration)),
            );
            m.insert(
                "rate".into(),
                json!(sink.aggregate(Aggregation::Rate, duration)),
            );
        }
        MetricType::Rate => {
            let (t, n) = match sink {
                Sink::Rate { trues, total } => (*trues, *total),
                _ => (0, 0),
            };
            m.insert(
                "rate".into(),
                json!(sink.aggregate(Aggregation::Rate, duration)),
            );
            m.insert("passes".into(), json!(t));
            m.insert("fails".into(), json!(n - t));
        }
        MetricType::Gauge => {
            m.insert(
                "value".into(),
                json!(sink.aggregate(Aggregation::Value, duration)),
            );
            m.insert(
                "min".into(),
                json!(sink.aggregate(Aggregation::Min, duration)),
            );
            m.insert(
                "max".into(),
                json!(sink.aggregate(Aggregation::Max, duration)),
            );
        }
    }
    m
}

fn contains_name(c: Contains) -> &'static str {
    match c {
        Contains::Default => "default",
        Contains::Time => "time",
        Contains::Data => "data",
    }
}

fn group_json(name: &str, path: &str, node: &GroupNode, legacy: bool) -> Value {
    let checks: Vec<(String, Value)> = node
        .checks
        .iter()
        .map(|(n, c)| {
            let p = format!("{path}::{n}");
            (n.clone(), json!({ "name": n, "path": p, "id": md5_hex(&p), "passes": c.passes, "fails": c.fails }))
        })
        .collect();
    let groups: Vec<(String, Value)> = node
        .groups
        .iter()
        .map(|(n, g)| {
            let p = format!("{path}::{n}");
            (n.clone(), group_json(n, &p, g, legacy))
        })
        .collect();
    if legacy {
        json!({
            "name": name, "path": path, "id": md5_hex(path),
            "groups": groups.into_iter().collect::<Map<_, _>>(),
            "checks": checks.into_iter().collect::<Map<_, _>>(),
        })
    } else {
        json!({
            "name": name, "path": path, "id": md5_hex(path),
            "groups": groups.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            "checks": checks.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        })
    }
}

/// Evaluates all thresholds at the end of the run.
pub fn evaluate_thresholds(store: &mut Store, plan: &Plan, duration: f64) -> Vec<ThresholdResult> {
    let mut out = Vec::new();
    for t in &plan.thresholds {
        let Some(id) = store.id(&t.selector.metric) else {
            for r in &t.exprs {
                out.push(ThresholdResult {
                    key: t.key.clone(),
                    source: r.expr.source.clone(),
                    ok: true,
                });
            }
            continue;
        };
        for r in &t.exprs {
            let m = &mut store.metrics_mut()[id];
            let v = if t.selector.tags.is_empty() {
                m.sink.aggregate(r.expr.agg, duration)
            } else {
                m.subs
                    .iter_mut()
                    .find(|(_, k, _)| *k == t.key)
                    .map_or(0.0, |(_, _, s)| s.aggregate(r.expr.agg, duration))
            };
            out.push(ThresholdResult {
                key: t.key.clone(),
                source: r.expr.source.clone(),
                ok: r.expr.op.holds(v, r.expr.value),
            });
        }
    }
    out
}

/// Builds (handleSummary data, summary-export JSON).
pub fn build(
    store: &mut Store,
    plan: &Plan,
    duration: f64,
    thresholds: &[ThresholdResult],
) -> (Value, Value) {
    let stats = plan.summary_trend_stats.clone();
    let export_stats: Vec<String> = ["avg", "min", "med", "max", "p(90)", "p(95)"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut data_metrics = Map::new();
    let mut export_metrics = Map::new();
    let th_for = |key: &str| -> Vec<&ThresholdResult> {
        thresholds.iter().filter(|t| t.key == key).collect()
    };
    for m in store.metrics_mut() {
        // The sinks are aggregated in place (trends sort once), not copied.
        let kind = m.kind;
        let contains = m.contains;
        let mut entries: Vec<(String, &mut Sink)> = Vec::new();
        if m.sink.count() > 0.0 || !th_for(&m.name).is_empty() {
            entries.push((m.name.clone(), &mut m.sink));
        }
        for (_, key, sink) in &mut m.subs {
            entries.push((key.clone(), sink));
        }
        for (key, sink) in entries {
            let th = th_for(&key);
            let mut d = Map::new();
            d.insert("type".into(), json!(kind.name()));
            d.insert("contains".into(), json!(contains_name(contains)));
            d.insert(
                "values".into(),
                Value::Object(values(kind, sink, &stats, duration)),
            );
            if !th.is_empty() {
                d.insert(
                    "thresholds".into(),
                    Value::Object(
                        th.iter()
                            .map(|t| (t.source.clone(), json!({ "ok": t.ok })))
                            .collect(),
                    ),
                );
            }
            data_metrics.insert(key.clone(), Value::Object(d));

            let mut e = values(kind, sink, &export_stats, duration);
            if kind == MetricType::Rate {
                let rate = e.remove("rate").unwrap_or(json!(0));
                e.insert("value".into(), rate);
            }
            if !th.is_empty() {
                e.insert(
                    "thresholds".into(),
                    Value::Object(
                        th.iter()
                            .map(|t| (t.source.clone(), json!(!t.ok)))
                            .collect(),
                    ),
                );
            }
            export_metrics.insert(key, Value::Object(e));
        }
    }
    let data = json!({
        "root_group": group_json("", "", store.root(), false),
        "options": { "summaryTrendStats": stats, "summaryTimeUnit": "", "noColor": true },
        "state": { "isStdOutTTY": false, "isStdErrTTY": false, "testRunDurationMs": duration * 1000.0 },
        "metrics": data_metrics,
    });
    let export = json!({
        "root_group": group_json("", "", store.root(), true),
        "metrics": export_metrics,
    });
    (data, export)
}

fn human_time(ms: f64) -> String {
    if ms == 0.0 {
        "0s".into()
    } else if ms < 1.0 {
        format!("{}µs", trim(ms * 1000.0))
    } else if ms < 1000.0 {
        format!("{}ms", trim(ms))
    } else if ms < 60_000.0 {
        format!("{}s", trim(ms / 1000.0))
    } else {
        let m = (ms / 60_000.0).floor();
        format!("{}m{}s", m, trim((ms - m * 60_000.0) / 1000.0))
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

fn human_bytes(b: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{} {}", v.round(), units[i])
    } else {
        format!("{v:.1} {}", units[i])
    }
}

fn num_short(v: f64) -> String {
    if v == v.trunc() {
        fmt_num(v)
    } else {
        format!("{v:.6}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

fn fmt_metric(m: &Map<String, Value>, stats: &[String]) -> String {
    let f = |k: &str| {
        m.get("values")
            .and_then(|v| v.get(k))
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    };
    let kind = m.get("type").and_then(Value::as_str).unwrap_or("");
    let contains = m
        .get("contains")
        .and_then(Value::as_str)
        .unwrap_or("default");
    match kind {
        "trend" => stats
            .iter()
            .map(|s| {
                let v = f(s);
                let txt = if contains == "time" {
                    human_time(v)
                } else {
                    num_short(v)
                };
                format!("{s}={txt}")
            })
            .collect::<Vec<_>>()
            .join(" "),
        "counter" => {
            if contains == "data" {
                format!(
                    "{:<7} {}/s",
                    human_bytes(f("count")),
                    human_bytes(f("rate"))
                )
            } else {
                format!("{:<7} {}/s", num_short(f("count")), trim6(f("rate")))
            }
        }
        "rate" => format!(
            "{:<7} ✓ {:<8} ✗ {}",
            format!("{:.2}%", f("rate") * 100.0),
            fmt_num(f("passes")),
            fmt_num(f("fails"))
        ),
        "gauge" => format!(
            "{:<7} min={:<6} max={}",
            num_short(f("value")),
            num_short(f("min")),
            num_short(f("max"))
        ),
        _ => String::new(),
    }
}

fn trim6(v: f64) -> String {
    format!("{v:.6}")
}

fn checks_text(out: &mut String, group: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    if let Some(checks) = group.get("checks").and_then(Value::as_array) {
        for c in checks {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            let passes = c.get("passes").and_then(Value::as_u64).unwrap_or(0);
            let fails = c.get("fails").and_then(Value::as_u64).unwrap_or(0);
            if fails == 0 {
                let _ = writeln!(out, "{pad}✓ {name}");
            } else {
                let total = passes + fails;
                let pct = (passes * 100).checked_div(total).unwrap_or(0);
                let _ = writeln!(
                    out,
                    "{pad}✗ {name}\n{pad}  ↳  {pct}% — ✓ {passes} / ✗ {fails}"
                );
            }
        }
    }
    if let Some(groups) = group.get("groups").and_then(Value::as_array) {
        for g in groups {
            let name = g.get("name").and_then(Value::as_str).unwrap_or("");
            let _ = writeln!(out, "\n{pad}█ {name}\n");
            checks_text(out, g, indent + 2);
        }
    }
}

/// Renders k6's end-of-test text summary from handleSummary data.
pub fn text_summary(data: &Value, indent: &str) -> String {
    let mut out = String::new();
    let stats: Vec<String> = data
        .pointer("/options/summaryTrendStats")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_else(|| {
            ["avg", "min", "med", "max", "p(90)", "p(95)"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        });
    let mut body = String::new();
    if let Some(root) = data.get("root_group") {
        checks_text(&mut body, root, 4);
    }
    if !body.is_empty() {
        out.push_str(&body);
        out.push('\n');
    }
    let Some(metrics) = data.get("metrics").and_then(Value::as_object) else {
        return out;
    };
    let mut names: Vec<&String> = metrics.keys().collect();
    names.sort_by(|a, b| {
        let base = |s: &str| s.split('{').next().unwrap_or(s).to_owned();
        base(a)
            .cmp(&base(b))
            .then(a.len().cmp(&b.len()))
            .then(a.cmp(b))
    });
    let display = |n: &str| -> String {
        match n.split_once('{') {
            Some((_, tags)) => format!("  {{ {} }}", tags.trim_end_matches('}')),
            None => n.to_owned(),
        }
    };
    let width = names
        .iter()
        .map(|n| display(n).chars().count())
        .max()
        .unwrap_or(10)
        + 3;
    for n in names {
        let Some(m) = metrics.get(n).and_then(Value::as_object) else {
            continue;
        };
        let mark = match m.get("thresholds").and_then(Value::as_object) {
            Some(th)
                if th
                    .values()
                    .all(|t| t.get("ok").and_then(Value::as_bool).unwrap_or(true)) =>
            {
                "✓ "
            }
            Some(_) => "✗ ",
            None => "  ",
        };
        let d = display(n);
        let dots = ".".repeat(width.saturating_sub(d.chars().count()));
        let _ = writeln!(out, "{indent}{mark}{d}{dots}: {}", fmt_metric(m, &stats));
    }
    out
}

/// `textSummary(data, options)` of the k6-summary jslib.
pub fn text_summary_from_json(data: &str, opts: &str) -> String {
    let indent = serde_json::from_str::<Value>(opts)
        .ok()
        .and_then(|o| o.get("indent").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| " ".into());
    match serde_json::from_str::<Value>(data) {
        Ok(d) => text_summary(&d, &indent),
        Err(e) => format!("textSummary: invalid data: {e}"),
    }
}

/// `jUnit(data)` of the k6-summary jslib: thresholds as test cases.
pub fn junit_from_json(data: &str) -> String {
    let d: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    let mut cases = String::new();
    let mut failures = 0;
    let mut count = 0;
    if let Some(metrics) = d.get("metrics").and_then(Value::as_object) {
        for (name, m) in metrics {
            if let Some(th) = m.get("thresholds").and_then(Value::as_object) {
                for (src, r) in th {
                    count += 1;
                    let esc = |s: &str| {
                        s.replace('&', "&amp;")
                            .replace('<', "&lt;")
                            .replace('>', "&gt;")
                            .replace('"', "&quot;")
                    };
                    if r.get("ok").and_then(Value::as_bool).unwrap_or(true) {
                        let _ = write!(cases, "<testcase name=\"{} - {}\" />", esc(name), esc(src));
                    } else {
                        failures += 1;
                        let _ = write!(
                            cases,
                            "<testcase name=\"{} - {}\"><failure message=\"failed\" /></testcase>",
                            esc(name),
                            esc(src)
                        );
                    }
                }
            }
        }
    }
    format!("<?xml version=\"1.0\"?>\n<testsuites tests=\"{count}\" failures=\"{failures}\">\n<testsuite name=\"k6 thresholds\" tests=\"{count}\" failures=\"{failures}\">{cases}</testsuite>\n</testsuites>\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanizes_like_k6() {
        assert_eq!(human_time(1.5), "1.5ms");
        assert_eq!(human_time(0.25), "250µs");
        assert_eq!(human_time(1500.0), "1.5s");
        assert_eq!(human_time(90_000.0), "1m30s");
        assert_eq!(human_bytes(1234.0), "1.2 kB");
        assert_eq!(human_bytes(12.0), "12 B");
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
