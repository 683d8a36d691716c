//! Prometheus rules for an SLO, in the shape Sloth generates: SLI recording
//! rules per window, metadata rules, and multiwindow, multi-burn-rate alerts
//! (Google SRE workbook, chapter "Alerting on SLOs").

use std::collections::BTreeMap;

use serde::Serialize;

use super::spec::{Sli, SloSpec};
use crate::promql::format_float;

/// A Prometheus rule file.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RuleFile {
    /// The rule groups.
    pub groups: Vec<RuleGroup>,
}

/// One rule group.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RuleGroup {
    /// Group name (unique in the file).
    pub name: String,
    /// The rules, evaluated in order.
    pub rules: Vec<Rule>,
}

/// A recording or alerting rule.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Rule {
    /// Set for recording rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// Set for alerting rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// The PromQL expression.
    pub expr: String,
    /// Labels added to the result.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Alert annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One pair of windows of a multiwindow, multi-burn-rate alert.
#[derive(Clone, Debug, PartialEq)]
pub struct BurnWindow {
    /// `page` or `ticket`.
    pub severity: &'static str,
    /// The long window (e.g. `1h`).
    pub long: &'static str,
    /// The short window, 1/12 of the long one (e.g. `5m`).
    pub short: &'static str,
    /// Share of the whole error budget this alert spends in the long window.
    pub budget_share: f64,
    /// The burn-rate factor: `budget_share * period / long`.
    pub factor: f64,
}

const WINDOWS: [(&str, &str, &str, f64, f64); 4] = [
    // severity, long, short, budget share, long window in hours
    ("page", "1h", "5m", 0.02, 1.0),
    ("page", "6h", "30m", 0.05, 6.0),
    ("ticket", "1d", "2h", 0.10, 24.0),
    ("ticket", "3d", "6h", 0.10, 72.0),
];

/// The SRE workbook's four window pairs for an SLO period of `period_days`.
/// For 30 days the factors are 14.4 and 6 (page), 3 and 1 (ticket); other
/// periods keep the windows and scale the factors so each alert still fires
/// after the same share of the budget is spent.
pub fn burn_windows(period_days: u32) -> Vec<BurnWindow> {
    let period_hours = f64::from(period_days) * 24.0;
    WINDOWS
        .iter()
        .map(|&(severity, long, short, share, long_h)| BurnWindow {
            severity,
            long,
            short,
            budget_share: share,
            factor: ((share * period_hours / long_h) * 1e9).round() / 1e9,
        })
        .collect()
}

fn fill_window(q: &str, w: &str) -> String {
    q.replace("{{.window}}", w).replace("{{ .window }}", w)
}

fn selector(slo: &SloSpec) -> String {
    format!(
        "{{sloth_id=\"{}\", sloth_service=\"{}\", sloth_slo=\"{}\"}}",
        slo.id(),
        slo.service,
        slo.name
    )
}

fn base_labels(slo: &SloSpec) -> BTreeMap<String, String> {
    let mut l = slo.labels.clone();
    l.insert("sloth_id".into(), slo.id());
    l.insert("sloth_service".into(), slo.service.clone());
    l.insert("sloth_slo".into(), slo.name.clone());
    l
}

fn record(name: &str, expr: String, labels: BTreeMap<String, String>) -> Rule {
    Rule {
        record: Some(name.to_string()),
        alert: None,
        expr,
        labels,
        annotations: BTreeMap::new(),
    }
}

/// The rule groups for one SLO.
pub fn slo_rule_groups(slo: &SloSpec) -> Vec<RuleGroup> {
    let id = slo.id();
    let sel = selector(slo);
    let period = format!("{}d", slo.period_days);
    let mut sli_rules = Vec::new();
    for w in ["5m", "30m", "1h", "2h", "6h", "1d", "3d"] {
        let expr = match &slo.sli {
            Sli::Events {
                error_query,
                total_query,
            } => format!(
                "({})\n/\n({})\n",
                fill_window(error_query.trim(), w),
                fill_window(total_query.trim(), w)
            ),
            Sli::Raw { error_ratio_query } => {
                format!("{}\n", fill_window(error_ratio_query.trim(), w))
            }
        };
        let mut labels = base_labels(slo);
        labels.insert("sloth_window".into(), w.into());
        sli_rules.push(record(
            &format!("slo:sli_error:ratio_rate{w}"),
            expr,
            labels,
        ));
    }
    let mut labels = base_labels(slo);
    labels.insert("sloth_window".into(), period.clone());
    sli_rules.push(record(
        &format!("slo:sli_error:ratio_rate{period}"),
        format!(
            "sum_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])\n/ ignoring (sloth_window)\ncount_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])\n"
        ),
        labels,
    ));

    let budget = slo.error_budget();
    let meta = vec![
        record("slo:objective:ratio", format!("vector({})", format_float(slo.objective)), base_labels(slo)),
        record("slo:error_budget:ratio", format!("vector(1-{})", format_float(slo.objective)), base_labels(slo)),
        record("slo:time_period:days", format!("vector({})", slo.period_days), base_labels(slo)),
        record(
            "slo:current_burn_rate:ratio",
            format!(
                "slo:sli_error:ratio_rate5m{sel}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{sel}\n"
            ),
            base_labels(slo),
        ),
        record(
            "slo:period_burn_rate:ratio",
            format!(
                "slo:sli_error:ratio_rate{period}{sel}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{sel}\n"
            ),
            base_labels(slo),
        ),
        record(
            "slo:period_error_budget_remaining:ratio",
            format!("1 - slo:period_burn_rate:ratio{sel}"),
            base_labels(slo),
        ),
        {
            let mut l = base_labels(slo);
            l.insert("sloth_objective".into(), format_float(slo.objective * 100.0));
            record("sloth_slo_info", "vector(1)".into(), l)
        },
    ];

    let mut groups = vec![
        RuleGroup {
            name: format!("sloth-slo-sli-recordings-{id}"),
            rules: sli_rules,
        },
        RuleGroup {
            name: format!("sloth-slo-meta-recordings-{id}"),
            rules: meta,
        },
    ];

    if let Some(alerting) = &slo.alerting {
        let windows = burn_windows(slo.period_days);
        let mut alerts = Vec::new();
        for (severity, spec) in [("page", &alerting.page), ("ticket", &alerting.ticket)] {
            let Some(spec) = spec else { continue };
            let parts: Vec<String> = windows
                .iter()
                .filter(|w| w.severity == severity)
                .map(|w| {
                    let f = format_float(w.factor);
                    let b = format_float(budget);
                    format!(
                        "(\n    max(slo:sli_error:ratio_rate{short}{sel} > ({f} * {b})) without (sloth_window)\n    and\n    max(slo:sli_error:ratio_rate{long}{sel} > ({f} * {b})) without (sloth_window)\n)",
                        short = w.short,
                        long = w.long
                    )
                })
                .collect();
            let mut labels = alerting.labels.clone();
            labels.extend(spec.labels.clone());
            labels.insert("sloth_severity".into(), severity.into());
            let mut annotations = BTreeMap::new();
            annotations.insert(
                "title".into(),
                format!(
                    "({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate is too high."
                ),
            );
            annotations.insert(
                "summary".into(),
                "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected.".into(),
            );
            annotations.extend(alerting.annotations.clone());
            annotations.extend(spec.annotations.clone());
            alerts.push(Rule {
                record: None,
                alert: Some(alerting.name.clone()),
                expr: parts.join("\nor\n") + "\n",
                labels,
                annotations,
            });
        }
        if !alerts.is_empty() {
            groups.push(RuleGroup {
                name: format!("sloth-slo-alerts-{id}"),
                rules: alerts,
            });
        }
    }
    groups
}

/// The rule file for a set of SLOs.
pub fn generate_rule_file(slos: &[SloSpec]) -> RuleFile {
    RuleFile {
        groups: slos.iter().flat_map(slo_rule_groups).collect(),
    }
}

impl RuleFile {
    /// The file as YAML, with a header saying where it came from.
    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        Ok(format!(
            "# Generated by masterclass slo generate. Do not edit; regenerate from the SLO spec.\n{}",
            serde_yaml::to_string(self)?
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workbook_factors_for_30_days() {
        let f: Vec<f64> = burn_windows(30).iter().map(|w| w.factor).collect();
        assert_eq!(f, vec![14.4, 6.0, 3.0, 1.0]);
        let f28: Vec<f64> = burn_windows(28).iter().map(|w| w.factor).collect();
        assert_eq!(f28, vec![13.44, 5.6, 2.8, 0.933333333]);
    }

    #[test]
    fn budget_arithmetic() {
        // A 99.9% SLO over 30 days allows 43.2 minutes of full outage; a
        // 14.4x burn spends 2% of it in one hour.
        let budget_minutes = 30.0 * 24.0 * 60.0 * 0.001;
        assert!((budget_minutes - 43.2_f64).abs() < 1e-9);
        let w = &burn_windows(30)[0];
        let spent = w.factor * 60.0 * 0.001 / budget_minutes;
        assert!((spent - 0.02).abs() < 1e-12);
    }
}
