//! Hostile lab input through the real server (real HTTP, real database, real
//! lab workers grading in their sandboxed children): each attack an outside
//! review used to stop the platform for everyone, and what must hold after it —
//! the server answers, its memory stays bounded, the run ends with a message
//! saying what it reached, and other learners' runs are graded.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use support::{Backend, Person, TestApp, COURSE};

/// The server (this test process) must stay under this whatever one learner sends.
const SERVER_MEMORY_BOUND: u64 = 1024 * 1024 * 1024;

fn lab(slug_prefix: &str) -> lab_grader::Lab {
    let dir = support::repo_content().join(COURSE).join("labs");
    let path = std::fs::read_dir(&dir)
        .expect("labs folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(slug_prefix))
        })
        .expect("the lab exists");
    lab_grader::load_lab(&path, "labs/x").expect("lab loads")
}

/// The lab's solution files.
fn solution(lab: &lab_grader::Lab) -> Vec<(String, String)> {
    with_file(lab, "", "")
}

/// The lab's solution with `name` replaced by `body`.
fn with_file(lab: &lab_grader::Lab, name: &str, body: &str) -> Vec<(String, String)> {
    lab.files
        .iter()
        .map(|f| {
            let text = if f.name == name { body } else { &f.solution };
            (f.name.clone(), text.to_string())
        })
        .collect()
}

async fn start(p: &Person, lab: &lab_grader::Lab, files: &[(String, String)]) -> i64 {
    let mut form: Vec<(String, &str)> =
        vec![("course".into(), COURSE), ("lab".into(), lab.slug.as_str())];
    for (name, body) in files {
        form.push((format!("files[{name}]"), body.as_str()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let r = p.call("labs/run", &form).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    Person::json(r).await.as_i64().expect("run id")
}

/// The server still answers, and this process (the server) stayed bounded.
async fn server_alive_and_bounded(app: &TestApp) {
    let r = app.person().get("/healthz").await;
    assert_eq!(r.status(), StatusCode::OK, "the server answers");
    let peak = peak_rss();
    assert!(
        peak < SERVER_MEMORY_BOUND,
        "the server's peak memory was {} MB",
        peak >> 20
    );
}

/// This process's peak resident memory (VmHWM), bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Everything a run's report says, for matching its messages.
fn report_text(v: &Value) -> String {
    v["report"].to_string()
}

/// A load test that asks for a new URL every request: the toy service labels
/// its metrics by route template, so its series stay few and the run is
/// graded as usual.
async fn unique_paths(app: TestApp) {
    let lab = lab("01-");
    let script = r#"
import http from 'k6/http';
export const options = { vus: 20, duration: '60s' };
export default function () {
  http.get(`${__ENV.BASE_URL}/api/ingredients/${Math.random()}${__VU}x${__ITER}`);
}
"#;
    let learner = app.learner("paths@example.com").await;
    let run = start(&learner, &lab, &with_file(&lab, "load.js", script)).await;
    let v = learner.finished_run(run).await;
    assert_eq!(v["status"], "done", "{v}");
    server_alive_and_bounded(&app).await;
    // The run's data holds a bounded number of series however many URLs it hit.
    let data = v["data_runs"][0][0]
        .as_str()
        .expect("a run with data")
        .to_string();
    let r = learner
        .call(
            "labs/query",
            &[
                ("run", &run.to_string()),
                ("data", &data),
                ("query", "count({__name__=~\".+\"})"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let chart = Person::json(r).await;
    let most = chart["lines"][0]["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["v"].as_f64())
        .fold(0.0, f64::max);
    assert!(most > 0.0 && most < 2000.0, "series kept: {most}");
}

/// A custom Trend fed in a tight loop: the samples are capped inside the
/// engine, and the child's memory limit stands behind the cap.
async fn trend_in_a_tight_loop(app: TestApp) {
    let lab = lab("01-");
    let script = r#"
import { Trend, Counter } from 'k6/metrics';
const t = new Trend('hoard');
const c = new Counter('tags');
export const options = { vus: 2, duration: '30s' };
export default function () {
  for (let i = 0; i < 1e9; i++) { t.add(i); c.add(1, { id: `${__VU}-${i}` }); }
}
"#;
    let learner = app.learner("trend@example.com").await;
    let run = start(&learner, &lab, &with_file(&lab, "load.js", script)).await;
    let v = learner.finished_run(run).await;
    let text = report_text(&v);
    assert!(
        text.contains("limit"),
        "the run says which limit it reached: {text}"
    );
    assert_eq!(v["report"]["passed"], false);
    server_alive_and_bounded(&app).await;
}

/// 40 KB of `1+1+…+1` as an SLI: refused with the depth it reached.
async fn deep_promql_in_a_file(app: TestApp) {
    let lab = lab("03-");
    let deep = format!("{}1", "1+".repeat(20_000));
    let learner = app.learner("deep@example.com").await;
    let run = start(
        &learner,
        &lab,
        &with_file(&lab, "availability.promql", &deep),
    )
    .await;
    let v = learner.finished_run(run).await;
    assert_eq!(v["report"]["passed"], false);
    let text = report_text(&v);
    assert!(
        text.contains("deep") || text.contains("long") || text.contains("limit"),
        "the learner reads why: {text}"
    );
    server_alive_and_bounded(&app).await;
}

/// The query box: subqueries with a step of a millisecond are refused at
/// once, and the answer says what to change.
async fn query_box_bombs(app: TestApp) {
    let lab = lab("01-");
    let learner = app.learner("bombs@example.com").await;
    let run = start(&learner, &lab, &solution(&lab)).await;
    let v = learner.finished_run(run).await;
    let data = v["data_runs"][0][0]
        .as_str()
        .expect("a run with data")
        .to_string();
    for q in [
        "count_over_time(vector(1)[30d:1ms])",
        "count_over_time(vector(1)[1h:1ms])",
        &format!("{}1", "1+".repeat(900)),
        &format!("{}vector(1){}", "sum(".repeat(600), ")".repeat(600)),
    ] {
        let r = learner
            .call(
                "labs/query",
                &[("run", &run.to_string()), ("data", &data), ("query", q)],
            )
            .await;
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        assert!(status.is_client_error(), "{q:.60}: {status} {body:.300}");
        assert!(!body.trim().is_empty(), "a message for {q:.60}");
    }
    // And an ordinary query still answers.
    let r = learner
        .call(
            "labs/query",
            &[
                ("run", &run.to_string()),
                ("data", &data),
                ("query", "sum(rate(http_requests_total[1m]))"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    server_alive_and_bounded(&app).await;
}

/// Two hostile learners hold both workers; a third learner's ordinary run is
/// still graded, and nothing hostile crossed over into it.
async fn innocent_learner_is_graded(app: TestApp) {
    let first = lab("01-");
    let third = lab("03-");
    let loop_script = r#"
import { Trend } from 'k6/metrics';
const t = new Trend('hoard');
export const options = { vus: 2, duration: '30s' };
export default function () { for (let i = 0; i < 1e9; i++) t.add(i); }
"#;
    let hog = app.learner("hog@example.com").await;
    let deep = app.learner("deeper@example.com").await;
    let innocent = app.learner("innocent@example.com").await;
    let a = start(&hog, &first, &with_file(&first, "load.js", loop_script)).await;
    let b = start(
        &deep,
        &third,
        &with_file(
            &third,
            "availability.promql",
            &format!("{}1", "1+".repeat(20_000)),
        ),
    )
    .await;
    let began = Instant::now();
    let c = start(&innocent, &first, &solution(&first)).await;
    let v = innocent.finished_run(c).await;
    eprintln!(
        "innocent learner graded {:.1} s after two hostile runs were queued",
        began.elapsed().as_secs_f64()
    );
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["report"]["passed"], true, "{}", report_text(&v));
    hog.finished_run(a).await;
    deep.finished_run(b).await;
    server_alive_and_bounded(&app).await;
}

/// A grader program that reads a little of its request, then aborts, as a
/// child that trips a bug nobody has found yet would.
fn aborting_grader(dir: &std::path::Path) -> lab_grader::sandbox::Sandbox {
    let script = dir.join("aborting-grader.sh");
    std::fs::write(&script, "head -c 64 >/dev/null\nkill -ABRT $$\n").expect("script");
    lab_grader::sandbox::Sandbox::new(PathBuf::from("/bin/sh"), vec![script.into()])
}

/// One lab worker whose grader aborts (the folder holds its script).
async fn aborting_worker(app: &TestApp) -> (tempfile::TempDir, Arc<app::labs::worker::LabQueue>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = Arc::new(app::labs::worker::LabQueue::new(
        Duration::from_secs(5),
        aborting_grader(dir.path()),
    ));
    app::labs::worker::spawn(app.db.clone(), queue.clone(), 1).await;
    (dir, queue)
}

async fn run_row(app: &TestApp, run: i64) -> (String, i64, i64) {
    sqlx::query_as("SELECT status, claims, grader_deaths FROM lab_runs WHERE id = $1")
        .bind(run)
        .fetch_one(&app.db)
        .await
        .expect("run row")
}

/// An instance claims a run and dies (its lease runs out); after the
/// restart, the run's grader aborts: two deaths, and the run is failed with
/// the message that says so — never claimed a third time.
async fn crash_loop_ends(app: TestApp) {
    let lab = lab("01-");
    let learner = app.learner("crashy@example.com").await;
    let run = start(&learner, &lab, &solution(&lab)).await;
    // The instance that took it dies at once: its lease runs out in 1 ms.
    let claimed = app::labs::store::claim_next(&app.db, "dead-instance", 1)
        .await
        .expect("claim")
        .expect("the run is queued");
    assert_eq!(claimed.id, run);
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The restarted instance grades with a child that aborts.
    let (_dir, queue) = aborting_worker(&app).await;
    let v = learner.finished_run(run).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert!(
        report_text(&v).contains("stopped the grader twice"),
        "{}",
        report_text(&v)
    );
    // Never claimed a third time, however long the workers keep looking.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, claims, deaths) = run_row(&app, run).await;
    assert_eq!((status.as_str(), claims, deaths), ("failed", 2, 2));
    // The learner may run again, and the platform still answers.
    server_alive_and_bounded(&app).await;
    queue.drain(&app.db, Duration::from_secs(1)).await;
}

/// A child that aborts every time: the first death puts the run back, the
/// second fails it.
async fn aborting_child_twice(app: TestApp) {
    let lab = lab("01-");
    let learner = app.learner("twice@example.com").await;
    let run = start(&learner, &lab, &solution(&lab)).await;
    let (_dir, queue) = aborting_worker(&app).await;
    let v = learner.finished_run(run).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert!(report_text(&v).contains("stopped the grader twice"));
    let (_, claims, deaths) = run_row(&app, run).await;
    assert_eq!((claims, deaths), (2, 2));
    queue.drain(&app.db, Duration::from_secs(1)).await;
}

async fn without_workers(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_custom(backend, |s| s.lab_workers = 0).await
}

macro_rules! on_both_backends {
    ($($name:ident => $spawn:expr;)*) => {
        mod sqlite {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                let app = $spawn(Backend::Sqlite).await.expect("sqlite");
                super::$name(app).await;
            })*
        }
        mod postgres {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                if let Some(app) = $spawn(Backend::Postgres).await {
                    super::$name(app).await;
                }
            })*
        }
    };
}

on_both_backends! {
    unique_paths => TestApp::spawn;
    trend_in_a_tight_loop => TestApp::spawn;
    deep_promql_in_a_file => TestApp::spawn;
    query_box_bombs => TestApp::spawn;
    innocent_learner_is_graded => TestApp::spawn;
    crash_loop_ends => without_workers;
    aborting_child_twice => without_workers;
}
