//! SLO specs to rule files: golden files, and `promtool check rules` when available.

use std::path::{Path, PathBuf};
use std::process::Command;

use slo_toolkit::slo::{generate_rule_file, parse_slo_file};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/slo")
        .join(name)
}

fn rules_for(spec: &str) -> String {
    let slos = parse_slo_file(&testdata(spec)).expect("valid spec");
    generate_rule_file(&slos).to_yaml().expect("serializable")
}

/// Compares with `testdata/slo/<golden>`; `UPDATE_GOLDEN=1` rewrites it.
/// The toolkit's version in `sloth_version` is written as `<version>` so a
/// release does not change the golden files.
fn check_golden(spec: &str, golden: &str) -> String {
    let got = rules_for(spec).replace(
        slo_toolkit::slo::rules::GENERATOR_VERSION,
        "masterclass-<version>",
    );
    let path = testdata(golden);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("write golden");
    }
    let want =
        std::fs::read_to_string(&path).expect("golden file exists (UPDATE_GOLDEN=1 creates it)");
    assert_eq!(
        got, want,
        "{golden} differs; rerun with UPDATE_GOLDEN=1 if the change is intended"
    );
    got
}

#[test]
fn sloth_rules_match_golden() {
    let rules = check_golden("sloth.yaml", "sloth.rules.yaml");
    assert!(rules.contains("14.4 * 0.001"));
    assert!(rules.contains("slo:sli_error:ratio_rate30d"));
}

#[test]
fn openslo_rules_match_golden() {
    check_golden("openslo.yaml", "openslo.rules.yaml");
}

#[test]
fn every_generated_expression_is_valid_promql() {
    for spec in ["sloth.yaml", "openslo.yaml"] {
        let slos = parse_slo_file(&testdata(spec)).expect("valid spec");
        for g in generate_rule_file(&slos).groups {
            for r in g.rules {
                slo_toolkit::promql::parse(&r.expr)
                    .unwrap_or_else(|e| panic!("{spec}: {}: {e}\n{}", g.name, r.expr));
            }
        }
    }
}

#[test]
fn promtool_accepts_generated_rules() {
    let Ok(out) = Command::new("promtool").arg("--version").output() else {
        println!("SKIPPED: promtool is not on PATH (apt-get install prometheus provides it)");
        return;
    };
    assert!(out.status.success());
    let dir = std::env::temp_dir().join(format!("slo-toolkit-promtool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for spec in ["sloth.yaml", "openslo.yaml"] {
        let file = dir.join(format!("{spec}.rules.yaml"));
        std::fs::write(&file, rules_for(spec)).expect("write rules");
        let out = Command::new("promtool")
            .arg("check")
            .arg("rules")
            .arg(&file)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool rejected rules for {spec}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
