//! Hands-on labs: the lab page with its editors, runs through a fair queue,
//! live progress, graded results with charts, and the run's data to query.

pub mod chart;
pub mod editor;
#[cfg(feature = "ssr")]
pub mod events;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod worker;

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
pub use lab_report::*;

/// The largest file a learner may save or run, in bytes.
pub const MAX_FILE_BYTES: usize = 64 * 1024;

/// A file the learner edits, with what they last saved (or the starter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabFileView {
    pub name: String,
    /// k6, promql, sloth, openslo, keptn or answer: picks the editor's language.
    pub kind: String,
    pub title: String,
    pub body: String,
    /// Whether `body` is the learner's draft rather than the starter.
    pub edited: bool,
}

/// A step of the lab with its status after the learner's latest graded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepStatus {
    pub id: String,
    pub title: String,
    /// `None` until a run graded it.
    pub passed: Option<bool>,
}

/// A run in the learner's history of this lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunListItem {
    pub id: i64,
    pub number: i64,
    pub status: String,
    pub passed: bool,
    pub score: i64,
    pub max_score: i64,
    pub queued_at: i64,
}

/// A link to a lab or a module next to it in the course.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabLink {
    pub href: String,
    pub title: String,
}

/// Everything the lab page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabView {
    pub course_slug: String,
    pub course_title: String,
    pub section_title: String,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub minutes: i64,
    pub instructions_html: String,
    pub files: Vec<LabFileView>,
    pub steps: Vec<StepStatus>,
    pub runs: Vec<RunListItem>,
    /// The learner's queued or running run, if any.
    pub active_run: Option<i64>,
    pub passed: bool,
    /// Graded runs so far, and how many unlock the solution.
    pub attempts: i64,
    pub reveal_after: i64,
    /// The reference solution, once revealed (always for admins).
    pub solution: Option<Vec<LabFileView>>,
    pub is_admin: bool,
}

/// Live state of a queued or running run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunProgress {
    pub status: String,
    /// Place in the queue (1 = next), while queued.
    pub position: Option<i64>,
    /// Which of the lab's load tests is running (0-based) and how many there are.
    pub index: i64,
    pub runs: i64,
    pub run_title: String,
    pub elapsed: f64,
    pub total: f64,
    pub vus: i64,
    pub rps: f64,
    pub p95_ms: f64,
    pub errors: i64,
    pub requests: i64,
}

/// One run: its files, its live progress or its graded report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    pub id: i64,
    pub number: i64,
    pub course_slug: String,
    pub lab_slug: String,
    pub lab_title: String,
    pub status: String,
    pub progress: Option<RunProgress>,
    pub report: Option<LabReport>,
    pub files: Vec<LabFileView>,
    /// The load tests whose scraped metrics can be queried (id, title).
    pub data_runs: Vec<(String, String)>,
    pub queued_at: i64,
    pub finished_at: Option<i64>,
}

/// When a draft was stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftSaved {
    pub saved_at: i64,
}

/// A lab page; signed-in learners only.
#[server(endpoint = "labs/get")]
pub async fn get_lab(course: String, lab: String) -> Result<LabView, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            store::lab_view(&state.db, &course, &lab, &user).await
        }
        .await,
    )
}

/// Saves the learner's files as a draft (every change, with JavaScript).
#[server(endpoint = "labs/save")]
pub async fn save_draft(
    course: String,
    lab: String,
    #[server(default)] files: BTreeMap<String, String>,
    back: Option<String>,
) -> Result<DraftSaved, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            let saved = store::save_drafts(&state.db, &course, &lab, user.id, &files).await?;
            if back.is_some() {
                leptos_axum::redirect(&format!("/courses/{course}/labs/{lab}?saved=1"));
            }
            Ok(saved)
        }
        .await,
    )
}

/// Saves the files and queues a run of them; answers with the run's id and,
/// for a plain form post, redirects to the run's page.
#[server(endpoint = "labs/run")]
pub async fn start_run(
    course: String,
    lab: String,
    #[server(default)] files: BTreeMap<String, String>,
) -> Result<i64, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            let run = store::enqueue(&state.db, &course, &lab, user.id, &files).await?;
            state.labs.wake();
            leptos_axum::redirect(&format!("/courses/{course}/labs/{lab}/runs/{run}"));
            Ok(run)
        }
        .await,
    )
}

/// Stops a queued or running run of the learner's.
#[server(endpoint = "labs/cancel")]
pub async fn cancel_run(run: i64) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            let (course, lab) = store::cancel(&state.db, run, user.id).await?;
            state.labs.cancel(run);
            leptos_axum::redirect(&format!("/courses/{course}/labs/{lab}/runs/{run}"));
            Ok(())
        }
        .await,
    )
}

/// A run of the learner's (or any run, for an admin).
#[server(endpoint = "labs/run-view")]
pub async fn get_run(run: i64) -> Result<RunView, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            store::run_view(&state.db, run, &user).await
        }
        .await,
    )
}

/// Live progress of a run, for pages that poll instead of streaming.
#[server(endpoint = "labs/progress")]
pub async fn get_run_progress(run: i64) -> Result<RunProgress, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            store::progress(&state.db, run, &user).await
        }
        .await,
    )
}

/// Throws the drafts away: the editors show the starter files again.
#[server(endpoint = "labs/reset")]
pub async fn reset_lab(course: String, lab: String) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            store::reset(&state.db, &course, &lab, user.id).await?;
            leptos_axum::redirect(&format!("/courses/{course}/labs/{lab}"));
            Ok(())
        }
        .await,
    )
}

/// Reveals the reference solution, once the learner has made enough attempts.
#[server(endpoint = "labs/reveal")]
pub async fn reveal_solution(course: String, lab: String) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            store::reveal(&state.db, &course, &lab, user.id).await?;
            leptos_axum::redirect(&format!("/courses/{course}/labs/{lab}#solution"));
            Ok(())
        }
        .await,
    )
}

/// Runs a PromQL range query over one load test's scraped metrics.
#[server(endpoint = "labs/query")]
pub async fn query_run(run: i64, data: String, query: String) -> Result<Chart, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            store::query(&state.db, state.labs.sandbox(), run, &data, &query, &user).await
        }
        .await,
    )
}
