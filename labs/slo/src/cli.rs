//! Command-line glue: `masterclass promql …` and `masterclass slo …`.
//!
//! The binary embeds these enums as subcommands and calls
//! [`run_promql_command`] / [`run_slo_command`], which print their output and
//! return the process exit code (0 success, 1 failure or bad input).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::gate::{measure, EvaluationResult, Placeholders, SliFile, SloFile};
use crate::promql::promqltest::{load_script_data, parse_duration_ms, run_test_file};
use crate::promql::value::format_timestamp;
use crate::promql::{format_api_float, QueryContext, QueryLimits, Storage, Value};
use crate::slo::{generate_rule_file, parse_slo_file};

/// `masterclass promql …`
#[derive(clap::Subcommand, Debug, Clone, PartialEq)]
pub enum PromqlCommand {
    /// Run promqltest scripts (Prometheus's test format); exit 1 if any eval fails.
    Test {
        /// The `.test` files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Evaluate a PromQL expression over series loaded from files.
    Eval {
        /// The expression.
        query: String,
        /// Series to load: promqltest `load` blocks, or exposition text /
        /// OpenMetrics with timestamps. Repeatable.
        #[arg(long = "data", visible_alias = "load", required = true)]
        data: Vec<PathBuf>,
        /// Instant query time (`10m`, `1h30m`, or seconds). Default: the newest sample.
        #[arg(long)]
        at: Option<String>,
        /// Range query start.
        #[arg(long, requires_all = ["end", "step"], conflicts_with = "at")]
        start: Option<String>,
        /// Range query end.
        #[arg(long, requires_all = ["start", "step"])]
        end: Option<String>,
        /// Range query step.
        #[arg(long, requires_all = ["start", "end"])]
        step: Option<String>,
        /// Print the result as Prometheus's HTTP API JSON.
        #[arg(long)]
        json: bool,
        /// Give up on the query after this long (`30s`, `2m`; `0` for no
        /// limit). Default: 10s, as for a learner's query.
        #[arg(long)]
        timeout: Option<String>,
        /// The most samples the query may hold in memory at once.
        /// Default: 5000000, as for a learner's query.
        #[arg(long)]
        max_samples: Option<usize>,
    },
}

/// `masterclass slo …`
#[derive(clap::Subcommand, Debug, Clone, PartialEq)]
pub enum SloCommand {
    /// Turn a Sloth (prometheus/v1) or OpenSLO (v1alpha, v1) spec into a Prometheus rule file.
    Generate {
        /// The spec file.
        spec: PathBuf,
        /// Write here (atomically) instead of standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Replay series through the generated rules and print, minute by minute,
    /// the SLI, error budget remaining, burn rates and alerts.
    Alerts {
        /// The spec file.
        spec: PathBuf,
        /// Series to replay (see `promql eval --data`).
        #[arg(long = "data", required = true)]
        data: Vec<PathBuf>,
        /// First minute to report (default: the oldest sample).
        #[arg(long)]
        start: Option<String>,
        /// Last minute to report (default: the newest sample).
        #[arg(long)]
        end: Option<String>,
        /// Step between evaluations (default 1m).
        #[arg(long, default_value = "1m")]
        step: String,
    },
    /// Evaluate a Keptn-style quality gate and print the JSON result.
    Gate {
        /// The Keptn `slo.yaml`.
        slo: PathBuf,
        /// The `sli.yaml` with the indicators' PromQL (needs `--data`).
        sli: Option<PathBuf>,
        /// Series the SLI queries run on.
        #[arg(long = "data")]
        data: Vec<PathBuf>,
        /// SLI values given directly, `name=value` (repeatable; wins over queries).
        #[arg(long = "value")]
        values: Vec<String>,
        /// Evaluation time (default: the newest sample).
        #[arg(long)]
        at: Option<String>,
        /// Evaluation window for `$DURATION_SECONDS` (default 5m).
        #[arg(long, default_value = "5m")]
        duration: String,
        /// JSON history of earlier results: read for relative criteria, and
        /// the new result is appended.
        #[arg(long)]
        history: Option<PathBuf>,
    },
}

/// Loads `--data` files into a store.
pub fn load_data_files(paths: &[PathBuf]) -> Result<Storage, String> {
    let mut storage = Storage::new();
    for p in paths {
        let src =
            std::fs::read_to_string(p).map_err(|e| format!("{}: cannot read: {e}", p.display()))?;
        let is_script = src.lines().any(|l| l.trim_start().starts_with("load "));
        if is_script {
            load_script_data(&src, &mut storage).map_err(|e| format!("{}:{e}", p.display()))?;
        } else {
            storage
                .load_timestamped(&src, 0)
                .map_err(|e| format!("{}:{}: {}", p.display(), e.line, e.reason))?;
        }
    }
    Ok(storage)
}

fn parse_time(s: &str, what: &str) -> Result<i64, String> {
    parse_duration_ms(s)
        .ok_or_else(|| format!("--{what}: {s:?} is not a time (e.g. 10m, 1h30m, 600)"))
}

fn newest_sample(storage: &Storage) -> i64 {
    storage
        .series()
        .iter()
        .filter_map(|s| s.samples().last().map(|p| p.t))
        .max()
        .unwrap_or(0)
}

fn oldest_sample(storage: &Storage) -> i64 {
    storage
        .series()
        .iter()
        .filter_map(|s| s.samples().first().map(|p| p.t))
        .min()
        .unwrap_or(0)
}

/// A query short enough to quote in a one-line error.
fn abbreviated(query: &str) -> String {
    const MAX: usize = 80;
    if query.chars().count() <= MAX {
        return query.to_string();
    }
    let head: String = query.chars().take(MAX - 1).collect();
    format!("{head}…")
}

fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("error: {msg}");
    1
}

/// Runs a `promql` subcommand; returns the exit code.
pub fn run_promql_command(cmd: PromqlCommand) -> i32 {
    match cmd {
        PromqlCommand::Test { files } => {
            let mut failed = 0;
            let mut evals = 0;
            for f in &files {
                match run_test_file(f) {
                    Ok(report) => {
                        println!("{report}");
                        evals += report.evals;
                        if !report.passed() {
                            failed += 1;
                        }
                    }
                    Err(e) => {
                        eprintln!("error: {}: {e}", f.display());
                        failed += 1;
                    }
                }
            }
            if failed == 0 {
                println!("ok: {} file(s), {evals} eval(s) passed", files.len());
                0
            } else {
                println!("FAILED: {failed} of {} file(s) failed", files.len());
                1
            }
        }
        PromqlCommand::Eval {
            query,
            data,
            at,
            start,
            end,
            step,
            json,
            timeout,
            max_samples,
        } => {
            let mut limits = QueryLimits::default();
            if let Some(t) = timeout {
                match parse_time(&t, "timeout") {
                    Ok(0) => limits.timeout = None,
                    Ok(ms) => {
                        limits.timeout = Some(Duration::from_millis(ms.unsigned_abs()));
                    }
                    Err(e) => return fail(e),
                }
            }
            if let Some(n) = max_samples {
                limits.max_samples = n;
            }
            let ctx = QueryContext::new(limits);
            let storage = match load_data_files(&data) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let result = match (start, end, step) {
                (Some(s), Some(e), Some(st)) => {
                    let times = parse_time(&s, "start")
                        .and_then(|s| Ok((s, parse_time(&e, "end")?, parse_time(&st, "step")?)));
                    match times {
                        Ok((s, e, st)) => {
                            crate::promql::range_query_with(&storage, &query, s, e, st, &ctx)
                        }
                        Err(e) => return fail(e),
                    }
                }
                _ => {
                    let t = match at.as_deref().map(|a| parse_time(a, "at")).transpose() {
                        Ok(t) => t.unwrap_or_else(|| newest_sample(&storage)),
                        Err(e) => return fail(e),
                    };
                    crate::promql::instant_query_with(&storage, &query, t, &ctx)
                        .map(|v| (v, t))
                        .map(|(v, t)| {
                            if json {
                                println!("{}", api_json(&v, t));
                            }
                            v
                        })
                }
            };
            match result {
                Ok(v) => {
                    if json {
                        if let Value::Matrix(_) = v {
                            println!("{}", api_json(&v, 0));
                        }
                    } else {
                        print!("{v}");
                    }
                    0
                }
                Err(e) => fail(format!("{}: {e}", abbreviated(&query))),
            }
        }
    }
}

fn labels_json(l: &crate::promql::Labels) -> serde_json::Value {
    serde_json::Value::Object(
        l.iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect(),
    )
}

fn ts_json(t: i64) -> serde_json::Value {
    if t % 1000 == 0 {
        serde_json::json!(t / 1000)
    } else {
        serde_json::json!(t as f64 / 1000.0)
    }
}

/// A result in the shape of Prometheus's `/api/v1/query` `data` field.
pub fn api_json(v: &Value, t: i64) -> serde_json::Value {
    match v {
        Value::Scalar(x) => {
            serde_json::json!({"resultType": "scalar", "result": [ts_json(t), format_api_float(*x)]})
        }
        Value::String(s) => serde_json::json!({"resultType": "string", "result": [ts_json(t), s]}),
        Value::Vector(els) => serde_json::json!({
            "resultType": "vector",
            "result": els.iter().map(|e| serde_json::json!({
                "metric": labels_json(&e.labels),
                "value": [ts_json(t), format_api_float(e.value)],
            })).collect::<Vec<_>>(),
        }),
        Value::Matrix(series) => serde_json::json!({
            "resultType": "matrix",
            "result": series.iter().map(|s| serde_json::json!({
                "metric": labels_json(&s.labels),
                "values": s.points.iter().map(|(t, v)| serde_json::json!([ts_json(*t), format_api_float(*v)])).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }),
    }
}

/// Writes `contents` to `path` via a temporary file and a rename, so a
/// failure never leaves a half-written file.
fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Runs an `slo` subcommand; returns the exit code.
pub fn run_slo_command(cmd: SloCommand) -> i32 {
    match cmd {
        SloCommand::Generate { spec, out } => {
            let slos = match parse_slo_file(&spec) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let yaml = match generate_rule_file(&slos).to_yaml() {
                Ok(y) => y,
                Err(e) => return fail(e),
            };
            match out {
                None => {
                    print!("{yaml}");
                    0
                }
                Some(path) => match write_atomically(&path, &yaml) {
                    Ok(()) => {
                        eprintln!("wrote {} ({} SLO(s))", path.display(), slos.len());
                        0
                    }
                    Err(e) => fail(format!("{}: {e}", path.display())),
                },
            }
        }
        SloCommand::Alerts {
            spec,
            data,
            start,
            end,
            step,
        } => {
            let slos = match parse_slo_file(&spec) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let mut storage = match load_data_files(&data) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let times = (|| -> Result<(i64, i64, i64), String> {
                let s = start
                    .as_deref()
                    .map(|s| parse_time(s, "start"))
                    .transpose()?;
                let e = end.as_deref().map(|s| parse_time(s, "end")).transpose()?;
                let st = parse_time(&step, "step")?;
                if st <= 0 {
                    return Err("--step must be positive".into());
                }
                Ok((
                    s.unwrap_or_else(|| oldest_sample(&storage)),
                    e.unwrap_or_else(|| newest_sample(&storage)),
                    st,
                ))
            })();
            let (s, e, st) = match times {
                Ok(t) => t,
                Err(e) => return fail(e),
            };
            match crate::slo::timeline::replay(&slos, &mut storage, s, e, st) {
                Ok(rows) => {
                    print!("{}", crate::slo::timeline::render(&rows));
                    0
                }
                Err(e) => fail(e),
            }
        }
        SloCommand::Gate {
            slo,
            sli,
            data,
            values,
            at,
            duration,
            history,
        } => run_gate(slo, sli, data, values, at, duration, history),
    }
}

fn run_gate(
    slo: PathBuf,
    sli: Option<PathBuf>,
    data: Vec<PathBuf>,
    values: Vec<String>,
    at: Option<String>,
    duration: String,
    history: Option<PathBuf>,
) -> i32 {
    let slo_file = match SloFile::from_path(&slo) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let mut measured: BTreeMap<String, Result<f64, String>> = BTreeMap::new();
    if let Some(sli) = sli {
        // The slo.yaml filter is the only source of placeholder values until
        // the command line gets its own.
        let placeholders = match Placeholders::new(slo_file.filter_values()) {
            Ok(p) => p,
            Err(e) => return fail(format!("{}: filter: {e}", slo.display())),
        };
        let sli_file = match SliFile::from_path_with_placeholders(&sli, &placeholders) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        if data.is_empty() {
            return fail("an sli.yaml needs --data to run its queries on");
        }
        let storage = match load_data_files(&data) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let t = match at.as_deref().map(|a| parse_time(a, "at")).transpose() {
            Ok(t) => t.unwrap_or_else(|| newest_sample(&storage)),
            Err(e) => return fail(e),
        };
        let dur = match parse_time(&duration, "duration") {
            Ok(d) => d / 1000,
            Err(e) => return fail(e),
        };
        let queries = sli_file.queries(dur, &BTreeMap::new());
        measured = measure(&storage, &queries, t);
    }
    for v in &values {
        let Some((name, val)) = v.split_once('=') else {
            return fail(format!("--value {v:?}: expected name=value"));
        };
        match crate::promql::store::parse_float(val.trim()) {
            Some(x) => {
                measured.insert(name.trim().to_string(), Ok(x));
            }
            None => return fail(format!("--value {v:?}: {val:?} is not a number")),
        }
    }
    let mut past: Vec<EvaluationResult> = Vec::new();
    if let Some(h) = &history {
        if h.exists() {
            let text = match std::fs::read_to_string(h) {
                Ok(t) => t,
                Err(e) => return fail(format!("{}: {e}", h.display())),
            };
            past = match serde_json::from_str(&text) {
                Ok(p) => p,
                Err(e) => return fail(format!("{}:{}: {e}", h.display(), e.line())),
            };
        }
    }
    let result = slo_file.evaluate(&measured, &past);
    let json = match serde_json::to_string_pretty(&result) {
        Ok(j) => j,
        Err(e) => return fail(e),
    };
    println!("{json}");
    if let Some(h) = &history {
        past.push(result.clone());
        let text = match serde_json::to_string_pretty(&past) {
            Ok(t) => t,
            Err(e) => return fail(e),
        };
        if let Err(e) = write_atomically(h, &text) {
            return fail(format!("{}: {e}", h.display()));
        }
    }
    if result.result == "fail" {
        1
    } else {
        0
    }
}

/// Prints a timestamp as `HH:MM` from the start of the data (for timelines).
pub fn clock(t: i64) -> String {
    let mins = t.div_euclid(60_000);
    if t % 60_000 == 0 {
        format!("{}h{:02}m", mins / 60, mins % 60)
    } else {
        format!("{}s", format_timestamp(t))
    }
}
