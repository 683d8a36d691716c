//! The blueprint, and drawing an attempt from it: which questions, in which order,
//! with options in which order — all from one seed, so an attempt can be reproduced.

use serde::{Deserialize, Serialize};

use super::model::{Kind, Question};
use super::ShowAnswers;

/// How an exam is put together and taken; `exam/blueprint.yaml` in a course folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blueprint {
    /// Time allowed from the moment an attempt starts, in minutes...
    #[serde(default)]
    pub time_limit_minutes: i64,
    /// ...or in seconds, for short quizzes (and the browser tests' exam that runs out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_seconds: Option<i64>,
    /// The score needed to pass, in percent.
    pub pass_mark_percent: f64,
    /// How many attempts a learner may make (an admin may grant more).
    #[serde(default = "one")]
    pub attempts_allowed: i64,
    /// The wait between the end of one attempt and the start of the next.
    #[serde(default)]
    pub cooldown_minutes: i64,
    /// When the exam opens and closes (UTC, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`).
    #[serde(default)]
    pub opens_at: Option<String>,
    #[serde(default)]
    pub closes_at: Option<String>,
    /// When a learner's review shows each question's right answer and feedback (see
    /// [`ShowAnswers`]); by default once they have no attempt left.
    #[serde(default)]
    pub show_answers: ShowAnswers,
    /// Whether the drawn questions are put in random order (otherwise category by category).
    #[serde(default = "yes")]
    pub shuffle_questions: bool,
    /// Whether options are shuffled (a question marked fixed never is).
    #[serde(default = "yes")]
    pub shuffle_options: bool,
    #[serde(default)]
    pub eligibility: Eligibility,
    /// How long a certificate earned with this exam stays valid, in calendar months
    /// (1–120); absent, certificates never expire. Kept out of the serialized form when
    /// absent so that blueprints stored before it existed read back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_valid_months: Option<i64>,
    /// How many questions are drawn from each category.
    pub draw: Vec<Draw>,
}

/// What a learner must have done before starting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    /// Module slugs that must be complete.
    #[serde(default)]
    pub modules_completed: Vec<String>,
    /// Labs (by slug or title) that must be passed before the exam opens.
    #[serde(default)]
    pub labs_passed: Vec<String>,
}

/// One line of the draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draw {
    pub category: String,
    pub count: i64,
}

/// The longest validity a blueprint may give certificates: ten years.
pub const MAX_VALID_MONTHS: i64 = 120;

fn one() -> i64 {
    1
}
fn yes() -> bool {
    true
}

impl Blueprint {
    /// Reads and checks a blueprint; errors say what is wrong in words.
    pub fn parse(yaml: &str) -> Result<Blueprint, String> {
        let b: Blueprint = serde_yaml::from_str(yaml).map_err(|e| match e.location() {
            Some(l) => format!("line {}: {e}", l.line()),
            None => e.to_string(),
        })?;
        b.validate()?;
        Ok(b)
    }

    /// Checks the rules a blueprint must follow, wherever it comes from (file or admin form).
    pub fn validate(&self) -> Result<(), String> {
        let b = self;
        match b.time_limit_seconds {
            None if (1..=24 * 60).contains(&b.time_limit_minutes) => {}
            None => return Err("time_limit_minutes must be between 1 and 1440".into()),
            Some(_) if b.time_limit_minutes != 0 => {
                return Err("give time_limit_minutes or time_limit_seconds, not both".into())
            }
            Some(s) if !(5..=24 * 3600).contains(&s) => {
                return Err("time_limit_seconds must be between 5 and 86400".into())
            }
            Some(_) => {}
        }
        if !(0.0..=100.0).contains(&b.pass_mark_percent) {
            return Err("pass_mark_percent must be between 0 and 100".into());
        }
        if b.attempts_allowed < 1 || b.cooldown_minutes < 0 {
            return Err(
                "attempts_allowed must be at least 1 and cooldown_minutes not negative".into(),
            );
        }
        if b.certificate_valid_months
            .is_some_and(|m| !(1..=MAX_VALID_MONTHS).contains(&m))
        {
            return Err(format!(
                "certificate_valid_months must be between 1 and {MAX_VALID_MONTHS} (leave it out for certificates that never expire)"
            ));
        }
        if b.draw.is_empty() || b.draw.iter().any(|d| d.count < 1) {
            return Err(
                "draw must name at least one category, each with a count of at least 1".into(),
            );
        }
        if let (Some(o), Some(c)) = b.window()? {
            if o >= c {
                return Err("the exam must open before it closes".into());
            }
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(d) = b.draw.iter().find(|d| !seen.insert(d.category.as_str())) {
            return Err(format!("the draw names {:?} twice", d.category));
        }
        Ok(())
    }

    /// The open/close window in Unix milliseconds.
    pub fn window(&self) -> Result<(Option<i64>, Option<i64>), String> {
        let parse = |s: &Option<String>| s.as_deref().map(parse_utc).transpose();
        Ok((parse(&self.opens_at)?, parse(&self.closes_at)?))
    }

    /// Time allowed for one attempt, in milliseconds.
    pub fn time_limit_ms(&self) -> i64 {
        match self.time_limit_seconds {
            Some(s) => s * 1000,
            None => self.time_limit_minutes * 60_000,
        }
    }

    /// Questions in one attempt.
    pub fn total(&self) -> i64 {
        self.draw.iter().map(|d| d.count).sum()
    }
}

/// The comment a written `blueprint.yaml` starts with when the file had none.
pub const DEFAULT_COMMENT: &str =
    "# How the certification exam is drawn and taken. See the README's exam section.";

/// The comment lines at the top of a `blueprint.yaml`, if it starts with any.
pub fn leading_comment(yaml: &str) -> Option<String> {
    let lines: Vec<&str> = yaml
        .lines()
        .take_while(|l| l.trim_start().starts_with('#'))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// A string as a YAML scalar: plain when YAML reads it back as that very string,
/// double-quoted (JSON escapes are valid YAML) otherwise.
fn scalar(s: &str) -> String {
    const INDICATORS: &[char] = &[
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
        '`',
    ];
    let plain = !s.is_empty()
        && s.trim() == s
        && !s.starts_with(INDICATORS)
        && !s.ends_with(':')
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.chars().any(char::is_control)
        && matches!(serde_yaml::from_str::<serde_yaml::Value>(s), Ok(serde_yaml::Value::String(v)) if v == s);
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

impl Blueprint {
    /// The blueprint as `exam/blueprint.yaml`: `comment` (one or more `#` lines) first,
    /// then the fields in the order an author reads them. Optional fields that are
    /// absent are left out, so [`Blueprint::parse`] of the text gives back this very
    /// blueprint.
    pub fn to_yaml(&self, comment: &str) -> String {
        let mut y = String::new();
        for line in comment.lines() {
            let line = line.trim_end();
            if line.starts_with('#') {
                y.push_str(line);
            } else {
                y.push_str("# ");
                y.push_str(line);
            }
            y.push('\n');
        }
        let mut field = |key: &str, value: &dyn std::fmt::Display| {
            y.push_str(&format!("{key}: {value}\n"));
        };
        if self.time_limit_seconds.is_none() || self.time_limit_minutes != 0 {
            field("time_limit_minutes", &self.time_limit_minutes);
        }
        if let Some(s) = self.time_limit_seconds {
            field("time_limit_seconds", &s);
        }
        // `{}` prints the shortest text that reads back as the same f64.
        field("pass_mark_percent", &self.pass_mark_percent);
        field("attempts_allowed", &self.attempts_allowed);
        field("cooldown_minutes", &self.cooldown_minutes);
        if let Some(o) = &self.opens_at {
            field("opens_at", &scalar(o));
        }
        if let Some(c) = &self.closes_at {
            field("closes_at", &scalar(c));
        }
        field("show_answers", &self.show_answers.as_str());
        field("shuffle_questions", &self.shuffle_questions);
        field("shuffle_options", &self.shuffle_options);
        if let Some(m) = self.certificate_valid_months {
            field("certificate_valid_months", &m);
        }
        let list = |key: &str, items: &[String]| {
            if items.is_empty() {
                format!("  {key}: []\n")
            } else {
                let mut s = format!("  {key}:\n");
                for i in items {
                    s.push_str(&format!("    - {}\n", scalar(i)));
                }
                s
            }
        };
        y.push_str("eligibility:\n");
        y.push_str(&list(
            "modules_completed",
            &self.eligibility.modules_completed,
        ));
        y.push_str(&list("labs_passed", &self.eligibility.labs_passed));
        y.push_str("draw:\n");
        for d in &self.draw {
            y.push_str(&format!(
                "  - category: {}\n    count: {}\n",
                scalar(&d.category),
                d.count
            ));
        }
        y
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]Z` (UTC) to Unix milliseconds.
pub fn parse_utc(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a UTC date like 2025-06-01 or 2025-06-01T09:00:00Z");
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z').ok_or_else(bad)?)),
        None => (s, None),
    };
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let [y, m, day] = d[..] else {
        return Err(bad());
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let t: Vec<i64> = match time {
        Some(t) => t
            .split(':')
            .map(|p| p.parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?,
        None => vec![0, 0],
    };
    let (h, mi, sec) = match t[..] {
        [h, mi] => (h, mi, 0),
        [h, mi, sec] => (h, mi, sec),
        _ => return Err(bad()),
    };
    let days = crate::time::days_from_civil(y, m, day);
    Ok(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000)
}

/// SplitMix64: tiny, fast, and its sequence never changes between versions,
/// so an attempt's seed reproduces its draw forever.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// How one drawn question is shown: `order[d]` is the authored index shown at
/// display position `d`; `right_order` does the same for a matching question's right sides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    pub order: Vec<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub right_order: Vec<usize>,
}

/// Lays a question out, shuffled unless its options are fixed (ordering items always shuffle).
pub fn layout(q: &Question, rng: &mut Rng) -> Layout {
    layout_with(q, true, rng)
}

/// [`layout`], with options shuffled only if `shuffle` (the blueprint's setting) allows it.
pub fn layout_with(q: &Question, shuffle: bool, rng: &mut Rng) -> Layout {
    let fixed = q.fixed_order || !shuffle;
    let mut l = Layout::default();
    match &q.kind {
        Kind::SingleChoice { options } | Kind::MultipleResponse { options } => {
            l.order = (0..options.len()).collect();
            if !fixed {
                rng.shuffle(&mut l.order);
            }
        }
        Kind::Ordering { items } => {
            l.order = (0..items.len()).collect();
            // Shown in the right order there would be nothing to do.
            for _ in 0..8 {
                rng.shuffle(&mut l.order);
                if l.order.iter().enumerate().any(|(i, o)| i != *o) {
                    break;
                }
            }
        }
        Kind::Matching { pairs } => {
            l.order = super::grade::match_lefts(pairs);
            l.right_order = (0..super::grade::match_rights(pairs).len()).collect();
            if !fixed {
                rng.shuffle(&mut l.order);
            }
            rng.shuffle(&mut l.right_order);
        }
        _ => {}
    }
    l
}

/// Picks `count` of `pool` (indices), in random order.
pub fn pick(pool: usize, count: usize, rng: &mut Rng) -> Vec<usize> {
    let mut all: Vec<usize> = (0..pool).collect();
    rng.shuffle(&mut all);
    all.truncate(count);
    all
}
