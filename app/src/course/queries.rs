//! Reading courses and recording progress.

use std::collections::HashMap;

use super::{
    Activity, CourseCard, CourseOverview, ModuleItem, ModuleLink, ModulePage, SectionView,
    TocEntry, Video,
};
use crate::db::{now_ms, Db};
use crate::error::AppError;

struct Course {
    id: i64,
    slug: String,
    title: String,
    summary: String,
}

struct Section {
    id: i64,
    slug: String,
    title: String,
    summary: String,
}

struct Module {
    id: i64,
    section_id: i64,
    slug: String,
    title: String,
    minutes: i64,
    prerequisites: Vec<String>,
}

/// A course's published structure and one learner's completions.
struct Outline {
    course: Course,
    sections: Vec<Section>,
    /// In reading order: by section, then by module order.
    modules: Vec<Module>,
    /// module id -> completed_at
    completed: HashMap<i64, i64>,
}

impl Outline {
    async fn load(db: &Db, slug: &str, user_id: Option<i64>) -> Result<Outline, AppError> {
        let course: (i64, String, String, String) =
            sqlx::query_as("SELECT id, slug, title, summary FROM courses WHERE slug = $1")
                .bind(slug)
                .fetch_optional(db)
                .await?
                .ok_or(AppError::NotFound)?;
        let course = Course {
            id: course.0,
            slug: course.1,
            title: course.2,
            summary: course.3,
        };
        let sections = sqlx::query_as::<_, (i64, String, String, String)>(
            "SELECT id, slug, title, summary FROM sections WHERE course_id = $1 ORDER BY position, id",
        )
        .bind(course.id)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|(id, slug, title, summary)| Section { id, slug, title, summary })
        .collect();
        let modules = sqlx::query_as::<_, (i64, i64, String, String, i64, String)>(
            "SELECT m.id, m.section_id, m.slug, m.title, m.minutes, m.prerequisites_json
             FROM modules m JOIN sections s ON s.id = m.section_id
             WHERE m.course_id = $1 AND m.published = 1
             ORDER BY s.position, m.position, m.slug",
        )
        .bind(course.id)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|(id, section_id, slug, title, minutes, prereq)| Module {
            id,
            section_id,
            slug,
            title,
            minutes,
            prerequisites: serde_json::from_str(&prereq).unwrap_or_default(),
        })
        .collect();
        let completed = match user_id {
            Some(uid) => sqlx::query_as::<_, (i64, i64)>(
                "SELECT p.module_id, p.completed_at FROM progress p JOIN modules m ON m.id = p.module_id
                 WHERE p.user_id = $1 AND m.course_id = $2",
            )
            .bind(uid)
            .bind(course.id)
            .fetch_all(db)
            .await?
            .into_iter()
            .collect(),
            None => HashMap::new(),
        };
        Ok(Outline {
            course,
            sections,
            modules,
            completed,
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
            .filter_map(|p| self.modules.iter().find(|o| &o.slug == p))
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

    fn link(m: &Module) -> ModuleLink {
        ModuleLink {
            slug: m.slug.clone(),
            title: m.title.clone(),
        }
    }

    /// The next module to read: the first open, unfinished one after the most
    /// recently completed; failing that, the first open, unfinished one.
    fn continue_to(&self) -> Option<ModuleLink> {
        let open = |m: &&Module| !self.is_done(m) && self.lock_reason(m).is_none();
        let latest = self
            .modules
            .iter()
            .enumerate()
            .filter_map(|(i, m)| self.completed.get(&m.id).map(|t| (*t, i)))
            .max()
            .map(|(_, i)| i);
        latest
            .and_then(|i| self.modules.iter().skip(i + 1).find(open))
            .or_else(|| self.modules.iter().find(open))
            .map(Self::link)
    }

    fn done_count(&self) -> i64 {
        self.modules.iter().filter(|m| self.is_done(m)).count() as i64
    }
}

/// Every course with at least one published module, in catalog order.
pub async fn list_courses(db: &Db) -> Result<Vec<CourseCard>, AppError> {
    let rows: Vec<(String, String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT c.slug, c.title, c.summary,
                (SELECT COUNT(*) FROM sections s WHERE s.course_id = c.id),
                (SELECT COUNT(*) FROM modules m WHERE m.course_id = c.id AND m.published = 1),
                CAST((SELECT COALESCE(SUM(m.minutes), 0) FROM modules m WHERE m.course_id = c.id AND m.published = 1)
                  + (SELECT COALESCE(SUM(a.minutes), 0) FROM activities a WHERE a.course_id = c.id) AS BIGINT)
         FROM courses c ORDER BY c.position, c.title",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(slug, title, summary, sections, modules, minutes)| CourseCard {
                slug,
                title,
                summary,
                sections,
                modules,
                minutes,
            },
        )
        .collect())
}

/// The course outline with per-section progress for `user_id`.
pub async fn course_overview(
    db: &Db,
    slug: &str,
    user_id: Option<i64>,
) -> Result<CourseOverview, AppError> {
    let o = Outline::load(db, slug, user_id).await?;
    let activities: Vec<(Option<i64>, String, String, String, i64)> = sqlx::query_as(
        "SELECT section_id, kind, title, summary, minutes FROM activities WHERE course_id = $1 ORDER BY position, id",
    )
    .bind(o.course.id)
    .fetch_all(db)
    .await?;
    let to_activity =
        |(_, kind, title, summary, minutes): &(Option<i64>, String, String, String, i64)| {
            Activity {
                kind: kind.clone(),
                title: title.clone(),
                summary: summary.clone(),
                minutes: *minutes,
            }
        };
    let sections = o
        .sections
        .iter()
        .map(|s| {
            let modules: Vec<ModuleItem> = o
                .modules
                .iter()
                .filter(|m| m.section_id == s.id)
                .map(|m| ModuleItem {
                    slug: m.slug.clone(),
                    title: m.title.clone(),
                    minutes: m.minutes,
                    completed: o.is_done(m),
                    locked: o.lock_reason(m),
                })
                .collect();
            SectionView {
                slug: s.slug.clone(),
                title: s.title.clone(),
                summary: s.summary.clone(),
                completed: modules.iter().filter(|m| m.completed).count() as i64,
                total: modules.len() as i64,
                modules,
                labs: activities
                    .iter()
                    .filter(|a| a.0 == Some(s.id) && a.1 == "lab")
                    .map(to_activity)
                    .collect(),
            }
        })
        .collect();
    let exam = activities.iter().find(|a| a.1 == "exam").map(to_activity);
    let minutes = o.modules.iter().map(|m| m.minutes).sum::<i64>()
        + activities.iter().map(|a| a.4).sum::<i64>();
    Ok(CourseOverview {
        slug: o.course.slug.clone(),
        title: o.course.title.clone(),
        summary: o.course.summary.clone(),
        sections,
        exam,
        signed_in: user_id.is_some(),
        completed: o.done_count(),
        total: o.modules.len() as i64,
        minutes,
        continue_to: user_id.and_then(|_| o.continue_to()),
    })
}

/// A module page for `user_id`; a locked module comes without its content.
pub async fn module_page(
    db: &Db,
    course: &str,
    slug: &str,
    user_id: i64,
) -> Result<ModulePage, AppError> {
    let o = Outline::load(db, course, Some(user_id)).await?;
    let idx = o
        .modules
        .iter()
        .position(|m| m.slug == slug)
        .ok_or(AppError::NotFound)?;
    let m = &o.modules[idx];
    let locked = o.lock_reason(m);
    let (body_html, toc, video) = if locked.is_some() {
        (String::new(), Vec::new(), None)
    } else {
        let (body, toc_json, video_json): (String, String, Option<String>) =
            sqlx::query_as("SELECT body_html, toc_json, video_json FROM modules WHERE id = $1")
                .bind(m.id)
                .fetch_one(db)
                .await?;
        let toc: Vec<TocEntry> = serde_json::from_str(&toc_json).unwrap_or_default();
        let video: Option<Video> = video_json.and_then(|v| serde_json::from_str(&v).ok());
        (body, toc, video)
    };
    let section_title = o
        .sections
        .iter()
        .find(|s| s.id == m.section_id)
        .map(|s| s.title.clone())
        .unwrap_or_default();
    Ok(ModulePage {
        course_slug: o.course.slug.clone(),
        course_title: o.course.title.clone(),
        section_title,
        slug: m.slug.clone(),
        title: m.title.clone(),
        minutes: m.minutes,
        video,
        body_html,
        toc,
        completed: o.is_done(m),
        locked,
        prev: idx.checked_sub(1).map(|i| Outline::link(&o.modules[i])),
        next: o.modules.get(idx + 1).map(Outline::link),
        course_completed: o.done_count(),
        course_total: o.modules.len() as i64,
    })
}

/// Records (or withdraws) a completion. Locked modules cannot be completed.
pub async fn set_complete(
    db: &Db,
    course: &str,
    slug: &str,
    user_id: i64,
    complete: bool,
) -> Result<(), AppError> {
    let o = Outline::load(db, course, Some(user_id)).await?;
    let m = o
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
        .execute(db)
        .await?;
    } else {
        sqlx::query("DELETE FROM progress WHERE user_id = $1 AND module_id = $2")
            .bind(user_id)
            .bind(m.id)
            .execute(db)
            .await?;
    }
    Ok(())
}
