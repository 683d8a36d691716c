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
use super::{CourseAbout, StepLink, TocEntry, Video};
use crate::db::Db;
use crate::error::AppError;
use crate::exam::draw::Blueprint;

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
    /// The exam's rules, if it has a blueprint.
    pub blueprint: Option<Blueprint>,
    /// Level, prerequisites, outcomes and who teaches it (from `course.yaml`).
    pub about: CourseAbout,
    /// Every module and lab in the order a learner takes them (see [`walk`]).
    pub walk: Vec<Stop>,
    /// Each module's prebuilt HTML, in the order of `modules`.
    pub fragments: Vec<ModuleFragments>,
}

/// A stop on the way through a course: an index into `Course::modules` or
/// `Course::labs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Module(usize),
    Lab(usize),
}

/// The order a learner takes a course in: section by section, and within a
/// section by position, a lab after the module that shares its position (a lab
/// practises what came before it). The outline, "Next" and "Continue" all
/// follow this one order.
pub fn walk(sections: &[Section], modules: &[Module], labs: &[LabItem]) -> Vec<Stop> {
    let mut out = Vec::with_capacity(modules.len() + labs.len());
    for s in sections {
        // (position, labs after modules, index): a stable order for ties too.
        let mut here: Vec<(i64, u8, Stop)> = modules
            .iter()
            .enumerate()
            .filter(|(_, m)| m.section_id == s.id)
            .map(|(i, m)| (m.position, 0, Stop::Module(i)))
            .chain(
                labs.iter()
                    .enumerate()
                    .filter(|(_, l)| l.section_id == s.id)
                    .map(|(i, l)| (l.position, 1, Stop::Lab(i))),
            )
            .collect();
        here.sort_by_key(|(position, kind, _)| (*position, *kind));
        out.extend(here.into_iter().map(|(_, _, stop)| stop));
    }
    out
}

impl Course {
    /// A link to one stop.
    pub fn step_link(&self, stop: Stop) -> StepLink {
        match stop {
            Stop::Module(i) => {
                let m = &self.modules[i];
                StepLink {
                    kind: "module".into(),
                    slug: m.slug.clone(),
                    title: m.title.clone(),
                    href: format!("/courses/{}/{}", self.slug, m.slug),
                }
            }
            Stop::Lab(i) => {
                let l = &self.labs[i];
                StepLink {
                    kind: "lab".into(),
                    slug: l.slug.clone(),
                    title: l.title.clone(),
                    href: format!("/courses/{}/labs/{}", self.slug, l.slug),
                }
            }
        }
    }

    /// The exam, as the stop after the last module or lab.
    pub fn exam_link(&self) -> Option<StepLink> {
        self.activities
            .iter()
            .find(|a| a.kind == "exam")
            .map(|a| StepLink {
                kind: "exam".into(),
                slug: "exam".into(),
                title: a.title.clone(),
                href: format!("/courses/{}/exam", self.slug),
            })
    }

    /// The stops before and after `stop`; after the last one comes the exam.
    pub fn neighbours(&self, stop: Stop) -> (Option<StepLink>, Option<StepLink>) {
        let Some(at) = self.walk.iter().position(|s| *s == stop) else {
            return (None, None);
        };
        let prev = at.checked_sub(1).map(|i| self.step_link(self.walk[i]));
        let next = match self.walk.get(at + 1) {
            Some(s) => Some(self.step_link(*s)),
            None => self.exam_link(),
        };
        (prev, next)
    }
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
    let blueprints: Vec<(i64, String)> =
        sqlx::query_as("SELECT course_id, spec_json FROM exam_blueprints")
            .fetch_all(db)
            .await?;
    // The about page's fields are read from the course's own `course.yaml`, as
    // stored: the importer has checked them, and no table needs to copy them.
    let course_files: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT course_slug, body FROM content_files WHERE path = 'course.yaml'")
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
                blueprint: None,
                about: CourseAbout::default(),
                walk: Vec::new(),
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
    for (course_id, json) in blueprints {
        if let Some(c) = by_course.get_mut(&course_id) {
            c.blueprint = serde_json::from_str(&json)
                .inspect_err(|e| tracing::warn!(error = %e, "stored blueprint unreadable"))
                .ok();
        }
    }
    for (slug, body) in course_files {
        if let Some(c) = by_course.values_mut().find(|c| c.slug == slug) {
            c.about = about(&body);
        }
    }
    for c in by_course.values_mut() {
        c.walk = walk(&c.sections, &c.modules, &c.labs);
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

/// The about fields of a `course.yaml`; none when it does not parse (the
/// importer has reported why, and the last good course stays published).
pub fn about(course_yaml: &[u8]) -> CourseAbout {
    std::str::from_utf8(course_yaml)
        .ok()
        .and_then(|t| serde_yaml::from_str(t).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(id: i64) -> Section {
        Section {
            id,
            slug: format!("s{id}"),
            title: String::new(),
            summary: String::new(),
        }
    }

    fn module(section_id: i64, position: i64) -> Module {
        Module {
            id: section_id * 100 + position,
            section_id,
            position,
            slug: format!("m{section_id}-{position}"),
            title: String::new(),
            minutes: 1,
            prerequisites: Vec::new(),
            body_html: "".into(),
            toc: Vec::new(),
            video: None,
        }
    }

    fn lab(section_id: i64, position: i64) -> LabItem {
        LabItem {
            id: section_id * 1000 + position,
            section_id,
            position,
            slug: format!("l{section_id}-{position}"),
            title: String::new(),
            summary: String::new(),
            minutes: 1,
        }
    }

    #[test]
    fn a_lab_follows_the_module_it_shares_a_position_with() {
        let sections = [section(2), section(1)];
        let modules = [module(1, 1), module(1, 3), module(1, 4), module(2, 1)];
        let labs = [lab(1, 3), lab(1, 4), lab(2, 0)];
        assert_eq!(
            walk(&sections, &modules, &labs),
            vec![
                // Sections in their own order, not by id.
                Stop::Lab(2),
                Stop::Module(3),
                Stop::Module(0),
                Stop::Module(1),
                Stop::Lab(0),
                Stop::Module(2),
                Stop::Lab(1),
            ]
        );
    }

    #[test]
    fn about_fields_come_from_course_yaml_and_a_bad_file_gives_none() {
        let yaml = b"title: T\nsummary: S\nsections: []\nlevel: Intermediate\noutcomes: [Do a thing]\nspeakers:\n  - name: Ada\n    affiliation: Lab\n    sections: [s1]\nhost:\n  name: Host Inc\n";
        let a = about(yaml);
        assert_eq!(a.level, "Intermediate");
        assert_eq!(a.outcomes, vec!["Do a thing".to_string()]);
        assert_eq!(a.speakers[0].credit(), "Ada (Lab)");
        assert_eq!(a.host.map(|h| h.credit()), Some("Host Inc".to_string()));
        assert_eq!(about(b"title: [unclosed"), CourseAbout::default());
        assert_eq!(about(b"title: T\n"), CourseAbout::default());
    }
}
