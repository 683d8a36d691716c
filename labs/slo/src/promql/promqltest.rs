//! A runner for Prometheus's `promqltest` script format.
//!
//! Supported commands: `load <step>` (followed by indented series lines in
//! series notation), `clear`, `eval instant at <time> <expr>`,
//! `eval range from <t> to <t> step <d> <expr>`, `eval_ordered`,
//! `eval_fail` (optionally followed by `expected_fail_message` or
//! `expected_fail_regexp`), and `eval_warn`/`eval_info` (annotations are not
//! checked). Values are compared the way Prometheus's runner does: NaN
//! equals NaN, otherwise within a relative error of 1e-6.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use super::eval::{parse, Engine, QueryOptions};
use super::labels::{parse_series_descriptor, Labels};
use super::store::{expand_series_values, parse_float, Storage};
use super::value::{format_float, format_timestamp, Value};

/// Prometheus's test runner tolerance.
pub const EPSILON: f64 = 1e-6;

/// One failed command.
#[derive(Clone, Debug, PartialEq)]
pub struct TestFailure {
    /// 1-based line of the command in the script.
    pub line: usize,
    /// The command line itself.
    pub command: String,
    /// What went wrong.
    pub message: String,
}

/// The outcome of one script.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TestReport {
    /// The script's name (usually its path).
    pub name: String,
    /// How many `eval` commands ran.
    pub evals: usize,
    /// The failures, in script order.
    pub failures: Vec<TestFailure>,
}

impl TestReport {
    /// True when every command passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for TestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for fail in &self.failures {
            writeln!(
                f,
                "{}:{}: {}\n    {}",
                self.name, fail.line, fail.command, fail.message
            )?;
        }
        if self.passed() {
            write!(f, "{}: ok ({} evals)", self.name, self.evals)
        } else {
            write!(
                f,
                "{}: FAILED ({} of {} evals/commands failed)",
                self.name,
                self.failures.len(),
                self.evals
            )
        }
    }
}

/// Runs a script file.
pub fn run_test_file(path: &Path) -> std::io::Result<TestReport> {
    let src = std::fs::read_to_string(path)?;
    Ok(run_test_script(&path.display().to_string(), &src))
}

/// Parses a duration as promqltest does: `1h30m`, `5m`, `90s`, `100ms`,
/// `1d`, `1w`, `1y`, or a plain number of seconds. Returns milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<f64>() {
        return secs.is_finite().then(|| (secs * 1000.0).round() as i64);
    }
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let mult = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(n.checked_mul(mult)?)?;
    }
    Some(if neg { -total } else { total })
}

/// Prometheus's `almostEqual` for test expectations.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

enum Expected {
    /// Series with a single value each (instant queries), in script order.
    Instant(Vec<(Labels, f64)>),
    /// A scalar result.
    Scalar(f64),
    /// A string result.
    Str(String),
}

struct EvalCmd {
    line: usize,
    kind: EvalKind,
    ordered: bool,
    fail: bool,
    fail_message: Option<String>,
    fail_regexp: Option<String>,
    query: String,
    body: Vec<(usize, String)>,
}

enum EvalKind {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

fn is_indented(line: &str) -> bool {
    line.starts_with(' ') || line.starts_with('\t')
}

/// Runs a promqltest script given as text, comparing with Prometheus's tolerance.
pub fn run_test_script(name: &str, src: &str) -> TestReport {
    run_test_script_with(name, src, EPSILON)
}

/// Runs a script comparing floats with relative tolerance `epsilon` (0 = bit-exact, NaN equals NaN).
pub fn run_test_script_with(name: &str, src: &str, epsilon: f64) -> TestReport {
    let mut report = TestReport {
        name: name.to_string(),
        ..TestReport::default()
    };
    let mut storage = Storage::new();
    let lines: Vec<&str> = src.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let raw = lines[i];
        let line = raw.trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The command's body: following indented (or non-command) lines.
        let body_start = i;
        while i < lines.len() {
            let l = lines[i];
            if l.trim().is_empty() {
                break;
            }
            if !is_indented(l) && is_command(l.trim()) {
                break;
            }
            i += 1;
        }
        let body: Vec<(usize, String)> = (body_start..i)
            .map(|n| (n + 1, lines[n].trim().to_string()))
            .filter(|(_, l)| !l.starts_with('#'))
            .collect();
        let fail = |message: String| TestFailure {
            line: line_no,
            command: line.to_string(),
            message,
        };
        let word = line.split_whitespace().next().unwrap_or("");
        match word {
            "clear" => storage.clear(),
            "load" => {
                let step = line.split_whitespace().nth(1).and_then(parse_duration_ms);
                let Some(step) = step else {
                    report
                        .failures
                        .push(fail("load needs a step duration, e.g. `load 1m`".into()));
                    continue;
                };
                for (n, l) in &body {
                    if let Err(e) = storage.load_series_lines([l.as_str()], step, *n) {
                        report.failures.push(TestFailure {
                            line: e.line,
                            command: l.clone(),
                            message: e.reason,
                        });
                    }
                }
            }
            "eval" | "eval_fail" | "eval_ordered" | "eval_warn" | "eval_info" => {
                report.evals += 1;
                match parse_eval(line, line_no, word, body) {
                    Ok(cmd) => {
                        if let Err(message) = run_eval(&storage, &cmd, epsilon) {
                            report.failures.push(fail(message));
                        }
                    }
                    Err(message) => report.failures.push(fail(message)),
                }
            }
            other => report
                .failures
                .push(fail(format!("unknown command {other:?}"))),
        }
    }
    report
}

fn is_command(line: &str) -> bool {
    matches!(
        line.split_whitespace().next(),
        Some("load" | "clear" | "eval" | "eval_fail" | "eval_ordered" | "eval_warn" | "eval_info")
    )
}

fn parse_eval(
    line: &str,
    line_no: usize,
    word: &str,
    body: Vec<(usize, String)>,
) -> Result<EvalCmd, String> {
    let rest = line[word.len()..].trim_start();
    let (kind, query) = if let Some(r) = rest.strip_prefix("instant") {
        let r = r
            .trim_start()
            .strip_prefix("at")
            .ok_or("expected `eval instant at <time> <expr>`")?
            .trim_start();
        let (at, query) = r
            .split_once(char::is_whitespace)
            .ok_or("missing expression")?;
        let at = parse_duration_ms(at).ok_or_else(|| format!("bad time {at:?}"))?;
        (EvalKind::Instant(at), query.trim())
    } else if let Some(r) = rest.strip_prefix("range") {
        // Walk `from <t> to <t> step <d> <expr>` word by word, keeping the
        // expression's own spacing.
        let mut cur = r.trim_start();
        let mut words = Vec::new();
        for keyword in ["from", "to", "step"] {
            let (w, rest) = cur
                .split_once(char::is_whitespace)
                .ok_or("expected `eval range from <t> to <t> step <d> <expr>`")?;
            if w != keyword {
                return Err("expected `eval range from <t> to <t> step <d> <expr>`".into());
            }
            let (v, rest) = rest
                .trim_start()
                .split_once(char::is_whitespace)
                .ok_or("expected `eval range from <t> to <t> step <d> <expr>`")?;
            words.push(v.to_string());
            cur = rest.trim_start();
        }
        let query = cur.trim();
        if query.is_empty() {
            return Err("missing expression".into());
        }
        let (start, end, step) = (words[0].clone(), words[1].clone(), words[2].clone());
        let t = |s: &str| parse_duration_ms(s).ok_or_else(|| format!("bad time {s:?}"));
        (
            EvalKind::Range {
                start: t(&start)?,
                end: t(&end)?,
                step: t(&step)?,
            },
            query,
        )
    } else {
        return Err("expected `instant` or `range` after eval".into());
    };
    let mut cmd = EvalCmd {
        line: line_no,
        kind,
        ordered: word == "eval_ordered",
        fail: word == "eval_fail",
        fail_message: None,
        fail_regexp: None,
        query: query.to_string(),
        body: Vec::new(),
    };
    for (n, l) in body {
        if let Some(m) = l.strip_prefix("expected_fail_message") {
            cmd.fail_message = Some(m.trim().to_string());
        } else if let Some(m) = l.strip_prefix("expected_fail_regexp") {
            cmd.fail_regexp = Some(m.trim().to_string());
        } else {
            cmd.body.push((n, l));
        }
    }
    Ok(cmd)
}

fn run_eval(storage: &Storage, cmd: &EvalCmd, epsilon: f64) -> Result<(), String> {
    let result = parse(&cmd.query).and_then(|expr| match cmd.kind {
        EvalKind::Instant(t) => {
            Engine::new(storage, QueryOptions::default(), t, t).eval_instant(&expr, t)
        }
        EvalKind::Range { start, end, step } => {
            Engine::new(storage, QueryOptions::default(), start, end)
                .eval_range(&expr, start, end, step)
        }
    });
    if cmd.fail {
        return match result {
            Ok(v) => Err(format!(
                "expected error evaluating query {:?} (line {}), got result:\n{v}",
                cmd.query, cmd.line
            )),
            Err(e) => {
                let msg = e.to_string();
                if let Some(want) = &cmd.fail_message {
                    if !msg.contains(want.as_str()) {
                        return Err(format!("expected error message {want:?}, got {msg:?}"));
                    }
                }
                if let Some(re) = &cmd.fail_regexp {
                    let re = regex::Regex::new(re).map_err(|e| format!("bad regexp: {e}"))?;
                    if !re.is_match(&msg) {
                        return Err(format!("error {msg:?} does not match {re}"));
                    }
                }
                Ok(())
            }
        };
    }
    let value = result.map_err(|e| format!("error evaluating query {:?}: {e}", cmd.query))?;
    match cmd.kind {
        EvalKind::Instant(_) => compare_instant(cmd, &value, epsilon),
        EvalKind::Range { start, step, .. } => compare_range(cmd, &value, start, step, epsilon),
    }
}

fn parse_expected_instant(body: &[(usize, String)]) -> Result<Expected, String> {
    if let [(_, only)] = body {
        if let Some(v) = parse_float(only.trim()) {
            return Ok(Expected::Scalar(v));
        }
        if only.starts_with('"') {
            let (s, _) = super::labels::parse_quoted(only)?;
            return Ok(Expected::Str(s));
        }
    }
    let mut out = Vec::new();
    for (n, l) in body {
        let (labels, rest) =
            parse_series_descriptor(l).map_err(|e| format!("line {n}: bad expectation: {e}"))?;
        let vals = expand_series_values(rest).map_err(|e| format!("line {n}: {e}"))?;
        let Some(Some(v)) = vals.first() else {
            return Err(format!("line {n}: expectation has no value"));
        };
        out.push((labels, *v));
    }
    Ok(Expected::Instant(out))
}

fn compare_instant(cmd: &EvalCmd, value: &Value, epsilon: f64) -> Result<(), String> {
    let expected = parse_expected_instant(&cmd.body)?;
    match (value, expected) {
        (Value::Scalar(got), Expected::Scalar(want)) => {
            if almost_equal(*got, want, epsilon) {
                Ok(())
            } else {
                Err(format!(
                    "expected scalar {} but got {}",
                    format_float(want),
                    format_float(*got)
                ))
            }
        }
        (Value::String(got), Expected::Str(want)) => {
            if *got == want {
                Ok(())
            } else {
                Err(format!("expected string {want:?} but got {got:?}"))
            }
        }
        (Value::Vector(els), Expected::Instant(want)) => {
            let positions: HashMap<&Labels, usize> =
                want.iter().enumerate().map(|(i, (l, _))| (l, i)).collect();
            for (pos, e) in els.iter().enumerate() {
                let Some(&idx) = positions.get(&e.labels) else {
                    return Err(format!(
                        "unexpected metric {} in result, has value {}",
                        e.labels,
                        format_float(e.value)
                    ));
                };
                let want_v = want[idx].1;
                if cmd.ordered && idx != pos {
                    return Err(format!(
                        "expected metric {} with value {} at position {}, but it was at position {}",
                        e.labels,
                        format_float(want_v),
                        idx + 1,
                        pos + 1
                    ));
                }
                if !almost_equal(e.value, want_v, epsilon) {
                    return Err(format!(
                        "expected {} for {} but got {}",
                        format_float(want_v),
                        e.labels,
                        format_float(e.value)
                    ));
                }
            }
            if els.len() != want.len() {
                let got: std::collections::HashSet<&Labels> =
                    els.iter().map(|e| &e.labels).collect();
                for (l, v) in &want {
                    if !got.contains(l) {
                        return Err(format!(
                            "expected metric {l} with value {} not found",
                            format_float(*v)
                        ));
                    }
                }
                return Err(format!(
                    "expected {} series, got {} (duplicate labels?)",
                    want.len(),
                    els.len()
                ));
            }
            Ok(())
        }
        (Value::Matrix(series), _) => {
            // An instant query of a range selector: compare values in order.
            let mut want = HashMap::new();
            for (n, l) in &cmd.body {
                let (labels, rest) =
                    parse_series_descriptor(l).map_err(|e| format!("line {n}: {e}"))?;
                let vals = expand_series_values(rest).map_err(|e| format!("line {n}: {e}"))?;
                want.insert(labels, vals.into_iter().flatten().collect::<Vec<f64>>());
            }
            for s in series {
                let Some(w) = want.remove(&s.labels) else {
                    return Err(format!("unexpected metric {} in result", s.labels));
                };
                let got: Vec<f64> = s.points.iter().map(|p| p.1).collect();
                if got.len() != w.len()
                    || got
                        .iter()
                        .zip(&w)
                        .any(|(a, b)| !almost_equal(*a, *b, epsilon))
                {
                    return Err(format!(
                        "expected {} for {} but got {}",
                        fmt_list(&w),
                        s.labels,
                        fmt_list(&got)
                    ));
                }
            }
            if let Some((l, _)) = want.into_iter().next() {
                return Err(format!("expected metric {l} not found"));
            }
            Ok(())
        }
        (got, Expected::Instant(want)) if want.is_empty() => Err(format!(
            "expected an empty vector, got {}: {}",
            got.type_name(),
            got.to_string().trim()
        )),
        (got, _) => Err(format!(
            "result of type {} does not match the expectation: {}",
            got.type_name(),
            got.to_string().trim()
        )),
    }
}

fn fmt_list(v: &[f64]) -> String {
    v.iter()
        .map(|x| format_float(*x))
        .collect::<Vec<_>>()
        .join(" ")
}

fn compare_range(
    cmd: &EvalCmd,
    value: &Value,
    start: i64,
    step: i64,
    epsilon: f64,
) -> Result<(), String> {
    let Value::Matrix(series) = value else {
        return Err(format!("range query returned {}", value.type_name()));
    };
    let mut want: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
    let mut order = Vec::new();
    for (n, l) in &cmd.body {
        // A bare value list means the scalar series `{}`.
        let first = l.split_whitespace().next().unwrap_or("");
        let bare = expand_series_values(first).is_ok();
        let (labels, rest) = if bare {
            (Labels::default(), l.as_str())
        } else {
            parse_series_descriptor(l).map_err(|e| format!("line {n}: {e}"))?
        };
        let vals = expand_series_values(rest).map_err(|e| format!("line {n}: {e}"))?;
        let points: Vec<(i64, f64)> = vals
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (start + step * i as i64, v)))
            .collect();
        order.push(labels.clone());
        want.insert(labels, points);
    }
    for s in series {
        let Some(w) = want.remove(&s.labels) else {
            return Err(format!(
                "unexpected metric {} in result, has {}",
                s.labels,
                fmt_points(&s.points)
            ));
        };
        let same = w.len() == s.points.len()
            && w.iter()
                .zip(&s.points)
                .all(|(a, b)| a.0 == b.0 && almost_equal(a.1, b.1, epsilon));
        if !same {
            return Err(format!(
                "expected {} for {} but got {}",
                fmt_points(&w),
                s.labels,
                fmt_points(&s.points)
            ));
        }
    }
    for l in order {
        if want.contains_key(&l) {
            return Err(format!("expected metric {l} not found"));
        }
    }
    Ok(())
}

fn fmt_points(p: &[(i64, f64)]) -> String {
    p.iter()
        .map(|(t, v)| format!("{} @[{}]", format_float(*v), format_timestamp(*t)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Loads the `load` blocks of a promqltest script (honouring `clear`) into
/// `storage`, ignoring every other command. Errors read `line: reason`.
pub fn load_script_data(src: &str, storage: &mut Storage) -> Result<(), String> {
    let lines: Vec<&str> = src.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let line_no = i + 1;
        i += 1;
        if line == "clear" {
            storage.clear();
            continue;
        }
        if !line.starts_with("load ") {
            continue;
        }
        let step = line
            .split_whitespace()
            .nth(1)
            .and_then(parse_duration_ms)
            .ok_or_else(|| format!("{line_no}: load needs a step duration, e.g. `load 1m`"))?;
        let start = i;
        while i < lines.len() && is_indented(lines[i]) && !lines[i].trim().is_empty() {
            i += 1;
        }
        storage
            .load_series_lines(lines[start..i].iter().copied(), step, start + 1)
            .map_err(|e| format!("{}: {}", e.line, e.reason))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration_ms("0"), Some(0));
        assert_eq!(parse_duration_ms("1.5"), Some(1500));
        assert_eq!(parse_duration_ms("5x"), None);
    }

    #[test]
    fn wrong_expectation_fails_with_line() {
        let r = run_test_script(
            "t",
            "load 1m\n  up 1+0x10\n\neval instant at 5m sum(up)\n  {} 2\n",
        );
        assert_eq!(r.failures.len(), 1);
        assert_eq!(r.failures[0].line, 4);
        assert!(
            r.failures[0].message.contains("expected 2"),
            "{}",
            r.failures[0].message
        );
    }

    #[test]
    fn eval_fail_needs_an_error() {
        let r = run_test_script("t", "eval_fail instant at 0 1 +\n");
        assert!(r.passed(), "{r}");
        let r = run_test_script("t", "eval_fail instant at 0 1 + 1\n");
        assert!(!r.passed());
    }
}
