//! Reading courses and recording progress.

use std::collections::HashMap;
use std::sync::Arc;

use super::published::{ActivityRow, Course, Module, Stop};
use super::{
    Activity, Completion, CourseCard, CourseOverview, ExamRules, LabWay, ModuleItem, ModulePage,
    SectionView, StepLink,
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
    /// lab id -> passed_at
    passed: HashMap<i64, i64>,
}

impl Outline {
    async fn load(state: &AppState, slug: &str, user_id: Option<i64>) -> Result<Outline, AppError> {
        let course = state.published.get(&state.db).await?.course(slug)?;
        let mut completed = HashMap::new();
        let mut passed = HashMap::new();
        if let Some(uid) = user_id {
            let rows = progress(&state.db, uid).await?;
            // Progress in other courses (and in unpublished modules) does not count here.
            for &(kind, id, at) in rows.iter() {
                if kind == 0 && course.modules.iter().any(|m| m.id == id) {
                    completed.insert(id, at);
                } else if kind == 1 && course.labs.iter().any(|l| l.id == id) {
                    passed.insert(id, at);
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

    /// When the learner finished a stop, if they have.
    fn done_at(&self, stop: Stop) -> Option<i64> {
        match stop {
            Stop::Module(i) => self.completed.get(&self.course.modules[i].id).copied(),
            Stop::Lab(i) => self.passed.get(&self.course.labs[i].id).copied(),
        }
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

    /// Whether a stop can be taken now and is not done yet. Labs have no
    /// prerequisites.
    fn open(&self, stop: Stop) -> bool {
        self.done_at(stop).is_none()
            && match stop {
                Stop::Module(i) => self.lock_reason(&self.course.modules[i]).is_none(),
                Stop::Lab(_) => true,
            }
    }

    /// The next stop, in course order and labs included: the first open,
    /// unfinished one after the most recently finished; failing that, the
    /// first open, unfinished one.
    fn continue_to(&self) -> Option<StepLink> {
        let walk = &self.course.walk;
        let latest = walk
            .iter()
            .enumerate()
            .filter_map(|(i, s)| self.done_at(*s).map(|t| (t, i)))
            .max()
            .map(|(_, i)| i);
        latest
            .and_then(|i| walk.iter().skip(i + 1).find(|s| self.open(**s)))
            .or_else(|| walk.iter().find(|s| self.open(**s)))
            .map(|s| self.course.step_link(*s))
    }

    /// Modules completed plus labs passed.
    fn done_count(&self) -> i64 {
        (self.completed.len() + self.passed.len()) as i64
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
            labs: c.labs.len() as i64,
            has_exam: c.activities.iter().any(|a| a.kind == "exam"),
            minutes: minutes(c),
            about: c.about.clone(),
        })
        .collect())
}

/// A course's length: its published modules, labs and exam.
fn minutes(c: &Course) -> i64 {
    c.modules.iter().map(|m| m.minutes).sum::<i64>()
        + c.labs.iter().map(|l| l.minutes).sum::<i64>()
        + exam_minutes(c)
}

/// The exam's length: its blueprint's time limit, else what `course.yaml` says.
fn exam_minutes(c: &Course) -> i64 {
    match &c.blueprint {
        Some(b) if c.activities.iter().any(|a| a.kind == "exam") => {
            (b.time_limit_ms() / 60_000).max(1)
        }
        _ => c.activities.iter().map(|a| a.minutes).sum(),
    }
}

fn activity(a: &ActivityRow) -> Activity {
    Activity {
        kind: a.kind.clone(),
        title: a.title.clone(),
        summary: a.summary.clone(),
        minutes: a.minutes,
    }
}

/// The exam's rules from its blueprint, with the modules and labs it requires
/// named as the outline names them.
fn exam_rules(c: &Course) -> Option<ExamRules> {
    let b = c.blueprint.as_ref()?;
    let e = &b.eligibility;
    let mut required = Vec::new();
    let (mut modules, mut labs) = (0, 0);
    for stop in &c.walk {
        match *stop {
            Stop::Module(i) if e.modules_completed.contains(&c.modules[i].slug) => {
                modules += 1;
                required.push(c.modules[i].title.clone());
            }
            Stop::Lab(i)
                if e.labs_passed
                    .iter()
                    .any(|l| *l == c.labs[i].slug || *l == c.labs[i].title) =>
            {
                labs += 1;
                required.push(format!("Lab: {}", c.labs[i].title));
            }
            _ => {}
        }
    }
    Some(ExamRules {
        questions: b.total(),
        time_limit_seconds: b.time_limit_ms() / 1000,
        pass_mark_percent: b.pass_mark_percent,
        attempts_allowed: b.attempts_allowed,
        cooldown_minutes: b.cooldown_minutes,
        required,
        required_modules: modules,
        required_labs: labs,
        every_module: modules > 0 && modules == c.modules.len() as i64,
        every_lab: labs > 0 && labs == c.labs.len() as i64,
        certificate_valid_months: b.certificate_valid_months,
        opens_at: b.opens_at.clone(),
        closes_at: b.closes_at.clone(),
    })
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
            let modules: Vec<ModuleItem> = c
                .walk
                .iter()
                .filter_map(|stop| {
                    let link = c.step_link(*stop);
                    let done = o.done_at(*stop).is_some();
                    match *stop {
                        Stop::Module(i) if c.modules[i].section_id == s.id => {
                            let m = &c.modules[i];
                            Some(ModuleItem {
                                kind: link.kind,
                                slug: link.slug,
                                title: link.title,
                                href: link.href,
                                minutes: m.minutes,
                                completed: done,
                                locked: o.lock_reason(m),
                                summary: String::new(),
                            })
                        }
                        Stop::Lab(i) if c.labs[i].section_id == s.id => {
                            let l = &c.labs[i];
                            Some(ModuleItem {
                                kind: link.kind,
                                slug: link.slug,
                                title: link.title,
                                href: link.href,
                                minutes: l.minutes,
                                completed: done,
                                locked: None,
                                summary: l.summary.clone(),
                            })
                        }
                        _ => None,
                    }
                })
                .collect();
            let labs: Vec<&ModuleItem> = modules.iter().filter(|m| m.kind == "lab").collect();
            SectionView {
                slug: s.slug.clone(),
                title: s.title.clone(),
                summary: s.summary.clone(),
                completed: modules.iter().filter(|m| m.completed).count() as i64,
                total: modules.len() as i64,
                labs_completed: labs.iter().filter(|m| m.completed).count() as i64,
                labs_total: labs.len() as i64,
                speakers: c
                    .about
                    .speakers
                    .iter()
                    .filter(|p| p.sections.contains(&s.slug))
                    .map(|p| p.credit())
                    .collect(),
                modules,
            }
        })
        .collect();
    Ok(CourseOverview {
        slug: c.slug.clone(),
        title: c.title.clone(),
        summary: c.summary.clone(),
        about: c.about.clone(),
        sections,
        exam: c.activities.iter().find(|a| a.kind == "exam").map(activity),
        exam_rules: exam_rules(c),
        signed_in: user_id.is_some(),
        completed: o.done_count(),
        total: o.total(),
        labs_completed: o.passed.len() as i64,
        labs_total: c.labs.len() as i64,
        minutes: minutes(c),
        module_minutes: c.modules.iter().map(|m| m.minutes).sum(),
        lab_minutes: c.labs.iter().map(|l| l.minutes).sum(),
        continue_to: user_id.and_then(|_| o.continue_to()),
    })
}

/// The stops before and after a lab.
pub async fn lab_way(state: &AppState, course: &str, lab: &str) -> Result<LabWay, AppError> {
    let c = state.published.get(&state.db).await?.course(course)?;
    let idx = c
        .labs
        .iter()
        .position(|l| l.slug == lab)
        .ok_or(AppError::NotFound)?;
    let (prev, next) = c.neighbours(Stop::Lab(idx));
    Ok(LabWay { prev, next })
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
    let (_, next) = c.neighbours(Stop::Module(idx));
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
        labs_completed: o.passed.len() as i64,
        labs_total: c.labs.len() as i64,
        next,
        crumbs_html: f.crumbs.clone(),
        body_html,
        practice_html,
        links_html: f.links.clone(),
    })
}

/// Records (or withdraws) a completion, and says where the learner now stands.
/// Locked modules cannot be completed.
pub async fn set_complete(
    state: &AppState,
    course: &str,
    slug: &str,
    user_id: i64,
    complete: bool,
) -> Result<Completion, AppError> {
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
    let now = Outline::load(state, course, Some(user_id)).await?;
    Ok(Completion {
        completed: complete,
        course_completed: now.done_count(),
        labs_completed: now.passed.len() as i64,
    })
}
