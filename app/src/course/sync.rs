//! `content/` and the database in step.
//!
//! The database keeps every file of every course folder (`content_files`), with
//! each revision. The published tables (modules, labs, the question bank) are
//! always derived from those files by the same importer `content/` goes through,
//! so an edit in the browser and an edit in git are checked alike.
//!
//! Each file remembers its hash when it last matched `content/` (`synced_hash`).
//! Importing takes a file that changed only on disk, keeps one that changed only in
//! the database, and stops on a file that changed in both — listing the conflicts
//! and writing nothing. Exporting is the mirror image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use crate::db::{now_ms, Db};

/// The hash a file is compared by.
pub fn hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `path` may name a file inside a course folder: relative, no `..`, no
/// hidden parts, plain characters only. Anything else is refused, never written.
pub fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 200
        && path.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// Why a sync could not run.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SyncError + '_ {
    move |e| SyncError::Io(path.to_path_buf(), e)
}

/// What a sync did, or would have done had there been no conflict.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    /// Changed on one side only, and that side was kept (the other is older).
    pub kept: Vec<String>,
    /// Changed on both sides since the last sync: nothing was written.
    pub conflicts: Vec<String>,
}

impl SyncReport {
    pub fn changed(&self) -> bool {
        !(self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty())
    }
}

/// Every course folder (one holding `course.yaml`) under `content_dir`, by slug.
fn course_dirs(content_dir: &Path) -> Result<Vec<(String, PathBuf)>, SyncError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(content_dir).map_err(io(content_dir))? {
        let path = entry.map_err(io(content_dir))?.path();
        if path.join("course.yaml").is_file() {
            if let Some(slug) = path.file_name().and_then(|n| n.to_str()) {
                out.push((slug.to_string(), path.clone()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Every file of a course folder by its relative path; hidden and oddly named
/// files are left out (they could not be exported back safely).
pub fn read_course_dir(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, SyncError> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) -> Result<(), SyncError> {
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            let Some(rel) = path
                .strip_prefix(root)
                .ok()
                .and_then(|r| r.to_str())
                .map(|r| r.replace('\\', "/"))
            else {
                continue;
            };
            if !safe_path(&rel) {
                if !rel.split('/').any(|p| p.starts_with('.')) {
                    tracing::warn!(path = %path.display(), "file name not usable as course content; skipped");
                }
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out)?;
            } else if path.is_file() {
                out.insert(rel, std::fs::read(&path).map_err(io(&path))?);
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// A stored file's state, without its body.
#[derive(Debug, Clone)]
pub struct FileState {
    pub path: String,
    pub hash: String,
    pub synced_hash: Option<String>,
    pub revision: i64,
}

/// The files the database holds for a course, by path.
pub async fn course_files(db: &Db, slug: &str) -> Result<Vec<FileState>, sqlx::Error> {
    let rows: Vec<(String, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT path, hash, synced_hash, revision FROM content_files WHERE course_slug = $1 ORDER BY path",
    )
    .bind(slug)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(path, hash, synced_hash, revision)| FileState {
            path,
            hash,
            synced_hash,
            revision,
        })
        .collect())
}

/// The slugs of the courses the database holds files for.
pub async fn course_slugs(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT DISTINCT course_slug FROM content_files ORDER BY course_slug")
        .fetch_all(db)
        .await
}

/// One stored file's body and revision.
pub async fn file_body(
    db: &Db,
    slug: &str,
    path: &str,
) -> Result<Option<(Vec<u8>, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT body, revision FROM content_files WHERE course_slug = $1 AND path = $2")
        .bind(slug)
        .bind(path)
        .fetch_optional(db)
        .await
}

/// Who wrote a revision.
#[derive(Debug, Clone)]
pub struct Author<'a> {
    pub user_id: Option<i64>,
    pub name: &'a str,
}

/// A file's next revision.
#[derive(Debug, Clone)]
pub struct NewRevision<'a> {
    pub slug: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
    /// Why it was written ("imported from content/", "restored revision 3", …).
    pub note: &'a str,
    /// Guards against lost updates: the write happens only while the stored revision
    /// is still this one (`Some(0)`: the file must not exist yet).
    pub expected: Option<i64>,
    /// The body matches `content/` (an import).
    pub synced: bool,
}

/// Stores the next revision of a file (creating it at revision 1). Returns the new
/// revision number, or `None` when someone else wrote first.
pub async fn write_revision(
    conn: &mut AnyConnection,
    rev: &NewRevision<'_>,
    author: &Author<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    let NewRevision {
        slug,
        path,
        body,
        note,
        expected,
        synced,
    } = *rev;
    let h = hash(body);
    let now = now_ms();
    let current: Option<(i64,)> =
        sqlx::query_as("SELECT revision FROM content_files WHERE course_slug = $1 AND path = $2")
            .bind(slug)
            .bind(path)
            .fetch_optional(&mut *conn)
            .await?;
    let current = current.map_or(0, |(r,)| r);
    if expected.is_some_and(|e| e != current) {
        return Ok(None);
    }
    let revision = current + 1;
    let synced_hash = synced.then(|| h.clone());
    let written = if current == 0 {
        sqlx::query(
            "INSERT INTO content_files (course_slug, path, body, hash, synced_hash, revision, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (course_slug, path) DO NOTHING",
        )
        .bind(slug)
        .bind(path)
        .bind(body.to_vec())
        .bind(&h)
        .bind(synced_hash)
        .bind(revision)
        .bind(now)
        .execute(&mut *conn)
        .await?
    } else {
        // `synced_hash` stays what it was unless this write is itself a sync.
        sqlx::query(
            "UPDATE content_files SET body = $3, hash = $4, synced_hash = CASE WHEN $5 = 1 THEN $4 ELSE synced_hash END,
                 revision = $6, updated_at = $7
             WHERE course_slug = $1 AND path = $2 AND revision = $8",
        )
        .bind(slug)
        .bind(path)
        .bind(body.to_vec())
        .bind(&h)
        .bind(i64::from(synced))
        .bind(revision)
        .bind(now)
        .bind(current)
        .execute(&mut *conn)
        .await?
    };
    if written.rows_affected() != 1 {
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO content_revisions (course_slug, path, revision, body, hash, author_id, author, note, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(slug)
    .bind(path)
    .bind(revision)
    .bind(body.to_vec())
    .bind(&h)
    .bind(author.user_id)
    .bind(author.name)
    .bind(note)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(Some(revision))
}

/// What to do with one path when importing.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Add,
    Update,
    Remove,
    Keep,
    Same,
    Conflict,
}

/// The import decision for one path: `disk` and `stored` are hashes, `synced` the
/// hash both sides last agreed on.
fn import_step(disk: Option<&str>, stored: Option<(&str, Option<&str>)>) -> Step {
    match (disk, stored) {
        (None, None) => Step::Same,
        (Some(_), None) => Step::Add,
        (Some(d), Some((s, _))) if d == s => Step::Same,
        (Some(d), Some((s, synced))) => {
            if synced == Some(s) {
                Step::Update // only the file changed
            } else if synced == Some(d) {
                Step::Keep // only the database changed
            } else {
                Step::Conflict
            }
        }
        // Gone from disk: removed there if the database copy is the synced one;
        // a file made in the browser and never exported stays.
        (None, Some((s, synced))) => match synced {
            Some(x) if x == s => Step::Remove,
            None => Step::Keep,
            Some(_) => Step::Conflict,
        },
    }
}

/// Brings `content_dir` into the database. With any conflict, nothing is written
/// and the report lists them.
pub async fn import_dir(db: &Db, content_dir: &Path) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let mut writes: Vec<(String, String, Option<Vec<u8>>, Step)> = Vec::new();
    for (slug, dir) in course_dirs(content_dir)? {
        let disk = read_course_dir(&dir)?;
        let stored: BTreeMap<String, FileState> = course_files(db, &slug)
            .await?
            .into_iter()
            .map(|f| (f.path.clone(), f))
            .collect();
        let paths: std::collections::BTreeSet<&String> = disk.keys().chain(stored.keys()).collect();
        for path in paths {
            let body = disk.get(path);
            let disk_hash = body.map(|b| hash(b));
            let step = import_step(
                disk_hash.as_deref(),
                stored
                    .get(path)
                    .map(|f| (f.hash.as_str(), f.synced_hash.as_deref())),
            );
            let shown = format!("{slug}/{path}");
            match step {
                Step::Add => report.added.push(shown),
                Step::Update => report.updated.push(shown),
                Step::Remove => report.removed.push(shown),
                Step::Keep => report.kept.push(shown),
                Step::Conflict => report.conflicts.push(shown),
                Step::Same => {}
            }
            // A file both sides agree on but never marked synced (made in the browser, then
            // copied to disk by hand) is marked now, so later edits compare correctly.
            let mark = step == Step::Same
                && stored
                    .get(path)
                    .is_some_and(|f| f.synced_hash.as_deref() != Some(f.hash.as_str()));
            if matches!(step, Step::Add | Step::Update | Step::Remove) || mark {
                writes.push((slug.clone(), path.clone(), body.cloned(), step));
            }
        }
    }
    if !report.conflicts.is_empty() {
        return Ok(report);
    }
    let importer = Author {
        user_id: None,
        name: "content import",
    };
    let mut tx = db.begin().await?;
    for (slug, path, body, step) in writes {
        match (step, body) {
            (Step::Remove, _) => {
                sqlx::query("DELETE FROM content_files WHERE course_slug = $1 AND path = $2")
                    .bind(&slug)
                    .bind(&path)
                    .execute(&mut *tx)
                    .await?;
            }
            (Step::Same, _) => {
                sqlx::query("UPDATE content_files SET synced_hash = hash WHERE course_slug = $1 AND path = $2")
                    .bind(&slug)
                    .bind(&path)
                    .execute(&mut *tx)
                    .await?;
            }
            (_, Some(body)) => {
                let rev = NewRevision {
                    slug: &slug,
                    path: &path,
                    body: &body,
                    note: "imported from content/",
                    expected: None,
                    synced: true,
                };
                write_revision(&mut tx, &rev, &importer).await?;
            }
            (_, None) => {}
        }
    }
    tx.commit().await?;
    Ok(report)
}

/// What to do with one path when exporting: the file on disk is written unless it
/// changed since the last sync.
fn export_step(disk: Option<&str>, stored: &str, synced: Option<&str>) -> Step {
    match disk {
        None => Step::Add,
        Some(d) if d == stored => Step::Same,
        Some(d) if Some(d) == synced => Step::Update,
        Some(_) if synced == Some(stored) => Step::Keep, // only the file changed
        Some(_) => Step::Conflict,
    }
}

/// Writes the database's courses to `dir` (one folder per course). With any
/// conflict nothing is written; a file changed only on disk is left as it is.
pub async fn export_dir(db: &Db, dir: &Path) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let mut writes = Vec::new();
    for slug in course_slugs(db).await? {
        for f in course_files(db, &slug).await? {
            let target = dir.join(&slug).join(&f.path);
            let disk = match std::fs::read(&target) {
                Ok(b) => Some(hash(&b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(SyncError::Io(target, e)),
            };
            let shown = format!("{slug}/{}", f.path);
            let step = export_step(disk.as_deref(), &f.hash, f.synced_hash.as_deref());
            match step {
                Step::Add => report.added.push(shown),
                Step::Update => report.updated.push(shown),
                Step::Keep => report.kept.push(shown),
                Step::Conflict => report.conflicts.push(shown),
                Step::Same | Step::Remove => {}
            }
            if matches!(step, Step::Add | Step::Update | Step::Same) {
                writes.push((slug.clone(), f, target));
            }
        }
    }
    if !report.conflicts.is_empty() {
        return Ok(report);
    }
    for (slug, f, target) in writes {
        let Some((body, _)) = file_body(db, &slug, &f.path).await? else {
            continue;
        };
        if std::fs::read(&target).ok().as_deref() != Some(body.as_slice()) {
            write_atomically(&target, &body)?;
        }
        sqlx::query("UPDATE content_files SET synced_hash = hash WHERE course_slug = $1 AND path = $2 AND hash = $3")
            .bind(&slug)
            .bind(&f.path)
            .bind(&f.hash)
            .execute(db)
            .await?;
    }
    Ok(report)
}

/// Writes through a temporary file and a rename, so a crash never leaves half a file.
fn write_atomically(target: &Path, body: &[u8]) -> Result<(), SyncError> {
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let tmp = parent.join(format!(
        ".{}.tmp",
        target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file")
    ));
    std::fs::write(&tmp, body).map_err(io(&tmp))?;
    std::fs::rename(&tmp, target).map_err(io(target))
}

/// Writes the courses the database holds (all, or `only` one) into a fresh folder,
/// for the importer to read: `override_file` (course, path, body) replaces or adds
/// one file (to check an edit before it is saved).
pub async fn materialize(
    db: &Db,
    into: &Path,
    only: Option<&str>,
    override_file: Option<(&str, &str, &[u8])>,
) -> Result<(), SyncError> {
    for slug in course_slugs(db).await? {
        if only.is_some_and(|o| o != slug) {
            continue;
        }
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT path, body FROM content_files WHERE course_slug = $1")
                .bind(&slug)
                .fetch_all(db)
                .await?;
        let mut files: BTreeMap<String, Vec<u8>> = rows.into_iter().collect();
        if let Some((s, p, body)) = override_file {
            if s == slug {
                files.insert(p.to_string(), body.to_vec());
            }
        }
        for (path, body) in files {
            let target = into.join(&slug).join(&path);
            let parent = target.parent().unwrap_or(into);
            std::fs::create_dir_all(parent).map_err(io(parent))?;
            std::fs::write(&target, body).map_err(io(&target))?;
        }
    }
    Ok(())
}

/// A scratch folder removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> Result<Self, SyncError> {
        let dir = std::env::temp_dir().join(format!(
            "masterclass-content-{:016x}",
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What publishing found wrong (the files named keep their last good version).
#[derive(Debug, Default)]
pub struct Published {
    pub report: super::import::ImportReport,
    pub exam_problems: Vec<String>,
}

/// Derives the published tables from the database's files: the same importer as
/// `content/`, run on a copy of them.
pub async fn publish(db: &Db, media_dir: &Path) -> Result<Published, SyncError> {
    let scratch = Scratch::new()?;
    materialize(db, &scratch.0, None, None).await?;
    let report = super::import::import_all(db, &scratch.0, media_dir)
        .await
        .map_err(|e| match e {
            super::import::ImportError::Io(p, e) => SyncError::Io(p, e),
            super::import::ImportError::Db(e) => SyncError::Db(e),
        })?;
    let prefix = format!("{}/", scratch.0.display());
    let exam_problems = crate::exam::store::import_content(db, &scratch.0)
        .await?
        .into_iter()
        .map(|p| p.to_string().replace(&prefix, ""))
        .collect();
    Ok(Published {
        report,
        exam_problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_a_course_only() {
        assert!(safe_path("modules/01-intro.md"));
        assert!(safe_path("labs/01-x/starter/load.js"));
        for bad in [
            "",
            "../etc/passwd",
            "modules/../../x",
            "/etc/passwd",
            "modules/.hidden",
            "a//b",
            "media/a b.png",
            "media/x\\y",
        ] {
            assert!(!safe_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn import_takes_one_sided_changes_and_stops_on_two() {
        // disk, (stored, synced)
        assert_eq!(import_step(Some("a"), None), Step::Add);
        assert_eq!(import_step(Some("a"), Some(("a", Some("a")))), Step::Same);
        assert_eq!(import_step(Some("b"), Some(("a", Some("a")))), Step::Update);
        assert_eq!(import_step(Some("a"), Some(("b", Some("a")))), Step::Keep);
        assert_eq!(
            import_step(Some("c"), Some(("b", Some("a")))),
            Step::Conflict
        );
        assert_eq!(import_step(Some("c"), Some(("b", None))), Step::Conflict);
        assert_eq!(import_step(None, Some(("a", Some("a")))), Step::Remove);
        assert_eq!(import_step(None, Some(("b", Some("a")))), Step::Conflict);
        assert_eq!(import_step(None, Some(("b", None))), Step::Keep);
    }

    #[test]
    fn export_never_overwrites_a_changed_file() {
        assert_eq!(export_step(None, "a", None), Step::Add);
        assert_eq!(export_step(Some("a"), "a", Some("a")), Step::Same);
        assert_eq!(export_step(Some("a"), "b", Some("a")), Step::Update);
        assert_eq!(export_step(Some("c"), "a", Some("a")), Step::Keep);
        assert_eq!(export_step(Some("c"), "b", Some("a")), Step::Conflict);
        assert_eq!(export_step(Some("c"), "b", None), Step::Conflict);
    }
}
