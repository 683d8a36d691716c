//! Runs every promqltest script under `testdata/promql/`.

use std::path::{Path, PathBuf};

use slo_toolkit::promql::promqltest::{run_test_script_with, EPSILON};

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/promql");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata/promql exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    files
}

fn run_all(epsilon: f64) {
    let mut failed = Vec::new();
    for f in scripts() {
        let src = std::fs::read_to_string(&f).expect("readable test file");
        let report = run_test_script_with(&f.display().to_string(), &src, epsilon);
        println!("{report}");
        if !report.passed() {
            failed.push(report.to_string());
        }
    }
    assert!(failed.is_empty(), "failing scripts:\n{}", failed.join("\n"));
}

/// The expectations were cross-checked against Prometheus 2.42 (promtool's
/// rule unit tests print the exact floats it computes).
#[test]
fn all_promqltest_files_pass() {
    run_all(EPSILON);
}
