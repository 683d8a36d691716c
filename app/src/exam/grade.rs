//! Grading, server-side only: a response against the question it answers.
//!
//! Responses arrive in display terms (the learner saw options shuffled); the
//! [`Layout`] stored with the attempt maps them back to the authored options.

use super::draw::Layout;
use super::model::{Kind, NumericMatch, Question};
use super::{Answer, QuestionView, ViewKind};

/// The outcome for one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Graded {
    /// 0.0 ..= 1.0 of the question's marks.
    pub fraction: f64,
    /// Feedback for what the learner answered.
    pub feedback: Vec<String>,
    /// The right answer, in words.
    pub correct_answer: String,
}

/// The distinct right-hand sides of a matching question, in authored order.
pub fn match_rights(pairs: &[super::model::Pair]) -> Vec<String> {
    let mut rights: Vec<String> = Vec::new();
    for p in pairs {
        if !rights.contains(&p.right) {
            rights.push(p.right.clone());
        }
    }
    rights
}

/// The left sides a matching question asks about (distractors have none).
pub fn match_lefts(pairs: &[super::model::Pair]) -> Vec<usize> {
    (0..pairs.len())
        .filter(|i| !pairs[*i].left.is_empty())
        .collect()
}

/// What the learner sees of a question: no weights, no answers, no feedback.
pub fn view(q: &Question, layout: &Layout) -> QuestionView {
    let pick = |list: &[String]| -> Vec<String> {
        layout
            .order
            .iter()
            .filter_map(|i| list.get(*i).cloned())
            .collect()
    };
    let kind = match &q.kind {
        Kind::SingleChoice { options } => ViewKind::SingleChoice {
            options: pick(&options.iter().map(|o| o.text.clone()).collect::<Vec<_>>()),
        },
        Kind::MultipleResponse { options } => ViewKind::MultipleResponse {
            options: pick(&options.iter().map(|o| o.text.clone()).collect::<Vec<_>>()),
        },
        Kind::TrueFalse { .. } => ViewKind::TrueFalse,
        Kind::Numeric { .. } => ViewKind::Numeric,
        Kind::ShortAnswer { .. } => ViewKind::ShortAnswer,
        Kind::Ordering { items } => ViewKind::Ordering { items: pick(items) },
        Kind::Matching { pairs } => {
            let rights = match_rights(pairs);
            ViewKind::Matching {
                lefts: layout
                    .order
                    .iter()
                    .filter_map(|i| pairs.get(*i).map(|p| p.left.clone()))
                    .collect(),
                rights: layout
                    .right_order
                    .iter()
                    .filter_map(|i| rights.get(*i).cloned())
                    .collect(),
            }
        }
    };
    QuestionView {
        text: q.text.clone(),
        text_after: q.text_after.clone(),
        kind,
    }
}

/// Checks that an answer has the shape the question's view asks for.
pub fn validate(view: &QuestionView, answer: &Answer) -> Result<(), String> {
    let in_range = |i: i32, n: usize| i >= 0 && (i as usize) < n;
    match (&view.kind, answer) {
        (ViewKind::SingleChoice { options }, Answer::Choice(i)) if in_range(*i, options.len()) => {
            Ok(())
        }
        (ViewKind::MultipleResponse { options }, Answer::Choices(list))
            if list.iter().all(|i| in_range(*i, options.len())) =>
        {
            Ok(())
        }
        (ViewKind::TrueFalse, Answer::Bool(_)) => Ok(()),
        (ViewKind::Numeric, Answer::Number(s)) if s.len() <= 64 => Ok(()),
        (ViewKind::ShortAnswer, Answer::Text(s)) if s.len() <= 500 => Ok(()),
        (ViewKind::Ordering { items }, Answer::Order(list))
            if list.len() == items.len() && list.iter().all(|i| in_range(*i, items.len())) =>
        {
            Ok(())
        }
        (ViewKind::Matching { lefts, rights }, Answer::Match(list))
            if list.len() == lefts.len()
                && list.iter().all(|i| *i == -1 || in_range(*i, rights.len())) =>
        {
            Ok(())
        }
        _ => Err("That answer does not fit this question.".into()),
    }
}

/// Lowercased, trimmed, inner whitespace collapsed: how short answers compare.
pub fn normalize(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// `*` in `pattern` matches any run of characters (Moodle's short-answer wildcard).
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Reads a learner's number: `1,5` means 1.5 when there is no dot; spaces and `_` are ignored.
pub fn parse_number(s: &str) -> Option<f64> {
    let mut t: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .collect();
    if !t.contains('.') && t.matches(',').count() == 1 {
        t = t.replace(',', ".");
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn matches_number(m: &NumericMatch, x: f64) -> bool {
    // A hair of slack so 0.1 + 0.2 style representations do not fail an exact answer.
    let eps = 1e-9;
    match *m {
        NumericMatch::Absolute { value, tolerance } => {
            (x - value).abs() <= tolerance + eps * value.abs().max(1.0)
        }
        NumericMatch::Relative { value, fraction } => {
            (x - value).abs() <= value.abs() * fraction + eps * value.abs().max(1.0)
        }
        NumericMatch::Range { min, max } => x >= min - eps && x <= max + eps,
    }
}

fn describe_number(m: &NumericMatch) -> String {
    match *m {
        NumericMatch::Absolute { value, tolerance } if tolerance == 0.0 => format!("{value}"),
        NumericMatch::Absolute { value, tolerance } => format!("{value} ± {tolerance}"),
        NumericMatch::Relative { value, fraction } => format!("{value} ± {}%", fraction * 100.0),
        NumericMatch::Range { min, max } => format!("between {min} and {max}"),
    }
}

fn clamp(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

/// The credit of the accepted answer that matched (its weight in percent), collecting its feedback.
fn matched_credit(hit: Option<(f64, &Option<String>)>, feedback: &mut Vec<String>) -> f64 {
    match hit {
        Some((weight, fb)) => {
            feedback.extend(fb.clone());
            weight / 100.0
        }
        None => 0.0,
    }
}

/// Grades `answer` (none: unanswered) to `q` shown with `layout`.
pub fn grade(q: &Question, layout: &Layout, answer: Option<&Answer>) -> Graded {
    let original = |display: i32| -> Option<usize> {
        usize::try_from(display)
            .ok()
            .and_then(|d| layout.order.get(d).copied())
    };
    let mut feedback = Vec::new();
    let (fraction, correct_answer) = match &q.kind {
        Kind::SingleChoice { options } => {
            let right: Vec<&str> = options
                .iter()
                .filter(|o| o.weight >= 100.0)
                .map(|o| o.text.as_str())
                .collect();
            let f = match answer {
                Some(Answer::Choice(d)) => match original(*d).and_then(|i| options.get(i)) {
                    Some(o) => {
                        feedback.extend(o.feedback.clone());
                        o.weight / 100.0
                    }
                    None => 0.0,
                },
                _ => 0.0,
            };
            (clamp(f), right.join(" / "))
        }
        Kind::MultipleResponse { options } => {
            let right: Vec<&str> = options
                .iter()
                .filter(|o| o.weight > 0.0)
                .map(|o| o.text.as_str())
                .collect();
            let f = match answer {
                Some(Answer::Choices(list)) => {
                    let mut chosen: Vec<usize> = list.iter().filter_map(|d| original(*d)).collect();
                    chosen.sort_unstable();
                    chosen.dedup();
                    chosen
                        .iter()
                        .filter_map(|i| options.get(*i))
                        .map(|o| {
                            feedback.extend(o.feedback.clone());
                            o.weight
                        })
                        .sum::<f64>()
                        / 100.0
                }
                _ => 0.0,
            };
            (clamp(f), right.join("; "))
        }
        Kind::TrueFalse {
            answer: right,
            feedback_wrong,
            feedback_right,
        } => {
            let f = match answer {
                Some(Answer::Bool(b)) if b == right => {
                    feedback.extend(feedback_right.clone());
                    1.0
                }
                Some(Answer::Bool(_)) => {
                    feedback.extend(feedback_wrong.clone());
                    0.0
                }
                _ => 0.0,
            };
            (f, if *right { "True" } else { "False" }.to_string())
        }
        Kind::Numeric { answers } => {
            let best = answers
                .iter()
                .filter(|a| a.weight >= 100.0)
                .map(|a| describe_number(&a.matcher))
                .collect::<Vec<_>>()
                .join(" or ");
            let x = match answer {
                Some(Answer::Number(s)) => parse_number(s),
                _ => None,
            };
            let hit = x.and_then(|x| {
                answers
                    .iter()
                    .filter(|a| matches_number(&a.matcher, x))
                    .max_by(|a, b| a.weight.total_cmp(&b.weight))
            });
            (
                clamp(matched_credit(
                    hit.map(|a| (a.weight, &a.feedback)),
                    &mut feedback,
                )),
                best,
            )
        }
        Kind::ShortAnswer { answers } => {
            let best = answers
                .iter()
                .filter(|a| a.weight >= 100.0)
                .map(|a| a.text.clone())
                .collect::<Vec<_>>()
                .join(" or ");
            let given = match answer {
                Some(Answer::Text(s)) => Some(normalize(s)),
                _ => None,
            };
            let hit = given.filter(|g| !g.is_empty()).and_then(|g| {
                answers
                    .iter()
                    .filter(|a| wildcard(&normalize(&a.text), &g))
                    .max_by(|a, b| a.weight.total_cmp(&b.weight))
            });
            (
                clamp(matched_credit(
                    hit.map(|a| (a.weight, &a.feedback)),
                    &mut feedback,
                )),
                best,
            )
        }
        Kind::Ordering { items } => {
            let n = items.len();
            let f = match answer {
                Some(Answer::Order(list)) => {
                    let given: Vec<usize> = list.iter().filter_map(|d| original(*d)).collect();
                    let mut check = given.clone();
                    check.sort_unstable();
                    check.dedup();
                    if given.len() != n || check.len() != n || n < 2 {
                        0.0
                    } else {
                        // Credit for each item directly followed by the item that should follow it.
                        let pos: Vec<usize> = {
                            let mut p = vec![0; n];
                            for (at, item) in given.iter().enumerate() {
                                p[*item] = at;
                            }
                            p
                        };
                        let good = (0..n - 1).filter(|i| pos[i + 1] == pos[*i] + 1).count();
                        good as f64 / (n - 1) as f64
                    }
                }
                _ => 0.0,
            };
            (f, items.join(" → "))
        }
        Kind::Matching { pairs } => {
            let rights = match_rights(pairs);
            let lefts = match_lefts(pairs);
            let f = match answer {
                Some(Answer::Match(list)) => {
                    let good = layout
                        .order
                        .iter()
                        .zip(list)
                        .filter(|(left, chosen)| {
                            usize::try_from(**chosen)
                                .ok()
                                .and_then(|c| layout.right_order.get(c))
                                .and_then(|r| rights.get(*r))
                                .is_some_and(|r| pairs.get(**left).is_some_and(|p| &p.right == r))
                        })
                        .count();
                    good as f64 / lefts.len().max(1) as f64
                }
                _ => 0.0,
            };
            let right = lefts
                .iter()
                .map(|i| format!("{} → {}", pairs[*i].left, pairs[*i].right))
                .collect::<Vec<_>>()
                .join("; ");
            (clamp(f), right)
        }
    };
    Graded {
        fraction,
        feedback,
        correct_answer,
    }
}
