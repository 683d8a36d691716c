//! Moodle's GIFT format: reading a question bank and writing it back.
//!
//! The full syntax for the supported types: `$CATEGORY:`, `//` comments, `::titles::`,
//! `[format]` markers, backslash escapes (`\~ \= \# \{ \} \: \\ \n`), per-answer and
//! general (`####`) feedback, `%weights%`, numeric `#value:tolerance`, `#min..max` and
//! multiple numeric answers, matching `->`, and true/false. Three things Moodle's GIFT
//! cannot say are written as comments Moodle ignores, so a bank still imports there:
//! `// @options: fixed` (do not shuffle), `// @tolerance: relative` (numeric tolerances
//! are fractions of the value), `// @type: ordering` (a matching block `=1 -> first
//! =2 -> second …` is an ordering question) and `// @module: slug` (the course module
//! that teaches it, where a learner who missed it is sent).
//!
//! Parsing is all or nothing: every problem is reported as a line and a reason, and a
//! file with any problem yields no questions.

use super::model::{Choice, Kind, NumericAnswer, NumericMatch, Pair, Question, TextAnswer};
use std::collections::HashSet;

/// One problem in a GIFT file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiftError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for GiftError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.line, self.message)
    }
}

#[derive(Default, Clone)]
struct Directives {
    fixed: bool,
    relative: bool,
    ordering: bool,
    module: Option<String>,
}

/// A module slug as `// @module:` may name it: lowercase letters, digits and dashes.
fn module_slug(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    .then_some(s)
}

/// Parses a GIFT file. Questions before any `$CATEGORY:` line go to `default_category`.
pub fn parse(src: &str, default_category: &str) -> Result<Vec<Question>, Vec<GiftError>> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut errors = Vec::new();
    let mut questions = Vec::new();
    let mut category = default_category.to_string();
    let mut block: Vec<&str> = Vec::new();
    let mut block_start = 0usize;
    let mut directives = Directives::default();
    let mut seen: HashSet<String> = HashSet::new();

    let mut flush = |block: &mut Vec<&str>,
                     start: usize,
                     directives: &mut Directives,
                     category: &str,
                     errors: &mut Vec<GiftError>| {
        if block.is_empty() {
            if directives.fixed
                || directives.relative
                || directives.ordering
                || directives.module.is_some()
            {
                errors.push(GiftError {
                    line: start,
                    message: "a `// @` directive must come right before a question".into(),
                });
            }
            *directives = Directives::default();
            return;
        }
        let text = block.join("\n");
        match parse_question(&text, start, directives, category) {
            Ok(q) => {
                if !seen.insert(q.key()) {
                    errors.push(GiftError {
                        line: start,
                        message: format!(
                            "a question named {:?} already exists in category {:?}; give it a unique ::title::",
                            q.name, q.category
                        ),
                    });
                } else {
                    questions.push(q);
                }
            }
            Err(e) => errors.push(e),
        }
        block.clear();
        *directives = Directives::default();
    };

    for (i, raw) in src.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim();
        if let Some(comment) = trimmed.strip_prefix("//") {
            if let Some(d) = comment.trim().strip_prefix('@') {
                if !block.is_empty() {
                    errors.push(GiftError {
                        line: line_no,
                        message: "a `// @` directive must come before a question, not inside it"
                            .into(),
                    });
                    continue;
                }
                let d: String = d.split_whitespace().collect::<Vec<_>>().join(" ");
                match d.as_str() {
                    "options: fixed" => directives.fixed = true,
                    "tolerance: relative" => directives.relative = true,
                    "type: ordering" => directives.ordering = true,
                    other if other.starts_with("module:") => {
                        let raw = &other["module:".len()..];
                        match (module_slug(raw), &directives.module) {
                            (_, Some(_)) => errors.push(GiftError {
                                line: line_no,
                                message: "a question names its module once".into(),
                            }),
                            (Some(slug), None) => directives.module = Some(slug.to_string()),
                            (None, None) => errors.push(GiftError {
                                line: line_no,
                                message: format!(
                                    "`@module:` takes a module slug (lowercase letters, digits and dashes), not {:?}",
                                    raw.trim()
                                ),
                            }),
                        }
                    }
                    other => errors.push(GiftError {
                        line: line_no,
                        message: format!(
                            "unknown directive `@{other}` (known: `@options: fixed`, `@tolerance: relative`, `@type: ordering`, `@module: slug`)"
                        ),
                    }),
                }
                if block_start == 0 || block.is_empty() {
                    block_start = line_no;
                }
            }
            continue;
        }
        if trimmed.is_empty() {
            flush(
                &mut block,
                block_start,
                &mut directives,
                &category,
                &mut errors,
            );
            continue;
        }
        if let Some(cat) = trimmed.strip_prefix("$CATEGORY:") {
            if !block.is_empty() {
                errors.push(GiftError {
                    line: line_no,
                    message:
                        "`$CATEGORY:` must be separated from the question above by a blank line"
                            .into(),
                });
                block.clear();
            }
            let cat = cat.trim();
            let cat = cat.strip_prefix("$course$/").unwrap_or(cat);
            let cat = cat.strip_prefix("top/").unwrap_or(cat).trim();
            if cat.is_empty() {
                errors.push(GiftError {
                    line: line_no,
                    message: "`$CATEGORY:` needs a name".into(),
                });
            } else {
                category = cat.to_string();
            }
            continue;
        }
        if block.is_empty() {
            block_start = line_no;
        }
        block.push(raw);
    }
    flush(
        &mut block,
        block_start,
        &mut directives,
        &category,
        &mut errors,
    );

    if errors.is_empty() {
        Ok(questions)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

/// Index of the first unescaped occurrence of `pat` in `s` at or after `from`.
fn find_unescaped(s: &[char], from: usize, pat: &str) -> Option<usize> {
    let pat: Vec<char> = pat.chars().collect();
    let mut i = from;
    while i < s.len() {
        if s[i] == '\\' {
            i += 2;
            continue;
        }
        if s[i..].starts_with(&pat) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Splits at every unescaped occurrence of `pat`.
fn split_unescaped(s: &[char], pat: &str) -> Vec<Vec<char>> {
    let mut parts = Vec::new();
    let mut start = 0;
    let n = pat.chars().count();
    let mut at = 0;
    while let Some(i) = find_unescaped(s, at, pat) {
        parts.push(s[start..i].to_vec());
        start = i + n;
        at = start;
    }
    parts.push(s[start..].to_vec());
    parts
}

fn unescape(s: &[char]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == '\\' && i + 1 < s.len() {
            out.push(if s[i + 1] == 'n' { '\n' } else { s[i + 1] });
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Unescaped and trimmed (surrounding whitespace is layout in GIFT, not content).
fn clean(s: &[char]) -> String {
    let t = trim(s);
    unescape(t)
}

fn trim(s: &[char]) -> &[char] {
    let mut a = 0;
    let mut b = s.len();
    while a < b && s[a].is_whitespace() {
        a += 1;
    }
    // A trailing escaped space stays: only whitespace not preceded by `\` is layout.
    while b > a && s[b - 1].is_whitespace() && !(b >= 2 && s[b - 2] == '\\') {
        b -= 1;
    }
    &s[a..b]
}

fn opt(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn parse_question(
    src: &str,
    start_line: usize,
    d: &Directives,
    category: &str,
) -> Result<Question, GiftError> {
    let chars: Vec<char> = src.chars().collect();
    let line_at = |idx: usize| {
        start_line
            + chars[..idx.min(chars.len())]
                .iter()
                .filter(|c| **c == '\n')
                .count()
    };
    let err = |idx: usize, message: String| GiftError {
        line: line_at(idx),
        message,
    };

    let mut pos = chars.iter().take_while(|c| c.is_whitespace()).count();
    let mut name = None;
    if chars[pos..].starts_with(&[':', ':']) {
        let end = find_unescaped(&chars, pos + 2, "::").ok_or_else(|| {
            err(
                pos,
                "the title opened with `::` is never closed with `::`".into(),
            )
        })?;
        name = Some(clean(&chars[pos + 2..end]));
        pos = end + 2;
    }
    let open = find_unescaped(&chars, pos, "{").ok_or_else(|| {
        err(
            pos,
            "no answer block `{…}`: descriptions without answers are not supported".into(),
        )
    })?;
    let close = find_unescaped(&chars, open + 1, "}").ok_or_else(|| {
        err(
            open,
            "the answer block opened here is never closed with `}`".into(),
        )
    })?;
    if let Some(extra) = find_unescaped(&chars, close + 1, "{") {
        return Err(err(
            extra,
            "only one answer block per question is supported".into(),
        ));
    }
    if let Some(stray) = find_unescaped(&chars, pos, "}").filter(|i| *i < open) {
        return Err(err(
            stray,
            "`}` without a `{`; write `\\}` for a literal brace".into(),
        ));
    }
    let mut before = trim(&chars[pos..open]);
    let mut format = None;
    if before.first() == Some(&'[') {
        if let Some(end) = before.iter().position(|c| *c == ']') {
            let f: String = before[1..end].iter().collect();
            if ["html", "moodle", "markdown", "plain"].contains(&f.as_str()) {
                format = Some(f);
                before = trim(&before[end + 1..]);
            }
        }
    }
    let text = unescape(before);
    let text_after = clean(&chars[close + 1..]);
    let inner = &chars[open + 1..close];
    let (kind, general_feedback) = parse_answers(inner, d).map_err(|m| err(open, m))?;
    let explicit_name = name.as_ref().is_some_and(|n| !n.is_empty());
    let name = match name.filter(|n| !n.is_empty()) {
        Some(n) => n,
        None => derive_name(&text),
    };
    let q = Question {
        category: category.to_string(),
        name,
        explicit_name,
        format,
        text,
        text_after,
        kind,
        general_feedback,
        fixed_order: d.fixed,
        module: d.module.clone(),
    };
    q.check().map_err(|m| err(open, m))?;
    Ok(q)
}

/// Moodle names an untitled question after the start of its text.
fn derive_name(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(60).collect()
}

fn parse_weight(s: &[char]) -> Result<(Option<f64>, &[char]), String> {
    let s = trim(s);
    if s.first() != Some(&'%') {
        return Ok((None, s));
    }
    let end = s[1..]
        .iter()
        .position(|c| *c == '%')
        .ok_or_else(|| "a weight `%…%` is not closed".to_string())?
        + 1;
    let w: String = s[1..end].iter().collect();
    let w: f64 = w
        .trim()
        .parse()
        .map_err(|_| format!("`%{w}%` is not a weight in percent"))?;
    if !(-100.0..=100.0).contains(&w) {
        return Err(format!("the weight {w}% is outside -100%..100%"));
    }
    Ok((Some(w), &s[end + 1..]))
}

/// Splits `text#feedback` at the first unescaped `#`.
fn split_feedback(s: &[char]) -> (String, Option<String>) {
    match find_unescaped(s, 0, "#") {
        Some(i) => (clean(&s[..i]), opt(clean(&s[i + 1..]))),
        None => (clean(s), None),
    }
}

fn parse_answers(inner: &[char], d: &Directives) -> Result<(Kind, Option<String>), String> {
    let (body, general) = match find_unescaped(inner, 0, "####") {
        Some(i) => (&inner[..i], opt(clean(&inner[i + 4..]))),
        None => (inner, None),
    };
    let body = trim(body);
    if body.is_empty() {
        return Err(
            "an empty answer block `{}` is an essay question, which is not supported".into(),
        );
    }
    if d.ordering && body.first() != Some(&'=') {
        return Err("an ordering question lists its items as `=1 -> first =2 -> second …`".into());
    }
    if body[0] == '#' {
        return parse_numeric(&body[1..], d).map(|k| (k, general));
    }
    if d.relative {
        return Err("`@tolerance: relative` applies only to numeric questions".into());
    }
    // True/false: T, TRUE, F or FALSE, then optional #wrong#right feedback.
    let head_end = find_unescaped(body, 0, "#").unwrap_or(body.len());
    let head: String = trim(&body[..head_end]).iter().collect();
    let tf = match head.as_str() {
        "T" | "TRUE" => Some(true),
        "F" | "FALSE" => Some(false),
        _ => None,
    };
    if let Some(answer) = tf {
        let rest = if head_end < body.len() {
            &body[head_end + 1..]
        } else {
            &[][..]
        };
        let (wrong, right) = match find_unescaped(rest, 0, "#") {
            Some(i) => (opt(clean(&rest[..i])), opt(clean(&rest[i + 1..]))),
            None => (opt(clean(rest)), None),
        };
        if find_unescaped(rest, 0, "#").is_some_and(|i| find_unescaped(rest, i + 1, "#").is_some())
        {
            return Err("true/false takes at most two feedbacks: `{T#if wrong#if right}`".into());
        }
        return Ok((
            Kind::TrueFalse {
                answer,
                feedback_wrong: wrong,
                feedback_right: right,
            },
            general,
        ));
    }
    // Answers start at each unescaped `=` or `~`.
    let mut answers: Vec<(char, &[char])> = Vec::new();
    let mut i = 0;
    let mut start: Option<(char, usize)> = None;
    while i < body.len() {
        let c = body[i];
        if c == '\\' {
            i += 2;
            continue;
        }
        if c == '=' || c == '~' {
            if let Some((m, s)) = start {
                answers.push((m, &body[s..i]));
            } else if !trim(&body[..i]).is_empty() {
                let junk: String = trim(&body[..i]).iter().collect();
                return Err(format!("expected `=` or `~` before {junk:?}"));
            }
            start = Some((c, i + 1));
        }
        i += 1;
    }
    match start {
        Some((m, s)) => answers.push((m, &body[s..])),
        None => {
            let junk: String = body.iter().collect();
            return Err(format!(
                "cannot read the answer block {{{junk}}}: answers start with `=` (right) or `~` (wrong)"
            ));
        }
    }
    let is_pair = |a: &[char]| find_unescaped(a, 0, "->").is_some();
    if answers.iter().any(|(_, a)| is_pair(a)) {
        let mut pairs = Vec::new();
        for (m, a) in &answers {
            let Some(arrow) = find_unescaped(a, 0, "->").filter(|_| *m == '=') else {
                return Err("every answer of a matching question is `=left -> right`".into());
            };
            let left = clean(&a[..arrow]);
            let right = clean(&a[arrow + 2..]);
            if right.is_empty() {
                return Err("a matching pair needs a right side after `->`".into());
            }
            if find_unescaped(&a[arrow + 2..], 0, "#").is_some() {
                return Err(
                    "matching pairs cannot carry feedback; use `####` for general feedback".into(),
                );
            }
            pairs.push(Pair { left, right });
        }
        if d.ordering {
            let mut items = Vec::new();
            for (n, p) in pairs.into_iter().enumerate() {
                if p.left != (n + 1).to_string() {
                    return Err(format!(
                        "ordering items are numbered 1, 2, 3…: item {} is numbered {:?}",
                        n + 1,
                        p.left
                    ));
                }
                items.push(p.right);
            }
            return Ok((Kind::Ordering { items }, general));
        }
        return Ok((Kind::Matching { pairs }, general));
    }
    if d.ordering {
        return Err("an ordering question lists its items as `=1 -> first =2 -> second …`".into());
    }
    let any_wrong = answers.iter().any(|(m, _)| *m == '~');
    let any_right = answers.iter().any(|(m, _)| *m == '=');
    if !any_wrong {
        // Only `=` answers: short answer.
        let mut list = Vec::new();
        for (_, a) in &answers {
            let (w, rest) = parse_weight(a)?;
            let (text, feedback) = split_feedback(rest);
            if text.is_empty() {
                return Err("a short answer cannot be empty".into());
            }
            list.push(TextAnswer {
                text,
                weight: w.unwrap_or(100.0),
                feedback,
            });
        }
        return Ok((Kind::ShortAnswer { answers: list }, general));
    }
    let mut options = Vec::new();
    for (m, a) in &answers {
        let (w, rest) = parse_weight(a)?;
        let (text, feedback) = split_feedback(rest);
        if text.is_empty() {
            return Err("an option cannot be empty".into());
        }
        let weight = match (m, w) {
            ('=', None) => 100.0,
            ('=', Some(_)) => {
                return Err(
                    "a right answer `=` takes no weight; use `~%50%` for partial credit".into(),
                )
            }
            (_, w) => w.unwrap_or(0.0),
        };
        options.push(Choice {
            text,
            weight,
            feedback,
        });
    }
    if any_right {
        Ok((Kind::SingleChoice { options }, general))
    } else {
        Ok((Kind::MultipleResponse { options }, general))
    }
}

fn parse_number(s: &[char]) -> Result<f64, String> {
    let t: String = trim(s).iter().collect();
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{t:?} is not a number"))
}

fn parse_numeric_answer(
    s: &[char],
    d: &Directives,
) -> Result<(NumericMatch, Option<String>), String> {
    let (value, feedback) = match find_unescaped(s, 0, "#") {
        Some(i) => (&s[..i], opt(clean(&s[i + 1..]))),
        None => (s, None),
    };
    let value = trim(value);
    let text: String = value.iter().collect();
    if let Some(i) = text.find("..") {
        let chars: Vec<char> = text.chars().collect();
        let at = text[..i].chars().count();
        let min = parse_number(&chars[..at])?;
        let max = parse_number(&chars[at + 2..])?;
        if d.relative {
            return Err("a range `min..max` has no tolerance to make relative".into());
        }
        return Ok((NumericMatch::Range { min, max }, feedback));
    }
    match find_unescaped(value, 0, ":") {
        Some(i) => {
            let v = parse_number(&value[..i])?;
            let t = parse_number(&value[i + 1..])?;
            Ok((
                if d.relative {
                    NumericMatch::Relative {
                        value: v,
                        fraction: t,
                    }
                } else {
                    NumericMatch::Absolute {
                        value: v,
                        tolerance: t,
                    }
                },
                feedback,
            ))
        }
        None => {
            let v = parse_number(value)?;
            Ok((
                if d.relative {
                    NumericMatch::Relative {
                        value: v,
                        fraction: 0.0,
                    }
                } else {
                    NumericMatch::Absolute {
                        value: v,
                        tolerance: 0.0,
                    }
                },
                feedback,
            ))
        }
    }
}

fn parse_numeric(body: &[char], d: &Directives) -> Result<Kind, String> {
    let body = trim(body);
    if body.is_empty() {
        return Err("a numeric answer `{#…}` needs a value".into());
    }
    if body[0] != '=' {
        let (matcher, feedback) = parse_numeric_answer(body, d)?;
        return Ok(Kind::Numeric {
            answers: vec![NumericAnswer {
                matcher,
                weight: 100.0,
                feedback,
            }],
        });
    }
    let mut answers = Vec::new();
    for part in split_unescaped(&body[1..], "=") {
        if find_unescaped(&part, 0, "~").is_some() {
            return Err("numeric answers are all `=`; give a wrong value weight `%0%`".into());
        }
        let (w, rest) = parse_weight(&part)?;
        let (matcher, feedback) = parse_numeric_answer(rest, d)?;
        answers.push(NumericAnswer {
            matcher,
            weight: w.unwrap_or(100.0),
            feedback,
        });
    }
    Ok(Kind::Numeric { answers })
}

// ---------------------------------------------------------------- writing

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = '\0';
    for c in s.chars() {
        match c {
            '~' | '=' | '#' | '{' | '}' | ':' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            // `->` separates matching pairs; `-\>` is a literal arrow.
            '>' if prev == '-' => out.push_str("\\>"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
        prev = c;
    }
    out
}

fn num(v: f64) -> String {
    format!("{v}")
}

fn weight(w: f64) -> String {
    format!("%{}%", num(w))
}

fn feedback(f: &Option<String>) -> String {
    f.as_ref()
        .map(|f| format!(" #{}", escape(f)))
        .unwrap_or_default()
}

/// Writes questions as GIFT; `Err` names a question GIFT cannot express.
pub fn write(questions: &[Question]) -> Result<String, String> {
    let mut out = String::new();
    let mut category: Option<&str> = None;
    for q in questions {
        if category != Some(q.category.as_str()) {
            out.push_str(&format!("$CATEGORY: {}\n\n", q.category));
            category = Some(&q.category);
        }
        out.push_str(&write_one(q).map_err(|e| format!("{}: {e}", q.key()))?);
        out.push('\n');
    }
    Ok(out)
}

fn write_one(q: &Question) -> Result<String, String> {
    let mut s = String::new();
    if let Some(m) = &q.module {
        s.push_str(&format!("// @module: {m}\n"));
    }
    if q.fixed_order {
        s.push_str("// @options: fixed\n");
    }
    let mut body = Vec::new();
    match &q.kind {
        Kind::SingleChoice { options } => {
            for o in options {
                let text = escape(&o.text);
                if (o.weight - 100.0).abs() < 1e-12 {
                    body.push(format!("={text}{}", feedback(&o.feedback)));
                } else if o.weight == 0.0 {
                    body.push(format!("~{text}{}", feedback(&o.feedback)));
                } else {
                    body.push(format!(
                        "~{}{text}{}",
                        weight(o.weight),
                        feedback(&o.feedback)
                    ));
                }
            }
            if !options.iter().any(|o| o.weight != 100.0) {
                return Err(
                    "a single-choice question with only right options reads back as a short answer"
                        .into(),
                );
            }
        }
        Kind::MultipleResponse { options } => {
            for o in options {
                let text = escape(&o.text);
                if o.weight == 0.0 {
                    body.push(format!("~{text}{}", feedback(&o.feedback)));
                } else {
                    body.push(format!(
                        "~{}{text}{}",
                        weight(o.weight),
                        feedback(&o.feedback)
                    ));
                }
            }
        }
        Kind::TrueFalse {
            answer,
            feedback_wrong,
            feedback_right,
        } => {
            let mut t = if *answer { "TRUE" } else { "FALSE" }.to_string();
            match (feedback_wrong, feedback_right) {
                (None, None) => {}
                (w, None) => t.push_str(&format!("#{}", escape(w.as_deref().unwrap_or("")))),
                (w, Some(r)) => t.push_str(&format!(
                    "#{}#{}",
                    escape(w.as_deref().unwrap_or("")),
                    escape(r)
                )),
            }
            body.push(t);
        }
        Kind::Numeric { answers } => {
            let relative = answers
                .iter()
                .any(|a| matches!(a.matcher, NumericMatch::Relative { .. }));
            if relative
                && answers
                    .iter()
                    .any(|a| !matches!(a.matcher, NumericMatch::Relative { .. }))
            {
                return Err("GIFT cannot mix relative tolerances with absolute ones or ranges in one question".into());
            }
            if relative {
                s.push_str("// @tolerance: relative\n");
            }
            let one = |a: &NumericAnswer| match a.matcher {
                NumericMatch::Absolute { value, tolerance } => {
                    format!("{}:{}", num(value), num(tolerance))
                }
                NumericMatch::Relative { value, fraction } => {
                    format!("{}:{}", num(value), num(fraction))
                }
                NumericMatch::Range { min, max } => format!("{}..{}", num(min), num(max)),
            };
            if let [a] = answers.as_slice() {
                if a.weight == 100.0 {
                    body.push(format!("#{}{}", one(a), feedback(&a.feedback)));
                }
            }
            if body.is_empty() {
                let parts: Vec<String> = answers
                    .iter()
                    .map(|a| {
                        let w = if a.weight == 100.0 {
                            String::new()
                        } else {
                            weight(a.weight)
                        };
                        format!("={w}{}{}", one(a), feedback(&a.feedback))
                    })
                    .collect();
                body.push(format!("#\n    {}", parts.join("\n    ")));
            }
        }
        Kind::ShortAnswer { answers } => {
            for a in answers {
                let w = if a.weight == 100.0 {
                    String::new()
                } else {
                    weight(a.weight)
                };
                body.push(format!("={w}{}{}", escape(&a.text), feedback(&a.feedback)));
            }
        }
        Kind::Ordering { items } => {
            s.push_str("// @type: ordering\n");
            for (i, it) in items.iter().enumerate() {
                body.push(format!("={} -> {}", i + 1, escape(it)));
            }
        }
        Kind::Matching { pairs } => {
            for p in pairs {
                body.push(format!("={} -> {}", escape(&p.left), escape(&p.right)));
            }
        }
    }
    if q.explicit_name {
        s.push_str(&format!("::{}::", escape(&q.name)));
    }
    if let Some(f) = &q.format {
        s.push_str(&format!("[{f}]"));
    }
    s.push_str(&escape(&q.text));
    s.push_str(" {\n");
    for b in &body {
        s.push_str("    ");
        s.push_str(b);
        s.push('\n');
    }
    if let Some(g) = &q.general_feedback {
        s.push_str(&format!("    ####{}\n", escape(g)));
    }
    s.push('}');
    if !q.text_after.is_empty() {
        s.push(' ');
        s.push_str(&escape(&q.text_after));
    }
    s.push('\n');
    Ok(s)
}
