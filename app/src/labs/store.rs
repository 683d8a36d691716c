//! Labs in the database: import from `content/`, drafts, the run queue, and
//! the graded runs a learner can revisit.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use lab_grader::Lab;

use super::{
    Chart, DraftSaved, LabFileView, LabReport, LabView, RunListItem, RunProgress, RunView,
    StepStatus, MAX_FILE_BYTES,
};
use crate::auth::User;
use crate::course::import::Problem;
use crate::db::{now_ms, Db};
use crate::error::AppError;

/// A lab read from `content/`, ready to store.
pub struct ParsedLab {
    pub lab: Lab,
    pub rel_path: String,
    pub instructions_html: String,
    pub hash: String,
}

/// Every lab folder of a course as read from `content/`.
#[derive(Default)]
pub struct ParsedLabs {
    /// The labs that parsed and validated.
    pub labs: Vec<ParsedLab>,
    /// What was wrong with the others.
    pub problems: Vec<Problem>,
    /// Every lab folder found, broken or not: a broken lab keeps its stored
    /// version, and only a lab whose folder is gone is unpublished.
    pub folders: Vec<String>,
}

/// Reads every lab folder under `labs_dir`; broken ones become problems.
/// `rel` turns a path into the form shown in messages.
pub fn parse_labs(
    labs_dir: &Path,
    rel: impl Fn(&Path) -> String,
    sections: &[String],
) -> ParsedLabs {
    let mut labs: Vec<ParsedLab> = Vec::new();
    let mut problems = Vec::new();
    let Ok(entries) = std::fs::read_dir(labs_dir) else {
        return ParsedLabs::default();
    };
    let mut dirs: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("lab.yaml").is_file())
        .collect();
    dirs.sort();
    let folders = dirs.iter().map(|d| rel(d)).collect();
    for dir in dirs {
        let rel_path = rel(&dir);
        match lab_grader::load_lab(&dir, &rel_path) {
            Ok(lab) => {
                let yaml = format!("{rel_path}/lab.yaml");
                if !sections.contains(&lab.section) {
                    problems.push(Problem {
                        path: yaml,
                        line: 1,
                        message: format!(
                            "unknown section {:?}; course.yaml has {}",
                            lab.section,
                            sections.join(", ")
                        ),
                    });
                } else if labs.iter().any(|l| l.lab.slug == lab.slug) {
                    problems.push(Problem {
                        path: yaml,
                        line: 1,
                        message: format!("another lab already has slug {:?}", lab.slug),
                    });
                } else {
                    let instructions_html =
                        crate::course::markdown::render(&lab.instructions_md).html;
                    let json = serde_json::to_string(&lab).unwrap_or_default();
                    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(json.as_bytes()));
                    labs.push(ParsedLab {
                        lab,
                        rel_path,
                        instructions_html,
                        hash,
                    });
                }
            }
            Err(p) => problems.push(Problem {
                path: p.path,
                line: p.line,
                message: p.message,
            }),
        }
    }
    ParsedLabs {
        labs,
        problems,
        folders,
    }
}

/// Stores the course's labs; labs whose folder is gone are unpublished, never
/// deleted, so learners' runs and passes stay.
pub async fn store_labs(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    course_id: i64,
    section_ids: &[(String, i64)],
    parsed: &ParsedLabs,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    for p in &parsed.labs {
        let section_id = section_ids
            .iter()
            .find(|(s, _)| *s == p.lab.section)
            .map(|(_, id)| *id)
            .unwrap_or_default();
        sqlx::query(
            "INSERT INTO labs (course_id, section_id, slug, title, summary, position, minutes, instructions_html,
                               definition_json, published, source_path, content_hash, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $11, $12)
             ON CONFLICT (course_id, slug) DO UPDATE SET section_id = excluded.section_id, title = excluded.title,
                 summary = excluded.summary, position = excluded.position, minutes = excluded.minutes,
                 instructions_html = excluded.instructions_html, definition_json = excluded.definition_json,
                 published = 1, source_path = excluded.source_path, content_hash = excluded.content_hash,
                 updated_at = excluded.updated_at",
        )
        .bind(course_id)
        .bind(section_id)
        .bind(&p.lab.slug)
        .bind(p.lab.title.trim())
        .bind(p.lab.summary.trim())
        .bind(p.lab.order)
        .bind(p.lab.minutes)
        .bind(&p.instructions_html)
        .bind(serde_json::to_string(&p.lab).unwrap_or_default())
        .bind(&p.rel_path)
        .bind(&p.hash)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    let stored: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, source_path FROM labs WHERE course_id = $1")
            .bind(course_id)
            .fetch_all(&mut **tx)
            .await?;
    for (id, path) in stored {
        if !parsed.folders.contains(&path) {
            sqlx::query("UPDATE labs SET published = 0 WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// A published lab as stored.
struct LabRow {
    id: i64,
    course_slug: String,
    course_title: String,
    section_title: String,
    slug: String,
    title: String,
    summary: String,
    minutes: i64,
    instructions_html: String,
    lab: Lab,
}

type LabTuple = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
);

fn decode(t: LabTuple) -> Result<LabRow, AppError> {
    let (id, course_slug, course_title, section_title, slug, title, summary, minutes, html, json) =
        t;
    let lab: Lab = serde_json::from_str(&json).map_err(|e| {
        tracing::error!(lab = %slug, error = %e, "stored lab definition does not decode");
        AppError::Internal
    })?;
    Ok(LabRow {
        id,
        course_slug,
        course_title,
        section_title,
        slug,
        title,
        summary,
        minutes,
        instructions_html: html,
        lab,
    })
}

const LAB_COLUMNS: &str = "l.id, c.slug, c.title, s.title, l.slug, l.title, l.summary, l.minutes, l.instructions_html, l.definition_json
     FROM labs l JOIN courses c ON c.id = l.course_id JOIN sections s ON s.id = l.section_id";

async fn find_lab(db: &Db, course: &str, lab: &str) -> Result<LabRow, AppError> {
    let row: Option<LabTuple> = sqlx::query_as(&format!(
        "SELECT {LAB_COLUMNS} WHERE c.slug = $1 AND l.slug = $2 AND l.published = 1"
    ))
    .bind(course)
    .bind(lab)
    .fetch_optional(db)
    .await?;
    decode(row.ok_or(AppError::NotFound)?)
}

async fn lab_by_id(db: &Db, id: i64) -> Result<LabRow, AppError> {
    let row: Option<LabTuple> = sqlx::query_as(&format!("SELECT {LAB_COLUMNS} WHERE l.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    decode(row.ok_or(AppError::NotFound)?)
}

fn file_views(lab: &Lab, drafts: &HashMap<String, String>) -> Vec<LabFileView> {
    lab.files
        .iter()
        .map(|f| {
            let draft = drafts.get(&f.name);
            LabFileView {
                name: f.name.clone(),
                kind: f.kind.name().to_owned(),
                title: f.title.clone(),
                body: draft.cloned().unwrap_or_else(|| f.starter.clone()),
                edited: draft.is_some_and(|d| *d != f.starter),
            }
        })
        .collect()
}

fn solution_views(lab: &Lab) -> Vec<LabFileView> {
    lab.files
        .iter()
        .map(|f| LabFileView {
            name: f.name.clone(),
            kind: f.kind.name().to_owned(),
            title: f.title.clone(),
            body: f.solution.clone(),
            edited: false,
        })
        .collect()
}

async fn drafts(db: &Db, user_id: i64, lab_id: i64) -> Result<HashMap<String, String>, AppError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT file_name, body FROM lab_drafts WHERE user_id = $1 AND lab_id = $2")
            .bind(user_id)
            .bind(lab_id)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().collect())
}

const ACTIVE: &str = "('queued', 'running')";

/// The lab page for `user`.
pub async fn lab_view(db: &Db, course: &str, slug: &str, user: &User) -> Result<LabView, AppError> {
    let row = find_lab(db, course, slug).await?;
    let drafts = drafts(db, user.id, row.id).await?;
    let runs: Vec<(i64, String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT id, status, passed, score, max_score, queued_at FROM lab_runs
         WHERE user_id = $1 AND lab_id = $2 ORDER BY id",
    )
    .bind(user.id)
    .bind(row.id)
    .fetch_all(db)
    .await?;
    let latest_report: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT report_json FROM lab_runs WHERE user_id = $1 AND lab_id = $2 AND status = 'done'
         ORDER BY id DESC LIMIT 1",
    )
    .bind(user.id)
    .bind(row.id)
    .fetch_optional(db)
    .await?;
    let report: Option<LabReport> = latest_report
        .and_then(|(j,)| j)
        .and_then(|j| serde_json::from_str(&j).ok());
    let passed: Option<(i64,)> =
        sqlx::query_as("SELECT run_id FROM lab_passes WHERE user_id = $1 AND lab_id = $2")
            .bind(user.id)
            .bind(row.id)
            .fetch_optional(db)
            .await?;
    let revealed: Option<(i64,)> =
        sqlx::query_as("SELECT revealed_at FROM lab_reveals WHERE user_id = $1 AND lab_id = $2")
            .bind(user.id)
            .bind(row.id)
            .fetch_optional(db)
            .await?;
    let steps = row
        .lab
        .steps
        .iter()
        .map(|s| StepStatus {
            id: s.id.clone(),
            title: s.title.clone(),
            passed: report
                .as_ref()
                .and_then(|r| r.steps.iter().find(|rs| rs.id == s.id))
                .map(|rs| rs.passed),
        })
        .collect();
    let attempts = runs.iter().filter(|r| r.1 == "done").count() as i64;
    let active_run = runs
        .iter()
        .find(|r| r.1 == "queued" || r.1 == "running")
        .map(|r| r.0);
    let runs: Vec<RunListItem> = runs
        .into_iter()
        .enumerate()
        .rev()
        .map(
            |(i, (id, status, passed, score, max_score, queued_at))| RunListItem {
                id,
                number: i as i64 + 1,
                status,
                passed: passed != 0,
                score,
                max_score,
                queued_at,
            },
        )
        .collect();
    Ok(LabView {
        files: file_views(&row.lab, &drafts),
        solution: (user.is_admin || revealed.is_some()).then(|| solution_views(&row.lab)),
        course_slug: row.course_slug,
        course_title: row.course_title,
        section_title: row.section_title,
        slug: row.slug,
        title: row.title,
        summary: row.summary,
        minutes: row.minutes,
        instructions_html: row.instructions_html,
        steps,
        runs,
        active_run,
        passed: passed.is_some(),
        attempts,
        reveal_after: row.lab.reveal_solution_after,
        is_admin: user.is_admin,
    })
}

/// Checks submitted files against the lab's: known names, sane sizes.
fn validate_files(lab: &Lab, files: &BTreeMap<String, String>) -> Result<(), AppError> {
    for (name, body) in files {
        if !lab.files.iter().any(|f| f.name == *name) {
            return Err(AppError::Validation(format!(
                "This lab has no file called {name:?}."
            )));
        }
        if body.len() > MAX_FILE_BYTES {
            return Err(AppError::Validation(format!(
                "{name} is {} KB; a lab file may be at most {} KB.",
                body.len() / 1024,
                MAX_FILE_BYTES / 1024
            )));
        }
    }
    Ok(())
}

async fn upsert_drafts(
    db: &Db,
    user_id: i64,
    lab_id: i64,
    files: &BTreeMap<String, String>,
    now: i64,
) -> Result<(), AppError> {
    for (name, body) in files {
        // Browsers send textarea contents with CRLF line ends; store what was typed.
        let body = body.replace("\r\n", "\n");
        sqlx::query(
            "INSERT INTO lab_drafts (user_id, lab_id, file_name, body, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id, lab_id, file_name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(lab_id)
        .bind(name)
        .bind(body)
        .bind(now)
        .execute(db)
        .await?;
    }
    Ok(())
}

/// Stores the learner's files as drafts.
pub async fn save_drafts(
    db: &Db,
    course: &str,
    slug: &str,
    user_id: i64,
    files: &BTreeMap<String, String>,
) -> Result<DraftSaved, AppError> {
    let row = find_lab(db, course, slug).await?;
    validate_files(&row.lab, files)?;
    let now = now_ms();
    upsert_drafts(db, user_id, row.id, files, now).await?;
    Ok(DraftSaved { saved_at: now })
}

/// Saves the files and queues a run of all the lab's files (drafts where
/// given, starters otherwise). One run per learner may be in flight.
pub async fn enqueue(
    db: &Db,
    course: &str,
    slug: &str,
    user_id: i64,
    files: &BTreeMap<String, String>,
) -> Result<i64, AppError> {
    let row = find_lab(db, course, slug).await?;
    validate_files(&row.lab, files)?;
    let now = now_ms();
    upsert_drafts(db, user_id, row.id, files, now).await?;
    let drafts = drafts(db, user_id, row.id).await?;
    let all: BTreeMap<String, String> = file_views(&row.lab, &drafts)
        .into_iter()
        .map(|f| (f.name, f.body))
        .collect();
    let busy = || {
        AppError::Conflict(
            "You already have a lab run queued or running. Wait for it to finish or cancel it first."
                .into(),
        )
    };
    let active: Option<(i64,)> = sqlx::query_as(&format!(
        "SELECT id FROM lab_runs WHERE user_id = $1 AND status IN {ACTIVE}"
    ))
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    if active.is_some() {
        return Err(busy());
    }
    // The unique index on active runs settles a race between two clicks.
    let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
        "INSERT INTO lab_runs (user_id, lab_id, status, files_json, queued_at) VALUES ($1, $2, 'queued', $3, $4) RETURNING id",
    )
    .bind(user_id)
    .bind(row.id)
    .bind(serde_json::to_string(&all).unwrap_or_else(|_| "{}".into()))
    .bind(now)
    .fetch_one(db)
    .await;
    match inserted {
        Ok((id,)) => Ok(id),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(busy()),
        Err(e) => Err(e.into()),
    }
}

/// The owner of a run, its lab's slugs, and its status.
async fn run_owner(db: &Db, run: i64) -> Result<(i64, i64, String, String, String), AppError> {
    let row: Option<(i64, i64, String, String, String)> = sqlx::query_as(
        "SELECT r.user_id, r.lab_id, c.slug, l.slug, r.status FROM lab_runs r
         JOIN labs l ON l.id = r.lab_id JOIN courses c ON c.id = l.course_id WHERE r.id = $1",
    )
    .bind(run)
    .fetch_optional(db)
    .await?;
    row.ok_or(AppError::NotFound)
}

/// Cancels a queued run at once, or asks the worker to stop a running one.
/// Answers the run's course and lab slugs.
pub async fn cancel(db: &Db, run: i64, user_id: i64) -> Result<(String, String), AppError> {
    let (owner, _, course, lab, _) = run_owner(db, run).await?;
    if owner != user_id {
        return Err(AppError::NotFound);
    }
    sqlx::query(
        "UPDATE lab_runs SET status = 'cancelled', finished_at = $1 WHERE id = $2 AND status = 'queued'",
    )
    .bind(now_ms())
    .bind(run)
    .execute(db)
    .await?;
    sqlx::query("UPDATE lab_runs SET cancel_requested = 1 WHERE id = $1 AND status = 'running'")
        .bind(run)
        .execute(db)
        .await?;
    Ok((course, lab))
}

async fn queue_position(db: &Db, run: i64) -> Result<i64, AppError> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM lab_runs WHERE status = 'queued' AND id <= $1")
            .bind(run)
            .fetch_one(db)
            .await?;
    Ok(n)
}

/// What the worker last reported, plus the queue position while queued.
async fn progress_of(
    db: &Db,
    run: i64,
    status: &str,
    progress_json: Option<&str>,
) -> Result<RunProgress, AppError> {
    let mut p: RunProgress = progress_json
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or(RunProgress {
            status: String::new(),
            position: None,
            index: 0,
            runs: 0,
            run_title: String::new(),
            elapsed: 0.0,
            total: 0.0,
            vus: 0,
            rps: 0.0,
            p95_ms: 0.0,
            errors: 0,
            requests: 0,
        });
    p.status = status.to_owned();
    p.position = if status == "queued" {
        Some(queue_position(db, run).await?)
    } else {
        None
    };
    Ok(p)
}

/// A run's live progress; owners and admins only.
pub async fn progress(db: &Db, run: i64, user: &User) -> Result<RunProgress, AppError> {
    let row: Option<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT user_id, status, progress_json FROM lab_runs WHERE id = $1")
            .bind(run)
            .fetch_optional(db)
            .await?;
    let (owner, status, json) = row.ok_or(AppError::NotFound)?;
    if owner != user.id && !user.is_admin {
        return Err(AppError::NotFound);
    }
    progress_of(db, run, &status, json.as_deref()).await
}

type RunTuple = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
);

/// One run with its files and report; owners and admins only.
pub async fn run_view(db: &Db, run: i64, user: &User) -> Result<RunView, AppError> {
    let row: Option<RunTuple> = sqlx::query_as(
        "SELECT user_id, lab_id, status, files_json, progress_json, report_json, data_json, queued_at, finished_at
         FROM lab_runs WHERE id = $1",
    )
    .bind(run)
    .fetch_optional(db)
    .await?;
    let (
        owner,
        lab_id,
        status,
        files_json,
        progress_json,
        report_json,
        data_json,
        queued_at,
        finished_at,
    ) = row.ok_or(AppError::NotFound)?;
    if owner != user.id && !user.is_admin {
        return Err(AppError::NotFound);
    }
    let lab = lab_by_id(db, lab_id).await?;
    let (number,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM lab_runs WHERE user_id = $1 AND lab_id = $2 AND id <= $3",
    )
    .bind(owner)
    .bind(lab_id)
    .bind(run)
    .fetch_one(db)
    .await?;
    let files: HashMap<String, String> = serde_json::from_str(&files_json).unwrap_or_default();
    let progress = if status == "queued" || status == "running" {
        Some(progress_of(db, run, &status, progress_json.as_deref()).await?)
    } else {
        None
    };
    let data_runs = data_json
        .and_then(|j| serde_json::from_str::<Vec<lab_grader::RunData>>(&j).ok())
        .map(|data| {
            data.iter()
                .map(|d| {
                    let title = lab
                        .lab
                        .runs
                        .iter()
                        .find(|r| r.id == d.run)
                        .map_or_else(|| d.run.clone(), |r| r.title.clone());
                    (d.run.clone(), title)
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(RunView {
        id: run,
        number,
        files: file_views(&lab.lab, &files)
            .into_iter()
            .map(|f| LabFileView { edited: false, ..f })
            .collect(),
        course_slug: lab.course_slug,
        lab_slug: lab.slug,
        lab_title: lab.title,
        status,
        progress,
        report: report_json.and_then(|j| serde_json::from_str(&j).ok()),
        data_runs,
        queued_at,
        finished_at,
    })
}

/// Deletes the learner's drafts of a lab.
pub async fn reset(db: &Db, course: &str, slug: &str, user_id: i64) -> Result<(), AppError> {
    let row = find_lab(db, course, slug).await?;
    sqlx::query("DELETE FROM lab_drafts WHERE user_id = $1 AND lab_id = $2")
        .bind(user_id)
        .bind(row.id)
        .execute(db)
        .await?;
    Ok(())
}

/// Records that the learner revealed the solution, once allowed.
pub async fn reveal(db: &Db, course: &str, slug: &str, user_id: i64) -> Result<(), AppError> {
    let row = find_lab(db, course, slug).await?;
    let (attempts,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM lab_runs WHERE user_id = $1 AND lab_id = $2 AND status = 'done'",
    )
    .bind(user_id)
    .bind(row.id)
    .fetch_one(db)
    .await?;
    if attempts < row.lab.reveal_solution_after {
        return Err(AppError::Validation(format!(
            "The solution opens after {} graded runs; you have {attempts}.",
            row.lab.reveal_solution_after
        )));
    }
    sqlx::query(
        "INSERT INTO lab_reveals (user_id, lab_id, revealed_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, lab_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(row.id)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(())
}

/// The longest PromQL query the query box accepts.
const MAX_QUERY: usize = 2000;

/// Evaluates a PromQL range query over one load test of a finished run, in a
/// grading child (`sandbox`): a learner's query is as hostile as their script.
/// A learner who leaves drops the child with the request.
pub async fn query(
    db: &Db,
    sandbox: &lab_grader::sandbox::Sandbox,
    run: i64,
    data_run: &str,
    q: &str,
    user: &User,
) -> Result<Chart, AppError> {
    let row: Option<(i64, Option<String>)> =
        sqlx::query_as("SELECT user_id, data_json FROM lab_runs WHERE id = $1")
            .bind(run)
            .fetch_optional(db)
            .await?;
    let (owner, data) = row.ok_or(AppError::NotFound)?;
    if owner != user.id && !user.is_admin {
        return Err(AppError::NotFound);
    }
    let q = q.trim();
    if q.is_empty() {
        return Err(AppError::Validation("Type a PromQL query first.".into()));
    }
    if q.len() > MAX_QUERY {
        return Err(AppError::Validation(format!(
            "A query may be at most {MAX_QUERY} characters."
        )));
    }
    let data: Vec<lab_grader::RunData> = data
        .and_then(|j| serde_json::from_str(&j).ok())
        .ok_or_else(|| AppError::Validation("This run has no metrics to query.".into()))?;
    let d = data
        .into_iter()
        .find(|d| d.run == data_run)
        .ok_or(AppError::NotFound)?;
    let chart = sandbox.query(&d, q).await.map_err(|failure| {
        tracing::warn!(run, error = %failure, "PromQL query stopped in its sandbox");
        AppError::Validation(failure.message().replace("This run", "This query"))
    })?;
    chart.map_err(AppError::Validation)
}

/// What a worker needs to grade a claimed run.
pub struct Claimed {
    pub id: i64,
    pub user_id: i64,
    pub lab_id: i64,
    pub lab: Lab,
    pub files: BTreeMap<String, String>,
    /// The instance holding the run's lease; results are stored only under it.
    pub owner: String,
}

/// Takes the oldest run that is queued, or running under a lease that ran out
/// (its instance died), and leases it to `owner` for `lease_ms`. Each learner
/// has at most one run in the queue, so first come, first served is also fair
/// between learners.
///
/// The pick and the claim are one statement. On PostgreSQL the pick locks the
/// row and skips rows another instance is claiming at that moment (`FOR UPDATE
/// SKIP LOCKED`), so concurrent workers take different runs without waiting on
/// each other; SQLite runs one writing statement at a time.
pub async fn claim_next(db: &Db, owner: &str, lease_ms: i64) -> Result<Option<Claimed>, AppError> {
    let lock = match crate::db::backend(db) {
        crate::db::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        crate::db::Backend::Sqlite => "",
    };
    let now = now_ms();
    // A run whose lease ran out was being graded by an instance that died:
    // that grading died with it. It goes back to the queue, counted, and a run
    // that has now died twice is failed instead of crash-looping the graders.
    sqlx::query(
        "UPDATE lab_runs SET status = 'queued', started_at = NULL, lease_owner = NULL, lease_until = NULL,
             progress_json = NULL, grader_deaths = grader_deaths + 1
         WHERE status = 'running' AND (lease_until IS NULL OR lease_until < $1)",
    )
    .bind(now)
    .execute(db)
    .await?;
    fail_twice_dead(db).await?;
    let claimed: Option<(i64, i64, i64, String)> = sqlx::query_as(&format!(
        "UPDATE lab_runs SET status = 'running', started_at = $1, lease_owner = $2, lease_until = $3,
             claims = claims + 1, progress_json = NULL
         WHERE id = (SELECT id FROM lab_runs
                     WHERE status = 'queued' ORDER BY id LIMIT 1{lock})
         RETURNING id, user_id, lab_id, files_json"
    ))
    .bind(now)
    .bind(owner)
    .bind(now + lease_ms)
    .fetch_optional(db)
    .await?;
    let Some((id, user_id, lab_id, files_json)) = claimed else {
        return Ok(None);
    };
    let lab = lab_by_id(db, lab_id).await?;
    Ok(Some(Claimed {
        id,
        user_id,
        lab_id,
        lab: lab.lab,
        files: serde_json::from_str(&files_json).unwrap_or_default(),
        owner: owner.to_owned(),
    }))
}

/// Extends a run's lease; `false` when `owner` no longer holds it (the run was
/// taken over after the lease ran out, or handed back), so its work is moot.
pub async fn renew_lease(db: &Db, run: i64, owner: &str, lease_ms: i64) -> Result<bool, AppError> {
    let r = sqlx::query(
        "UPDATE lab_runs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
    )
    .bind(now_ms() + lease_ms)
    .bind(run)
    .bind(owner)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Hands the runs `owner` is grading back to the queue (a graceful stop):
/// another instance, or this one after its restart, grades them from the start.
pub async fn release_all(db: &Db, owner: &str) -> Result<u64, AppError> {
    let r = sqlx::query(
        "UPDATE lab_runs SET status = 'queued', started_at = NULL, lease_owner = NULL, lease_until = NULL,
             progress_json = NULL
         WHERE status = 'running' AND lease_owner = $1",
    )
    .bind(owner)
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}

/// Stores the worker's latest progress; answers whether the learner asked to cancel.
pub async fn report_progress(db: &Db, run: i64, p: &RunProgress) -> Result<bool, AppError> {
    sqlx::query("UPDATE lab_runs SET progress_json = $1 WHERE id = $2")
        .bind(serde_json::to_string(p).unwrap_or_default())
        .bind(run)
        .execute(db)
        .await?;
    cancel_requested(db, run).await
}

/// Whether the learner asked to stop a running run.
pub async fn cancel_requested(db: &Db, run: i64) -> Result<bool, AppError> {
    let (cancel,): (i64,) = sqlx::query_as("SELECT cancel_requested FROM lab_runs WHERE id = $1")
        .bind(run)
        .fetch_one(db)
        .await?;
    Ok(cancel != 0)
}

/// Stores a graded run and, when it passed, the learner's pass of the lab.
pub async fn finish(
    db: &Db,
    c: &Claimed,
    report: &LabReport,
    data: &[lab_grader::RunData],
) -> Result<(), AppError> {
    let now = now_ms();
    let status = if report.cancelled {
        "cancelled"
    } else {
        "done"
    };
    let mut tx = db.begin().await?;
    let stored = sqlx::query(
        "UPDATE lab_runs SET status = $1, report_json = $2, data_json = $3, passed = $4, score = $5, max_score = $6,
             finished_at = $7, lease_until = NULL WHERE id = $8 AND lease_owner = $9 AND status = 'running'",
    )
    .bind(status)
    .bind(serde_json::to_string(report).unwrap_or_default())
    .bind(serde_json::to_string(data).unwrap_or_default())
    .bind(i64::from(report.passed))
    .bind(report.score)
    .bind(report.max_score)
    .bind(now)
    .bind(c.id)
    .bind(&c.owner)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if stored == 0 {
        // The lease was lost (taken over or handed back): the new holder's result counts.
        tracing::warn!(
            run = c.id,
            "lab run no longer leased to this instance; its result is dropped"
        );
        return Ok(());
    }
    let passed = report.passed && !report.cancelled;
    if passed {
        sqlx::query(
            "INSERT INTO lab_passes (user_id, lab_id, run_id, passed_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, lab_id) DO NOTHING",
        )
        .bind(c.user_id)
        .bind(c.lab_id)
        .bind(c.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    if passed {
        crate::row_cache::PROGRESS.forget(db, c.user_id);
    }
    Ok(())
}

/// Marks a run whose grading broke; the learner's files stay with it.
pub async fn fail(db: &Db, c: &Claimed, why: &str) -> Result<(), AppError> {
    let report = unanswered(Some(why.to_owned()), false);
    sqlx::query(
        "UPDATE lab_runs SET status = 'failed', report_json = $1, finished_at = $2, lease_until = NULL
         WHERE id = $3 AND lease_owner = $4 AND status = 'running'",
    )
    .bind(serde_json::to_string(&report).unwrap_or_default())
    .bind(now_ms())
    .bind(c.id)
    .bind(&c.owner)
    .execute(db)
    .await?;
    Ok(())
}

/// The report of a run whose grading gave no answer: stopped with `why`, or
/// cancelled before its grader answered.
pub fn unanswered(why: Option<String>, cancelled: bool) -> LabReport {
    LabReport {
        passed: false,
        score: 0,
        max_score: 0,
        cancelled,
        error: why,
        steps: Vec::new(),
        runs: Vec::new(),
        charts: Vec::new(),
        tables: Vec::new(),
    }
}

/// What a learner reads on a run whose grading died twice.
pub const STOPPED_TWICE: &str = "This run stopped the grader twice, so it will not be graded again. \
Your files are saved. Something in them crashes the grader (very deep nesting, a runaway loop or recursion): change it and run again.";

/// The grading of a claimed run died without an answer (its child crashed):
/// the run goes back to the queue for one more try, or fails if this was its
/// second death. `why` is kept as the report's message until a try answers.
pub async fn grader_died(db: &Db, c: &Claimed, why: &str) -> Result<(), AppError> {
    let report = unanswered(Some(why.to_owned()), false);
    sqlx::query(
        "UPDATE lab_runs SET status = 'queued', started_at = NULL, lease_owner = NULL, lease_until = NULL,
             progress_json = NULL, report_json = $1, grader_deaths = grader_deaths + 1
         WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
    )
    .bind(serde_json::to_string(&report).unwrap_or_default())
    .bind(c.id)
    .bind(&c.owner)
    .execute(db)
    .await?;
    fail_twice_dead(db).await
}

/// Fails every queued run whose grading has died twice.
async fn fail_twice_dead(db: &Db) -> Result<(), AppError> {
    let report = unanswered(Some(STOPPED_TWICE.to_owned()), false);
    let failed = sqlx::query(
        "UPDATE lab_runs SET status = 'failed', report_json = $1, finished_at = $2
         WHERE status = 'queued' AND grader_deaths >= 2",
    )
    .bind(serde_json::to_string(&report).unwrap_or_default())
    .bind(now_ms())
    .execute(db)
    .await?
    .rows_affected();
    if failed > 0 {
        tracing::warn!(failed, "lab runs failed after their grading died twice");
    }
    Ok(())
}

/// The labs a learner has passed in a course, by slug.
pub async fn passed_labs(db: &Db, course_id: i64, user_id: i64) -> Result<Vec<String>, AppError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT l.slug FROM lab_passes p JOIN labs l ON l.id = p.lab_id WHERE p.user_id = $1 AND l.course_id = $2",
    )
    .bind(user_id)
    .bind(course_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(s,)| s).collect())
}
