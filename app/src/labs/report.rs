//! What a graded lab run produced, as the browser receives it. These mirror
//! `lab_grader`'s report field for field (a server test checks that one
//! decodes as the other), so the lab engine never enters the wasm bundle.

use serde::{Deserialize, Serialize};

/// The grade of one run of a lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabReport {
    pub passed: bool,
    pub score: i64,
    pub max_score: i64,
    pub cancelled: bool,
    pub error: Option<String>,
    pub steps: Vec<StepReport>,
    pub runs: Vec<RunReport>,
    pub charts: Vec<Chart>,
    pub tables: Vec<Table>,
}

/// One step of the lab and its checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub id: String,
    pub title: String,
    pub passed: bool,
    pub checks: Vec<CheckReport>,
}

/// One check: what was found, what was expected, and a hint when it failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub id: String,
    pub title: String,
    pub passed: bool,
    pub message: String,
    pub expected: Option<String>,
    pub hint: Option<String>,
}

/// One load test the grader ran, with k6's summary and its charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub id: String,
    pub title: String,
    pub scenario: String,
    pub exit_code: i64,
    pub duration: f64,
    pub aborted: Option<String>,
    pub error: Option<String>,
    pub thresholds: Vec<ThresholdRow>,
    pub checks: Vec<K6CheckRow>,
    pub metrics: Table,
    pub text: String,
    pub charts: Vec<Chart>,
    pub logs: Vec<String>,
}

/// A k6 threshold and whether it held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdRow {
    pub metric: String,
    pub expression: String,
    pub ok: bool,
}

/// A k6 `check()` and how often it held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct K6CheckRow {
    pub name: String,
    pub passes: i64,
    pub fails: i64,
}

/// A plain table (k6's end-of-test summary, a gate's objectives).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// A line chart over the run's time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub id: String,
    pub title: String,
    pub unit: String,
    pub lines: Vec<Line>,
    pub reference: Option<Reference>,
    pub marks: Vec<Mark>,
}

/// One named series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub name: String,
    pub points: Vec<Point>,
}

/// A value at `t` seconds since the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub t: f64,
    pub v: f64,
}

/// A horizontal line: an objective or a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub label: String,
    pub value: f64,
}

/// A moment worth marking: an incident starting, an alert firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    pub t: f64,
    pub label: String,
}
