//! The command-line entry points, called as the binary calls them.

use std::path::{Path, PathBuf};

use slo_toolkit::cli::{run_promql_command, run_slo_command, PromqlCommand, SloCommand};
use slo_toolkit::gate::EvaluationResult;

fn td(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(p)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("slo-toolkit-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

#[test]
fn promql_test_exit_codes() {
    let ok = PromqlCommand::Test {
        files: vec![td("promql/basic.test")],
    };
    assert_eq!(run_promql_command(ok), 0);
    let bad = PromqlCommand::Test {
        files: vec![td("cli/wrong.test")],
    };
    assert_eq!(run_promql_command(bad), 1);
    let missing = PromqlCommand::Test {
        files: vec![td("cli/nope.test")],
    };
    assert_eq!(run_promql_command(missing), 1);
}

#[test]
fn promql_eval_exit_codes() {
    let eval_with =
        |q: &str, timeout: Option<&str>, max_samples: Option<usize>| PromqlCommand::Eval {
            query: q.into(),
            data: vec![td("promql/basic.test")],
            at: Some("10m".into()),
            start: None,
            end: None,
            step: None,
            json: false,
            timeout: timeout.map(Into::into),
            max_samples,
        };
    let eval = |q: &str| eval_with(q, None, None);
    assert_eq!(
        run_promql_command(eval("sum(rate(http_requests_total[5m]))")),
        0
    );
    // Hostile queries get one line and exit 1, not a crash.
    let chain = format!("1{}", "+1".repeat(20_000));
    assert_eq!(run_promql_command(eval(&chain)), 1);
    assert_eq!(
        run_promql_command(eval("count_over_time(vector(1)[30d:1ms])")),
        1
    );
    let heavy = eval_with("sum(rate(http_requests_total[5m]))", None, Some(1));
    assert_eq!(run_promql_command(heavy), 1);
    assert_eq!(run_promql_command(eval_with("1", Some("soon"), None)), 1);
    assert_eq!(run_promql_command(eval_with("1", Some("0"), None)), 0);
    assert_eq!(run_promql_command(eval("sum(rate(")), 1);
    assert_eq!(run_promql_command(eval("nosuchfn(up)")), 1);
}

#[test]
fn slo_generate_writes_file_atomically() {
    let dir = scratch("gen");
    let out = dir.join("rules.yaml");
    let code = run_slo_command(SloCommand::Generate {
        spec: td("slo/sloth.yaml"),
        out: Some(out.clone()),
    });
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&out).expect("written");
    assert!(text.contains("14.4"));
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "version: \"prometheus/v1\"\nservice: x\nslos: 3\n").expect("write");
    let out2 = dir.join("never.yaml");
    assert_eq!(
        run_slo_command(SloCommand::Generate {
            spec: bad,
            out: Some(out2.clone())
        }),
        1
    );
    assert!(!out2.exists(), "nothing half-written on bad input");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn slo_gate_with_queries_and_history() {
    let dir = scratch("gate");
    let history = dir.join("history.json");
    let gate = || SloCommand::Gate {
        slo: td("gate/slo.yaml"),
        sli: Some(td("gate/sli.yaml")),
        data: vec![td("gate/run.test")],
        values: vec![],
        at: Some("10m".into()),
        duration: "5m".into(),
        history: Some(history.clone()),
    };
    assert_eq!(run_slo_command(gate()), 0);
    assert_eq!(run_slo_command(gate()), 0);
    let h: Vec<EvaluationResult> =
        serde_json::from_str(&std::fs::read_to_string(&history).expect("history")).expect("json");
    assert_eq!(h.len(), 2);
    // p95: rank 0.95 * 600 = 570 per minute falls in the (0.5, 1] bucket (560 -> 600).
    let p95 = h[0].objectives[0].value.expect("measured");
    assert!((p95 - 0.625).abs() < 1e-9, "{p95}");
    assert_eq!(h[0].objectives[0].status, "warning");
    assert_eq!(h[0].objectives[1].status, "pass");
    assert_eq!(h[0].result, "warning");
    assert_eq!(h[0].objectives[2].status, "info");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn slo_alerts_replay_runs() {
    let code = run_slo_command(SloCommand::Alerts {
        spec: td("slo/sloth.yaml"),
        data: vec![td("slo/incident.test")],
        start: Some("50m".into()),
        end: Some("2h".into()),
        step: "5m".into(),
    });
    assert_eq!(code, 0);
}
