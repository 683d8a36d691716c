//! The question bank's model: what a question is, independent of how it is stored or shown.
//!
//! Server-only: a [`Question`] carries its correct answers, so it never crosses the wire
//! before an attempt is submitted. Learners see [`super::QuestionView`] instead.

use serde::{Deserialize, Serialize};

/// One question, as authored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// The category it is drawn from (a blueprint counts questions per category).
    pub category: String,
    /// The question's name, unique within its category: GIFT's `::title::`.
    pub name: String,
    /// Whether the GIFT source gave the title explicitly (otherwise it is derived from the text).
    pub explicit_name: bool,
    /// GIFT's text format marker (`html`, `moodle`, `markdown`, `plain`), if one was given.
    pub format: Option<String>,
    /// The text before the answer block.
    pub text: String,
    /// Text after the answer block (GIFT's "missing word" form); usually empty.
    pub text_after: String,
    pub kind: Kind,
    /// Shown after submission whatever the answer (GIFT's `####feedback`).
    pub general_feedback: Option<String>,
    /// Options are shown in the authored order instead of shuffled.
    pub fixed_order: bool,
    /// The slug of the course module that teaches what the question asks (GIFT's
    /// `// @module: slug`): a learner who misses it is sent there. Left out of the
    /// stored form when absent, so questions stored before it existed keep their hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

/// An option of a choice question, with its weight in percent (negative for a penalty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub text: String,
    pub weight: f64,
    pub feedback: Option<String>,
}

/// How a numeric answer is matched.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum NumericMatch {
    /// `value ± tolerance`.
    Absolute { value: f64, tolerance: f64 },
    /// `value ± |value| × fraction`.
    Relative { value: f64, fraction: f64 },
    /// `min..max`, inclusive.
    Range { min: f64, max: f64 },
}

/// One accepted numeric answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericAnswer {
    pub matcher: NumericMatch,
    pub weight: f64,
    pub feedback: Option<String>,
}

/// One accepted short answer; `*` in the text matches any run of characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextAnswer {
    pub text: String,
    pub weight: f64,
    pub feedback: Option<String>,
}

/// A matching pair; a pair with an empty left side is a distractor on the right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    pub left: String,
    pub right: String,
}

/// The question types the exam supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Kind {
    /// Exactly one option is chosen; its weight is the score.
    SingleChoice {
        options: Vec<Choice>,
    },
    /// Any options may be chosen; the weights add up, floored at zero (as Moodle does).
    MultipleResponse {
        options: Vec<Choice>,
    },
    TrueFalse {
        answer: bool,
        /// Shown when the learner answered wrongly / rightly (GIFT's `{T#wrong#right}`).
        feedback_wrong: Option<String>,
        feedback_right: Option<String>,
    },
    Numeric {
        answers: Vec<NumericAnswer>,
    },
    ShortAnswer {
        answers: Vec<TextAnswer>,
    },
    /// Put the items in order; authored in the right order.
    Ordering {
        items: Vec<String>,
    },
    Matching {
        pairs: Vec<Pair>,
    },
}

impl Kind {
    /// A short name for messages and statistics.
    pub fn label(&self) -> &'static str {
        match self {
            Kind::SingleChoice { .. } => "single choice",
            Kind::MultipleResponse { .. } => "multiple response",
            Kind::TrueFalse { .. } => "true/false",
            Kind::Numeric { .. } => "numeric",
            Kind::ShortAnswer { .. } => "short answer",
            Kind::Ordering { .. } => "ordering",
            Kind::Matching { .. } => "matching",
        }
    }

    /// How many things are shown to shuffle (options, items, or left sides of pairs).
    pub fn option_count(&self) -> usize {
        match self {
            Kind::SingleChoice { options } | Kind::MultipleResponse { options } => options.len(),
            Kind::Ordering { items } => items.len(),
            Kind::Matching { pairs } => pairs.len(),
            _ => 0,
        }
    }
}

impl Question {
    /// The key that identifies a question across versions: category and name.
    pub fn key(&self) -> String {
        format!("{}/{}", self.category, self.name)
    }

    /// Checks what the parser cannot: that the question can be answered correctly at all.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("the question has no name".into());
        }
        if self.text.trim().is_empty() {
            return Err("the question has no text".into());
        }
        match &self.kind {
            Kind::SingleChoice { options } => {
                if options.len() < 2 {
                    return Err("a choice question needs at least two options".into());
                }
                if !options.iter().any(|o| (o.weight - 100.0).abs() < 1e-9) {
                    return Err("a single-choice question needs one option worth 100%".into());
                }
            }
            Kind::MultipleResponse { options } => {
                if options.len() < 2 {
                    return Err("a choice question needs at least two options".into());
                }
                let max: f64 = options
                    .iter()
                    .filter(|o| o.weight > 0.0)
                    .map(|o| o.weight)
                    .sum();
                if (max - 100.0).abs() > 0.01 {
                    return Err(format!(
                        "the positive weights of a multiple-response question must add up to 100% (they add up to {max}%)"
                    ));
                }
            }
            Kind::TrueFalse { .. } => {}
            Kind::Numeric { answers } => {
                if !answers.iter().any(|a| (a.weight - 100.0).abs() < 1e-9) {
                    return Err("a numeric question needs one answer worth 100%".into());
                }
                for a in answers {
                    match a.matcher {
                        NumericMatch::Absolute { tolerance, .. } if tolerance < 0.0 => {
                            return Err("a tolerance cannot be negative".into())
                        }
                        NumericMatch::Relative { fraction, .. } if fraction < 0.0 => {
                            return Err("a tolerance cannot be negative".into())
                        }
                        NumericMatch::Range { min, max } if min > max => {
                            return Err(format!("the range {min}..{max} is empty"))
                        }
                        _ => {}
                    }
                }
            }
            Kind::ShortAnswer { answers } => {
                if !answers.iter().any(|a| (a.weight - 100.0).abs() < 1e-9) {
                    return Err("a short-answer question needs one answer worth 100%".into());
                }
            }
            Kind::Ordering { items } => {
                if items.len() < 2 {
                    return Err("an ordering question needs at least two items".into());
                }
            }
            Kind::Matching { pairs } => {
                if pairs.iter().filter(|p| !p.left.is_empty()).count() < 2 {
                    return Err("a matching question needs at least two pairs".into());
                }
            }
        }
        Ok(())
    }
}
