//! Keptn-style quality gates: `slo.yaml` objectives scored against SLI values,
//! the way Keptn's lighthouse service did.
//!
//! Per objective: pass = full weight, warning = half, fail = 0. Criteria in
//! one `criteria` list are ANDed, the lists are ORed. Relative criteria
//! (`<=+10%`, `<+50`, and any percentage: `<=1%` reads as `<=+1%`) compare
//! with the aggregate of earlier results and pass when there is none.
//! Objectives without pass criteria are informational and count neither way;
//! one with pass criteria but no value fails. The total is the score as a
//! percentage of the weights of objectives with pass criteria; a failed
//! `key_sli` (a missing value included) fails the gate regardless, and so does
//! a file without objectives.
//!
//! Optional keys take lighthouse's defaults: without `comparison`, compare
//! with a single result of any score (`single_result`, `all`, 1, `avg`);
//! without `total_score`, pass at 90% and warn at 75%.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A problem with a gate's inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GateError {
    /// A file could not be read or parsed (`file:line: reason`).
    #[error("{file}:{line}: {reason}")]
    Spec {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

fn spec_err(file: &str, line: usize, reason: impl Into<String>) -> GateError {
    GateError::Spec {
        file: file.into(),
        line,
        reason: reason.into(),
    }
}

/// `comparison` settings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// `single_result` (the default) or `several_results`.
    #[serde(default = "default_compare_with")]
    pub compare_with: String,
    /// How many earlier results with `several_results`. Lighthouse reads a
    /// missing (or 0) value in a `comparison` block as 3; without the block, 1.
    #[serde(default = "default_three")]
    pub number_of_comparison_results: usize,
    /// `avg` (the default), `p50`, `p90` or `p95`.
    #[serde(default = "default_avg")]
    pub aggregate_function: String,
    /// Which earlier results count: `pass`, `pass_or_warn` or `all` (the default).
    #[serde(default = "default_all")]
    pub include_result_with_score: String,
}

fn default_compare_with() -> String {
    "single_result".into()
}
fn default_three() -> usize {
    3
}
fn default_avg() -> String {
    "avg".into()
}
fn default_all() -> String {
    "all".into()
}
fn default_weight() -> f64 {
    1.0
}

/// Lighthouse's comparison when `slo.yaml` has no `comparison` block.
impl Default for Comparison {
    fn default() -> Self {
        Self {
            compare_with: default_compare_with(),
            number_of_comparison_results: 1,
            aggregate_function: default_avg(),
            include_result_with_score: default_all(),
        }
    }
}

/// One ANDed list of criteria.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CriteriaSet {
    /// Criteria like `<600`, `<=+10%`, `>-5`.
    pub criteria: Vec<String>,
}

/// One objective.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// The SLI's name.
    pub sli: String,
    /// Display name.
    #[serde(default, rename = "displayName")]
    pub display_name: Option<String>,
    /// A failed key SLI fails the whole gate.
    #[serde(default)]
    pub key_sli: bool,
    /// Weight in the total score.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Pass criteria (ORed lists of ANDed criteria); none = informational.
    #[serde(default)]
    pub pass: Option<Vec<CriteriaSet>>,
    /// Warning criteria.
    #[serde(default)]
    pub warning: Option<Vec<CriteriaSet>>,
}

/// `total_score` thresholds, as percentages.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TotalScore {
    /// e.g. `90%`.
    pub pass: String,
    /// e.g. `75%`.
    #[serde(default)]
    pub warning: Option<String>,
}

/// Pass at 90% and warn at 75%, for an `slo.yaml` without `total_score`.
impl Default for TotalScore {
    fn default() -> Self {
        Self {
            pass: "90%".into(),
            warning: Some("75%".into()),
        }
    }
}

/// A Keptn `slo.yaml`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloFile {
    /// Always "1.0" or "0.1.x".
    #[serde(default)]
    pub spec_version: Option<String>,
    /// Ignored (kept for compatibility).
    #[serde(default)]
    pub filter: Option<serde_yaml::Value>,
    /// How relative criteria find their baseline.
    #[serde(default)]
    pub comparison: Comparison,
    /// The objectives (at least one).
    pub objectives: Vec<Objective>,
    /// Total score thresholds (90% and 75% when the file has none).
    #[serde(default)]
    pub total_score: TotalScore,
}

/// A Keptn `sli.yaml`: indicator name to PromQL with placeholders.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct SliFile {
    /// Spec version.
    #[serde(default)]
    pub spec_version: Option<String>,
    /// Indicator queries.
    pub indicators: BTreeMap<String, String>,
}

/// A parsed criterion.
#[derive(Clone, Debug, PartialEq)]
pub struct Criterion {
    /// `<`, `<=`, `=`, `>=` or `>`.
    pub op: String,
    /// The number.
    pub value: f64,
    /// Relative to the baseline (a `+`/`-` sign or a `%` was given).
    pub relative: bool,
    /// The number is a percentage of the baseline.
    pub percent: bool,
}

impl Criterion {
    /// Parses `<600`, `<=+10%`, `>-5`, `=0`. As in Keptn's lighthouse, a
    /// percentage is always relative and, without a sign, an increase:
    /// `<=10%` is `<=+10%`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let op_len = t
            .bytes()
            .take_while(|b| matches!(b, b'<' | b'>' | b'='))
            .count();
        let op = &t[..op_len];
        if !matches!(op, "<" | "<=" | "=" | ">=" | ">") {
            return Err(format!(
                "criterion {s:?}: expected an operator <, <=, =, >= or >"
            ));
        }
        let mut rest = &t[op_len..];
        let signed = rest.starts_with('+') || rest.starts_with('-');
        let negative = rest.starts_with('-');
        if signed {
            rest = &rest[1..];
        }
        let percent = rest.ends_with('%');
        if percent {
            rest = &rest[..rest.len() - 1];
        }
        let relative = signed || percent;
        let mut value: f64 = rest
            .parse()
            .ok()
            .filter(|v: &f64| !v.is_nan() && !rest.starts_with(['+', '-']))
            .ok_or_else(|| format!("criterion {s:?}: {rest:?} is not a number"))?;
        if negative {
            value = -value;
        }
        Ok(Self {
            op: op.to_string(),
            value,
            relative,
            percent,
        })
    }

    /// The absolute target for a baseline (`None`: relative without history).
    pub fn target(&self, baseline: Option<f64>) -> Option<f64> {
        if !self.relative {
            return Some(self.value);
        }
        let b = baseline?;
        Some(if self.percent {
            b + b * self.value / 100.0
        } else {
            b + self.value
        })
    }

    /// Whether `v` meets the criterion; relative criteria pass without a baseline.
    pub fn check(&self, v: f64, baseline: Option<f64>) -> bool {
        let Some(t) = self.target(baseline) else {
            return true;
        };
        match self.op.as_str() {
            "<" => v < t,
            "<=" => v <= t,
            "=" => v == t,
            ">=" => v >= t,
            _ => v > t,
        }
    }
}

/// A stored evaluation (one entry of the history).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct EvaluationResult {
    /// `pass`, `warning` or `fail`.
    pub result: String,
    /// Total score in percent.
    pub score: f64,
    /// Per objective.
    pub objectives: Vec<ObjectiveResult>,
}

/// The outcome of one objective.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ObjectiveResult {
    /// The SLI.
    pub sli: String,
    /// Display name (the SLI name if none).
    #[serde(rename = "displayName")]
    pub display_name: String,
    /// The measured value (`None`: no data or an error).
    pub value: Option<f64>,
    /// `pass`, `warning`, `fail` or `info`.
    pub status: String,
    /// Points earned.
    pub score: f64,
    /// The objective's weight.
    pub weight: f64,
    /// Whether it is a key SLI.
    pub key_sli: bool,
    /// The baseline relative criteria compared with, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared_value: Option<f64>,
    /// Why the value is missing, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The percentile lighthouse aggregates earlier results with: rank
/// `p * (n + 1)`, clamped to the smallest and largest value, interpolated in
/// between. It is not Prometheus's `quantile` (rank `p * (n - 1)`): with
/// three results, p90 is the largest, not 80% of the way from the second.
fn lighthouse_percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let pos = p * (n as f64 + 1.0);
    if n == 0 {
        f64::NAN
    } else if pos < 1.0 {
        values[0]
    } else if pos >= n as f64 {
        values[n - 1]
    } else {
        // 1 <= pos < n, so both ranks are inside the slice.
        let i = pos.floor() as usize;
        let (lower, upper) = (values[i - 1], values[i]);
        lower + (pos - pos.floor()) * (upper - lower)
    }
}

fn parse_percent(file: &str, src: &str, key: &str, s: &str) -> Result<f64, GateError> {
    s.trim().trim_end_matches('%').trim().parse().map_err(|_| {
        spec_err(
            file,
            line_of(src, key),
            format!("total_score.{key}: {s:?} is not a percentage"),
        )
    })
}

fn line_of(src: &str, key: &str) -> usize {
    src.lines()
        .position(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .starts_with(&format!("{key}:"))
        })
        .map(|i| i + 1)
        .unwrap_or(1)
}

impl SloFile {
    /// Parses and validates `slo.yaml` text; `file` names it in errors.
    pub fn parse(file: &str, src: &str) -> Result<Self, GateError> {
        let mut slo: SloFile = serde_yaml::from_str(src).map_err(|e| {
            spec_err(
                file,
                e.location().map(|l| l.line()).unwrap_or(1),
                e.to_string(),
            )
        })?;
        if slo.objectives.is_empty() {
            return Err(spec_err(
                file,
                line_of(src, "objectives"),
                "objectives: at least one objective is needed (Keptn fails every evaluation without one)",
            ));
        }
        let c = &mut slo.comparison;
        // Lighthouse cannot tell 0 from a missing key, and reads both as 3.
        if c.number_of_comparison_results == 0 {
            c.number_of_comparison_results = 3;
        }
        c.include_result_with_score = c.include_result_with_score.to_ascii_lowercase();
        if !matches!(
            c.include_result_with_score.as_str(),
            "pass" | "pass_or_warn" | "all"
        ) {
            return Err(spec_err(
                file,
                line_of(src, "include_result_with_score"),
                format!(
                    "comparison.include_result_with_score: {:?} is not pass, pass_or_warn or all",
                    c.include_result_with_score
                ),
            ));
        }
        if !matches!(c.compare_with.as_str(), "single_result" | "several_results") {
            return Err(spec_err(
                file,
                line_of(src, "compare_with"),
                format!(
                    "comparison.compare_with: {:?} is not single_result or several_results",
                    c.compare_with
                ),
            ));
        }
        for o in &slo.objectives {
            for sets in [&o.pass, &o.warning].into_iter().flatten() {
                for set in sets {
                    for c in &set.criteria {
                        Criterion::parse(c).map_err(|r| {
                            let line = src
                                .lines()
                                .position(|l| l.contains(c.as_str()))
                                .map(|i| i + 1)
                                .unwrap_or(1);
                            spec_err(file, line, format!("objective {}: {r}", o.sli))
                        })?;
                    }
                }
            }
            if o.weight.is_nan() || o.weight < 0.0 {
                return Err(spec_err(
                    file,
                    line_of(src, "weight"),
                    format!("objective {}: weight must be >= 0", o.sli),
                ));
            }
        }
        parse_percent(file, src, "pass", &slo.total_score.pass)?;
        if let Some(w) = &slo.total_score.warning {
            parse_percent(file, src, "warning", w)?;
        }
        if !matches!(
            slo.comparison.aggregate_function.as_str(),
            "avg" | "p50" | "p90" | "p95"
        ) {
            return Err(spec_err(
                file,
                line_of(src, "aggregate_function"),
                format!(
                    "comparison.aggregate_function: {:?} is not avg, p50, p90 or p95",
                    slo.comparison.aggregate_function
                ),
            ));
        }
        Ok(slo)
    }

    /// Reads a file.
    pub fn from_path(path: &Path) -> Result<Self, GateError> {
        let src = std::fs::read_to_string(path)
            .map_err(|e| spec_err(&path.display().to_string(), 1, format!("cannot read: {e}")))?;
        Self::parse(&path.display().to_string(), &src)
    }

    /// The baseline for `sli` from earlier evaluations, per `comparison`.
    pub fn baseline(&self, sli: &str, history: &[EvaluationResult]) -> Option<f64> {
        let c = &self.comparison;
        let n = if c.compare_with == "several_results" {
            c.number_of_comparison_results.max(1)
        } else {
            1
        };
        let eligible =
            history
                .iter()
                .rev()
                .filter(|h| match c.include_result_with_score.as_str() {
                    "pass" => h.result == "pass",
                    "pass_or_warn" => h.result == "pass" || h.result == "warning",
                    _ => true,
                });
        let mut values: Vec<f64> = eligible
            .take(n)
            .filter_map(|h| {
                h.objectives
                    .iter()
                    .find(|o| o.sli == sli)
                    .and_then(|o| o.value)
            })
            .collect();
        if values.is_empty() {
            return None;
        }
        Some(match c.aggregate_function.as_str() {
            "p50" => lighthouse_percentile(&mut values, 0.5),
            "p90" => lighthouse_percentile(&mut values, 0.9),
            "p95" => lighthouse_percentile(&mut values, 0.95),
            _ => values.iter().sum::<f64>() / values.len() as f64,
        })
    }

    /// Scores the objectives against `values` (SLI name to value, or an
    /// error message when it could not be measured).
    pub fn evaluate(
        &self,
        values: &BTreeMap<String, Result<f64, String>>,
        history: &[EvaluationResult],
    ) -> EvaluationResult {
        let any_met = |sets: &Option<Vec<CriteriaSet>>, v: f64, base: Option<f64>| -> bool {
            sets.as_ref().is_some_and(|sets| {
                sets.iter().any(|set| {
                    set.criteria.iter().all(|c| {
                        Criterion::parse(c)
                            .map(|c| c.check(v, base))
                            .unwrap_or(false)
                    })
                })
            })
        };
        let mut objectives = Vec::new();
        let (mut achieved, mut max) = (0.0, 0.0);
        let mut key_failed = false;
        for o in &self.objectives {
            let measured = values
                .get(&o.sli)
                .cloned()
                .unwrap_or_else(|| Err(format!("no value for SLI {:?}", o.sli)));
            let base = self.baseline(&o.sli, history);
            let has_pass = o.pass.as_ref().is_some_and(|p| !p.is_empty());
            let (status, score) = match (&measured, has_pass) {
                (_, false) => ("info", 0.0),
                (Err(_), true) => ("fail", 0.0),
                (Ok(v), true) => {
                    if any_met(&o.pass, *v, base) {
                        ("pass", o.weight)
                    } else if any_met(&o.warning, *v, base) {
                        ("warning", o.weight / 2.0)
                    } else {
                        ("fail", 0.0)
                    }
                }
            };
            if has_pass {
                max += o.weight;
                achieved += score;
                if o.key_sli && status == "fail" {
                    key_failed = true;
                }
            }
            objectives.push(ObjectiveResult {
                sli: o.sli.clone(),
                display_name: o.display_name.clone().unwrap_or_else(|| o.sli.clone()),
                value: measured.as_ref().ok().copied(),
                status: status.into(),
                score,
                weight: o.weight,
                key_sli: o.key_sli,
                compared_value: base,
                error: measured.err(),
            });
        }
        // Lighthouse fails a file without objectives with a score of 0.
        let no_objectives = self.objectives.is_empty();
        let score = if no_objectives {
            0.0
        } else if max > 0.0 {
            achieved / max * 100.0
        } else {
            100.0
        };
        let pass_at: f64 = self
            .total_score
            .pass
            .trim()
            .trim_end_matches('%')
            .trim()
            .parse()
            .unwrap_or(100.0);
        let warn_at: Option<f64> = self
            .total_score
            .warning
            .as_ref()
            .and_then(|w| w.trim().trim_end_matches('%').trim().parse().ok());
        let result = if key_failed || no_objectives {
            "fail"
        } else if score >= pass_at {
            "pass"
        } else if warn_at.is_some_and(|w| score >= w) {
            "warning"
        } else {
            "fail"
        };
        EvaluationResult {
            result: result.into(),
            score,
            objectives,
        }
    }
}

impl SliFile {
    /// Parses `sli.yaml` text.
    pub fn parse(file: &str, src: &str) -> Result<Self, GateError> {
        serde_yaml::from_str(src).map_err(|e| {
            spec_err(
                file,
                e.location().map(|l| l.line()).unwrap_or(1),
                e.to_string(),
            )
        })
    }

    /// Reads a file.
    pub fn from_path(path: &Path) -> Result<Self, GateError> {
        let src = std::fs::read_to_string(path)
            .map_err(|e| spec_err(&path.display().to_string(), 1, format!("cannot read: {e}")))?;
        Self::parse(&path.display().to_string(), &src)
    }

    /// Parses `sli.yaml` text and fills in its placeholders (`$SERVICE`,
    /// `$PROJECT`, `$STAGE`, `$DEPLOYMENT`, `$LABEL.<name>`, slo.yaml filter
    /// keys) from `placeholders`. `$DURATION_SECONDS` is left for
    /// [`SliFile::queries`]; any other placeholder without a value is an
    /// error naming the indicator and its line, where Keptn would have sent
    /// the query with a literal `$NAME` in it.
    pub fn parse_with_placeholders(
        file: &str,
        src: &str,
        placeholders: &Placeholders,
    ) -> Result<Self, GateError> {
        let mut sli = Self::parse(file, src)?;
        for (name, query) in &mut sli.indicators {
            let line = || {
                src.lines()
                    .position(|l| {
                        let t = l.trim_start();
                        t.starts_with(&format!("{name}:")) || t.starts_with(&format!("\"{name}\":"))
                    })
                    .map(|i| i + 1)
                    .unwrap_or(1)
            };
            *query = placeholders.apply(query).map_err(|missing| {
                spec_err(
                    file,
                    line(),
                    format!(
                        "indicator {name}: ${missing} has no value; set the placeholder {missing}"
                    ),
                )
            })?;
        }
        Ok(sli)
    }

    /// [`SliFile::parse_with_placeholders`] on a file.
    pub fn from_path_with_placeholders(
        path: &Path,
        placeholders: &Placeholders,
    ) -> Result<Self, GateError> {
        let src = std::fs::read_to_string(path)
            .map_err(|e| spec_err(&path.display().to_string(), 1, format!("cannot read: {e}")))?;
        Self::parse_with_placeholders(&path.display().to_string(), &src, placeholders)
    }

    /// Each indicator's query with `$DURATION_SECONDS` (and `$PROJECT`,
    /// `$STAGE`, `$SERVICE`, `$DEPLOYMENT` from `vars`) filled in.
    pub fn queries(
        &self,
        duration_secs: i64,
        vars: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        self.indicators
            .iter()
            .map(|(k, q)| {
                let mut q = q.replace("$DURATION_SECONDS", &format!("{duration_secs}s"));
                for (name, v) in vars {
                    q = q.replace(&format!("${}", name.to_uppercase()), v);
                }
                (k.clone(), q)
            })
            .collect()
    }
}

/// Values for `sli.yaml` placeholders, by name without the `$`: `SERVICE`,
/// `PROJECT`, `STAGE`, `DEPLOYMENT`, `LABEL.<name>`, or an slo.yaml filter
/// key. As in Keptn's prometheus-service, a value for `name` also fills
/// `$NAME`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Placeholders {
    values: BTreeMap<String, String>,
}

/// The placeholder name at the start of `s` (just after a `$`), if any.
fn placeholder_name(s: &str) -> Option<&str> {
    let ident_len = |t: &str| {
        t.char_indices()
            .find(|(i, c)| {
                !(c.is_ascii_alphanumeric() || *c == '_') || (*i == 0 && c.is_ascii_digit())
            })
            .map_or(t.len(), |(i, _)| i)
    };
    let n = ident_len(s);
    if n == 0 {
        return None;
    }
    // `$LABEL.version`: Keptn's placeholder for a label of the triggering event.
    if &s[..n] == "LABEL" && s[n..].starts_with('.') {
        let m = ident_len(&s[n + 1..]);
        if m > 0 {
            return Some(&s[..n + 1 + m]);
        }
    }
    Some(&s[..n])
}

impl Placeholders {
    /// Checks names (letters, digits, `_`, and `LABEL.<name>`) and values
    /// (no quotes, backslashes or line breaks: they land inside PromQL
    /// strings). A leading `$` on a name is dropped.
    pub fn new(values: BTreeMap<String, String>) -> Result<Self, String> {
        let mut checked = BTreeMap::new();
        for (name, value) in values {
            let bare = name.strip_prefix('$').unwrap_or(&name);
            if placeholder_name(bare) != Some(bare) {
                return Err(format!(
                    "placeholder {name:?}: a name is letters, digits and _ (or LABEL.<name>), like SERVICE"
                ));
            }
            if bare == "DURATION_SECONDS" {
                return Err(
                    "placeholder DURATION_SECONDS: it is set from the evaluation window".into(),
                );
            }
            if value.contains(['"', '\'', '`', '\\', '\n', '\r']) {
                return Err(format!(
                    "placeholder {bare}: the value {value:?} must not contain quotes, backslashes or line breaks"
                ));
            }
            checked.insert(bare.to_string(), value);
        }
        Ok(Self { values: checked })
    }

    /// Reads `NAME=value` assignments (as a command line gives them).
    pub fn from_assignments<I, S>(assignments: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut values = BTreeMap::new();
        for a in assignments {
            let a = a.as_ref();
            let (name, value) = a.split_once('=').ok_or_else(|| {
                format!("placeholder {a:?}: expected NAME=value, like SERVICE=pizza")
            })?;
            values.insert(name.trim().to_string(), value.to_string());
        }
        Self::new(values)
    }

    /// The values, by name.
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    /// `query` with every placeholder that has a value filled in;
    /// `$DURATION_SECONDS` stays. `Err` names the first placeholder without
    /// a value.
    pub fn apply(&self, query: &str) -> Result<String, String> {
        let mut out = String::with_capacity(query.len());
        let mut rest = query;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let Some(name) = placeholder_name(after) else {
                out.push('$');
                rest = after;
                continue;
            };
            let value = self.values.get(name).or_else(|| {
                self.values
                    .iter()
                    .find(|(k, _)| k.to_ascii_uppercase() == name)
                    .map(|(_, v)| v)
            });
            match value {
                Some(v) => out.push_str(v),
                None if name == "DURATION_SECONDS" => out.push_str("$DURATION_SECONDS"),
                None => return Err(name.to_string()),
            }
            rest = &after[name.len()..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

impl SloFile {
    /// The string values of `filter`, which Keptn also offers to SLI queries
    /// as placeholders (`filter: {svc_id: "a14b"}` fills `$svc_id`).
    pub fn filter_values(&self) -> BTreeMap<String, String> {
        self.filter
            .as_ref()
            .and_then(|f| f.as_mapping())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        let v = match v {
                            serde_yaml::Value::String(s) => s.clone(),
                            serde_yaml::Value::Number(n) => n.to_string(),
                            serde_yaml::Value::Bool(b) => b.to_string(),
                            _ => return None,
                        };
                        Some((k.as_str()?.to_string(), v))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Evaluates each query at `t_ms` against the store: one series or a scalar
/// gives the SLI value; no data or several series is an error for that SLI.
/// Every query runs under the default limits.
pub fn measure(
    storage: &crate::promql::Storage,
    queries: &BTreeMap<String, String>,
    t_ms: i64,
) -> BTreeMap<String, Result<f64, String>> {
    measure_with(
        storage,
        queries,
        t_ms,
        &crate::promql::QueryContext::default(),
    )
}

/// [`measure`] with every query under `ctx`'s limits, deadline and
/// cancellation.
pub fn measure_with(
    storage: &crate::promql::Storage,
    queries: &BTreeMap<String, String>,
    t_ms: i64,
    ctx: &crate::promql::QueryContext<'_>,
) -> BTreeMap<String, Result<f64, String>> {
    use crate::promql::Value;
    queries
        .iter()
        .map(|(name, q)| {
            let v = match crate::promql::instant_query_with(storage, q, t_ms, ctx) {
                Ok(Value::Scalar(v)) => Ok(v),
                Ok(Value::Vector(els)) if els.len() == 1 => Ok(els[0].value),
                Ok(Value::Vector(els)) if els.is_empty() => {
                    Err(format!("{name}: query returned no data"))
                }
                Ok(Value::Vector(els)) => Err(format!(
                    "{name}: query returned {} series; an SLI needs one",
                    els.len()
                )),
                Ok(other) => Err(format!("{name}: query returned a {}", other.type_name())),
                Err(e) => Err(format!("{name}: {e}")),
            };
            (name.clone(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLO: &str = r#"---
spec_version: "1.0"
comparison:
  aggregate_function: "avg"
  compare_with: "several_results"
  include_result_with_score: "pass"
  number_of_comparison_results: 2
objectives:
  - sli: "response_time_p95"
    displayName: "Response time P95"
    key_sli: false
    pass:
      - criteria:
          - "<=+10%"
          - "<600"
    warning:
      - criteria:
          - "<=800"
    weight: 1
  - sli: "error_rate"
    key_sli: true
    pass:
      - criteria:
          - "<=0.01"
      - criteria:
          - "=0"
  - sli: "throughput"
total_score:
  pass: "90%"
  warning: "75%"
"#;

    fn vals(rt: f64, err: f64) -> BTreeMap<String, Result<f64, String>> {
        [
            ("response_time_p95".to_string(), Ok(rt)),
            ("error_rate".to_string(), Ok(err)),
            ("throughput".to_string(), Ok(100.0)),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn criteria_parse() {
        let c = Criterion::parse("<=+10%").expect("valid");
        assert!(c.relative && c.percent && c.value == 10.0);
        assert_eq!(c.target(Some(200.0)), Some(220.0));
        let c = Criterion::parse("<-5").expect("valid");
        assert_eq!(c.target(Some(100.0)), Some(95.0));
        assert!(Criterion::parse("600").is_err());
        // Lighthouse reads a percentage without a sign as an increase.
        let c = Criterion::parse("<=1%").expect("valid");
        assert!(c.relative && c.percent && c.value == 1.0);
        assert_eq!(c.target(Some(200.0)), Some(202.0));
        assert_eq!(Criterion::parse("<10%"), Criterion::parse("<+10%"));
        assert!(Criterion::parse("<NaN").is_err());
        assert!(Criterion::parse("<+-5").is_err());
    }

    struct Case {
        rt: f64,
        err: f64,
        history: Vec<(f64, &'static str)>,
        result: &'static str,
        score: f64,
        statuses: [&'static str; 3],
    }

    #[test]
    fn scoring_table() {
        let slo = SloFile::parse("slo.yaml", SLO).expect("valid");
        let cases = [
            // No history: relative criteria pass; both scored objectives pass.
            Case {
                rt: 500.0,
                err: 0.0,
                history: vec![],
                result: "pass",
                score: 100.0,
                statuses: ["pass", "pass", "info"],
            },
            // Absolute pass criterion missed, warning met: half weight = 75%.
            Case {
                rt: 700.0,
                err: 0.0,
                history: vec![],
                result: "warning",
                score: 75.0,
                statuses: ["warning", "pass", "info"],
            },
            // Relative: baseline avg(400, 500) = 450, +10% = 495 < 550.
            Case {
                rt: 550.0,
                err: 0.0,
                history: vec![(400.0, "pass"), (500.0, "pass")],
                result: "warning",
                score: 75.0,
                statuses: ["warning", "pass", "info"],
            },
            // Failed results are not part of the baseline (include pass only).
            Case {
                rt: 550.0,
                err: 0.0,
                history: vec![(520.0, "pass"), (100.0, "fail")],
                result: "pass",
                score: 100.0,
                statuses: ["pass", "pass", "info"],
            },
            // The key SLI fails: the gate fails though the score is 50%.
            Case {
                rt: 500.0,
                err: 0.5,
                history: vec![],
                result: "fail",
                score: 50.0,
                statuses: ["pass", "fail", "info"],
            },
            // Everything beyond warning: 0.
            Case {
                rt: 900.0,
                err: 0.5,
                history: vec![],
                result: "fail",
                score: 0.0,
                statuses: ["fail", "fail", "info"],
            },
        ];
        for (i, c) in cases.iter().enumerate() {
            let history: Vec<EvaluationResult> = c
                .history
                .iter()
                .map(|(v, r)| EvaluationResult {
                    result: r.to_string(),
                    score: 0.0,
                    objectives: vec![ObjectiveResult {
                        sli: "response_time_p95".into(),
                        display_name: String::new(),
                        value: Some(*v),
                        status: r.to_string(),
                        score: 0.0,
                        weight: 1.0,
                        key_sli: false,
                        compared_value: None,
                        error: None,
                    }],
                })
                .collect();
            let r = slo.evaluate(&vals(c.rt, c.err), &history);
            assert_eq!(r.result, c.result, "case {i}");
            assert!(
                (r.score - c.score).abs() < 1e-9,
                "case {i}: score {}",
                r.score
            );
            let st: Vec<&str> = r.objectives.iter().map(|o| o.status.as_str()).collect();
            assert_eq!(st, c.statuses, "case {i}");
        }
    }

    #[test]
    fn missing_value_fails_objective() {
        let slo = SloFile::parse("slo.yaml", SLO).expect("valid");
        let mut v = vals(500.0, 0.0);
        v.insert("error_rate".into(), Err("no data".into()));
        let r = slo.evaluate(&v, &[]);
        assert_eq!(r.result, "fail");
        assert_eq!(r.objectives[1].error.as_deref(), Some("no data"));
    }

    #[test]
    fn bad_criterion_names_line() {
        let bad = SLO.replace("\"<600\"", "\"600\"");
        let e = SloFile::parse("slo.yaml", &bad).expect_err("bad criterion");
        assert_eq!(e.to_string().split(':').nth(1), Some("15"), "{e}");
    }
}
