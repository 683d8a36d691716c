//! The course's labs, graded end to end: every lab loads, its solution
//! passes every check, its starter fails exactly the checks the author
//! meant it to fail, and a broken lab directory is refused with the file
//! and line of the mistake.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lab_grader::{grade, load_lab, Lab, Outcome};
use tokio_util::sync::CancellationToken;

fn labs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../content/performance-engineering-masterclass/labs")
}

fn lab_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(labs_dir())
        .expect("the course has a labs folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("lab.yaml").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn load(name: &str) -> Lab {
    let dir = labs_dir().join(name);
    load_lab(&dir, &format!("labs/{name}")).unwrap_or_else(|e| panic!("{e}"))
}

fn files(lab: &Lab, solution: bool) -> BTreeMap<String, String> {
    lab.files
        .iter()
        .map(|f| {
            let text = if solution { &f.solution } else { &f.starter };
            (f.name.clone(), text.clone())
        })
        .collect()
}

async fn grade_files(lab: &Lab, files: &BTreeMap<String, String>) -> Outcome {
    grade(lab, files, CancellationToken::new(), |_| {}).await
}

/// Every failing check as `id: message`, for assertion messages.
fn failures(o: &Outcome) -> Vec<String> {
    o.report
        .steps
        .iter()
        .flat_map(|s| &s.checks)
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.id, c.message))
        .collect()
}

#[test]
fn every_lab_loads() {
    let dirs = lab_dirs();
    assert_eq!(dirs.len(), EXPECTED_LABS.len(), "labs found: {dirs:?}");
    for dir in dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let lab = load(&name);
        assert!(!lab.steps.is_empty());
        assert!(lab.runs.iter().all(|r| !r.id.is_empty()));
        // The app stores labs as JSON and grades from that copy.
        let json = serde_json::to_string(&lab).expect("serializes");
        let back: Lab = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, lab, "{name} survives a JSON round trip");
    }
}

/// The labs, with the checks their starter files fail and a phrase of each
/// failure's message.
const EXPECTED_LABS: &[(&str, &[(&str, &str)])] = &[
    (
        "01-first-load-test",
        &[
            ("load-objective", "p(95)<5: its bound should be exactly 500"),
            ("load-passes", "http_req_duration p(95)<5 (p(95) was"),
        ],
    ),
    (
        "02-find-the-knee",
        &[
            ("closed-ramps", "“closed” uses constant-vus"),
            ("closed-peak", "up to 5 looping VUs. Expected at least 24"),
            ("open-ramps", "“open” uses constant-arrival-rate"),
            ("open-peak", "peaks at 50 iterations/s"),
            ("knee-vus", "not answered yet"),
            ("knee-rps", "not answered yet"),
            ("capacity", "not answered yet"),
            ("explodes", "not answered yet"),
        ],
    ),
    (
        "03-slis-in-promql",
        &[
            (
                "availability-matches",
                "your query gives 0.98 where the reference gives 1",
            ),
            ("latency-matches", "differs from the reference at"),
            ("lowest-minute", "not answered yet"),
            ("budget-remaining", "not answered yet"),
        ],
    ),
    (
        "04-burn-rate-alerts",
        &[("pages-on-outage", "Your spec has no page alert enabled")],
    ),
    (
        "05-quality-gate",
        &[
            ("v2-fails", "The gate gives pass on “Release v2”"),
            ("flaky-fails", "The gate gives pass on “Release v1.1”"),
        ],
    ),
    (
        "06-database-triage",
        &[
            ("cause", "not answered yet"),
            ("shard", "not answered yet"),
            ("proof", "returns 1 series"),
        ],
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solutions_pass_every_check() {
    for (name, _) in EXPECTED_LABS {
        let lab = load(name);
        let o = grade_files(&lab, &files(&lab, true)).await;
        assert!(
            o.report.passed,
            "{name}: the solution fails {:#?}",
            failures(&o)
        );
        assert_eq!(o.report.score, o.report.max_score);
        assert!(!o.report.cancelled);
        assert_eq!(o.data.len(), lab.runs.len(), "{name}: one data set per run");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starters_fail_the_intended_checks() {
    for (name, expected) in EXPECTED_LABS {
        let lab = load(name);
        let o = grade_files(&lab, &files(&lab, false)).await;
        assert!(!o.report.passed, "{name}: the starter passes");
        let failing: Vec<&lab_grader::CheckReport> = o
            .report
            .steps
            .iter()
            .flat_map(|s| &s.checks)
            .filter(|c| !c.passed)
            .collect();
        let ids: Vec<&str> = failing.iter().map(|c| c.id.as_str()).collect();
        let want: Vec<&str> = expected.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, want, "{name}: {:#?}", failures(&o));
        for (id, phrase) in *expected {
            let c = failing.iter().find(|c| c.id == *id).expect("listed");
            assert!(
                c.message.contains(phrase),
                "{name}/{id}: {:?} does not contain {phrase:?}",
                c.message
            );
            assert!(c.expected.is_some(), "{name}/{id} says what it expected");
        }
        assert_eq!(
            o.report.score + i64::try_from(failing.len()).unwrap_or(0),
            o.report.max_score
        );
    }
}
