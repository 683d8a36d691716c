//! Reading Sloth and OpenSLO documents into one SLO model.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// A problem in a spec file, reported as `file:line: reason`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct SpecError {
    /// The file (or a name for text given directly).
    pub file: String,
    /// 1-based line (1 when unknown).
    pub line: usize,
    /// What is wrong, naming the field.
    pub reason: String,
}

/// How the SLI is measured, as PromQL with a `{{.window}}` placeholder.
#[derive(Clone, Debug, PartialEq)]
pub enum Sli {
    /// Bad events and all events; the error ratio is their quotient.
    Events {
        /// Bad events over the window.
        error_query: String,
        /// All events over the window.
        total_query: String,
    },
    /// A query that yields the error ratio directly.
    Raw {
        /// The error ratio over the window.
        error_ratio_query: String,
    },
}

/// Labels and annotations of one alert severity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertSpec {
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Extra annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Alerting settings of one SLO.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alerting {
    /// The alert name (both severities share it, told apart by `sloth_severity`).
    pub name: String,
    /// Labels on both alerts.
    pub labels: BTreeMap<String, String>,
    /// Annotations on both alerts.
    pub annotations: BTreeMap<String, String>,
    /// The page alert (fast burn), unless disabled.
    pub page: Option<AlertSpec>,
    /// The ticket alert (slow burn), unless disabled.
    pub ticket: Option<AlertSpec>,
}

/// One SLO, whatever format it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct SloSpec {
    /// The service.
    pub service: String,
    /// The SLO's name (unique within the service).
    pub name: String,
    /// Free text.
    pub description: String,
    /// The objective as a ratio, e.g. 0.999.
    pub objective: f64,
    /// The SLO period in days (30 unless the spec says otherwise).
    pub period_days: u32,
    /// Labels added to every generated rule.
    pub labels: BTreeMap<String, String>,
    /// The indicator.
    pub sli: Sli,
    /// Alerting settings (`None`: recording rules only).
    pub alerting: Option<Alerting>,
}

impl SloSpec {
    /// `service-name`, the id Sloth puts in `sloth_id`.
    pub fn id(&self) -> String {
        format!("{}-{}", self.service, self.name)
    }

    /// The error budget as a ratio (1 - objective).
    pub fn error_budget(&self) -> f64 {
        // Computed from the percentage and rounded so 99.9 gives 0.001, not 0.0009999999999999432.
        let b = (100.0 - self.objective * 100.0) / 100.0;
        (b * 1e12).round() / 1e12
    }
}

/// Reads a Sloth or OpenSLO file.
pub fn parse_slo_file(path: &Path) -> Result<Vec<SloSpec>, SpecError> {
    let src = std::fs::read_to_string(path).map_err(|e| SpecError {
        file: path.display().to_string(),
        line: 1,
        reason: format!("cannot read: {e}"),
    })?;
    parse_slo_str(&path.display().to_string(), &src)
}

/// Reads Sloth or OpenSLO text; `file` names it in errors.
pub fn parse_slo_str(file: &str, src: &str) -> Result<Vec<SloSpec>, SpecError> {
    let err = |line: usize, reason: String| SpecError {
        file: file.to_string(),
        line,
        reason,
    };
    if src
        .lines()
        .any(|l| l.trim_start().starts_with("apiVersion:") && l.contains("openslo/"))
    {
        return parse_openslo(file, src);
    }
    let version_line = src
        .lines()
        .position(|l| l.trim_start().starts_with("version:"))
        .map(|i| i + 1);
    match version_line {
        Some(_) => parse_sloth(file, src),
        None => Err(err(
            1,
            "not a Sloth spec (`version: \"prometheus/v1\"`) nor an OpenSLO document (`apiVersion: openslo/v1`)".into(),
        )),
    }
}

fn yaml_error(file: &str, e: &serde_yaml::Error) -> SpecError {
    SpecError {
        file: file.to_string(),
        line: e.location().map(|l| l.line()).unwrap_or(1),
        reason: e.to_string(),
    }
}

/// The line of the `n`th occurrence of `key:` in the text (1 if not found).
fn line_of(src: &str, key: &str, n: usize) -> usize {
    let pat = format!("{key}:");
    src.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ");
            t.starts_with(&pat)
        })
        .nth(n)
        .map(|(i, _)| i + 1)
        .unwrap_or(1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothFile {
    version: String,
    service: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    slos: Vec<SlothSlo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothSlo {
    name: String,
    objective: f64,
    #[serde(default)]
    description: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    sli: SlothSli,
    #[serde(default)]
    alerting: Option<SlothAlerting>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothSli {
    #[serde(default)]
    events: Option<SlothEvents>,
    #[serde(default)]
    raw: Option<SlothRaw>,
    #[serde(default)]
    plugin: Option<serde_yaml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothEvents {
    error_query: String,
    total_query: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothRaw {
    error_ratio_query: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothAlerting {
    #[serde(default)]
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    page_alert: Option<SlothAlert>,
    #[serde(default)]
    ticket_alert: Option<SlothAlert>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SlothAlert {
    #[serde(default)]
    disable: bool,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn check_query(file: &str, src: &str, key: &str, nth: usize, q: &str) -> Result<(), SpecError> {
    let probe = q
        .replace("{{.window}}", "5m")
        .replace("{{ .window }}", "5m");
    crate::promql::parse(&probe)
        .map(|_| ())
        .map_err(|e| SpecError {
            file: file.to_string(),
            line: line_of(src, key, nth),
            reason: format!("{key}: {e}"),
        })
}

fn parse_sloth(file: &str, src: &str) -> Result<Vec<SloSpec>, SpecError> {
    let doc: SlothFile = serde_yaml::from_str(src).map_err(|e| yaml_error(file, &e))?;
    let err = |line: usize, reason: String| SpecError {
        file: file.to_string(),
        line,
        reason,
    };
    if doc.version != "prometheus/v1" {
        return Err(err(
            line_of(src, "version", 0),
            format!("version: expected \"prometheus/v1\", got {:?}", doc.version),
        ));
    }
    if doc.service.trim().is_empty() {
        return Err(err(
            line_of(src, "service", 0),
            "service: must not be empty".into(),
        ));
    }
    if doc.slos.is_empty() {
        return Err(err(
            line_of(src, "slos", 0),
            "slos: at least one SLO is needed".into(),
        ));
    }
    let mut out = Vec::new();
    let (mut n_events, mut n_raw) = (0, 0);
    for (i, s) in doc.slos.into_iter().enumerate() {
        let name_line = line_of(src, "name", i);
        if s.name.trim().is_empty() {
            return Err(err(name_line, "name: must not be empty".into()));
        }
        if !(s.objective > 0.0 && s.objective < 100.0) {
            return Err(err(
                line_of(src, "objective", i),
                format!(
                    "objective: must be a percentage between 0 and 100 (exclusive), got {}",
                    s.objective
                ),
            ));
        }
        let sli = match (s.sli.events, s.sli.raw, s.sli.plugin) {
            (Some(ev), None, None) => {
                check_query(file, src, "error_query", n_events, &ev.error_query)?;
                check_query(file, src, "total_query", n_events, &ev.total_query)?;
                n_events += 1;
                Sli::Events {
                    error_query: ev.error_query,
                    total_query: ev.total_query,
                }
            }
            (None, Some(raw), None) => {
                check_query(
                    file,
                    src,
                    "error_ratio_query",
                    n_raw,
                    &raw.error_ratio_query,
                )?;
                n_raw += 1;
                Sli::Raw {
                    error_ratio_query: raw.error_ratio_query,
                }
            }
            (None, None, Some(_)) => {
                return Err(err(
                    line_of(src, "plugin", 0),
                    "sli.plugin: SLI plugins are not supported; use events or raw".into(),
                ))
            }
            _ => {
                return Err(err(
                    line_of(src, "sli", i),
                    "sli: exactly one of events, raw or plugin is needed".into(),
                ))
            }
        };
        let alerting = s.alerting.map(|a| {
            let severity = |x: Option<SlothAlert>| {
                let x = x.unwrap_or_default();
                (!x.disable).then_some(AlertSpec {
                    labels: x.labels,
                    annotations: x.annotations,
                })
            };
            Alerting {
                name: a.name,
                labels: a.labels,
                annotations: a.annotations,
                page: severity(a.page_alert),
                ticket: severity(a.ticket_alert),
            }
        });
        if let Some(a) = &alerting {
            if a.name.is_empty() && (a.page.is_some() || a.ticket.is_some()) {
                return Err(err(
                    line_of(src, "alerting", i),
                    "alerting.name: an alert name is needed when alerts are enabled".into(),
                ));
            }
        }
        let mut labels = doc.labels.clone();
        labels.extend(s.labels);
        out.push(SloSpec {
            service: doc.service.clone(),
            name: s.name,
            description: s.description,
            objective: s.objective / 100.0,
            period_days: 30,
            labels,
            sli,
            alerting,
        });
    }
    Ok(out)
}

// ---- OpenSLO v1 ----

fn parse_openslo(file: &str, src: &str) -> Result<Vec<SloSpec>, SpecError> {
    let err = |line: usize, reason: String| SpecError {
        file: file.to_string(),
        line,
        reason,
    };
    let mut docs = Vec::new();
    for d in serde_yaml::Deserializer::from_str(src) {
        let v = serde_yaml::Value::deserialize(d).map_err(|e| yaml_error(file, &e))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    let str_at = |v: &serde_yaml::Value, path: &[&str]| -> Option<String> {
        let mut cur = v;
        for p in path {
            cur = cur.get(*p)?;
        }
        match cur {
            serde_yaml::Value::String(s) => Some(s.clone()),
            serde_yaml::Value::Number(n) => Some(n.to_string()),
            serde_yaml::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let mut slis: BTreeMap<String, serde_yaml::Value> = BTreeMap::new();
    for d in &docs {
        if str_at(d, &["kind"]).as_deref() == Some("SLI") {
            let name = str_at(d, &["metadata", "name"]).ok_or_else(|| {
                err(
                    line_of(src, "kind", 0),
                    "SLI metadata.name is required".into(),
                )
            })?;
            slis.insert(name, d.get("spec").cloned().unwrap_or_default());
        }
    }
    let mut out = Vec::new();
    let mut slo_index = 0;
    for (doc_index, d) in docs.iter().enumerate() {
        let api = str_at(d, &["apiVersion"]).unwrap_or_default();
        if api != "openslo/v1" {
            return Err(err(
                line_of(src, "apiVersion", doc_index),
                format!("apiVersion: only openslo/v1 is supported, got {api:?}"),
            ));
        }
        if str_at(d, &["kind"]).as_deref() != Some("SLO") {
            continue;
        }
        let here = |key: &str| line_of(src, key, slo_index);
        let name = str_at(d, &["metadata", "name"])
            .ok_or_else(|| err(here("metadata"), "metadata.name is required".into()))?;
        let spec = d
            .get("spec")
            .ok_or_else(|| err(here("metadata"), format!("SLO {name}: spec is required")))?;
        let service = str_at(spec, &["service"]).unwrap_or_else(|| "service".into());
        let description = str_at(spec, &["description"]).unwrap_or_default();
        let indicator = if let Some(ind) = spec.get("indicator") {
            ind.get("spec").cloned().unwrap_or_default()
        } else if let Some(r) = str_at(spec, &["indicatorRef"]) {
            slis.get(&r).cloned().ok_or_else(|| {
                err(
                    line_of(src, "indicatorRef", 0),
                    format!("spec.indicatorRef: no SLI named {r:?} in this file"),
                )
            })?
        } else {
            return Err(err(
                here("spec"),
                format!("SLO {name}: spec.indicator or spec.indicatorRef is required"),
            ));
        };
        let objective = spec
            .get("objectives")
            .and_then(|o| o.as_sequence())
            .and_then(|s| s.first())
            .ok_or_else(|| {
                err(
                    here("spec"),
                    format!("SLO {name}: spec.objectives needs one objective"),
                )
            })?;
        let target = match (
            objective.get("target").and_then(|v| v.as_f64()),
            objective.get("targetPercent").and_then(|v| v.as_f64()),
        ) {
            (Some(t), _) => t,
            (None, Some(p)) => p / 100.0,
            _ => {
                return Err(err(
                    line_of(src, "objectives", slo_index),
                    "objectives[0]: target or targetPercent is required".into(),
                ))
            }
        };
        if !(target > 0.0 && target < 1.0) {
            return Err(err(
                line_of(src, "target", slo_index),
                format!("objectives[0].target: must be between 0 and 1 (exclusive), got {target}"),
            ));
        }
        let period_days = match spec
            .get("timeWindow")
            .and_then(|t| t.as_sequence())
            .and_then(|s| s.first())
            .and_then(|w| str_at(w, &["duration"]))
        {
            None => 30,
            Some(d) => parse_days(&d).ok_or_else(|| {
                err(
                    line_of(src, "duration", 0),
                    format!("timeWindow[0].duration: expected whole days or weeks like 28d, 4w or 1M, got {d:?}"),
                )
            })?,
        };
        let method = str_at(spec, &["budgetingMethod"]).unwrap_or_else(|| "Occurrences".into());
        let sli = openslo_sli(&indicator, objective, &method).map_err(|reason| {
            err(
                line_of(src, "indicator", slo_index).max(here("spec")),
                format!("SLO {name}: {reason}"),
            )
        })?;
        let mut labels = BTreeMap::new();
        if let Some(m) = d
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(|l| l.as_mapping())
        {
            for (k, v) in m {
                if let (Some(k), Some(v)) = (k.as_str(), v.as_str()) {
                    labels.insert(k.to_string(), v.to_string());
                }
            }
        }
        let alert_name: String = format!("{}{}", camel(&service), camel(&name));
        out.push(SloSpec {
            service,
            name,
            description,
            objective: target,
            period_days,
            labels,
            sli,
            alerting: Some(Alerting {
                name: alert_name,
                page: Some(AlertSpec::default()),
                ticket: Some(AlertSpec::default()),
                ..Alerting::default()
            }),
        });
        slo_index += 1;
    }
    if out.is_empty() {
        return Err(err(1, "no SLO document (kind: SLO) in the file".into()));
    }
    Ok(out)
}

fn camel(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn parse_days(d: &str) -> Option<u32> {
    let (n, unit) = d.split_at(d.find(|c: char| !c.is_ascii_digit())?);
    let n: u32 = n.parse().ok()?;
    match unit {
        "d" => Some(n),
        "w" => Some(n * 7),
        "M" => Some(n * 30),
        _ => None,
    }
}

/// The PromQL query of an OpenSLO metric source.
fn metric_query(v: Option<&serde_yaml::Value>, what: &str) -> Result<String, String> {
    let src = v
        .and_then(|v| v.get("metricSource"))
        .ok_or_else(|| format!("{what}.metricSource is required"))?;
    let ty = src
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("Prometheus");
    if !ty.eq_ignore_ascii_case("prometheus") {
        return Err(format!(
            "{what}.metricSource.type {ty:?} is not supported (only Prometheus)"
        ));
    }
    let q = src
        .get("spec")
        .and_then(|s| s.get("query"))
        .and_then(|q| q.as_str())
        .ok_or_else(|| format!("{what}.metricSource.spec.query is required"))?;
    crate::promql::parse(&q.replace("{{.window}}", "5m"))
        .map_err(|e| format!("{what}.metricSource.spec.query: {e}"))?;
    Ok(q.trim().to_string())
}

/// A counter query over the window: the user's query if it already has a
/// `{{.window}}` range, else `sum(rate(query[window]))`.
fn windowed(q: &str, counter: bool) -> String {
    if q.contains("{{.window}}") || !counter {
        format!("({q})")
    } else {
        format!("sum(rate({q}[{{{{.window}}}}]))")
    }
}

fn openslo_sli(
    ind: &serde_yaml::Value,
    objective: &serde_yaml::Value,
    method: &str,
) -> Result<Sli, String> {
    if let Some(r) = ind.get("ratioMetric") {
        let counter = r.get("counter").and_then(|c| c.as_bool()).unwrap_or(true);
        if let Some(raw) = r.get("raw") {
            let q = metric_query(Some(raw), "ratioMetric.raw")?;
            let raw_type = r
                .get("rawType")
                .and_then(|t| t.as_str())
                .unwrap_or("success");
            let ratio = windowed(&q, false);
            return Ok(Sli::Raw {
                error_ratio_query: if raw_type == "failure" {
                    ratio
                } else {
                    format!("1 - {ratio}")
                },
            });
        }
        let total = windowed(&metric_query(r.get("total"), "ratioMetric.total")?, counter);
        if r.get("bad").is_some() {
            let bad = windowed(&metric_query(r.get("bad"), "ratioMetric.bad")?, counter);
            return Ok(Sli::Events {
                error_query: bad,
                total_query: total,
            });
        }
        let good = windowed(&metric_query(r.get("good"), "ratioMetric.good")?, counter);
        return Ok(Sli::Events {
            error_query: format!("({total} - {good})"),
            total_query: total,
        });
    }
    if let Some(t) = ind.get("thresholdMetric") {
        let q = metric_query(Some(t), "thresholdMetric")?;
        let op = match objective
            .get("op")
            .and_then(|o| o.as_str())
            .unwrap_or("lte")
        {
            "lte" => "<=",
            "lt" => "<",
            "gte" => ">=",
            "gt" => ">",
            other => {
                return Err(format!(
                    "objectives[0].op {other:?} is not one of lt, lte, gt, gte"
                ))
            }
        };
        let value = objective
            .get("value")
            .and_then(|v| v.as_f64())
            .ok_or("objectives[0].value is required for a thresholdMetric")?;
        let slice = objective
            .get("timeSliceWindow")
            .and_then(|w| w.as_str())
            .unwrap_or("1m");
        // Timeslices: the share of slices in which the threshold held; for
        // Occurrences the same query approximates the share of good samples.
        let _ = method;
        return Ok(Sli::Raw {
            error_ratio_query: format!(
                "1 - avg_over_time((({q}) {op} bool {value})[{{{{.window}}}}:{slice}])"
            ),
        });
    }
    Err("the SLI needs ratioMetric or thresholdMetric".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOTH: &str = r#"version: "prometheus/v1"
service: "pizza"
labels:
  team: "perf"
slos:
  - name: "requests-availability"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{status=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{.window}}]))
    alerting:
      name: PizzaHighErrorRate
      page_alert:
        labels:
          severity: page
      ticket_alert:
        disable: true
"#;

    #[test]
    fn reads_sloth() {
        let slos = parse_slo_str("s.yaml", SLOTH).expect("valid");
        assert_eq!(slos.len(), 1);
        assert_eq!(slos[0].id(), "pizza-requests-availability");
        assert_eq!(slos[0].error_budget(), 0.001);
        let a = slos[0].alerting.as_ref().expect("alerting");
        assert!(a.page.is_some() && a.ticket.is_none());
    }

    #[test]
    fn sloth_errors_name_line_and_field() {
        let bad = SLOTH.replace("objective: 99.9", "objective: 120");
        let e = parse_slo_str("s.yaml", &bad).expect_err("bad objective");
        assert_eq!(e.line, 7);
        assert!(e.to_string().starts_with("s.yaml:7: objective:"), "{e}");
        let bad = SLOTH.replace("sum(rate(http_requests_total[{{.window}}]))", "sum(rate(");
        let e = parse_slo_str("s.yaml", &bad).expect_err("bad query");
        assert_eq!(e.line, 11, "{e}");
        let bad = SLOTH.replace(
            "    objective: 99.9\n",
            "    objective: 99.9\n    bogus: 1\n",
        );
        let e = parse_slo_str("s.yaml", &bad).expect_err("unknown field");
        assert!(e.reason.contains("bogus"), "{e}");
        assert_eq!(e.line, 8);
    }

    #[test]
    fn reads_openslo_with_ref_and_percent() {
        let src = r#"apiVersion: openslo/v1
kind: SLI
metadata:
  name: good-ratio
spec:
  ratioMetric:
    counter: true
    good:
      metricSource:
        type: Prometheus
        spec:
          query: http_requests_total{status!~"5.."}
    total:
      metricSource:
        type: Prometheus
        spec:
          query: http_requests_total
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: availability
spec:
  service: pizza
  indicatorRef: good-ratio
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: ok
      targetPercent: 99.5
"#;
        let slos = parse_slo_str("o.yaml", src).expect("valid");
        assert_eq!(slos[0].period_days, 28);
        assert!((slos[0].objective - 0.995).abs() < 1e-12);
        match &slos[0].sli {
            Sli::Events { error_query, .. } => assert!(error_query.contains("rate(")),
            other => panic!("unexpected {other:?}"),
        }
        let bad = src.replace("targetPercent: 99.5", "targetPercent: 150");
        let e = parse_slo_str("o.yaml", &bad).expect_err("bad target");
        assert!(e.reason.contains("target"), "{e}");
    }
}
