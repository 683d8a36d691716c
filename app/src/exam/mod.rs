//! The certification exam: question bank, blueprint, timed attempts, grading and results.
//!
//! The server owns the clock: an attempt's deadline is stored when it starts, every
//! response carries the seconds left by the server's clock, and a background sweeper
//! submits overdue attempts. Correct answers stay on the server until an attempt is
//! submitted: learners only ever receive [`QuestionView`]s.

pub mod admin;
pub mod admin_pages;
#[cfg(feature = "ssr")]
pub mod attempts;
#[cfg(feature = "ssr")]
pub mod draw;
#[cfg(feature = "ssr")]
pub mod gift;
#[cfg(feature = "ssr")]
pub mod grade;
#[cfg(feature = "ssr")]
pub mod model;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(all(test, feature = "ssr"))]
mod tests;

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A learner's answer, in terms of what they were shown (display positions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Answer {
    Choice(i32),
    Choices(Vec<i32>),
    Bool(bool),
    Number(String),
    Text(String),
    /// Display indices of the items, in the learner's order.
    Order(Vec<i32>),
    /// For each left side shown, the display index of the chosen right side (-1: none).
    Match(Vec<i32>),
}

/// A question as a learner sees it: nothing that reveals the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionView {
    pub text: String,
    pub text_after: String,
    pub kind: ViewKind,
}

/// The input a question asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ViewKind {
    SingleChoice {
        options: Vec<String>,
    },
    MultipleResponse {
        options: Vec<String>,
    },
    TrueFalse,
    Numeric,
    ShortAnswer,
    Ordering {
        items: Vec<String>,
    },
    Matching {
        lefts: Vec<String>,
        rights: Vec<String>,
    },
}

/// One of a learner's attempts, as the exam page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRow {
    pub id: i64,
    pub status: String,
    pub started_at: i64,
    pub submitted_at: Option<i64>,
    pub submitted_by_server: bool,
    pub score_percent: Option<f64>,
    pub passed: Option<bool>,
    /// The certificate claimed from this attempt.
    pub certificate: Option<ClaimedCertificate>,
}

/// A certificate as the exam page links it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimedCertificate {
    pub id: String,
    pub revoked: bool,
}

/// The exam's page for one learner: rules, their attempts, and whether they may start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamOverview {
    pub course_slug: String,
    pub course_title: String,
    pub questions: i64,
    pub time_limit_seconds: i64,
    pub pass_mark_percent: f64,
    pub attempts_allowed: i64,
    pub attempts_used: i64,
    pub cooldown_minutes: i64,
    pub opens_at: Option<i64>,
    pub closes_at: Option<i64>,
    /// The attempt in progress, to resume.
    pub active: Option<i64>,
    /// Why a new attempt cannot start now, if it cannot.
    pub blocked: Option<String>,
    pub attempts: Vec<AttemptRow>,
}

/// One question's state on the summary page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemStatus {
    pub position: i32,
    pub answered: bool,
    pub flagged: bool,
}

/// An attempt in progress: what is answered and flagged, and the time left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptSummary {
    pub id: i64,
    pub course_slug: String,
    pub course_title: String,
    pub status: String,
    /// By the server's clock; the page counts down from this.
    pub remaining_seconds: i64,
    pub items: Vec<ItemStatus>,
}

/// One question of an attempt in progress, with the learner's saved answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionPage {
    pub attempt: i64,
    pub course_slug: String,
    pub course_title: String,
    pub position: i32,
    pub total: i32,
    pub remaining_seconds: i64,
    pub view: QuestionView,
    pub answer: Option<Answer>,
    /// The sequence number of the saved answer; the next save must carry a larger one.
    pub seq: i64,
    pub flagged: bool,
    pub items: Vec<ItemStatus>,
}

/// The server's answer to a save.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaveAck {
    /// The sequence number now stored for this question.
    pub seq: i64,
    /// False when a newer save was already stored (this one was stale or a repeat).
    pub applied: bool,
    pub remaining_seconds: i64,
}

/// A category's share of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryScore {
    pub category: String,
    pub questions: i64,
    pub score_percent: f64,
}

/// When a learner's review shows the right answers and the feedback (the blueprint's
/// `show_answers`), after Moodle's quiz review options. Whatever the policy, the review
/// says which questions were missed and which module to read again; the policy decides
/// only when the keys and the feedback (which give the keys away) come with it. It is
/// read from the blueprint in force whenever a review is asked for, so tightening it
/// takes effect at once, for past attempts too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShowAnswers {
    /// Once the learner has no attempt left to start and none in progress (the default).
    #[default]
    AfterLastAttempt,
    /// Once the learner has passed (and no attempt is in progress); a learner who has
    /// passed starts no further attempt.
    AfterPass,
    /// Never: learners see what they missed, never the keys.
    Never,
}

impl ShowAnswers {
    /// Every policy, in the order the blueprint form offers them.
    pub const ALL: [ShowAnswers; 3] = [
        ShowAnswers::AfterLastAttempt,
        ShowAnswers::AfterPass,
        ShowAnswers::Never,
    ];

    /// The name written in `blueprint.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShowAnswers::AfterLastAttempt => "after_last_attempt",
            ShowAnswers::AfterPass => "after_pass",
            ShowAnswers::Never => "never",
        }
    }

    /// What the policy means, in the words of the blueprint form.
    pub fn label(self) -> &'static str {
        match self {
            ShowAnswers::AfterLastAttempt => "After the learner's last attempt",
            ShowAnswers::AfterPass => "Once the learner has passed",
            ShowAnswers::Never => "Never",
        }
    }

    /// Reads a policy by its name; the booleans of older blueprints are read too:
    /// `false` as `never`, `true` (answers after every attempt, which let learners
    /// collect the keys with throw-away accounts) as the safe default.
    pub fn parse(s: &str) -> Result<ShowAnswers, String> {
        match s.trim() {
            "after_last_attempt" | "true" => Ok(ShowAnswers::AfterLastAttempt),
            "after_pass" => Ok(ShowAnswers::AfterPass),
            "never" | "false" => Ok(ShowAnswers::Never),
            other => Err(format!(
                "show_answers {other:?} is not a policy: use after_last_attempt, after_pass or never"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for ShowAnswers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Flag(true) => Ok(ShowAnswers::AfterLastAttempt),
            Raw::Flag(false) => Ok(ShowAnswers::Never),
            Raw::Name(n) => ShowAnswers::parse(&n).map_err(serde::de::Error::custom),
        }
    }
}

/// A module to read again, as the review links it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleLink {
    pub title: String,
    pub href: String,
}

/// What gives a question's answer away: sent only when the policy shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewKey {
    pub correct_answer: String,
    pub feedback: Vec<String>,
}

/// One question in the review after submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    pub position: i32,
    pub category: String,
    pub text: String,
    pub your_answer: String,
    pub score_percent: f64,
    /// The module that teaches what the question asks, if the bank names one.
    pub module: Option<ModuleLink>,
    /// The right answer and the feedback; `None` while the policy keeps them back.
    pub key: Option<ReviewKey>,
}

/// A submitted attempt's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamResult {
    pub attempt: i64,
    pub course_slug: String,
    pub course_title: String,
    pub status: String,
    pub score_percent: f64,
    pub pass_mark_percent: f64,
    pub passed: bool,
    pub submitted_at: i64,
    pub submitted_by_server: bool,
    pub categories: Vec<CategoryScore>,
    /// Every question with the learner's answer, its marks and the module to review;
    /// with the keys only when `keys_shown`.
    pub review: Vec<ReviewItem>,
    /// Whether the review carries the right answers and feedback.
    pub keys_shown: bool,
    /// When the right answers and feedback will be shown, while they are not.
    pub keys_note: Option<String>,
}

/// Where a form goes after saving: `next`, `prev`, `summary` or a question number.
#[cfg(feature = "ssr")]
fn go_to(attempt: i64, position: i32, total: i32, go: &str) -> Option<String> {
    let q = |p: i32| Some(format!("/exam/{attempt}/q/{p}"));
    match go {
        "next" if position < total => q(position + 1),
        "next" | "summary" => Some(format!("/exam/{attempt}")),
        "prev" if position > 1 => q(position - 1),
        "prev" => q(1),
        "stay" => q(position),
        n => n
            .parse::<i32>()
            .ok()
            .filter(|p| (1..=total).contains(p))
            .and_then(q),
    }
}

/// The exam of a course for the signed-in learner.
#[server(endpoint = "exam/overview")]
pub async fn get_exam_overview(course: String) -> Result<ExamOverview, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            attempts::overview(&state.db, &course, user.id).await
        }
        .await,
    )
}

/// Starts an attempt (or resumes the one in progress) and goes to its first question.
#[server(endpoint = "exam/start")]
pub async fn start_exam(course: String) -> Result<i64, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            let id = attempts::start(&state.db, &course, user.id).await?;
            leptos_axum::redirect(&format!("/exam/{id}/q/1"));
            Ok(id)
        }
        .await,
    )
}

/// An attempt's summary: answered and flagged questions, time left.
#[server(endpoint = "exam/summary")]
pub async fn get_attempt_summary(attempt: i64) -> Result<AttemptSummary, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            attempts::summary(&state.db, attempt, user.id).await
        }
        .await,
    )
}

/// One question of an attempt in progress.
#[server(endpoint = "exam/question")]
pub async fn get_exam_question(attempt: i64, position: i32) -> Result<QuestionPage, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            attempts::question(&state.db, attempt, position, user.id).await
        }
        .await,
    )
}

/// Saves an answer. `answer[i]` are the form's fields (see [`attempts::answer_from_form`]);
/// none clears the answer. `seq` orders saves: one not larger than the stored one is
/// ignored, so a late or repeated save never overwrites a newer one. Without `seq`
/// (a plain form) the save is the newest. `go` moves on after saving. `flag`
/// also sets (or clears) the question's review flag, so that the form's "Flag for
/// review" keeps what the learner typed, with or without JavaScript; the page
/// then stays on the question.
#[server(endpoint = "exam/save")]
pub async fn save_answer(
    attempt: i64,
    position: i32,
    seq: Option<i64>,
    #[server(default)] answer: BTreeMap<String, String>,
    go: Option<String>,
    flag: Option<bool>,
    reorder: Option<String>,
) -> Result<SaveAck, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            let mut answer = answer;
            // An ordering's move buttons post the whole list (without JavaScript):
            // the order saved is the one shown, with that one move made.
            let moved = reorder
                .as_deref()
                .and_then(|r| attempts::apply_reorder(&mut answer, r));
            let (ack, total) =
                attempts::save(&state.db, attempt, position, seq, &answer, user.id).await?;
            let go = match flag {
                Some(flagged) => {
                    attempts::flag(&state.db, attempt, position, flagged, user.id).await?;
                    Some(go.unwrap_or_else(|| "stay".into()))
                }
                None if reorder.is_some() => Some("stay".into()),
                None => go,
            };
            if let Some(path) = go
                .as_deref()
                .and_then(|g| go_to(attempt, position, total, g))
            {
                // Back to the item that moved, so the learner keeps their place.
                match moved {
                    Some(item) => leptos_axum::redirect(&format!("{path}#order-{item}")),
                    None => leptos_axum::redirect(&path),
                }
            }
            Ok(ack)
        }
        .await,
    )
}

/// Flags a question for review (or clears the flag).
#[server(endpoint = "exam/flag")]
pub async fn flag_question(
    attempt: i64,
    position: i32,
    flagged: bool,
    go: Option<String>,
) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            let total = attempts::flag(&state.db, attempt, position, flagged, user.id).await?;
            if let Some(path) = go
                .as_deref()
                .and_then(|g| go_to(attempt, position, total, g))
            {
                leptos_axum::redirect(&path);
            }
            Ok(())
        }
        .await,
    )
}

/// Submits an attempt for grading and goes to its result.
#[server(endpoint = "exam/submit")]
pub async fn submit_exam(attempt: i64) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            attempts::submit_own(&state.db, attempt, user.id).await?;
            leptos_axum::redirect(&format!("/exam/{attempt}/result"));
            Ok(())
        }
        .await,
    )
}

/// A submitted attempt's result; the learner's own, or any for an administrator.
#[server(endpoint = "exam/result")]
pub async fn get_exam_result(attempt: i64) -> Result<ExamResult, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            attempts::result(&state.db, attempt, &user).await
        }
        .await,
    )
}
