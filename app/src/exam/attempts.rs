//! Attempts: starting, saving, flagging, submitting, grading and sweeping, all on the
//! server's clock.

use std::collections::BTreeMap;

use super::draw::{self, Blueprint, Layout, Rng};
use super::grade::{self, Graded};
use super::model::Question;
use super::store;
use super::{
    Answer, AttemptRow, AttemptSummary, CategoryScore, ClaimedCertificate, ExamOverview,
    ExamResult, ItemStatus, ModuleLink, QuestionPage, QuestionView, ReviewItem, ReviewKey, SaveAck,
    ShowAnswers, ViewKind,
};
use crate::auth::User;
use crate::db::{now_ms, Db};
use crate::error::AppError;

/// Answers are accepted this long after the deadline, for requests already on their way.
pub const GRACE_MS: i64 = 15_000;

/// The largest sequence number a save may carry: JavaScript's largest exact integer,
/// so a number survives any client; far above what any real exam reaches.
pub const MAX_SEQ: i64 = (1 << 53) - 1;

/// How far ahead of the stored sequence number a save may jump. A page numbers its
/// saves one by one from the number it was loaded with, so a real save is a few steps
/// ahead; a huge jump could only push the number out of reach of every later save.
pub const SEQ_WINDOW: i64 = 1_000_000;

/// How often the sweeper looks for overdue attempts.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(20);

struct Attempt {
    id: i64,
    user_id: i64,
    course_id: i64,
    status: String,
    started_at: i64,
    deadline_at: i64,
    submitted_at: Option<i64>,
    submitted_by: Option<String>,
    score_bp: Option<i64>,
    passed: Option<i64>,
    pass_mark_bp: i64,
}

type AttemptTuple = (
    i64,
    i64,
    i64,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    i64,
);

const ATTEMPT_COLUMNS: &str = "id, user_id, course_id, status, started_at, deadline_at, submitted_at, submitted_by, score_bp, passed, pass_mark_bp";

fn from_tuple(t: AttemptTuple) -> Attempt {
    Attempt {
        id: t.0,
        user_id: t.1,
        course_id: t.2,
        status: t.3,
        started_at: t.4,
        deadline_at: t.5,
        submitted_at: t.6,
        submitted_by: t.7,
        score_bp: t.8,
        passed: t.9,
        pass_mark_bp: t.10,
    }
}

fn remaining(deadline: i64, now: i64) -> i64 {
    ((deadline - now).max(0) + 999) / 1000
}

fn row(a: &Attempt, certificate: Option<ClaimedCertificate>) -> AttemptRow {
    AttemptRow {
        id: a.id,
        status: a.status.clone(),
        started_at: a.started_at,
        submitted_at: a.submitted_at,
        submitted_by_server: a.submitted_by.as_deref() == Some("server"),
        score_percent: a.score_bp.map(|b| b as f64 / 100.0),
        passed: a.passed.map(|p| p != 0),
        certificate,
    }
}

async fn load(db: &Db, id: i64) -> Result<Option<Attempt>, AppError> {
    let t: Option<AttemptTuple> = sqlx::query_as(&format!(
        "SELECT {ATTEMPT_COLUMNS} FROM exam_attempts WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(t.map(from_tuple))
}

/// The learner's own attempt; anyone else's looks like nothing at all.
async fn owned(db: &Db, id: i64, user_id: i64) -> Result<Attempt, AppError> {
    let a = load(db, id).await?.ok_or(AppError::NotFound)?;
    if a.user_id != user_id {
        return Err(AppError::NotFound);
    }
    finish_if_overdue(db, a).await
}

/// An active attempt past its deadline and grace is submitted on the spot.
async fn finish_if_overdue(db: &Db, a: Attempt) -> Result<Attempt, AppError> {
    if a.status == "active" && now_ms() > a.deadline_at + GRACE_MS {
        submit(db, a.id, "server").await?;
        return load(db, a.id).await?.ok_or(AppError::NotFound);
    }
    Ok(a)
}

async fn course(db: &Db, slug: &str) -> Result<(i64, String, Blueprint), AppError> {
    let (id, title): (i64, String) =
        sqlx::query_as("SELECT id, title FROM courses WHERE slug = $1")
            .bind(slug)
            .fetch_optional(db)
            .await?
            .ok_or(AppError::NotFound)?;
    let bp = store::blueprint(db, id).await?.ok_or(AppError::NotFound)?;
    Ok((id, title, bp))
}

async fn course_of(db: &Db, course_id: i64) -> Result<(String, String), AppError> {
    Ok(
        sqlx::query_as("SELECT slug, title FROM courses WHERE id = $1")
            .bind(course_id)
            .fetch_one(db)
            .await?,
    )
}

/// Why `user` cannot start a new attempt now, if they cannot.
async fn blocked(
    db: &Db,
    course_id: i64,
    bp: &Blueprint,
    user_id: i64,
    attempts: &[Attempt],
    now: i64,
) -> Result<Option<String>, AppError> {
    let (opens, closes) = bp.window().map_err(|e| {
        tracing::error!(error = %e, "stored blueprint window unreadable");
        AppError::Internal
    })?;
    if let Some(o) = opens.filter(|o| now < *o) {
        return Ok(Some(format!("The exam opens on {}.", crate::time::utc(o))));
    }
    if let Some(c) = closes.filter(|c| now >= *c) {
        return Ok(Some(format!("The exam closed on {}.", crate::time::utc(c))));
    }
    if !bp.eligibility.modules_completed.is_empty() {
        let done: Vec<String> = sqlx::query_scalar(
            "SELECT m.slug FROM progress p JOIN modules m ON m.id = p.module_id WHERE p.user_id = $1 AND m.course_id = $2",
        )
        .bind(user_id)
        .bind(course_id)
        .fetch_all(db)
        .await?;
        let missing: Vec<&str> = bp
            .eligibility
            .modules_completed
            .iter()
            .filter(|m| !done.contains(m))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let titles: Vec<String> = {
                let mut t = Vec::new();
                for slug in &missing {
                    let title: Option<String> = sqlx::query_scalar(
                        "SELECT title FROM modules WHERE course_id = $1 AND slug = $2",
                    )
                    .bind(course_id)
                    .bind(*slug)
                    .fetch_optional(db)
                    .await?;
                    t.push(title.unwrap_or_else(|| slug.to_string()));
                }
                t
            };
            return Ok(Some(format!(
                "Complete these modules first: {}.",
                titles.join(", ")
            )));
        }
    }
    if !bp.eligibility.labs_passed.is_empty() {
        let passed: Vec<(String, String)> = sqlx::query_as(
            "SELECT l.slug, l.title FROM lab_passes p JOIN labs l ON l.id = p.lab_id WHERE p.user_id = $1 AND l.course_id = $2",
        )
        .bind(user_id)
        .bind(course_id)
        .fetch_all(db)
        .await?;
        // The blueprint names a lab by slug or by title.
        let missing: Vec<&str> = bp
            .eligibility
            .labs_passed
            .iter()
            .filter(|l| !passed.iter().any(|(slug, title)| slug == *l || title == *l))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Ok(Some(format!(
                "Pass these labs first: {}.",
                missing.join(", ")
            )));
        }
    }
    if bp.show_answers == ShowAnswers::AfterPass && attempts.iter().any(passed) {
        return Ok(Some(
            "You have passed this exam, and its answers are open to you now, so no further attempt can be started."
                .into(),
        ));
    }
    let extra = extra_attempts(db, course_id, user_id).await?;
    let used = attempts.iter().filter(|a| a.status != "voided").count() as i64;
    if used >= bp.attempts_allowed + extra {
        return Ok(Some(format!(
            "You have used all {} of your attempts.",
            bp.attempts_allowed + extra
        )));
    }
    if bp.cooldown_minutes > 0 {
        if let Some(last) = attempts
            .iter()
            .filter(|a| a.status == "submitted")
            .filter_map(|a| a.submitted_at)
            .max()
        {
            let ready = last + bp.cooldown_minutes * 60_000;
            if now < ready {
                return Ok(Some(format!(
                    "You can start your next attempt after {}.",
                    crate::time::utc(ready)
                )));
            }
        }
    }
    Ok(None)
}

/// A submitted attempt that passed (a voided one never counts).
fn passed(a: &Attempt) -> bool {
    a.status == "submitted" && a.passed == Some(1)
}

/// The attempts an administrator granted `user_id` beyond the blueprint's.
async fn extra_attempts(db: &Db, course_id: i64, user_id: i64) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT extra_attempts FROM exam_grants WHERE user_id = $1 AND course_id = $2",
    )
    .bind(user_id)
    .bind(course_id)
    .fetch_optional(db)
    .await?
    .unwrap_or(0))
}

/// Whether a learner's reviews may carry the right answers and feedback now (see
/// [`ShowAnswers`]), and if not, when they will. Never while an attempt is in
/// progress: otherwise a learner could start their last attempt and read the keys of
/// an earlier one beside it.
async fn keys_for_learner(
    db: &Db,
    course_id: i64,
    bp: Option<&Blueprint>,
    user_id: i64,
) -> Result<(bool, Option<String>), AppError> {
    let Some(bp) = bp else {
        return Ok((false, Some("This exam does not show its answers.".into())));
    };
    let attempts = user_attempts(db, course_id, user_id).await?;
    let active = attempts.iter().any(|a| a.status == "active");
    let (open, note) = match bp.show_answers {
        ShowAnswers::Never => (
            false,
            "This exam does not show its answers: the modules named below cover what you missed.",
        ),
        ShowAnswers::AfterPass => (
            attempts.iter().any(passed),
            "The right answers and feedback are shown once you have passed the exam.",
        ),
        ShowAnswers::AfterLastAttempt => {
            let extra = extra_attempts(db, course_id, user_id).await?;
            let used = attempts.iter().filter(|a| a.status != "voided").count() as i64;
            (
                used >= bp.attempts_allowed + extra,
                "The right answers and feedback are shown once you have no attempts left.",
            )
        }
    };
    if open && !active {
        Ok((true, None))
    } else if open {
        Ok((
            false,
            Some("The right answers and feedback are shown once your attempt in progress is submitted.".into()),
        ))
    } else {
        Ok((false, Some(note.into())))
    }
}

async fn user_attempts(db: &Db, course_id: i64, user_id: i64) -> Result<Vec<Attempt>, AppError> {
    let rows: Vec<AttemptTuple> = sqlx::query_as(&format!(
        "SELECT {ATTEMPT_COLUMNS} FROM exam_attempts WHERE course_id = $1 AND user_id = $2 ORDER BY started_at, id"
    ))
    .bind(course_id)
    .bind(user_id)
    .fetch_all(db)
    .await?;
    let mut out = Vec::new();
    for t in rows {
        out.push(finish_if_overdue(db, from_tuple(t)).await?);
    }
    Ok(out)
}

/// The exam page's data for one learner.
pub async fn overview(db: &Db, slug: &str, user_id: i64) -> Result<ExamOverview, AppError> {
    let (cid, title, bp) = course(db, slug).await?;
    let attempts = user_attempts(db, cid, user_id).await?;
    let now = now_ms();
    let active = attempts.iter().find(|a| a.status == "active").map(|a| a.id);
    let blocked = match active {
        Some(_) => None,
        None => blocked(db, cid, &bp, user_id, &attempts, now).await?,
    };
    let (opens_at, closes_at) = bp.window().unwrap_or((None, None));
    let extra = extra_attempts(db, cid, user_id).await?;
    let claimed: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
        "SELECT attempt_id, id, revoked_at FROM certificates WHERE user_id = $1 AND course_id = $2",
    )
    .bind(user_id)
    .bind(cid)
    .fetch_all(db)
    .await?;
    let rows =
        attempts
            .iter()
            .map(|a| {
                let certificate = claimed.iter().find(|(attempt, ..)| *attempt == a.id).map(
                    |(_, id, revoked_at)| ClaimedCertificate {
                        id: id.clone(),
                        revoked: revoked_at.is_some(),
                    },
                );
                row(a, certificate)
            })
            .collect();
    Ok(ExamOverview {
        course_slug: slug.to_string(),
        course_title: title,
        questions: bp.total(),
        time_limit_seconds: bp.time_limit_ms() / 1000,
        pass_mark_percent: bp.pass_mark_percent,
        attempts_allowed: bp.attempts_allowed + extra,
        attempts_used: attempts.iter().filter(|a| a.status != "voided").count() as i64,
        cooldown_minutes: bp.cooldown_minutes,
        opens_at,
        closes_at,
        active,
        blocked,
        attempts: rows,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Draws the attempt's questions from the bank with `seed`: (version id, category, layout).
pub fn draw_items(
    bp: &Blueprint,
    bank: &[(i64, Question)],
    seed: u64,
) -> Result<Vec<(i64, String, Layout)>, AppError> {
    let mut rng = Rng::new(seed);
    let mut items = Vec::new();
    for d in &bp.draw {
        let pool: Vec<&(i64, Question)> = bank
            .iter()
            .filter(|(_, q)| q.category == d.category)
            .collect();
        let count = usize::try_from(d.count).unwrap_or(0);
        if pool.len() < count {
            tracing::error!(category = %d.category, "the bank has too few questions for the blueprint");
            return Err(AppError::Conflict(
                "The exam is not available right now: its question bank is incomplete.".into(),
            ));
        }
        for i in draw::pick(pool.len(), count, &mut rng) {
            let (vid, q) = pool[i];
            items.push((
                *vid,
                q.category.clone(),
                draw::layout_with(q, bp.shuffle_options, &mut rng),
            ));
        }
    }
    if bp.shuffle_questions {
        rng.shuffle(&mut items);
    }
    Ok(items)
}

/// Starts an attempt, or returns the one already in progress.
pub async fn start(db: &Db, slug: &str, user_id: i64) -> Result<i64, AppError> {
    let (cid, _, bp) = course(db, slug).await?;
    let attempts = user_attempts(db, cid, user_id).await?;
    if let Some(a) = attempts.iter().find(|a| a.status == "active") {
        return Ok(a.id);
    }
    let now = now_ms();
    if let Some(why) = blocked(db, cid, &bp, user_id, &attempts, now).await? {
        return Err(AppError::Conflict(why));
    }
    let bank = store::current_questions(db, cid, None).await?;
    // Kept within i64's positive range so it reads back the same on both backends.
    let seed: i64 = rand::random::<i64>() & i64::MAX;
    let items = draw_items(&bp, &bank, seed as u64)?;
    let mut tx = db.begin().await?;
    let inserted = sqlx::query_scalar::<_, i64>(
        "INSERT INTO exam_attempts (user_id, course_id, seed, status, started_at, deadline_at, pass_mark_bp, show_answers)
         VALUES ($1, $2, $3, 'active', $4, $5, $6, $7) RETURNING id",
    )
    .bind(user_id)
    .bind(cid)
    .bind(seed)
    .bind(now)
    .bind(now + bp.time_limit_ms())
    .bind((bp.pass_mark_percent * 100.0).round() as i64)
    // A record of the policy at the start only: reviews follow the blueprint in force.
    .bind(match bp.show_answers {
        ShowAnswers::Never => 0_i64,
        ShowAnswers::AfterLastAttempt => 1,
        ShowAnswers::AfterPass => 2,
    })
    .fetch_one(&mut *tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e) => {
            // Another request started one at the same moment: that one is the attempt.
            drop(tx);
            return sqlx::query_scalar(
                "SELECT id FROM exam_attempts WHERE user_id = $1 AND course_id = $2 AND status = 'active'",
            )
            .bind(user_id)
            .bind(cid)
            .fetch_optional(db)
            .await?
            .ok_or(AppError::Internal);
        }
        Err(e) => return Err(e.into()),
    };
    for (pos, (vid, cat, layout)) in items.iter().enumerate() {
        sqlx::query(
            "INSERT INTO exam_attempt_items (attempt_id, position, question_version_id, category, layout_json) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(pos as i64 + 1)
        .bind(*vid)
        .bind(cat)
        .bind(serde_json::to_string(layout).map_err(|_| AppError::Internal)?)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::info!(attempt = id, user = user_id, seed, "exam attempt started");
    Ok(id)
}

async fn statuses(db: &Db, attempt: i64) -> Result<Vec<ItemStatus>, AppError> {
    let rows: Vec<(i64, Option<String>, i64)> = sqlx::query_as(
        "SELECT position, answer_json, flagged FROM exam_attempt_items WHERE attempt_id = $1 ORDER BY position",
    )
    .bind(attempt)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(p, a, f)| ItemStatus {
            position: p as i32,
            answered: a.is_some(),
            flagged: f != 0,
        })
        .collect())
}

fn over(a: &Attempt) -> AppError {
    match a.status.as_str() {
        "voided" => AppError::Conflict("This attempt was voided by an administrator.".into()),
        _ if a.submitted_by.as_deref() == Some("server") => AppError::Conflict(
            "Time is up: this attempt was submitted automatically at its deadline.".into(),
        ),
        _ => AppError::Conflict(
            "This attempt has been submitted; its answers can no longer change.".into(),
        ),
    }
}

/// The summary of the learner's attempt.
pub async fn summary(db: &Db, attempt: i64, user_id: i64) -> Result<AttemptSummary, AppError> {
    let a = owned(db, attempt, user_id).await?;
    let (slug, title) = course_of(db, a.course_id).await?;
    Ok(AttemptSummary {
        id: a.id,
        course_slug: slug,
        course_title: title,
        status: a.status.clone(),
        remaining_seconds: if a.status == "active" {
            remaining(a.deadline_at, now_ms())
        } else {
            0
        },
        items: statuses(db, a.id).await?,
    })
}

struct Item {
    question: Question,
    layout: Layout,
    answer: Option<Answer>,
    seq: i64,
    flagged: bool,
}

async fn item(db: &Db, attempt: i64, position: i32) -> Result<Item, AppError> {
    let row: (String, String, Option<String>, i64, i64) = sqlx::query_as(
        "SELECT v.body_json, i.layout_json, i.answer_json, i.seq, i.flagged
         FROM exam_attempt_items i JOIN exam_question_versions v ON v.id = i.question_version_id
         WHERE i.attempt_id = $1 AND i.position = $2",
    )
    .bind(attempt)
    .bind(i64::from(position))
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(Item {
        question: store::decode(&row.0)?,
        layout: serde_json::from_str(&row.1).map_err(|_| AppError::Internal)?,
        answer: row.2.as_deref().and_then(|a| serde_json::from_str(a).ok()),
        seq: row.3,
        flagged: row.4 != 0,
    })
}

/// One question of the learner's attempt in progress.
pub async fn question(
    db: &Db,
    attempt: i64,
    position: i32,
    user_id: i64,
) -> Result<QuestionPage, AppError> {
    let a = owned(db, attempt, user_id).await?;
    if a.status != "active" {
        return Err(over(&a));
    }
    let it = item(db, attempt, position).await?;
    let (slug, title) = course_of(db, a.course_id).await?;
    let items = statuses(db, attempt).await?;
    Ok(QuestionPage {
        attempt,
        course_slug: slug,
        course_title: title,
        position,
        total: items.len() as i32,
        remaining_seconds: remaining(a.deadline_at, now_ms()),
        view: grade::view(&it.question, &it.layout),
        answer: it.answer,
        seq: visible_seq(it.seq),
        flagged: it.flagged,
        items,
    })
}

/// Makes an ordering's move (`"3:up"`, `"3:down"`: item 3 of the display one place
/// earlier or later) on the form's ranks, swapping it with its neighbour. Returns the
/// item that moved; anything unreadable, or a move past either end, leaves the ranks
/// as they are (the save then checks them like any other).
pub fn apply_reorder(raw: &mut BTreeMap<String, String>, reorder: &str) -> Option<usize> {
    let (item, dir) = reorder.split_once(':')?;
    let item: usize = item.parse().ok()?;
    let rank_of = |k: &str| raw.get(k).and_then(|r| r.trim().parse::<i64>().ok());
    let from = rank_of(&item.to_string())?;
    let to = match dir {
        "up" => from - 1,
        "down" => from + 1,
        _ => return None,
    };
    let neighbour = raw.keys().find(|k| rank_of(k) == Some(to))?.clone();
    raw.insert(neighbour, from.to_string());
    raw.insert(item.to_string(), to.to_string());
    Some(item)
}

/// Reads a form's `answer[i]` fields as an answer to `view`; `None` means no answer.
///
/// Single choice: `answer[0]` = option shown at that index. Multiple response: one
/// `answer[k]` = k per ticked option. True/false: `answer[0]` = `true`/`false`.
/// Numeric and short answer: `answer[0]` = the text. Ordering: `answer[i]` = the
/// position (1-based) the learner gives item i. Matching: `answer[i]` = the index
/// of the right side chosen for left side i, or empty.
pub fn answer_from_form(
    view: &QuestionView,
    raw: &BTreeMap<String, String>,
) -> Result<Option<Answer>, String> {
    let field = |i: usize| {
        raw.get(&i.to_string())
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    };
    let int = |s: &str| {
        s.parse::<i32>()
            .map_err(|_| "That answer does not fit this question.".to_string())
    };
    let answer = match &view.kind {
        ViewKind::SingleChoice { .. } => field(0).map(int).transpose()?.map(Answer::Choice),
        ViewKind::MultipleResponse { .. } => {
            let mut list = Vec::new();
            for v in raw.values().map(|s| s.trim()).filter(|s| !s.is_empty()) {
                list.push(int(v)?);
            }
            list.sort_unstable();
            list.dedup();
            (!list.is_empty()).then_some(Answer::Choices(list))
        }
        ViewKind::TrueFalse => match field(0) {
            Some("true") => Some(Answer::Bool(true)),
            Some("false") => Some(Answer::Bool(false)),
            Some(_) => return Err("Answer true or false.".into()),
            None => None,
        },
        ViewKind::Numeric => field(0).map(|s| Answer::Number(s.to_string())),
        ViewKind::ShortAnswer => field(0).map(|s| Answer::Text(s.to_string())),
        ViewKind::Ordering { items } => {
            let ranks: Vec<Option<&str>> = (0..items.len()).map(field).collect();
            if ranks.iter().all(Option::is_none) {
                None
            } else {
                let mut by_rank: Vec<(i32, i32)> = Vec::new();
                for (i, r) in ranks.iter().enumerate() {
                    let r = r.ok_or("Give every item a position.")?;
                    by_rank.push((int(r)?, i as i32));
                }
                by_rank.sort_unstable();
                let n = items.len() as i32;
                if by_rank
                    .iter()
                    .enumerate()
                    .any(|(k, (r, _))| *r != k as i32 + 1)
                    || by_rank.len() as i32 != n
                {
                    return Err(format!(
                        "Give each item a different position from 1 to {n}."
                    ));
                }
                Some(Answer::Order(by_rank.into_iter().map(|(_, i)| i).collect()))
            }
        }
        ViewKind::Matching { lefts, .. } => {
            let picks: Vec<Option<&str>> = (0..lefts.len()).map(field).collect();
            if picks.iter().all(Option::is_none) {
                None
            } else {
                let mut list = Vec::new();
                for p in picks {
                    list.push(match p {
                        Some(s) => int(s)?,
                        None => -1,
                    });
                }
                Some(Answer::Match(list))
            }
        }
    };
    if let Some(a) = &answer {
        grade::validate(view, a)?;
    }
    Ok(answer)
}

/// A stored sequence number as saves see it: one beyond [`MAX_SEQ`] (only ever stored
/// before saves were bounded, and it would refuse every later save) counts as 0.
fn visible_seq(stored: i64) -> i64 {
    if stored > MAX_SEQ {
        0
    } else {
        stored
    }
}

/// Serializes answer writes on SQLite (see [`save`]).
static SQLITE_SAVES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn is_sqlite(db: &Db) -> bool {
    db.connect_options().database_url.scheme() == "sqlite"
}

/// Saves one answer; returns the acknowledgement and the attempt's question count.
pub async fn save(
    db: &Db,
    attempt: i64,
    position: i32,
    seq: Option<i64>,
    raw: &BTreeMap<String, String>,
    user_id: i64,
) -> Result<(SaveAck, i32), AppError> {
    // One round trip for everything a save needs: it is the hottest path of an exam.
    type SaveRow = (
        i64,
        String,
        i64,
        Option<String>,
        i64,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    let (owner, status, deadline, submitted_by, total, body, layout, stored_seq): SaveRow =
        sqlx::query_as(
            "SELECT a.user_id, a.status, a.deadline_at, a.submitted_by,
                (SELECT CAST(COUNT(*) AS BIGINT) FROM exam_attempt_items c WHERE c.attempt_id = a.id),
                v.body_json, i.layout_json, i.seq
         FROM exam_attempts a
         LEFT JOIN exam_attempt_items i ON i.attempt_id = a.id AND i.position = $2
         LEFT JOIN exam_question_versions v ON v.id = i.question_version_id
         WHERE a.id = $1",
        )
        .bind(attempt)
        .bind(i64::from(position))
        .fetch_optional(db)
        .await?
        .ok_or(AppError::NotFound)?;
    if owner != user_id {
        return Err(AppError::NotFound);
    }
    let now = now_ms();
    if status == "active" && now > deadline + GRACE_MS {
        return Err(AppError::Conflict(
            "Time is up: the exam's deadline has passed, so this answer was not saved. Your answers saved before the deadline count.".into(),
        ));
    }
    if status != "active" {
        return Err(over(&Attempt {
            id: attempt,
            user_id,
            course_id: 0,
            status,
            started_at: 0,
            deadline_at: deadline,
            submitted_at: None,
            submitted_by,
            score_bp: None,
            passed: None,
            pass_mark_bp: 0,
        }));
    }
    if let Some(s) = seq {
        if !(1..=MAX_SEQ).contains(&s) {
            return Err(AppError::Validation(format!(
                "The save's sequence number must be a whole number from 1 to {MAX_SEQ}."
            )));
        }
    }
    let (Some(body), Some(layout), Some(stored_seq)) = (body, layout, stored_seq) else {
        return Err(AppError::NotFound);
    };
    // A number stored beyond the bounds (before they existed) counts as none at all.
    let stored_seq = visible_seq(stored_seq);
    if let Some(s) = seq {
        if s > stored_seq + SEQ_WINDOW {
            return Err(AppError::Validation(format!(
                "The save's sequence number {s} is too far ahead of the saved answer's ({stored_seq}); reload the question."
            )));
        }
    }
    let question = store::decode(&body)?;
    let layout: Layout = serde_json::from_str(&layout).map_err(|_| AppError::Internal)?;
    let view = grade::view(&question, &layout);
    let answer = answer_from_form(&view, raw).map_err(AppError::Validation)?;
    let json = answer
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|_| AppError::Internal)?;
    // Without a sequence number (a plain form post) the save is simply the newest.
    let seq = seq.unwrap_or(stored_seq + 1).min(MAX_SEQ);
    // SQLite has one writer at a time; a second one waits in SQLite's busy handler,
    // which sleeps in steps of up to 100 ms. Queuing the saves here instead keeps
    // their latency to the time the writes really take.
    let turn = if is_sqlite(db) {
        Some(SQLITE_SAVES.lock().await)
    } else {
        None
    };
    let done = sqlx::query(
        "UPDATE exam_attempt_items SET answer_json = $1, seq = $2, saved_at = $3
         WHERE attempt_id = $4 AND position = $5 AND (seq < $2 OR seq > $6)
           AND EXISTS (SELECT 1 FROM exam_attempts a WHERE a.id = $4 AND a.status = 'active')",
    )
    .bind(json)
    .bind(seq)
    .bind(now)
    .bind(attempt)
    .bind(i64::from(position))
    .bind(MAX_SEQ)
    .execute(db)
    .await?
    .rows_affected();
    drop(turn);
    let stored: i64 = if done == 1 {
        seq
    } else {
        visible_seq(
            sqlx::query_scalar(
                "SELECT seq FROM exam_attempt_items WHERE attempt_id = $1 AND position = $2",
            )
            .bind(attempt)
            .bind(i64::from(position))
            .fetch_one(db)
            .await?,
        )
    };
    Ok((
        SaveAck {
            seq: stored,
            applied: done == 1,
            remaining_seconds: remaining(deadline, now),
        },
        total as i32,
    ))
}

/// Flags or unflags a question; returns the attempt's question count.
pub async fn flag(
    db: &Db,
    attempt: i64,
    position: i32,
    flagged: bool,
    user_id: i64,
) -> Result<i32, AppError> {
    let a = owned(db, attempt, user_id).await?;
    if a.status != "active" {
        return Err(over(&a));
    }
    let n = sqlx::query(
        "UPDATE exam_attempt_items SET flagged = $1 WHERE attempt_id = $2 AND position = $3",
    )
    .bind(i64::from(flagged))
    .bind(attempt)
    .bind(i64::from(position))
    .execute(db)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(AppError::NotFound);
    }
    let total: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM exam_attempt_items WHERE attempt_id = $1",
    )
    .bind(attempt)
    .fetch_one(db)
    .await?;
    Ok(total as i32)
}

/// The learner submits their own attempt (submitting twice is harmless).
pub async fn submit_own(db: &Db, attempt: i64, user_id: i64) -> Result<(), AppError> {
    let a = owned(db, attempt, user_id).await?;
    match a.status.as_str() {
        "active" => submit(db, attempt, "learner").await.map(|_| ()),
        "voided" => Err(over(&a)),
        _ => Ok(()),
    }
}

/// Submits and grades an attempt in one transaction; `false` if it was no longer active.
pub async fn submit(db: &Db, attempt: i64, by: &str) -> Result<bool, AppError> {
    submit_claimed(db, attempt, by, false).await
}

/// [`submit`], optionally claiming the attempt first: on PostgreSQL a claim
/// locks the row and gives up at once (`SKIP LOCKED`) if another instance's
/// sweeper holds it, instead of waiting for that one to finish. Either way the
/// flip from `active` is conditional, so an attempt is submitted exactly once.
async fn submit_claimed(db: &Db, attempt: i64, by: &str, claim: bool) -> Result<bool, AppError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    if claim && crate::db::backend(db) == crate::db::Backend::Postgres {
        let mine: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM exam_attempts WHERE id = $1 AND status = 'active' FOR UPDATE SKIP LOCKED",
        )
        .bind(attempt)
        .fetch_optional(&mut *tx)
        .await?;
        if mine.is_none() {
            return Ok(false);
        }
    }
    let flipped = sqlx::query(
        "UPDATE exam_attempts SET status = 'submitted', submitted_at = $1, submitted_by = $2 WHERE id = $3 AND status = 'active'",
    )
    .bind(now)
    .bind(by)
    .bind(attempt)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if flipped == 0 {
        return Ok(false);
    }
    let pass_mark: i64 = sqlx::query_scalar("SELECT pass_mark_bp FROM exam_attempts WHERE id = $1")
        .bind(attempt)
        .fetch_one(&mut *tx)
        .await?;
    let rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT i.position, v.body_json, i.layout_json, i.answer_json
         FROM exam_attempt_items i JOIN exam_question_versions v ON v.id = i.question_version_id
         WHERE i.attempt_id = $1 ORDER BY i.position",
    )
    .bind(attempt)
    .fetch_all(&mut *tx)
    .await?;
    let mut total = 0.0;
    for (pos, body, layout, answer) in &rows {
        let q = store::decode(body)?;
        let layout: Layout = serde_json::from_str(layout).map_err(|_| AppError::Internal)?;
        let answer: Option<Answer> = answer.as_deref().and_then(|a| serde_json::from_str(a).ok());
        let g = grade::grade(&q, &layout, answer.as_ref());
        total += g.fraction;
        sqlx::query(
            "UPDATE exam_attempt_items SET score_bp = $1 WHERE attempt_id = $2 AND position = $3",
        )
        .bind((g.fraction * 10_000.0).round() as i64)
        .bind(attempt)
        .bind(*pos)
        .execute(&mut *tx)
        .await?;
    }
    let score_bp = if rows.is_empty() {
        0
    } else {
        (total / rows.len() as f64 * 10_000.0).round() as i64
    };
    sqlx::query("UPDATE exam_attempts SET score_bp = $1, passed = $2 WHERE id = $3")
        .bind(score_bp)
        .bind(i64::from(score_bp >= pass_mark))
        .bind(attempt)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(attempt, by, score_bp, "exam attempt submitted");
    Ok(true)
}

/// Submits every attempt past its deadline and grace; returns how many. Every
/// instance sweeps; each overdue attempt is submitted by exactly one of them.
pub async fn sweep(db: &Db) -> Result<usize, AppError> {
    let due: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM exam_attempts WHERE status = 'active' AND deadline_at < $1 ORDER BY deadline_at",
    )
    .bind(now_ms() - GRACE_MS)
    .fetch_all(db)
    .await?;
    let mut n = 0;
    for id in due {
        if submit_claimed(db, id, "server", true).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// Runs [`sweep`] at start-up and then every [`SWEEP_EVERY`], forever. Starting
/// with a sweep is what submits attempts that ran out while the server was down.
pub fn spawn_sweeper(db: Db) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match sweep(&db).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(submitted = n, "sweeper submitted overdue exam attempts"),
                Err(e) => tracing::warn!(error = %e, "exam sweeper failed; retrying next round"),
            }
        }
    })
}

pub(crate) fn describe(view: &QuestionView, answer: Option<&Answer>) -> String {
    let pick = |list: &[String], i: i32| {
        usize::try_from(i)
            .ok()
            .and_then(|i| list.get(i))
            .cloned()
            .unwrap_or_default()
    };
    match (&view.kind, answer) {
        (_, None) => "(no answer)".into(),
        (ViewKind::SingleChoice { options }, Some(Answer::Choice(i))) => pick(options, *i),
        (ViewKind::MultipleResponse { options }, Some(Answer::Choices(l))) => l
            .iter()
            .map(|i| pick(options, *i))
            .collect::<Vec<_>>()
            .join("; "),
        (_, Some(Answer::Bool(b))) => if *b { "True" } else { "False" }.into(),
        (_, Some(Answer::Number(s) | Answer::Text(s))) => s.clone(),
        (ViewKind::Ordering { items }, Some(Answer::Order(l))) => l
            .iter()
            .map(|i| pick(items, *i))
            .collect::<Vec<_>>()
            .join(" → "),
        (ViewKind::Matching { lefts, rights }, Some(Answer::Match(l))) => lefts
            .iter()
            .zip(l)
            .map(|(left, r)| {
                format!(
                    "{left} → {}",
                    if *r < 0 {
                        "(none)".into()
                    } else {
                        pick(rights, *r)
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => "(unreadable answer)".into(),
    }
}

/// A submitted attempt's result; the learner's own or, for an administrator, anyone's.
/// The review always says which questions were missed and which module teaches each;
/// the right answers and the feedback come with it only when the blueprint's
/// `show_answers` allows it for this learner now (administrators always see them).
pub async fn result(db: &Db, attempt: i64, user: &User) -> Result<ExamResult, AppError> {
    let a = load(db, attempt).await?.ok_or(AppError::NotFound)?;
    if a.user_id != user.id && !user.is_admin {
        return Err(AppError::NotFound);
    }
    let a = finish_if_overdue(db, a).await?;
    if a.status == "active" {
        return Err(AppError::Conflict(
            "This attempt is still in progress; submit it to see the result.".into(),
        ));
    }
    let (slug, title) = course_of(db, a.course_id).await?;
    let (keys_shown, keys_note) = if user.is_admin {
        (true, None)
    } else {
        let bp = store::blueprint(db, a.course_id).await?;
        keys_for_learner(db, a.course_id, bp.as_ref(), a.user_id).await?
    };
    let modules: Vec<(String, String)> =
        sqlx::query_as("SELECT slug, title FROM modules WHERE course_id = $1 AND published = 1")
            .bind(a.course_id)
            .fetch_all(db)
            .await?;
    let rows: Vec<(i64, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT i.position, i.category, v.body_json, i.layout_json, i.answer_json
         FROM exam_attempt_items i JOIN exam_question_versions v ON v.id = i.question_version_id
         WHERE i.attempt_id = $1 ORDER BY i.position",
    )
    .bind(attempt)
    .fetch_all(db)
    .await?;
    let mut cats: Vec<(String, i64, f64)> = Vec::new();
    let mut review = Vec::new();
    for (pos, cat, body, layout, answer) in rows {
        let q = store::decode(&body)?;
        let layout: Layout = serde_json::from_str(&layout).map_err(|_| AppError::Internal)?;
        let answer: Option<Answer> = answer.as_deref().and_then(|a| serde_json::from_str(a).ok());
        let Graded {
            fraction,
            feedback,
            correct_answer,
        } = grade::grade(&q, &layout, answer.as_ref());
        match cats.iter_mut().find(|c| c.0 == cat) {
            Some(c) => {
                c.1 += 1;
                c.2 += fraction;
            }
            None => cats.push((cat.clone(), 1, fraction)),
        }
        let view = grade::view(&q, &layout);
        // The keys never leave this function unless the policy shows them.
        let key = keys_shown.then(|| {
            let mut feedback = feedback;
            feedback.extend(q.general_feedback.clone());
            ReviewKey {
                correct_answer,
                feedback,
            }
        });
        let module = q.module.as_ref().and_then(|m| {
            modules
                .iter()
                .find(|(s, _)| s == m)
                .map(|(s, t)| ModuleLink {
                    title: t.clone(),
                    href: format!("/courses/{slug}/{s}"),
                })
        });
        review.push(ReviewItem {
            position: pos as i32,
            category: cat,
            text: q.text.clone(),
            your_answer: describe(&view, answer.as_ref()),
            score_percent: (fraction * 1000.0).round() / 10.0,
            module,
            key,
        });
    }
    let score = a.score_bp.unwrap_or(0) as f64 / 100.0;
    Ok(ExamResult {
        attempt,
        course_slug: slug,
        course_title: title,
        status: a.status.clone(),
        score_percent: score,
        pass_mark_percent: a.pass_mark_bp as f64 / 100.0,
        passed: a.status == "submitted" && a.passed == Some(1),
        submitted_at: a.submitted_at.unwrap_or(a.deadline_at),
        submitted_by_server: a.submitted_by.as_deref() == Some("server"),
        categories: cats
            .into_iter()
            .map(|(category, n, sum)| CategoryScore {
                category,
                questions: n,
                score_percent: (sum / n as f64 * 1000.0).round() / 10.0,
            })
            .collect(),
        review,
        keys_shown,
        keys_note,
    })
}
