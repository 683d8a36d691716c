//! What grading a lab produces: plain serde types, shared by the grader and
//! the web app. The app stores them as JSON and sends them to the browser, so
//! they depend on serde alone and the lab engine never enters the wasm bundle.

use serde::{Deserialize, Serialize};

/// The outcome of grading one attempt at a lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabReport {
    /// Every check passed.
    pub passed: bool,
    /// Checks passed.
    pub score: i64,
    /// Checks in the lab.
    pub max_score: i64,
    /// Grading was cancelled before it finished.
    pub cancelled: bool,
    /// A problem that stopped grading as a whole (not a learner mistake).
    pub error: Option<String>,
    /// One report per step, in the lab's order.
    pub steps: Vec<StepReport>,
    /// One report per run, in the lab's order.
    pub runs: Vec<RunReport>,
    /// Lab-level charts: SLIs against objectives, error budgets, burn rates,
    /// learner queries against the reference.
    pub charts: Vec<Chart>,
    /// Lab-level tables: quality-gate evaluations.
    pub tables: Vec<Table>,
}

/// One step of the lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// The step's id from `lab.yaml`.
    pub id: String,
    /// The step's title.
    pub title: String,
    /// All of its checks passed.
    pub passed: bool,
    /// Its checks.
    pub checks: Vec<CheckReport>,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The check's id from `lab.yaml` (unique in the lab).
    pub id: String,
    /// What the check asks for, in a few words.
    pub title: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was found.
    pub message: String,
    /// What the check expected.
    pub expected: Option<String>,
    /// The author's hint, given when the check fails.
    pub hint: Option<String>,
}

/// One k6 run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The run's id from `lab.yaml`.
    pub id: String,
    /// The run's title.
    pub title: String,
    /// The toy service's scenario.
    pub scenario: String,
    /// k6's exit code (0 ok, 99 thresholds crossed, 104 bad options, 105
    /// cancelled, 107 script error, 108 aborted).
    pub exit_code: i64,
    /// Test run duration, seconds (0 when the run did not start).
    pub duration: f64,
    /// Why the run stopped early, if it did.
    pub aborted: Option<String>,
    /// Why the run could not start, if it could not.
    pub error: Option<String>,
    /// Thresholds and whether they held.
    pub thresholds: Vec<ThresholdRow>,
    /// k6 checks with their passes and fails.
    pub checks: Vec<K6CheckRow>,
    /// The end-of-test summary as a table.
    pub metrics: Table,
    /// k6's end-of-test text summary.
    pub text: String,
    /// Latency percentiles, requests/s, error rate and VUs over time.
    pub charts: Vec<Chart>,
    /// Console output and warnings.
    pub logs: Vec<String>,
}

/// One threshold expression of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdRow {
    /// Metric with its tag filter, e.g. `http_req_duration{name:recommend}`.
    pub metric: String,
    /// The expression, e.g. `p(95)<500`.
    pub expression: String,
    /// Whether it held.
    pub ok: bool,
}

/// One k6 check (`check(res, {...})`) of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct K6CheckRow {
    /// The check's name, with its group path when it is in a group.
    pub name: String,
    /// Times it held.
    pub passes: i64,
    /// Times it did not.
    pub fails: i64,
}

/// A table of strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Table {
    /// Caption.
    pub title: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<String>>,
}

/// A line chart over the run's time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// Unique within its list (e.g. `load-latency`).
    pub id: String,
    /// Caption.
    pub title: String,
    /// Unit of the values (`ms`, `req/s`, `%`, `VUs`, or empty).
    pub unit: String,
    /// The lines.
    pub lines: Vec<Line>,
    /// A horizontal reference line (an objective or a threshold).
    pub reference: Option<Reference>,
    /// Moments worth marking (an alert fired, an incident started).
    pub marks: Vec<Mark>,
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Legend text.
    pub name: String,
    /// Points in time order.
    pub points: Vec<Point>,
}

impl Point {
    /// A point with its value rounded to five significant digits: charts
    /// are read by eye, and long decimals would only make stored reports
    /// larger.
    pub fn new(t: f64, v: f64) -> Self {
        Self { t, v: tidy(v) }
    }
}

/// `v` to five significant digits (unchanged when zero or not finite).
fn tidy(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(4 - v.abs().log10().floor() as i32);
    let r = (v * scale).round() / scale;
    if r.is_finite() {
        r
    } else {
        v
    }
}

/// One point of a line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Seconds since the start of the run.
    pub t: f64,
    /// The value.
    pub v: f64,
}

/// A horizontal reference line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Legend text, e.g. `objective 99.9%`.
    pub label: String,
    /// Its value, in the chart's unit.
    pub value: f64,
}

/// A vertical mark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// Seconds since the start of the run.
    pub t: f64,
    /// What happened, e.g. `page fired`.
    pub label: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_values_keep_five_digits() {
        assert_eq!(tidy(0.990_185_185_185_185_3), 0.990_19);
        assert_eq!(tidy(97_813.811_2), 97_814.0);
        assert_eq!(tidy(1.5e-7), 1.5e-7);
        assert_eq!(tidy(-2.345_678), -2.345_7);
        assert_eq!(tidy(0.0), 0.0);
        assert!(tidy(f64::NAN).is_nan());
    }
}
