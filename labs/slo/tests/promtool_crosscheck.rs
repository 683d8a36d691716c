//! Cross-checks the promqltest expectations against real Prometheus: every
//! instant `eval` with a vector result becomes a `promtool test rules` case
//! (Prometheus 2.42's engine, compared exactly). Since the evaluator is held
//! to the same expectations by `promqltest.rs`, both agree with each other.
//! Skipped, with a notice, when `promtool` is not installed.

use std::path::Path;
use std::process::Command;

use serde::Serialize;
use slo_toolkit::promql::labels::parse_series_descriptor;
use slo_toolkit::promql::store::{expand_series_values, parse_float};

#[derive(Serialize)]
struct UnitFile {
    rule_files: Vec<String>,
    evaluation_interval: String,
    tests: Vec<Group>,
}

#[derive(Serialize)]
struct Group {
    interval: String,
    input_series: Vec<InputSeries>,
    promql_expr_test: Vec<ExprTest>,
}

#[derive(Serialize)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Serialize)]
struct ExprTest {
    expr: String,
    eval_time: String,
    exp_samples: Vec<ExpSample>,
}

#[derive(Serialize)]
struct ExpSample {
    labels: String,
    value: f64,
}

fn convert(src: &str) -> (UnitFile, usize) {
    let mut groups: Vec<Group> = Vec::new();
    let mut cases = 0;
    let lines: Vec<&str> = src.lines().collect();
    let mut i = 0;
    let mut skip_next = false;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if line.starts_with('#') {
            skip_next |= line.contains("order-dependent");
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let mut body = Vec::new();
        while i < lines.len()
            && (lines[i].starts_with(' ') || lines[i].starts_with('\t'))
            && !lines[i].trim().is_empty()
        {
            body.push(lines[i].trim());
            i += 1;
        }
        let skip = std::mem::take(&mut skip_next);
        if let Some(step) = line.strip_prefix("load ") {
            let mut g = Group {
                interval: step.trim().into(),
                input_series: vec![],
                promql_expr_test: vec![],
            };
            for b in body {
                let (labels, rest) = parse_series_descriptor(b).expect("valid load line");
                g.input_series.push(InputSeries {
                    series: labels.to_string(),
                    values: rest.trim().into(),
                });
            }
            groups.push(g);
            continue;
        }
        let Some(rest) = line
            .strip_prefix("eval instant at ")
            .or_else(|| line.strip_prefix("eval_ordered instant at "))
        else {
            continue;
        };
        if skip {
            continue;
        }
        let Some((at, expr)) = rest.split_once(' ') else {
            continue;
        };
        let mut samples = Vec::new();
        let mut ok = true;
        for b in &body {
            // Scalars, strings and NaN can't be expressed (or compared) in promtool's format.
            if b.split_whitespace().count() == 1 {
                ok = false;
                break;
            }
            let Ok((labels, rest)) = parse_series_descriptor(b) else {
                ok = false;
                break;
            };
            let v = expand_series_values(rest)
                .ok()
                .and_then(|v| v.first().copied().flatten());
            match v {
                Some(v) if !v.is_nan() => samples.push(ExpSample {
                    labels: labels.to_string(),
                    value: v,
                }),
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok || parse_float(expr.trim()).is_some() {
            continue;
        }
        if let Some(g) = groups.last_mut() {
            g.promql_expr_test.push(ExprTest {
                expr: expr.trim().into(),
                eval_time: at.into(),
                exp_samples: samples,
            });
            cases += 1;
        }
    }
    groups.retain(|g| !g.promql_expr_test.is_empty());
    (
        UnitFile {
            rule_files: vec![],
            evaluation_interval: "1m".into(),
            tests: groups,
        },
        cases,
    )
}

#[test]
fn expectations_agree_with_prometheus() {
    if Command::new("promtool").arg("--version").output().is_err() {
        println!("SKIPPED: promtool is not on PATH (apt-get install prometheus provides it)");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/promql");
    let tmp = std::env::temp_dir().join(format!("slo-toolkit-crosscheck-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let mut total = 0;
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for f in files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
    {
        let (unit, cases) = convert(&std::fs::read_to_string(f).expect("readable"));
        if cases == 0 {
            continue;
        }
        total += cases;
        let out = tmp.join(format!(
            "{}.yml",
            f.file_stem()
                .map(|s| s.to_string_lossy())
                .unwrap_or_default()
        ));
        std::fs::write(&out, serde_yaml::to_string(&unit).expect("yaml")).expect("write");
        let res = Command::new("promtool")
            .arg("test")
            .arg("rules")
            .arg(&out)
            .output()
            .expect("promtool runs");
        if !res.status.success() {
            failures.push(format!(
                "{}:\n{}{}",
                f.display(),
                String::from_utf8_lossy(&res.stdout),
                String::from_utf8_lossy(&res.stderr)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    println!("promtool cross-checked {total} instant evals");
    assert!(total > 100, "too few cases converted: {total}");
    assert!(
        failures.is_empty(),
        "Prometheus disagrees:\n{}",
        failures.join("\n")
    );
}
