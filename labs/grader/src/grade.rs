//! Grading: run the lab's k6 runs with the learner's files, then evaluate
//! every check against what the runs produced.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lab_engine::runner::{Limits, Plan};
use lab_engine::{Progress, RunConfig, RunSummary};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::data::RunData;
use crate::model::{Lab, RunSpec};
use crate::report::LabReport;

/// Progress of one run while a lab is graded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradeProgress {
    /// The run's id.
    pub run: String,
    /// The run's title.
    pub run_title: String,
    /// Which run this is, 0-based.
    pub index: i64,
    /// How many runs the lab has.
    pub runs: i64,
    /// The engine's progress of this run.
    pub progress: Progress,
}

/// Everything grading produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The report the learner sees.
    pub report: LabReport,
    /// Each finished run's scraped metrics, for the learner's own queries.
    pub data: Vec<RunData>,
}

/// How one run ended.
pub(crate) enum RunEnd {
    /// The run finished (possibly with crossed thresholds or an abort).
    Done(Box<RunSummary>),
    /// The script could not run: syntax error, bad options, sandbox refusal.
    Failed {
        /// k6's exit code for the failure.
        code: i32,
        /// The engine's message.
        message: String,
    },
    /// Grading was cancelled before or during this run.
    Cancelled(Option<Box<RunSummary>>),
}

/// A run's result with what checks need of it.
pub(crate) struct RunResult {
    pub spec: RunSpec,
    /// The script's plan (options, thresholds), when it could be read.
    pub plan: Option<Plan>,
    pub end: RunEnd,
    /// The scraped metrics, encoded as the app stores them.
    pub data: Option<RunData>,
}

type Callback = Arc<Mutex<Box<dyn FnMut(GradeProgress) + Send>>>;

/// The wall-clock gap between forwarded progress events: a simulated run
/// reports every virtual second, thousands of times a second of wall time.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Grades a learner's files (file name → content; missing files count as
/// empty). Never panics on learner input: a script error becomes a failed
/// check with the error message (line numbers included), not an `Err`.
pub async fn grade(
    lab: &Lab,
    files: &BTreeMap<String, String>,
    cancel: CancellationToken,
    progress: impl FnMut(GradeProgress) + Send + 'static,
) -> Outcome {
    let callback: Callback = Arc::new(Mutex::new(Box::new(progress)));
    let mut results = Vec::new();
    let total = i64::try_from(lab.runs.len()).unwrap_or(i64::MAX);
    for (index, spec) in lab.runs.iter().enumerate() {
        let index = i64::try_from(index).unwrap_or(i64::MAX);
        let result = if cancel.is_cancelled() {
            RunResult {
                spec: spec.clone(),
                plan: None,
                end: RunEnd::Cancelled(None),
                data: None,
            }
        } else {
            execute(lab, spec, files, &cancel, index, total, &callback).await
        };
        results.push(result);
    }
    let cancelled = cancel.is_cancelled()
        || results
            .iter()
            .any(|r| matches!(r.end, RunEnd::Cancelled(_)));
    // Checks replay SLO rules and evaluate PromQL over whole runs: CPU work
    // that belongs on the blocking pool, not on the server's async workers.
    let lab = lab.clone();
    let files = files.clone();
    let stop = cancel.clone();
    let joined = tokio::task::spawn_blocking(move || {
        crate::checks::evaluate(&lab, &files, results, cancelled, &stop)
    })
    .await;
    joined.unwrap_or_else(|e| Outcome {
        report: LabReport {
            passed: false,
            score: 0,
            max_score: 0,
            cancelled,
            error: Some(format!("grading stopped unexpectedly: {e}")),
            steps: Vec::new(),
            runs: Vec::new(),
            charts: Vec::new(),
            tables: Vec::new(),
        },
        data: Vec::new(),
    })
}

/// The script text a run uses.
pub(crate) fn script_of<'a>(
    lab: &'a Lab,
    spec: &RunSpec,
    files: &'a BTreeMap<String, String>,
) -> &'a str {
    match spec.fixture() {
        Some(name) => lab
            .fixtures
            .iter()
            .find(|f| f.name == name)
            .map_or("", |f| f.text.as_str()),
        None => files.get(&spec.script).map_or("", String::as_str),
    }
}

/// The sandbox limits of a run.
pub(crate) fn limits(spec: &RunSpec) -> Limits {
    Limits {
        max_vus: u32::try_from(spec.max_vus).unwrap_or(u32::MAX),
        max_requests: u64::try_from(spec.max_requests).unwrap_or(0),
        max_test_seconds: spec.max_duration,
        // A simulated run of the labs' size takes seconds; a minute of wall
        // time means a script doing something it should not.
        run_seconds: 60.0,
        ..Limits::default()
    }
}

async fn execute(
    lab: &Lab,
    spec: &RunSpec,
    files: &BTreeMap<String, String>,
    cancel: &CancellationToken,
    index: i64,
    runs: i64,
    callback: &Callback,
) -> RunResult {
    // The engine names every script `script.js`; the learner knows it by its own name.
    let own_name = spec.fixture().unwrap_or(&spec.script).to_owned();
    let failed = |code: i32, message: String| RunResult {
        spec: spec.clone(),
        plan: None,
        end: RunEnd::Failed {
            code,
            message: message.replace("script.js:", &format!("{own_name}:")),
        },
        data: None,
    };
    let script = script_of(lab, spec, files);
    if script.trim().is_empty() {
        return failed(
            lab_engine::runner::exit::SCRIPT_EXCEPTION,
            format!("{} is empty", spec.script),
        );
    }
    let scenario = match crate::model::resolve_scenario(&spec.scenario, &lab.scenarios) {
        Ok(s) => s,
        Err(e) => return failed(lab_engine::runner::exit::INVALID_CONFIG, e),
    };
    let cfg = RunConfig {
        mode: spec.mode,
        seed: spec.seed,
        scenario,
        env: spec.env.clone(),
        limits: limits(spec),
        scrape_interval: spec.scrape_interval,
        cancel: cancel.child_token(),
        // One core per grading keeps concurrent learners from starving each
        // other; the results do not depend on it.
        threads: 1,
        // A learner's run only ever reaches its own toy service.
        target: None,
    };
    // Reading the options runs the script's init code, which is the
    // learner's: a top-level loop may spin until the engine's CPU limit, and
    // that must not hold one of the server's async workers.
    let inspected = {
        let (script, cfg) = (script.to_owned(), cfg.clone());
        tokio::task::spawn_blocking(move || lab_engine::runner::inspect(&script, &cfg)).await
    };
    let plan = match inspected {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return failed(e.exit_code(), e.to_string()),
        Err(e) => {
            return failed(
                lab_engine::runner::exit::SCRIPT_EXCEPTION,
                format!("reading the script's options failed: {e}"),
            )
        }
    };
    // The run's first event, before the engine's first virtual second, so a
    // page can name the run that is starting.
    if let Ok(mut f) = callback.lock() {
        f(GradeProgress {
            run: spec.id.clone(),
            run_title: spec.title.clone(),
            index,
            runs,
            progress: Progress {
                elapsed: 0.0,
                total: plan.scheduled(),
                vus: 0,
                vus_max: i64::try_from(plan.total_vus()).unwrap_or(i64::MAX),
                iterations: 0,
                requests: 0,
                rps: 0.0,
                p95_ms: 0.0,
                errors: 0,
            },
        });
    }
    let forward = {
        let callback = Arc::clone(callback);
        let (run, run_title) = (spec.id.clone(), spec.title.clone());
        let mut last: Option<Instant> = None;
        move |p: Progress| {
            let now = Instant::now();
            if last.is_some_and(|l| now.duration_since(l) < PROGRESS_EVERY) {
                return;
            }
            last = Some(now);
            if let Ok(mut f) = callback.lock() {
                f(GradeProgress {
                    run: run.clone(),
                    run_title: run_title.clone(),
                    index,
                    runs,
                    progress: p,
                });
            }
        }
    };
    let summary = match lab_engine::run(script, cfg, forward).await {
        Ok(s) => s,
        Err(e) => {
            return RunResult {
                plan: Some(plan),
                ..failed(e.exit_code(), e.to_string())
            }
        }
    };
    // The last event of a run says where it ended, whatever was throttled.
    if let Ok(mut f) = callback.lock() {
        f(GradeProgress {
            run: spec.id.clone(),
            run_title: spec.title.clone(),
            index,
            runs,
            progress: final_progress(&summary, &plan),
        });
    }
    let data = Some(RunData::from_scrapes(
        &spec.id,
        &summary.scrapes,
        spec.scrape_interval,
    ));
    let end =
        if summary.exit_code == lab_engine::runner::exit::EXTERNAL_ABORT && cancel.is_cancelled() {
            RunEnd::Cancelled(Some(Box::new(summary)))
        } else {
            RunEnd::Done(Box::new(summary))
        };
    RunResult {
        spec: spec.clone(),
        plan: Some(plan),
        end,
        data,
    }
}

fn final_progress(s: &RunSummary, plan: &Plan) -> Progress {
    let requests: i64 = s.series.iter().map(|p| p.reqs).sum();
    let errors: i64 = s.series.iter().map(|p| p.errors).sum();
    let iterations = s.data["metrics"]["iterations"]["values"]["count"]
        .as_f64()
        .unwrap_or(0.0) as i64;
    let last = s.series.last();
    Progress {
        elapsed: s.duration,
        total: plan.scheduled(),
        vus: 0,
        vus_max: i64::try_from(plan.total_vus()).unwrap_or(i64::MAX),
        iterations,
        requests,
        rps: last.map_or(0.0, |p| p.reqs as f64),
        p95_ms: last.map_or(0.0, |p| p.p95_ms),
        errors,
    }
}
