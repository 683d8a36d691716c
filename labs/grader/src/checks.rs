//! Evaluating checks against the runs and the learner's files.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use lab_engine::runner::{Executor, Plan, RunSummary};
use slo_toolkit::gate::{measure_with, EvaluationResult, SliFile, SloFile};
use slo_toolkit::promql::{
    format_float, instant_query_with, range_query_with, QueryContext, Storage, Value,
};
use slo_toolkit::slo::timeline::TimelineRow;
use slo_toolkit::slo::{burn_windows, parse_slo_str, SloSpec};
use tokio_util::sync::CancellationToken;

use crate::answers::{normalize_choice, parse_answers, parse_number};
use crate::charts::{human_ms, run_report, short};
use crate::data::{label_text, matrix_lines, newest};
use crate::grade::{Outcome, RunEnd, RunResult};
use crate::model::{Check, CheckSpec, FileKind, Lab};
use crate::report::{
    Chart, CheckReport, LabReport, Line, Mark, Point, Reference, StepReport, Table,
};

/// Grades every check and assembles the outcome. Every query runs under the
/// default [`QueryLimits`](slo_toolkit::promql::QueryLimits) and stops when
/// `cancel` is cancelled; the checks left then say "cancelled".
pub(crate) fn evaluate(
    lab: &Lab,
    files: &BTreeMap<String, String>,
    results: Vec<RunResult>,
    cancelled: bool,
    cancel: &CancellationToken,
) -> Outcome {
    let stop = || cancel.is_cancelled();
    // A learner's script that cannot run is reported once, at the top, under its
    // own name; the checks that needed its runs say so in a line, without hints.
    let broken = broken_scripts(&results);
    let mut ctx = Ctx {
        lab,
        files,
        broken: &broken,
        queries: QueryContext::default().with_cancel(&stop),
        runs: &results,
        storages: HashMap::new(),
        replays: HashMap::new(),
        gates: HashMap::new(),
        charts: Vec::new(),
        tables: Vec::new(),
    };
    let steps: Vec<StepReport> = lab
        .steps
        .iter()
        .map(|step| {
            let checks: Vec<CheckReport> = step.checks.iter().map(|c| ctx.check(c)).collect();
            StepReport {
                id: step.id.clone(),
                title: step.title.clone(),
                passed: checks.iter().all(|c| c.passed),
                checks,
            }
        })
        .collect();
    let max_score = steps.iter().map(|s| s.checks.len()).sum::<usize>();
    let score = steps
        .iter()
        .flat_map(|s| &s.checks)
        .filter(|c| c.passed)
        .count();
    let (charts, tables) = (ctx.charts, ctx.tables);
    let cancelled = cancelled || cancel.is_cancelled();
    let report = LabReport {
        passed: score == max_score && !cancelled,
        score: i64::try_from(score).unwrap_or(i64::MAX),
        max_score: i64::try_from(max_score).unwrap_or(i64::MAX),
        cancelled,
        error: (!broken.is_empty()).then(|| {
            broken
                .iter()
                .map(|(file, message)| format!("{file} could not run: {message}"))
                .collect::<Vec<_>>()
                .join("\n\n")
        }),
        steps,
        runs: results.iter().map(run_report).collect(),
        charts,
        tables,
    };
    Outcome {
        report,
        data: results.iter().filter_map(|r| r.data.clone()).collect(),
    }
}

/// The learner's scripts whose runs could not start (file name → the engine's
/// message), one entry per file however many runs use it. A lab's own fixture
/// scripts are not the learner's to fix, so they are left to the checks.
fn broken_scripts(results: &[RunResult]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in results {
        if let (None, RunEnd::Failed { message, .. }) = (r.spec.fixture(), &r.end) {
            out.entry(r.spec.script.clone())
                .or_insert_with(|| message.clone());
        }
    }
    out
}

/// Full-line `#` comments, which learners use to annotate their queries.
pub(crate) fn strip_promql_comments(q: &str) -> String {
    q.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `45m`, `1h05m`, `2m30s`, `12s`.
pub(crate) fn fmt_time(secs: f64) -> String {
    let total = secs.round() as i64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, 0) => format!("{h}h{m:02}m"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

fn range_text(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) if a == b => format!("exactly {}", short(a)),
        (Some(a), Some(b)) => format!("between {} and {}", short(a), short(b)),
        (Some(a), None) => format!("at least {}", short(a)),
        (None, Some(b)) => format!("at most {}", short(b)),
        (None, None) => "any value".into(),
    }
}

fn in_range(v: f64, min: Option<f64>, max: Option<f64>) -> bool {
    min.is_none_or(|a| v >= a) && max.is_none_or(|b| v <= b)
}

/// A check's outcome before the id, title and hint are attached.
struct Verdict {
    passed: bool,
    message: String,
}

fn pass(message: impl Into<String>) -> Verdict {
    Verdict {
        passed: true,
        message: message.into(),
    }
}

fn fail(message: impl Into<String>) -> Verdict {
    Verdict {
        passed: false,
        message: message.into(),
    }
}

/// One SLO spec replayed over one run.
struct Replay {
    slos: Vec<SloSpec>,
    rows: Vec<TimelineRow>,
}

impl Replay {
    /// Times (ms) at which a page alert starts firing.
    fn page_starts(&self) -> Vec<i64> {
        let mut out = Vec::new();
        let mut was = false;
        for r in &self.rows {
            let now = r.slos.iter().any(|s| s.firing.iter().any(|f| f == "page"));
            if now && !was {
                out.push(r.t);
            }
            was = now;
        }
        out
    }

    /// The highest 1h burn rate and when it happened (ms).
    fn peak_burn_1h(&self) -> Option<(f64, i64)> {
        self.rows
            .iter()
            .flat_map(|r| {
                r.slos
                    .iter()
                    .filter_map(move |s| s.burn[1].map(|b| (b, r.t)))
            })
            .filter(|(b, _)| b.is_finite())
            .max_by(|a, b| a.0.total_cmp(&b.0))
    }
}

type GateKey = (String, String, Vec<String>);

struct Ctx<'a> {
    lab: &'a Lab,
    files: &'a BTreeMap<String, String>,
    /// The learner's scripts that could not run, with the error reported for each.
    broken: &'a BTreeMap<String, String>,
    /// The limits and the cancellation every query runs under.
    queries: QueryContext<'a>,
    runs: &'a [RunResult],
    storages: HashMap<String, Result<Rc<Storage>, String>>,
    replays: HashMap<(String, String), Result<Rc<Replay>, String>>,
    gates: HashMap<GateKey, Result<Rc<EvaluationResult>, String>>,
    charts: Vec<Chart>,
    tables: Vec<Table>,
}

impl Ctx<'_> {
    fn check(&mut self, c: &Check) -> CheckReport {
        if let Some(file) = self.broken_input(c) {
            return CheckReport {
                id: c.id.clone(),
                title: c.title.clone(),
                passed: false,
                message: if matches!(c.spec, CheckSpec::Valid { .. }) {
                    format!("{file} is not valid: the error is shown above.")
                } else {
                    format!("Not checked: {file} could not run (the error is shown above).")
                },
                expected: None,
                hint: None,
            };
        }
        // Checks that read no run (answers, file validity) are still graded
        // after a cancellation; the others query the runs' data, which stops.
        let reads_runs = !c.spec.runs().is_empty();
        let cancelled = (reads_runs && self.queries.is_cancelled())
            || c.spec.runs().iter().any(|id| {
                self.result(id)
                    .is_some_and(|r| matches!(r.end, RunEnd::Cancelled(_)))
            });
        let v = if cancelled {
            None
        } else {
            // A check cut short by cancellation says so, not that the
            // learner's query failed.
            Some(self.verdict(c)).filter(|_| !(reads_runs && self.queries.is_cancelled()))
        };
        let Some(v) = v else {
            return CheckReport {
                id: c.id.clone(),
                title: c.title.clone(),
                passed: false,
                message: "cancelled".into(),
                expected: Some(self.expected(&c.spec)),
                hint: None,
            };
        };
        CheckReport {
            id: c.id.clone(),
            title: c.title.clone(),
            passed: v.passed,
            message: v.message,
            expected: Some(self.expected(&c.spec)),
            hint: if v.passed { None } else { c.hint.clone() },
        }
    }

    /// The broken learner script a check depends on: a run of it it reads, or the
    /// file itself it checks.
    fn broken_input(&self, c: &Check) -> Option<String> {
        let by_run = c.spec.runs().into_iter().find_map(|id| {
            let r = self.result(id)?;
            self.broken
                .contains_key(&r.spec.script)
                .then(|| r.spec.script.clone())
        });
        by_run.or_else(|| {
            c.spec
                .files()
                .into_iter()
                .find(|f| self.broken.contains_key(*f))
                .map(str::to_owned)
        })
    }

    fn result(&self, id: &str) -> Option<&RunResult> {
        self.runs.iter().find(|r| r.spec.id == id)
    }

    fn title(&self, run: &str) -> String {
        self.result(run)
            .map_or_else(|| run.to_owned(), |r| r.spec.title.clone())
    }

    /// The learner's file, or a fixture named `fixtures/<name>`.
    fn text(&self, name: &str) -> &str {
        match name.strip_prefix("fixtures/") {
            Some(f) => self
                .lab
                .fixtures
                .iter()
                .find(|x| x.name == f)
                .map_or("", |x| x.text.as_str()),
            None => self.files.get(name).map_or("", String::as_str),
        }
    }

    fn expected(&self, spec: &CheckSpec) -> String {
        match spec {
            CheckSpec::RunOk { run } => format!(
                "the run “{}” finishes without a script error",
                self.title(run)
            ),
            CheckSpec::ThresholdsPass { run } => format!(
                "every threshold of “{}” holds (k6 exits with code 0)",
                self.title(run)
            ),
            CheckSpec::ThresholdsFail { run } => format!(
                "at least one threshold of “{}” is crossed (k6 exits with code 99)",
                self.title(run)
            ),
            CheckSpec::Threshold {
                metric,
                stat,
                min,
                max,
                ..
            } => {
                let mut s = format!("a threshold on {metric}");
                if let Some(stat) = stat {
                    s.push_str(&format!(" using {stat}"));
                }
                if min.is_some() || max.is_some() {
                    s.push_str(&format!(" with a bound of {}", range_text(*min, *max)));
                }
                s
            }
            CheckSpec::Executor { executor, .. } => {
                format!("a scenario that uses the {executor} executor")
            }
            CheckSpec::Vus { min, max, .. } => {
                format!("{} looping VUs at the peak", range_text(*min, *max))
            }
            CheckSpec::Rate { min, max, .. } => format!(
                "an arrival rate peaking at {} iterations/s",
                range_text(*min, *max)
            ),
            CheckSpec::K6Checks { min_rate, .. } => {
                if *min_rate >= 1.0 {
                    "k6 checks in the script, every one of them passing".into()
                } else {
                    format!(
                        "k6 checks in the script, at least {}% of them passing",
                        short(min_rate * 100.0)
                    )
                }
            }
            CheckSpec::Metric {
                run,
                metric,
                stat,
                min,
                max,
            } => format!(
                "{metric} {stat} of “{}” {}",
                self.title(run),
                range_text(*min, *max)
            ),
            CheckSpec::AnswerNumber { file, field, .. } => {
                format!("a number for `{field}` in {file} that matches what the runs show")
            }
            CheckSpec::AnswerChoice { file, field, .. } => {
                format!("the answer for `{field}` in {file} that the data supports")
            }
            CheckSpec::AnswerQuery {
                file,
                field,
                run,
                tolerance,
                ..
            } => format!(
                "`{field}` in {file} within ±{} of what “{}” measured",
                short(*tolerance),
                self.title(run)
            ),
            CheckSpec::PromqlMatches { file, run, .. } => format!(
                "{file} gives the same series and values as the reference query at every step of “{}”",
                self.title(run)
            ),
            CheckSpec::PromqlTop { file, run, at, .. } => format!(
                "{file}, evaluated {} into “{}”, returns several series and the highest one points at the cause",
                fmt_time(*at),
                self.title(run)
            ),
            CheckSpec::SloPages {
                run, after, within, ..
            } => format!(
                "a page alert during “{}” within {} of the incident starting at {}, and none before it",
                self.title(run),
                fmt_time(*within),
                fmt_time(*after)
            ),
            CheckSpec::SloQuiet { run, .. } => {
                format!("no page alert during “{}”", self.title(run))
            }
            CheckSpec::Gate {
                file, run, expect, ..
            } => format!(
                "the gate in {file} gives {expect} on “{}”",
                self.title(run)
            ),
            CheckSpec::Valid { file } => {
                let kind = self
                    .lab
                    .files
                    .iter()
                    .find(|f| &f.name == file)
                    .map_or("", |f| f.kind.name());
                if kind == "answer" {
                    format!("every field of {file} answered")
                } else {
                    format!("{file} is a valid {kind} file")
                }
            }
        }
    }

    /// The run's summary, or why there is none.
    fn finished(&self, run: &str) -> Result<&RunSummary, String> {
        let r = self
            .result(run)
            .ok_or_else(|| format!("the lab has no run {run:?}"))?;
        match &r.end {
            RunEnd::Done(s) => Ok(s),
            RunEnd::Cancelled(_) => Err("cancelled".into()),
            RunEnd::Failed { message, .. } => Err(format!(
                "The run “{}” did not start: {message}",
                r.spec.title
            )),
        }
    }

    /// The script's plan, or why there is none.
    fn plan(&self, run: &str) -> Result<&Plan, String> {
        let r = self
            .result(run)
            .ok_or_else(|| format!("the lab has no run {run:?}"))?;
        match (&r.plan, &r.end) {
            (Some(p), _) => Ok(p),
            (None, RunEnd::Failed { message, .. }) => Err(format!(
                "The script of “{}” could not be read: {message}",
                r.spec.title
            )),
            (None, _) => Err("cancelled".into()),
        }
    }

    fn storage(&mut self, run: &str) -> Result<Rc<Storage>, String> {
        if let Some(s) = self.storages.get(run) {
            return s.clone();
        }
        let made = match self.finished(run) {
            Err(e) => Err(e),
            Ok(_) => match self.result(run).and_then(|r| r.data.as_ref()) {
                None => Err(format!("the run “{}” has no metrics", self.title(run))),
                Some(d) => d.storage().map(Rc::new),
            },
        };
        self.storages.insert(run.to_owned(), made.clone());
        made
    }

    fn verdict(&mut self, c: &Check) -> Verdict {
        let r = match &c.spec {
            CheckSpec::RunOk { run } => self.run_ok(run),
            CheckSpec::ThresholdsPass { run } => self.thresholds(run, true),
            CheckSpec::ThresholdsFail { run } => self.thresholds(run, false),
            CheckSpec::Threshold {
                run,
                metric,
                stat,
                min,
                max,
            } => self.threshold(run, metric, stat.as_deref(), *min, *max),
            CheckSpec::Executor { run, executor } => self.executor(run, executor),
            CheckSpec::Vus { run, min, max } => self.vus(run, *min, *max),
            CheckSpec::Rate { run, min, max } => self.rate(run, *min, *max),
            CheckSpec::K6Checks { run, min_rate } => self.k6_checks(run, *min_rate),
            CheckSpec::Metric {
                run,
                metric,
                stat,
                min,
                max,
            } => self.metric(run, metric, stat, *min, *max),
            CheckSpec::AnswerNumber {
                file,
                field,
                min,
                max,
            } => self
                .answer_number(file, field)
                .map(|(raw, v)| self.judge_number(field, &raw, v, *min, *max)),
            CheckSpec::AnswerChoice {
                file,
                field,
                accept,
            } => self.answer_choice(file, field, accept),
            CheckSpec::AnswerQuery {
                file,
                field,
                run,
                query,
                at,
                tolerance,
            } => self.answer_query(file, field, run, query, *at, *tolerance),
            CheckSpec::PromqlMatches {
                file,
                run,
                reference,
                step,
                from,
                tolerance,
            } => self.promql_matches(
                &c.id,
                &c.title,
                file,
                run,
                reference,
                *step,
                from.unwrap_or(0.0),
                tolerance.unwrap_or(1e-6),
            ),
            CheckSpec::PromqlTop {
                file,
                run,
                at,
                any_of,
                min_series,
            } => self.promql_top(file, run, *at, any_of, *min_series),
            CheckSpec::SloPages {
                file,
                run,
                after,
                within,
            } => self.slo_pages(file, run, *after, *within),
            CheckSpec::SloQuiet { file, run } => self.slo_quiet(file, run),
            CheckSpec::Gate {
                file,
                sli,
                run,
                expect,
                history,
                window,
            } => self.gate(file, sli, run, expect, history, *window),
            CheckSpec::Valid { file } => self.valid(file),
        };
        r.unwrap_or_else(fail)
    }

    fn run_ok(&self, run: &str) -> Result<Verdict, String> {
        let s = self.finished(run)?;
        let code = s.exit_code;
        use lab_engine::runner::exit;
        if matches!(
            code,
            exit::SCRIPT_EXCEPTION | exit::SCRIPT_ABORTED | exit::INVALID_CONFIG
        ) {
            let why = s
                .aborted
                .clone()
                .unwrap_or_else(|| "no reason given".into());
            return Ok(fail(format!(
                "The run stopped early (exit code {code}): {why}"
            )));
        }
        // Logged as `t=1.234s [error] TypeError: ... at default (script.js:33:3)`.
        let errors: Vec<&str> = s
            .logs
            .iter()
            .filter_map(|l| l.split_once("[error]").map(|(_, rest)| rest.trim()))
            .collect();
        if let Some(first) = errors.first() {
            let first = first.split_whitespace().collect::<Vec<_>>().join(" ");
            // The engine calls every script `script.js`; say the learner's file.
            let script = self
                .result(run)
                .map_or("script.js", |r| r.spec.fixture().unwrap_or(&r.spec.script));
            let first = first.replace("script.js:", &format!("{script}:"));
            return Ok(fail(format!(
                "The run finished, but iterations threw errors ({} logged). The first: {first}",
                errors.len()
            )));
        }
        let reqs = s.data["metrics"]["http_reqs"]["values"]["count"]
            .as_f64()
            .unwrap_or(0.0);
        if reqs == 0.0 {
            return Ok(fail(
                "The run finished without sending a single request to the toy service.",
            ));
        }
        Ok(pass(format!(
            "The run finished in {} with exit code {code}, sending {} requests.",
            fmt_time(s.duration),
            short(reqs)
        )))
    }

    /// `http_req_duration p(95)<5 (p(95) was 61.69ms)`.
    fn describe_threshold(s: &RunSummary, metric: &str, expression: &str) -> String {
        let measured = lab_engine::runner::thresholds::parse_expression(expression)
            .ok()
            .and_then(|e| {
                let stat = e.agg.name();
                let m = &s.data["metrics"][metric];
                let v = m["values"][stat.as_str()].as_f64()?;
                let shown = if m["contains"].as_str() == Some("time") {
                    human_ms(v)
                } else if m["type"].as_str() == Some("rate") {
                    format!("{}%", short(v * 100.0))
                } else {
                    short(v)
                };
                Some(format!(" ({stat} was {shown})"))
            })
            .unwrap_or_default();
        format!("{metric} {expression}{measured}")
    }

    fn thresholds(&self, run: &str, want_pass: bool) -> Result<Verdict, String> {
        let s = self.finished(run)?;
        if s.thresholds.is_empty() {
            return Ok(fail(
                "The script defines no thresholds, so nothing in this run can pass or fail.",
            ));
        }
        let crossed: Vec<String> = s
            .thresholds
            .iter()
            .filter(|t| !t.ok)
            .map(|t| Self::describe_threshold(s, &t.metric, &t.expression))
            .collect();
        let held: Vec<String> = s
            .thresholds
            .iter()
            .filter(|t| t.ok)
            .map(|t| Self::describe_threshold(s, &t.metric, &t.expression))
            .collect();
        let n = s.thresholds.len();
        Ok(match (want_pass, crossed.is_empty()) {
            (true, true) => pass(format!(
                "All {n} threshold{} held: {}.",
                if n == 1 { "" } else { "s" },
                held.join("; ")
            )),
            (true, false) => fail(format!(
                "{} of {n} threshold{} crossed (k6 exits with code 99): {}.",
                crossed.len(),
                if n == 1 { " was" } else { "s were" },
                crossed.join("; ")
            )),
            (false, false) => pass(format!(
                "The run failed its thresholds as it should: {}.",
                crossed.join("; ")
            )),
            (false, true) => fail(format!(
                "Every threshold held ({}), so this run would let the release through.",
                held.join("; ")
            )),
        })
    }

    fn threshold(
        &self,
        run: &str,
        metric: &str,
        stat: Option<&str>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Result<Verdict, String> {
        let plan = self.plan(run)?;
        let Some(t) = plan.thresholds.iter().find(|t| t.key == metric) else {
            let others: Vec<&str> = plan.thresholds.iter().map(|t| t.key.as_str()).collect();
            return Ok(fail(if others.is_empty() {
                format!("The script has no thresholds; none is on {metric}.")
            } else {
                format!(
                    "The script has no threshold on {metric} (it has thresholds on {}).",
                    others.join(", ")
                )
            }));
        };
        let all: Vec<&str> = t.exprs.iter().map(|r| r.expr.source.as_str()).collect();
        let with_stat: Vec<_> = t
            .exprs
            .iter()
            .filter(|r| stat.is_none_or(|s| r.expr.agg.name() == s))
            .collect();
        if with_stat.is_empty() {
            return Ok(fail(format!(
                "The thresholds on {metric} are {}; none uses {}.",
                all.join(", "),
                stat.unwrap_or("")
            )));
        }
        if let Some(r) = with_stat.iter().find(|r| in_range(r.expr.value, min, max)) {
            return Ok(pass(format!("Found {metric}: {}.", r.expr.source)));
        }
        let shown: Vec<&str> = with_stat.iter().map(|r| r.expr.source.as_str()).collect();
        Ok(fail(format!(
            "The threshold on {metric} is {}: its bound should be {}.",
            shown.join(", "),
            range_text(min, max)
        )))
    }

    fn executor(&self, run: &str, executor: &str) -> Result<Verdict, String> {
        let plan = self.plan(run)?;
        if let Some(sc) = plan
            .scenarios
            .iter()
            .find(|s| s.executor.name() == executor)
        {
            return Ok(pass(format!("Scenario “{}” uses {executor}.", sc.name)));
        }
        let used: Vec<String> = plan
            .scenarios
            .iter()
            .map(|s| format!("“{}” uses {}", s.name, s.executor.name()))
            .collect();
        Ok(fail(format!(
            "No scenario uses {executor}: {}.",
            used.join(", ")
        )))
    }

    fn vus(&self, run: &str, min: Option<f64>, max: Option<f64>) -> Result<Verdict, String> {
        let plan = self.plan(run)?;
        let peak: f64 = plan
            .scenarios
            .iter()
            .map(|s| match &s.executor {
                Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. } => 0.0,
                e => f64::from(e.max_vus()),
            })
            .sum();
        let msg = format!(
            "The script schedules up to {} looping VU{}.",
            short(peak),
            if peak == 1.0 { "" } else { "s" }
        );
        Ok(if in_range(peak, min, max) {
            pass(msg)
        } else {
            fail(format!("{msg} Expected {}.", range_text(min, max)))
        })
    }

    fn rate(&self, run: &str, min: Option<f64>, max: Option<f64>) -> Result<Verdict, String> {
        let plan = self.plan(run)?;
        let peak: f64 = plan
            .scenarios
            .iter()
            .map(|s| match &s.executor {
                Executor::ConstantArrivalRate {
                    rate, time_unit, ..
                } => rate / time_unit,
                Executor::RampingArrivalRate {
                    start_rate,
                    time_unit,
                    stages,
                    ..
                } => stages.iter().map(|s| s.target).fold(*start_rate, f64::max) / time_unit,
                _ => 0.0,
            })
            .sum();
        if peak == 0.0 {
            return Ok(fail(
                "The script has no arrival-rate scenario: its VUs loop, so the rate follows the service's speed.",
            ));
        }
        let msg = format!("The arrival rate peaks at {} iterations/s.", short(peak));
        Ok(if in_range(peak, min, max) {
            pass(msg)
        } else {
            fail(format!("{msg} Expected {}.", range_text(min, max)))
        })
    }

    fn k6_checks(&self, run: &str, min_rate: f64) -> Result<Verdict, String> {
        let s = self.finished(run)?;
        let rows = crate::charts::k6_checks(&s.data);
        let passes: i64 = rows.iter().map(|r| r.passes).sum();
        let fails: i64 = rows.iter().map(|r| r.fails).sum();
        if passes + fails == 0 {
            return Ok(fail(
                "The script checks nothing: add check(res, { ... }) after each request.",
            ));
        }
        let rate = passes as f64 / (passes + fails) as f64;
        let failing: Vec<String> = rows
            .iter()
            .filter(|r| r.fails > 0)
            .map(|r| {
                format!(
                    "“{}” failed {} of {} times",
                    r.name,
                    r.fails,
                    r.passes + r.fails
                )
            })
            .collect();
        let summary = format!(
            "{} of {} checks passed ({}%)",
            passes,
            passes + fails,
            short((rate * 10000.0).round() / 100.0)
        );
        Ok(if rate >= min_rate {
            pass(format!("{summary}."))
        } else {
            fail(format!("{summary}: {}.", failing.join("; ")))
        })
    }

    fn metric(
        &self,
        run: &str,
        metric: &str,
        stat: &str,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Result<Verdict, String> {
        let s = self.finished(run)?;
        let m = &s.data["metrics"][metric];
        let Some(v) = m["values"][stat].as_f64() else {
            return Ok(fail(format!(
                "The summary of “{}” has no {stat} for {metric}.",
                self.title(run)
            )));
        };
        let shown = if m["contains"].as_str() == Some("time") {
            human_ms(v)
        } else {
            short(v)
        };
        let msg = format!("{metric} {stat} was {shown}.");
        Ok(if in_range(v, min, max) {
            pass(msg)
        } else {
            fail(format!("{msg} Expected {}.", range_text(min, max)))
        })
    }

    /// The raw answer and its number, or why there is none.
    fn answer_number(&self, file: &str, field: &str) -> Result<(String, f64), String> {
        let raw = self.answer(file, field)?;
        match parse_number(&raw) {
            Some(v) => Ok((raw, v)),
            None => Err(format!("`{field}: {raw}` is not a number.")),
        }
    }

    fn answer(&self, file: &str, field: &str) -> Result<String, String> {
        let answers = parse_answers(self.text(file));
        match answers.get(field) {
            None => Err(format!(
                "{file} has no `{field}:` line; put it back and write your answer after the colon."
            )),
            Some(v) if v.is_empty() => Err(format!("`{field}` is not answered yet.")),
            Some(v) => Ok(v.clone()),
        }
    }

    fn judge_number(&self, field: &str, raw: &str, v: f64, min: f64, max: f64) -> Verdict {
        if (min..=max).contains(&v) {
            pass(format!("`{field}: {raw}` matches the runs."))
        } else {
            fail(format!("`{field}: {raw}` is not what the runs show."))
        }
    }

    fn answer_choice(&self, file: &str, field: &str, accept: &[String]) -> Result<Verdict, String> {
        let raw = self.answer(file, field)?;
        let got = normalize_choice(&raw);
        Ok(if accept.iter().any(|a| normalize_choice(a) == got) {
            pass(format!("`{field}: {raw}` is what the data shows."))
        } else {
            fail(format!("`{field}: {raw}` is not what the data shows."))
        })
    }

    fn answer_query(
        &mut self,
        file: &str,
        field: &str,
        run: &str,
        query: &str,
        at: Option<f64>,
        tolerance: f64,
    ) -> Result<Verdict, String> {
        let (raw, v) = self.answer_number(file, field)?;
        let storage = self.storage(run)?;
        let t = at.map_or_else(|| newest(&storage), |s| (s * 1000.0).round() as i64);
        let expected = match instant_query_with(&storage, query, t, &self.queries) {
            Ok(Value::Scalar(x)) => x,
            Ok(Value::Vector(els)) if els.len() == 1 => els[0].value,
            Ok(other) => {
                return Err(format!(
                    "the lab's reference query gave {} instead of one number; please tell the course team",
                    other.type_name()
                ))
            }
            Err(e) => return Err(format!("the lab's reference query failed ({e}); please tell the course team")),
        };
        Ok(if (v - expected).abs() <= tolerance {
            pass(format!(
                "`{field}: {raw}` matches the run ({}).",
                format_float((expected * 100.0).round() / 100.0)
            ))
        } else {
            fail(format!(
                "`{field}: {raw}` is more than {} away from what the run measured.",
                short(tolerance)
            ))
        })
    }

    fn learner_query(&self, file: &str) -> Result<String, String> {
        let q = strip_promql_comments(self.text(file));
        if q.trim().is_empty() {
            return Err(format!("{file} is empty: write your PromQL query there."));
        }
        slo_toolkit::promql::parse(&q).map_err(|e| {
            if e.is_limit() {
                format!("Your query in {file} cannot run: {e}")
            } else {
                format!("Your query in {file} does not parse: {e}")
            }
        })?;
        Ok(q)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the check's parameters, passed through"
    )]
    fn promql_matches(
        &mut self,
        id: &str,
        title: &str,
        file: &str,
        run: &str,
        reference: &str,
        step: Option<f64>,
        from: f64,
        tolerance: f64,
    ) -> Result<Verdict, String> {
        let q = self.learner_query(file)?;
        let storage = self.storage(run)?;
        let step_ms = step.map_or_else(
            || {
                self.result(run)
                    .and_then(|r| r.data.as_ref())
                    .map_or(5000, |d| d.step_ms())
            },
            |s| (s * 1000.0).round() as i64,
        );
        let start = (from * 1000.0).round() as i64;
        let end = crate::data::align_up(start, newest(&storage), step_ms.max(1));
        let want = range_query_with(&storage, reference, start, end, step_ms, &self.queries)
            .map_err(|e| {
                format!("the lab's reference query failed ({e}); please tell the course team")
            })?;
        let got = match range_query_with(&storage, &q, start, end, step_ms, &self.queries) {
            Ok(v) => v,
            Err(e) => return Ok(fail(format!("Your query fails on the run's data: {e}"))),
        };
        let mut lines = matrix_lines(&got, "yours ");
        lines.extend(matrix_lines(&want, "reference "));
        self.add_chart(Chart {
            id: id.to_owned(),
            title: format!(
                "{title}: your query and the reference over “{}”",
                self.title(run)
            ),
            unit: String::new(),
            lines,
            reference: None,
            marks: Vec::new(),
        });
        Ok(compare_matrices(&got, &want, tolerance))
    }

    fn promql_top(
        &mut self,
        file: &str,
        run: &str,
        at: f64,
        any_of: &[BTreeMap<String, String>],
        min_series: i64,
    ) -> Result<Verdict, String> {
        let q = self.learner_query(file)?;
        let storage = self.storage(run)?;
        let t = (at * 1000.0).round() as i64;
        let when = fmt_time(at);
        let mut els = match instant_query_with(&storage, &q, t, &self.queries) {
            Ok(Value::Vector(els)) => els,
            Ok(Value::Scalar(_)) => {
                return Ok(fail(format!(
                    "At {when} your query gives a single number; to point at a cause it must compare series (by shard, by token range, ...)."
                )))
            }
            Ok(other) => {
                return Ok(fail(format!(
                    "Your query gives a {}; wrap range selectors in a function such as rate().",
                    other.type_name()
                )))
            }
            Err(e) => return Ok(fail(format!("Your query fails on the run's data: {e}"))),
        };
        els.retain(|e| e.value.is_finite());
        if (els.len() as i64) < min_series {
            return Ok(fail(format!(
                "At {when} your query returns {} series; compare at least {min_series} (one per shard, say) so the odd one stands out.",
                els.len()
            )));
        }
        els.sort_by(|a, b| b.value.total_cmp(&a.value));
        let Some(top) = els.first() else {
            return Ok(fail(format!("At {when} your query returns no data.")));
        };
        let next = els
            .get(1)
            .map(|e| format!(", next {} at {}", label_text(&e.labels), short(e.value)))
            .unwrap_or_default();
        let described = format!(
            "At {when} the highest series of your query is {} at {}{next}",
            label_text(&top.labels),
            short(top.value)
        );
        if els.get(1).is_some_and(|e| e.value >= top.value) {
            return Ok(fail(format!(
                "{described}: the highest series are tied, so the query singles nothing out."
            )));
        }
        let matches = any_of.iter().any(|set| {
            set.iter()
                .all(|(k, v)| top.labels.get(k) == Some(v.as_str()))
        });
        Ok(if matches {
            pass(format!("{described}: it points at the cause."))
        } else {
            fail(format!("{described}: it does not point at the cause."))
        })
    }

    fn replay(&mut self, file: &str, run: &str) -> Result<Rc<Replay>, String> {
        let key = (file.to_owned(), run.to_owned());
        if let Some(r) = self.replays.get(&key) {
            return r.clone();
        }
        let made = self.make_replay(file, run).map(Rc::new);
        if let Ok(r) = &made {
            self.slo_charts(run, r);
        }
        self.replays.insert(key, made.clone());
        made
    }

    fn make_replay(&mut self, file: &str, run: &str) -> Result<Replay, String> {
        let text = self.text(file).to_owned();
        if text.trim().is_empty() {
            return Err(format!("{file} is empty: write your SLO spec there."));
        }
        let slos =
            parse_slo_str(file, &text).map_err(|e| format!("Your SLO spec does not parse: {e}"))?;
        let mut storage = (*self.storage(run)?).clone();
        let end = newest(&storage);
        // Prometheus evaluates rules every minute or so; the first minute
        // has too few samples for any rate.
        let rows = slo_toolkit::slo::timeline::replay_with(
            &slos,
            &mut storage,
            60_000,
            end.max(60_000),
            60_000,
            &self.queries,
        )
        .map_err(|e| format!("Your SLO spec's rules fail on the run's data: {e}"))?;
        Ok(Replay { slos, rows })
    }

    fn slo_charts(&mut self, run: &str, r: &Replay) {
        let title = self.title(run);
        let multi = r.slos.len() > 1;
        let name = |slo: &SloSpec, what: &str| {
            if multi {
                format!("{} {what}", slo.name)
            } else {
                what.to_owned()
            }
        };
        let series =
            |i: usize, f: &dyn Fn(&slo_toolkit::slo::timeline::SloState) -> Option<f64>| {
                r.rows
                    .iter()
                    .filter_map(|row| {
                        let v = f(row.slos.get(i)?)?;
                        v.is_finite().then(|| Point::new(row.t as f64 / 1000.0, v))
                    })
                    .collect::<Vec<_>>()
            };
        let mut marks = Vec::new();
        let mut was: HashMap<(usize, &str), bool> = HashMap::new();
        for row in &r.rows {
            for (i, s) in row.slos.iter().enumerate() {
                for sev in ["page", "ticket"] {
                    let now = s.firing.iter().any(|f| f == sev);
                    let before = was.insert((i, sev), now).unwrap_or(false);
                    if now != before {
                        let who = match r.slos.get(i) {
                            Some(slo) if multi => format!("{}: ", slo.name),
                            _ => String::new(),
                        };
                        marks.push(Mark {
                            t: row.t as f64 / 1000.0,
                            label: format!("{who}{sev} {}", if now { "fired" } else { "resolved" }),
                        });
                    }
                }
            }
        }
        let Some(first) = r.slos.first() else {
            return;
        };
        let mut sli_lines = Vec::new();
        let mut budget_lines = Vec::new();
        let mut burn_lines = Vec::new();
        for (i, slo) in r.slos.iter().enumerate() {
            sli_lines.push(Line {
                name: name(slo, "good events over 5m"),
                points: series(i, &|s| s.sli_error_5m.map(|e| (1.0 - e) * 100.0)),
            });
            budget_lines.push(Line {
                name: name(slo, "budget remaining"),
                points: series(i, &|s| s.budget_remaining.map(|b| b * 100.0)),
            });
            for (w, label) in ["5m", "1h", "6h", "3d"].iter().enumerate() {
                burn_lines.push(Line {
                    name: name(slo, &format!("burn rate {label}")),
                    points: series(i, &|s| s.burn[w]),
                });
            }
        }
        let page_factor = burn_windows(first.period_days)
            .first()
            .map_or(14.4, |w| w.factor);
        let chart = |id: &str, t: String, unit: &str, lines, reference| Chart {
            id: format!("slo-{run}-{id}"),
            title: t,
            unit: unit.into(),
            lines,
            reference,
            marks: marks.clone(),
        };
        let charts = vec![
            chart(
                "sli",
                format!("SLI during “{title}”"),
                "%",
                sli_lines,
                Some(Reference {
                    label: format!("objective {}%", format_float(first.objective * 100.0)),
                    value: first.objective * 100.0,
                }),
            ),
            chart(
                "budget",
                format!("Error budget remaining during “{title}”"),
                "%",
                budget_lines,
                Some(Reference {
                    label: "budget spent".into(),
                    value: 0.0,
                }),
            ),
            chart(
                "burn",
                format!("Burn rates during “{title}”"),
                "×",
                burn_lines,
                Some(Reference {
                    label: format!("page: {}× over 1h and 5m", format_float(page_factor)),
                    value: page_factor,
                }),
            ),
        ];
        for c in charts {
            self.add_chart(c);
        }
    }

    fn add_chart(&mut self, c: Chart) {
        if !self.charts.iter().any(|x| x.id == c.id) {
            self.charts.push(c);
        }
    }

    fn slo_pages(
        &mut self,
        file: &str,
        run: &str,
        after: f64,
        within: f64,
    ) -> Result<Verdict, String> {
        let r = self.replay(file, run)?;
        let prefix = format!("slo-{run}-");
        for c in self.charts.iter_mut().filter(|c| c.id.starts_with(&prefix)) {
            if !c.marks.iter().any(|m| m.label == "incident starts") {
                c.marks.push(Mark {
                    t: after,
                    label: "incident starts".into(),
                });
            }
        }
        let pages = r.page_starts();
        let after_ms = (after * 1000.0).round() as i64;
        let limit = ((after + within) * 1000.0).round() as i64;
        if let Some(early) = pages.iter().find(|t| **t < after_ms) {
            return Ok(fail(format!(
                "Your SLO paged at {}, before the incident started at {}: it pages on normal traffic. Look at what your SLI counts as a bad event.",
                fmt_time(*early as f64 / 1000.0),
                fmt_time(after)
            )));
        }
        match pages.first() {
            None => {
                let peak = r
                    .peak_burn_1h()
                    .map(|(b, t)| {
                        format!(
                            " The 1h burn rate peaked at {} at {}.",
                            short((b * 100.0).round() / 100.0),
                            fmt_time(t as f64 / 1000.0)
                        )
                    })
                    .unwrap_or_default();
                let disabled = r
                    .slos
                    .iter()
                    .all(|s| s.alerting.as_ref().is_none_or(|a| a.page.is_none()));
                Ok(fail(format!(
                    "No page alert fired during the incident.{peak}{}",
                    if disabled {
                        " Your spec has no page alert enabled."
                    } else {
                        ""
                    }
                )))
            }
            Some(&t) if t > limit => Ok(fail(format!(
                "The page fired at {}, {} after the incident started; the on-call engineer needed it within {}.",
                fmt_time(t as f64 / 1000.0),
                fmt_time((t - after_ms) as f64 / 1000.0),
                fmt_time(within)
            ))),
            Some(&t) => Ok(pass(format!(
                "Paged at {}, {} after the incident started.",
                fmt_time(t as f64 / 1000.0),
                fmt_time((t - after_ms) as f64 / 1000.0)
            ))),
        }
    }

    fn slo_quiet(&mut self, file: &str, run: &str) -> Result<Verdict, String> {
        let r = self.replay(file, run)?;
        let pages = r.page_starts();
        Ok(match pages.first() {
            None => pass(format!("No page alert fired during “{}”.", self.title(run))),
            Some(t) => {
                let burn = r
                    .rows
                    .iter()
                    .find(|row| row.t == *t)
                    .and_then(|row| row.slos.iter().filter_map(|s| s.burn[1]).reduce(f64::max))
                    .map(|b| format!(" (1h burn rate {})", short((b * 100.0).round() / 100.0)))
                    .unwrap_or_default();
                fail(format!(
                    "Your SLO paged at {}{burn} during “{}”: someone is woken up for nothing.",
                    fmt_time(*t as f64 / 1000.0),
                    self.title(run)
                ))
            }
        })
    }

    fn gate(
        &mut self,
        file: &str,
        sli: &str,
        run: &str,
        expect: &str,
        history: &[String],
        window: f64,
    ) -> Result<Verdict, String> {
        let slo_text = self.text(file).to_owned();
        if slo_text.trim().is_empty() {
            return Err(format!("{file} is empty: write your quality gate there."));
        }
        let slo = SloFile::parse(file, &slo_text)
            .map_err(|e| format!("Your quality gate does not parse: {e}"))?;
        let sli_file = SliFile::parse(sli, self.text(sli))
            .map_err(|e| format!("The SLI file does not parse: {e}"))?;
        let chain: Vec<&str> = history
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(run))
            .collect();
        let mut past: Vec<EvaluationResult> = Vec::new();
        for (i, r) in chain.iter().enumerate() {
            let key: GateKey = (
                file.to_owned(),
                sli.to_owned(),
                chain[..=i].iter().map(|s| (*s).to_owned()).collect(),
            );
            let result = match self.gates.get(&key) {
                Some(r) => r.clone(),
                None => {
                    let made = self.evaluate_gate(&slo, &sli_file, r, window, &past, &chain[..i]);
                    self.gates.insert(key, made.clone());
                    made
                }
            }?;
            past.push((*result).clone());
        }
        let result = past.last().ok_or("no evaluation")?;
        let failing: Vec<String> = result
            .objectives
            .iter()
            .filter(|o| o.status != "pass" && o.status != "info")
            .map(|o| {
                format!(
                    "{} = {} ({})",
                    o.display_name,
                    o.value.map_or_else(
                        || o.error.clone().unwrap_or_else(|| "no value".into()),
                        short
                    ),
                    o.status
                )
            })
            .collect();
        let detail = if failing.is_empty() {
            String::new()
        } else {
            format!("; not passing: {}", failing.join(", "))
        };
        let msg = format!(
            "The gate gives {} on “{}” (score {}%){detail}.",
            result.result,
            self.title(run),
            short((result.score * 10.0).round() / 10.0)
        );
        Ok(if result.result == expect {
            pass(msg)
        } else {
            fail(msg)
        })
    }

    fn evaluate_gate(
        &mut self,
        slo: &SloFile,
        sli: &SliFile,
        run: &str,
        window: f64,
        past: &[EvaluationResult],
        compared_with: &[&str],
    ) -> Result<Rc<EvaluationResult>, String> {
        let storage = self.storage(run)?;
        let t = newest(&storage);
        let queries = sli.queries(window.round() as i64, &BTreeMap::new());
        let measured = measure_with(&storage, &queries, t, &self.queries);
        let result = slo.evaluate(&measured, past);
        let title = if compared_with.is_empty() {
            format!("Quality gate on “{}”", self.title(run))
        } else {
            let earlier: Vec<String> = compared_with
                .iter()
                .map(|r| format!("“{}”", self.title(r)))
                .collect();
            format!(
                "Quality gate on “{}”, compared with {}",
                self.title(run),
                earlier.join(", ")
            )
        };
        self.tables.push(gate_table(title, slo, &result));
        Ok(Rc::new(result))
    }

    fn valid(&self, file: &str) -> Result<Verdict, String> {
        let Some(f) = self.lab.files.iter().find(|f| f.name == file) else {
            return Err(format!("the lab has no file {file}"));
        };
        let text = self.text(file);
        if text.trim().is_empty() && f.kind != FileKind::Answer {
            return Ok(fail(format!("{file} is empty.")));
        }
        Ok(match f.kind {
            FileKind::K6 => {
                match lab_engine::runner::inspect(text, &lab_engine::RunConfig::default()) {
                    Ok(plan) => pass(format!(
                        "The script is valid: {}.",
                        lab_engine::runner::describe(&plan)
                            .lines()
                            .next()
                            .unwrap_or("")
                            .trim()
                            .trim_end_matches(':')
                    )),
                    Err(e) => fail(format!("The script is not valid: {e}")),
                }
            }
            FileKind::Promql => match self.learner_query(file) {
                Ok(_) => pass("The query parses."),
                Err(e) => fail(e),
            },
            FileKind::Sloth | FileKind::Openslo => match parse_slo_str(file, text) {
                Ok(slos) => {
                    let ids: Vec<String> = slos.iter().map(SloSpec::id).collect();
                    pass(format!("The spec defines {}.", ids.join(", ")))
                }
                Err(e) => fail(format!("The spec does not parse: {e}")),
            },
            FileKind::Keptn => match SloFile::parse(file, text) {
                Ok(slo) => pass(format!("The gate has {} objectives.", slo.objectives.len())),
                Err(e) => fail(format!("The gate does not parse: {e}")),
            },
            FileKind::Answer => {
                let answers = parse_answers(text);
                let blank: Vec<String> = parse_answers(&f.starter)
                    .keys()
                    .filter(|k| answers.get(*k).is_none_or(String::is_empty))
                    .cloned()
                    .collect();
                if blank.is_empty() {
                    pass("Every question has an answer.")
                } else {
                    fail(format!("Not answered yet: {}.", blank.join(", ")))
                }
            }
        })
    }
}

/// Compares a learner's range-query result with the reference's.
fn compare_matrices(got: &Value, want: &Value, tolerance: f64) -> Verdict {
    let (Value::Matrix(got), Value::Matrix(want)) = (got, want) else {
        return fail("Your query does not give a series over time.");
    };
    let key = |l: &slo_toolkit::promql::Labels| l.without_metric_name();
    let got_keys: Vec<String> = got.iter().map(|s| label_text(&key(&s.labels))).collect();
    let want_keys: Vec<String> = want.iter().map(|s| label_text(&key(&s.labels))).collect();
    let list = |keys: &[String]| {
        let shown: Vec<&str> = keys.iter().take(4).map(String::as_str).collect();
        let more = if keys.len() > 4 {
            format!(" and {} more", keys.len() - 4)
        } else {
            String::new()
        };
        format!("{}{more}", shown.join(", "))
    };
    if got.is_empty() && !want.is_empty() {
        return fail(
            "Your query returns no data over the run. Check the metric name, the label values and the range.",
        );
    }
    let mut sorted_got = got_keys.clone();
    sorted_got.sort();
    let mut sorted_want = want_keys.clone();
    sorted_want.sort();
    if sorted_got != sorted_want {
        return fail(format!(
            "Your query returns {} series ({}); the reference returns {} ({}). Keep only the labels the SLI needs: aggregate with sum(...) or sum by (...).",
            got.len(),
            list(&got_keys),
            want.len(),
            list(&want_keys)
        ));
    }
    let close = |a: f64, b: f64| {
        (a.is_nan() && b.is_nan())
            || a == b
            || (a - b).abs() <= tolerance * a.abs().max(b.abs())
            || (a - b).abs() <= 1e-12
    };
    let mut steps = 0usize;
    let mut differing = 0usize;
    let mut first: Option<String> = None;
    for w in want {
        let Some(g) = got.iter().find(|g| key(&g.labels) == key(&w.labels)) else {
            continue;
        };
        let theirs: BTreeMap<i64, f64> = g.points.iter().copied().collect();
        let ours: BTreeMap<i64, f64> = w.points.iter().copied().collect();
        let mut times: Vec<i64> = theirs.keys().chain(ours.keys()).copied().collect();
        times.sort_unstable();
        times.dedup();
        for t in times {
            steps += 1;
            let problem = match (theirs.get(&t), ours.get(&t)) {
                (Some(a), Some(b)) if close(*a, *b) => None,
                (Some(a), Some(b)) => Some(format!(
                    "your query gives {} where the reference gives {}",
                    short_value(*a),
                    short_value(*b)
                )),
                (None, Some(b)) => Some(format!(
                    "your query has no value where the reference gives {}",
                    short_value(*b)
                )),
                (Some(a), None) => Some(format!(
                    "your query gives {} where the reference has no value",
                    short_value(*a)
                )),
                (None, None) => None,
            };
            if let Some(p) = problem {
                differing += 1;
                if first.is_none() {
                    let series = label_text(&key(&w.labels));
                    let series = if series == "{}" {
                        String::new()
                    } else {
                        format!(" for {series}")
                    };
                    first = Some(format!("at {}{series} {p}", fmt_time(t as f64 / 1000.0)));
                }
            }
        }
    }
    match first {
        None => pass(format!(
            "Your query matches the reference at all {steps} steps."
        )),
        Some(f) => fail(format!(
            "Your query differs from the reference at {differing} of {steps} steps; first {f}."
        )),
    }
}

fn short_value(v: f64) -> String {
    if v.is_finite() {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format_float(v)
    }
}

fn criteria_text(sets: &Option<Vec<slo_toolkit::gate::CriteriaSet>>) -> String {
    sets.as_ref().map_or_else(String::new, |sets| {
        sets.iter()
            .map(|s| s.criteria.join(" and "))
            .collect::<Vec<_>>()
            .join(" or ")
    })
}

/// A gate evaluation as a table: one row per objective, then the total.
fn gate_table(title: String, slo: &SloFile, result: &EvaluationResult) -> Table {
    let mut rows: Vec<Vec<String>> = result
        .objectives
        .iter()
        .map(|o| {
            let def = slo.objectives.iter().find(|d| d.sli == o.sli);
            let mut name = o.display_name.clone();
            if o.key_sli {
                name.push_str(" (key)");
            }
            let value = match (o.value, &o.error) {
                (Some(v), _) => short(v),
                (None, Some(e)) => e.clone(),
                (None, None) => "no value".into(),
            };
            let mut pass_when = def.map(|d| criteria_text(&d.pass)).unwrap_or_default();
            if let Some(base) = o.compared_value.filter(|_| !pass_when.is_empty()) {
                pass_when.push_str(&format!(" (baseline {})", short(base)));
            }
            vec![
                name,
                value,
                pass_when,
                def.map(|d| criteria_text(&d.warning)).unwrap_or_default(),
                short(o.weight),
                short(o.score),
                o.status.clone(),
            ]
        })
        .collect();
    rows.push(vec![
        "total score".into(),
        String::new(),
        format!(">= {}", slo.total_score.pass.trim()),
        slo.total_score
            .warning
            .as_ref()
            .map_or_else(String::new, |w| format!(">= {}", w.trim())),
        String::new(),
        format!("{}%", short((result.score * 10.0).round() / 10.0)),
        result.result.clone(),
    ]);
    Table {
        title,
        columns: [
            "objective",
            "value",
            "pass when",
            "warning when",
            "weight",
            "score",
            "status",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::data::RunData;
    use crate::grade::{RunEnd, RunResult};

    /// Lab 03 with a made-up "lunch" run: ten minutes of pizza requests.
    fn lab_03() -> (Lab, Vec<RunResult>) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../content/performance-engineering-masterclass/labs/03-slis-in-promql");
        let lab = crate::load::load_lab(&dir, "labs/03").unwrap_or_else(|e| panic!("{e}"));
        let summary = RunSummary {
            exit_code: 0,
            mode: lab_engine::Mode::Sim,
            seed: 3,
            scenario: "lunch-rush".into(),
            duration: 600.0,
            thresholds: Vec::new(),
            aborted: None,
            data: serde_json::Value::Null,
            export: serde_json::Value::Null,
            text: String::new(),
            outputs: BTreeMap::new(),
            series: Vec::new(),
            scrapes: Vec::new(),
            logs: Vec::new(),
        };
        let data = RunData {
            run: "lunch".into(),
            text: concat!(
                "# masterclass run data: run=lunch step_ms=15000 end_ms=600000\n",
                "load 15000ms\n",
                "  http_requests_total{path=\"/api/pizza\",status=\"200\"} 0+100x40\n",
                "  http_requests_total{path=\"/api/pizza\",status=\"500\"} 0+1x40\n",
            )
            .into(),
        };
        let results = lab
            .runs
            .iter()
            .map(|spec| RunResult {
                spec: spec.clone(),
                plan: None,
                end: RunEnd::Done(Box::new(summary.clone())),
                data: Some(data.clone()),
            })
            .collect();
        (lab, results)
    }

    fn message<'a>(o: &'a Outcome, id: &str) -> &'a str {
        o.report
            .steps
            .iter()
            .flat_map(|s| &s.checks)
            .find(|c| c.id == id)
            .map_or("", |c| c.message.as_str())
    }

    #[test]
    fn hostile_learner_queries_fail_their_check_with_a_clear_message() {
        let (lab, results) = lab_03();
        let mut files = BTreeMap::new();
        files.insert(
            "availability.promql".to_owned(),
            format!("1{}", "+1".repeat(20_000)),
        );
        files.insert(
            "latency.promql".to_owned(),
            "count_over_time(vector(1)[30d:1ms])".to_owned(),
        );
        let o = evaluate(&lab, &files, results, false, &CancellationToken::new());
        let m = message(&o, "availability-matches");
        assert!(m.contains("the limit is 16,384 bytes"), "{m}");
        let m = message(&o, "latency-matches");
        assert!(m.contains("11,000 points per timeseries"), "{m}");
        assert!(!o.report.cancelled);
    }

    #[test]
    fn cancelling_stops_the_checks() {
        let (lab, results) = lab_03();
        let mut files = BTreeMap::new();
        // Hundreds of millions of steps at every step of the run if nothing
        // stopped it.
        files.insert(
            "availability.promql".to_owned(),
            "count_over_time(count_over_time(vector(1)[3h:1s])[3h:1s])".to_owned(),
        );
        let cancel = CancellationToken::new();
        let o = std::thread::scope(|scope| {
            let grading = scope.spawn(|| evaluate(&lab, &files, results, false, &cancel));
            cancel.cancel();
            grading.join().expect("no panic")
        });
        // Whether the token was cancelled before the check or during its
        // query, the check says so.
        assert_eq!(message(&o, "availability-matches"), "cancelled");
        assert_eq!(message(&o, "latency-matches"), "cancelled");
        assert!(o.report.cancelled);
        assert!(!o.report.passed);
    }

    #[test]
    fn times_read_naturally() {
        assert_eq!(fmt_time(45.0 * 60.0), "45m");
        assert_eq!(fmt_time(3900.0), "1h05m");
        assert_eq!(fmt_time(150.0), "2m30s");
        assert_eq!(fmt_time(12.0), "12s");
    }

    #[test]
    fn matrices_compare_labels_then_values() {
        use slo_toolkit::promql::{Labels, RangeSeries};
        let series = |labels: Labels, vals: &[(i64, f64)]| RangeSeries {
            labels,
            points: vals.to_vec(),
        };
        let want = Value::Matrix(vec![series(Labels::default(), &[(0, 1.0), (1000, 2.0)])]);
        let same = Value::Matrix(vec![series(
            Labels::new([("__name__", "x")]),
            &[(0, 1.0), (1000, 2.0000000001)],
        )]);
        assert!(compare_matrices(&same, &want, 1e-6).passed);
        let off = Value::Matrix(vec![series(Labels::default(), &[(0, 1.0), (1000, 2.5)])]);
        let v = compare_matrices(&off, &want, 1e-6);
        assert!(!v.passed);
        assert!(
            v.message.contains("at 1s your query gives 2.5"),
            "{}",
            v.message
        );
        let labelled = Value::Matrix(vec![series(
            Labels::new([("path", "/api/pizza")]),
            &[(0, 1.0), (1000, 2.0)],
        )]);
        let v = compare_matrices(&labelled, &want, 1e-6);
        assert!(v.message.contains("sum(...)"), "{}", v.message);
        let v = compare_matrices(&Value::Matrix(vec![]), &want, 1e-6);
        assert!(v.message.contains("no data"), "{}", v.message);
    }
}
