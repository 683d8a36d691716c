//! A lab directory with a mistake in it is refused by `load_lab` with the
//! file and the line of the mistake, before any learner meets it.

use std::path::{Path, PathBuf};

use lab_grader::{load_lab, LabProblem};

fn labs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../content/performance-engineering-masterclass/labs")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("read").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A copy of the lab in a course-shaped temporary folder (so the section
/// check finds a `course.yaml` two levels up, as in `content/`).
struct Copy {
    _root: tempfile::TempDir,
    dir: PathBuf,
    name: String,
}

impl Copy {
    fn of(name: &str) -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let course = labs_dir().join("..");
        std::fs::copy(course.join("course.yaml"), root.path().join("course.yaml"))
            .expect("course.yaml");
        let dir = root.path().join("labs").join(name);
        copy_dir(&labs_dir().join(name), &dir);
        Self {
            _root: root,
            dir,
            name: name.to_owned(),
        }
    }

    /// Replaces the first `from` in `file` with `to`; returns the 1-based
    /// line where the replacement starts.
    fn edit(&self, file: &str, from: &str, to: &str) -> usize {
        let path = self.dir.join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        let at = text
            .find(from)
            .unwrap_or_else(|| panic!("{file} has no {from:?}"));
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
        text[..at].matches('\n').count() + 1
    }

    fn load(&self) -> Result<lab_grader::Lab, LabProblem> {
        load_lab(&self.dir, &format!("labs/{}", self.name))
    }

    fn problem(&self) -> LabProblem {
        match self.load() {
            Ok(_) => panic!("the broken copy of {} loads", self.name),
            Err(p) => p,
        }
    }
}

fn assert_problem(p: &LabProblem, path: &str, line: usize, phrase: &str) {
    assert_eq!(p.path, path, "{p}");
    assert_eq!(p.line, line, "{p}");
    assert!(p.message.contains(phrase), "{p} does not say {phrase:?}");
    assert_eq!(p.to_string(), format!("{path}:{line}: {}", p.message));
}

const LAB1_YAML: &str = "labs/01-first-load-test/lab.yaml";

#[test]
fn the_copies_load_unchanged() {
    for name in ["01-first-load-test", "04-burn-rate-alerts"] {
        Copy::of(name).load().unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn unknown_check_kind() {
    let c = Copy::of("01-first-load-test");
    let line = c.edit(
        "lab.yaml",
        "kind: run_ok\n        run: smoke",
        "kind: run_okay\n        run: smoke",
    );
    assert_problem(&c.problem(), LAB1_YAML, line, "unknown variant `run_okay`");
}

#[test]
fn unknown_check_field() {
    let c = Copy::of("01-first-load-test");
    let line = c.edit(
        "lab.yaml",
        "        min_rate: 1\n",
        "        min_rate: 1\n        max_rate: 2\n",
    ) + 1;
    assert_problem(&c.problem(), LAB1_YAML, line, "unknown field `max_rate`");
}

#[test]
fn run_that_names_a_missing_file() {
    let c = Copy::of("01-first-load-test");
    let line = c.edit("lab.yaml", "script: smoke.js", "script: smokey.js");
    assert_problem(
        &c.problem(),
        LAB1_YAML,
        line,
        "script \"smokey.js\" is not one of the lab's files (smoke.js, load.js)",
    );
}

#[test]
fn run_that_names_a_missing_fixture() {
    let c = Copy::of("03-slis-in-promql");
    let line = c.edit("lab.yaml", "fixtures/traffic.js", "fixtures/trafic.js");
    assert_problem(
        &c.problem(),
        "labs/03-slis-in-promql/lab.yaml",
        line,
        "there is no fixtures/trafic.js",
    );
}

#[test]
fn bad_scenario_name() {
    let c = Copy::of("02-find-the-knee");
    let line = c.edit("lab.yaml", "scenario: small-pool", "scenario: small-poool");
    assert_problem(
        &c.problem(),
        "labs/02-find-the-knee/lab.yaml",
        line,
        "unknown scenario \"small-poool\"",
    );
}

#[test]
fn reference_promql_that_does_not_parse() {
    let c = Copy::of("03-slis-in-promql");
    // The reference is a block scalar: the problem is reported at its key.
    let key = c.edit("lab.yaml", "        reference: |", "        reference: |");
    c.edit(
        "lab.yaml",
        "status!~\"5..\"}[5m]))\n          /",
        "status!~\"5..\"}[5m])\n          /",
    );
    assert_problem(
        &c.problem(),
        "labs/03-slis-in-promql/lab.yaml",
        key,
        "reference does not parse",
    );
}

#[test]
fn yaml_syntax_error() {
    let c = Copy::of("01-first-load-test");
    let line = c.edit("lab.yaml", "minutes: 30\n", "minutes: 30\n  oops: [\n");
    let p = c.problem();
    assert_eq!(p.path, LAB1_YAML, "{p}");
    // serde_yaml reports where parsing stopped: the bad line or just after.
    assert!(
        (line..=line + 2).contains(&p.line),
        "{p} (edited line {line})"
    );
}

#[test]
fn check_that_names_an_undefined_run() {
    let c = Copy::of("01-first-load-test");
    let line = c.edit(
        "lab.yaml",
        "kind: vus\n        run: load",
        "kind: vus\n        run: lod",
    ) + 1;
    assert_problem(
        &c.problem(),
        LAB1_YAML,
        line,
        "run \"lod\" is not defined (runs: smoke, load)",
    );
}

#[test]
fn duplicate_check_id() {
    let c = Copy::of("01-first-load-test");
    let line = c.edit("lab.yaml", "- id: load-users", "- id: load-runs");
    assert_problem(
        &c.problem(),
        LAB1_YAML,
        line,
        "check id \"load-runs\" is used twice",
    );
}

#[test]
fn missing_starter_file() {
    let c = Copy::of("01-first-load-test");
    std::fs::remove_file(c.dir.join("starter/load.js")).expect("remove");
    assert_problem(
        &c.problem(),
        "labs/01-first-load-test/starter/load.js",
        1,
        "file is missing",
    );
}

#[test]
fn answer_field_the_starter_does_not_ask_for() {
    let c = Copy::of("02-find-the-knee");
    let line = c.edit("lab.yaml", "field: knee_rps", "field: knee_rpss");
    assert_problem(
        &c.problem(),
        "labs/02-find-the-knee/lab.yaml",
        line,
        "starter/answers.yaml has no `knee_rpss:` line",
    );
}

#[test]
fn gate_with_an_impossible_expectation() {
    let c = Copy::of("05-quality-gate");
    let line = c.edit("lab.yaml", "expect: pass", "expect: passes");
    assert_problem(
        &c.problem(),
        "labs/05-quality-gate/lab.yaml",
        line,
        "\"passes\" is not pass, warning or fail",
    );
}

#[test]
fn solution_that_does_not_fit_its_run() {
    let c = Copy::of("02-find-the-knee");
    let run = c.edit("lab.yaml", "  - id: open\n", "  - id: open\n");
    c.edit("lab.yaml", "max_vus: 600", "max_vus: 100");
    assert_problem(
        &c.problem(),
        "labs/02-find-the-knee/lab.yaml",
        run,
        "run \"open\": the solution is refused",
    );
}

#[test]
fn solution_with_a_syntax_error() {
    let c = Copy::of("01-first-load-test");
    let line = c.edit(
        "solution/load.js",
        "r.status === 200 });",
        "r.status === 200 );",
    );
    assert_problem(
        &c.problem(),
        "labs/01-first-load-test/solution/load.js",
        line,
        "SyntaxError",
    );
}

#[test]
fn section_not_in_the_course() {
    let c = Copy::of("01-first-load-test");
    let line = c.edit(
        "lab.yaml",
        "section: load-testing-and-slos",
        "section: load-testing",
    );
    assert_problem(
        &c.problem(),
        LAB1_YAML,
        line,
        "section \"load-testing\" is not a section of the course",
    );
}

#[test]
fn invalid_custom_scenario() {
    let c = Copy::of("04-burn-rate-alerts");
    let line = c.edit(
        "scenarios/outage.yaml",
        "latency: { median_ms: 6, p99_ms: 30 }",
        "latency: { median_ms: 60, p99_ms: 30 }",
    );
    assert_problem(
        &c.problem(),
        "labs/04-burn-rate-alerts/scenarios/outage.yaml",
        line,
        "median_ms",
    );
    let c = Copy::of("04-burn-rate-alerts");
    let line = c.edit(
        "scenarios/deploy-blip.yaml",
        "effects:",
        "bogus: 1\neffects:",
    );
    assert_problem(
        &c.problem(),
        "labs/04-burn-rate-alerts/scenarios/deploy-blip.yaml",
        line,
        "unknown field `bogus`",
    );
}

#[test]
fn solution_spec_that_does_not_parse() {
    let c = Copy::of("04-burn-rate-alerts");
    let line = c.edit(
        "solution/slo.yaml",
        "    objective: 99.9",
        "    objective: 199.9",
    );
    assert_problem(
        &c.problem(),
        "labs/04-burn-rate-alerts/solution/slo.yaml",
        line,
        "objective",
    );
}
