//! k6 `options`: shortcuts (`vus`, `duration`, `iterations`, `stages`),
//! `scenarios` with executors, and thresholds.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::duration::parse_option_duration;

use super::thresholds::{parse_expression, parse_selector, Expression, Selector};

/// An option k6 would reject.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("invalid options: {0}")]
pub struct OptionsError(pub String);

/// A ramping stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Length in seconds.
    pub duration: f64,
    /// Target VUs or rate at its end.
    pub target: f64,
}

/// A k6 executor with its parameters (durations in seconds).
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    /// A fixed number of VUs looping for a duration.
    ConstantVus {
        /// VUs.
        vus: u32,
        /// Duration.
        duration: f64,
    },
    /// VUs ramped through stages.
    RampingVus {
        /// VUs at the start.
        start_vus: u32,
        /// Stages.
        stages: Vec<Stage>,
        /// Time a ramped-down VU may finish its iteration.
        graceful_ramp_down: f64,
    },
    /// Each VU runs a fixed number of iterations.
    PerVuIterations {
        /// VUs.
        vus: u32,
        /// Iterations per VU.
        iterations: u64,
        /// Upper bound on the scenario's length.
        max_duration: f64,
    },
    /// VUs share a fixed number of iterations.
    SharedIterations {
        /// VUs.
        vus: u32,
        /// Iterations in total.
        iterations: u64,
        /// Upper bound on the scenario's length.
        max_duration: f64,
    },
    /// Iterations started at a fixed rate.
    ConstantArrivalRate {
        /// Iterations per `time_unit`.
        rate: f64,
        /// Seconds.
        time_unit: f64,
        /// Duration.
        duration: f64,
        /// VUs allocated up front.
        pre_allocated: u32,
        /// VUs allowed in total.
        max_vus: u32,
    },
    /// Iterations started at a rate ramped through stages.
    RampingArrivalRate {
        /// Rate at the start.
        start_rate: f64,
        /// Seconds.
        time_unit: f64,
        /// Stages (targets are rates).
        stages: Vec<Stage>,
        /// VUs allocated up front.
        pre_allocated: u32,
        /// VUs allowed in total.
        max_vus: u32,
    },
}

impl Executor {
    /// k6's name for the executor.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ConstantVus { .. } => "constant-vus",
            Self::RampingVus { .. } => "ramping-vus",
            Self::PerVuIterations { .. } => "per-vu-iterations",
            Self::SharedIterations { .. } => "shared-iterations",
            Self::ConstantArrivalRate { .. } => "constant-arrival-rate",
            Self::RampingArrivalRate { .. } => "ramping-arrival-rate",
        }
    }

    /// The most VUs the executor may use.
    pub fn max_vus(&self) -> u32 {
        match self {
            Self::ConstantVus { vus, .. }
            | Self::PerVuIterations { vus, .. }
            | Self::SharedIterations { vus, .. } => *vus,
            Self::RampingVus {
                start_vus, stages, ..
            } => stages
                .iter()
                .map(|s| s.target as u32)
                .max()
                .unwrap_or(0)
                .max(*start_vus),
            Self::ConstantArrivalRate {
                pre_allocated,
                max_vus,
                ..
            }
            | Self::RampingArrivalRate {
                pre_allocated,
                max_vus,
                ..
            } => (*max_vus).max(*pre_allocated),
        }
    }

    /// Scheduled length, without graceful stop.
    pub fn duration(&self) -> f64 {
        match self {
            Self::ConstantVus { duration, .. } | Self::ConstantArrivalRate { duration, .. } => {
                *duration
            }
            Self::RampingVus { stages, .. } | Self::RampingArrivalRate { stages, .. } => {
                stages.iter().map(|s| s.duration).sum()
            }
            Self::PerVuIterations { max_duration, .. }
            | Self::SharedIterations { max_duration, .. } => *max_duration,
        }
    }

    /// A short description for the run header, like k6's.
    pub fn describe(&self, graceful_stop: f64) -> String {
        use crate::duration::format_duration as f;
        let gs = f(graceful_stop);
        match self {
            Self::ConstantVus { vus, duration } => format!("{vus} looping VUs for {} (gracefulStop: {gs})", f(*duration)),
            Self::RampingVus { stages, .. } => format!(
                "Up to {} looping VUs for {} over {} stages (gracefulRampDown: {gs}, gracefulStop: {gs})",
                self.max_vus(),
                f(self.duration()),
                stages.len()
            ),
            Self::PerVuIterations { vus, iterations, max_duration } => format!("{iterations} iterations for each of {vus} VUs (maxDuration: {}, gracefulStop: {gs})", f(*max_duration)),
            Self::SharedIterations { vus, iterations, max_duration } => format!("{iterations} iterations shared among {vus} VUs (maxDuration: {}, gracefulStop: {gs})", f(*max_duration)),
            Self::ConstantArrivalRate { rate, time_unit, duration, pre_allocated, max_vus } => format!(
                "{} iterations/{} for {} (maxVUs: {pre_allocated}-{max_vus}, gracefulStop: {gs})",
                super::metrics::fmt_num(*rate),
                f(*time_unit),
                f(*duration)
            ),
            Self::RampingArrivalRate { stages, pre_allocated, max_vus, .. } => format!(
                "Up to {} iterations/s for {} over {} stages (maxVUs: {pre_allocated}-{max_vus}, gracefulStop: {gs})",
                super::metrics::fmt_num(stages.iter().map(|s| s.target).fold(0.0, f64::max)),
                f(self.duration()),
                stages.len()
            ),
        }
    }
}

/// One scenario of the test.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioPlan {
    /// Scenario name (`default` for shortcut options).
    pub name: String,
    /// Exported function to run.
    pub exec: String,
    /// Executor.
    pub executor: Executor,
    /// Offset from the start of the test, seconds.
    pub start_time: f64,
    /// Time iterations may finish after the end, seconds.
    pub graceful_stop: f64,
    /// Extra tags on every sample.
    pub tags: BTreeMap<String, String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
}

impl ScenarioPlan {
    /// When iterations are no longer started.
    pub fn end(&self) -> f64 {
        self.start_time + self.executor.duration()
    }

    /// When running iterations are interrupted.
    pub fn hard_stop(&self) -> f64 {
        self.end() + self.graceful_stop
    }
}

/// A threshold on one metric or sub-metric.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdSpec {
    /// Metric selector, as written (the key in summaries).
    pub key: String,
    /// Parsed selector.
    pub selector: Selector,
    /// Expressions.
    pub exprs: Vec<ThresholdRule>,
}

/// One threshold expression with its abort settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdRule {
    /// The expression.
    pub expr: Expression,
    /// Abort the test when it fails.
    pub abort_on_fail: bool,
    /// Don't evaluate for abort before this many seconds.
    pub delay_abort_eval: f64,
}

/// Everything the runner needs from `options`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Scenarios, in name order.
    pub scenarios: Vec<ScenarioPlan>,
    /// Thresholds, in key order.
    pub thresholds: Vec<ThresholdSpec>,
    /// Trend stats shown in summaries.
    pub summary_trend_stats: Vec<String>,
    /// Test-wide tags.
    pub tags: BTreeMap<String, String>,
    /// `setupTimeout`, seconds.
    pub setup_timeout: f64,
    /// `teardownTimeout`, seconds.
    pub teardown_timeout: f64,
}

impl Plan {
    /// Largest `hard_stop` over the scenarios.
    pub fn max_end(&self) -> f64 {
        self.scenarios
            .iter()
            .map(ScenarioPlan::hard_stop)
            .fold(0.0, f64::max)
    }

    /// Scheduled length of the test, without graceful stops.
    pub fn scheduled(&self) -> f64 {
        self.scenarios
            .iter()
            .map(ScenarioPlan::end)
            .fold(0.0, f64::max)
    }

    /// Sum of the executors' VU needs.
    pub fn total_vus(&self) -> u64 {
        self.scenarios
            .iter()
            .map(|s| u64::from(s.executor.max_vus()))
            .sum()
    }
}

fn err<T>(m: impl Into<String>) -> Result<T, OptionsError> {
    Err(OptionsError(m.into()))
}

fn dur(v: Option<&Value>, what: &str, default: f64) -> Result<f64, OptionsError> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(v) => parse_option_duration(v).map_err(|e| OptionsError(format!("{what}: {e}"))),
    }
}

fn uint(v: Option<&Value>, what: &str, default: u64) -> Result<u64, OptionsError> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= 1e12 => Ok(f as u64),
            _ => err(format!("{what} must be a non-negative integer, got {n}")),
        },
        Some(other) => err(format!("{what} must be a number, got {other}")),
    }
}

fn num(v: Option<&Value>, what: &str, default: f64) -> Result<f64, OptionsError> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .ok_or_else(|| OptionsError(format!("{what} must be a non-negative number"))),
        Some(other) => err(format!("{what} must be a number, got {other}")),
    }
}

fn u32_of(v: u64, what: &str) -> Result<u32, OptionsError> {
    u32::try_from(v).map_err(|_| OptionsError(format!("{what} is too large")))
}

fn stages(v: Option<&Value>, what: &str) -> Result<Vec<Stage>, OptionsError> {
    let Some(Value::Array(a)) = v else {
        return err(format!("{what} needs a stages array"));
    };
    a.iter()
        .enumerate()
        .map(|(i, s)| {
            Ok(Stage {
                duration: dur(
                    s.get("duration"),
                    &format!("{what} stage {i} duration"),
                    0.0,
                )?,
                target: num(s.get("target"), &format!("{what} stage {i} target"), 0.0)?,
            })
        })
        .collect()
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(m)) = v {
        for (k, v) in m {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.insert(k.clone(), s);
        }
    }
    out
}

fn executor(name: &str, s: &Value) -> Result<Executor, OptionsError> {
    let w = |f: &str| format!("scenario {name:?}: {f}");
    let kind = s
        .get("executor")
        .and_then(Value::as_str)
        .ok_or_else(|| OptionsError(w("missing executor")))?;
    Ok(match kind {
        "constant-vus" => Executor::ConstantVus {
            vus: u32_of(uint(s.get("vus"), &w("vus"), 1)?, &w("vus"))?,
            duration: {
                let d = dur(s.get("duration"), &w("duration"), 0.0)?;
                if d <= 0.0 {
                    return err(w("constant-vus needs a duration"));
                }
                d
            },
        },
        "ramping-vus" => Executor::RampingVus {
            start_vus: u32_of(uint(s.get("startVUs"), &w("startVUs"), 1)?, &w("startVUs"))?,
            stages: stages(s.get("stages"), &w("ramping-vus"))?,
            graceful_ramp_down: dur(s.get("gracefulRampDown"), &w("gracefulRampDown"), 30.0)?,
        },
        "per-vu-iterations" => Executor::PerVuIterations {
            vus: u32_of(uint(s.get("vus"), &w("vus"), 1)?, &w("vus"))?,
            iterations: uint(s.get("iterations"), &w("iterations"), 1)?,
            max_duration: dur(s.get("maxDuration"), &w("maxDuration"), 600.0)?,
        },
        "shared-iterations" => Executor::SharedIterations {
            vus: u32_of(uint(s.get("vus"), &w("vus"), 1)?, &w("vus"))?,
            iterations: uint(s.get("iterations"), &w("iterations"), 1)?,
            max_duration: dur(s.get("maxDuration"), &w("maxDuration"), 600.0)?,
        },
        "constant-arrival-rate" => {
            let pre = u32_of(
                uint(s.get("preAllocatedVUs"), &w("preAllocatedVUs"), 1)?,
                &w("preAllocatedVUs"),
            )?;
            let d = dur(s.get("duration"), &w("duration"), 0.0)?;
            if d <= 0.0 {
                return err(w("constant-arrival-rate needs a duration"));
            }
            Executor::ConstantArrivalRate {
                rate: num(s.get("rate"), &w("rate"), 0.0)?,
                time_unit: dur(s.get("timeUnit"), &w("timeUnit"), 1.0)?.max(1e-3),
                duration: d,
                pre_allocated: pre,
                max_vus: u32_of(
                    uint(s.get("maxVUs"), &w("maxVUs"), u64::from(pre))?,
                    &w("maxVUs"),
                )?
                .max(pre),
            }
        }
        "ramping-arrival-rate" => {
            let pre = u32_of(
                uint(s.get("preAllocatedVUs"), &w("preAllocatedVUs"), 1)?,
                &w("preAllocatedVUs"),
            )?;
            Executor::RampingArrivalRate {
                start_rate: num(s.get("startRate"), &w("startRate"), 0.0)?,
                time_unit: dur(s.get("timeUnit"), &w("timeUnit"), 1.0)?.max(1e-3),
                stages: stages(s.get("stages"), &w("ramping-arrival-rate"))?,
                pre_allocated: pre,
                max_vus: u32_of(
                    uint(s.get("maxVUs"), &w("maxVUs"), u64::from(pre))?,
                    &w("maxVUs"),
                )?
                .max(pre),
            }
        }
        "externally-controlled" => {
            return err(w(
                "the externally-controlled executor is not available in labs",
            ))
        }
        other => return err(w(&format!("unknown executor {other:?}"))),
    })
}

/// Builds the run plan from the script's exported `options` (as JSON).
pub fn plan(options: &Value) -> Result<Plan, OptionsError> {
    let o = options;
    if !o.is_object() && !o.is_null() {
        return err("options must be an object");
    }
    let mut scenarios = Vec::new();
    if let Some(Value::Object(sc)) = o.get("scenarios") {
        for (name, s) in sc {
            if !s.is_object() {
                return err(format!("scenario {name:?} must be an object"));
            }
            let ex = executor(name, s)?;
            scenarios.push(ScenarioPlan {
                name: name.clone(),
                exec: s
                    .get("exec")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_owned(),
                executor: ex,
                start_time: dur(
                    s.get("startTime"),
                    &format!("scenario {name:?}: startTime"),
                    0.0,
                )?,
                graceful_stop: dur(
                    s.get("gracefulStop"),
                    &format!("scenario {name:?}: gracefulStop"),
                    30.0,
                )?,
                tags: string_map(s.get("tags")),
                env: string_map(s.get("env")),
            });
        }
        if scenarios.is_empty() {
            return err("scenarios is empty");
        }
    } else {
        let vus = uint(o.get("vus"), "vus", 1)?;
        let vus32 = u32_of(vus, "vus")?;
        let duration = dur(o.get("duration"), "duration", 0.0)?;
        let iterations = o.get("iterations").filter(|v| !v.is_null());
        let ex = if let Some(Value::Array(st)) = o
            .get("stages")
            .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()))
        {
            let _ = st;
            Executor::RampingVus {
                start_vus: vus32,
                stages: stages(o.get("stages"), "stages")?,
                graceful_ramp_down: 30.0,
            }
        } else if let Some(it) = iterations {
            Executor::SharedIterations {
                vus: vus32,
                iterations: uint(Some(it), "iterations", 1)?,
                max_duration: if duration > 0.0 { duration } else { 600.0 },
            }
        } else if duration > 0.0 {
            Executor::ConstantVus {
                vus: vus32,
                duration,
            }
        } else {
            Executor::SharedIterations {
                vus: vus32,
                iterations: 1,
                max_duration: 600.0,
            }
        };
        scenarios.push(ScenarioPlan {
            name: "default".into(),
            exec: "default".into(),
            executor: ex,
            start_time: 0.0,
            graceful_stop: 30.0,
            tags: BTreeMap::new(),
            env: BTreeMap::new(),
        });
    }
    if let Executor::SharedIterations {
        vus, iterations, ..
    } = scenarios[0].executor
    {
        if u64::from(vus) > iterations && scenarios.len() == 1 && o.get("scenarios").is_none() {
            return err(format!("the number of iterations ({iterations}) can't be less than the number of VUs ({vus})"));
        }
    }

    let mut thresholds = Vec::new();
    if let Some(t) = o.get("thresholds") {
        let Value::Object(map) = t else {
            return err("thresholds must be an object");
        };
        for (key, list) in map {
            let selector = parse_selector(key).map_err(|e| OptionsError(e.to_string()))?;
            let items: Vec<&Value> = match list {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            let mut exprs = Vec::new();
            for it in items {
                let rule = match it {
                    Value::String(s) => ThresholdRule {
                        expr: parse_expression(s).map_err(|e| OptionsError(e.to_string()))?,
                        abort_on_fail: false,
                        delay_abort_eval: 0.0,
                    },
                    Value::Object(m) => {
                        let src = m.get("threshold").and_then(Value::as_str).ok_or_else(|| {
                            OptionsError(format!(
                                "threshold on {key:?} needs a \"threshold\" string"
                            ))
                        })?;
                        ThresholdRule {
                            expr: parse_expression(src).map_err(|e| OptionsError(e.to_string()))?,
                            abort_on_fail: m
                                .get("abortOnFail")
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                            delay_abort_eval: dur(m.get("delayAbortEval"), "delayAbortEval", 0.0)?,
                        }
                    }
                    other => {
                        return err(format!(
                            "threshold on {key:?} must be a string or object, got {other}"
                        ))
                    }
                };
                exprs.push(rule);
            }
            thresholds.push(ThresholdSpec {
                key: key.clone(),
                selector,
                exprs,
            });
        }
    }
    let summary_trend_stats = match o.get("summaryTrendStats") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => ["avg", "min", "med", "max", "p(90)", "p(95)"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    };
    Ok(Plan {
        scenarios,
        thresholds,
        summary_trend_stats,
        tags: string_map(o.get("tags")),
        setup_timeout: dur(o.get("setupTimeout"), "setupTimeout", 60.0)?,
        teardown_timeout: dur(o.get("teardownTimeout"), "teardownTimeout", 60.0)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shortcuts_map_to_executors() {
        let p = plan(&json!({ "vus": 2, "duration": "20s" })).expect("ok");
        assert_eq!(
            p.scenarios[0].executor,
            Executor::ConstantVus {
                vus: 2,
                duration: 20.0
            }
        );
        let p = plan(&json!({ "stages": [{ "duration": "30s", "target": 10 }, { "duration": "1m", "target": 10 }] })).expect("ok");
        assert!(matches!(
            p.scenarios[0].executor,
            Executor::RampingVus { .. }
        ));
        assert_eq!(p.scheduled(), 90.0);
        let p = plan(&json!({ "vus": 3, "iterations": 9 })).expect("ok");
        assert!(matches!(
            p.scenarios[0].executor,
            Executor::SharedIterations {
                iterations: 9,
                vus: 3,
                ..
            }
        ));
        let p = plan(&json!({})).expect("ok");
        assert!(matches!(
            p.scenarios[0].executor,
            Executor::SharedIterations {
                iterations: 1,
                vus: 1,
                ..
            }
        ));
    }

    #[test]
    fn scenarios_and_thresholds() {
        let p = plan(&json!({
            "scenarios": {
                "browse": { "executor": "constant-arrival-rate", "rate": 10, "timeUnit": "1s", "duration": "1m", "preAllocatedVUs": 5, "maxVUs": 20, "exec": "browse", "startTime": "10s" },
            },
            "thresholds": { "http_req_duration{name:checkout}": [{ "threshold": "p(95)<300", "abortOnFail": true, "delayAbortEval": "10s" }], "checks": ["rate>0.9"] }
        }))
        .expect("ok");
        assert_eq!(p.scenarios[0].exec, "browse");
        assert_eq!(p.scenarios[0].start_time, 10.0);
        assert_eq!(p.thresholds.len(), 2);
        assert!(p
            .thresholds
            .iter()
            .any(|t| t.exprs[0].abort_on_fail && t.exprs[0].delay_abort_eval == 10.0));
        assert!(plan(&json!({ "scenarios": { "x": { "executor": "warp-speed" } } })).is_err());
        assert!(plan(&json!({ "thresholds": { "http_req_duration": ["p95<1"] } })).is_err());
        assert!(plan(&json!({ "duration": "soon" })).is_err());
    }
}
