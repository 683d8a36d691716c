//! The question bank in the database: versioned import from GIFT, export back to GIFT,
//! and the blueprint from `exam/blueprint.yaml`.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

use super::draw::Blueprint;
use super::gift;
use super::model::Question;
use crate::course::import::Problem;
use crate::db::{now_ms, Db};
use crate::error::AppError;

/// What storing a bank did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BankReport {
    pub added: usize,
    pub changed: usize,
    pub unchanged: usize,
}

impl std::fmt::Display for BankReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} added, {} changed (new version), {} unchanged",
            self.added, self.changed, self.unchanged
        )
    }
}

/// Parses one GIFT text; problems are `path:line: reason`.
pub fn parse_file(path: &str, src: &str) -> Result<Vec<Question>, Vec<Problem>> {
    gift::parse(src, "Default").map_err(|errs| {
        errs.into_iter()
            .map(|e| Problem {
                path: path.to_string(),
                line: e.line,
                message: e.message,
            })
            .collect()
    })
}

/// Reads a course's `exam/` folder: every `*.gift` (in name order) and `blueprint.yaml`.
/// Any problem anywhere means nothing is returned.
pub fn read_folder(dir: &Path) -> Result<(Vec<Question>, Option<Blueprint>), Vec<Problem>> {
    let mut problems = Vec::new();
    let mut questions = Vec::new();
    let shown = |p: &Path| p.display().to_string();
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            return Err(vec![Problem {
                path: shown(dir),
                line: 0,
                message: format!("cannot read: {e}"),
            }])
        }
    };
    files.sort();
    let mut blueprint = None;
    for f in &files {
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
        let name = f.file_name().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "gift" && name != "blueprint.yaml" {
            continue;
        }
        let src = match std::fs::read_to_string(f) {
            Ok(s) => s,
            Err(e) => {
                problems.push(Problem {
                    path: shown(f),
                    line: 0,
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        if name == "blueprint.yaml" {
            match Blueprint::parse(&src) {
                Ok(b) => blueprint = Some(b),
                Err(m) => {
                    let (line, message) = split_line(&m);
                    problems.push(Problem {
                        path: shown(f),
                        line,
                        message,
                    })
                }
            }
        } else {
            match parse_file(&shown(f), &src) {
                Ok(qs) => questions.extend(qs),
                Err(ps) => problems.extend(ps),
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for q in &questions {
        if !seen.insert(q.key()) {
            problems.push(Problem {
                path: shown(dir),
                line: 0,
                message: format!("the question {:?} appears in two files", q.key()),
            });
        }
    }
    if let Some(b) = &blueprint {
        if let Err(m) = check_draw(b, &questions) {
            problems.push(Problem {
                path: shown(&dir.join("blueprint.yaml")),
                line: 1,
                message: m,
            });
        }
    }
    if problems.is_empty() {
        Ok((questions, blueprint))
    } else {
        Err(problems)
    }
}

fn split_line(m: &str) -> (usize, String) {
    if let Some(rest) = m.strip_prefix("line ") {
        if let Some((n, msg)) = rest.split_once(": ") {
            if let Ok(n) = n.parse() {
                return (n, msg.to_string());
            }
        }
    }
    (1, m.to_string())
}

/// Every category the blueprint draws from has enough questions.
pub fn check_draw(b: &Blueprint, questions: &[Question]) -> Result<(), String> {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for q in questions {
        *counts.entry(q.category.as_str()).or_default() += 1;
    }
    for d in &b.draw {
        let have = counts.get(d.category.as_str()).copied().unwrap_or(0);
        if have < d.count {
            return Err(format!(
                "the draw asks for {} questions from {:?} but the bank has {have}",
                d.count, d.category
            ));
        }
    }
    Ok(())
}

fn hash(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The id of a course by slug.
pub async fn course_id(db: &Db, slug: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM courses WHERE slug = $1")
        .bind(slug)
        .fetch_optional(db)
        .await
}

/// Stores questions in one transaction: a changed question gets a new version,
/// an unchanged one is left alone, so importing twice changes nothing.
pub async fn store_questions(
    db: &Db,
    course_id: i64,
    questions: &[Question],
) -> Result<BankReport, sqlx::Error> {
    let now = now_ms();
    let mut report = BankReport::default();
    let mut tx = db.begin().await?;
    let mut next_pos: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(position), -1) + 1 AS BIGINT) FROM exam_questions WHERE course_id = $1",
    )
    .bind(course_id)
    .fetch_one(&mut *tx)
    .await?;
    for q in questions {
        let body = serde_json::to_string(q).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let h = hash(&body);
        let existing: Option<(i64, i64, String)> = sqlx::query_as(
            "SELECT q.id, q.current_version, v.content_hash FROM exam_questions q
             JOIN exam_question_versions v ON v.question_id = q.id AND v.version = q.current_version
             WHERE q.course_id = $1 AND q.qkey = $2",
        )
        .bind(course_id)
        .bind(q.key())
        .fetch_optional(&mut *tx)
        .await?;
        match existing {
            Some((id, _, old)) if old == h => {
                sqlx::query("UPDATE exam_questions SET retired = 0 WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                report.unchanged += 1;
            }
            Some((id, version, _)) => {
                sqlx::query("INSERT INTO exam_question_versions (question_id, version, body_json, content_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(id).bind(version + 1).bind(&body).bind(&h).bind(now)
                    .execute(&mut *tx).await?;
                sqlx::query("UPDATE exam_questions SET current_version = $1, category = $2, retired = 0, updated_at = $3 WHERE id = $4")
                    .bind(version + 1).bind(&q.category).bind(now).bind(id)
                    .execute(&mut *tx).await?;
                report.changed += 1;
            }
            None => {
                let id: i64 = sqlx::query_scalar("INSERT INTO exam_questions (course_id, qkey, category, current_version, position, retired, updated_at) VALUES ($1, $2, $3, 1, $4, 0, $5) RETURNING id")
                    .bind(course_id).bind(q.key()).bind(&q.category).bind(next_pos).bind(now)
                    .fetch_one(&mut *tx).await?;
                next_pos += 1;
                sqlx::query("INSERT INTO exam_question_versions (question_id, version, body_json, content_hash, created_at) VALUES ($1, 1, $2, $3, $4)")
                    .bind(id).bind(&body).bind(&h).bind(now)
                    .execute(&mut *tx).await?;
                report.added += 1;
            }
        }
    }
    tx.commit().await?;
    Ok(report)
}

/// Retires the course's questions that came from its `exam/` folder and are no longer
/// in `questions` (the folder's whole bank): they are not drawn again, while attempts
/// that drew them keep the exact version they drew. Questions imported from elsewhere
/// (`masterclass questions import`) are left alone. Returns how many were retired.
pub async fn retire_missing(
    db: &Db,
    course_id: i64,
    questions: &[Question],
) -> Result<usize, sqlx::Error> {
    let keep: std::collections::HashSet<String> = questions.iter().map(Question::key).collect();
    let all: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT id, qkey, retired, in_folder FROM exam_questions WHERE course_id = $1",
    )
    .bind(course_id)
    .fetch_all(db)
    .await?;
    let mut tx = db.begin().await?;
    let mut n = 0;
    for (id, key, retired, in_folder) in all {
        if keep.contains(&key) {
            if in_folder == 0 {
                sqlx::query("UPDATE exam_questions SET in_folder = 1 WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        } else if in_folder != 0 && retired == 0 {
            sqlx::query("UPDATE exam_questions SET retired = 1, updated_at = $1 WHERE id = $2")
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            n += 1;
        }
    }
    tx.commit().await?;
    Ok(n)
}

/// Where a course's blueprint is kept, inside its folder.
pub const BLUEPRINT_PATH: &str = "exam/blueprint.yaml";

/// Stores the blueprint read from `exam/blueprint.yaml`, unless it is the one already
/// stored (publishing runs after every edit of any file; this keeps an unchanged
/// blueprint's row as it is). The file is the only way a blueprint changes: the
/// administration's form saves it as a new revision of that file. (A blueprint edited
/// in this table by earlier versions of the form stays in force until the file changes;
/// the form shows it, so its next save writes it into the file.)
pub async fn import_blueprint(db: &Db, course_id: i64, b: &Blueprint) -> Result<bool, sqlx::Error> {
    let json = serde_json::to_string(b).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let h = hash(&json);
    let stored: Option<Option<String>> =
        sqlx::query_scalar("SELECT source_hash FROM exam_blueprints WHERE course_id = $1")
            .bind(course_id)
            .fetch_optional(db)
            .await?;
    if stored.flatten().as_deref() == Some(h.as_str()) {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO exam_blueprints (course_id, spec_json, updated_at, source_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (course_id) DO UPDATE SET spec_json = excluded.spec_json, updated_at = excluded.updated_at,
             source_hash = excluded.source_hash",
    )
    .bind(course_id)
    .bind(json)
    .bind(now_ms())
    .bind(h)
    .execute(db)
    .await?;
    Ok(true)
}

/// A course's blueprint, if it has an exam.
pub async fn blueprint(db: &Db, course_id: i64) -> Result<Option<Blueprint>, AppError> {
    let json: Option<String> =
        sqlx::query_scalar("SELECT spec_json FROM exam_blueprints WHERE course_id = $1")
            .bind(course_id)
            .fetch_optional(db)
            .await?;
    json.map(|j| {
        serde_json::from_str(&j).map_err(|e| {
            tracing::error!(error = %e, "stored blueprint unreadable");
            AppError::Internal
        })
    })
    .transpose()
}

/// The current version of every active question, in bank order; optionally one category.
pub async fn current_questions(
    db: &Db,
    course_id: i64,
    category: Option<&str>,
) -> Result<Vec<(i64, Question)>, AppError> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT v.id, q.category, v.body_json FROM exam_questions q
         JOIN exam_question_versions v ON v.question_id = q.id AND v.version = q.current_version
         WHERE q.course_id = $1 AND q.retired = 0 ORDER BY q.position, q.id",
    )
    .bind(course_id)
    .fetch_all(db)
    .await?;
    let mut out = Vec::new();
    for (vid, cat, body) in rows {
        if category.is_some_and(|c| c != cat) {
            continue;
        }
        out.push((vid, decode(&body)?));
    }
    Ok(out)
}

/// A stored question version.
pub fn decode(body: &str) -> Result<Question, AppError> {
    serde_json::from_str(body).map_err(|e| {
        tracing::error!(error = %e, "stored question unreadable");
        AppError::Internal
    })
}

/// Writes the bank (or one category) as GIFT, grouped by category in bank order.
pub async fn export_gift(
    db: &Db,
    course_id: i64,
    category: Option<&str>,
) -> Result<String, String> {
    let qs = current_questions(db, course_id, category)
        .await
        .map_err(|e| e.to_string())?;
    let mut order: Vec<String> = Vec::new();
    for (_, q) in &qs {
        if !order.contains(&q.category) {
            order.push(q.category.clone());
        }
    }
    let mut sorted: Vec<Question> = Vec::new();
    for c in &order {
        sorted.extend(
            qs.iter()
                .filter(|(_, q)| &q.category == c)
                .map(|(_, q)| q.clone()),
        );
    }
    gift::write(&sorted)
}

/// Imports every course's `exam/` folder under `content_dir`. A folder with any
/// problem is skipped whole; its problems are returned as `path:line: reason`.
pub async fn import_content(db: &Db, content_dir: &Path) -> Result<Vec<Problem>, sqlx::Error> {
    let mut problems = Vec::new();
    let Ok(rd) = std::fs::read_dir(content_dir) else {
        return Ok(problems);
    };
    let mut dirs: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    for dir in dirs {
        let exam = dir.join("exam");
        if !exam.is_dir() {
            continue;
        }
        let Some(slug) = dir.file_name().and_then(|s| s.to_str()) else {
            continue;
        };
        let Some(cid) = course_id(db, slug).await? else {
            continue;
        };
        match read_folder(&exam) {
            Ok((qs, bp)) => {
                let report = store_questions(db, cid, &qs).await?;
                let retired = retire_missing(db, cid, &qs).await?;
                tracing::info!(course = slug, %report, retired, "exam question bank imported");
                if let Some(b) = bp {
                    import_blueprint(db, cid, &b).await?;
                }
            }
            Err(ps) => problems.extend(ps),
        }
    }
    Ok(problems)
}
