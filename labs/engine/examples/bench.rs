//! Benchmarks, reported as ratios against a baseline measured in the same run:
//!
//! - live: requests/s of a minimal `http.get` script against the toy service,
//!   versus `wrk` on the same endpoint (goal: at least 0.5 of wrk);
//! - sim: simulated requests per wall-clock second;
//! - memory per VU (peak RSS growth of a many-VU simulated run).
//!
//! `cargo run --release -p lab-engine --example bench`
//!
//! The sim figures depend on the build: the workspace's release profile
//! (16 codegen units, no LTO) leaves the many small calls between the
//! runner and QuickJS's bindings out of line. For the figure the engine can
//! reach, build with LTO (a separate build, kept apart by cargo):
//! `CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 cargo run --release -p lab-engine --example bench`
//! (about 8% fewer instructions per simulated request).

use std::process::Command;
use std::time::Instant;

use lab_engine::runner::{run, run_sim_blocking, Mode, RunConfig};
use lab_engine::toy::{Scenario, ToyServer};

const FAST: &str = "name: fast\nlatency: { median_ms: 0.001, p99_ms: 0.002 }\n";

/// CPU time of the whole process so far (user + system), seconds: on a
/// shared machine, wall time says more about the neighbours than about us.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) in parentheses.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let scenario = match Scenario::from_yaml(FAST) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let secs = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5u32);
    let vus = 8;
    // `BENCH_ONLY=sim` skips the live part (for profiling the simulated clock).
    let only_sim = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "sim");

    if !only_sim {
        live(&scenario, secs, vus).await;
    }
    sim();
}

async fn live(scenario: &Scenario, secs: u32, vus: u32) {
    // Baseline: wrk against the same endpoint of the same service.
    let server = match ToyServer::start(0, scenario.clone(), 1).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start the toy service: {e}");
            std::process::exit(1);
        }
    };
    let url = format!("{}/api/quotes", server.base_url());
    let wrk = Command::new("wrk")
        .args(["-t1", &format!("-c{vus}"), &format!("-d{secs}s"), &url])
        .output();
    let wrk_rps = wrk
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Requests/sec:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        });
    server.shutdown().await;

    let script = format!("import http from 'k6/http';\nexport const options = {{ vus: {vus}, duration: '{secs}s' }};\nexport default function () {{ http.get(`${{__ENV.BASE_URL}}/api/quotes`); }}\n");
    let cfg = RunConfig {
        mode: Mode::Live,
        scenario: scenario.clone(),
        ..RunConfig::default()
    };
    let live_rps = match run(&script, cfg, |_| {}).await {
        Ok(s) => s.export["metrics"]["http_reqs"]["rate"]
            .as_f64()
            .unwrap_or(0.0),
        Err(e) => {
            eprintln!("live run failed: {e}");
            0.0
        }
    };
    match wrk_rps {
        Some(w) => println!(
            "live: runner {live_rps:.0} req/s, wrk {w:.0} req/s, ratio {:.2} (goal >= 0.5)",
            live_rps / w
        ),
        None => println!("live: runner {live_rps:.0} req/s (wrk not available for a baseline)"),
    }
}

fn sim() {
    // Simulated requests per wall-clock second, on one thread (the baseline
    // of this run) and on all cores; both must give the same summary.
    let sim_script = "import http from 'k6/http';\nimport { check } from 'k6';\nexport const options = { vus: 50, duration: '1m' };\nexport default function () { const r = http.get('http://localhost:3333/api/quotes'); check(r, { ok: (r) => r.status === 200 }); }\n";
    let measure = |threads: usize| {
        let cfg = RunConfig {
            scenario: Scenario::baseline(),
            threads,
            ..RunConfig::default()
        };
        let t0 = Instant::now();
        let c0 = cpu_seconds();
        let s = tokio::task::block_in_place(|| run_sim_blocking(sim_script, &cfg, |_| {}));
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - c0;
        s.ok().map(|s| {
            let n = s.export["metrics"]["http_reqs"]["count"]
                .as_f64()
                .unwrap_or(0.0);
            (n, wall, cpu, s.export_json())
        })
    };
    let one = measure(1);
    let all = measure(0);
    if let (Some((n1, w1, c1, j1)), Some((n, w, c, j))) = (one, all) {
        let (rps1, rps) = (n1 / w1, n / w);
        println!("sim, 1 thread: {n1:.0} simulated requests in {w1:.2}s wall ({:.2} us CPU per request) = {rps1:.0} req/s", c1 / n1 * 1e6);
        println!("sim, all threads: {:.2} us CPU per request", c / n * 1e6);
        println!(
            "sim: {n:.0} simulated requests in {w:.2}s wall = {rps:.0} req/s per wall second, {:.2}x one thread, ratio {:.3} of the goal (>= 1,000,000){}",
            rps / rps1,
            rps / 1_000_000.0,
            if j == j1 { "" } else { " -- SUMMARIES DIFFER between 1 thread and all" }
        );
    }

    // Memory per VU: peak RSS growth of a run holding many VUs.
    let before = peak_rss_kib();
    let many = 500;
    let mem_script = format!("import http from 'k6/http';\nexport const options = {{ vus: {many}, iterations: {many} }};\nexport default function () {{ http.get('http://localhost:3333/'); }}\n");
    let cfg = RunConfig::default();
    let _ = tokio::task::block_in_place(|| run_sim_blocking(&mem_script, &cfg, |_| {}));
    let after = peak_rss_kib();
    println!(
        "memory: about {} KiB per VU ({many} VUs, peak RSS {before} -> {after} KiB)",
        after.saturating_sub(before) / many
    );
}
