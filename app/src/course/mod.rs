//! Courses: the catalog, each course's overview, module pages and progress.

#[cfg(feature = "ssr")]
pub mod fragments;
#[cfg(feature = "ssr")]
pub mod generated;
#[cfg(feature = "ssr")]
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
    pub minutes: i64,
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
}

/// A link to a module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleLink {
    pub slug: String,
    pub title: String,
}

/// Everything the course overview page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseOverview {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub sections: Vec<SectionView>,
    pub exam: Option<Activity>,
    pub signed_in: bool,
    pub completed: i64,
    pub total: i64,
    pub minutes: i64,
    /// Where "continue where you left off" goes; `None` when all is done.
    pub continue_to: Option<ModuleLink>,
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
    /// The breadcrumb's links: catalog, course, section.
    pub crumbs_html: Arc<str>,
    /// Video, table of contents and body; empty while the module is locked.
    pub body_html: Arc<str>,
    /// The labs that practise this module; `None` when none do, or it is
    /// locked. After hydration `Some` of an empty text: the box is on the page.
    pub practice_html: Option<Arc<str>>,
    /// The links to the previous and next modules.
    pub links_html: Arc<str>,
}

/// How a module page travels inside its server-rendered HTML: only the
/// learner's part, as a JSON array. The page already holds the prebuilt HTML,
/// hydration leaves server-rendered inner HTML as it is, and it would otherwise
/// be sent twice, the second time escaped three times over (JSON, then `<`,
/// then a JavaScript string). A page loaded later, by navigating in the
/// browser, comes whole from the server function.
pub struct PageWithoutBody;

/// The learner's part of a [`ModulePage`], in field order, and whether the page
/// has the practice box (hydration must build the same elements the server did).
type LearnerPart = (
    String,
    String,
    String,
    i64,
    bool,
    Option<String>,
    i64,
    i64,
    bool,
);

impl leptos::server::codee::Encoder<Result<ModulePage, AppError>> for PageWithoutBody {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(page: &Result<ModulePage, AppError>) -> Result<String, serde_json::Error> {
        let learner = page.as_ref().map(|p| {
            (
                &p.course_slug,
                &p.slug,
                &p.title,
                p.minutes,
                p.completed,
                &p.locked,
                p.course_completed,
                p.course_total,
                p.practice_html.is_some(),
            )
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
            course_slug: l.0,
            slug: l.1,
            title: l.2,
            minutes: l.3,
            completed: l.4,
            locked: l.5,
            course_completed: l.6,
            course_total: l.7,
            crumbs_html: none.clone(),
            body_html: none.clone(),
            practice_html: l.8.then(|| none.clone()),
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

/// Marks a module complete (or not) for the signed-in learner.
#[server(endpoint = "courses/complete")]
pub async fn set_module_complete(
    course: String,
    module: String,
    complete: bool,
) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            queries::set_complete(&state, &course, &module, user.id, complete).await
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
