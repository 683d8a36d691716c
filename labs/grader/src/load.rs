//! Reading a lab directory into a [`Lab`], refusing anything that would
//! only fail later in front of a learner.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::answers::parse_answers;
use crate::locate::{at_path, LineIndex, Seg};
use crate::model::{parse_secs, Check, CheckSpec, FileKind, Lab, LabFile, RunSpec, Step, TextFile};

/// A problem in a lab directory, as `path:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabProblem {
    /// The file, e.g. `labs/01-first-load-test/lab.yaml`.
    pub path: String,
    /// 1-based line (1 when the problem is the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LabProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path, self.line, self.message)
    }
}

impl std::error::Error for LabProblem {}

/// Defaults of a run's limits: generous for what the labs need, small
/// enough that a learner's typo (`duration: '100h'`) fails fast.
const DEFAULT_MAX_DURATION: f64 = 600.0;
const DEFAULT_MAX_VUS: i64 = 500;
const DEFAULT_MAX_REQUESTS: i64 = 1_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLab {
    title: String,
    summary: String,
    section: String,
    order: i64,
    minutes: i64,
    #[serde(default)]
    slug: Option<String>,
    #[serde(default = "three")]
    reveal_solution_after: i64,
    files: Vec<RawFile>,
    #[serde(default)]
    runs: Vec<RawRun>,
    steps: Vec<RawStep>,
}

fn three() -> i64 {
    3
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: String,
    kind: FileKind,
    title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    id: String,
    title: String,
    script: String,
    #[serde(default = "baseline")]
    scenario: String,
    #[serde(default)]
    mode: lab_engine::Mode,
    #[serde(default = "one")]
    seed: u64,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    scrape_interval: Option<serde_yaml::Value>,
    #[serde(default)]
    max_duration: Option<serde_yaml::Value>,
    #[serde(default)]
    max_vus: Option<i64>,
    #[serde(default)]
    max_requests: Option<i64>,
}

fn baseline() -> String {
    "baseline".into()
}

fn one() -> u64 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: String,
    title: String,
    checks: Vec<serde_yaml::Mapping>,
}

struct Ctx<'a> {
    rel: &'a str,
    lab_yaml: String,
    index: LineIndex,
}

impl Ctx<'_> {
    fn at(&self, path: &[Seg], message: impl Into<String>) -> LabProblem {
        LabProblem {
            path: self.lab_yaml.clone(),
            line: self.index.line(path),
            message: message.into(),
        }
    }

    fn file_problem(&self, file: &str, line: usize, message: impl Into<String>) -> LabProblem {
        LabProblem {
            path: format!("{}/{file}", self.rel),
            line,
            message: message.into(),
        }
    }
}

fn read(dir: &Path, rel: &str, name: &str) -> Result<String, LabProblem> {
    std::fs::read_to_string(dir.join(name)).map_err(|e| LabProblem {
        path: format!("{rel}/{name}"),
        line: 1,
        message: if e.kind() == std::io::ErrorKind::NotFound {
            "file is missing".into()
        } else {
            format!("cannot read: {e}")
        },
    })
}

/// Files directly inside `dir/sub`, sorted by name (none when it is absent).
fn read_folder(dir: &Path, rel: &str, sub: &str) -> Result<Vec<TextFile>, LabProblem> {
    let folder = dir.join(sub);
    let entries = match std::fs::read_dir(&folder) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(LabProblem {
                path: format!("{rel}/{sub}"),
                line: 1,
                message: format!("cannot read: {e}"),
            })
        }
    };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            names.push(entry.file_name().to_string_lossy().to_string());
        }
    }
    names.sort();
    names
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .map(|name| {
            let text = read(dir, rel, &format!("{sub}/{name}"))?;
            Ok(TextFile { name, text })
        })
        .collect()
}

/// The line a `serde_yaml` error points at (1 when it does not say).
fn yaml_line(e: &serde_yaml::Error) -> usize {
    e.location().map_or(1, |l| l.line().max(1))
}

/// `at line N` in a message (errors that lost their location keep it in text).
fn line_in_message(m: &str) -> Option<usize> {
    let i = m.find("at line ")?;
    m[i + 8..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Reads one lab directory. `rel` is the directory's path as shown in
/// messages (e.g. `labs/01-first-load-test`).
pub fn load_lab(dir: &Path, rel: &str) -> Result<Lab, LabProblem> {
    let rel = rel.trim_end_matches('/');
    let src = read(dir, rel, "lab.yaml")?;
    let ctx = Ctx {
        rel,
        lab_yaml: format!("{rel}/lab.yaml"),
        index: LineIndex::new(&src),
    };
    let raw: RawLab = serde_yaml::from_str(&src).map_err(|e| LabProblem {
        path: ctx.lab_yaml.clone(),
        line: yaml_line(&e),
        message: e.to_string(),
    })?;
    let instructions_md = read(dir, rel, "instructions.md")?;
    if instructions_md.trim().is_empty() {
        return Err(ctx.file_problem("instructions.md", 1, "the instructions are empty"));
    }
    for (field, value) in [
        ("title", &raw.title),
        ("summary", &raw.summary),
        ("section", &raw.section),
    ] {
        if value.trim().is_empty() {
            return Err(ctx.at(&at_path![field], format!("{field} must not be empty")));
        }
    }
    check_section(dir, &ctx, &raw.section)?;
    if raw.minutes <= 0 {
        return Err(ctx.at(&at_path!["minutes"], "minutes must be positive"));
    }
    if raw.reveal_solution_after < 0 {
        return Err(ctx.at(
            &at_path!["reveal_solution_after"],
            "reveal_solution_after must not be negative",
        ));
    }
    let slug = match raw.slug {
        Some(s) => s,
        None => default_slug(dir),
    };
    if slug.is_empty()
        || !slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(ctx.at(
            &at_path!["slug"],
            format!("slug {slug:?} must be lower-case letters, digits and dashes"),
        ));
    }

    let files = load_files(dir, &ctx, raw.files)?;
    let fixtures = read_folder(dir, rel, "fixtures")?;
    let scenarios = load_scenarios(dir, &ctx)?;
    let runs = load_runs(&ctx, raw.runs, &files, &fixtures, &scenarios)?;
    let steps = load_steps(&ctx, raw.steps, &files, &fixtures, &runs)?;

    Ok(Lab {
        slug,
        title: raw.title.trim().to_owned(),
        summary: raw.summary.trim().to_owned(),
        section: raw.section,
        order: raw.order,
        minutes: raw.minutes,
        reveal_solution_after: raw.reveal_solution_after,
        instructions_md,
        files,
        steps,
        runs,
        fixtures,
        scenarios,
    })
}

/// `01-first-load-test` → `first-load-test`.
fn default_slug(dir: &Path) -> String {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    match name.split_once('-') {
        Some((num, rest)) if !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) => {
            rest.to_owned()
        }
        _ => name,
    }
}

/// The section must be one of the course's when the lab sits in a course
/// folder (`<course>/labs/<lab>` next to `<course>/course.yaml`).
fn check_section(dir: &Path, ctx: &Ctx<'_>, section: &str) -> Result<(), LabProblem> {
    #[derive(Deserialize)]
    struct Course {
        #[serde(default)]
        sections: Vec<Section>,
    }
    #[derive(Deserialize)]
    struct Section {
        slug: String,
    }
    let Some(course_dir) = dir.parent().and_then(Path::parent) else {
        return Ok(());
    };
    let Ok(text) = std::fs::read_to_string(course_dir.join("course.yaml")) else {
        return Ok(());
    };
    // A course file that does not parse is the course loader's to report.
    let Ok(course) = serde_yaml::from_str::<Course>(&text) else {
        return Ok(());
    };
    let slugs: Vec<String> = course.sections.into_iter().map(|s| s.slug).collect();
    if !slugs.is_empty() && !slugs.iter().any(|s| s == section) {
        return Err(ctx.at(
            &at_path!["section"],
            format!(
                "section {section:?} is not a section of the course; sections: {}",
                slugs.join(", ")
            ),
        ));
    }
    Ok(())
}

fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn load_files(dir: &Path, ctx: &Ctx<'_>, raw: Vec<RawFile>) -> Result<Vec<LabFile>, LabProblem> {
    if raw.is_empty() {
        return Err(ctx.at(&at_path!["files"], "a lab needs at least one file to edit"));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, f) in raw.into_iter().enumerate() {
        let here = at_path!["files", i, "name"];
        if !valid_file_name(&f.name) {
            return Err(ctx.at(
                &here,
                format!(
                    "file name {:?} must be letters, digits, '.', '-' and '_' only",
                    f.name
                ),
            ));
        }
        if !seen.insert(f.name.clone()) {
            return Err(ctx.at(&here, format!("file {:?} is listed twice", f.name)));
        }
        let starter = read(dir, ctx.rel, &format!("starter/{}", f.name))?;
        let solution = read(dir, ctx.rel, &format!("solution/{}", f.name))?;
        validate_solution(ctx, &f.name, f.kind, &solution)?;
        out.push(LabFile {
            name: f.name,
            kind: f.kind,
            title: f.title,
            starter,
            solution,
        });
    }
    Ok(out)
}

/// The solution must at least be valid for its kind: a broken solution is
/// a lab nobody can pass.
fn validate_solution(
    ctx: &Ctx<'_>,
    name: &str,
    kind: FileKind,
    text: &str,
) -> Result<(), LabProblem> {
    let file = format!("solution/{name}");
    match kind {
        FileKind::K6 => {
            let cfg = lab_engine::RunConfig::default();
            lab_engine::runner::inspect(text, &cfg).map_err(|e| {
                let m = e.to_string();
                ctx.file_problem(&file, js_line(&m).unwrap_or(1), m)
            })?;
        }
        FileKind::Promql => {
            let q = crate::checks::strip_promql_comments(text);
            slo_toolkit::promql::parse(&q)
                .map_err(|e| ctx.file_problem(&file, 1, e.to_string()))?;
        }
        FileKind::Sloth | FileKind::Openslo => {
            slo_toolkit::slo::parse_slo_str(&file, text)
                .map_err(|e| ctx.file_problem(&file, e.line, e.reason))?;
        }
        FileKind::Keptn => {
            slo_toolkit::gate::SloFile::parse(&file, text).map_err(|e| match e {
                slo_toolkit::gate::GateError::Spec { line, reason, .. } => {
                    ctx.file_problem(&file, line, reason)
                }
            })?;
        }
        FileKind::Answer => {}
    }
    Ok(())
}

/// The line of a JavaScript error (`script.js:12:5`, `line 12`), when it says.
fn js_line(m: &str) -> Option<usize> {
    if let Some(n) = line_in_message(m) {
        return Some(n);
    }
    let i = m.find(".js:")?;
    m[i + 4..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn load_scenarios(dir: &Path, ctx: &Ctx<'_>) -> Result<Vec<TextFile>, LabProblem> {
    let mut out = Vec::new();
    for f in read_folder(dir, ctx.rel, "scenarios")? {
        let file = format!("scenarios/{}", f.name);
        let Some(stem) = f
            .name
            .strip_suffix(".yaml")
            .or_else(|| f.name.strip_suffix(".yml"))
        else {
            return Err(ctx.file_problem(&file, 1, "scenarios are .yaml files"));
        };
        // Parse once for the location of a syntax error, then let the engine
        // validate the meaning.
        if let Err(e) = serde_yaml::from_str::<serde_yaml::Value>(&f.text) {
            return Err(ctx.file_problem(&file, yaml_line(&e), e.to_string()));
        }
        let scenario = lab_engine::toy::Scenario::from_yaml(&f.text).map_err(|e| {
            let m = e.to_string();
            let line = line_in_message(&m).unwrap_or_else(|| line_of_subject(&f.text, &m));
            ctx.file_problem(&file, line, m)
        })?;
        if scenario.name != stem {
            let line = LineIndex::new(&f.text).line(&at_path!["name"]);
            return Err(ctx.file_problem(
                &file,
                line,
                format!(
                    "the scenario is named {:?} but its file says {stem:?}; use the same name",
                    scenario.name
                ),
            ));
        }
        out.push(TextFile {
            name: stem.to_owned(),
            text: f.text,
        });
    }
    Ok(out)
}

/// The engine names what is wrong first (`invalid scenario: latency: ...`,
/// `invalid scenario: /api/pizza: ...`): the first line that mentions it as
/// a key is where to look (1 when none does).
fn line_of_subject(text: &str, message: &str) -> usize {
    let rest = message
        .strip_prefix("invalid scenario: ")
        .unwrap_or(message);
    let subject = match rest.split_once(": ") {
        Some((s, _)) => s,
        None => rest.split_whitespace().next().unwrap_or(""),
    };
    if subject.is_empty() {
        return 1;
    }
    let key = format!("{subject}:");
    text.lines()
        .position(|l| {
            let t = l
                .trim_start()
                .trim_start_matches("- ")
                .trim_start_matches('{')
                .trim_start();
            t.starts_with(&key) || l.contains(&format!(" {key}"))
        })
        .map_or(1, |i| i + 1)
}

fn duration_field(
    ctx: &Ctx<'_>,
    here: &[Seg],
    v: Option<serde_yaml::Value>,
    default: f64,
) -> Result<f64, LabProblem> {
    match v {
        None => Ok(default),
        Some(v) => match parse_secs(&v) {
            Ok(s) if s > 0.0 => Ok(s),
            Ok(_) => Err(ctx.at(here, "the duration must be positive")),
            Err(e) => Err(ctx.at(here, e)),
        },
    }
}

fn load_runs(
    ctx: &Ctx<'_>,
    raw: Vec<RawRun>,
    files: &[LabFile],
    fixtures: &[TextFile],
    scenarios: &[TextFile],
) -> Result<Vec<RunSpec>, LabProblem> {
    let mut out: Vec<RunSpec> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        if r.id.trim().is_empty() {
            return Err(ctx.at(&at_path!["runs", i, "id"], "a run needs an id"));
        }
        if out.iter().any(|o| o.id == r.id) {
            return Err(ctx.at(
                &at_path!["runs", i, "id"],
                format!("run id {:?} is used twice", r.id),
            ));
        }
        let here = at_path!["runs", i, "script"];
        if let Some(fixture) = r.script.strip_prefix("fixtures/") {
            let Some(f) = fixtures.iter().find(|f| f.name == fixture) else {
                return Err(ctx.at(
                    &here,
                    format!("run {:?}: there is no fixtures/{fixture}", r.id),
                ));
            };
            // A fixture's own errors are reported in the fixture.
            lab_engine::runner::inspect(&f.text, &lab_engine::RunConfig::default()).map_err(
                |e| {
                    let m = e.to_string();
                    ctx.file_problem(&r.script, js_line(&m).unwrap_or(1), m)
                },
            )?;
        } else {
            match files.iter().find(|f| f.name == r.script) {
                None => {
                    return Err(ctx.at(
                        &here,
                        format!(
                            "run {:?}: script {:?} is not one of the lab's files ({}) nor fixtures/<name>",
                            r.id,
                            r.script,
                            names(files)
                        ),
                    ))
                }
                Some(f) if f.kind != FileKind::K6 => {
                    return Err(ctx.at(
                        &here,
                        format!(
                            "run {:?}: {} is a {} file, not a k6 script",
                            r.id,
                            f.name,
                            f.kind.name()
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        if !scenarios.iter().any(|s| s.name == r.scenario) {
            if let Err(e) = lab_engine::toy::Scenario::builtin(&r.scenario) {
                let own: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
                let mut message = format!("run {:?}: {e}", r.id);
                if !own.is_empty() {
                    message.push_str(&format!("; this lab's scenarios: {}", own.join(", ")));
                }
                return Err(ctx.at(&at_path!["runs", i, "scenario"], message));
            }
        }
        let scrape_interval = duration_field(
            ctx,
            &at_path!["runs", i, "scrape_interval"],
            r.scrape_interval,
            5.0,
        )?;
        if scrape_interval.fract() != 0.0 {
            return Err(ctx.at(
                &at_path!["runs", i, "scrape_interval"],
                "scrape_interval must be whole seconds",
            ));
        }
        let max_duration = duration_field(
            ctx,
            &at_path!["runs", i, "max_duration"],
            r.max_duration,
            DEFAULT_MAX_DURATION,
        )?;
        let max_vus = r.max_vus.unwrap_or(DEFAULT_MAX_VUS);
        let max_requests = r.max_requests.unwrap_or(DEFAULT_MAX_REQUESTS);
        if max_vus <= 0 || max_vus > 10_000 {
            return Err(ctx.at(
                &at_path!["runs", i, "max_vus"],
                "max_vus must be between 1 and 10000",
            ));
        }
        if max_requests <= 0 {
            return Err(ctx.at(
                &at_path!["runs", i, "max_requests"],
                "max_requests must be positive",
            ));
        }
        let spec = RunSpec {
            id: r.id,
            title: r.title,
            script: r.script,
            scenario: r.scenario,
            mode: r.mode,
            seed: r.seed,
            env: r.env,
            scrape_interval,
            max_duration,
            max_vus,
            max_requests,
        };
        // The script the lab expects to run (the fixture, or the solution of
        // the learner's file) must fit the run's own limits.
        let script = match spec.fixture() {
            Some(name) => fixtures.iter().find(|f| f.name == name).map(|f| &f.text),
            None => files
                .iter()
                .find(|f| f.name == spec.script)
                .map(|f| &f.solution),
        };
        if let (Some(script), Ok(scenario)) = (
            script,
            crate::model::resolve_scenario(&spec.scenario, scenarios),
        ) {
            let cfg = lab_engine::RunConfig {
                scenario,
                limits: crate::grade::limits(&spec),
                env: spec.env.clone(),
                ..lab_engine::RunConfig::default()
            };
            if let Err(e) = lab_engine::runner::inspect(script, &cfg) {
                return Err(ctx.at(
                    &at_path!["runs", i],
                    format!(
                        "run {:?}: the {} is refused: {e}",
                        spec.id,
                        if spec.fixture().is_some() {
                            "fixture"
                        } else {
                            "solution"
                        }
                    ),
                ));
            }
        }
        out.push(spec);
    }
    Ok(out)
}

fn names(files: &[LabFile]) -> String {
    files
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn load_steps(
    ctx: &Ctx<'_>,
    raw: Vec<RawStep>,
    files: &[LabFile],
    fixtures: &[TextFile],
    runs: &[RunSpec],
) -> Result<Vec<Step>, LabProblem> {
    if raw.is_empty() {
        return Err(ctx.at(&at_path!["steps"], "a lab needs at least one step"));
    }
    let mut step_ids = BTreeSet::new();
    let mut check_ids = BTreeSet::new();
    let mut out = Vec::new();
    for (si, s) in raw.into_iter().enumerate() {
        if s.id.trim().is_empty() || !step_ids.insert(s.id.clone()) {
            return Err(ctx.at(
                &at_path!["steps", si, "id"],
                format!("step id {:?} is empty or used twice", s.id),
            ));
        }
        if s.checks.is_empty() {
            return Err(ctx.at(
                &at_path!["steps", si, "checks"],
                format!("step {:?} has no checks", s.id),
            ));
        }
        let mut checks = Vec::new();
        for (ci, mapping) in s.checks.into_iter().enumerate() {
            let here = at_path!["steps", si, "checks", ci].to_vec();
            let check = load_check(ctx, &here, mapping, files, fixtures, runs)?;
            if !check_ids.insert(check.id.clone()) {
                let mut p = here.clone();
                p.push(Seg::Key("id".into()));
                return Err(ctx.at(&p, format!("check id {:?} is used twice", check.id)));
            }
            checks.push(check);
        }
        out.push(Step {
            id: s.id,
            title: s.title,
            checks,
        });
    }
    Ok(out)
}

fn take_string(
    ctx: &Ctx<'_>,
    here: &[Seg],
    m: &mut serde_yaml::Mapping,
    key: &str,
    required: bool,
) -> Result<Option<String>, LabProblem> {
    let mut p = here.to_vec();
    p.push(Seg::Key(key.into()));
    match m.remove(key) {
        None if required => Err(ctx.at(here, format!("the check needs a {key}"))),
        None => Ok(None),
        Some(serde_yaml::Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(ctx.at(&p, format!("{key} must be a non-empty string"))),
    }
}

fn load_check(
    ctx: &Ctx<'_>,
    here: &[Seg],
    mut m: serde_yaml::Mapping,
    files: &[LabFile],
    fixtures: &[TextFile],
    runs: &[RunSpec],
) -> Result<Check, LabProblem> {
    let id = take_string(ctx, here, &mut m, "id", true)?.unwrap_or_default();
    let title = take_string(ctx, here, &mut m, "title", true)?.unwrap_or_default();
    let hint = take_string(ctx, here, &mut m, "hint", false)?;
    let field = |name: &str| {
        let mut p = here.to_vec();
        p.push(Seg::Key(name.to_owned()));
        p
    };
    if !m.contains_key("kind") {
        return Err(ctx.at(here, format!("check {id:?} needs a kind")));
    }
    let spec: CheckSpec = serde_yaml::from_value(serde_yaml::Value::Mapping(m)).map_err(|e| {
        let msg = e.to_string();
        // Point at the field the message names (`unknown field `x``,
        // `missing field `y``), or at the kind for an unknown variant.
        let named = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.contains("field"))
            .map(str::to_owned);
        let line_path = if msg.contains("unknown variant") {
            field("kind")
        } else if let Some(n) = &named {
            if msg.contains("missing field") {
                here.to_vec()
            } else {
                field(n)
            }
        } else {
            here.to_vec()
        };
        ctx.at(&line_path, format!("check {id:?}: {msg}"))
    })?;
    validate_check(ctx, &id, &spec, &field, files, fixtures, runs)?;
    Ok(Check {
        id,
        title,
        hint,
        spec,
    })
}

#[expect(
    clippy::too_many_lines,
    reason = "one arm per check kind reads better than a dozen tiny functions"
)]
fn validate_check(
    ctx: &Ctx<'_>,
    id: &str,
    spec: &CheckSpec,
    field: &dyn Fn(&str) -> Vec<Seg>,
    files: &[LabFile],
    fixtures: &[TextFile],
    runs: &[RunSpec],
) -> Result<(), LabProblem> {
    let bad = |f: &str, m: String| Err(ctx.at(&field(f), format!("check {id:?}: {m}")));
    for run in spec.runs() {
        if !runs.iter().any(|r| r.id == run) {
            let key = if matches!(spec, CheckSpec::Gate { history, .. } if history.iter().any(|h| h == run))
            {
                "history"
            } else {
                "run"
            };
            let known: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
            return bad(
                key,
                format!(
                    "run {run:?} is not defined (runs: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
    }
    // Which kinds of learner file each check reads.
    let wanted: &[FileKind] = match spec {
        CheckSpec::AnswerNumber { .. }
        | CheckSpec::AnswerChoice { .. }
        | CheckSpec::AnswerQuery { .. } => &[FileKind::Answer],
        CheckSpec::PromqlMatches { .. } | CheckSpec::PromqlTop { .. } => &[FileKind::Promql],
        CheckSpec::SloPages { .. } | CheckSpec::SloQuiet { .. } => {
            &[FileKind::Sloth, FileKind::Openslo]
        }
        _ => &[],
    };
    let learner_file = |name: &str, key: &str| -> Result<&LabFile, LabProblem> {
        files.iter().find(|f| f.name == name).ok_or_else(|| {
            ctx.at(
                &field(key),
                format!(
                    "check {id:?}: file {name:?} is not one of the lab's files ({})",
                    names(files)
                ),
            )
        })
    };
    if !wanted.is_empty() || matches!(spec, CheckSpec::Valid { .. }) {
        if let Some(name) = spec.files().first() {
            let f = learner_file(name, "file")?;
            if !wanted.is_empty() && !wanted.contains(&f.kind) {
                let kinds: Vec<&str> = wanted.iter().map(|k| k.name()).collect();
                return bad(
                    "file",
                    format!(
                        "{} is a {} file; a {} check reads a {} file",
                        f.name,
                        f.kind.name(),
                        spec.kind(),
                        kinds.join(" or ")
                    ),
                );
            }
        }
    }
    let range = |min: Option<f64>, max: Option<f64>| -> Result<(), LabProblem> {
        if min.is_none() && max.is_none() {
            return bad("min", "give min, max or both".into());
        }
        if let (Some(a), Some(b)) = (min, max) {
            if a > b {
                return bad("min", format!("min {a} is above max {b}"));
            }
        }
        Ok(())
    };
    let answer_field = |file: &str, name: &str| -> Result<(), LabProblem> {
        let f = learner_file(file, "file")?;
        if !parse_answers(&f.starter).contains_key(name) {
            return bad(
                "field",
                format!("starter/{file} has no `{name}:` line for the learner to fill in"),
            );
        }
        Ok(())
    };
    let query = |key: &str, q: &str| -> Result<(), LabProblem> {
        slo_toolkit::promql::parse(q)
            .map(|_| ())
            .or_else(|e| bad(key, format!("{key} does not parse: {e}")))
    };
    match spec {
        CheckSpec::Threshold { stat, min, max, .. } => {
            if let Some(s) = stat {
                if lab_engine::runner::thresholds::parse_expression(&format!("{s}<1")).is_err() {
                    return bad(
                        "stat",
                        format!("{s:?} is not a k6 aggregation like p(95) or rate"),
                    );
                }
            }
            if let (Some(a), Some(b)) = (min, max) {
                if a > b {
                    return bad("min", format!("min {a} is above max {b}"));
                }
            }
        }
        CheckSpec::Executor { executor, .. } => {
            const EXECUTORS: [&str; 6] = [
                "constant-vus",
                "ramping-vus",
                "per-vu-iterations",
                "shared-iterations",
                "constant-arrival-rate",
                "ramping-arrival-rate",
            ];
            if !EXECUTORS.contains(&executor.as_str()) {
                return bad(
                    "executor",
                    format!(
                        "{executor:?} is not a k6 executor ({})",
                        EXECUTORS.join(", ")
                    ),
                );
            }
        }
        CheckSpec::Vus { min, max, .. } | CheckSpec::Rate { min, max, .. } => range(*min, *max)?,
        CheckSpec::Metric { min, max, .. } => range(*min, *max)?,
        CheckSpec::K6Checks { min_rate, .. } if !(0.0..=1.0).contains(min_rate) => {
            return bad("min_rate", "min_rate is a share between 0 and 1".into());
        }
        CheckSpec::AnswerNumber {
            file,
            field: f,
            min,
            max,
        } => {
            range(Some(*min), Some(*max))?;
            answer_field(file, f)?;
        }
        CheckSpec::AnswerChoice {
            file,
            field: f,
            accept,
        } => {
            if accept.is_empty() {
                return bad("accept", "list at least one accepted answer".into());
            }
            answer_field(file, f)?;
        }
        CheckSpec::AnswerQuery {
            file,
            field: f,
            query: q,
            tolerance,
            ..
        } => {
            answer_field(file, f)?;
            query("query", q)?;
            if tolerance.is_nan() || *tolerance < 0.0 {
                return bad("tolerance", "tolerance must not be negative".into());
            }
        }
        CheckSpec::PromqlMatches {
            reference,
            step,
            tolerance,
            ..
        } => {
            query("reference", reference)?;
            if step.is_some_and(|s| s <= 0.0) {
                return bad("step", "step must be positive".into());
            }
            if tolerance.is_some_and(|t| t.is_nan() || t < 0.0) {
                return bad("tolerance", "tolerance must not be negative".into());
            }
        }
        CheckSpec::PromqlTop {
            any_of, min_series, ..
        } => {
            if any_of.is_empty() || any_of.iter().any(BTreeMap::is_empty) {
                return bad("any_of", "list at least one non-empty label set".into());
            }
            if *min_series < 1 {
                return bad("min_series", "min_series must be at least 1".into());
            }
        }
        CheckSpec::Gate {
            file, sli, expect, ..
        } => {
            if !matches!(expect.as_str(), "pass" | "warning" | "fail") {
                return bad("expect", format!("{expect:?} is not pass, warning or fail"));
            }
            for (key, name, kind) in [
                ("file", file, FileKind::Keptn),
                ("sli", sli, FileKind::Keptn),
            ] {
                if let Some(fixture) = name.strip_prefix("fixtures/") {
                    let Some(f) = fixtures.iter().find(|f| f.name == fixture) else {
                        return bad(key, format!("there is no fixtures/{fixture}"));
                    };
                    let parsed = if key == "sli" {
                        slo_toolkit::gate::SliFile::parse(name, &f.text).map(|_| ())
                    } else {
                        slo_toolkit::gate::SloFile::parse(name, &f.text).map(|_| ())
                    };
                    if let Err(slo_toolkit::gate::GateError::Spec { line, reason, .. }) = parsed {
                        return Err(ctx.file_problem(name, line, reason));
                    }
                } else {
                    let f = learner_file(name, key)?;
                    if f.kind != kind {
                        return bad(
                            key,
                            format!("{} is a {} file, not a keptn file", f.name, f.kind.name()),
                        );
                    }
                }
            }
        }
        CheckSpec::SloPages { within, .. } if *within <= 0.0 => {
            return bad("within", "within must be positive".into());
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_drop_the_number() {
        assert_eq!(
            default_slug(Path::new("labs/01-first-load-test")),
            "first-load-test"
        );
        assert_eq!(default_slug(Path::new("labs/knee")), "knee");
        assert_eq!(default_slug(Path::new("labs/v2-gate")), "v2-gate");
    }

    #[test]
    fn engine_messages_point_at_lines() {
        assert_eq!(
            js_line("SyntaxError: Unexpected token ')'\n    at script.js:30:64"),
            Some(30)
        );
        assert_eq!(js_line("invalid type at line 4 column 2"), Some(4));
        assert_eq!(js_line("no place"), None);
        let scenario = "name: x\nlatency: { median_ms: 60, p99_ms: 30 }\nendpoints:\n  /api/pizza: { error_rate: 2 }\n";
        assert_eq!(
            line_of_subject(
                scenario,
                "invalid scenario: latency: latency needs 0 < median_ms <= p99_ms"
            ),
            2
        );
        assert_eq!(
            line_of_subject(
                scenario,
                "invalid scenario: /api/pizza: error_rate must be between 0 and 1"
            ),
            4
        );
        assert_eq!(
            line_of_subject(
                scenario,
                "invalid scenario: error_rate must be between 0 and 1"
            ),
            4
        );
        assert_eq!(
            line_of_subject(
                scenario,
                "invalid scenario: shards must be between 1 and 256"
            ),
            1
        );
    }
}
