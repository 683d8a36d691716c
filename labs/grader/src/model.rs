//! A lab as the app stores it: everything needed to show and grade it,
//! with the texts of its files, fixtures and scenarios (no paths).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// One hands-on lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lab {
    /// URL slug (the directory name without its `NN-` prefix unless `lab.yaml` names one).
    pub slug: String,
    /// Title.
    pub title: String,
    /// One or two sentences for the catalog.
    pub summary: String,
    /// Slug of the course section the lab belongs to.
    pub section: String,
    /// Position among the section's modules and labs.
    pub order: i64,
    /// Expected time to finish, minutes.
    pub minutes: i64,
    /// Graded attempts before the learner may reveal the solution.
    pub reveal_solution_after: i64,
    /// The instructions, as Markdown.
    pub instructions_md: String,
    /// The files the learner edits.
    pub files: Vec<LabFile>,
    /// The steps, each with its checks.
    pub steps: Vec<Step>,
    /// The k6 runs grading performs, in order.
    pub runs: Vec<RunSpec>,
    /// Lab-provided files (driver scripts, `sli.yaml`, ...), referenced as `fixtures/<name>`.
    pub fixtures: Vec<TextFile>,
    /// The lab's own toy-service scenarios, by name (the file name without `.yaml`).
    pub scenarios: Vec<TextFile>,
}

/// What a learner file holds, which decides how it is checked and highlighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A k6 script.
    K6,
    /// One PromQL expression.
    Promql,
    /// A Sloth `prometheus/v1` SLO spec (OpenSLO v1 is accepted too).
    Sloth,
    /// An OpenSLO v1 document (a Sloth spec is accepted too).
    Openslo,
    /// A Keptn-style `slo.yaml`.
    Keptn,
    /// Answers as `field: value` lines.
    Answer,
}

impl FileKind {
    /// The name used in `lab.yaml` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::K6 => "k6",
            Self::Promql => "promql",
            Self::Sloth => "sloth",
            Self::Openslo => "openslo",
            Self::Keptn => "keptn",
            Self::Answer => "answer",
        }
    }

    /// Whether the file is an SLO spec (either format).
    pub fn is_slo_spec(self) -> bool {
        matches!(self, Self::Sloth | Self::Openslo)
    }
}

/// A file the learner edits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabFile {
    /// File name, e.g. `load.js`.
    pub name: String,
    /// What it holds.
    pub kind: FileKind,
    /// What the editor tab shows.
    pub title: String,
    /// What the learner starts from.
    pub starter: String,
    /// The author's solution.
    pub solution: String,
}

/// A named text (fixture or scenario).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextFile {
    /// Name: `driver.js` for a fixture, `incident` for a scenario.
    pub name: String,
    /// The content.
    pub text: String,
}

/// One k6 run that grading performs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Id checks refer to.
    pub id: String,
    /// Shown in progress and reports.
    pub title: String,
    /// The script: a learner file's name, or `fixtures/<name>`.
    pub script: String,
    /// The toy-service scenario: one of the lab's own or a built-in one.
    pub scenario: String,
    /// Clock: `sim` (deterministic, fast) or `live`.
    pub mode: lab_engine::Mode,
    /// Seed of the simulation.
    pub seed: u64,
    /// Extra `__ENV` variables.
    pub env: BTreeMap<String, String>,
    /// Seconds of run time between scrapes of the toy service's metrics.
    pub scrape_interval: f64,
    /// Longest test the script may schedule, seconds.
    pub max_duration: f64,
    /// Most VUs the script may use.
    pub max_vus: i64,
    /// Most requests the run may send.
    pub max_requests: i64,
}

impl RunSpec {
    /// The fixture the run's script names, if it names one.
    pub fn fixture(&self) -> Option<&str> {
        self.script.strip_prefix("fixtures/")
    }
}

/// One step of a lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Id, unique in the lab.
    pub id: String,
    /// Title.
    pub title: String,
    /// Its checks, in order.
    pub checks: Vec<Check>,
}

/// One check of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Id, unique in the lab.
    pub id: String,
    /// What it asks for, in a few words.
    pub title: String,
    /// Shown when the check fails.
    pub hint: Option<String>,
    /// What it checks.
    pub spec: CheckSpec,
}

/// The kinds of check, with their parameters. Durations are seconds (in
/// `lab.yaml` they may be written `45m`, `1h30m`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckSpec {
    /// The run finished without a script error.
    RunOk {
        /// Run id.
        run: String,
    },
    /// The run's script defines thresholds and all of them held.
    ThresholdsPass {
        /// Run id.
        run: String,
    },
    /// At least one of the run's thresholds was crossed.
    ThresholdsFail {
        /// Run id.
        run: String,
    },
    /// The script has a threshold on `metric` (with `stat`, bound in `min..=max`).
    Threshold {
        /// Run id.
        run: String,
        /// Metric (with tag filter), e.g. `http_req_duration`.
        metric: String,
        /// Aggregation, e.g. `p(95)` or `rate`.
        #[serde(default)]
        stat: Option<String>,
        /// Smallest accepted bound.
        #[serde(default)]
        min: Option<f64>,
        /// Largest accepted bound.
        #[serde(default)]
        max: Option<f64>,
    },
    /// Some scenario of the script uses this executor.
    Executor {
        /// Run id.
        run: String,
        /// k6 executor name, e.g. `ramping-arrival-rate`.
        executor: String,
    },
    /// The most looping VUs the script schedules (constant or ramping VUs,
    /// iteration executors) lies in `min..=max`.
    Vus {
        /// Run id.
        run: String,
        /// Fewest accepted.
        #[serde(default)]
        min: Option<f64>,
        /// Most accepted.
        #[serde(default)]
        max: Option<f64>,
    },
    /// The highest arrival rate (iterations per second) the script schedules
    /// lies in `min..=max`.
    Rate {
        /// Run id.
        run: String,
        /// Lowest accepted.
        #[serde(default)]
        min: Option<f64>,
        /// Highest accepted.
        #[serde(default)]
        max: Option<f64>,
    },
    /// The script has k6 checks and at least `min_rate` of them passed.
    K6Checks {
        /// Run id.
        run: String,
        /// Share of passing checks, 0..=1.
        min_rate: f64,
    },
    /// A value of the end-of-test summary lies in `min..=max`.
    Metric {
        /// Run id.
        run: String,
        /// Metric, e.g. `http_reqs`.
        metric: String,
        /// Value, e.g. `count`, `rate`, `p(95)`.
        stat: String,
        /// Smallest accepted.
        #[serde(default)]
        min: Option<f64>,
        /// Largest accepted.
        #[serde(default)]
        max: Option<f64>,
    },
    /// A numeric answer lies in `min..=max`.
    AnswerNumber {
        /// Answer file.
        file: String,
        /// Field in it.
        field: String,
        /// Smallest accepted.
        min: f64,
        /// Largest accepted.
        max: f64,
    },
    /// A word answer is one of `accept` (case and punctuation aside).
    AnswerChoice {
        /// Answer file.
        file: String,
        /// Field in it.
        field: String,
        /// Accepted spellings.
        accept: Vec<String>,
    },
    /// A numeric answer is within `tolerance` of a reference query's value
    /// over a run's data.
    AnswerQuery {
        /// Answer file.
        file: String,
        /// Field in it.
        field: String,
        /// Run id.
        run: String,
        /// PromQL giving the expected value (one series or a scalar).
        query: String,
        /// When to evaluate, seconds into the run (the end of the run when absent).
        #[serde(default, deserialize_with = "opt_secs")]
        at: Option<f64>,
        /// Largest accepted absolute difference.
        tolerance: f64,
    },
    /// The learner's PromQL gives the same series as `reference` at every
    /// step of a range query over the run.
    PromqlMatches {
        /// PromQL file.
        file: String,
        /// Run id.
        run: String,
        /// The reference query.
        reference: String,
        /// Step of the range query, seconds (the run's scrape interval when absent).
        #[serde(default, deserialize_with = "opt_secs")]
        step: Option<f64>,
        /// Start of the comparison, seconds into the run (0 when absent).
        #[serde(default, deserialize_with = "opt_secs")]
        from: Option<f64>,
        /// Largest accepted relative difference (1e-6 when absent).
        #[serde(default)]
        tolerance: Option<f64>,
    },
    /// At `at`, the learner's PromQL returns at least `min_series` series
    /// and the highest one carries all labels of one of `any_of`.
    PromqlTop {
        /// PromQL file.
        file: String,
        /// Run id.
        run: String,
        /// Seconds into the run.
        #[serde(deserialize_with = "secs")]
        at: f64,
        /// Label sets, any of which the top series must carry.
        any_of: Vec<BTreeMap<String, String>>,
        /// Fewest series the result must have (a comparison needs two).
        #[serde(default = "two")]
        min_series: i64,
    },
    /// Replaying the run through the SLO spec's rules, a page alert fires
    /// between `after` and `after + within`, and not before `after`.
    SloPages {
        /// SLO spec file.
        file: String,
        /// Run id.
        run: String,
        /// When the incident starts, seconds into the run.
        #[serde(deserialize_with = "secs")]
        after: f64,
        /// How soon the page must fire, seconds.
        #[serde(deserialize_with = "secs")]
        within: f64,
    },
    /// Replaying the run through the SLO spec's rules, no page alert fires.
    SloQuiet {
        /// SLO spec file.
        file: String,
        /// Run id.
        run: String,
    },
    /// The quality gate (Keptn `slo.yaml` with an `sli.yaml`) evaluated on
    /// the run gives `expect`.
    Gate {
        /// The `slo.yaml` (learner file or `fixtures/<name>`).
        file: String,
        /// The `sli.yaml` (learner file or `fixtures/<name>`).
        sli: String,
        /// Run id.
        run: String,
        /// `pass`, `warning` or `fail`.
        expect: String,
        /// Runs evaluated first, in order, whose results form the history
        /// relative criteria compare with.
        #[serde(default)]
        history: Vec<String>,
        /// Evaluation window (`$DURATION_SECONDS`), seconds.
        #[serde(deserialize_with = "secs")]
        window: f64,
    },
    /// The learner file is valid for its kind (a k6 script's options and
    /// thresholds, PromQL, an SLO spec, a Keptn `slo.yaml`, answers filled in).
    Valid {
        /// Learner file.
        file: String,
    },
}

fn two() -> i64 {
    2
}

impl CheckSpec {
    /// The `kind` name used in `lab.yaml`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RunOk { .. } => "run_ok",
            Self::ThresholdsPass { .. } => "thresholds_pass",
            Self::ThresholdsFail { .. } => "thresholds_fail",
            Self::Threshold { .. } => "threshold",
            Self::Executor { .. } => "executor",
            Self::Vus { .. } => "vus",
            Self::Rate { .. } => "rate",
            Self::K6Checks { .. } => "k6_checks",
            Self::Metric { .. } => "metric",
            Self::AnswerNumber { .. } => "answer_number",
            Self::AnswerChoice { .. } => "answer_choice",
            Self::AnswerQuery { .. } => "answer_query",
            Self::PromqlMatches { .. } => "promql_matches",
            Self::PromqlTop { .. } => "promql_top",
            Self::SloPages { .. } => "slo_pages",
            Self::SloQuiet { .. } => "slo_quiet",
            Self::Gate { .. } => "gate",
            Self::Valid { .. } => "valid",
        }
    }

    /// The runs whose results the check reads.
    pub fn runs(&self) -> Vec<&str> {
        match self {
            Self::RunOk { run }
            | Self::ThresholdsPass { run }
            | Self::ThresholdsFail { run }
            | Self::Threshold { run, .. }
            | Self::Executor { run, .. }
            | Self::Vus { run, .. }
            | Self::Rate { run, .. }
            | Self::K6Checks { run, .. }
            | Self::Metric { run, .. }
            | Self::AnswerQuery { run, .. }
            | Self::PromqlMatches { run, .. }
            | Self::PromqlTop { run, .. }
            | Self::SloPages { run, .. }
            | Self::SloQuiet { run, .. } => vec![run.as_str()],
            Self::Gate { run, history, .. } => history
                .iter()
                .map(String::as_str)
                .chain(std::iter::once(run.as_str()))
                .collect(),
            Self::AnswerNumber { .. } | Self::AnswerChoice { .. } | Self::Valid { .. } => vec![],
        }
    }

    /// The learner files or fixtures the check reads.
    pub fn files(&self) -> Vec<&str> {
        match self {
            Self::AnswerNumber { file, .. }
            | Self::AnswerChoice { file, .. }
            | Self::AnswerQuery { file, .. }
            | Self::PromqlMatches { file, .. }
            | Self::PromqlTop { file, .. }
            | Self::SloPages { file, .. }
            | Self::SloQuiet { file, .. }
            | Self::Valid { file } => vec![file.as_str()],
            Self::Gate { file, sli, .. } => vec![file.as_str(), sli.as_str()],
            _ => vec![],
        }
    }
}

/// A run's toy-service scenario: the lab's own first, then the built-ins.
pub(crate) fn resolve_scenario(
    name: &str,
    own: &[TextFile],
) -> Result<lab_engine::toy::Scenario, String> {
    match own.iter().find(|s| s.name == name) {
        Some(s) => lab_engine::toy::Scenario::from_yaml(&s.text).map_err(|e| e.to_string()),
        None => lab_engine::toy::Scenario::builtin(name).map_err(|e| e.to_string()),
    }
}

/// Reads a duration written as seconds or as a k6 duration (`45m`, `1h30m`).
pub(crate) fn parse_secs(v: &serde_yaml::Value) -> Result<f64, String> {
    match v {
        serde_yaml::Value::Number(n) => n
            .as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| format!("{n} is not a duration")),
        serde_yaml::Value::String(s) => {
            lab_engine::duration::parse_duration(s).map_err(|e| e.to_string())
        }
        other => Err(format!(
            "expected a duration like \"45m\" or a number of seconds, got {other:?}"
        )),
    }
}

fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = serde_yaml::Value::deserialize(d)?;
    parse_secs(&v).map_err(serde::de::Error::custom)
}

fn opt_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = Option::<serde_yaml::Value>::deserialize(d)?;
    v.map(|v| parse_secs(&v).map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_specs_round_trip_through_json() {
        let spec: CheckSpec = serde_yaml::from_str(
            "kind: slo_pages\nfile: slo.yaml\nrun: incident\nafter: 45m\nwithin: 900\n",
        )
        .expect("valid");
        assert_eq!(
            spec,
            CheckSpec::SloPages {
                file: "slo.yaml".into(),
                run: "incident".into(),
                after: 2700.0,
                within: 900.0
            }
        );
        let json = serde_json::to_string(&spec).expect("serializes");
        let back: CheckSpec = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, spec);
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let e = serde_yaml::from_str::<CheckSpec>("kind: run_ok\nrun: a\nbogus: 1\n")
            .expect_err("unknown field");
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = serde_yaml::from_str::<CheckSpec>("kind: nope\nrun: a\n").expect_err("kind");
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
