//! Replaying series through an SLO's generated rules: the minute-by-minute
//! SLI, error budget, burn rates and alert states.

use std::fmt::Write;

use super::rules::generate_rule_file;
use super::spec::SloSpec;
use crate::promql::labels::METRIC_NAME;
use crate::promql::{format_float, instant_query_with, QueryContext, Storage, Value};

/// The state of one SLO at one evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct SloState {
    /// The SLO's `sloth_id`.
    pub id: String,
    /// Error ratio over 5 minutes.
    pub sli_error_5m: Option<f64>,
    /// Share of the period's error budget left (1 = untouched).
    pub budget_remaining: Option<f64>,
    /// Burn rates over 5m, 1h, 6h and 3d.
    pub burn: [Option<f64>; 4],
    /// Which alerts (`page`, `ticket`) are firing.
    pub firing: Vec<String>,
}

/// One evaluation step.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineRow {
    /// Milliseconds.
    pub t: i64,
    /// One entry per SLO.
    pub slos: Vec<SloState>,
}

fn single(storage: &Storage, q: &str, t: i64, ctx: &QueryContext<'_>) -> Option<f64> {
    match instant_query_with(storage, q, t, ctx) {
        Ok(Value::Vector(v)) if !v.is_empty() => Some(v[0].value),
        Ok(Value::Scalar(v)) => Some(v),
        _ => None,
    }
}

/// Evaluates the rules of `slos` every `step` from `start` to `end`, writing
/// recorded series back into `storage` as Prometheus's rule manager does.
/// Every query runs under the default limits.
pub fn replay(
    slos: &[SloSpec],
    storage: &mut Storage,
    start: i64,
    end: i64,
    step: i64,
) -> Result<Vec<TimelineRow>, String> {
    replay_with(slos, storage, start, end, step, &QueryContext::default())
}

/// [`replay`] with every query under `ctx`: its limits apply to each query,
/// and its deadline and cancellation to the whole replay.
pub fn replay_with(
    slos: &[SloSpec],
    storage: &mut Storage,
    start: i64,
    end: i64,
    step: i64,
    ctx: &QueryContext<'_>,
) -> Result<Vec<TimelineRow>, String> {
    if step <= 0 || end < start {
        return Err("the replay needs start <= end and a positive step".into());
    }
    let file = generate_rule_file(slos);
    let mut rows = Vec::new();
    let mut t = start;
    while t <= end {
        let mut firing: Vec<(String, String)> = Vec::new();
        for g in &file.groups {
            for r in &g.rules {
                let v = instant_query_with(storage, &r.expr, t, ctx)
                    .map_err(|e| format!("{}: {e}", g.name))?;
                let els = match v {
                    Value::Vector(els) => els,
                    Value::Scalar(x) => vec![crate::promql::Element {
                        labels: Default::default(),
                        value: x,
                        sample_t: None,
                    }],
                    _ => vec![],
                };
                if let Some(name) = &r.record {
                    for e in els {
                        let mut l = e.labels.clone();
                        for (k, v) in &r.labels {
                            l.set(k.clone(), v.clone());
                        }
                        l.set(METRIC_NAME, name.clone());
                        storage.append(&l, t, e.value);
                    }
                } else if !els.is_empty() {
                    let sev = r.labels.get("sloth_severity").cloned().unwrap_or_default();
                    for e in els {
                        firing.push((e.labels.value("sloth_id").to_string(), sev.clone()));
                    }
                }
            }
        }
        let mut states = Vec::new();
        for slo in slos {
            let id = slo.id();
            let sel = format!("{{sloth_id=\"{id}\"}}");
            let budget = slo.error_budget();
            let burn = |w: &str| {
                single(
                    storage,
                    &format!("slo:sli_error:ratio_rate{w}{sel}"),
                    t,
                    ctx,
                )
                .map(|v| v / budget)
            };
            let mut f: Vec<String> = firing
                .iter()
                .filter(|(i, _)| *i == id)
                .map(|(_, s)| s.clone())
                .collect();
            f.dedup();
            states.push(SloState {
                sli_error_5m: single(storage, &format!("slo:sli_error:ratio_rate5m{sel}"), t, ctx),
                budget_remaining: single(
                    storage,
                    &format!("slo:period_error_budget_remaining:ratio{sel}"),
                    t,
                    ctx,
                ),
                burn: [burn("5m"), burn("1h"), burn("6h"), burn("3d")],
                firing: f,
                id,
            });
        }
        rows.push(TimelineRow { t, slos: states });
        t += step;
    }
    Ok(rows)
}

fn opt(v: Option<f64>, scale: f64) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{:.4}", x * scale),
        Some(x) => format_float(x),
        None => "-".into(),
    }
}

/// A text table, plus one line per alert that fires or resolves.
pub fn render(rows: &[TimelineRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:<36} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}  alerts",
        "time", "slo", "error_5m", "budget_%", "burn_5m", "burn_1h", "burn_6h", "burn_3d"
    );
    let mut prev: std::collections::BTreeMap<(String, String), bool> = Default::default();
    let mut events = Vec::new();
    for r in rows {
        for s in &r.slos {
            let _ = writeln!(
                out,
                "{:<8} {:<36} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}  {}",
                crate::cli::clock(r.t),
                s.id,
                opt(s.sli_error_5m, 1.0),
                opt(s.budget_remaining, 100.0),
                opt(s.burn[0], 1.0),
                opt(s.burn[1], 1.0),
                opt(s.burn[2], 1.0),
                opt(s.burn[3], 1.0),
                if s.firing.is_empty() {
                    "-".to_string()
                } else {
                    s.firing.join(",")
                }
            );
            for sev in ["page", "ticket"] {
                let now = s.firing.iter().any(|f| f == sev);
                let key = (s.id.clone(), sev.to_string());
                let was = prev.get(&key).copied().unwrap_or(false);
                if now != was {
                    events.push(format!(
                        "{} {} {} alert {}",
                        crate::cli::clock(r.t),
                        s.id,
                        sev,
                        if now { "FIRES" } else { "resolves" }
                    ));
                }
                prev.insert(key, now);
            }
        }
    }
    out.push('\n');
    if events.is_empty() {
        out.push_str("no alert fired\n");
    }
    for e in events {
        out.push_str(&e);
        out.push('\n');
    }
    out
}
