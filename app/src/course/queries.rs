//! Reading courses and recording progress.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::published::{ActivityRow, Course, Module};
use super::{
    Activity, CourseCard, CourseOverview, ModuleItem, ModuleLink, ModulePage, SectionView,
};
use crate::db::now_ms;
use crate::error::AppError;
use crate::state::AppState;

/// One piece of a learner's progress: (0, module id, completed at) or
/// (1, lab id, passed at).
pub type ProgressRow = (i64, i64, i64);

/// A learner's progress in every course: one round trip for both kinds, which
/// every course and module page reads.
async fn progress(db: &crate::db::Db, user_id: i64) -> Result<Arc<[ProgressRow]>, AppError> {
    crate::row_cache::PROGRESS
        .get_or_load(db, user_id, || async {
            let rows: Vec<ProgressRow> = sqlx::query_as(
                "SELECT 0, module_id, completed_at FROM progress WHERE user_id = $1
                 UNION ALL SELECT 1, lab_id, passed_at FROM lab_passes WHERE user_id = $1",
            )
            .bind(user_id)
            .fetch_all(db)
            .await?;
            Ok(rows.into())
        })
        .await
}

/// A course's published structure and one learner's completions.
struct Outline {
    course: Arc<Course>,
    /// module id -> completed_at
    completed: HashMap<i64, i64>,
    /// Ids of the labs the learner has passed.
    passed: HashSet<i64>,
}

impl Outline {
    async fn load(state: &AppState, slug: &str, user_id: Option<i64>) -> Result<Outline, AppError> {
        let course = state.published.get(&state.db).await?.course(slug)?;
        let mut completed = HashMap::new();
        let mut passed = HashSet::new();
        if let Some(uid) = user_id {
            let rows = progress(&state.db, uid).await?;
            // Progress in other courses (and in unpublished modules) does not count here.
            for &(kind, id, at) in rows.iter() {
                if kind == 0 && course.modules.iter().any(|m| m.id == id) {
                    completed.insert(id, at);
                } else if kind == 1 && course.labs.iter().any(|l| l.id == id) {
                    passed.insert(id);
                }
            }
        }
        Ok(Outline {
            course,
            completed,
            passed,
        })
    }

    fn is_done(&self, m: &Module) -> bool {
        self.completed.contains_key(&m.id)
    }

    /// Why `m` is locked: the prerequisites not yet completed, by title.
    fn lock_reason(&self, m: &Module) -> Option<String> {
        let missing: Vec<&str> = m
            .prerequisites
            .iter()
            .filter_map(|p| self.course.modules.iter().find(|o| &o.slug == p))
            .filter(|o| !self.is_done(o))
            .map(|o| o.title.as_str())
            .collect();
        if missing.is_empty() {
            None
        } else {
            Some(format!(
                "Complete {} first.",
                missing
                    .iter()
                    .map(|t| format!("“{t}”"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ))
        }
    }

    /// The next module to read: the first open, unfinished one after the most
    /// recently completed; failing that, the first open, unfinished one.
    fn continue_to(&self) -> Option<ModuleLink> {
        let open = |m: &&Module| !self.is_done(m) && self.lock_reason(m).is_none();
        let latest = self
            .course
            .modules
            .iter()
            .enumerate()
            .filter_map(|(i, m)| self.completed.get(&m.id).map(|t| (*t, i)))
            .max()
            .map(|(_, i)| i);
        latest
            .and_then(|i| self.course.modules.iter().skip(i + 1).find(open))
            .or_else(|| self.course.modules.iter().find(open))
            .map(Module::link)
    }

    /// Modules completed plus labs passed.
    fn done_count(&self) -> i64 {
        (self
            .course
            .modules
            .iter()
            .filter(|m| self.is_done(m))
            .count()
            + self.passed.len()) as i64
    }

    /// Modules and labs together.
    fn total(&self) -> i64 {
        (self.course.modules.len() + self.course.labs.len()) as i64
    }
}

/// Every course, in catalog order.
pub async fn list_courses(state: &AppState) -> Result<Vec<CourseCard>, AppError> {
    let catalog = state.published.get(&state.db).await?;
    Ok(catalog
        .courses
        .iter()
        .map(|c| CourseCard {
            slug: c.slug.clone(),
            title: c.title.clone(),
            summary: c.summary.clone(),
            sections: c.sections.len() as i64,
            modules: c.modules.len() as i64,
            minutes: minutes(c),
        })
        .collect())
}

/// A course's length: its published modules, labs and exam.
fn minutes(c: &Course) -> i64 {
    c.modules.iter().map(|m| m.minutes).sum::<i64>()
        + c.labs.iter().map(|l| l.minutes).sum::<i64>()
        + c.activities.iter().map(|a| a.minutes).sum::<i64>()
}

fn activity(a: &ActivityRow) -> Activity {
    Activity {
        kind: a.kind.clone(),
        title: a.title.clone(),
        summary: a.summary.clone(),
        minutes: a.minutes,
    }
}

/// The course outline with per-section progress for `user_id`.
pub async fn course_overview(
    state: &AppState,
    slug: &str,
    user_id: Option<i64>,
) -> Result<CourseOverview, AppError> {
    let o = Outline::load(state, slug, user_id).await?;
    let c = &o.course;
    let sections = c
        .sections
        .iter()
        .map(|s| {
            let mut items: Vec<(i64, ModuleItem)> = c
                .modules
                .iter()
                .filter(|m| m.section_id == s.id)
                .map(|m| {
                    (
                        m.position,
                        ModuleItem {
                            kind: "module".into(),
                            slug: m.slug.clone(),
                            title: m.title.clone(),
                            minutes: m.minutes,
                            completed: o.is_done(m),
                            locked: o.lock_reason(m),
                            summary: String::new(),
                        },
                    )
                })
                .collect();
            items.extend(c.labs.iter().filter(|l| l.section_id == s.id).map(|l| {
                (
                    l.position,
                    ModuleItem {
                        kind: "lab".into(),
                        slug: l.slug.clone(),
                        title: l.title.clone(),
                        minutes: l.minutes,
                        completed: o.passed.contains(&l.id),
                        locked: None,
                        summary: l.summary.clone(),
                    },
                )
            }));
            // A lab follows the module with the same position (stable sort).
            items.sort_by_key(|(position, _)| *position);
            let modules: Vec<ModuleItem> = items.into_iter().map(|(_, item)| item).collect();
            SectionView {
                slug: s.slug.clone(),
                title: s.title.clone(),
                summary: s.summary.clone(),
                completed: modules.iter().filter(|m| m.completed).count() as i64,
                total: modules.len() as i64,
                modules,
            }
        })
        .collect();
    Ok(CourseOverview {
        slug: c.slug.clone(),
        title: c.title.clone(),
        summary: c.summary.clone(),
        sections,
        exam: c.activities.iter().find(|a| a.kind == "exam").map(activity),
        signed_in: user_id.is_some(),
        completed: o.done_count(),
        total: o.total(),
        minutes: minutes(c),
        continue_to: user_id.and_then(|_| o.continue_to()),
    })
}

/// A module page for `user_id`; a locked module comes without its content.
pub async fn module_page(
    state: &AppState,
    course: &str,
    slug: &str,
    user_id: i64,
) -> Result<ModulePage, AppError> {
    let o = Outline::load(state, course, Some(user_id)).await?;
    let c = &o.course;
    let idx = c
        .modules
        .iter()
        .position(|m| m.slug == slug)
        .ok_or(AppError::NotFound)?;
    let m = &c.modules[idx];
    let f = &c.fragments[idx];
    let locked = o.lock_reason(m);
    let (body_html, practice_html) = if locked.is_some() {
        ("".into(), None)
    } else {
        (
            f.content.clone(),
            (!f.practice.is_empty()).then(|| f.practice.clone()),
        )
    };
    Ok(ModulePage {
        course_slug: c.slug.clone(),
        slug: m.slug.clone(),
        title: m.title.clone(),
        minutes: m.minutes,
        completed: o.is_done(m),
        locked,
        course_completed: o.done_count(),
        course_total: o.total(),
        crumbs_html: f.crumbs.clone(),
        body_html,
        practice_html,
        links_html: f.links.clone(),
    })
}

/// Records (or withdraws) a completion. Locked modules cannot be completed.
pub async fn set_complete(
    state: &AppState,
    course: &str,
    slug: &str,
    user_id: i64,
    complete: bool,
) -> Result<(), AppError> {
    let o = Outline::load(state, course, Some(user_id)).await?;
    let m = o
        .course
        .modules
        .iter()
        .find(|m| m.slug == slug)
        .ok_or(AppError::NotFound)?;
    if complete {
        if o.lock_reason(m).is_some() {
            return Err(AppError::Forbidden);
        }
        sqlx::query(
            "INSERT INTO progress (user_id, module_id, completed_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, module_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(m.id)
        .bind(now_ms())
        .execute(&state.db)
        .await?;
    } else {
        sqlx::query("DELETE FROM progress WHERE user_id = $1 AND module_id = $2")
            .bind(user_id)
            .bind(m.id)
            .execute(&state.db)
            .await?;
    }
    crate::row_cache::PROGRESS.forget(&state.db, user_id);
    Ok(())
}
