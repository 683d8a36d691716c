//! The published courses, held in memory.
//!
//! Course structure and module bodies change only on import or an author's
//! edit, while every page view reads them. Keeping them here leaves a module
//! page with one query of its own (the learner's progress) instead of one per
//! table. Each instance reloads at most [`FRESH_FOR`] after its last load, so
//! a change made through another instance or the command line shows within
//! that time; a change made through this instance calls
//! [`Published::invalidate`] and shows at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::fragments::ModuleFragments;
use super::{TocEntry, Video};
use crate::db::Db;
use crate::error::AppError;

/// How long a loaded catalog is served before the next request reloads it.
pub const FRESH_FOR: Duration = Duration::from_secs(2);

/// Every course, in catalog order.
pub struct Catalog {
    pub courses: Vec<Arc<Course>>,
}

impl Catalog {
    /// The course with this slug.
    pub fn course(&self, slug: &str) -> Result<Arc<Course>, AppError> {
        self.courses
            .iter()
            .find(|c| c.slug == slug)
            .cloned()
            .ok_or(AppError::NotFound)
    }
}

/// A course with its sections, published modules and activities.
pub struct Course {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub summary: String,
    /// In position order.
    pub sections: Vec<Section>,
    /// Published modules in reading order: by section, then by module order.
    pub modules: Vec<Module>,
    /// Published labs in reading order: by section, then by position.
    pub labs: Vec<LabItem>,
    /// The exam, if the course has one.
    pub activities: Vec<ActivityRow>,
    /// Each module's prebuilt HTML, in the order of `modules`.
    pub fragments: Vec<ModuleFragments>,
}

pub struct Section {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub summary: String,
}

pub struct Module {
    pub id: i64,
    pub section_id: i64,
    /// Order within the section, shared with the section's labs.
    pub position: i64,
    pub slug: String,
    pub title: String,
    pub minutes: i64,
    pub prerequisites: Vec<String>,
    /// Rendered and sanitized at import; module pages share it.
    pub body_html: Arc<str>,
    pub toc: Vec<TocEntry>,
    pub video: Option<Video>,
}

impl Module {
    /// A link to this module.
    pub fn link(&self) -> super::ModuleLink {
        super::ModuleLink {
            slug: self.slug.clone(),
            title: self.title.clone(),
        }
    }
}

/// A lab as the outline lists it.
pub struct LabItem {
    pub id: i64,
    pub section_id: i64,
    pub position: i64,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub minutes: i64,
}

pub struct ActivityRow {
    pub section_id: Option<i64>,
    pub kind: String,
    pub title: String,
    pub summary: String,
    pub minutes: i64,
}

/// The cache itself, shared by every request of one instance.
#[derive(Default)]
pub struct Published {
    current: RwLock<Option<(Instant, Arc<Catalog>)>>,
    /// Held while loading, so a burst of requests after expiry loads once.
    loading: tokio::sync::Mutex<()>,
    /// Moved by every invalidation: a load that began before it keeps nothing.
    generation: AtomicU64,
}

impl Published {
    /// The catalog, from memory when fresh, else from the database. Once it
    /// is stale, one request reloads it while the others go on with the old
    /// one, so a reload never holds up every request at once.
    pub async fn get(&self, db: &Db) -> Result<Arc<Catalog>, AppError> {
        if let Some((at, old)) = self.current() {
            if at.elapsed() < FRESH_FOR {
                return Ok(old);
            }
            let Ok(_loading) = self.loading.try_lock() else {
                return Ok(old);
            };
            return Ok(self.load_and_keep(db).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reloading the published courses failed; serving the previous load");
                old
            }));
        }
        let _loading = self.loading.lock().await;
        // Another request may have loaded it while this one waited.
        if let Some((_, c)) = self.current() {
            return Ok(c);
        }
        self.load_and_keep(db).await
    }

    /// Forgets the loaded catalog: the next request reads the database.
    pub fn invalidate(&self) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        *current = None;
    }

    fn current(&self) -> Option<(Instant, Arc<Catalog>)> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the catalog and keeps it, unless it was invalidated meanwhile.
    async fn load_and_keep(&self, db: &Db) -> Result<Arc<Catalog>, AppError> {
        let generation = self.generation.load(Ordering::SeqCst);
        let catalog = Arc::new(load(db).await?);
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::SeqCst) == generation {
            *current = Some((Instant::now(), catalog.clone()));
        }
        Ok(catalog)
    }
}

type ModuleRow = (
    i64,
    i64,
    i64,
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    Option<String>,
);

type LabRow = (i64, i64, i64, i64, String, String, String, i64);

async fn load(db: &Db) -> Result<Catalog, AppError> {
    let courses: Vec<(i64, String, String, String)> =
        sqlx::query_as("SELECT id, slug, title, summary FROM courses ORDER BY position, title")
            .fetch_all(db)
            .await?;
    let sections: Vec<(i64, i64, String, String, String)> = sqlx::query_as(
        "SELECT id, course_id, slug, title, summary FROM sections ORDER BY position, id",
    )
    .fetch_all(db)
    .await?;
    let modules: Vec<ModuleRow> = sqlx::query_as(
        "SELECT m.id, m.course_id, m.section_id, m.position, m.slug, m.title, m.minutes, m.prerequisites_json,
                m.body_html, m.toc_json, m.video_json
         FROM modules m JOIN sections s ON s.id = m.section_id
         WHERE m.published = 1
         ORDER BY s.position, m.position, m.slug",
    )
    .fetch_all(db)
    .await?;
    let labs: Vec<LabRow> = sqlx::query_as(
        "SELECT l.id, l.course_id, l.section_id, l.position, l.slug, l.title, l.summary, l.minutes
         FROM labs l JOIN sections s ON s.id = l.section_id
         WHERE l.published = 1
         ORDER BY s.position, l.position, l.slug",
    )
    .fetch_all(db)
    .await?;
    let activities: Vec<(i64, Option<i64>, String, String, String, i64)> = sqlx::query_as(
        "SELECT course_id, section_id, kind, title, summary, minutes FROM activities ORDER BY position, id",
    )
    .fetch_all(db)
    .await?;

    let mut by_course: HashMap<i64, Course> = HashMap::new();
    let mut order = Vec::with_capacity(courses.len());
    for (id, slug, title, summary) in courses {
        order.push(id);
        by_course.insert(
            id,
            Course {
                id,
                slug,
                title,
                summary,
                sections: Vec::new(),
                modules: Vec::new(),
                labs: Vec::new(),
                activities: Vec::new(),
                fragments: Vec::new(),
            },
        );
    }
    for (id, course_id, slug, title, summary) in sections {
        if let Some(c) = by_course.get_mut(&course_id) {
            c.sections.push(Section {
                id,
                slug,
                title,
                summary,
            });
        }
    }
    for (
        id,
        course_id,
        section_id,
        position,
        slug,
        title,
        minutes,
        prereq,
        body_html,
        toc,
        video,
    ) in modules
    {
        if let Some(c) = by_course.get_mut(&course_id) {
            // These columns are written by the importer from validated values.
            c.modules.push(Module {
                id,
                section_id,
                position,
                slug,
                title,
                minutes,
                prerequisites: serde_json::from_str(&prereq).unwrap_or_default(),
                body_html: body_html.into(),
                toc: serde_json::from_str(&toc).unwrap_or_default(),
                video: video.and_then(|v| serde_json::from_str(&v).ok()),
            });
        }
    }
    for (id, course_id, section_id, position, slug, title, summary, minutes) in labs {
        if let Some(c) = by_course.get_mut(&course_id) {
            c.labs.push(LabItem {
                id,
                section_id,
                position,
                slug,
                title,
                summary,
                minutes,
            });
        }
    }
    for (course_id, section_id, kind, title, summary, minutes) in activities {
        if let Some(c) = by_course.get_mut(&course_id) {
            c.activities.push(ActivityRow {
                section_id,
                kind,
                title,
                summary,
                minutes,
            });
        }
    }
    for c in by_course.values_mut() {
        c.fragments = (0..c.modules.len())
            .map(|i| super::fragments::module(c, i))
            .collect();
    }
    Ok(Catalog {
        courses: order
            .into_iter()
            .filter_map(|id| by_course.remove(&id).map(Arc::new))
            .collect(),
    })
}
