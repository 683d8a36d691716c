//! Courses: the catalog, each course's overview, module pages and progress.

#[cfg(feature = "ssr")]
pub mod fragments;
#[cfg(feature = "ssr")]
pub mod generated;
pub mod highlight;
#[cfg(feature = "ssr")]
pub mod import;
#[cfg(feature = "ssr")]
pub mod markdown;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod published;
#[cfg(feature = "ssr")]
pub mod queries;
#[cfg(feature = "ssr")]
pub mod sync;
#[cfg(feature = "ssr")]
pub mod vtt;

use std::sync::Arc;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A course as the catalog lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseCard {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub sections: i64,
    pub modules: i64,
    /// Published labs, counted apart from modules: the catalog and the course
    /// page say "21 modules · 6 labs" alike.
    pub labs: i64,
    pub has_exam: bool,
    pub minutes: i64,
    /// Level, outcomes and who teaches it, from `course.yaml`.
    pub about: CourseAbout,
}

/// Someone the course credits: a speaker (with the sections they teach) or
/// the masterclass's host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub name: String,
    /// Where they work, as the course credits them.
    #[serde(default)]
    pub affiliation: String,
    /// Slugs of the sections they teach.
    #[serde(default)]
    pub sections: Vec<String>,
    /// One line on their part in the course.
    #[serde(default)]
    pub role: String,
}

impl Person {
    /// "Name (Affiliation)", or the name alone.
    pub fn credit(&self) -> String {
        if self.affiliation.is_empty() {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, self.affiliation)
        }
    }
}

/// What a course's about page says beyond its outline, as `course.yaml`
/// gives it (every field optional): a visitor reads it before signing up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CourseAbout {
    /// "Introductory", "Intermediate", …
    #[serde(default)]
    pub level: String,
    /// What a learner should know before starting.
    #[serde(default)]
    pub prerequisites: Vec<String>,
    /// What a learner will be able to do at the end.
    #[serde(default)]
    pub outcomes: Vec<String>,
    #[serde(default)]
    pub speakers: Vec<Person>,
    #[serde(default)]
    pub host: Option<Person>,
}

/// The exam's rules as its blueprint sets them, readable before signing up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamRules {
    pub questions: i64,
    pub time_limit_seconds: i64,
    pub pass_mark_percent: f64,
    pub attempts_allowed: i64,
    pub cooldown_minutes: i64,
    /// Required modules and labs, by title, in course order ("Lab: …" for labs).
    pub required: Vec<String>,
    pub required_modules: i64,
    pub required_labs: i64,
    /// Whether every published module (lab) is required: then the page says
    /// "all 21 modules" instead of listing them.
    pub every_module: bool,
    pub every_lab: bool,
    /// How long a certificate stays valid; `None`: it does not expire.
    pub certificate_valid_months: Option<i64>,
    pub opens_at: Option<String>,
    pub closes_at: Option<String>,
}

/// A lab or the exam, as the overview describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub kind: String,
    pub title: String,
    pub summary: String,
    pub minutes: i64,
}

/// A module or a lab in a course outline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleItem {
    /// `module` or `lab`.
    pub kind: String,
    pub slug: String,
    pub title: String,
    pub href: String,
    pub minutes: i64,
    pub completed: bool,
    /// Why the module cannot be opened yet, if it cannot.
    pub locked: Option<String>,
    /// What a lab is about (empty for modules: their titles say it).
    pub summary: String,
}

/// A section of a course outline with the learner's progress in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionView {
    pub slug: String,
    pub title: String,
    pub summary: String,
    /// Modules and labs, in the order the section takes them.
    pub modules: Vec<ModuleItem>,
    pub completed: i64,
    pub total: i64,
    /// Of which labs: the progress line counts modules and labs apart.
    pub labs_completed: i64,
    pub labs_total: i64,
    /// Who teaches the section, as "Name (Affiliation)".
    pub speakers: Vec<String>,
}

/// A stop on the way through a course: a module, a lab, or (after the last of
/// them) the exam.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepLink {
    /// `module`, `lab` or `exam`.
    pub kind: String,
    pub slug: String,
    pub title: String,
    pub href: String,
}

impl StepLink {
    /// The title as links show it: a lab says it is one.
    pub fn label(&self) -> String {
        if self.kind == "lab" {
            format!("Lab: {}", self.title)
        } else {
            self.title.clone()
        }
    }
}

/// The stops before and after a lab, for its page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabWay {
    pub prev: Option<StepLink>,
    pub next: Option<StepLink>,
}

/// A learner's standing in a course after marking a module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    pub completed: bool,
    pub course_completed: i64,
    pub labs_completed: i64,
}

/// Everything the course overview page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseOverview {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub about: CourseAbout,
    pub sections: Vec<SectionView>,
    pub exam: Option<Activity>,
    pub exam_rules: Option<ExamRules>,
    pub signed_in: bool,
    /// Modules completed plus labs passed, of all modules and labs.
    pub completed: i64,
    pub total: i64,
    pub labs_completed: i64,
    pub labs_total: i64,
    /// The whole course: modules, labs and exam.
    pub minutes: i64,
    pub module_minutes: i64,
    pub lab_minutes: i64,
    /// Where "continue where you left off" goes (a module or a lab); `None`
    /// when all is done.
    pub continue_to: Option<StepLink>,
}

/// One entry of a module's table of contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TocEntry {
    pub level: i32,
    pub id: String,
    pub text: String,
}

/// One caption cue, for the transcript under a self-hosted video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cue {
    pub start_ms: i64,
    pub text: String,
}

/// A module's video: only these providers, or a file from the course's media.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Video {
    YouTube {
        id: String,
    },
    Vimeo {
        id: String,
    },
    File {
        src: String,
        captions: Option<String>,
        language: String,
        transcript: Vec<Cue>,
    },
}

/// Everything a module page shows. What is the same for every learner comes as
/// HTML prebuilt when the catalog loads (`fragments`); the rest is this
/// learner's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModulePage {
    pub course_slug: String,
    pub slug: String,
    pub title: String,
    pub minutes: i64,
    pub completed: bool,
    pub locked: Option<String>,
    pub course_completed: i64,
    pub course_total: i64,
    /// Of which labs: the progress line counts modules and labs apart.
    pub labs_completed: i64,
    pub labs_total: i64,
    /// The stop after this module, offered once it is complete.
    pub next: Option<StepLink>,
    /// The breadcrumb's links: catalog, course, section.
    pub crumbs_html: Arc<str>,
    /// Video, table of contents and body; empty while the module is locked.
    pub body_html: Arc<str>,
    /// The labs that practise this module; `None` when none do, or it is
    /// locked. After hydration `Some` of an empty text: the box is on the page.
    pub practice_html: Option<Arc<str>>,
    /// The links to the stops before and after it (modules and labs).
    pub links_html: Arc<str>,
}

/// How a module page travels inside its server-rendered HTML: only the
/// learner's part, as a JSON array. The page already holds the prebuilt HTML,
/// hydration leaves server-rendered inner HTML as it is, and it would otherwise
/// be sent twice, the second time escaped three times over (JSON, then `<`,
/// then a JavaScript string). A page loaded later, by navigating in the
/// browser, comes whole from the server function.
pub struct PageWithoutBody;

/// The learner's part of a [`ModulePage`], and whether the page has the
/// practice box (hydration must build the same elements the server did).
#[derive(Serialize, Deserialize)]
struct LearnerPart {
    course_slug: String,
    slug: String,
    title: String,
    minutes: i64,
    completed: bool,
    locked: Option<String>,
    course_completed: i64,
    course_total: i64,
    labs_completed: i64,
    labs_total: i64,
    next: Option<StepLink>,
    practice: bool,
}

impl leptos::server::codee::Encoder<Result<ModulePage, AppError>> for PageWithoutBody {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(page: &Result<ModulePage, AppError>) -> Result<String, serde_json::Error> {
        let learner = page.as_ref().map(|p| LearnerPart {
            course_slug: p.course_slug.clone(),
            slug: p.slug.clone(),
            title: p.title.clone(),
            minutes: p.minutes,
            completed: p.completed,
            locked: p.locked.clone(),
            course_completed: p.course_completed,
            course_total: p.course_total,
            labs_completed: p.labs_completed,
            labs_total: p.labs_total,
            next: p.next.clone(),
            practice: p.practice_html.is_some(),
        });
        serde_json::to_string(&learner)
    }
}

impl leptos::server::codee::Decoder<Result<ModulePage, AppError>> for PageWithoutBody {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(text: &str) -> Result<Result<ModulePage, AppError>, serde_json::Error> {
        let learner: Result<LearnerPart, AppError> = serde_json::from_str(text)?;
        let none: Arc<str> = Arc::from("");
        Ok(learner.map(|l| ModulePage {
            course_slug: l.course_slug,
            slug: l.slug,
            title: l.title,
            minutes: l.minutes,
            completed: l.completed,
            locked: l.locked,
            course_completed: l.course_completed,
            course_total: l.course_total,
            labs_completed: l.labs_completed,
            labs_total: l.labs_total,
            next: l.next,
            crumbs_html: none.clone(),
            body_html: none.clone(),
            practice_html: l.practice.then(|| none.clone()),
            links_html: none,
        }))
    }
}

/// Every published course.
#[server(endpoint = "courses/list")]
pub async fn list_courses() -> Result<Vec<CourseCard>, AppError> {
    crate::error::ssr::with_status(
        async move {
            let state = crate::state::app_state()?;
            queries::list_courses(&state).await
        }
        .await,
    )
}

/// A course's outline, with the signed-in learner's progress.
#[server(endpoint = "courses/overview")]
pub async fn get_course_overview(course: String) -> Result<CourseOverview, AppError> {
    crate::error::ssr::with_status(
        async move {
            let state = crate::state::app_state()?;
            let user = crate::auth::session::current_user().await?;
            queries::course_overview(&state, &course, user.as_ref().map(|u| u.id)).await
        }
        .await,
    )
}

/// A module's content; signed-in learners only.
#[server(endpoint = "courses/module")]
pub async fn get_module_page(course: String, module: String) -> Result<ModulePage, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            queries::module_page(&state, &course, &module, user.id).await
        }
        .await,
    )
}

/// Marks a module complete (or not) for the signed-in learner. A form posted
/// without JavaScript comes back to the form itself (`#complete`), so the
/// learner keeps their place and sees the confirmation; with JavaScript the
/// page updates in place from the answer and does not move.
#[server(endpoint = "courses/complete")]
pub async fn set_module_complete(
    course: String,
    module: String,
    complete: bool,
) -> Result<Completion, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            let done = queries::set_complete(&state, &course, &module, user.id, complete).await?;
            // A browser's own form post asks for HTML; the server-function
            // client never does (and would follow a redirect by navigating).
            let headers: axum::http::HeaderMap = leptos_axum::extract().await.unwrap_or_default();
            let from_form = headers
                .get(axum::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("text/html"));
            if from_form {
                leptos_axum::redirect(&format!("/courses/{course}/{module}#complete"));
            }
            Ok(done)
        }
        .await,
    )
}

/// The stops before and after a lab, in course order. The outline is public,
/// so is this.
#[server(endpoint = "courses/lab-way")]
pub async fn get_lab_way(course: String, lab: String) -> Result<LabWay, AppError> {
    crate::error::ssr::with_status(
        async move {
            let state = crate::state::app_state()?;
            queries::lab_way(&state, &course, &lab).await
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use leptos::server::codee::{Decoder, Encoder};

    #[test]
    fn a_page_travels_without_its_prebuilt_html() {
        let page = ModulePage {
            course_slug: "c".into(),
            slug: "m".into(),
            title: "A \"quoted\" <title>".into(),
            minutes: 12,
            completed: true,
            locked: Some("Complete the intro first.".into()),
            course_completed: 3,
            course_total: 9,
            labs_completed: 1,
            labs_total: 2,
            next: Some(StepLink {
                kind: "lab".into(),
                slug: "l".into(),
                title: "Lab <one>".into(),
                href: "/courses/c/labs/l".into(),
            }),
            crumbs_html: "<a>crumbs</a>".into(),
            body_html: "<p>body</p>".into(),
            practice_html: Some("<a>lab</a>".into()),
            links_html: "<a>next</a>".into(),
        };
        let text = PageWithoutBody::encode(&Ok(page.clone())).unwrap();
        assert!(!text.contains("body") && !text.contains("crumbs"), "{text}");
        let blank: Arc<str> = Arc::from("");
        let expected = ModulePage {
            crumbs_html: blank.clone(),
            body_html: blank.clone(),
            practice_html: Some(blank.clone()),
            links_html: blank,
            ..page
        };
        assert_eq!(
            PageWithoutBody::decode(&text).unwrap(),
            Ok(expected.clone())
        );
        // A page without the practice box hydrates without it.
        let bare = ModulePage {
            practice_html: None,
            ..expected
        };
        let text = PageWithoutBody::encode(&Ok(bare.clone())).unwrap();
        assert_eq!(PageWithoutBody::decode(&text).unwrap(), Ok(bare));

        let err = PageWithoutBody::encode(&Err(AppError::NotFound)).unwrap();
        assert_eq!(
            PageWithoutBody::decode(&err).unwrap(),
            Err(AppError::NotFound)
        );
    }
}
