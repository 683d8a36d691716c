//! Authoring on the server: files, drafts, revisions, checks and the audit log.

use super::{AuditItem, CourseContent, EditorData, FileItem, History, Preview, RevisionItem};
use crate::auth::User;
use crate::course::sync::{self, Author, NewRevision, Scratch};
use crate::db::{now_ms, Db};
use crate::error::AppError;
use crate::state::AppState;

fn internal(e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "authoring");
    AppError::Internal
}

/// What kind of file a path is, by where it sits in the course folder.
pub fn kind(path: &str) -> &'static str {
    match path.split('/').next().unwrap_or("") {
        "modules" if path.ends_with(".md") => "module",
        "labs" => "lab",
        "exam" => "exam",
        "media" => "media",
        "course.yaml" => "course",
        _ => "other",
    }
}

fn is_text(path: &str) -> bool {
    kind(path) != "media" || path.ends_with(".vtt")
}

/// The path, checked: inside the course folder and naming a text file an author edits here.
fn editable(path: &str) -> Result<(), AppError> {
    if !sync::safe_path(path) {
        return Err(AppError::Validation(format!(
            "{path:?} is not a path inside a course folder"
        )));
    }
    if !is_text(path) {
        return Err(AppError::Validation(
            "media files are replaced by uploading, not edited as text".into(),
        ));
    }
    Ok(())
}

async fn course_title(db: &Db, course: &str) -> Result<String, AppError> {
    let title: Option<String> = sqlx::query_scalar("SELECT title FROM courses WHERE slug = $1")
        .bind(course)
        .fetch_optional(db)
        .await?;
    title.ok_or(AppError::NotFound)
}

/// Title, section, order and published flag from a module's front matter.
fn module_meta(text: &str) -> Option<(String, String, i64, bool)> {
    let (fm, _, _) = crate::course::import::split_front_matter(text)?;
    let v: serde_yaml::Value = serde_yaml::from_str(fm).ok()?;
    Some((
        v.get("title")?.as_str()?.to_string(),
        v.get("section")?.as_str()?.to_string(),
        v.get("order")
            .and_then(serde_yaml::Value::as_i64)
            .unwrap_or(0),
        !v.get("draft")
            .and_then(serde_yaml::Value::as_bool)
            .unwrap_or(false),
    ))
}

/// A course's files for the content page.
pub async fn index(db: &Db, course: &str) -> Result<CourseContent, AppError> {
    let title = course_title(db, course).await?;
    let sections: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.slug, s.title FROM sections s JOIN courses c ON c.id = s.course_id WHERE c.slug = $1 ORDER BY s.position",
    )
    .bind(course)
    .fetch_all(db)
    .await?;
    // Sizes come from the database; only modules' bodies are read (for their front
    // matter), never a video's.
    let rows: Vec<(String, i64, Option<Vec<u8>>, Option<String>, String, i64, i64)> = sqlx::query_as(
        "SELECT path, CAST(LENGTH(body) AS BIGINT), CASE WHEN path LIKE 'modules/%' THEN body END, synced_hash, hash, revision, updated_at
         FROM content_files WHERE course_slug = $1 ORDER BY path",
    )
    .bind(course)
    .fetch_all(db)
    .await?;
    let files = rows
        .into_iter()
        .map(|(path, size, body, synced, hash, revision, updated_at)| {
            let k = kind(&path);
            let name = path.rsplit('/').next().unwrap_or(&path).to_string();
            let (title, section, order, published) = match body.filter(|_| k == "module") {
                Some(body) => module_meta(&String::from_utf8_lossy(&body)).unwrap_or((
                    name,
                    String::new(),
                    0,
                    false,
                )),
                None => (name, String::new(), 0, true),
            };
            FileItem {
                kind: k.to_string(),
                title,
                section,
                order,
                published,
                revision,
                updated_at,
                unexported: synced.as_deref() != Some(hash.as_str()),
                size,
                path,
            }
        })
        .collect();
    let problems: Vec<(String, String)> = sqlx::query_as(
        "SELECT location, message FROM import_problems WHERE course_slug = $1 ORDER BY id",
    )
    .bind(course)
    .fetch_all(db)
    .await?;
    Ok(CourseContent {
        course: course.to_string(),
        title,
        sections,
        files,
        problems: problems
            .into_iter()
            .map(|(l, m)| format!("{l}: {m}"))
            .collect(),
    })
}

async fn stored_text(db: &Db, course: &str, path: &str) -> Result<(String, i64), AppError> {
    let (body, revision) = sync::file_body(db, course, path)
        .await?
        .ok_or(AppError::NotFound)?;
    let text = String::from_utf8(body)
        .map_err(|_| AppError::Validation("this file is not UTF-8 text".into()))?;
    Ok((text, revision))
}

/// The editor's data for one file.
pub async fn editor(
    db: &Db,
    admin: &User,
    course: &str,
    path: &str,
) -> Result<EditorData, AppError> {
    editable(path)?;
    let (text, revision) = stored_text(db, course, path).await?;
    let draft: Option<(String, i64, i64)> = sqlx::query_as(
        "SELECT body, base_revision, updated_at FROM content_drafts WHERE user_id = $1 AND course_slug = $2 AND path = $3",
    )
    .bind(admin.id)
    .bind(course)
    .bind(path)
    .fetch_optional(db)
    .await?;
    let (text, draft_at, draft_behind) = match draft {
        Some((body, base, at)) if body != text => {
            (body, Some(at), (base != revision).then_some(base))
        }
        _ => (text, None, None),
    };
    let preview = preview(db, course, path, &text).await?;
    let media = sync::course_files(db, course)
        .await?
        .into_iter()
        .filter(|f| kind(&f.path) == "media")
        .map(|f| f.path)
        .collect();
    Ok(EditorData {
        course: course.to_string(),
        path: path.to_string(),
        kind: kind(path).to_string(),
        revision,
        text,
        draft_at,
        draft_behind,
        preview,
        media,
    })
}

/// Keeps what the author typed, whatever state it is in.
pub async fn save_draft(
    db: &Db,
    admin: &User,
    course: &str,
    path: &str,
    text: &str,
    base_revision: i64,
) -> Result<(), AppError> {
    editable(path)?;
    if text.len() > 1_000_000 {
        return Err(AppError::Validation(
            "a course file is limited to 1 MB of text".into(),
        ));
    }
    sync::file_body(db, course, path)
        .await?
        .ok_or(AppError::NotFound)?;
    sqlx::query(
        "INSERT INTO content_drafts (user_id, course_slug, path, body, base_revision, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (user_id, course_slug, path) DO UPDATE SET body = excluded.body, base_revision = excluded.base_revision,
             updated_at = excluded.updated_at",
    )
    .bind(admin.id)
    .bind(course)
    .bind(path)
    .bind(text)
    .bind(base_revision)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(())
}

pub async fn discard_draft(
    db: &Db,
    admin: &User,
    course: &str,
    path: &str,
) -> Result<(), AppError> {
    sqlx::query("DELETE FROM content_drafts WHERE user_id = $1 AND course_slug = $2 AND path = $3")
        .bind(admin.id)
        .bind(course)
        .bind(path)
        .execute(db)
        .await?;
    Ok(())
}

/// What the importer would say about `text` as the new body of `path`.
async fn check(db: &Db, course: &str, path: &str, text: &[u8]) -> Result<Vec<String>, AppError> {
    let scratch = Scratch::new().map_err(internal)?;
    sync::materialize(db, &scratch.0, Some(course), Some((course, path, text)))
        .await
        .map_err(internal)?;
    let dir = scratch.0.join(course);
    Ok(crate::course::import::check_file(&dir, path)
        .into_iter()
        .map(|p| p.to_string())
        .collect())
}

/// The preview of an edit: a module as learners see it, a question file's
/// questions, and for every file what the importer finds wrong.
pub async fn preview(db: &Db, course: &str, path: &str, text: &str) -> Result<Preview, AppError> {
    editable(path)?;
    let problems = check(db, course, path, text.as_bytes()).await?;
    let html = match kind(path) {
        "module" => crate::course::import::split_front_matter(text)
            .map(|(_, body, _)| crate::course::markdown::render(body).html)
            .unwrap_or_default(),
        "exam" if path.ends_with(".gift") => questions_html(text),
        _ => String::new(),
    };
    Ok(Preview { html, problems })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A GIFT file's questions as a learner meets them, with the key and the feedback
/// an author checks.
fn questions_html(text: &str) -> String {
    use crate::exam::model::Kind;
    let Ok(questions) = crate::exam::gift::parse(text, "Default") else {
        return String::new();
    };
    let mut out = String::new();
    for q in questions {
        out.push_str(&format!(
            "<section class=\"question-preview\"><h3>{}</h3><p class=\"muted\">{}</p><p>{}</p>",
            escape(&q.name),
            escape(&q.category),
            escape(&q.text)
        ));
        let choice = |o: &crate::exam::model::Choice| {
            format!(
                "<li>{}{}{}</li>",
                if o.weight > 0.0 { "✓ " } else { "" },
                escape(&o.text),
                o.feedback
                    .as_deref()
                    .map(|f| format!(" <em>— {}</em>", escape(f)))
                    .unwrap_or_default()
            )
        };
        match &q.kind {
            Kind::SingleChoice { options } | Kind::MultipleResponse { options } => {
                out.push_str("<ul>");
                out.extend(options.iter().map(choice));
                out.push_str("</ul>");
            }
            Kind::TrueFalse { answer, .. } => {
                out.push_str(&format!(
                    "<p>Answer: {}</p>",
                    if *answer { "true" } else { "false" }
                ));
            }
            other => {
                out.push_str(&format!(
                    "<p class=\"muted\">{}</p>",
                    escape(&format!("{other:?}"))
                ));
            }
        }
        if let Some(f) = &q.general_feedback {
            out.push_str(&format!("<p><strong>Feedback:</strong> {}</p>", escape(f)));
        }
        out.push_str("</section>");
    }
    out
}

/// Records an administrator's action.
pub async fn audit(
    db: &Db,
    admin: &User,
    action: &str,
    target: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO audit_log (actor_id, actor, action, target, before_text, after_text, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(admin.id)
    .bind(&admin.email)
    .bind(action)
    .bind(target)
    .bind(before)
    .bind(after)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(())
}

pub async fn audit_entries(db: &Db, limit: i64) -> Result<Vec<AuditItem>, AppError> {
    let rows: Vec<(i64, String, String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT created_at, actor, action, target, before_text, after_text FROM audit_log ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(created_at, actor, action, target, before, after)| AuditItem {
                created_at,
                actor,
                action,
                target,
                before,
                after,
            },
        )
        .collect())
}

/// Stores `body` as the next revision of `path` after the importer's checks, then
/// publishes the course. `base_revision` is the revision the author started from
/// (0: a new file).
pub async fn save(
    state: &AppState,
    admin: &User,
    course: &str,
    path: &str,
    body: &[u8],
    base_revision: i64,
    note: &str,
) -> Result<i64, AppError> {
    let edit = Edit {
        course,
        path,
        body,
        base_revision,
        note,
    };
    save_from(state, admin, &edit, Source::Editor).await
}

/// One save of a course file.
#[derive(Debug, Clone, Copy)]
pub struct Edit<'a> {
    pub course: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
    /// The revision the author started from (0: a new file); a save based on an
    /// older one is refused, so nobody's revision is lost.
    pub base_revision: i64,
    /// The revision's note, and the audit log's action for an editor save.
    pub note: &'a str,
}

/// Where a save comes from, which decides what a refusal tells the author and who
/// records the audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The file editor: the author's text stays as their draft until it is saved;
    /// the save is audited here as `revision n → revision m`.
    Editor,
    /// A settings form that writes the whole file (the exam blueprint): the values
    /// stay in the form, the author's draft of the file (if any) is left alone, and the
    /// caller audits the save (it knows the settings before and after).
    Form,
}

/// [`save`], for any [`Source`]: the importer's checks, the revision (refused if
/// someone saved since `base_revision`), then publishing.
pub async fn save_from(
    state: &AppState,
    admin: &User,
    edit: &Edit<'_>,
    source: Source,
) -> Result<i64, AppError> {
    let Edit {
        course,
        path,
        body,
        base_revision,
        note,
    } = *edit;
    let db = &state.db;
    let problems = check(db, course, path, body).await?;
    if !problems.is_empty() {
        let kept = match source {
            Source::Editor => "Not saved; your text is kept as a draft.",
            Source::Form => "Not saved; nothing changed.",
        };
        return Err(AppError::Validation(format!(
            "{kept} {}",
            problems.join(" · ")
        )));
    }
    let mut tx = db.begin().await?;
    let rev = NewRevision {
        slug: course,
        path,
        body,
        note,
        expected: Some(base_revision),
        synced: false,
    };
    let author = Author {
        user_id: Some(admin.id),
        name: &admin.email,
    };
    let Some(revision) = sync::write_revision(&mut tx, &rev, &author).await? else {
        return Err(AppError::Conflict(match source {
            Source::Editor => "Someone saved this file since you opened it. Your text is kept as a draft: reload to see their revision in the history, then save again.".into(),
            Source::Form => format!("Someone changed {path} since you opened this form (in the editor, with this form or by an import); nothing was saved. Reload to see the settings now in force, then make your change again."),
        }));
    };
    tx.commit().await?;
    if source == Source::Editor {
        audit(
            db,
            admin,
            note,
            &format!("{course}/{path}"),
            (base_revision > 0)
                .then(|| format!("revision {base_revision}"))
                .as_deref(),
            Some(&format!("revision {revision}")),
        )
        .await?;
        discard_draft(db, admin, course, path).await?;
    }
    republish(state).await?;
    Ok(revision)
}

/// Re-derives the published tables and makes this instance show them at once.
pub async fn republish(state: &AppState) -> Result<(), AppError> {
    let published = sync::publish(&state.db, &state.config.media_dir)
        .await
        .map_err(internal)?;
    for p in &published.report.problems {
        tracing::warn!(problem = %p, "content problem after an edit");
    }
    state.published.invalidate();
    Ok(())
}

async fn revision_body(
    db: &Db,
    course: &str,
    path: &str,
    revision: i64,
) -> Result<Vec<u8>, AppError> {
    let body: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT body FROM content_revisions WHERE course_slug = $1 AND path = $2 AND revision = $3",
    )
    .bind(course)
    .bind(path)
    .bind(revision)
    .fetch_optional(db)
    .await?;
    body.ok_or(AppError::NotFound)
}

/// A file's revisions, newest first, with the diff between two when asked.
pub async fn history(
    db: &Db,
    course: &str,
    path: &str,
    compare: Option<(i64, i64)>,
) -> Result<History, AppError> {
    if !sync::safe_path(path) {
        return Err(AppError::NotFound);
    }
    let current = sync::file_body(db, course, path)
        .await?
        .ok_or(AppError::NotFound)?
        .1;
    let rows: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(
        "SELECT revision, author, note, created_at, CAST(LENGTH(body) AS BIGINT) FROM content_revisions WHERE course_slug = $1 AND path = $2 ORDER BY revision DESC",
    )
    .bind(course)
    .bind(path)
    .fetch_all(db)
    .await?;
    let diff = match compare {
        Some((from, to)) => {
            let old = revision_body(db, course, path, from).await?;
            let new = revision_body(db, course, path, to).await?;
            Some(super::diff::diff(
                from,
                to,
                &String::from_utf8_lossy(&old),
                &String::from_utf8_lossy(&new),
            ))
        }
        None => None,
    };
    Ok(History {
        course: course.to_string(),
        path: path.to_string(),
        current,
        revisions: rows
            .into_iter()
            .map(|(revision, author, note, created_at, size)| RevisionItem {
                revision,
                author,
                note,
                created_at,
                size,
            })
            .collect(),
        diff,
    })
}

/// Saves an earlier revision's body as the newest revision.
pub async fn restore(
    state: &AppState,
    admin: &User,
    course: &str,
    path: &str,
    revision: i64,
) -> Result<i64, AppError> {
    editable(path)?;
    let body = revision_body(&state.db, course, path, revision).await?;
    let current = sync::file_body(&state.db, course, path)
        .await?
        .ok_or(AppError::NotFound)?
        .1;
    save(
        state,
        admin,
        course,
        path,
        &body,
        current,
        &format!("restored revision {revision}"),
    )
    .await
}

/// Rewrites front matter keys of a module and saves it as a new revision.
async fn edit_front_matter(
    state: &AppState,
    admin: &User,
    course: &str,
    path: &str,
    keys: &[(&str, Option<String>)],
    note: &str,
) -> Result<i64, AppError> {
    if kind(path) != "module" {
        return Err(AppError::Validation(
            "only modules are published and moved".into(),
        ));
    }
    let (mut text, revision) = stored_text(&state.db, course, path).await?;
    for (key, value) in keys {
        text = super::front_matter::set_key(&text, key, value.as_deref()).ok_or_else(|| {
            AppError::Validation("this module has no front matter to change".into())
        })?;
    }
    save(state, admin, course, path, text.as_bytes(), revision, note).await
}

pub async fn set_published(
    state: &AppState,
    admin: &User,
    course: &str,
    path: &str,
    publish: bool,
) -> Result<i64, AppError> {
    let value = (!publish).then(|| "true".to_string());
    let note = if publish { "published" } else { "unpublished" };
    edit_front_matter(state, admin, course, path, &[("draft", value)], note).await
}

pub async fn move_module(
    state: &AppState,
    admin: &User,
    course: &str,
    path: &str,
    section: &str,
    order: i64,
) -> Result<i64, AppError> {
    if !(0..=100_000).contains(&order) {
        return Err(AppError::Validation(
            "order must be between 0 and 100000".into(),
        ));
    }
    let section_ok = !section.is_empty()
        && section
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !section_ok {
        return Err(AppError::Validation(format!(
            "{section:?} is not a section"
        )));
    }
    edit_front_matter(
        state,
        admin,
        course,
        path,
        &[
            ("section", Some(section.to_string())),
            ("order", Some(order.to_string())),
        ],
        &format!("moved to {section}, order {order}"),
    )
    .await
}

/// A slug from a title: lower-case words joined by dashes.
fn slugify(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').chars().take(60).collect()
}

/// Creates an unpublished module at the end of a section; returns its path.
pub async fn new_module(
    state: &AppState,
    admin: &User,
    course: &str,
    section: &str,
    title: &str,
) -> Result<String, AppError> {
    let title = title.trim();
    let slug = slugify(title);
    if slug.is_empty() || title.len() > 200 {
        return Err(AppError::Validation(
            "give the module a title of up to 200 characters, with letters or digits".into(),
        ));
    }
    let files = sync::course_files(&state.db, course).await?;
    if files.is_empty() {
        return Err(AppError::NotFound);
    }
    let mut last_order = 0;
    for f in files.iter().filter(|f| kind(&f.path) == "module") {
        let (text, _) = stored_text(&state.db, course, &f.path).await?;
        if let Some((_, s, order, _)) = module_meta(&text) {
            if s == section {
                last_order = last_order.max(order);
            }
        }
    }
    let order = last_order + 1;
    let path = format!("modules/{order:02}-{slug}.md");
    if files.iter().any(|f| f.path == path) {
        return Err(AppError::Conflict(format!("{path} already exists")));
    }
    let quoted = serde_json::to_string(title).map_err(internal)?;
    let text = format!(
        "---\ntitle: {quoted}\nsection: {section}\norder: {order}\nminutes: 10\ndraft: true\n---\n## {title}\n\nWrite the module here.\n"
    );
    save(state, admin, course, &path, text.as_bytes(), 0, "created").await?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_slugs() {
        assert_eq!(kind("modules/01-a.md"), "module");
        assert_eq!(kind("labs/01-x/lab.yaml"), "lab");
        assert_eq!(kind("exam/01.gift"), "exam");
        assert_eq!(kind("media/a.svg"), "media");
        assert_eq!(kind("course.yaml"), "course");
        assert!(is_text("media/welcome.en.vtt") && !is_text("media/a.webm"));
        assert_eq!(slugify("Queues & Little's Law!"), "queues-little-s-law");
        assert_eq!(slugify("  --  "), "");
    }

    #[test]
    fn module_front_matter_is_read() {
        let m = module_meta(
            "---\ntitle: \"A: b\"\nsection: one\norder: 3\nminutes: 5\ndraft: true\n---\nx",
        )
        .expect("meta");
        assert_eq!(m, ("A: b".to_string(), "one".to_string(), 3, false));
        assert!(module_meta("no front matter").is_none());
    }
}
