//! Grading under stress: broken and missing learner files, cancellation,
//! progress events, the learner's query box and the stored run data.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use lab_grader::{grade, load_lab, query_chart, GradeProgress, Lab, Outcome, RunData};
use tokio_util::sync::CancellationToken;

fn load(name: &str) -> Lab {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../content/performance-engineering-masterclass/labs")
        .join(name);
    load_lab(&dir, &format!("labs/{name}")).unwrap_or_else(|e| panic!("{e}"))
}

fn solution(lab: &Lab) -> BTreeMap<String, String> {
    lab.files
        .iter()
        .map(|f| (f.name.clone(), f.solution.clone()))
        .collect()
}

async fn grade_files(lab: &Lab, files: &BTreeMap<String, String>) -> Outcome {
    grade(lab, files, CancellationToken::new(), |_| {}).await
}

fn check<'a>(o: &'a Outcome, id: &str) -> &'a lab_grader::CheckReport {
    o.report
        .steps
        .iter()
        .flat_map(|s| &s.checks)
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

const LABS: [&str; 6] = [
    "01-first-load-test",
    "02-find-the-knee",
    "03-slis-in-promql",
    "04-burn-rate-alerts",
    "05-quality-gate",
    "06-database-triage",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_error_is_reported_once_under_the_files_own_name() {
    let lab = load("01-first-load-test");
    let mut files = solution(&lab);
    let broken = files["load.js"].replace("r.status === 200 });", "r.status === 200 );");
    let line = broken
        .lines()
        .position(|l| l.contains("r.status === 200 );"))
        .map(|i| i + 1)
        .expect("edited");
    files.insert("load.js".into(), broken);
    let o = grade_files(&lab, &files).await;
    // The error is reported once, at the top, under the file's own name and line.
    let error = o.report.error.clone().expect("the report names the error");
    assert!(error.starts_with("load.js could not run: "), "{error}");
    assert!(error.contains("SyntaxError"), "{error}");
    assert!(
        error.contains(&format!("load.js:{line}:")),
        "{error} (line {line})"
    );
    assert!(!error.contains("script.js"), "{error}");
    assert_eq!(error.matches("SyntaxError").count(), 1, "{error}");
    // Every check that needed the script says so in a line, with no hint and no repeat.
    let c = check(&o, "load-runs");
    assert!(!c.passed);
    assert!(c.message.contains("load.js could not run"), "{}", c.message);
    assert!(!c.message.contains("SyntaxError"), "{}", c.message);
    assert!(c.hint.is_none() && c.expected.is_none(), "{c:?}");
    for step in &o.report.steps {
        for c in &step.checks {
            assert!(
                !c.message.contains("SyntaxError"),
                "{}: {}",
                c.id,
                c.message
            );
        }
    }
    // The smoke test is unaffected.
    assert!(check(&o, "smoke-runs").passed);
    let run = o.report.runs.iter().find(|r| r.id == "load").expect("run");
    assert_eq!(run.exit_code, 107);
    assert!(run
        .error
        .as_deref()
        .is_some_and(|e| e.contains("load.js could not run") && !e.contains("SyntaxError")));
    assert!(!o.report.cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_in_every_iteration_fails_run_ok() {
    let lab = load("01-first-load-test");
    let mut files = solution(&lab);
    let broken = files["smoke.js"].replace("  sleep(1);", "  res.nope.deeper;\n  sleep(1);");
    files.insert("smoke.js".into(), broken);
    let o = grade_files(&lab, &files).await;
    let c = check(&o, "smoke-runs");
    assert!(!c.passed, "{}", c.message);
    assert!(
        c.message.contains("iterations threw errors"),
        "{}",
        c.message
    );
    assert!(c.message.contains("deeper"), "{}", c.message);
    assert!(
        c.message.contains("smoke.js:"),
        "the line is named under the file's own name: {}",
        c.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_garbage_files_never_panic() {
    let garbage = [
        String::new(),
        "\u{0}{{{{ ]] :: \n- - -\n\t\"".to_owned(),
        "export default function () { while (true) {} }".to_owned(),
        "a: 1e999999\nb: -\ncause: 99999999999999999999999\nshard: NaN\n".to_owned(),
    ];
    for name in LABS {
        let lab = load(name);
        let o = grade_files(&lab, &BTreeMap::new()).await;
        assert!(!o.report.passed, "{name} passes with no files");
        for c in o.report.steps.iter().flat_map(|s| &s.checks) {
            assert!(!c.message.is_empty(), "{name}/{}: no message", c.id);
            assert_ne!(c.message, "cancelled", "{name}/{}", c.id);
        }
        // Round-trips through JSON: no NaN or infinity hides in a chart.
        // (Floats may come back a bit off: serde_json parses them fast, not exactly.)
        let json = serde_json::to_string(&o).expect("serializes");
        let back: Outcome = serde_json::from_str(&json).expect("deserializes");
        assert!(
            back.report.steps == o.report.steps,
            "{name}: steps change in JSON"
        );
        assert_eq!(back.report.runs.len(), o.report.runs.len());
        for g in &garbage[1..2] {
            let files: BTreeMap<String, String> = lab
                .files
                .iter()
                .map(|f| (f.name.clone(), g.clone()))
                .collect();
            let o = grade_files(&lab, &files).await;
            assert!(!o.report.passed, "{name} passes with garbage");
        }
    }
    // Answers that overflow.
    let lab = load("06-database-triage");
    let files = BTreeMap::from([("diagnosis.yaml".to_owned(), garbage[3].clone())]);
    let o = grade_files(&lab, &files).await;
    assert!(!check(&o, "shard").passed);
    assert!(check(&o, "cause")
        .message
        .contains("not what the data shows"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_that_never_returns_is_stopped() {
    let lab = load("01-first-load-test");
    let mut files = solution(&lab);
    files.insert(
        "smoke.js".into(),
        "export const options = { vus: 1, iterations: 1 };\nexport default function () { while (true) {} }\n".into(),
    );
    let o = grade_files(&lab, &files).await;
    let c = check(&o, "smoke-runs");
    assert!(!c.passed);
    assert!(c.message.contains("stopped early"), "{}", c.message);
    assert!(
        check(&o, "load-passes").passed,
        "the other run is unaffected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grading_is_deterministic() {
    let lab = load("01-first-load-test");
    let a = grade_files(&lab, &solution(&lab)).await;
    let b = grade_files(&lab, &solution(&lab)).await;
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_before_it_starts() {
    let lab = load("02-find-the-knee");
    let cancel = CancellationToken::new();
    cancel.cancel();
    let o = grade(&lab, &solution(&lab), cancel, |_| {}).await;
    assert!(o.report.cancelled);
    assert!(!o.report.passed);
    for c in o.report.steps.iter().flat_map(|s| &s.checks) {
        let reads_a_run = !c.id.starts_with("knee") && c.id != "capacity" && c.id != "explodes";
        if reads_a_run {
            assert!(!c.passed, "{}", c.id);
            assert_eq!(c.message, "cancelled", "{}", c.id);
        } else {
            // Answers do not need a run: they are still graded.
            assert!(c.passed, "{}: {}", c.id, c.message);
        }
    }
    for r in &o.report.runs {
        assert_eq!(r.exit_code, 105);
        assert_eq!(r.error.as_deref(), Some("cancelled"));
    }
    assert!(o.data.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_during_a_run() {
    let lab = load("04-burn-rate-alerts");
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let o = grade(&lab, &solution(&lab), cancel, move |p: GradeProgress| {
        if p.progress.elapsed > 600.0 {
            trigger.cancel();
        }
    })
    .await;
    assert!(o.report.cancelled);
    assert!(!o.report.passed);
    assert!(
        check(&o, "spec-valid").passed,
        "a check without runs is graded"
    );
    assert_eq!(check(&o, "pages-on-outage").message, "cancelled");
    assert_eq!(check(&o, "quiet-on-blip").message, "cancelled");
    let outage = &o.report.runs[0];
    assert_eq!(outage.exit_code, 105, "{outage:?}");
    assert!(
        outage.duration < 4500.0,
        "stopped early: {}",
        outage.duration
    );
    assert_eq!(o.report.runs[1].error.as_deref(), Some("cancelled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_names_each_run_and_ends_where_it_ended() {
    let lab = load("01-first-load-test");
    let seen: Arc<Mutex<Vec<GradeProgress>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let o = grade(&lab, &solution(&lab), CancellationToken::new(), move |p| {
        if let Ok(mut v) = sink.lock() {
            v.push(p);
        }
    })
    .await;
    let seen = seen.lock().expect("lock").clone();
    for (i, run) in o.report.runs.iter().enumerate() {
        let events: Vec<&GradeProgress> = seen.iter().filter(|p| p.run == run.id).collect();
        assert!(!events.is_empty(), "no progress for {}", run.id);
        for e in &events {
            assert_eq!(e.index, i64::try_from(i).expect("small"));
            assert_eq!(e.runs, 2);
            assert_eq!(e.run_title, run.title);
        }
        assert_eq!(
            events[0].progress.elapsed, 0.0,
            "a run announces itself first"
        );
        assert!(events[0].progress.total > 0.0);
        let last = events.last().expect("events");
        assert!((last.progress.elapsed - run.duration).abs() < 1e-9);
        assert!(last.progress.requests > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openslo_spec_works_as_well() {
    let lab = load("04-burn-rate-alerts");
    let spec = r#"apiVersion: openslo/v1
kind: SLO
metadata:
  name: recommendations-availability
spec:
  service: pizza
  description: 99.9% of recommendations succeed.
  budgetingMethod: Occurrences
  timeWindow:
    - duration: 30d
      isRolling: true
  indicator:
    metadata:
      name: recommendations-good-ratio
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: http_requests_total{path="/api/pizza", status!~"5.."}
        total:
          metricSource:
            type: Prometheus
            spec:
              query: http_requests_total{path="/api/pizza"}
  objectives:
    - displayName: availability
      target: 0.999
"#;
    let files = BTreeMap::from([("slo.yaml".to_owned(), spec.to_owned())]);
    let o = grade_files(&lab, &files).await;
    let failing: Vec<String> = o
        .report
        .steps
        .iter()
        .flat_map(|s| &s.checks)
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.id, c.message))
        .collect();
    assert!(o.report.passed, "{failing:#?}");
    // The SLO charts mark the page and the incident.
    let burn = o
        .report
        .charts
        .iter()
        .find(|c| c.id == "slo-outage-burn")
        .expect("burn chart");
    assert!(burn.marks.iter().any(|m| m.label == "page fired"));
    assert!(burn
        .marks
        .iter()
        .any(|m| m.label == "incident starts" && m.t == 2700.0));
    assert_eq!(burn.reference.as_ref().map(|r| r.value), Some(14.4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_have_charts_tables_and_summaries() {
    let lab = load("05-quality-gate");
    let o = grade_files(&lab, &solution(&lab)).await;
    assert_eq!(o.report.tables.len(), 3, "one gate table per evaluated run");
    let v2 = &o.report.tables[1];
    assert!(v2.title.contains("Release v2") && v2.title.contains("compared with"));
    let total = v2.rows.last().expect("total row");
    assert_eq!(total[0], "total score");
    assert_eq!(total.last().map(String::as_str), Some("fail"));
    for run in &o.report.runs {
        let ids: Vec<&str> = run.charts.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                format!("{}-latency", run.id),
                format!("{}-rps", run.id),
                format!("{}-errors", run.id),
                format!("{}-vus", run.id)
            ]
        );
        assert_eq!(run.charts[0].lines.len(), 3);
        assert!(run
            .metrics
            .columns
            .starts_with(&["metric".to_owned(), "avg".to_owned()]));
        let reqs = run
            .metrics
            .rows
            .iter()
            .find(|r| r[0] == "http_reqs")
            .expect("http_reqs row");
        assert_eq!(reqs.len(), run.metrics.columns.len());
        assert!(run.text.contains("http_req_duration"));
    }
    let lab = load("01-first-load-test");
    let o = grade_files(&lab, &solution(&lab)).await;
    let load_run = &o.report.runs[1];
    assert_eq!(
        load_run.charts[0]
            .reference
            .as_ref()
            .map(|r| (r.label.as_str(), r.value)),
        Some(("threshold p(95)<500", 500.0))
    );
    assert_eq!(load_run.thresholds.len(), 2);
    assert!(load_run
        .checks
        .iter()
        .any(|c| c.name == "pizza: status is 200" && c.fails == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_box_charts_a_run() {
    let lab = load("03-slis-in-promql");
    let o = grade_files(&lab, &solution(&lab)).await;
    let data = &o.data[0];
    assert_eq!(data.run, "lunch");
    let chart = query_chart(
        data,
        "sum(rate(http_requests_total{path=\"/api/pizza\"}[5m]))",
    )
    .expect("valid query");
    assert_eq!(chart.lines.len(), 1);
    let points = &chart.lines[0].points;
    assert!(
        points.len() <= 400 && points.len() > 100,
        "{}",
        points.len()
    );
    assert!(points.last().is_some_and(|p| p.t >= 1785.0));
    // 90% of 20 visitors a second ask for a recommendation.
    let steady = points.iter().find(|p| p.t == 600.0).expect("10m");
    assert!((steady.v - 18.0).abs() < 1.0, "{}", steady.v);
    // Comments are allowed, as in the learner's files.
    assert!(query_chart(data, "# total\nsum(http_requests_total)").is_ok());
    let many = query_chart(data, "http_request_duration_seconds_bucket").expect("valid");
    assert_eq!(many.lines.len(), 30);
    assert!(many.title.contains("30 highest"), "{}", many.title);
    let e = query_chart(data, "sum(rate(http_requests_total[5m])").expect_err("unbalanced");
    assert!(e.contains("parse error"), "{e}");
    assert!(query_chart(data, "  ").is_err());
    assert!(query_chart(data, "# only a comment").is_err());
}

#[test]
fn run_data_round_trips_exactly() {
    let script = r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'constant-arrival-rate', rate: 30, timeUnit: '1s', duration: '47s', preAllocatedVUs: 5, maxVUs: 20 } } };
export default function () {
  http.post(`${__ENV.BASE_URL}/api/pizza`, '{"maxNumberOfToppings": 3}', { headers: { Authorization: 'token abcdef0123456789' } });
  http.get(`${__ENV.BASE_URL}/api/ingredients/olive_oil`);
}
"#;
    let cfg = lab_engine::RunConfig {
        scenario: lab_engine::toy::Scenario::builtin("compaction-storm").expect("builtin"),
        scrape_interval: 5.0,
        threads: 1,
        ..lab_engine::RunConfig::default()
    };
    let summary = lab_engine::runner::run_sim_blocking(script, &cfg, |_| {}).expect("runs");
    let data = RunData::from_scrapes("r", &summary.scrapes, 5.0);
    let json = serde_json::to_string(&data).expect("serializes");
    let back: RunData = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, data);
    // Every scraped sample comes back at its time, to the bit.
    let storage = back.storage().expect("loads");
    let mut checked = 0;
    for scrape in &summary.scrapes {
        let t = (scrape.t * 1000.0).round() as i64;
        for (labels, _, v) in
            slo_toolkit::promql::store::parse_exposition(&scrape.text, t).expect("parses")
        {
            let series = storage
                .series()
                .iter()
                .find(|s| s.labels == labels)
                .unwrap_or_else(|| panic!("{labels} is missing"));
            let sample = series
                .samples()
                .iter()
                .find(|s| s.t == t)
                .unwrap_or_else(|| panic!("{labels} has no sample at {t}"));
            assert_eq!(sample.v.to_bits(), v.to_bits(), "{labels} at {t}");
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked}");
    let scraped: usize = summary.scrapes.len();
    let stored: usize = storage.series().iter().map(|s| s.samples().len()).sum();
    assert_eq!(stored, checked, "no sample invented ({scraped} scrapes)");
    // Compact: a fraction of the exposition text it came from.
    let raw: usize = summary.scrapes.iter().map(|s| s.text.len()).sum();
    assert!(
        data.text.len() * 3 < raw,
        "{} of {raw} bytes",
        data.text.len()
    );
    assert_eq!(data.step_ms(), 5000);
    assert!(data.end_ms().is_some_and(|e| e >= 47_000));
}
