//! The exam's administration: the blueprint, attempts per learner, extra time, extra
//! attempts, voiding, and item statistics. Every server function here checks
//! `require_admin()` before anything else.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Item statistics are shown once a course has at least this many submitted attempts.
pub const MIN_ATTEMPTS_FOR_STATS: i64 = 5;

/// A course as the exam administration lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminExamCourse {
    pub slug: String,
    pub title: String,
    pub has_exam: bool,
    pub active: i64,
    pub submitted: i64,
}

/// One line of the draw in the blueprint form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrawRow {
    pub category: String,
    /// Questions in the bank (not retired) for this category.
    pub available: i64,
    pub count: i64,
}

/// A module the blueprint can require.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleChoice {
    pub slug: String,
    pub title: String,
    pub required: bool,
}

/// The blueprint as the edit form shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueprintForm {
    pub course_slug: String,
    pub course_title: String,
    pub time_limit: i64,
    /// `minutes` or `seconds`.
    pub time_unit: String,
    pub pass_mark_percent: f64,
    pub attempts_allowed: i64,
    pub cooldown_minutes: i64,
    pub opens_at: String,
    pub closes_at: String,
    /// When learners' reviews show the right answers and feedback.
    pub show_answers: crate::exam::ShowAnswers,
    pub shuffle_questions: bool,
    pub shuffle_options: bool,
    /// How many months a certificate stays valid; `None`: it never expires.
    pub certificate_valid_months: Option<i64>,
    pub draw: Vec<DrawRow>,
    pub modules: Vec<ModuleChoice>,
    /// The course file the form saves to (`exam/blueprint.yaml`), as a new revision.
    pub path: String,
    /// That file's revision when the form was read (0: no file yet); a save based on
    /// an older one is refused, so nobody's change is lost.
    pub revision: i64,
}

/// One attempt in the administration's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminAttempt {
    pub id: i64,
    pub status: String,
    pub started_at: i64,
    pub deadline_at: i64,
    pub submitted_at: Option<i64>,
    /// `learner` or `server` (the sweeper, at the deadline).
    pub submitted_by: Option<String>,
    pub score_percent: Option<f64>,
    pub passed: Option<bool>,
    pub extra_minutes: i64,
    pub void_reason: Option<String>,
    /// By the server's clock; 0 unless active.
    pub remaining_seconds: i64,
}

/// A learner's attempts at one course's exam.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnerAttempts {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    /// Attempts that count (voided ones do not).
    pub used: i64,
    /// The blueprint's attempts plus any granted.
    pub allowed: i64,
    pub extra_attempts: i64,
    pub attempts: Vec<AdminAttempt>,
}

/// Something an administrator did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub at: i64,
    pub admin: String,
    pub learner: Option<String>,
    pub action: String,
    pub detail: String,
}

/// The attempts page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminAttempts {
    pub course_slug: String,
    pub course_title: String,
    pub learners: Vec<LearnerAttempts>,
    pub log: Vec<LogEntry>,
}

/// How often one option (or one response) was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionStat {
    pub text: String,
    /// Whether the option carries credit.
    pub right: bool,
    pub count: i64,
    pub percent: f64,
}

/// The statistics of one question version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemStat {
    pub question: String,
    pub version: i64,
    pub category: String,
    pub kind: String,
    pub text: String,
    pub retired: bool,
    /// Submitted attempts that drew this version.
    pub attempts: i64,
    /// Mean score on the question, in percent of its marks.
    pub facility_percent: f64,
    /// Standard deviation of the score, in percent of its marks.
    pub sd_percent: f64,
    /// Correlation of the question's score with the rest of the attempt; none when
    /// either does not vary.
    pub discrimination: Option<f64>,
    pub unanswered: i64,
    /// For choice questions every option in authored order; otherwise the most given responses.
    pub options: Vec<OptionStat>,
}

/// The statistics page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamStatistics {
    pub course_slug: String,
    pub course_title: String,
    pub submitted: i64,
    pub min_attempts: i64,
    pub items: Vec<ItemStat>,
}

/// Courses and whether they have an exam.
#[server(endpoint = "exam/admin/courses")]
pub async fn admin_exam_courses() -> Result<Vec<AdminExamCourse>, AppError> {
    crate::error::ssr::with_status(
        async move {
            crate::auth::session::require_admin().await?;
            let state = crate::state::app_state()?;
            ops::courses(&state.db).await
        }
        .await,
    )
}

/// A course's blueprint, for the edit form.
#[server(endpoint = "exam/admin/blueprint")]
pub async fn get_exam_blueprint(course: String) -> Result<BlueprintForm, AppError> {
    crate::error::ssr::with_status(
        async move {
            crate::auth::session::require_admin().await?;
            let state = crate::state::app_state()?;
            ops::blueprint_form(&state.db, &course).await
        }
        .await,
    )
}

/// Saves a course's blueprint as the next revision of its `exam/blueprint.yaml` and
/// publishes it, as the file editor does; returns the new revision. `category[i]`/
/// `count[i]` are the draw; `module[i]` the modules required; the check boxes are
/// present when ticked; `revision` is the file's revision the form was read at (empty:
/// whatever is current); `show_answers` is a policy's name (empty: the default,
/// `after_last_attempt`). Numbers come as text so that a wrong one gets a message in
/// words; every field has a default so that a caller who is not an administrator hears
/// that first, whatever they sent.
#[server(endpoint = "exam/admin/save-blueprint")]
pub async fn save_exam_blueprint(
    #[server(default)] course: String,
    #[server(default)] revision: String,
    #[server(default)] time_limit: String,
    #[server(default)] time_unit: String,
    #[server(default)] pass_mark_percent: String,
    #[server(default)] attempts_allowed: String,
    #[server(default)] cooldown_minutes: String,
    #[server(default)] opens_at: String,
    #[server(default)] closes_at: String,
    #[server(default)] show_answers: String,
    shuffle_questions: Option<String>,
    shuffle_options: Option<String>,
    #[server(default)] certificate_valid_months: String,
    #[server(default)] category: BTreeMap<String, String>,
    #[server(default)] count: BTreeMap<String, String>,
    #[server(default)] module: BTreeMap<String, String>,
) -> Result<i64, AppError> {
    crate::error::ssr::with_status(
        async move {
            let admin = crate::auth::session::require_admin().await?;
            let state = crate::state::app_state()?;
            let input = BlueprintInput {
                time_limit,
                time_unit,
                pass_mark_percent,
                attempts_allowed,
                cooldown_minutes,
                opens_at,
                closes_at,
                show_answers,
                shuffle_questions: shuffle_questions.is_some(),
                shuffle_options: shuffle_options.is_some(),
                certificate_valid_months,
                category,
                count,
                module,
            };
            let base_revision = match revision.trim() {
                "" => None,
                r => Some(r.parse::<i64>().map_err(|_| {
                    AppError::Validation("The form's revision must be a whole number.".into())
                })?),
            };
            let before = ops::spec_json(&state.db, &course).await?;
            let saved = ops::save_blueprint(&state, &admin, &course, input, base_revision).await?;
            let after = ops::spec_json(&state.db, &course).await?;
            crate::admin::store::audit(
                &state.db,
                &admin,
                "saved the exam blueprint",
                &format!("{course}/{}", crate::exam::store::BLUEPRINT_PATH),
                before.as_deref(),
                after.as_deref(),
            )
            .await?;
            Ok(saved)
        }
        .await,
    )
}

/// Every learner's attempts at a course's exam, and what administrators did.
#[server(endpoint = "exam/admin/attempts")]
pub async fn admin_exam_attempts(course: String) -> Result<AdminAttempts, AppError> {
    crate::error::ssr::with_status(
        async move {
            crate::auth::session::require_admin().await?;
            let state = crate::state::app_state()?;
            ops::attempts(&state.db, &course).await
        }
        .await,
    )
}

/// Gives one learner's attempt in progress more time: its deadline moves by `minutes`.
/// Returns the seconds left after the change.
#[server(endpoint = "exam/admin/extra-time")]
pub async fn grant_extra_time(
    #[server(default)] attempt: i64,
    #[server(default)] minutes: String,
) -> Result<i64, AppError> {
    crate::error::ssr::with_status(
        async move {
            let admin = crate::auth::session::require_admin().await?;
            let state = crate::state::app_state()?;
            let minutes = ExtraMinutes::parse(&minutes).map_err(AppError::Validation)?;
            let added = format!("{} more minutes", minutes.get());
            let left = ops::extra_time(&state.db, attempt, minutes, admin.id).await?;
            let after = format!("{added}; {left} s left");
            crate::admin::store::audit(
                &state.db,
                &admin,
                "granted extra time",
                &format!("exam attempt {attempt}"),
                None,
                Some(&after),
            )
            .await?;
            Ok(left)
        }
        .await,
    )
}

/// Gives one learner one more attempt at a course's exam; returns the attempts they now have.
#[server(endpoint = "exam/admin/extra-attempt")]
pub async fn grant_extra_attempt(
    #[server(default)] course: String,
    #[server(default)] user: i64,
) -> Result<i64, AppError> {
    crate::error::ssr::with_status(
        async move {
            let admin = crate::auth::session::require_admin().await?;
            let state = crate::state::app_state()?;
            let attempts = ops::extra_attempt(&state.db, &course, user, admin.id).await?;
            let target = format!("user {user}, exam of {course}");
            let after = format!("{attempts} attempts allowed");
            crate::admin::store::audit(
                &state.db,
                &admin,
                "granted an extra attempt",
                &target,
                None,
                Some(&after),
            )
            .await?;
            Ok(attempts)
        }
        .await,
    )
}

/// Voids an attempt: it no longer counts against the learner's attempts and cannot pass.
#[server(endpoint = "exam/admin/void")]
pub async fn void_attempt(
    #[server(default)] attempt: i64,
    #[server(default)] reason: String,
) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let admin = crate::auth::session::require_admin().await?;
            let state = crate::state::app_state()?;
            let reason = VoidReason::parse(&reason).map_err(AppError::Validation)?;
            let shown = reason.as_str().to_string();
            ops::void(&state.db, attempt, reason, admin.id).await?;
            crate::admin::store::audit(
                &state.db,
                &admin,
                "voided an exam attempt",
                &format!("exam attempt {attempt}"),
                None,
                Some(&shown),
            )
            .await
        }
        .await,
    )
}

/// Item statistics of a course's exam over its submitted attempts.
#[server(endpoint = "exam/admin/statistics")]
pub async fn get_exam_statistics(course: String) -> Result<ExamStatistics, AppError> {
    crate::error::ssr::with_status(
        async move {
            crate::auth::session::require_admin().await?;
            let state = crate::state::app_state()?;
            ops::statistics(&state.db, &course).await
        }
        .await,
    )
}

/// The blueprint form's fields as they arrived.
#[derive(Debug, Clone, Default)]
pub struct BlueprintInput {
    pub time_limit: String,
    pub time_unit: String,
    pub pass_mark_percent: String,
    pub attempts_allowed: String,
    pub cooldown_minutes: String,
    pub opens_at: String,
    pub closes_at: String,
    /// A [`crate::exam::ShowAnswers`] policy's name; empty: the default.
    pub show_answers: String,
    pub shuffle_questions: bool,
    pub shuffle_options: bool,
    /// Empty: certificates never expire.
    pub certificate_valid_months: String,
    pub category: BTreeMap<String, String>,
    pub count: BTreeMap<String, String>,
    pub module: BTreeMap<String, String>,
}

/// Extra time for an attempt: whole minutes, 1 to 600.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtraMinutes(i64);

impl ExtraMinutes {
    pub fn parse(s: &str) -> Result<ExtraMinutes, String> {
        match s.trim().parse::<i64>() {
            Ok(m) if (1..=600).contains(&m) => Ok(ExtraMinutes(m)),
            _ => Err("Extra time must be a whole number of minutes from 1 to 600.".into()),
        }
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Why an attempt is voided: said in words, at most 500 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoidReason(String);

impl VoidReason {
    pub fn parse(s: &str) -> Result<VoidReason, String> {
        let s = s.trim();
        match s.chars().count() {
            0..=2 => Err("Give a reason for voiding the attempt (at least 3 characters).".into()),
            501.. => Err("Keep the reason to 500 characters or fewer.".into()),
            _ => Ok(VoidReason(s.to_string())),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Pearson's correlation of two equally long series; none when either does not vary.
pub fn correlation(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 2 || y.len() != n {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx < 1e-12 || syy < 1e-12 {
        return None;
    }
    Some(sxy / (sxx * syy).sqrt())
}

#[cfg(feature = "ssr")]
pub mod ops {
    //! The administration's queries and changes.

    use std::collections::{BTreeMap, HashMap};

    use super::*;
    use crate::admin::store::{save_from, Edit, Source};
    use crate::auth::User;
    use crate::course::sync;
    use crate::db::{now_ms, Db};
    use crate::exam::attempts::{self, GRACE_MS};
    use crate::exam::draw::{
        leading_comment, parse_utc, Blueprint, Draw, Eligibility, Layout, DEFAULT_COMMENT,
        MAX_VALID_MONTHS,
    };
    use crate::exam::model::Kind;
    use crate::exam::{grade, store, Answer};
    use crate::state::AppState;

    async fn course(db: &Db, slug: &str) -> Result<(i64, String), AppError> {
        sqlx::query_as("SELECT id, title FROM courses WHERE slug = $1")
            .bind(slug)
            .fetch_optional(db)
            .await?
            .ok_or(AppError::NotFound)
    }

    async fn log(
        db: &Db,
        course_id: i64,
        admin: i64,
        user: Option<i64>,
        attempt: Option<i64>,
        action: &str,
        detail: &str,
    ) -> Result<(), AppError> {
        sqlx::query(
            "INSERT INTO exam_admin_log (course_id, admin_id, user_id, attempt_id, action, detail, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(course_id)
        .bind(admin)
        .bind(user)
        .bind(attempt)
        .bind(action)
        .bind(detail)
        .bind(now_ms())
        .execute(db)
        .await?;
        tracing::info!(
            course_id,
            admin,
            ?user,
            ?attempt,
            action,
            detail,
            "exam administration"
        );
        Ok(())
    }

    pub async fn courses(db: &Db) -> Result<Vec<AdminExamCourse>, AppError> {
        let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT c.slug, c.title,
                (SELECT CAST(COUNT(*) AS BIGINT) FROM exam_blueprints b WHERE b.course_id = c.id),
                (SELECT CAST(COUNT(*) AS BIGINT) FROM exam_attempts a WHERE a.course_id = c.id AND a.status = 'active'),
                (SELECT CAST(COUNT(*) AS BIGINT) FROM exam_attempts a WHERE a.course_id = c.id AND a.status = 'submitted')
             FROM courses c ORDER BY c.position, c.id",
        )
        .fetch_all(db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(slug, title, b, active, submitted)| AdminExamCourse {
                slug,
                title,
                has_exam: b > 0,
                active,
                submitted,
            })
            .collect())
    }

    /// Questions available (not retired) per category, in bank order.
    async fn available(db: &Db, course_id: i64) -> Result<Vec<(String, i64)>, AppError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT category, position FROM exam_questions WHERE course_id = $1 AND retired = 0 ORDER BY position, id",
        )
        .bind(course_id)
        .fetch_all(db)
        .await?;
        let mut out: Vec<(String, i64)> = Vec::new();
        for (cat, _) in rows {
            match out.iter_mut().find(|(c, _)| *c == cat) {
                Some(e) => e.1 += 1,
                None => out.push((cat, 1)),
            }
        }
        Ok(out)
    }

    pub async fn blueprint_form(db: &Db, slug: &str) -> Result<BlueprintForm, AppError> {
        let (cid, title) = course(db, slug).await?;
        let bp = store::blueprint(db, cid).await?.ok_or(AppError::NotFound)?;
        let revision = sync::file_body(db, slug, store::BLUEPRINT_PATH)
            .await?
            .map_or(0, |(_, r)| r);
        let avail = available(db, cid).await?;
        let mut draw: Vec<DrawRow> = avail
            .iter()
            .map(|(c, n)| DrawRow {
                category: c.clone(),
                available: *n,
                count: bp
                    .draw
                    .iter()
                    .find(|d| d.category == *c)
                    .map_or(0, |d| d.count),
            })
            .collect();
        for d in &bp.draw {
            if !draw.iter().any(|r| r.category == d.category) {
                draw.push(DrawRow {
                    category: d.category.clone(),
                    available: 0,
                    count: d.count,
                });
            }
        }
        let modules: Vec<(String, String)> = sqlx::query_as(
            "SELECT slug, title FROM modules WHERE course_id = $1 ORDER BY position, id",
        )
        .bind(cid)
        .fetch_all(db)
        .await?;
        let (time_limit, time_unit) = match bp.time_limit_seconds {
            Some(s) => (s, "seconds"),
            None => (bp.time_limit_minutes, "minutes"),
        };
        let fmt = |s: &Option<String>| s.clone().unwrap_or_default();
        Ok(BlueprintForm {
            course_slug: slug.to_string(),
            course_title: title,
            time_limit,
            time_unit: time_unit.into(),
            pass_mark_percent: bp.pass_mark_percent,
            attempts_allowed: bp.attempts_allowed,
            cooldown_minutes: bp.cooldown_minutes,
            opens_at: fmt(&bp.opens_at),
            closes_at: fmt(&bp.closes_at),
            show_answers: bp.show_answers,
            shuffle_questions: bp.shuffle_questions,
            shuffle_options: bp.shuffle_options,
            certificate_valid_months: bp.certificate_valid_months,
            draw,
            modules: modules
                .into_iter()
                .map(|(slug, title)| ModuleChoice {
                    required: bp.eligibility.modules_completed.contains(&slug),
                    slug,
                    title,
                })
                .collect(),
            path: store::BLUEPRINT_PATH.to_string(),
            revision,
        })
    }

    fn whole(s: &str, what: &str) -> Result<i64, String> {
        s.trim()
            .parse::<i64>()
            .map_err(|_| format!("{what} must be a whole number."))
    }

    /// Turns the form into a blueprint, keeping what the form does not show (labs) from `old`.
    /// `available` is the bank's question count per category; `modules` the course's module slugs.
    pub fn parse_blueprint(
        input: &BlueprintInput,
        old: &Blueprint,
        available: &[(String, i64)],
        modules: &[String],
    ) -> Result<Blueprint, String> {
        let limit = whole(&input.time_limit, "The time limit")?;
        let (time_limit_minutes, time_limit_seconds) = match input.time_unit.as_str() {
            "minutes" => (limit, None),
            "seconds" => (0, Some(limit)),
            _ => return Err("The time limit's unit must be minutes or seconds.".into()),
        };
        let pass: f64 = input
            .pass_mark_percent
            .trim()
            .parse()
            .ok()
            .filter(|p: &f64| p.is_finite())
            .ok_or("The pass mark must be a number from 0 to 100.")?;
        let attempts_allowed = whole(&input.attempts_allowed, "Attempts allowed")?;
        let cooldown_minutes = whole(&input.cooldown_minutes, "The cooldown")?;
        let date = |s: &str, what: &str| -> Result<Option<String>, String> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            parse_utc(s).map_err(|e| format!("{what}: {e}."))?;
            Ok(Some(s.to_string()))
        };
        let certificate_valid_months = match input.certificate_valid_months.trim() {
            "" => None,
            m => {
                let m = whole(m, "The certificate's validity")?;
                if !(1..=MAX_VALID_MONTHS).contains(&m) {
                    return Err(format!(
                        "The certificate's validity must be from 1 to {MAX_VALID_MONTHS} months; leave it empty for certificates that never expire."
                    ));
                }
                Some(m)
            }
        };
        let show_answers = match input.show_answers.trim() {
            "" => crate::exam::ShowAnswers::default(),
            s => crate::exam::ShowAnswers::parse(s).map_err(|_| {
                format!(
                    "When to show the answers must be one of: {}.",
                    crate::exam::ShowAnswers::ALL.map(|p| p.as_str()).join(", ")
                )
            })?,
        };
        let opens_at = date(&input.opens_at, "Opens")?;
        let closes_at = date(&input.closes_at, "Closes")?;
        let mut draw = Vec::new();
        for (i, cat) in &input.category {
            let raw = input.count.get(i).map(String::as_str).unwrap_or("0");
            let raw = if raw.trim().is_empty() { "0" } else { raw };
            let n = whole(raw, &format!("The number of questions from {cat:?}"))?;
            if n < 0 {
                return Err(format!(
                    "The number of questions from {cat:?} cannot be negative."
                ));
            }
            if n == 0 {
                continue;
            }
            let have = available
                .iter()
                .find(|(c, _)| c == cat)
                .map_or(0, |(_, n)| *n);
            if n > have {
                return Err(format!(
                    "The draw asks for {n} questions from {cat:?}, but the bank has {have}."
                ));
            }
            draw.push(Draw {
                category: cat.clone(),
                count: n,
            });
        }
        if draw.is_empty() {
            return Err("Draw at least one question.".into());
        }
        let mut modules_completed = Vec::new();
        for m in input.module.values() {
            if !modules.contains(m) {
                return Err(format!("There is no module {m:?} in this course."));
            }
            if !modules_completed.contains(m) {
                modules_completed.push(m.clone());
            }
        }
        let b = Blueprint {
            time_limit_minutes,
            time_limit_seconds,
            pass_mark_percent: pass,
            attempts_allowed,
            cooldown_minutes,
            opens_at,
            closes_at,
            show_answers,
            shuffle_questions: input.shuffle_questions,
            shuffle_options: input.shuffle_options,
            eligibility: Eligibility {
                modules_completed,
                labs_passed: old.eligibility.labs_passed.clone(),
            },
            certificate_valid_months,
            draw,
        };
        b.validate().map_err(|e| {
            // The rules speak in the file's field names; say it the way the form does.
            let e = e
                .replace("time_limit_minutes", "The time limit in minutes")
                .replace("time_limit_seconds", "The time limit in seconds")
                .replace("pass_mark_percent", "The pass mark")
                .replace("attempts_allowed", "attempts allowed")
                .replace("cooldown_minutes", "the cooldown");
            let mut c = e.chars();
            match c.next() {
                Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str().trim_end_matches('.')),
                None => e,
            }
        })?;
        Ok(b)
    }

    /// The blueprint in force, as stored (for the audit log's before and after).
    pub async fn spec_json(db: &Db, slug: &str) -> Result<Option<String>, AppError> {
        Ok(sqlx::query_scalar(
            "SELECT b.spec_json FROM exam_blueprints b JOIN courses c ON c.id = b.course_id WHERE c.slug = $1",
        )
        .bind(slug)
        .fetch_optional(db)
        .await?)
    }

    /// Saves the form's blueprint as the next revision of `exam/blueprint.yaml`, through
    /// the content store (checked by the importer, then published, as an editor save
    /// is), and notes it in the exam's log. Returns the file's new revision.
    /// `base_revision`: the file's revision the form was read at; `None`: the current one.
    pub async fn save_blueprint(
        state: &AppState,
        admin: &User,
        slug: &str,
        input: BlueprintInput,
        base_revision: Option<i64>,
    ) -> Result<i64, AppError> {
        let db = &state.db;
        let (cid, _) = course(db, slug).await?;
        let old = store::blueprint(db, cid).await?.ok_or(AppError::NotFound)?;
        let avail = available(db, cid).await?;
        let modules: Vec<String> =
            sqlx::query_scalar("SELECT slug FROM modules WHERE course_id = $1")
                .bind(cid)
                .fetch_all(db)
                .await?;
        let b = parse_blueprint(&input, &old, &avail, &modules).map_err(AppError::Validation)?;
        let file = sync::file_body(db, slug, store::BLUEPRINT_PATH).await?;
        // The file's own comment stays at its top; the form has no place for others.
        let comment = file
            .as_ref()
            .and_then(|(body, _)| leading_comment(&String::from_utf8_lossy(body)))
            .unwrap_or_else(|| DEFAULT_COMMENT.to_string());
        let yaml = b.to_yaml(&comment);
        let edit = Edit {
            course: slug,
            path: store::BLUEPRINT_PATH,
            body: yaml.as_bytes(),
            base_revision: base_revision.unwrap_or_else(|| file.map_or(0, |(_, r)| r)),
            note: "saved with the exam blueprint form",
        };
        let revision = save_from(state, admin, &edit, Source::Form).await?;
        let draw: Vec<String> = b
            .draw
            .iter()
            .map(|d| format!("{} × {}", d.count, d.category))
            .collect();
        log(
            db,
            cid,
            admin.id,
            None,
            None,
            "blueprint",
            &format!(
                "revision {revision}: {} s, pass {}%, {} attempts, answers {}, draw {}, certificates {}",
                b.time_limit_ms() / 1000,
                b.pass_mark_percent,
                b.attempts_allowed,
                b.show_answers.as_str(),
                draw.join(", "),
                b.certificate_valid_months
                    .map_or("never expire".to_string(), |m| format!("valid {m} months"))
            ),
        )
        .await?;
        Ok(revision)
    }

    type Row = (
        i64,
        i64,
        String,
        String,
        String,
        i64,
        i64,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<i64>,
        i64,
        Option<String>,
    );

    pub async fn attempts(db: &Db, slug: &str) -> Result<AdminAttempts, AppError> {
        let (cid, title) = course(db, slug).await?;
        let bp = store::blueprint(db, cid).await?.ok_or(AppError::NotFound)?;
        // What the list shows is what is true now: overdue attempts are submitted first.
        attempts::sweep(db).await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT a.id, a.user_id, u.email, u.display_name, a.status, a.started_at, a.deadline_at,
                    a.submitted_at, a.submitted_by, a.score_bp, a.passed, a.extra_ms, a.void_reason
             FROM exam_attempts a JOIN users u ON u.id = a.user_id
             WHERE a.course_id = $1 ORDER BY u.email, a.started_at, a.id",
        )
        .bind(cid)
        .fetch_all(db)
        .await?;
        let grants: Vec<(i64, i64)> =
            sqlx::query_as("SELECT user_id, extra_attempts FROM exam_grants WHERE course_id = $1")
                .bind(cid)
                .fetch_all(db)
                .await?;
        let grants: HashMap<i64, i64> = grants.into_iter().collect();
        let now = now_ms();
        let mut learners: Vec<LearnerAttempts> = Vec::new();
        for r in rows {
            let (id, uid, email, name, status) = (r.0, r.1, r.2, r.3, r.4);
            let a = AdminAttempt {
                id,
                remaining_seconds: if status == "active" {
                    ((r.6 - now).max(0) + 999) / 1000
                } else {
                    0
                },
                status,
                started_at: r.5,
                deadline_at: r.6,
                submitted_at: r.7,
                submitted_by: r.8,
                score_percent: r.9.map(|b| b as f64 / 100.0),
                passed: r.10.map(|p| p != 0),
                extra_minutes: r.11 / 60_000,
                void_reason: r.12,
            };
            if learners.last().is_none_or(|l| l.user_id != uid) {
                let extra = grants.get(&uid).copied().unwrap_or(0);
                learners.push(LearnerAttempts {
                    user_id: uid,
                    email,
                    name,
                    used: 0,
                    allowed: bp.attempts_allowed + extra,
                    extra_attempts: extra,
                    attempts: Vec::new(),
                });
            }
            if let Some(l) = learners.last_mut() {
                if a.status != "voided" {
                    l.used += 1;
                }
                l.attempts.push(a);
            }
        }
        // A learner with a grant but no attempt yet is listed too.
        for (uid, extra) in &grants {
            if !learners.iter().any(|l| l.user_id == *uid) {
                if let Some((email, name)) = sqlx::query_as::<_, (String, String)>(
                    "SELECT email, display_name FROM users WHERE id = $1",
                )
                .bind(*uid)
                .fetch_optional(db)
                .await?
                {
                    learners.push(LearnerAttempts {
                        user_id: *uid,
                        email,
                        name,
                        used: 0,
                        allowed: bp.attempts_allowed + extra,
                        extra_attempts: *extra,
                        attempts: Vec::new(),
                    });
                }
            }
        }
        let log: Vec<(i64, String, Option<String>, String, String)> = sqlx::query_as(
            "SELECT l.created_at, a.email, u.email, l.action, l.detail
             FROM exam_admin_log l JOIN users a ON a.id = l.admin_id LEFT JOIN users u ON u.id = l.user_id
             WHERE l.course_id = $1 ORDER BY l.created_at DESC, l.id DESC LIMIT 50",
        )
        .bind(cid)
        .fetch_all(db)
        .await?;
        Ok(AdminAttempts {
            course_slug: slug.to_string(),
            course_title: title,
            learners,
            log: log
                .into_iter()
                .map(|(at, admin, learner, action, detail)| LogEntry {
                    at,
                    admin,
                    learner,
                    action,
                    detail,
                })
                .collect(),
        })
    }

    async fn attempt_row(db: &Db, id: i64) -> Result<(i64, i64, String, i64), AppError> {
        sqlx::query_as(
            "SELECT course_id, user_id, status, deadline_at FROM exam_attempts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(AppError::NotFound)
    }

    pub async fn extra_time(
        db: &Db,
        attempt: i64,
        minutes: ExtraMinutes,
        admin: i64,
    ) -> Result<i64, AppError> {
        let (cid, uid, status, deadline) = attempt_row(db, attempt).await?;
        let now = now_ms();
        if status == "active" && now > deadline + GRACE_MS {
            attempts::submit(db, attempt, "server").await?;
            return Err(AppError::Conflict(
                "This attempt ran out of time and has been submitted; grant an extra attempt instead.".into(),
            ));
        }
        if status != "active" {
            return Err(AppError::Conflict(
                "Only an attempt in progress can get extra time; grant an extra attempt instead."
                    .into(),
            ));
        }
        let ms = minutes.get() * 60_000;
        let n = sqlx::query(
            "UPDATE exam_attempts SET deadline_at = deadline_at + $1, extra_ms = extra_ms + $1
             WHERE id = $2 AND status = 'active'",
        )
        .bind(ms)
        .bind(attempt)
        .execute(db)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(AppError::Conflict(
                "The attempt was submitted in the meantime.".into(),
            ));
        }
        log(
            db,
            cid,
            admin,
            Some(uid),
            Some(attempt),
            "extra time",
            &format!("attempt {attempt}: {} more minutes", minutes.get()),
        )
        .await?;
        let (_, _, _, deadline) = attempt_row(db, attempt).await?;
        Ok(((deadline - now_ms()).max(0) + 999) / 1000)
    }

    pub async fn extra_attempt(
        db: &Db,
        slug: &str,
        user: i64,
        admin: i64,
    ) -> Result<i64, AppError> {
        let (cid, _) = course(db, slug).await?;
        let bp = store::blueprint(db, cid).await?.ok_or(AppError::NotFound)?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(db)
            .await?;
        if exists.is_none() {
            return Err(AppError::NotFound);
        }
        sqlx::query(
            "INSERT INTO exam_grants (user_id, course_id, extra_attempts) VALUES ($1, $2, 1)
             ON CONFLICT (user_id, course_id) DO UPDATE SET extra_attempts = exam_grants.extra_attempts + 1",
        )
        .bind(user)
        .bind(cid)
        .execute(db)
        .await?;
        let extra: i64 = sqlx::query_scalar(
            "SELECT extra_attempts FROM exam_grants WHERE user_id = $1 AND course_id = $2",
        )
        .bind(user)
        .bind(cid)
        .fetch_one(db)
        .await?;
        log(
            db,
            cid,
            admin,
            Some(user),
            None,
            "extra attempt",
            &format!("{extra} extra in all"),
        )
        .await?;
        Ok(bp.attempts_allowed + extra)
    }

    pub async fn void(
        db: &Db,
        attempt: i64,
        reason: VoidReason,
        admin: i64,
    ) -> Result<(), AppError> {
        let (cid, uid, status, _) = attempt_row(db, attempt).await?;
        if status == "voided" {
            return Err(AppError::Conflict("This attempt is already voided.".into()));
        }
        let n = sqlx::query(
            "UPDATE exam_attempts SET status = 'voided', passed = 0, void_reason = $1, voided_at = $2, voided_by = $3
             WHERE id = $4 AND status <> 'voided'",
        )
        .bind(reason.as_str())
        .bind(now_ms())
        .bind(admin)
        .bind(attempt)
        .execute(db)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(AppError::Conflict("This attempt is already voided.".into()));
        }
        log(
            db,
            cid,
            admin,
            Some(uid),
            Some(attempt),
            "void",
            &format!("attempt {attempt} (was {status}): {}", reason.as_str()),
        )
        .await
    }

    /// The authored index of a displayed option.
    fn authored(layout: &Layout, shown: i32) -> Option<usize> {
        usize::try_from(shown)
            .ok()
            .and_then(|d| layout.order.get(d).copied())
    }

    struct Acc {
        key: String,
        version: i64,
        category: String,
        retired: bool,
        question: crate::exam::model::Question,
        /// (item score, mean score of the attempt's other items)
        pairs: Vec<(f64, f64)>,
        unanswered: i64,
        counts: Vec<i64>,
        responses: BTreeMap<String, i64>,
    }

    type StatRow = (
        i64,
        i64,
        Option<i64>,
        Option<String>,
        String,
        String,
        i64,
        String,
        i64,
    );

    pub async fn statistics(db: &Db, slug: &str) -> Result<ExamStatistics, AppError> {
        let (cid, title) = course(db, slug).await?;
        attempts::sweep(db).await?;
        let submitted: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM exam_attempts WHERE course_id = $1 AND status = 'submitted'",
        )
        .bind(cid)
        .fetch_one(db)
        .await?;
        let mut out = ExamStatistics {
            course_slug: slug.to_string(),
            course_title: title,
            submitted,
            min_attempts: MIN_ATTEMPTS_FOR_STATS,
            items: Vec::new(),
        };
        if submitted < MIN_ATTEMPTS_FOR_STATS {
            return Ok(out);
        }
        let rows: Vec<StatRow> = sqlx::query_as(
            "SELECT i.attempt_id, i.question_version_id, i.score_bp, i.answer_json, i.layout_json,
                    v.body_json, v.version, q.qkey, q.retired
             FROM exam_attempt_items i
             JOIN exam_attempts a ON a.id = i.attempt_id
             JOIN exam_question_versions v ON v.id = i.question_version_id
             JOIN exam_questions q ON q.id = v.question_id
             WHERE a.course_id = $1 AND a.status = 'submitted'
             ORDER BY q.position, v.version, i.attempt_id",
        )
        .bind(cid)
        .fetch_all(db)
        .await?;
        // Each attempt's total and item count, for the rest-of-test score.
        let mut totals: HashMap<i64, (f64, i64)> = HashMap::new();
        for r in &rows {
            let t = totals.entry(r.0).or_default();
            t.0 += r.2.unwrap_or(0) as f64 / 10_000.0;
            t.1 += 1;
        }
        let mut order: Vec<i64> = Vec::new();
        let mut acc: HashMap<i64, Acc> = HashMap::new();
        for (attempt, vid, score, answer, layout, body, version, key, retired) in rows {
            if let std::collections::hash_map::Entry::Vacant(e) = acc.entry(vid) {
                let question = store::decode(&body)?;
                let n = match &question.kind {
                    Kind::SingleChoice { options } | Kind::MultipleResponse { options } => {
                        options.len()
                    }
                    Kind::TrueFalse { .. } => 2,
                    _ => 0,
                };
                order.push(vid);
                e.insert(Acc {
                    key,
                    version,
                    category: question.category.clone(),
                    retired: retired != 0,
                    question,
                    pairs: Vec::new(),
                    unanswered: 0,
                    counts: vec![0; n],
                    responses: BTreeMap::new(),
                });
            }
            let Some(a) = acc.get_mut(&vid) else { continue };
            let x = score.unwrap_or(0) as f64 / 10_000.0;
            let (total, n) = totals.get(&attempt).copied().unwrap_or((x, 1));
            let rest = if n > 1 {
                (total - x) / (n - 1) as f64
            } else {
                0.0
            };
            a.pairs.push((x, rest));
            let layout: Layout = serde_json::from_str(&layout).map_err(|_| AppError::Internal)?;
            let answer: Option<Answer> =
                answer.as_deref().and_then(|s| serde_json::from_str(s).ok());
            match (&a.question.kind, &answer) {
                (_, None) => a.unanswered += 1,
                (Kind::SingleChoice { .. }, Some(Answer::Choice(d))) => {
                    if let Some(c) = authored(&layout, *d).and_then(|i| a.counts.get_mut(i)) {
                        *c += 1;
                    }
                }
                (Kind::MultipleResponse { .. }, Some(Answer::Choices(l))) => {
                    for d in l {
                        if let Some(c) = authored(&layout, *d).and_then(|i| a.counts.get_mut(i)) {
                            *c += 1;
                        }
                    }
                }
                (Kind::TrueFalse { .. }, Some(Answer::Bool(b))) => {
                    a.counts[usize::from(!*b)] += 1;
                }
                (_, Some(ans)) => {
                    let view = grade::view(&a.question, &layout);
                    *a.responses
                        .entry(attempts::describe(&view, Some(ans)))
                        .or_default() += 1;
                }
            }
        }
        for vid in order {
            let Some(a) = acc.remove(&vid) else { continue };
            let n = a.pairs.len() as i64;
            let xs: Vec<f64> = a.pairs.iter().map(|p| p.0).collect();
            let rs: Vec<f64> = a.pairs.iter().map(|p| p.1).collect();
            let mean = xs.iter().sum::<f64>() / n.max(1) as f64;
            let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n.max(1) as f64;
            let pct = |c: i64| (c as f64 * 1000.0 / n.max(1) as f64).round() / 10.0;
            let options = match &a.question.kind {
                Kind::SingleChoice { options } | Kind::MultipleResponse { options } => options
                    .iter()
                    .zip(&a.counts)
                    .map(|(o, c)| OptionStat {
                        text: o.text.clone(),
                        right: o.weight > 0.0,
                        count: *c,
                        percent: pct(*c),
                    })
                    .collect(),
                Kind::TrueFalse { answer, .. } => [("True", true), ("False", false)]
                    .iter()
                    .zip(&a.counts)
                    .map(|((t, v), c)| OptionStat {
                        text: (*t).to_string(),
                        right: v == answer,
                        count: *c,
                        percent: pct(*c),
                    })
                    .collect(),
                _ => {
                    let mut r: Vec<(String, i64)> = a.responses.into_iter().collect();
                    r.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
                    r.truncate(8);
                    r.into_iter()
                        .map(|(text, c)| OptionStat {
                            text,
                            right: false,
                            count: c,
                            percent: pct(c),
                        })
                        .collect()
                }
            };
            out.items.push(ItemStat {
                question: a.key,
                version: a.version,
                category: a.category,
                kind: a.question.kind.label().to_string(),
                text: a.question.text.clone(),
                retired: a.retired,
                attempts: n,
                facility_percent: (mean * 1000.0).round() / 10.0,
                sd_percent: (var.sqrt() * 1000.0).round() / 10.0,
                discrimination: correlation(&xs, &rs).map(|d| (d * 10_000.0).round() / 10_000.0),
                unanswered: a.unanswered,
                options,
            });
        }
        Ok(out)
    }
}
