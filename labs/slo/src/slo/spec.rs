//! Reading Sloth and OpenSLO files into one SLO model.
//!
//! A file is read the way Sloth reads it: as YAML documents separated by
//! `---`, each its own spec. A document is a Sloth `prometheus/v1` spec, an
//! OpenSLO object (`openslo/v1alpha` as Sloth reads it, or `openslo/v1`), or
//! a list of OpenSLO objects as OpenSLO's SDK writes them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::documents::{split_documents, Piece};
use super::openslo;

/// A problem in a spec file, reported as `file:line: reason`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct SpecError {
    /// The file (or a name for text given directly).
    pub file: String,
    /// 1-based line (1 when unknown).
    pub line: usize,
    /// What is wrong, naming the field (and the document, in a file of several).
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

/// The spec format an SLO was read from; Sloth records it on `sloth_slo_info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpecFormat {
    /// Sloth's own `version: "prometheus/v1"`.
    #[default]
    SlothPrometheusV1,
    /// OpenSLO `openslo/v1alpha`, read as Sloth reads it.
    OpenSloV1Alpha,
    /// OpenSLO `openslo/v1` (Sloth does not read it; this course does).
    OpenSloV1,
}

impl SpecFormat {
    /// The `sloth_spec` label value, e.g. `prometheus/v1`.
    pub fn spec_label(self) -> &'static str {
        match self {
            Self::SlothPrometheusV1 => "prometheus/v1",
            Self::OpenSloV1Alpha => "openslo/v1alpha",
            Self::OpenSloV1 => "openslo/v1",
        }
    }

    /// The `sloth_mode` label value Sloth's command line writes for the format.
    pub fn mode_label(self) -> &'static str {
        match self {
            Self::SlothPrometheusV1 => "cli-gen-prom",
            Self::OpenSloV1Alpha | Self::OpenSloV1 => "cli-gen-openslo",
        }
    }
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
    /// The format the SLO was read from.
    pub format: SpecFormat,
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

/// Where errors point: the file, and whether it has several documents (then
/// each error also names its document).
pub(crate) struct Source<'a> {
    pub file: &'a str,
    pub several_documents: bool,
}

impl Source<'_> {
    /// An error at `line` of the file, inside `piece`.
    pub fn err(&self, piece: &Piece, line: usize, reason: impl Into<String>) -> SpecError {
        let reason = reason.into();
        SpecError {
            file: self.file.to_string(),
            line,
            reason: if self.several_documents {
                format!("document {}: {reason}", piece.document)
            } else {
                reason
            },
        }
    }

    /// A YAML error inside `piece`, at the file line it points to.
    pub fn yaml_err(&self, piece: &Piece, e: &serde_yaml::Error) -> SpecError {
        let line = piece.file_line(e.location().map(|l| l.line()).unwrap_or(1));
        self.err(piece, line, e.to_string())
    }
}

const WHAT_A_SPEC_IS: &str = "a Sloth spec (`version: \"prometheus/v1\"`) or OpenSLO documents (`apiVersion: openslo/v1`, `openslo/v1alpha`, or a list of them)";

/// A document of the file, sorted by the format it is in.
enum Part {
    Sloth(Piece),
    OpenSlo(openslo::Object),
}

/// Reads Sloth or OpenSLO text; `file` names it in errors.
pub fn parse_slo_str(file: &str, src: &str) -> Result<Vec<SloSpec>, SpecError> {
    let docs = split_documents(src);
    let source = Source {
        file,
        several_documents: docs.len() > 1,
    };
    if docs.is_empty() {
        return Err(SpecError {
            file: file.to_string(),
            line: 1,
            reason: format!("the file is empty; expected {WHAT_A_SPEC_IS}"),
        });
    }
    let mut parts = Vec::new();
    for doc in docs {
        let value: serde_yaml::Value =
            serde_yaml::from_str(&doc.text).map_err(|e| source.yaml_err(&doc, &e))?;
        match &value {
            serde_yaml::Value::Mapping(m) if m.contains_key("apiVersion") => {
                parts.push(Part::OpenSlo(openslo::Object::new(&source, doc, value)?));
            }
            serde_yaml::Value::Mapping(m) if m.contains_key("version") => {
                parts.push(Part::Sloth(doc));
            }
            serde_yaml::Value::Sequence(items) => {
                let pieces = super::documents::split_list_items(&doc, items);
                for (i, item) in items.iter().enumerate() {
                    let piece = pieces
                        .as_ref()
                        .and_then(|p| p.get(i).cloned())
                        .unwrap_or_else(|| doc.clone());
                    if !item.is_mapping() {
                        return Err(source.err(
                            &piece,
                            piece.first_line,
                            format!("list item {}: not an OpenSLO object (a mapping with apiVersion, kind, metadata and spec)", i + 1),
                        ));
                    }
                    parts.push(Part::OpenSlo(openslo::Object::new(
                        &source,
                        piece,
                        item.clone(),
                    )?));
                }
            }
            _ => return Err(source.err(&doc, doc.first_line, format!("not {WHAT_A_SPEC_IS}"))),
        }
    }
    let objects: Vec<&openslo::Object> = parts
        .iter()
        .filter_map(|p| match p {
            Part::OpenSlo(o) => Some(o),
            Part::Sloth(_) => None,
        })
        .collect();
    let catalog = openslo::Catalog::new(&source, &objects)?;
    // Each SLO with where it was defined, to name both places of a duplicate.
    let mut out: Vec<(SloSpec, usize, usize)> = Vec::new();
    for part in &parts {
        match part {
            Part::Sloth(doc) => {
                for (i, slo) in parse_sloth(&source, doc)?.into_iter().enumerate() {
                    out.push((slo, doc.line_of("name", i), doc.document));
                }
            }
            Part::OpenSlo(obj) => {
                for slo in openslo::convert(&source, obj, &catalog)? {
                    out.push((slo, obj.piece.line_of("name", 0), obj.piece.document));
                }
            }
        }
    }
    if out.is_empty() {
        return Err(SpecError {
            file: file.to_string(),
            line: 1,
            reason: "no SLO in the file (OpenSLO needs a `kind: SLO` object)".into(),
        });
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (slo, line, document) in &out {
        if let Some(first) = seen.insert(slo.id(), *document) {
            let where_first = if source.several_documents {
                format!(" (first in document {first})")
            } else {
                String::new()
            };
            let reason = format!(
                "SLO {:?} of service {:?} is defined twice{where_first}; Prometheus needs each SLO id once",
                slo.name, slo.service
            );
            return Err(SpecError {
                file: file.to_string(),
                line: *line,
                reason: if source.several_documents {
                    format!("document {document}: {reason}")
                } else {
                    reason
                },
            });
        }
    }
    Ok(out.into_iter().map(|(slo, _, _)| slo).collect())
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

/// Checks that a query with `{{.window}}` filled in is PromQL.
pub(crate) fn check_query(q: &str) -> Result<(), String> {
    let probe = q
        .replace("{{.window}}", "5m")
        .replace("{{ .window }}", "5m");
    crate::promql::parse(&probe)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn parse_sloth(source: &Source<'_>, doc: &Piece) -> Result<Vec<SloSpec>, SpecError> {
    let spec: SlothFile = serde_yaml::from_str(&doc.text).map_err(|e| source.yaml_err(doc, &e))?;
    let err = |line: usize, reason: String| source.err(doc, line, reason);
    let query = |key: &str, nth: usize, q: &str| {
        check_query(q).map_err(|e| err(doc.line_of(key, nth), format!("{key}: {e}")))
    };
    if spec.version != "prometheus/v1" {
        return Err(err(
            doc.line_of("version", 0),
            format!(
                "version: expected \"prometheus/v1\", got {:?}",
                spec.version
            ),
        ));
    }
    if spec.service.trim().is_empty() {
        return Err(err(
            doc.line_of("service", 0),
            "service: must not be empty".into(),
        ));
    }
    if spec.slos.is_empty() {
        return Err(err(
            doc.line_of("slos", 0),
            "slos: at least one SLO is needed".into(),
        ));
    }
    let mut out = Vec::new();
    let (mut n_events, mut n_raw) = (0, 0);
    for (i, s) in spec.slos.into_iter().enumerate() {
        if s.name.trim().is_empty() {
            return Err(err(
                doc.line_of("name", i),
                "name: must not be empty".into(),
            ));
        }
        if !(s.objective > 0.0 && s.objective < 100.0) {
            return Err(err(
                doc.line_of("objective", i),
                format!(
                    "objective: must be a percentage between 0 and 100 (exclusive), got {}",
                    s.objective
                ),
            ));
        }
        let sli = match (s.sli.events, s.sli.raw, s.sli.plugin) {
            (Some(ev), None, None) => {
                query("error_query", n_events, &ev.error_query)?;
                query("total_query", n_events, &ev.total_query)?;
                n_events += 1;
                Sli::Events {
                    error_query: ev.error_query,
                    total_query: ev.total_query,
                }
            }
            (None, Some(raw), None) => {
                query("error_ratio_query", n_raw, &raw.error_ratio_query)?;
                n_raw += 1;
                Sli::Raw {
                    error_ratio_query: raw.error_ratio_query,
                }
            }
            (None, None, Some(_)) => {
                return Err(err(
                    doc.line_of("plugin", 0),
                    "sli.plugin: SLI plugins are not supported; use events or raw".into(),
                ))
            }
            _ => {
                return Err(err(
                    doc.line_of("sli", i),
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
                    doc.line_of("alerting", i),
                    "alerting.name: an alert name is needed when alerts are enabled".into(),
                ));
            }
        }
        let mut labels = spec.labels.clone();
        labels.extend(s.labels);
        out.push(SloSpec {
            service: spec.service.clone(),
            name: s.name,
            description: s.description,
            objective: s.objective / 100.0,
            period_days: 30,
            labels,
            sli,
            alerting,
            format: SpecFormat::SlothPrometheusV1,
        });
    }
    Ok(out)
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
