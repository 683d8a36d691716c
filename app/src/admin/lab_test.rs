//! "Test the lab": an author runs the lab's solution and its starter files
//! through the lab's own checks before learners see it. A good lab passes with
//! the solution and fails with the starter.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// How one set of files fared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    pub score: i64,
    pub max_score: i64,
    /// `step: check — message` for every check that failed.
    pub failed: Vec<String>,
    pub error: Option<String>,
}

/// The lab's outcome with the solution and with the starter files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabTest {
    pub course: String,
    pub lab: String,
    pub title: String,
    pub solution: Verdict,
    pub starter: Verdict,
}

/// Runs a lab folder's solution and starter through its checks (saved files, not drafts).
#[server(endpoint = "admin/content/test-lab")]
pub async fn test_lab(course: String, lab: String) -> Result<LabTest, AppError> {
    crate::error::ssr::with_status(
        async move {
            crate::auth::session::require_admin().await?;
            let state = crate::state::app_state()?;
            ssr::run(&state.db, &course, &lab).await
        }
        .await,
    )
}

#[cfg(feature = "ssr")]
mod ssr {
    use std::collections::BTreeMap;

    use super::{LabTest, Verdict};
    use crate::course::sync::{self, Scratch};
    use crate::db::Db;
    use crate::error::AppError;

    /// A test that takes longer than this is stopped and reported.
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(180);

    fn internal(e: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %e, "lab test");
        AppError::Internal
    }

    async fn verdict(lab: &lab_grader::Lab, files: BTreeMap<String, String>) -> Verdict {
        let token = tokio_util::sync::CancellationToken::new();
        let stop = token.clone();
        let graded =
            tokio::time::timeout(LIMIT, lab_grader::grade(lab, &files, token, |_| {})).await;
        let Ok(outcome) = graded else {
            stop.cancel();
            return Verdict {
                passed: false,
                score: 0,
                max_score: 0,
                failed: Vec::new(),
                error: Some(format!("stopped after {} s", LIMIT.as_secs())),
            };
        };
        let r = outcome.report;
        Verdict {
            passed: r.passed,
            score: r.score,
            max_score: r.max_score,
            failed: r
                .steps
                .iter()
                .flat_map(|s| {
                    s.checks
                        .iter()
                        .filter(|c| !c.passed)
                        .map(move |c| format!("{}: {} — {}", s.title, c.title, c.message))
                })
                .collect(),
            error: r.error,
        }
    }

    pub async fn run(db: &Db, course: &str, lab: &str) -> Result<LabTest, AppError> {
        if !sync::safe_path(lab) || lab.contains('/') {
            return Err(AppError::NotFound);
        }
        let scratch = Scratch::new().map_err(internal)?;
        sync::materialize(db, &scratch.0, Some(course), None)
            .await
            .map_err(internal)?;
        let dir = scratch.0.join(course).join("labs").join(lab);
        if !dir.join("lab.yaml").is_file() {
            return Err(AppError::NotFound);
        }
        let loaded = lab_grader::load_lab(&dir, &format!("{course}/labs/{lab}"))
            .map_err(|p| AppError::Validation(format!("the lab does not load: {p}")))?;
        let pick = |solution: bool| -> BTreeMap<String, String> {
            loaded
                .files
                .iter()
                .map(|f| {
                    let body = if solution { &f.solution } else { &f.starter };
                    (f.name.clone(), body.clone())
                })
                .collect()
        };
        let solution = verdict(&loaded, pick(true)).await;
        let starter = verdict(&loaded, pick(false)).await;
        Ok(LabTest {
            course: course.to_string(),
            lab: lab.to_string(),
            title: loaded.title.clone(),
            solution,
            starter,
        })
    }
}
