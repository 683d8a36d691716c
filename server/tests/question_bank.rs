//! The shipped question bank: large enough, balanced over the blueprint's categories, and
//! teaching — every question explains itself and every wrong answer says why it is wrong.
//! Every numeric key is recomputed here from its formula, through the course's own k6,
//! PromQL, SLO and quality-gate engines where the number is theirs, so the bank cannot
//! drift away from the text or the tools.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use app::exam::draw::Blueprint;
use app::exam::model::{Kind, NumericMatch, Question};
use slo_toolkit::gate::{Criterion, EvaluationResult, SloFile};
use slo_toolkit::promql::{instant_query, promqltest::load_script_data, Storage, Value};

const COURSE: &str = "performance-engineering-masterclass";

fn course_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../content")
        .join(COURSE)
}

fn shipped_bank() -> (Vec<Question>, Blueprint) {
    let (qs, bp) = app::exam::store::read_folder(&course_dir().join("exam")).unwrap_or_else(|p| {
        panic!(
            "the shipped bank does not parse:\n{}",
            p.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    (qs, bp.expect("exam/blueprint.yaml"))
}

fn blank(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(|s| s.trim().is_empty())
}

/// Everything about one question that keeps it from teaching; empty when it does.
fn teaching_problems(q: &Question) -> Vec<String> {
    let mut out = Vec::new();
    if blank(&q.general_feedback) {
        out.push("no general feedback (`####…`)".to_string());
    }
    let mut wrong = |what: &str, feedback: &Option<String>| {
        if blank(feedback) {
            out.push(format!("the wrong answer {what:?} has no feedback"));
        }
    };
    match &q.kind {
        Kind::SingleChoice { options } => options
            .iter()
            .filter(|o| o.weight < 100.0)
            .for_each(|o| wrong(&o.text, &o.feedback)),
        Kind::MultipleResponse { options } => options
            .iter()
            .filter(|o| o.weight <= 0.0)
            .for_each(|o| wrong(&o.text, &o.feedback)),
        Kind::TrueFalse {
            answer,
            feedback_wrong,
            ..
        } => wrong(if *answer { "false" } else { "true" }, feedback_wrong),
        Kind::Numeric { answers } => answers
            .iter()
            .filter(|a| a.weight < 100.0)
            .for_each(|a| wrong(&format!("{:?}", a.matcher), &a.feedback)),
        Kind::ShortAnswer { answers } => answers
            .iter()
            .filter(|a| a.weight < 100.0)
            .for_each(|a| wrong(&a.text, &a.feedback)),
        // Pairs and items cannot carry feedback in GIFT; the general feedback explains them.
        Kind::Ordering { .. } | Kind::Matching { .. } => {}
    }
    out
}

/// The exam's minutes as `course.yaml` shows them on the course page.
fn course_yaml_exam_minutes() -> i64 {
    let text = std::fs::read_to_string(course_dir().join("course.yaml")).expect("course.yaml");
    let exam = text.split("\nexam:\n").nth(1).expect("an exam: block");
    exam.lines()
        .take_while(|l| l.starts_with(' ') || l.is_empty())
        .find_map(|l| l.trim().strip_prefix("minutes:"))
        .and_then(|m| m.trim().parse().ok())
        .expect("exam minutes in course.yaml")
}

#[test]
fn the_shipped_bank_is_large_balanced_and_teaches() {
    let (qs, bp) = shipped_bank();
    assert!(
        qs.len() >= 100,
        "the bank has {} questions, fewer than 100",
        qs.len()
    );

    let mut per_category: BTreeMap<&str, Vec<&Question>> = BTreeMap::new();
    for q in &qs {
        per_category.entry(&q.category).or_default().push(q);
    }
    let drawn: Vec<&str> = bp.draw.iter().map(|d| d.category.as_str()).collect();
    let categories: Vec<&str> = per_category.keys().copied().collect();
    let mut sorted_drawn = drawn.clone();
    sorted_drawn.sort_unstable();
    assert_eq!(
        categories, sorted_drawn,
        "the blueprint draws from exactly the bank's categories"
    );
    assert_eq!(categories.len(), 5, "{categories:?}");
    for (category, list) in &per_category {
        assert!(
            list.len() >= 20,
            "{category} has {} questions, fewer than 20",
            list.len()
        );
        let kinds: std::collections::BTreeSet<&str> = list.iter().map(|q| q.kind.label()).collect();
        assert!(kinds.len() >= 5, "{category} uses only {kinds:?}");
    }
    let kinds: std::collections::BTreeSet<&str> = qs.iter().map(|q| q.kind.label()).collect();
    assert_eq!(kinds.len(), 7, "every supported type is used: {kinds:?}");

    let problems: Vec<String> = qs
        .iter()
        .flat_map(|q| {
            teaching_problems(q)
                .into_iter()
                .map(move |p| format!("{}: {p}", q.key()))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "questions that do not teach:\n{}",
        problems.join("\n")
    );

    assert_eq!(bp.time_limit_minutes, 60, "the exam takes 60 minutes");
    assert_eq!(bp.time_limit_seconds, None);
    assert_eq!(bp.pass_mark_percent, 70.0, "the pass mark is 70%");
    for d in &bp.draw {
        assert_eq!(
            d.count, 8,
            "{} draws {} questions, not 8",
            d.category, d.count
        );
    }
    assert_eq!(bp.draw.iter().map(|d| d.count).sum::<i64>(), 40);
    assert_eq!(
        course_yaml_exam_minutes(),
        bp.time_limit_minutes,
        "course.yaml's exam minutes agree with the blueprint"
    );
}

#[test]
fn the_teaching_check_finds_what_is_missing() {
    let src =
        "$CATEGORY: c\n\n::silent::Which? {\n    =right #fine\n    ~wrong\n}\n\n::tf::Sure? {T}\n";
    let qs = app::exam::gift::parse(src, "c").expect("parses");
    assert_eq!(
        teaching_problems(&qs[0]),
        vec![
            "no general feedback (`####…`)".to_string(),
            "the wrong answer \"wrong\" has no feedback".to_string()
        ]
    );
    assert_eq!(
        teaching_problems(&qs[1]).len(),
        2,
        "{:?}",
        teaching_problems(&qs[1])
    );
}

// ------------------------------------------------------------------ numeric keys

fn promql(data: &str, query: &str, at_ms: i64) -> f64 {
    let mut storage = Storage::new();
    load_script_data(data, &mut storage).expect("data loads");
    match instant_query(&storage, query, at_ms).expect("query runs") {
        Value::Vector(v) if v.len() == 1 => v[0].value,
        Value::Scalar(v) => v,
        other => panic!("{query} returned {other:?}"),
    }
}

fn gate(slo_yaml: &str, values: &[(&str, f64)], history: &[EvaluationResult]) -> EvaluationResult {
    let slo = SloFile::parse("slo.yaml", slo_yaml).expect("slo.yaml");
    let values = values
        .iter()
        .map(|(k, v)| (k.to_string(), Ok(*v)))
        .collect::<BTreeMap<_, _>>();
    slo.evaluate(&values, history)
}

fn equal_weights(n: usize, key: Option<&str>) -> String {
    let mut s = String::from("spec_version: \"1.0\"\nobjectives:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  - sli: \"s{i}\"\n    pass:\n      - criteria:\n          - \"<1\"\n"
        ));
        if key == Some(&format!("s{i}")) {
            s.push_str("    key_sli: true\n");
        }
    }
    s.push_str("total_score:\n  pass: \"90%\"\n  warning: \"75%\"\n");
    s
}

/// The quality-gate module's slo.yaml, as the course teaches it.
const MODULE_SLO: &str = r#"spec_version: "1.0"
comparison:
  compare_with: "several_results"
  number_of_comparison_results: 3
  include_result_with_score: "pass"
  aggregate_function: "avg"
objectives:
  - sli: "response_time_p95"
    pass:
      - criteria:
          - "<600"
          - "<=+10%"
    warning:
      - criteria:
          - "<800"
    weight: 2
  - sli: "error_rate"
    key_sli: true
    pass:
      - criteria:
          - "<0.02"
  - sli: "throughput"
total_score:
  pass: "90%"
  warning: "75%"
"#;

fn burn_factor(period_days: u32, long: &str) -> f64 {
    slo_toolkit::slo::burn_windows(period_days)
        .into_iter()
        .find(|w| w.long == long)
        .expect("window")
        .factor
}

fn past_p95(values: &[f64]) -> Vec<EvaluationResult> {
    let slo = SloFile::parse("slo.yaml", MODULE_SLO).expect("slo.yaml");
    let mut history = Vec::new();
    for v in values {
        let r = gate(
            MODULE_SLO,
            &[
                ("response_time_p95", *v),
                ("error_rate", 0.001),
                ("throughput", 50.0),
            ],
            &history,
        );
        assert_eq!(r.result, "pass", "a passing build for the baseline: {r:?}");
        history.push(r);
    }
    assert!(slo.baseline("response_time_p95", &history).is_some());
    history
}

/// The recomputed value of every numeric question, by key.
fn recomputed() -> BTreeMap<String, f64> {
    let k6 = "k6 and load testing/";
    let slo = "SLIs, SLOs and error budgets/";
    let pq = "Prometheus and PromQL/";
    let gates = "Quality gates and automation/";
    let db = "Database observability/";

    let page_30 = burn_factor(30, "1h");
    assert_eq!(
        page_30, 14.4,
        "the engine's 30-day page factor is the one the course teaches"
    );

    let mut samples = vec![20.0, 22.0, 23.0, 25.0, 26.0, 28.0, 30.0, 34.0, 40.0, 200.0];
    samples.sort_by(f64::total_cmp);
    let skewed: Vec<f64> = std::iter::repeat_n(50.0, 95)
        .chain(std::iter::repeat_n(2000.0, 5))
        .collect();

    let weighted = gate(
        MODULE_SLO,
        &[
            ("response_time_p95", 700.0),
            ("error_rate", 0.001),
            ("throughput", 3.0),
        ],
        &[],
    );
    assert_eq!(weighted.result, "fail", "{weighted:?}");
    let four = gate(
        &equal_weights(4, None),
        &[("s0", 0.0), ("s1", 0.0), ("s2", 0.0), ("s3", 5.0)],
        &[],
    );
    let history = past_p95(&[380.0, 400.0, 420.0]);
    let baseline = SloFile::parse("slo.yaml", MODULE_SLO)
        .expect("slo.yaml")
        .baseline("response_time_p95", &history);
    let relative = Criterion::parse("<=+10%")
        .expect("criterion")
        .target(baseline)
        .expect("target");
    let absolute = Criterion::parse("<600")
        .expect("criterion")
        .target(None)
        .expect("target");

    let entries: Vec<(String, f64)> = vec![
        // k6 and load testing
        (format!("{k6}k6 closed model throughput"), 50.0 / (2.0 + 3.0)),
        (format!("{k6}little's law concurrency"), 200.0 * 0.25),
        (format!("{k6}k6 percentile by hand"), lab_engine::runner::metrics::percentile(&samples, 90.0)),
        (format!("{k6}mean of a skewed distribution"), skewed.iter().sum::<f64>() / skewed.len() as f64),
        (format!("{k6}fan-out meets the tail"), (1.0 - 0.99f64.powi(40)) * 100.0),
        (format!("{k6}VUs for an overloaded arrival rate"), 150.0 * 3.0),
        (format!("{k6}response time from a closed test"), (100.0 / 90.0 - 1.0) * 1000.0),
        // SLIs, SLOs and error budgets
        (format!("{slo}downtime in 30 days at 99.9%"), 30.0 * 24.0 * 60.0 * (1.0 - 0.999)),
        (format!("{slo}burn rate"), 0.0144 / (1.0 - 0.999)),
        (format!("{slo}budget spent by a fast burn"), page_30 * 1.0 / (30.0 * 24.0) * 100.0),
        (format!("{slo}budget minutes at 99.5% over 28 days"), 28.0 * 24.0 * 60.0 * (1.0 - 0.995)),
        (format!("{slo}budget in requests"), 10_000_000.0 * (1.0 - 0.999)),
        (format!("{slo}28-day page factor"), burn_factor(28, "1h")),
        (format!("{slo}page threshold at 99.5%"), page_30 * (1.0 - 0.995) * 100.0),
        (format!("{slo}time to the first page"), 60.0 * page_30 * (1.0 - 0.999) / 0.048),
        (format!("{slo}deploy blip burn rate"), 0.10 * (2.0 / 60.0) / (1.0 - 0.999)),
        // Prometheus and PromQL, through the course's PromQL engine where it computes the number
        (format!("{pq}rate arithmetic"), (700.0 - 100.0) / 300.0),
        (
            format!("{pq}rate with extrapolation"),
            // Samples at 0, 15, 30 and 45 s; evaluated at 57 s, the one-minute window starts at
            // -3 s: the first sample is 3 s into it and the last 12 s before its end.
            promql("load 15s\n  x 200 270 330 380\n", "rate(x[1m])", 57_000),
        ),
        (format!("{pq}share under a bucket boundary"), 9_500.0 / 10_000.0 * 100.0),
        (
            format!("{pq}interpolating a quantile"),
            promql(
                "load 1m\n  b{le=\"0.1\"} 900\n  b{le=\"0.2\"} 980\n  b{le=\"0.4\"} 1000\n  b{le=\"+Inf\"} 1000\n",
                "histogram_quantile(0.95, b)",
                0,
            ),
        ),
        (format!("{pq}mean from sum and count"), 30.0 / 200.0 * 1000.0),
        // Quality gates, through the course's gate engine
        (format!("{gates}gate score"), four.score),
        (format!("{gates}regression percent"), (240.0 - 200.0) / 200.0 * 100.0),
        (format!("{gates}weighted gate score"), weighted.score),
        (format!("{gates}highest p95 that still passes"), relative.min(absolute)),
        // Database observability
        (format!("{db}cache hit ratio"), 9_000.0 / (9_000.0 + 1_000.0) * 100.0),
        (format!("{db}latency from Little's law"), 20.0 / 2_500.0 * 1000.0),
        (format!("{db}waiting near saturation"), 4.0 / (1.0 - 0.8)),
        (format!("{db}fan-out to parallel reads"), (1.0 - 0.99f64.powi(20)) * 100.0),
        (format!("{db}time until the disk fills"), (100.0 - 81.0) / 0.5),
    ];
    for (k, v) in &entries {
        assert!(v.is_finite(), "{k}: {v}");
    }
    entries.into_iter().collect()
}

fn accepts(m: &NumericMatch, v: f64) -> bool {
    match *m {
        NumericMatch::Absolute { value, tolerance } => (v - value).abs() <= tolerance + 1e-9,
        NumericMatch::Relative { value, fraction } => {
            (v - value).abs() <= value.abs() * fraction + 1e-9
        }
        NumericMatch::Range { min, max } => (min - 1e-9..=max + 1e-9).contains(&v),
    }
}

#[test]
fn every_numeric_key_is_recomputed_from_its_formula() {
    let (qs, _) = shipped_bank();
    let expected = recomputed();
    let mut seen = Vec::new();
    let mut problems = Vec::new();
    for q in &qs {
        let Kind::Numeric { answers } = &q.kind else {
            continue;
        };
        let key = q.key();
        let Some(v) = expected.get(&key) else {
            problems.push(format!(
                "{key}: no formula recomputes this key; add one to recomputed()"
            ));
            continue;
        };
        seen.push(key.clone());
        let right: Vec<_> = answers.iter().filter(|a| a.weight >= 100.0).collect();
        if !right.iter().any(|a| accepts(&a.matcher, *v)) {
            problems.push(format!(
                "{key}: the formula gives {v}, which the key {:?} does not accept",
                right.iter().map(|a| a.matcher).collect::<Vec<_>>()
            ));
        }
        for a in answers.iter().filter(|a| a.weight <= 0.0) {
            if accepts(&a.matcher, *v) {
                problems.push(format!(
                    "{key}: the wrong answer {:?} also accepts the right value {v}",
                    a.matcher
                ));
            }
        }
    }
    for k in expected.keys() {
        if !seen.iter().any(|s| s == k) {
            problems.push(format!(
                "{k}: recomputed here, but no such numeric question is in the bank"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(seen.len() >= 25, "{} numeric keys checked", seen.len());
}

#[test]
fn a_wrong_numeric_key_is_caught() {
    // The same check as above, on a key that is off: it must not pass.
    let q = app::exam::gift::parse("::x::How many? {#43:0.1####fb}", "c").expect("parses");
    let Kind::Numeric { answers } = &q[0].kind else {
        panic!("numeric")
    };
    assert!(!accepts(&answers[0].matcher, 30.0 * 24.0 * 60.0 * 0.001));
    assert!(accepts(&answers[0].matcher, 43.05));
}

/// Choice keys that the course's engines decide: the right option is what the engine says.
#[test]
fn gate_and_exit_code_keys_match_the_engines() {
    let (qs, _) = shipped_bank();
    let right_option = |name: &str| -> String {
        let q = qs
            .iter()
            .find(|q| q.name == name)
            .unwrap_or_else(|| panic!("{name}"));
        match &q.kind {
            Kind::SingleChoice { options } => options
                .iter()
                .find(|o| o.weight >= 100.0)
                .map(|o| o.text.clone())
                .expect("a right option"),
            other => panic!("{name} is {}", other.label()),
        }
    };
    // One pass and one warning of weight 1, pass at 90%, warning at 75%.
    let two = "spec_version: \"1.0\"\nobjectives:\n  - sli: a\n    pass:\n      - criteria: [\"<1\"]\n  - sli: b\n    pass:\n      - criteria: [\"<1\"]\n    warning:\n      - criteria: [\"<2\"]\ntotal_score:\n  pass: \"90%\"\n  warning: \"75%\"\n";
    let r = gate(two, &[("a", 0.0), ("b", 1.5)], &[]);
    assert_eq!((r.score, r.result.as_str()), (75.0, "warning"));
    assert_eq!(right_option("pass plus warning"), r.result);

    // Nine of ten pass; the failing one is a key SLI.
    let mut values: Vec<(String, f64)> = (0..9).map(|i| (format!("s{i}"), 0.0)).collect();
    values.push(("s9".into(), 5.0));
    let values: Vec<(&str, f64)> = values.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let r = gate(&equal_weights(10, Some("s9")), &values, &[]);
    assert_eq!(r.score, 90.0);
    assert!(right_option("key SLI").starts_with(&r.result), "{r:?}");

    // A gate score at the warning threshold but under pass warns.
    assert!(right_option("keptn warning band").starts_with("warning"));

    // The first build passes a relative criterion: there is no baseline yet.
    let first = gate(
        MODULE_SLO,
        &[
            ("response_time_p95", 590.0),
            ("error_rate", 0.0),
            ("throughput", 1.0),
        ],
        &[],
    );
    assert_eq!(first.objectives[0].status, "pass");
    let tf = qs
        .iter()
        .find(|q| q.name == "first build baseline")
        .expect("question");
    assert!(matches!(tf.kind, Kind::TrueFalse { answer: true, .. }));

    // k6 exits with 99 when thresholds are crossed, as the TF question's feedback says.
    assert_eq!(lab_engine::runner::exit::THRESHOLDS_CROSSED, 99);
    let tf = qs
        .iter()
        .find(|q| q.name == "k6 failing threshold exit code")
        .expect("question");
    let Kind::TrueFalse {
        answer: true,
        feedback_wrong: Some(f),
        ..
    } = &tf.kind
    else {
        panic!("{tf:?}")
    };
    assert!(f.contains("99"), "{f}");
}
