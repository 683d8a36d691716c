//! OpenSLO objects into the SLO model: `openslo/v1alpha` with Sloth's
//! semantics, and `openslo/v1` (SLO, with SLI and DataSource objects it
//! refers to; the other kinds are read past).
//!
//! Sloth reads v1alpha like this: each objective of an SLO becomes its own
//! SLO named `<name>-<index>`, `ratioMetrics` good/total become the raw error
//! ratio `1 - (good / total)`, the window comes from `timeWindows[0]` in days
//! (30 without one), and no alerts are generated.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::documents::Piece;
use super::spec::{check_query, AlertSpec, Alerting, Sli, SloSpec, Source, SpecError, SpecFormat};

const V1ALPHA: &str = "openslo/v1alpha";
const V1: &str = "openslo/v1";
const V1ALPHA_KINDS: [&str; 2] = ["SLO", "Service"];
const V1_KINDS: [&str; 7] = [
    "SLO",
    "SLI",
    "Service",
    "DataSource",
    "AlertPolicy",
    "AlertCondition",
    "AlertNotificationTarget",
];

/// One OpenSLO object and where it is in the file.
pub(crate) struct Object {
    pub piece: Piece,
    value: Value,
    api_version: &'static str,
    kind: String,
}

fn str_at(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Object {
    /// Checks the object's `apiVersion` and `kind`.
    pub fn new(source: &Source<'_>, piece: Piece, value: Value) -> Result<Self, SpecError> {
        let err = |key: &str, reason: String| source.err(&piece, piece.line_of(key, 0), reason);
        let api = str_at(&value, &["apiVersion"]).unwrap_or_default();
        let (api_version, kinds): (&'static str, &[&str]) = match api.as_str() {
            V1ALPHA => (V1ALPHA, &V1ALPHA_KINDS),
            V1 => (V1, &V1_KINDS),
            "openslo/v2alpha" => {
                return Err(err(
                    "apiVersion",
                    "apiVersion: openslo/v2alpha is not supported; write openslo/v1 (or openslo/v1alpha, the version Sloth reads)".into(),
                ))
            }
            a if a.starts_with("sloth.slok.dev/") => {
                return Err(err(
                    "apiVersion",
                    format!("apiVersion: {a} (Sloth's Kubernetes resource) is not read here; write its spec as a Sloth file: version: \"prometheus/v1\", then service, labels and slos"),
                ))
            }
            a => {
                return Err(err(
                    "apiVersion",
                    format!("apiVersion: {a:?} is not an OpenSLO version this course reads (openslo/v1alpha, openslo/v1)"),
                ))
            }
        };
        let kind = str_at(&value, &["kind"]).ok_or_else(|| {
            err(
                "apiVersion",
                format!("kind is required ({})", kinds.join(", ")),
            )
        })?;
        if !kinds.contains(&kind.as_str()) {
            return Err(err(
                "kind",
                format!(
                    "kind: {kind:?} is not an {api_version} kind ({})",
                    kinds.join(", ")
                ),
            ));
        }
        Ok(Self {
            piece,
            value,
            api_version,
            kind,
        })
    }

    fn name(&self) -> Option<String> {
        str_at(&self.value, &["metadata", "name"])
    }

    fn err(&self, source: &Source<'_>, line: usize, reason: impl Into<String>) -> SpecError {
        source.err(&self.piece, line, reason)
    }
}

/// The v1 SLIs and DataSources of a file, by name, for `indicatorRef` and
/// `metricSourceRef`.
pub(crate) struct Catalog {
    slis: BTreeMap<String, Value>,
    data_sources: BTreeMap<String, String>,
}

impl Catalog {
    /// Collects the named SLIs and DataSources among `objects`.
    pub fn new(source: &Source<'_>, objects: &[&Object]) -> Result<Self, SpecError> {
        let mut slis = BTreeMap::new();
        let mut data_sources = BTreeMap::new();
        for o in objects.iter().filter(|o| o.api_version == V1) {
            if o.kind != "SLI" && o.kind != "DataSource" {
                continue;
            }
            let name = o.name().ok_or_else(|| {
                o.err(
                    source,
                    o.piece.line_of("kind", 0),
                    format!("{} metadata.name is required", o.kind),
                )
            })?;
            if o.kind == "SLI" {
                slis.insert(name, o.value.get("spec").cloned().unwrap_or_default());
            } else {
                let ty = str_at(&o.value, &["spec", "type"]).unwrap_or_default();
                data_sources.insert(name, ty);
            }
        }
        Ok(Self { slis, data_sources })
    }
}

/// The SLOs an object defines: none for kinds other than SLO.
pub(crate) fn convert(
    source: &Source<'_>,
    obj: &Object,
    catalog: &Catalog,
) -> Result<Vec<SloSpec>, SpecError> {
    if obj.kind != "SLO" {
        return Ok(Vec::new());
    }
    if obj.api_version == V1ALPHA {
        v1alpha_slo(source, obj)
    } else {
        v1_slo(source, obj, catalog)
    }
}

/// Refuses the budgeting methods whose budget is not a ratio of events.
fn check_budgeting_method(
    source: &Source<'_>,
    obj: &Object,
    name: &str,
    allowed: &[&str],
) -> Result<(), SpecError> {
    let Some(method) = str_at(&obj.value, &["spec", "budgetingMethod"]) else {
        return Ok(());
    };
    let line = obj.piece.line_of("budgetingMethod", 0);
    match method.as_str() {
        "Occurrences" => Ok(()),
        m if allowed.contains(&m) => Err(obj.err(
            source,
            line,
            format!("SLO {name}: budgetingMethod {m} is not supported: Sloth and this course generate rules for Occurrences only"),
        )),
        m => Err(obj.err(
            source,
            line,
            format!(
                "SLO {name}: budgetingMethod {m:?} is not one of {}",
                allowed.join(", ")
            ),
        )),
    }
}

fn required_name(source: &Source<'_>, obj: &Object) -> Result<String, SpecError> {
    obj.name().filter(|n| !n.trim().is_empty()).ok_or_else(|| {
        obj.err(
            source,
            obj.piece.line_of("metadata", 0),
            "metadata.name is required",
        )
    })
}

// ---- openslo/v1alpha, as Sloth reads it ----

fn v1alpha_slo(source: &Source<'_>, obj: &Object) -> Result<Vec<SloSpec>, SpecError> {
    let name = required_name(source, obj)?;
    let here = |key: &str, n: usize| obj.piece.line_of(key, n);
    let err = |line: usize, reason: String| obj.err(source, line, format!("SLO {name}: {reason}"));
    let spec = obj
        .value
        .get("spec")
        .ok_or_else(|| err(here("metadata", 0), "spec is required".into()))?;
    let service = str_at(spec, &["service"])
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| err(here("spec", 0), "spec.service is required".into()))?;
    check_budgeting_method(source, obj, &name, &["Occurrences", "Timeslices"])?;
    if spec.get("indicator").is_some() {
        return Err(err(
            here("indicator", 0),
            "spec.indicator (a thresholdMetric) is not supported: Sloth reads openslo/v1alpha SLOs from objectives[].ratioMetrics only".into(),
        ));
    }
    let period_days = match spec.get("timeWindows").and_then(Value::as_sequence) {
        None => 30,
        Some(w) if w.is_empty() => 30,
        Some(w) if w.len() > 1 => {
            return Err(err(
                here("timeWindows", 0),
                "timeWindows: only one time window is supported".into(),
            ))
        }
        Some(w) => {
            let unit = str_at(&w[0], &["unit"]).unwrap_or_default();
            if !unit.eq_ignore_ascii_case("day") {
                return Err(err(
                    here("unit", 0),
                    format!(
                        "timeWindows[0].unit: only Day is supported (as in Sloth), got {unit:?}"
                    ),
                ));
            }
            w[0].get("count")
                .and_then(Value::as_u64)
                .and_then(|c| u32::try_from(c).ok())
                .filter(|&c| c > 0)
                .ok_or_else(|| {
                    err(
                        here("count", 0),
                        "timeWindows[0].count: a whole number of days above 0 is required".into(),
                    )
                })?
        }
    };
    let objectives = spec
        .get("objectives")
        .and_then(Value::as_sequence)
        .filter(|o| !o.is_empty())
        .ok_or_else(|| {
            err(
                here("spec", 0),
                "spec.objectives needs at least one objective".into(),
            )
        })?;
    let description = str_at(spec, &["description"]).unwrap_or_default();
    let mut out = Vec::new();
    for (i, o) in objectives.iter().enumerate() {
        let ratio = o.get("ratioMetrics").ok_or_else(|| {
            err(
                here("objectives", 0),
                format!(
                    "objectives[{i}].ratioMetrics is required (Sloth reads ratio objectives only)"
                ),
            )
        })?;
        let query = |which: &str| -> Result<String, SpecError> {
            let what = format!("objectives[{i}].ratioMetrics.{which}");
            // Each objective has a good and a total source, in that order.
            let nth = 2 * i + usize::from(which == "total");
            let m = ratio
                .get(which)
                .ok_or_else(|| err(here("ratioMetrics", i), format!("{what} is required")))?;
            let source_name = str_at(m, &["source"]).unwrap_or_default();
            if !matches!(
                source_name.to_ascii_lowercase().as_str(),
                "prometheus" | "sloth"
            ) {
                return Err(err(
                    here("source", nth),
                    format!("{what}.source: prometheus or sloth is required, got {source_name:?}"),
                ));
            }
            let query_type = str_at(m, &["queryType"]).unwrap_or_default();
            if !query_type.eq_ignore_ascii_case("promql") {
                return Err(err(
                    here("queryType", nth),
                    format!("{what}.queryType: promql is required, got {query_type:?}"),
                ));
            }
            let q = str_at(m, &["query"])
                .filter(|q| !q.trim().is_empty())
                .ok_or_else(|| err(here(which, i), format!("{what}.query is required")))?;
            check_query(&q).map_err(|e| err(here("query", nth), format!("{what}.query: {e}")))?;
            Ok(q.trim().to_string())
        };
        let good = query("good")?;
        let total = query("total")?;
        let target = o.get("target").and_then(Value::as_f64).ok_or_else(|| {
            err(
                here("objectives", 0),
                format!("objectives[{i}].target is required (a ratio such as 0.999)"),
            )
        })?;
        if !(target > 0.0 && target < 1.0) {
            return Err(err(
                here("target", i),
                format!(
                    "objectives[{i}].target: must be between 0 and 1 (exclusive), got {target}"
                ),
            ));
        }
        out.push(SloSpec {
            service: service.clone(),
            name: format!("{name}-{i}"),
            description: description.clone(),
            objective: target,
            period_days,
            labels: BTreeMap::new(),
            sli: Sli::Raw {
                error_ratio_query: format!("1 - (({good}) / ({total}))"),
            },
            alerting: None,
            format: SpecFormat::OpenSloV1Alpha,
        });
    }
    Ok(out)
}

// ---- openslo/v1 ----

fn v1_slo(source: &Source<'_>, obj: &Object, catalog: &Catalog) -> Result<Vec<SloSpec>, SpecError> {
    let name = required_name(source, obj)?;
    let here = |key: &str, n: usize| obj.piece.line_of(key, n);
    let err = |line: usize, reason: String| obj.err(source, line, format!("SLO {name}: {reason}"));
    let spec = obj
        .value
        .get("spec")
        .ok_or_else(|| err(here("metadata", 0), "spec is required".into()))?;
    check_budgeting_method(
        source,
        obj,
        &name,
        &["Occurrences", "Timeslices", "RatioTimeslices"],
    )?;
    let service = str_at(spec, &["service"]).unwrap_or_else(|| "service".into());
    let description = str_at(spec, &["description"]).unwrap_or_default();
    let indicator = if let Some(ind) = spec.get("indicator") {
        ind.get("spec").cloned().unwrap_or_default()
    } else if let Some(r) = str_at(spec, &["indicatorRef"]) {
        catalog.slis.get(&r).cloned().ok_or_else(|| {
            err(
                here("indicatorRef", 0),
                format!("spec.indicatorRef: no SLI named {r:?} in this file"),
            )
        })?
    } else {
        return Err(err(
            here("spec", 0),
            "spec.indicator or spec.indicatorRef is required".into(),
        ));
    };
    let period_days = match spec
        .get("timeWindow")
        .and_then(Value::as_sequence)
        .and_then(|s| s.first())
        .and_then(|w| str_at(w, &["duration"]))
    {
        None => 30,
        Some(d) => parse_days(&d).ok_or_else(|| {
            err(
                here("duration", 0),
                format!("timeWindow[0].duration: expected whole days or weeks like 28d, 4w or 1M, got {d:?}"),
            )
        })?,
    };
    let objectives = spec
        .get("objectives")
        .and_then(Value::as_sequence)
        .filter(|o| !o.is_empty())
        .ok_or_else(|| {
            err(
                here("spec", 0),
                "spec.objectives needs at least one objective".into(),
            )
        })?;
    let mut labels = BTreeMap::new();
    if let Some(m) = obj
        .value
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_mapping)
    {
        for (k, v) in m {
            // OpenSLO allows a list of values per label; a Prometheus label holds one.
            let value = match v {
                Value::Sequence(vs) => Some(
                    vs.iter()
                        .filter_map(|v| str_at(v, &[]))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                v => str_at(v, &[]),
            };
            if let (Some(k), Some(v)) = (k.as_str(), value) {
                labels.insert(k.to_string(), v);
            }
        }
    }
    let mut out = Vec::new();
    for (i, objective) in objectives.iter().enumerate() {
        if objective.get("indicator").is_some() || objective.get("indicatorRef").is_some() {
            return Err(err(
                here("objectives", 0),
                format!("objectives[{i}]: composite SLOs (an indicator per objective) are not supported"),
            ));
        }
        let target = match (
            objective.get("target").and_then(Value::as_f64),
            objective.get("targetPercent").and_then(Value::as_f64),
        ) {
            (Some(t), _) => t,
            (None, Some(p)) => p / 100.0,
            _ => {
                return Err(err(
                    here("objectives", 0),
                    format!("objectives[{i}]: target or targetPercent is required"),
                ))
            }
        };
        if !(target > 0.0 && target < 1.0) {
            return Err(err(
                here("target", i).max(here("targetPercent", i)),
                format!(
                    "objectives[{i}].target: must be between 0 and 1 (exclusive), got {target}"
                ),
            ));
        }
        let sli = openslo_sli(&indicator, objective, i, catalog)
            .map_err(|reason| err(here("indicator", 0).max(here("spec", 0)), reason))?;
        // One objective keeps the SLO's name; several get Sloth's `-<index>`.
        let slo_name = if objectives.len() == 1 {
            name.clone()
        } else {
            format!("{name}-{i}")
        };
        let alert_name: String = format!("{}{}", camel(&service), camel(&slo_name));
        out.push(SloSpec {
            service: service.clone(),
            name: slo_name,
            description: description.clone(),
            objective: target,
            period_days,
            labels: labels.clone(),
            sli,
            alerting: Some(Alerting {
                name: alert_name,
                page: Some(AlertSpec::default()),
                ticket: Some(AlertSpec::default()),
                ..Alerting::default()
            }),
            format: SpecFormat::OpenSloV1,
        });
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
        "w" => n.checked_mul(7),
        "M" => n.checked_mul(30),
        _ => None,
    }
}

/// The PromQL query of an OpenSLO v1 metric source; its type comes from the
/// source itself or from the DataSource its `metricSourceRef` names.
fn metric_query(v: Option<&Value>, what: &str, catalog: &Catalog) -> Result<String, String> {
    let src = v
        .and_then(|v| v.get("metricSource"))
        .ok_or_else(|| format!("{what}.metricSource is required"))?;
    let ty = match (str_at(src, &["type"]), str_at(src, &["metricSourceRef"])) {
        (Some(t), _) => t,
        (None, Some(r)) => catalog.data_sources.get(&r).cloned().ok_or_else(|| {
            format!("{what}.metricSource.metricSourceRef: no DataSource named {r:?} in this file")
        })?,
        (None, None) => "Prometheus".into(),
    };
    if !ty.eq_ignore_ascii_case("prometheus") {
        return Err(format!(
            "{what}.metricSource.type {ty:?} is not supported (only Prometheus)"
        ));
    }
    let q = src
        .get("spec")
        .and_then(|s| s.get("query"))
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what}.metricSource.spec.query is required"))?;
    check_query(q).map_err(|e| format!("{what}.metricSource.spec.query: {e}"))?;
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

fn openslo_sli(ind: &Value, objective: &Value, i: usize, catalog: &Catalog) -> Result<Sli, String> {
    if let Some(r) = ind.get("ratioMetric") {
        let counter = r.get("counter").and_then(Value::as_bool).unwrap_or(true);
        if let Some(raw) = r.get("raw") {
            let q = metric_query(Some(raw), "ratioMetric.raw", catalog)?;
            let raw_type = r
                .get("rawType")
                .and_then(Value::as_str)
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
        let total = windowed(
            &metric_query(r.get("total"), "ratioMetric.total", catalog)?,
            counter,
        );
        if r.get("bad").is_some() {
            let bad = windowed(
                &metric_query(r.get("bad"), "ratioMetric.bad", catalog)?,
                counter,
            );
            return Ok(Sli::Events {
                error_query: bad,
                total_query: total,
            });
        }
        let good = windowed(
            &metric_query(r.get("good"), "ratioMetric.good", catalog)?,
            counter,
        );
        return Ok(Sli::Events {
            error_query: format!("({total} - {good})"),
            total_query: total,
        });
    }
    if let Some(t) = ind.get("thresholdMetric") {
        let q = metric_query(Some(t), "thresholdMetric", catalog)?;
        let op = match objective.get("op").and_then(Value::as_str).unwrap_or("lte") {
            "lte" => "<=",
            "lt" => "<",
            "gte" => ">=",
            "gt" => ">",
            other => {
                return Err(format!(
                    "objectives[{i}].op {other:?} is not one of lt, lte, gt, gte"
                ))
            }
        };
        let value = objective
            .get("value")
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("objectives[{i}].value is required for a thresholdMetric"))?;
        // Occurrences of a threshold metric: the share of one-minute points
        // at which the threshold held.
        return Ok(Sli::Raw {
            error_ratio_query: format!(
                "1 - avg_over_time((({q}) {op} bool {value})[{{{{.window}}}}:1m])"
            ),
        });
    }
    Err("the SLI needs ratioMetric or thresholdMetric".into())
}
