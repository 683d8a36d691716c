//! Benchmark (not a test): what grading in a sandboxed child costs. Each
//! course lab's solution is graded in-process and in a child (this very
//! binary's `lab-sandbox` mode, as the server does it), taking turns so the
//! machine's drift lands on both sides, and the median ratio is printed.
//!
//! `cargo bench -p masterclass --bench grading_sandbox [-- ROUNDS [LAB_PREFIX]]`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

fn labs(prefix: &str) -> Vec<lab_grader::Lab> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../content/performance-engineering-masterclass/labs");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("labs folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("lab.yaml").is_file())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| lab_grader::load_lab(p, "labs/bench").expect("lab loads"))
        .collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rounds: usize = args.first().and_then(|r| r.parse().ok()).unwrap_or(5);
    let prefix = args.get(1).cloned().unwrap_or_default();
    let sandbox = lab_grader::sandbox::Sandbox::new(
        env!("CARGO_BIN_EXE_masterclass").into(),
        vec!["lab-sandbox".into()],
    );
    println!("grading each lab's solution {rounds} times in-process and in a sandboxed child, taking turns");
    println!(
        "{:<28} {:>12} {:>12} {:>8}",
        "lab", "in-process", "child", "ratio"
    );
    let mut all = Vec::new();
    for lab in labs(&prefix) {
        let files: BTreeMap<String, String> = lab
            .files
            .iter()
            .map(|f| (f.name.clone(), f.solution.clone()))
            .collect();
        let (mut inside, mut child, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            let a = lab_grader::grade(&lab, &files, CancellationToken::new(), |_| {}).await;
            let a_secs = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let b = sandbox
                .grade(&lab, &files, CancellationToken::new(), |_| {})
                .await
                .expect("the child grades");
            let b_secs = t.elapsed().as_secs_f64();
            assert_eq!(
                (a.report.passed, a.report.score),
                (b.report.passed, b.report.score),
                "both sides grade alike"
            );
            inside.push(a_secs);
            child.push(b_secs);
            ratios.push(b_secs / a_secs);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let ratio = median(ratios);
        all.push(ratio);
        println!(
            "{:<28} {:>10.3} s {:>10.3} s {:>8.3}",
            lab.slug,
            median(inside),
            median(child),
            ratio
        );
    }
    if !all.is_empty() {
        println!(
            "median over labs: the child takes {:.3}x the in-process time (goal: under 1.05)",
            median(all)
        );
    }
}
