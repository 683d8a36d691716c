//! Real-world files taken as the real tools take them: multi-document Sloth
//! specs, OpenSLO v1alpha (as Sloth reads it), OpenSLO lists and mixed kinds,
//! budgeting methods refused by name, and Keptn's quality-gate defaults,
//! unsigned percentages, missing key SLIs and SLI placeholders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use slo_toolkit::cli::{run_slo_command, SloCommand};
use slo_toolkit::gate::{Criterion, EvaluationResult, Placeholders, SliFile, SloFile};
use slo_toolkit::promql::{instant_query, promqltest::load_script_data, Storage, Value};
use slo_toolkit::slo::{
    generate_rule_file, parse_slo_file, parse_slo_str, Sli, SloSpec, SpecFormat,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).expect("fixture exists")
}

fn slos(name: &str) -> Vec<SloSpec> {
    parse_slo_file(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The 1-based line of the first line of `src` containing `needle`.
fn line_with(src: &str, needle: &str) -> usize {
    src.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no line with {needle:?}"))
}

/// Every generated expression parses, and the rule file has one group name per group.
fn check_rules(slos: &[SloSpec]) -> String {
    let file = generate_rule_file(slos);
    let mut names = std::collections::BTreeSet::new();
    for g in &file.groups {
        assert!(names.insert(g.name.clone()), "group {} repeated", g.name);
        for r in &g.rules {
            slo_toolkit::promql::parse(&r.expr)
                .unwrap_or_else(|e| panic!("{}: {e}\n{}", g.name, r.expr));
        }
    }
    file.to_yaml().expect("serializable")
}

fn info_labels(slo: &SloSpec) -> BTreeMap<String, String> {
    generate_rule_file(std::slice::from_ref(slo))
        .groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .find(|r| r.record.as_deref() == Some("sloth_slo_info"))
        .expect("info rule")
        .labels
        .clone()
}

// ---- Sloth ----

#[test]
fn multi_document_sloth_file_is_one_spec_per_document() {
    let got = slos("sloth-multi.yaml");
    let ids: Vec<String> = got.iter().map(SloSpec::id).collect();
    assert_eq!(
        ids,
        [
            "pizza-orders-availability",
            "delivery-tracking-availability"
        ]
    );
    // Labels of the first document do not leak into the second.
    assert_eq!(
        got[0].labels.get("team").map(String::as_str),
        Some("kitchen")
    );
    assert!(got[1].labels.is_empty());
    assert!(got[1].alerting.is_none());
    assert!(matches!(got[1].sli, Sli::Raw { .. }));
    let yaml = check_rules(&got);
    assert!(yaml.contains("sloth-slo-sli-recordings-delivery-tracking-availability"));
    assert!(yaml.contains("sloth-slo-alerts-pizza-orders-availability"));
}

#[test]
fn errors_in_a_later_document_name_the_document_and_the_file_line() {
    let src = read("sloth-multi.yaml");
    let bad = src.replace("objective: 99\n", "objective: 199\n");
    let e = parse_slo_str("multi.yaml", &bad).expect_err("objective out of range");
    assert_eq!(e.line, line_with(&bad, "objective: 199"), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("multi.yaml:{}: document 2: objective:", e.line)),
        "{e}"
    );
    // An unknown field: serde's position, moved to the file's line.
    let bad = src.replace(
        "    objective: 99\n",
        "    objective: 99\n    objectiv: 98\n",
    );
    let e = parse_slo_str("multi.yaml", &bad).expect_err("unknown field");
    assert_eq!(e.line, line_with(&bad, "objectiv: 98"), "{e}");
    assert!(
        e.reason.starts_with("document 2: ") && e.reason.contains("objectiv"),
        "{e}"
    );
    // A PromQL error in the second document's raw query.
    let bad = src.replace(
        "sum(rate(http_requests_total{path=\"/api/track\"}[{{.window}}]))",
        "sum(rate(",
    );
    let e = parse_slo_str("multi.yaml", &bad).expect_err("bad query");
    assert_eq!(e.line, line_with(&bad, "error_ratio_query"), "{e}");
    assert!(
        e.reason.starts_with("document 2: error_ratio_query:"),
        "{e}"
    );
    // A single-document file keeps its errors as they were.
    let first = src.split("\n---\n").next().expect("first document");
    let e = parse_slo_str(
        "one.yaml",
        &first.replace("objective: 99.5", "objective: 0"),
    )
    .expect_err("objective 0");
    assert!(e.reason.starts_with("objective:"), "{e}");
}

#[test]
fn the_same_slo_twice_is_refused() {
    let src = read("sloth-multi.yaml");
    let twice = format!("{src}---\n{}", src.split("\n---\n").next().expect("doc"));
    let e = parse_slo_str("twice.yaml", &twice).expect_err("duplicate id");
    assert!(
        e.reason.contains("defined twice") && e.reason.contains("document 1"),
        "{e}"
    );
    let second = twice
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("name: \"orders-availability\""))
        .map(|(i, _)| i + 1)
        .last();
    assert_eq!(Some(e.line), second, "{e}");
    assert!(e.reason.starts_with("document 3: "), "{e}");
}

#[test]
fn sloth_slo_info_carries_mode_spec_and_version() {
    let got = slos("sloth-multi.yaml");
    let l = info_labels(&got[0]);
    assert_eq!(l["sloth_mode"], "cli-gen-prom");
    assert_eq!(l["sloth_spec"], "prometheus/v1");
    assert_eq!(l["sloth_objective"], "99.5");
    assert!(l["sloth_version"].starts_with("masterclass-"));
    let yaml = check_rules(&got);
    assert!(yaml.contains(
        "(page) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast."
    ));
    assert!(yaml.contains(
        "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected."
    ));
}

#[test]
fn sloth_and_openslo_documents_mix_in_one_file() {
    let src = format!(
        "{}---\n{}",
        read("sloth-multi.yaml"),
        read("openslo-v1alpha.yaml")
    );
    let got = parse_slo_str("mixed.yaml", &src).expect("valid");
    assert_eq!(got.len(), 4);
    assert_eq!(got[3].format, SpecFormat::OpenSloV1Alpha);
    check_rules(&got);
}

#[test]
fn files_that_are_no_spec_say_what_a_spec_is() {
    for (src, needle) in [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("just: a mapping\n", "not a Sloth spec"),
        (
            "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\n",
            "Sloth's Kubernetes resource",
        ),
        (
            "apiVersion: openslo/v2alpha\nkind: SLO\n",
            "openslo/v2alpha is not supported",
        ),
        (
            "apiVersion: openslo/v1\nkind: Dashboard\n",
            "not an openslo/v1 kind",
        ),
        (
            "apiVersion: openslo/v1\nkind: Service\nmetadata:\n  name: pizza\n",
            "no SLO in the file",
        ),
        ("- 1\n- 2\n", "list item 1: not an OpenSLO object"),
    ] {
        let e = parse_slo_str("x.yaml", src).expect_err(src);
        assert!(e.reason.contains(needle), "{src:?}: {e}");
    }
}

// ---- OpenSLO v1alpha, as Sloth reads it ----

#[test]
fn openslo_v1alpha_is_read_with_sloths_semantics() {
    let got = slos("openslo-v1alpha.yaml");
    assert_eq!(got.len(), 2, "one SLO per objective");
    assert_eq!(got[0].id(), "pizza-checkout-0");
    assert_eq!(got[1].id(), "pizza-checkout-1");
    assert!((got[0].objective - 0.99).abs() < 1e-12);
    assert!((got[1].objective - 0.999).abs() < 1e-12);
    assert_eq!(got[0].period_days, 28);
    assert!(
        got.iter().all(|s| s.alerting.is_none()),
        "Sloth makes no alerts for OpenSLO"
    );
    match &got[0].sli {
        Sli::Raw { error_ratio_query } => {
            assert!(
                error_ratio_query.starts_with("1 - ((sum(rate("),
                "{error_ratio_query}"
            );
        }
        other => panic!("expected a raw SLI, got {other:?}"),
    }
    let l = info_labels(&got[0]);
    assert_eq!(l["sloth_mode"], "cli-gen-openslo");
    assert_eq!(l["sloth_spec"], "openslo/v1alpha");
    let yaml = check_rules(&got);
    assert!(!yaml.contains("alert:"), "{yaml}");
    assert!(yaml.contains("slo:sli_error:ratio_rate28d"));
}

#[test]
fn openslo_v1alpha_error_ratio_is_one_minus_good_over_total() {
    let got = slos("openslo-v1alpha.yaml");
    let rule = generate_rule_file(&got[..1])
        .groups
        .into_iter()
        .flat_map(|g| g.rules)
        .find(|r| r.record.as_deref() == Some("slo:sli_error:ratio_rate5m"))
        .expect("5m SLI rule");
    let mut storage = Storage::new();
    load_script_data(
        "load 1m\n  http_requests_total{path=\"/api/checkout\", status=\"200\"} 0+97x10\n  http_requests_total{path=\"/api/checkout\", status=\"503\"} 0+3x10\n",
        &mut storage,
    )
    .expect("data");
    let v = match instant_query(&storage, &rule.expr, 10 * 60_000).expect("evaluates") {
        Value::Vector(els) if els.len() == 1 => els[0].value,
        other => panic!("unexpected {other:?}"),
    };
    assert!((v - 0.03).abs() < 1e-9, "{v}");
}

#[test]
fn openslo_v1alpha_refuses_what_sloth_refuses() {
    let src = read("openslo-v1alpha.yaml");
    let cases = [
        (src.replace("unit: Day", "unit: Week"), "unit", "only Day is supported"),
        (src.replace("    - count: 28\n", "    - count: 28\n      unit: Day\n    - count: 7\n"), "  timeWindows:", "only one time window"),
        (src.replacen("source: prometheus", "source: datadog", 1), "source: datadog", "prometheus or sloth"),
        (src.replacen("queryType: promql", "queryType: sql", 1), "queryType: sql", "promql is required"),
        (src.replacen("      target: 0.99\n", "", 1), "objectives:", "target is required"),
        (src.replacen("target: 0.99\n", "target: 99\n", 1), "target: 99", "between 0 and 1"),
        (src.replacen("[{{.window}}]))\n", "[{{.window}}]\n", 1), "query: sum(rate(http_requests_total{path=\"/api/checkout\",status!~\"5..\"}[{{.window}}]", "good.query"),
        (src.replace("budgetingMethod: Occurrences", "budgetingMethod: Timeslices"), "budgetingMethod", "budgetingMethod Timeslices is not supported: Sloth and this course generate rules for Occurrences only"),
    ];
    for (bad, at, needle) in cases {
        let e = parse_slo_str("v1alpha.yaml", &bad).expect_err(needle);
        assert!(e.reason.contains(needle), "{needle}: {e}");
        assert!(e.reason.starts_with("SLO checkout: "), "{e}");
        assert_eq!(e.line, line_with(&bad, at), "{needle}: {e}");
    }
    let threshold = "apiVersion: openslo/v1alpha\nkind: SLO\nmetadata:\n  name: p99\nspec:\n  service: pizza\n  budgetingMethod: Occurrences\n  indicator:\n    thresholdMetric:\n      source: prometheus\n      queryType: promql\n      query: up\n  objectives:\n    - op: lte\n      value: 1\n      target: 0.9\n";
    let e = parse_slo_str("t.yaml", threshold).expect_err("threshold");
    assert!(e.reason.contains("objectives[].ratioMetrics only"), "{e}");
    assert_eq!(e.line, 8);
}

// ---- OpenSLO v1 ----

#[test]
fn timeslice_budgeting_is_refused_by_name() {
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/slo/openslo.yaml"),
    )
    .expect("testdata");
    for method in ["Timeslices", "RatioTimeslices"] {
        let bad = src.replacen(
            "budgetingMethod: Occurrences",
            &format!("budgetingMethod: {method}"),
            1,
        );
        let e = parse_slo_str("o.yaml", &bad).expect_err(method);
        assert_eq!(
            e.reason,
            format!("document 2: SLO pizza-availability: budgetingMethod {method} is not supported: Sloth and this course generate rules for Occurrences only")
        );
        assert_eq!(e.line, line_with(&bad, method));
    }
    let bad = src.replacen(
        "budgetingMethod: Occurrences",
        "budgetingMethod: occurrences",
        1,
    );
    let e = parse_slo_str("o.yaml", &bad).expect_err("lower case");
    assert!(
        e.reason
            .contains("not one of Occurrences, Timeslices, RatioTimeslices"),
        "{e}"
    );
}

#[test]
fn the_sdk_list_form_is_read_and_other_kinds_are_skipped() {
    let got = slos("openslo-sdk-list.yaml");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id(), "pizza-menu-availability");
    assert_eq!(got[0].format, SpecFormat::OpenSloV1);
    match &got[0].sli {
        Sli::Events {
            error_query,
            total_query,
        } => {
            assert!(total_query.contains("http_requests_total{path=\"/api/menu\"}"));
            assert!(error_query.contains("status!~\"5..\""));
        }
        other => panic!("unexpected {other:?}"),
    }
    check_rules(&got);
    // The same objects written as JSON, a flow list.
    let json = slos("openslo-list.json");
    assert_eq!(json.len(), 1);
    assert_eq!(json[0].id(), "pizza-cart-availability");
}

#[test]
fn list_items_report_their_own_lines() {
    let src = read("openslo-sdk-list.yaml");
    let bad = src.replace("target: 0.995", "target: 1.5");
    let e = parse_slo_str("list.yaml", &bad).expect_err("target");
    assert_eq!(e.line, line_with(&bad, "target: 1.5"), "{e}");
    let bad = src.replacen("type: Prometheus", "type: Datadog", 1);
    let e = parse_slo_str("list.yaml", &bad).expect_err("datadog");
    assert!(e.reason.contains("\"Datadog\" is not supported"), "{e}");
    let bad = src.replace("indicatorRef: menu-good-requests", "indicatorRef: nothing");
    let e = parse_slo_str("list.yaml", &bad).expect_err("ref");
    assert!(e.reason.contains("no SLI named \"nothing\""), "{e}");
    assert_eq!(e.line, line_with(&bad, "indicatorRef: nothing"), "{e}");
    let bad = src.replacen(
        "metricSourceRef: shop-prometheus",
        "metricSourceRef: elsewhere",
        1,
    );
    let e = parse_slo_str("list.yaml", &bad).expect_err("source ref");
    assert!(
        e.reason.contains("no DataSource named \"elsewhere\""),
        "{e}"
    );
}

#[test]
fn documents_of_several_kinds_give_the_slos() {
    let got = slos("openslo-multi-kind.yaml");
    assert_eq!(got.len(), 1);
    let slo = &got[0];
    assert_eq!(slo.id(), "pizza-oven-availability");
    assert!((slo.objective - 0.98).abs() < 1e-12);
    assert_eq!(slo.labels["team"], "kitchen");
    assert_eq!(slo.labels["tier"], "one,critical");
    assert!(matches!(&slo.sli, Sli::Events { error_query, .. } if error_query.contains("burnt")));
    check_rules(&got);
}

#[test]
fn several_v1_objectives_become_several_slos() {
    let src = read("openslo-multi-kind.yaml").replace(
        "      targetPercent: 98\n",
        "      targetPercent: 98\n    - displayName: almost none\n      targetPercent: 99.5\n",
    );
    let got = parse_slo_str("two.yaml", &src).expect("valid");
    let ids: Vec<String> = got.iter().map(SloSpec::id).collect();
    assert_eq!(
        ids,
        ["pizza-oven-availability-0", "pizza-oven-availability-1"]
    );
    check_rules(&got);
}

// ---- Keptn quality gate ----

fn past(sli: &str, value: f64, result: &str) -> EvaluationResult {
    let json = format!(
        r#"{{"result": "{result}", "score": 0, "objectives": [{{"sli": "{sli}", "displayName": "{sli}", "value": {value}, "status": "{result}", "score": 0, "weight": 1, "key_sli": false}}]}}"#
    );
    serde_json::from_str(&json).expect("history entry")
}

fn values(pairs: &[(&str, Result<f64, &str>)]) -> BTreeMap<String, Result<f64, String>> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.map_err(str::to_string)))
        .collect()
}

#[test]
fn an_unsigned_percentage_is_an_increase_over_the_baseline() {
    let c = Criterion::parse("<=1%").expect("lighthouse reads it");
    assert_eq!(c, Criterion::parse("<=+1%").expect("signed"));
    let slo = SloFile::parse(
        "slo.yaml",
        "objectives:\n  - sli: rt\n    pass:\n      - criteria: [\"<=1%\"]\n",
    )
    .expect("valid");
    let history = [past("rt", 100.0, "pass")];
    let eval = |v: f64, h: &[EvaluationResult]| slo.evaluate(&values(&[("rt", Ok(v))]), h);
    assert_eq!(eval(101.0, &history).result, "pass");
    assert_eq!(eval(101.5, &history).result, "fail");
    assert_eq!(eval(50.0, &history).result, "pass", "a drop is within +1%");
    assert_eq!(eval(1000.0, &[]).result, "pass", "no baseline yet");
}

#[test]
fn missing_optional_keys_take_lighthouses_defaults() {
    let slo = SloFile::parse("slo.yaml", &read("keptn/slo-defaults.yaml")).expect("valid");
    assert_eq!(slo.total_score.pass, "90%");
    assert_eq!(slo.total_score.warning.as_deref(), Some("75%"));
    let c = &slo.comparison;
    assert_eq!(
        (
            c.compare_with.as_str(),
            c.include_result_with_score.as_str(),
            c.number_of_comparison_results,
            c.aggregate_function.as_str()
        ),
        ("single_result", "all", 1, "avg")
    );
    // `all`: a failed evaluation is the baseline too.
    let history = [
        past("throughput", 100.0, "pass"),
        past("throughput", 200.0, "fail"),
    ];
    assert_eq!(slo.baseline("throughput", &history), Some(200.0));
    // Inside a comparison block, lighthouse reads a missing count as 3.
    let several = SloFile::parse(
        "slo.yaml",
        "comparison:\n  compare_with: several_results\nobjectives:\n  - sli: a\n",
    )
    .expect("valid");
    assert_eq!(several.comparison.number_of_comparison_results, 3);
    assert_eq!(several.comparison.include_result_with_score, "all");
    let history: Vec<_> = [10.0, 20.0, 30.0, 40.0]
        .iter()
        .map(|v| past("a", *v, "fail"))
        .collect();
    assert_eq!(several.baseline("a", &history), Some(30.0));
}

#[test]
fn percentile_baselines_are_lighthouses() {
    let with = |f: &str| {
        SloFile::parse(
            "slo.yaml",
            &format!("comparison:\n  compare_with: several_results\n  aggregate_function: {f}\nobjectives:\n  - sli: a\n"),
        )
        .expect("valid")
    };
    let three: Vec<_> = [30.0, 10.0, 20.0]
        .iter()
        .map(|v| past("a", *v, "pass"))
        .collect();
    // Rank p * (n + 1): 3.6 of 3 is the largest (Prometheus's quantile would say 28).
    assert_eq!(with("p90").baseline("a", &three), Some(30.0));
    assert_eq!(with("p50").baseline("a", &three), Some(20.0));
    let four: Vec<_> = [10.0, 20.0, 30.0, 40.0]
        .iter()
        .map(|v| past("a", *v, "pass"))
        .collect();
    // Three results are compared (the block's default count): 20, 30, 40.
    assert_eq!(with("p50").baseline("a", &four), Some(30.0));
    assert_eq!(with("avg").baseline("a", &four), Some(30.0));
}

#[test]
fn the_default_total_score_passes_at_90_and_warns_at_75() {
    let four = "objectives:\n  - sli: a\n    pass: [{criteria: [\"<1\"]}]\n    warning: [{criteria: [\"<2\"]}]\n  - sli: b\n    pass: [{criteria: [\"<1\"]}]\n    warning: [{criteria: [\"<2\"]}]\n";
    let slo = SloFile::parse("slo.yaml", four).expect("valid without total_score");
    let eval = |a: f64, b: f64| slo.evaluate(&values(&[("a", Ok(a)), ("b", Ok(b))]), &[]);
    assert_eq!(eval(0.0, 0.0).result, "pass");
    assert_eq!(eval(0.0, 1.5).result, "warning", "75%");
    assert_eq!(eval(1.5, 1.5).result, "fail", "50%");
}

#[test]
fn bad_comparison_values_and_no_objectives_are_refused() {
    for (src, needle) in [
        (
            "comparison:\n  include_result_with_score: passed\nobjectives:\n  - sli: a\n",
            "not pass, pass_or_warn or all",
        ),
        (
            "comparison:\n  compare_with: last\nobjectives:\n  - sli: a\n",
            "not single_result or several_results",
        ),
        ("objectives: []\n", "at least one objective"),
    ] {
        let e = SloFile::parse("slo.yaml", src).expect_err(needle);
        assert!(e.to_string().contains(needle), "{e}");
    }
    let upper = SloFile::parse(
        "slo.yaml",
        "comparison:\n  include_result_with_score: Pass_Or_Warn\nobjectives:\n  - sli: a\n",
    )
    .expect("lighthouse lowercases it");
    assert_eq!(upper.comparison.include_result_with_score, "pass_or_warn");
}

#[test]
fn a_missing_key_sli_fails_the_whole_evaluation() {
    let src = "objectives:\n  - sli: errors\n    key_sli: true\n    pass: [{criteria: [\"<0.01\"]}]\n  - sli: p95\n    pass: [{criteria: [\"<600\"]}]\n  - sli: p99\n    pass: [{criteria: [\"<900\"]}]\n  - sli: rps\ntotal_score:\n  pass: \"50%\"\n";
    let slo = SloFile::parse("slo.yaml", src).expect("valid");
    // The key SLI has no value at all: its objective fails, and so does the gate,
    // though two of three points (67%) clear the 50% pass mark.
    let r = slo.evaluate(&values(&[("p95", Ok(400.0)), ("p99", Ok(700.0))]), &[]);
    assert_eq!(r.result, "fail");
    assert_eq!(r.objectives[0].status, "fail");
    assert_eq!(r.objectives[0].value, None);
    assert!(r.objectives[0]
        .error
        .as_deref()
        .is_some_and(|e| e.contains("errors")));
    assert!((r.score - 200.0 / 3.0).abs() < 1e-9, "{}", r.score);
    // The same when the provider reported an error for it.
    let r = slo.evaluate(
        &values(&[
            ("errors", Err("query returned no data")),
            ("p95", Ok(400.0)),
            ("p99", Ok(700.0)),
        ]),
        &[],
    );
    assert_eq!(r.result, "fail");
    // A missing value of a scored objective that is not key only costs its points.
    let r = slo.evaluate(&values(&[("errors", Ok(0.0)), ("p95", Ok(400.0))]), &[]);
    assert_eq!(r.result, "pass");
    assert_eq!(r.objectives[2].status, "fail");
    // An informational objective without a value is reported, not failed.
    assert_eq!(r.objectives[3].status, "info");
}

#[test]
fn placeholders_are_filled_when_the_sli_file_is_read() {
    let src = read("keptn/sli-placeholders.yaml");
    let slo = SloFile::parse("slo.yaml", &read("keptn/slo-defaults.yaml")).expect("valid");
    let mut values = slo.filter_values();
    values.insert("SERVICE".into(), "pizza".into());
    values.insert("$STAGE".into(), "hardening".into());
    let p = Placeholders::new(values).expect("valid placeholders");
    let sli = SliFile::parse_with_placeholders("sli.yaml", &src, &p).expect("all filled");
    let q = sli.queries(300, &BTreeMap::new());
    assert_eq!(
        q["throughput"],
        "sum(rate(http_requests_total{job=\"pizza-hardening\", team=\"kitchen\"}[300s]))"
    );
    assert!(q["error_rate"].contains("job=\"pizza-hardening\", status=~\"5..\"}[300s]"));
    // Without a value for $STAGE: one error naming the indicator and its line.
    let p = Placeholders::from_assignments(["SERVICE=pizza", "team=kitchen"]).expect("valid");
    let e = SliFile::parse_with_placeholders("sli.yaml", &src, &p).expect_err("no STAGE");
    assert_eq!(
        e.to_string(),
        format!(
            "sli.yaml:{}: indicator error_rate: $STAGE has no value; set the placeholder STAGE",
            line_with(&src, "error_rate:")
        )
    );
}

#[test]
fn placeholder_names_and_values_are_checked() {
    let p = Placeholders::from_assignments([
        "SERVICE=pizza",
        "SERVICE_NAME=Pizza Shop",
        "LABEL.version=v2",
    ])
    .expect("valid");
    assert_eq!(
        p.apply("$SERVICE_NAME $SERVICE $LABEL.version $DURATION_SECONDS $1 a$")
            .expect("filled"),
        "Pizza Shop pizza v2 $DURATION_SECONDS $1 a$"
    );
    assert_eq!(p.apply("$SERVICES").expect_err("not given"), "SERVICES");
    for (bad, needle) in [
        ("SERVICE", "expected NAME=value"),
        ("SER-VICE=x", "a name is letters"),
        ("SERVICE=pi\"zza", "must not contain quotes"),
        ("DURATION_SECONDS=5m", "evaluation window"),
    ] {
        let e = Placeholders::from_assignments([bad]).expect_err(bad);
        assert!(e.contains(needle), "{bad}: {e}");
    }
}

#[test]
fn the_gate_command_fills_placeholders_from_the_slo_filter() {
    let dir = std::env::temp_dir().join(format!("slo-toolkit-formats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sli = dir.join("sli.yaml");
    let gate = |sli: PathBuf| SloCommand::Gate {
        slo: fixture("keptn/slo-defaults.yaml"),
        sli: Some(sli),
        data: vec![fixture("keptn/run.test")],
        values: vec![],
        at: Some("10m".into()),
        duration: "5m".into(),
        history: None,
    };
    // $SERVICE and $STAGE have no value on the command line yet: refused.
    assert_eq!(
        run_slo_command(gate(fixture("keptn/sli-placeholders.yaml"))),
        1
    );
    // With them written in, $team still comes from the slo.yaml filter.
    let filled = read("keptn/sli-placeholders.yaml")
        .replace("$SERVICE", "pizza")
        .replace("$STAGE", "hardening");
    std::fs::write(&sli, filled).expect("write");
    assert_eq!(run_slo_command(gate(sli)), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn promtool_accepts_the_rules_of_every_fixture() {
    let Ok(out) = std::process::Command::new("promtool")
        .arg("--version")
        .output()
    else {
        println!("SKIPPED: promtool is not on PATH (apt-get install prometheus provides it)");
        return;
    };
    assert!(out.status.success());
    let dir = std::env::temp_dir().join(format!(
        "slo-toolkit-formats-promtool-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for name in [
        "sloth-multi.yaml",
        "openslo-v1alpha.yaml",
        "openslo-sdk-list.yaml",
        "openslo-multi-kind.yaml",
        "openslo-list.json",
    ] {
        let file = dir.join(format!("{name}.rules.yaml"));
        std::fs::write(&file, check_rules(&slos(name))).expect("write rules");
        let out = std::process::Command::new("promtool")
            .args(["check", "rules"])
            .arg(&file)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool rejected the rules of {name}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
