//! The k6-compatible runner: runs a k6 script against the toy service on a
//! simulated clock (deterministic, fast) or live over loopback.

pub mod http;
pub mod metrics;
pub mod options;
pub mod schedule;
pub mod summary;
pub mod thresholds;
pub mod vu;

mod live;
mod sim;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use metrics::SecondPoint;
pub use options::{Executor, Plan};
pub use vu::Limits;

use crate::toy::Scenario;

/// k6's exit codes.
pub mod exit {
    /// Everything passed.
    pub const OK: i32 = 0;
    /// Thresholds were crossed.
    pub const THRESHOLDS_CROSSED: i32 = 99;
    /// Invalid options/configuration.
    pub const INVALID_CONFIG: i32 = 104;
    /// Stopped from outside (cancellation, signal).
    pub const EXTERNAL_ABORT: i32 = 105;
    /// Script error: syntax error or exception in init, setup or teardown.
    pub const SCRIPT_EXCEPTION: i32 = 107;
    /// Aborted by the script (`exec.test.abort()`) or by a sandbox limit.
    pub const SCRIPT_ABORTED: i32 = 108;
}

/// Which clock a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Real HTTP over loopback to the in-process toy service, in real time.
    Live,
    /// The toy service's model on a virtual clock: deterministic and fast.
    #[default]
    Sim,
}

/// How to run a script.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Clock.
    pub mode: Mode,
    /// Seed of every random choice (sim: same seed, same result).
    pub seed: u64,
    /// How the toy service behaves.
    pub scenario: Scenario,
    /// `__ENV` given by the caller (`-e K=V`); `BASE_URL` is added unless set.
    pub env: BTreeMap<String, String>,
    /// Sandbox limits.
    pub limits: Limits,
    /// Seconds of run time between scrapes of the toy service's `/metrics`.
    pub scrape_interval: f64,
    /// Cancel to stop the run cleanly.
    pub cancel: CancellationToken,
    /// Threads a simulated run may use (0: one per core). Results do not
    /// depend on it: the same seed gives the same bytes with any number.
    pub threads: usize,
    /// Live runs only: send the load to this loopback address instead of a
    /// fresh toy service. Set by the operator's `lab run --target`; learners'
    /// runs never carry one (the grader leaves it `None`).
    pub target: Option<std::net::SocketAddr>,
}

/// Parses an operator's `--target`: an `http://` URL on this machine.
/// Anything else is refused: the runner never sends load to other hosts.
pub fn loopback_target(url: &str) -> Result<std::net::SocketAddr, String> {
    let refuse = |why: &str| {
        format!("--target {url:?}: {why}; the runner only loads this machine (http://127.0.0.1:PORT, http://[::1]:PORT or http://localhost:PORT)")
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| refuse("must start with http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    if authority.contains('@') {
        return Err(refuse("must not carry a user name"));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, p) = v6.split_once(']').ok_or_else(|| refuse("is not a URL"))?;
            (h, p.strip_prefix(':').unwrap_or(""))
        }
        None => authority.rsplit_once(':').unwrap_or((authority, "")),
    };
    let port: u16 = if port.is_empty() {
        80
    } else {
        port.parse().map_err(|_| refuse("has a bad port"))?
    };
    let ip: std::net::IpAddr = if host.eq_ignore_ascii_case("localhost") {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        host.parse()
            .map_err(|_| refuse("is not a loopback address"))?
    };
    if !ip.is_loopback() {
        return Err(refuse("is not a loopback address"));
    }
    Ok(std::net::SocketAddr::new(ip, port))
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Sim,
            seed: 1,
            scenario: Scenario::baseline(),
            env: BTreeMap::new(),
            limits: Limits::default(),
            scrape_interval: 5.0,
            cancel: CancellationToken::new(),
            threads: 0,
            target: None,
        }
    }
}

/// A progress report, emitted about once per second of run time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    /// Seconds of run time elapsed.
    pub elapsed: f64,
    /// Scheduled length of the test, seconds (without graceful stops).
    pub total: f64,
    /// Active VUs.
    pub vus: i64,
    /// Most VUs the test may use.
    pub vus_max: i64,
    /// Completed iterations so far.
    pub iterations: i64,
    /// Requests so far.
    pub requests: i64,
    /// Requests per second over the last second.
    pub rps: f64,
    /// p95 of http_req_duration over the last 10 seconds, ms.
    pub p95_ms: f64,
    /// Failed requests so far.
    pub errors: i64,
}

/// One scrape of the toy service's `/metrics`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Scrape {
    /// Seconds since the start of the run (virtual in sim mode).
    pub t: f64,
    /// Prometheus exposition text.
    pub text: String,
}

/// One threshold's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThresholdOutcome {
    /// Metric (with tag filter), e.g. `http_req_duration{name:checkout}`.
    pub metric: String,
    /// Expression, e.g. `p(95)<500`.
    pub expression: String,
    /// Whether it held.
    pub ok: bool,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunSummary {
    /// k6's exit code for this run.
    pub exit_code: i32,
    /// Clock used.
    pub mode: Mode,
    /// Seed used.
    pub seed: u64,
    /// Toy-service scenario name.
    pub scenario: String,
    /// Test run duration, seconds.
    pub duration: f64,
    /// Thresholds and whether they held.
    pub thresholds: Vec<ThresholdOutcome>,
    /// Why the run stopped early, if it did.
    pub aborted: Option<String>,
    /// The data k6 gives `handleSummary`.
    pub data: serde_json::Value,
    /// The `--summary-export` document.
    pub export: serde_json::Value,
    /// The end-of-test text summary (or handleSummary's `stdout`).
    pub text: String,
    /// Other outputs returned by handleSummary (file name -> content); not written by the engine.
    pub outputs: BTreeMap<String, String>,
    /// Per-second series for charts.
    pub series: Vec<SecondPoint>,
    /// Scrapes of the toy service's `/metrics`.
    pub scrapes: Vec<Scrape>,
    /// Console output and warnings (capped).
    pub logs: Vec<String>,
}

impl RunSummary {
    /// The `--summary-export` file content (pretty JSON, stable key order).
    pub fn export_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.export).unwrap_or_else(|_| "{}".into());
        s.push('\n');
        s
    }
}

/// Why a run could not produce a summary.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RunError {
    /// Syntax error or exception in the init context, setup or teardown.
    #[error("{0}")]
    Script(String),
    /// Invalid options.
    #[error("{0}")]
    Options(String),
    /// A sandbox limit refused the run before it started.
    #[error("lab sandbox: {0}")]
    Sandbox(String),
    /// The toy service could not start.
    #[error("toy service: {0}")]
    Toy(String),
}

impl RunError {
    /// k6's exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Script(_) => exit::SCRIPT_EXCEPTION,
            Self::Options(_) | Self::Sandbox(_) => exit::INVALID_CONFIG,
            Self::Toy(_) => exit::SCRIPT_ABORTED,
        }
    }
}

/// Runs `script` (a k6 ES module) and returns its summary. `progress` is
/// called about once per second of run time.
pub async fn run(
    script: &str,
    cfg: RunConfig,
    progress: impl FnMut(Progress) + Send + 'static,
) -> Result<RunSummary, RunError> {
    check_size(script, &cfg.limits)?;
    match cfg.mode {
        Mode::Sim => {
            let script = script.to_owned();
            tokio::task::spawn_blocking(move || sim::run(&script, &cfg, progress))
                .await
                .map_err(|e| RunError::Script(format!("the run crashed: {e}")))?
        }
        Mode::Live => live::run(script, cfg, progress).await,
    }
}

/// Validates a script without running it (init context, options,
/// thresholds, sandbox limits) and returns the plan it would follow. Cheap:
/// one VU's init code runs once. Use it before queueing a run.
pub fn inspect(script: &str, cfg: &RunConfig) -> Result<Plan, RunError> {
    check_size(script, &cfg.limits)?;
    sim::inspect(script, cfg)
}

/// k6's run header for a plan: scenarios, max VUs, max duration.
pub fn describe(plan: &Plan) -> String {
    use crate::duration::format_duration as f;
    let n = plan.scenarios.len();
    let mut out = format!(
        "  scenarios: (100.00%) {n} scenario{}, {} max VUs, {} max duration (incl. graceful stop):\n",
        if n == 1 { "" } else { "s" },
        plan.total_vus(),
        f(plan.max_end())
    );
    for sc in &plan.scenarios {
        let exec = if sc.exec == "default" {
            String::new()
        } else {
            format!(", exec: {}", sc.exec)
        };
        let start = if sc.start_time > 0.0 {
            format!(", startTime: {}", f(sc.start_time))
        } else {
            String::new()
        };
        out.push_str(&format!(
            "           * {}: {}{exec}{start}\n",
            sc.name,
            sc.executor.describe(sc.graceful_stop)
        ));
    }
    out
}

/// Runs a script on the simulated clock, blocking the current thread.
pub fn run_sim_blocking(
    script: &str,
    cfg: &RunConfig,
    progress: impl FnMut(Progress),
) -> Result<RunSummary, RunError> {
    check_size(script, &cfg.limits)?;
    sim::run(script, cfg, progress)
}

/// Shared end-of-run assembly for both clocks.
pub(crate) struct Finish<'a> {
    pub store: &'a mut metrics::Store,
    pub plan: &'a Plan,
    pub duration: f64,
    pub cfg: &'a RunConfig,
    pub aborted: Option<String>,
    pub fatal: Option<String>,
    pub logs: Vec<String>,
    pub scrapes: Vec<Scrape>,
    /// Why the run's metric budget ended it, if it did.
    pub limit: Option<String>,
}

impl Finish<'_> {
    pub(crate) fn summarize(
        self,
        handle_summary: impl FnOnce(&serde_json::Value) -> Result<Option<String>, String>,
    ) -> Result<RunSummary, RunError> {
        let results = summary::evaluate_thresholds(self.store, self.plan, self.duration);
        let (data, export) = summary::build(self.store, self.plan, self.duration, &results);
        let crossed = results.iter().any(|r| !r.ok);
        let mut logs = self.logs;
        let mut outputs = BTreeMap::new();
        let mut text = summary::text_summary(&data, " ");
        match handle_summary(&data) {
            Ok(Some(json)) => {
                if let Ok(serde_json::Value::Object(map)) =
                    serde_json::from_str::<serde_json::Value>(&json)
                {
                    text = String::new();
                    for (k, v) in map {
                        let s = match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        if k == "stdout" {
                            text = s;
                        } else if k == "stderr" {
                            logs.push(s);
                        } else {
                            outputs.insert(k, s);
                        }
                    }
                }
            }
            Ok(None) => {}
            Err(e) => logs.push(format!("[error] handleSummary() failed: {e}")),
        }
        let exit_code = if self.fatal.is_some() {
            exit::SCRIPT_EXCEPTION
        } else if self.cfg.cancel.is_cancelled() {
            exit::EXTERNAL_ABORT
        } else if self.limit.is_some() {
            // Thresholds over a run cut short by a sandbox limit say nothing:
            // the limit is the outcome.
            exit::SCRIPT_ABORTED
        } else if crossed {
            exit::THRESHOLDS_CROSSED
        } else if self.aborted.is_some() {
            exit::SCRIPT_ABORTED
        } else {
            exit::OK
        };
        if let Some(f) = &self.fatal {
            logs.push(format!("[error] {f}"));
        }
        Ok(RunSummary {
            exit_code,
            mode: self.cfg.mode,
            seed: self.cfg.seed,
            scenario: self.cfg.scenario.name.clone(),
            duration: self.duration,
            thresholds: results
                .into_iter()
                .map(|r| ThresholdOutcome {
                    metric: r.key,
                    expression: r.source,
                    ok: r.ok,
                })
                .collect(),
            aborted: self.fatal.or(self.limit).or(self.aborted),
            data,
            export,
            text,
            outputs,
            series: self.store.series(),
            scrapes: self.scrapes,
            logs,
        })
    }
}

/// The plan of the script `first` was made from: its options, checked
/// against the sandbox (threshold sub-metrics registered in `store`), with
/// every scenario's function exported. Returns the plan and the options JSON.
pub(crate) fn open_plan(
    first: &vu::Vu,
    store: &mut metrics::Store,
    limits: &Limits,
) -> Result<(Plan, String), RunError> {
    let opts = first.options_json().map_err(|e| RunError::Script(e.0))?;
    let plan = options::plan(&opts).map_err(|e| RunError::Options(e.to_string()))?;
    prepare(&plan, store, limits)?;
    for sc in &plan.scenarios {
        if !first.has_export(&sc.exec) {
            return Err(RunError::Script(format!(
                "scenario {:?}: function '{}' not found in exports",
                sc.name, sc.exec
            )));
        }
    }
    Ok((plan, opts.to_string()))
}

/// Checks the plan against the sandbox and registers threshold sub-metrics.
pub(crate) fn prepare(
    plan: &Plan,
    store: &mut metrics::Store,
    limits: &Limits,
) -> Result<(), RunError> {
    let vus = plan.total_vus();
    if vus > u64::from(limits.max_vus) {
        return Err(RunError::Sandbox(format!(
            "the test asks for {vus} VUs; labs allow at most {}",
            limits.max_vus
        )));
    }
    if plan.max_end() > limits.max_test_seconds + 60.0 {
        return Err(RunError::Sandbox(format!(
            "the test lasts {}; labs allow at most {}",
            crate::duration::format_duration(plan.scheduled()),
            crate::duration::format_duration(limits.max_test_seconds)
        )));
    }
    for t in &plan.thresholds {
        let id = match store.id(&t.selector.metric) {
            Some(id) => id,
            None => {
                return Err(RunError::Options(format!("invalid threshold on {:?}: no metric with that name (custom metrics must be created in the init context)", t.key)));
            }
        };
        let kind = store.metrics()[id].kind;
        for r in &t.exprs {
            if !kind.supports(r.expr.agg) {
                return Err(RunError::Options(
                    thresholds::ThresholdError::Unsupported {
                        expr: r.expr.source.clone(),
                        metric: t.key.clone(),
                        kind: kind.name(),
                        supported: kind.supported_list(),
                    }
                    .to_string(),
                ));
            }
        }
        if !t.selector.tags.is_empty()
            && !store.add_submetric(id, t.selector.clone(), t.key.clone())
        {
            let why = store.budget().exceeded().unwrap_or("too many sub-metrics");
            return Err(RunError::Sandbox(format!(
                "the thresholds' sub-metrics (one per tag filter): {why}"
            )));
        }
    }
    Ok(())
}

/// Test-wide tags plus scenario tags.
pub(crate) fn scenario_tags(plan: &Plan, sc: &options::ScenarioPlan) -> metrics::Tags {
    let mut t: metrics::Tags = plan
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in &sc.tags {
        t.retain(|(tk, _)| tk != k);
        t.push((k.clone(), v.clone()));
    }
    t
}

/// Prepares a VU's state for an iteration of scenario `scp` starting at `t`.
pub(crate) fn begin_iteration(
    vu: &vu::Vu,
    scp: &options::ScenarioPlan,
    t: f64,
    deadline: f64,
    iter_in_scenario: u64,
) {
    let mut st = vu.state.borrow_mut();
    st.time = t;
    st.deadline = deadline;
    if st.scenario != scp.name {
        st.scenario.clone_from(&scp.name);
    }
    st.executor = scp.executor.name();
    st.scenario_start = scp.start_time;
    st.iter_in_scenario = i64::try_from(iter_in_scenario).unwrap_or(i64::MAX);
    st.groups.clear();
    st.stop.set(false);
    st.stop_reason = None;
}

/// Closes a VU's iteration: whether it was interrupted, and why.
pub(crate) fn end_iteration(vu: &vu::Vu) -> (bool, Option<String>) {
    let mut st = vu.state.borrow_mut();
    st.iter += 1;
    let interrupted = st.stop.get();
    st.stop.set(false);
    (interrupted, st.stop_reason.take())
}

/// Records a completed iteration of `scenario` that ran from `t` to `end`.
pub(crate) fn record_iteration(store: &mut metrics::Store, scenario: &str, t: f64, end: f64) {
    let tags: metrics::Tags = if store.tagged(metrics::ids::ITERATIONS)
        || store.tagged(metrics::ids::ITERATION_DURATION)
    {
        vec![
            ("scenario".to_owned(), scenario.to_owned()),
            ("group".to_owned(), String::new()),
        ]
    } else {
        Vec::new()
    };
    store.add(metrics::ids::ITERATIONS, end, 1.0, &tags);
    store.add(
        metrics::ids::ITERATION_DURATION,
        end,
        (end - t) * 1000.0,
        &tags,
    );
}

/// Requests and failed requests so far, over one or more stores.
pub(crate) fn request_counts(stores: &[&metrics::Store]) -> (i64, i64) {
    let mut reqs = 0i64;
    let mut errors = 0i64;
    for s in stores {
        reqs += s.metrics()[metrics::ids::HTTP_REQS].sink.count() as i64;
        if let metrics::Sink::Rate { trues, .. } = &s.metrics()[metrics::ids::HTTP_REQ_FAILED].sink
        {
            errors += i64::try_from(*trues).unwrap_or(0);
        }
    }
    (reqs, errors)
}

/// Evaluates `abortOnFail` thresholds during the run; returns why to abort.
pub(crate) fn abort_check(store: &mut metrics::Store, plan: &Plan, elapsed: f64) -> Option<String> {
    for t in &plan.thresholds {
        for r in &t.exprs {
            if !r.abort_on_fail || elapsed < r.delay_abort_eval {
                continue;
            }
            let id = store.id(&t.selector.metric)?;
            let m = &mut store.metrics_mut()[id];
            let v = if t.selector.tags.is_empty() {
                m.sink.aggregate(r.expr.agg, elapsed)
            } else {
                m.subs
                    .iter_mut()
                    .find(|(_, k, _)| *k == t.key)
                    .map_or(0.0, |(_, _, s)| s.aggregate(r.expr.agg, elapsed))
            };
            if !r.expr.op.holds(v, r.expr.value) {
                return Some(format!("thresholds on metrics '{}' were crossed ({}); abortOnFail stopped the test prematurely", t.key, r.expr.source));
            }
        }
    }
    None
}

fn check_size(script: &str, limits: &Limits) -> Result<(), RunError> {
    if script.len() > limits.max_script_bytes {
        return Err(RunError::Sandbox(format!(
            "the script is {} bytes; labs accept at most {}",
            script.len(),
            limits.max_script_bytes
        )));
    }
    Ok(())
}

#[cfg(test)]
mod target_tests {
    use super::loopback_target;

    #[test]
    fn only_this_machine_is_a_target() {
        for ok in [
            "http://127.0.0.1:3000",
            "http://127.0.0.1:3000/",
            "http://localhost:8080/courses",
            "http://[::1]:3000",
            "http://127.1.2.3:9",
        ] {
            assert!(loopback_target(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            loopback_target("http://localhost").map(|a| a.port()),
            Ok(80)
        );
        for bad in [
            "https://127.0.0.1:3000",
            "http://10.0.0.1:3000",
            "http://example.com",
            "http://127.0.0.1.nip.io:3000",
            "http://user@127.0.0.1:3000",
            "127.0.0.1:3000",
            "http://[::2]:3000",
            "http://127.0.0.1:99999",
        ] {
            let e = loopback_target(bad).expect_err(bad);
            assert!(e.contains("--target"), "{e}");
        }
    }
}
