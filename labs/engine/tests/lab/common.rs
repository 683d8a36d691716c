//! Helpers shared by the integration tests.

use lab_engine::runner::{run, run_sim_blocking, Limits, Mode, RunConfig, RunError, RunSummary};
use lab_engine::toy::Scenario;

/// Runs a script on the simulated clock with a seed.
pub fn sim(script: &str, seed: u64) -> Result<RunSummary, RunError> {
    let cfg = RunConfig {
        seed,
        ..RunConfig::default()
    };
    run_sim_blocking(script, &cfg, |_| {})
}

/// Runs a script on the simulated clock with a scenario.
pub fn sim_with(
    script: &str,
    seed: u64,
    scenario: &str,
    limits: Limits,
) -> Result<RunSummary, RunError> {
    let cfg = RunConfig {
        seed,
        scenario: Scenario::builtin(scenario).unwrap(),
        limits,
        ..RunConfig::default()
    };
    run_sim_blocking(script, &cfg, |_| {})
}

/// Runs a script live against a fresh toy service.
pub async fn live(script: &str, limits: Limits) -> Result<RunSummary, RunError> {
    let cfg = RunConfig {
        mode: Mode::Live,
        limits,
        ..RunConfig::default()
    };
    run(script, cfg, |_| {}).await
}

/// A metric value from the summary export.
pub fn metric(s: &RunSummary, name: &str, field: &str) -> f64 {
    // k6 leaves metrics without samples out of its summaries.
    s.export["metrics"][name][field].as_f64().unwrap_or(0.0)
}

/// Runs a script on the simulated clock with a scenario on `threads` threads.
pub fn sim_threads(
    script: &str,
    seed: u64,
    scenario: &str,
    threads: usize,
) -> Result<RunSummary, RunError> {
    let cfg = RunConfig {
        seed,
        scenario: Scenario::builtin(scenario).unwrap(),
        threads,
        ..RunConfig::default()
    };
    run_sim_blocking(script, &cfg, |_| {})
}
