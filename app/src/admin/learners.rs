//! Running the course: the learners (search, progress, roles, resetting
//! progress) and the course's analytics (funnel, time per module, labs, exam).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One learner in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnerRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub joined_at: i64,
    pub modules_completed: i64,
    pub labs_passed: i64,
    pub exam_attempts: i64,
    /// Best exam score in basis points (10000 = 100%).
    pub best_score_bp: Option<i64>,
    pub certificates: i64,
}

/// A bar of a chart: a label and a count (and, where it means something, a share).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub note: String,
}

/// A course's analytics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analytics {
    pub course: String,
    pub title: String,
    /// Learners with any progress, lab run or exam attempt in the course.
    pub enrolled: i64,
    /// Completions per module, in reading order.
    pub funnel: Vec<Bar>,
    /// Median minutes between a learner's previous completion and this module's.
    pub median_minutes: Vec<Bar>,
    /// Per lab: learners who passed, of those who ran it.
    pub labs: Vec<Bar>,
    /// The checks learners' runs fail most.
    pub failed_checks: Vec<Bar>,
    /// Submitted attempts by score, in tenths.
    pub scores: Vec<Bar>,
}

#[cfg(feature = "ssr")]
async fn admin_context() -> Result<(crate::auth::User, crate::state::AppState), AppError> {
    let admin = crate::auth::session::require_admin().await?;
    Ok((admin, crate::state::app_state()?))
}

/// Learners whose email or name contains `q` (all, newest first, when empty).
#[server(endpoint = "admin/learners")]
pub async fn learners(q: String) -> Result<Vec<LearnerRow>, AppError> {
    crate::error::ssr::with_status(
        async move {
            let (_admin, state) = admin_context().await?;
            ssr::search(&state.db, &q).await
        }
        .await,
    )
}

/// Makes a user an administrator or a learner. Nobody demotes themselves, so
/// there is always an administrator.
#[server(endpoint = "admin/learners/role")]
pub async fn set_role(user: i64, admin: bool) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let (me, state) = admin_context().await?;
            if user == me.id && !admin {
                return Err(AppError::Validation(
                    "you cannot take away your own administrator role".into(),
                ));
            }
            let (email,): (String,) = sqlx::query_as("SELECT email FROM users WHERE id = $1")
                .bind(user)
                .fetch_optional(&state.db)
                .await?
                .ok_or(AppError::NotFound)?;
            sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2")
                .bind(i64::from(admin))
                .bind(user)
                .execute(&state.db)
                .await?;
            crate::row_cache::USERS.forget(&state.db, user);
            let role = if admin { "administrator" } else { "learner" };
            crate::admin::store::audit(&state.db, &me, "changed a role", &email, None, Some(role))
                .await
        }
        .await,
    )
}

/// Clears a learner's progress in a course: completed modules and passed labs
/// (runs and exam attempts stay, as the record of what happened).
#[server(endpoint = "admin/learners/reset")]
pub async fn reset_progress(
    user: i64,
    course: String,
    confirm: Option<String>,
) -> Result<i64, AppError> {
    crate::error::ssr::with_status(
        async move {
            let (me, state) = admin_context().await?;
            // Progress cannot be brought back: the admin ticks a box that says so.
            if confirm.as_deref() != Some("yes") {
                return Err(AppError::Validation(
                    "Tick the box to confirm: the learner's completed modules and passed labs in this course are cleared for good.".into(),
                ));
            }
            ssr::reset(&state, &me, user, &course).await
        }
        .await,
    )
}

/// A course's analytics.
#[server(endpoint = "admin/analytics")]
pub async fn course_analytics(course: String) -> Result<Analytics, AppError> {
    crate::error::ssr::with_status(
        async move {
            let (_admin, state) = admin_context().await?;
            ssr::analytics(&state.db, &course).await
        }
        .await,
    )
}

#[cfg(feature = "ssr")]
mod ssr {
    use std::collections::BTreeMap;

    use super::{Analytics, Bar, LearnerRow};
    use crate::auth::User;
    use crate::db::Db;
    use crate::error::AppError;
    use crate::state::AppState;

    pub async fn search(db: &Db, q: &str) -> Result<Vec<LearnerRow>, AppError> {
        let pattern = format!(
            "%{}%",
            q.trim()
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        type Row = (
            i64,
            String,
            String,
            i64,
            i64,
            i64,
            i64,
            i64,
            Option<i64>,
            i64,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT u.id, u.email, u.display_name, u.is_admin, u.created_at,
                    (SELECT COUNT(*) FROM progress p WHERE p.user_id = u.id),
                    (SELECT COUNT(*) FROM lab_passes l WHERE l.user_id = u.id),
                    (SELECT COUNT(*) FROM exam_attempts a WHERE a.user_id = u.id),
                    (SELECT MAX(a.score_bp) FROM exam_attempts a WHERE a.user_id = u.id AND a.status <> 'active'),
                    (SELECT COUNT(*) FROM certificates c WHERE c.user_id = u.id)
             FROM users u
             WHERE LOWER(u.email) LIKE $1 ESCAPE '\\' OR LOWER(u.display_name) LIKE $1 ESCAPE '\\'
             ORDER BY u.id DESC LIMIT 100",
        )
        .bind(pattern)
        .fetch_all(db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| LearnerRow {
                id: r.0,
                email: r.1,
                name: r.2,
                is_admin: r.3 != 0,
                joined_at: r.4,
                modules_completed: r.5,
                labs_passed: r.6,
                exam_attempts: r.7,
                best_score_bp: r.8,
                certificates: r.9,
            })
            .collect())
    }

    async fn course_id(db: &Db, course: &str) -> Result<(i64, String), AppError> {
        sqlx::query_as("SELECT id, title FROM courses WHERE slug = $1")
            .bind(course)
            .fetch_optional(db)
            .await?
            .ok_or(AppError::NotFound)
    }

    pub async fn reset(
        state: &AppState,
        me: &User,
        user: i64,
        course: &str,
    ) -> Result<i64, AppError> {
        let (cid, _) = course_id(&state.db, course).await?;
        let (email,): (String,) = sqlx::query_as("SELECT email FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(&state.db)
            .await?
            .ok_or(AppError::NotFound)?;
        let mut tx = state.db.begin().await?;
        let modules = sqlx::query(
            "DELETE FROM progress WHERE user_id = $1 AND module_id IN (SELECT id FROM modules WHERE course_id = $2)",
        )
        .bind(user)
        .bind(cid)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let labs = sqlx::query(
            "DELETE FROM lab_passes WHERE user_id = $1 AND lab_id IN (SELECT id FROM labs WHERE course_id = $2)",
        )
        .bind(user)
        .bind(cid)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        crate::row_cache::PROGRESS.forget(&state.db, user);
        let before = format!("{modules} modules completed, {labs} labs passed");
        crate::admin::store::audit(
            &state.db,
            me,
            "reset progress",
            &format!("{email} in {course}"),
            Some(&before),
            Some("nothing completed"),
        )
        .await?;
        Ok((modules + labs) as i64)
    }

    fn median(mut v: Vec<i64>) -> Option<i64> {
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let n = v.len();
        Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2
        })
    }

    pub async fn analytics(db: &Db, course: &str) -> Result<Analytics, AppError> {
        let (cid, title) = course_id(db, course).await?;
        let enrolled: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (
                 SELECT p.user_id FROM progress p JOIN modules m ON m.id = p.module_id WHERE m.course_id = $1
                 UNION SELECT r.user_id FROM lab_runs r JOIN labs l ON l.id = r.lab_id WHERE l.course_id = $1
                 UNION SELECT a.user_id FROM exam_attempts a WHERE a.course_id = $1) AS enrolled",
        )
        .bind(cid)
        .fetch_one(db)
        .await?;
        let modules: Vec<(i64, String)> = sqlx::query_as(
            "SELECT m.id, m.title FROM modules m JOIN sections s ON s.id = m.section_id
             WHERE m.course_id = $1 AND m.published = 1 ORDER BY s.position, m.position",
        )
        .bind(cid)
        .fetch_all(db)
        .await?;
        let completions: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT p.user_id, p.module_id, p.completed_at FROM progress p JOIN modules m ON m.id = p.module_id
             WHERE m.course_id = $1 ORDER BY p.user_id, p.completed_at",
        )
        .bind(cid)
        .fetch_all(db)
        .await?;
        let mut per_module: BTreeMap<i64, i64> = BTreeMap::new();
        let mut gaps: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let mut previous: Option<(i64, i64)> = None;
        for (user, module, at) in completions {
            *per_module.entry(module).or_default() += 1;
            if let Some((u, t)) = previous {
                if u == user {
                    gaps.entry(module).or_default().push((at - t) / 60_000);
                }
            }
            previous = Some((user, at));
        }
        let funnel = modules
            .iter()
            .map(|(id, title)| {
                let n = per_module.get(id).copied().unwrap_or(0);
                Bar {
                    label: title.clone(),
                    value: n,
                    note: if enrolled > 0 {
                        format!("{}% of enrolled", n * 100 / enrolled)
                    } else {
                        String::new()
                    },
                }
            })
            .collect();
        let median_minutes = modules
            .iter()
            .filter_map(|(id, title)| {
                let samples = gaps.get(id)?;
                Some(Bar {
                    label: title.clone(),
                    value: median(samples.clone())?,
                    note: format!("{} learners", samples.len()),
                })
            })
            .collect();
        let labs: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT l.title,
                    (SELECT COUNT(DISTINCT r.user_id) FROM lab_runs r WHERE r.lab_id = l.id),
                    (SELECT COUNT(*) FROM lab_passes p WHERE p.lab_id = l.id),
                    (SELECT COUNT(*) FROM lab_runs r WHERE r.lab_id = l.id)
             FROM labs l WHERE l.course_id = $1 ORDER BY l.position",
        )
        .bind(cid)
        .fetch_all(db)
        .await?;
        let labs = labs
            .into_iter()
            .map(|(title, tried, passed, runs)| Bar {
                label: title,
                value: passed,
                note: format!("passed, of {tried} learners who ran it ({runs} runs)"),
            })
            .collect();
        let reports: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT l.title, r.report_json FROM lab_runs r JOIN labs l ON l.id = r.lab_id
             WHERE l.course_id = $1 AND r.status = 'done' ORDER BY r.id DESC LIMIT 5000",
        )
        .bind(cid)
        .fetch_all(db)
        .await?;
        let mut failures: BTreeMap<String, i64> = BTreeMap::new();
        for (lab, json) in reports {
            let Some(report) =
                json.and_then(|j| serde_json::from_str::<crate::labs::LabReport>(&j).ok())
            else {
                continue;
            };
            for step in report.steps {
                for check in step.checks.into_iter().filter(|c| !c.passed) {
                    *failures
                        .entry(format!("{lab}: {}", check.title))
                        .or_default() += 1;
                }
            }
        }
        let mut failed_checks: Vec<Bar> = failures
            .into_iter()
            .map(|(label, value)| Bar {
                label,
                value,
                note: "failed runs".into(),
            })
            .collect();
        failed_checks.sort_by(|a, b| b.value.cmp(&a.value).then(a.label.cmp(&b.label)));
        failed_checks.truncate(10);
        let scores: Vec<(i64,)> = sqlx::query_as(
            "SELECT score_bp FROM exam_attempts WHERE course_id = $1 AND status <> 'active' AND score_bp IS NOT NULL",
        )
        .bind(cid)
        .fetch_all(db)
        .await?;
        let mut buckets = [0i64; 10];
        for (bp,) in scores {
            buckets[((bp.clamp(0, 10_000) / 1000) as usize).min(9)] += 1;
        }
        let scores = buckets
            .iter()
            .enumerate()
            .map(|(i, n)| Bar {
                label: if i == 9 {
                    "90–100%".into()
                } else {
                    format!("{}–{}%", i * 10, i * 10 + 9)
                },
                value: *n,
                note: String::new(),
            })
            .collect();
        Ok(Analytics {
            course: course.to_string(),
            title,
            enrolled,
            funnel,
            median_minutes,
            labs,
            failed_checks,
            scores,
        })
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn medians() {
            assert_eq!(super::median(vec![]), None);
            assert_eq!(super::median(vec![5, 1, 3]), Some(3));
            assert_eq!(super::median(vec![4, 1, 3, 2]), Some(2));
        }
    }
}
