//! Command-line glue: `masterclass lab run` and `masterclass toy serve`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::duration::format_duration;
use crate::runner::{run, Mode, Progress, RunConfig};
use crate::toy::{server::serve_until, Scenario};

/// `masterclass lab ...`
#[derive(Debug, clap::Subcommand)]
pub enum LabCommand {
    /// Run a k6 script against the toy service and print k6's summary.
    Run(RunArgs),
}

/// Clock of a lab run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// Simulated time: deterministic for a seed, finishes in seconds.
    Sim,
    /// Real HTTP over loopback in real time.
    Live,
}

/// Arguments of `lab run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The k6 script (an ES module).
    pub script: PathBuf,
    /// Clock: `sim` (deterministic, fast) or `live` (real HTTP, real time).
    #[arg(long, value_enum, default_value = "sim")]
    pub mode: ModeArg,
    /// Seed of every random choice; the same seed gives the same sim result.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Toy-service scenario: a built-in name or a .yaml/.json file.
    #[arg(long, default_value = "baseline")]
    pub scenario: String,
    /// Write k6's end-of-test summary JSON to this file.
    #[arg(long)]
    pub summary_export: Option<PathBuf>,
    /// Environment variable for the script (`__ENV`), as KEY=VALUE; repeatable.
    #[arg(short = 'e', long = "env", value_parser = parse_kv)]
    pub env: Vec<(String, String)>,
    /// Do not print progress.
    #[arg(short, long)]
    pub quiet: bool,
    /// Load this service on this machine instead of the toy service (an
    /// operator's self-test: http://127.0.0.1:PORT; other hosts are refused).
    /// Implies `--mode live`; the script finds it in `__ENV.BASE_URL`.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
}

/// `masterclass toy ...`
#[derive(Debug, clap::Subcommand)]
pub enum ToyCommand {
    /// Serve the QuickPizza-compatible toy service until interrupted.
    Serve {
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 3333)]
        port: u16,
        /// Scenario: a built-in name or a .yaml/.json file.
        #[arg(long, default_value = "baseline")]
        scenario: String,
        /// Seed of the service's randomness.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Loads a scenario by built-in name or from a file.
pub fn load_scenario(spec: &str) -> Result<Scenario, String> {
    let lower = spec.to_ascii_lowercase();
    if lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json") {
        let text = std::fs::read_to_string(spec)
            .map_err(|e| format!("cannot read scenario {spec}: {e}"))?;
        Scenario::from_yaml(&text).map_err(|e| format!("{spec}: {e}"))
    } else {
        Scenario::builtin(spec).map_err(|e| e.to_string())
    }
}

fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "summary".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn progress_line(p: &Progress) -> String {
    format!(
        "running ({}/{}), {:02}/{:02} VUs, {} complete iterations, {:.0} req/s, p95 {:.1}ms, {} failed requests",
        format_duration(p.elapsed),
        format_duration(p.total),
        p.vus,
        p.vus_max,
        p.iterations,
        p.rps,
        p.p95_ms,
        p.errors
    )
}

/// Runs `lab ...` and returns the process exit code (k6's codes for runs).
pub async fn run_lab_command(cmd: LabCommand) -> i32 {
    match cmd {
        LabCommand::Run(args) => run_script(args).await,
    }
}

async fn run_script(args: RunArgs) -> i32 {
    let script = match std::fs::read_to_string(&args.script) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.script.display());
            return 1;
        }
    };
    let scenario = match load_scenario(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let target = match args.target.as_deref().map(crate::runner::loopback_target) {
        None => None,
        Some(Ok(addr)) => Some(addr),
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let mode = match (args.mode, target) {
        (_, Some(_)) | (ModeArg::Live, None) => Mode::Live,
        (ModeArg::Sim, None) => Mode::Sim,
    };
    let cancel = CancellationToken::new();
    let cfg = RunConfig {
        mode,
        seed: args.seed,
        scenario,
        env: args.env.into_iter().collect(),
        cancel: cancel.clone(),
        target,
        ..RunConfig::default()
    };
    let plan = match crate::runner::inspect(&script, &cfg) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ERRO {e}");
            return e.exit_code();
        }
    };
    eprintln!(
        "\n  execution: local ({} mode, seed {})\n     script: {}\n     target: {}\n{}",
        if mode == Mode::Sim { "sim" } else { "live" },
        args.seed,
        args.script.display(),
        match target {
            Some(addr) => format!("http://{addr} (--target)"),
            None => format!("toy service, scenario {}", cfg.scenario.name),
        },
        crate::runner::describe(&plan)
    );
    let ctrl_c = cancel.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    let tty = std::io::stderr().is_terminal();
    let quiet = args.quiet;
    let mut last_print = -10.0;
    let result = run(&script, cfg, move |p: Progress| {
        if quiet {
            return;
        }
        if tty {
            eprint!("\r{}\x1b[K", progress_line(&p));
            let _ = std::io::stderr().flush();
        } else if p.elapsed - last_print >= 10.0 {
            eprintln!("{}", progress_line(&p));
            last_print = p.elapsed;
        }
    })
    .await;
    watcher.abort();
    if tty && !quiet {
        eprintln!();
    }
    match result {
        Ok(summary) => {
            for l in &summary.logs {
                eprintln!("{l}");
            }
            println!("\n{}", summary.text);
            println!(
                "\nrunning ({}), test finished in {} ({} mode)",
                format_duration(summary.duration),
                format_duration(summary.duration),
                if mode == Mode::Sim {
                    "simulated"
                } else {
                    "live"
                }
            );
            if let Some(path) = &args.summary_export {
                if let Err(e) = write_atomically(path, &summary.export_json()) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    return 1;
                }
            }
            for t in summary.thresholds.iter().filter(|t| !t.ok) {
                eprintln!(
                    "ERRO thresholds on metrics '{}' have been crossed: {}",
                    t.metric, t.expression
                );
            }
            if let Some(a) = &summary.aborted {
                eprintln!("ERRO {a}");
            }
            summary.exit_code
        }
        Err(e) => {
            eprintln!("ERRO {e}");
            e.exit_code()
        }
    }
}

/// Runs `toy ...` and returns the process exit code.
pub async fn run_toy_command(cmd: ToyCommand) -> i32 {
    match cmd {
        ToyCommand::Serve {
            port,
            scenario,
            seed,
        } => {
            let scenario = match load_scenario(&scenario) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 1;
                }
            };
            let stop = CancellationToken::new();
            let s2 = stop.clone();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                s2.cancel();
            });
            match serve_until(port, scenario, seed, stop).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: cannot serve on 127.0.0.1:{port}: {e}");
                    1
                }
            }
        }
    }
}
