//! Authoring: administrators edit every file of a course from the browser —
//! modules with a live preview, labs, the question bank, the blueprint, media —
//! with a revision for every save, a diff between any two, and restore. Every
//! administrator action lands in the audit log.
//!
//! The files live in the database (`course::sync`); saving one runs the same
//! importer `content/` goes through, so a broken edit is refused with the line
//! that is wrong, and the author's text stays as a draft.

#[cfg(feature = "ssr")]
pub mod diff;
#[cfg(feature = "ssr")]
pub mod front_matter;
pub mod lab_test;
pub mod learners;
#[cfg(feature = "ssr")]
pub mod media;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod store;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One file of a course, as the content page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileItem {
    pub path: String,
    /// `module`, `lab`, `exam`, `course`, `media` or `other`.
    pub kind: String,
    /// A module's title (else the file name).
    pub title: String,
    /// A module's section slug and order.
    pub section: String,
    pub order: i64,
    pub published: bool,
    pub revision: i64,
    pub updated_at: i64,
    /// Changed in the database since it last matched `content/`.
    pub unexported: bool,
    pub size: i64,
}

/// A course's files and sections, for the content page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseContent {
    pub course: String,
    pub title: String,
    /// (slug, title) in course order.
    pub sections: Vec<(String, String)>,
    pub files: Vec<FileItem>,
    /// What the last publish found wrong, as `path:line: message`.
    pub problems: Vec<String>,
}

/// The editor's data: the stored file, the author's unsaved draft if any, and
/// the preview of whichever the editor shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditorData {
    pub course: String,
    pub path: String,
    pub kind: String,
    pub revision: i64,
    /// What the editor shows: the draft if there is one, else the stored file.
    pub text: String,
    /// When the draft was last saved, if `text` is a draft.
    pub draft_at: Option<i64>,
    /// The revision the draft started from, when someone has saved since.
    pub draft_behind: Option<i64>,
    pub preview: Preview,
    /// Media files of the course, for picking a video or an image.
    pub media: Vec<String>,
}

/// A rendering of an edit, as learners would see it, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Preview {
    /// Sanitized HTML (the module renderer's output, or the questions as drawn).
    pub html: String,
    pub problems: Vec<String>,
}

/// One revision of a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionItem {
    pub revision: i64,
    pub author: String,
    pub note: String,
    pub created_at: i64,
    pub size: i64,
}

/// A file's history, newest first, and the diff asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub course: String,
    pub path: String,
    pub current: i64,
    pub revisions: Vec<RevisionItem>,
    pub diff: Option<Diff>,
}

/// A line diff between two revisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub from: i64,
    pub to: i64,
    pub lines: Vec<DiffLine>,
    pub added: i64,
    pub removed: i64,
}

/// One line of a diff: `kind` is ' ' (both), '-' (only in `from`) or '+' (only in `to`);
/// a run of unchanged lines may be folded into one line of kind '…'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffLine {
    pub kind: char,
    pub old: Option<i64>,
    pub new: Option<i64>,
    pub text: String,
}

/// One administrator action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditItem {
    pub created_at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The signed-in administrator and the app's state; every function here starts with it.
#[cfg(feature = "ssr")]
async fn admin_context() -> Result<(crate::auth::User, crate::state::AppState), AppError> {
    let admin = crate::auth::session::require_admin().await?;
    Ok((admin, crate::state::app_state()?))
}

/// A course's files, for the content page.
#[server(endpoint = "admin/content/index")]
pub async fn content_index(course: String) -> Result<CourseContent, AppError> {
    crate::error::ssr::with_status(
        async move {
            let (_admin, state) = admin_context().await?;
            store::index(&state.db, &course).await
        }
        .await,
    )
}

/// One file in the editor.
#[server(endpoint = "admin/content/file")]
pub async fn content_file(course: String, path: String) -> Result<EditorData, AppError> {
    crate::error::ssr::with_status(
        async move {
            let (admin, state) = admin_context().await?;
            store::editor(&state.db, &admin, &course, &path).await
        }
        .await,
    )
}

/// Keeps the author's text as a draft and answers its preview (the live preview,
/// and the preview button without JavaScript).
#[server(endpoint = "admin/content/draft")]
pub async fn draft_content(
    course: String,
    path: String,
    text: String,
    base_revision: i64,
) -> Result<Preview, AppError> {
    crate::error::ssr::with_status(
        async move {
            let (admin, state) = admin_context().await?;
            store::save_draft(&state.db, &admin, &course, &path, &text, base_revision).await?;
            store::preview(&state.db, &course, &path, &text).await
        }
        .await,
    )
}

/// Saves the text as the file's next revision and publishes it, unless the
/// importer finds a problem (then nothing is published and the draft stays).
/// `intent = preview` (the no-JavaScript preview button) only keeps the draft.
#[server(endpoint = "admin/content/save")]
pub async fn save_content(
    course: String,
    path: String,
    text: String,
    base_revision: i64,
    note: Option<String>,
    intent: Option<String>,
) -> Result<i64, AppError> {
    crate::error::ssr::with_status(
        async move {
            let (admin, state) = admin_context().await?;
            store::save_draft(&state.db, &admin, &course, &path, &text, base_revision).await?;
            if intent.as_deref() == Some("preview") {
                return Ok(base_revision);
            }
            let note = note
                .map(|n| n.trim().chars().take(200).collect::<String>())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "edited in the browser".into());
            store::save(
                &state,
                &admin,
                &course,
                &path,
                text.as_bytes(),
                base_revision,
                &note,
            )
            .await
        }
        .await,
    )
}

/// Drops the author's draft of a file.
#[server(endpoint = "admin/content/discard")]
pub async fn discard_draft(course: String, path: String) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let (admin, state) = admin_context().await?;
            store::discard_draft(&state.db, &admin, &course, &path).await?;
            leptos_axum::redirect(&pages::editor_href(&course, &path));
            Ok(())
        }
        .await,
    )
}

/// A file's revisions, and the diff between two of them when asked.
#[server(endpoint = "admin/content/history")]
pub async fn content_history(
    course: String,
    path: String,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<History, AppError> {
    crate::error::ssr::with_status(
        async move {
            let (_admin, state) = admin_context().await?;
            store::history(&state.db, &course, &path, from.zip(to)).await
        }
        .await,
    )
}

/// Makes an earlier revision the current one (as a new revision: nothing is lost).
#[server(endpoint = "admin/content/restore")]
pub async fn restore_revision(
    course: String,
    path: String,
    revision: i64,
) -> Result<i64, AppError> {
    crate::error::ssr::with_status(
        async move {
            let (admin, state) = admin_context().await?;
            store::restore(&state, &admin, &course, &path, revision).await
        }
        .await,
    )
}

/// Publishes or unpublishes a module (its front matter's `draft:`).
#[server(endpoint = "admin/content/publish")]
pub async fn publish_module(course: String, path: String, publish: bool) -> Result<i64, AppError> {
    crate::error::ssr::with_status(
        async move {
            let (admin, state) = admin_context().await?;
            store::set_published(&state, &admin, &course, &path, publish).await
        }
        .await,
    )
}

/// Moves a module to a section and a place in it (its front matter's `section:` and `order:`).
#[server(endpoint = "admin/content/move")]
pub async fn move_module(
    course: String,
    path: String,
    section: String,
    order: i64,
) -> Result<i64, AppError> {
    crate::error::ssr::with_status(
        async move {
            let (admin, state) = admin_context().await?;
            store::move_module(&state, &admin, &course, &path, &section, order).await
        }
        .await,
    )
}

/// Creates a module, unpublished, at the end of a section.
#[server(endpoint = "admin/content/new-module")]
pub async fn new_module(
    course: String,
    section: String,
    title: String,
) -> Result<String, AppError> {
    crate::error::ssr::with_status(
        async move {
            let (admin, state) = admin_context().await?;
            let path = store::new_module(&state, &admin, &course, &section, &title).await?;
            leptos_axum::redirect(&pages::editor_href(&course, &path));
            Ok(path)
        }
        .await,
    )
}

/// The audit log, newest first.
#[server(endpoint = "admin/audit")]
pub async fn audit_log() -> Result<Vec<AuditItem>, AppError> {
    crate::error::ssr::with_status(
        async move {
            let (_admin, state) = admin_context().await?;
            store::audit_entries(&state.db, 300).await
        }
        .await,
    )
}
