//! Importing `content/` into the database: idempotent by content hash, and a
//! broken file is reported as `path:line: reason` without touching what is stored.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use super::{markdown, vtt, Video};
use crate::db::{now_ms, Db};

/// One thing wrong with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path, self.line, self.message)
    }
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Courses whose files changed and were stored.
    pub imported: Vec<String>,
    /// Courses whose files were already stored as they are.
    pub unchanged: Vec<String>,
    /// Modules stored (new or changed) in this run.
    pub modules: usize,
    /// Labs stored in this run.
    pub labs: usize,
    pub problems: Vec<Problem>,
}

/// Why an import could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CourseFile {
    title: String,
    summary: String,
    #[serde(default)]
    order: i64,
    sections: Vec<SectionSpec>,
    exam: Option<ActivitySpec>,
    // What the course page tells a visitor (see `super::CourseAbout`, which
    // the pages read from the stored file).
    level: Option<String>,
    #[serde(default)]
    prerequisites: Vec<String>,
    #[serde(default)]
    outcomes: Vec<String>,
    #[serde(default)]
    speakers: Vec<super::Person>,
    host: Option<super::Person>,
}

impl CourseFile {
    /// What is wrong with the about fields: a blank line of text, a person
    /// without a name, a speaker credited with a section the course lacks.
    fn about_problem(&self, path: &str, text: &str) -> Option<Problem> {
        let blank = [
            (
                "level",
                self.level.as_deref().is_some_and(|l| l.trim().is_empty()),
            ),
            (
                "prerequisites",
                self.prerequisites.iter().any(|p| p.trim().is_empty()),
            ),
            (
                "outcomes",
                self.outcomes.iter().any(|o| o.trim().is_empty()),
            ),
        ];
        if let Some((key, _)) = blank.into_iter().find(|(_, bad)| *bad) {
            return Some(Problem {
                path: path.to_string(),
                line: key_line(text, key),
                message: format!("{key} must not be blank"),
            });
        }
        let people = self.speakers.iter().chain(&self.host);
        if let Some(p) = people.clone().find(|p| p.name.trim().is_empty()) {
            return Some(Problem {
                path: path.to_string(),
                line: key_line(
                    text,
                    if self.host.as_ref() == Some(p) {
                        "host"
                    } else {
                        "speakers"
                    },
                ),
                message: "every speaker and the host need a name".into(),
            });
        }
        people
            .flat_map(|p| p.sections.iter().map(move |s| (p, s)))
            .find(|(_, s)| !self.sections.iter().any(|o| &o.slug == *s))
            .map(|(p, s)| Problem {
                path: path.to_string(),
                line: key_line(text, "speakers"),
                message: format!(
                    "{} is credited with section {s:?}; course.yaml has {}",
                    p.name,
                    self.sections
                        .iter()
                        .map(|o| o.slug.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionSpec {
    slug: String,
    title: String,
    #[serde(default)]
    summary: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivitySpec {
    title: String,
    summary: String,
    #[serde(default)]
    minutes: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: String,
    slug: Option<String>,
    section: String,
    order: i64,
    minutes: i64,
    video: Option<VideoSpec>,
    #[serde(default)]
    prerequisites: Vec<String>,
    #[serde(default)]
    draft: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VideoSpec {
    youtube: Option<String>,
    vimeo: Option<String>,
    file: Option<String>,
    captions: Option<String>,
    #[serde(default = "default_language")]
    language: String,
}

fn default_language() -> String {
    "en".into()
}

/// A module file that parsed and validated, ready to store.
struct ModuleFile {
    rel_path: String,
    slug: String,
    fm: FrontMatter,
    video: Option<Video>,
    rendered: markdown::Rendered,
    hash: String,
    /// Where `prerequisites:` is, for reporting a bad one.
    prerequisites_line: usize,
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 80
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_media_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The 1-based line in `text` where `key:` first appears, else 1.
fn key_line(text: &str, key: &str) -> usize {
    let prefix = format!("{key}:");
    text.lines()
        .position(|l| l.trim_start().starts_with(&prefix))
        .map_or(1, |i| i + 1)
}

fn yaml_problem(path: &str, e: &serde_yaml::Error, line_offset: usize) -> Problem {
    let line = e.location().map_or(1, |l| l.line()) + line_offset;
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    Problem {
        path: path.into(),
        line,
        message: msg,
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path).map_err(|e| ImportError::Io(path.to_path_buf(), e))
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ImportError::Io(dir.to_path_buf(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    out.sort();
    Ok(out)
}

/// Every file under `dir`, at any depth, in a stable order.
fn list_files(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let mut out = Vec::new();
    for p in list(dir)? {
        if p.is_dir() {
            out.extend(list_files(&p)?);
        } else if p.is_file() {
            out.push(p);
        }
    }
    Ok(out)
}

/// Splits `---` front matter from the markdown body; the body's first line number too.
pub(crate) fn split_front_matter(text: &str) -> Option<(&str, &str, usize)> {
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            let fm = &rest[..offset];
            let body = &rest[offset + line.len()..];
            return Some((fm, body, fm.lines().count() + 3));
        }
        offset += line.len();
    }
    None
}

fn parse_module(
    course_dir: &Path,
    rel_path: &str,
    text: &str,
    sections: &[SectionSpec],
    course_slug: &str,
) -> Result<ModuleFile, Problem> {
    let problem = |line: usize, message: String| Problem {
        path: rel_path.into(),
        line,
        message,
    };
    let (fm_text, body, _) = split_front_matter(text).ok_or_else(|| {
        problem(
            1,
            "a module must start with front matter between two `---` lines".into(),
        )
    })?;
    let fm: FrontMatter =
        serde_yaml::from_str(fm_text).map_err(|e| yaml_problem(rel_path, &e, 1))?;
    let fm_line = |key: &str| key_line(fm_text, key) + 1;
    let stem = Path::new(rel_path)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    let slug = fm.slug.clone().unwrap_or_else(|| {
        stem.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-')
            .to_string()
    });
    if !is_slug(&slug) {
        return Err(problem(
            fm_line("slug"),
            format!("slug {slug:?} must be lower-case letters, digits and dashes"),
        ));
    }
    if fm.title.trim().is_empty() {
        return Err(problem(fm_line("title"), "title must not be empty".into()));
    }
    if !sections.iter().any(|s| s.slug == fm.section) {
        let known: Vec<&str> = sections.iter().map(|s| s.slug.as_str()).collect();
        return Err(problem(
            fm_line("section"),
            format!(
                "unknown section {:?}; course.yaml has {}",
                fm.section,
                known.join(", ")
            ),
        ));
    }
    if !(1..=600).contains(&fm.minutes) {
        return Err(problem(
            fm_line("minutes"),
            "minutes must be between 1 and 600".into(),
        ));
    }
    let video = match &fm.video {
        None => None,
        Some(v) => Some(
            parse_video(course_dir, v, course_slug).map_err(|m| problem(fm_line("video"), m))?,
        ),
    };
    let rendered = markdown::render(body);
    let hash = hex::encode(Sha256::digest(text.as_bytes()));
    let prerequisites_line = fm_line("prerequisites");
    Ok(ModuleFile {
        rel_path: rel_path.into(),
        slug,
        fm,
        video,
        rendered,
        hash,
        prerequisites_line,
    })
}

fn parse_video(course_dir: &Path, v: &VideoSpec, course_slug: &str) -> Result<Video, String> {
    match (&v.youtube, &v.vimeo, &v.file) {
        (Some(id), None, None) => {
            if id.len() == 11
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                Ok(Video::YouTube { id: id.clone() })
            } else {
                Err(format!(
                    "{id:?} is not a YouTube video id (11 letters, digits, - or _)"
                ))
            }
        }
        (None, Some(id), None) => {
            if !id.is_empty() && id.len() <= 12 && id.chars().all(|c| c.is_ascii_digit()) {
                Ok(Video::Vimeo { id: id.clone() })
            } else {
                Err(format!("{id:?} is not a Vimeo video id (digits)"))
            }
        }
        (None, None, Some(file)) => {
            let name = media_name(file)?;
            if !course_dir.join("media").join(name).is_file() {
                return Err(format!(
                    "video file {file:?} is not in the course's media/ folder"
                ));
            }
            let (captions, transcript) = match &v.captions {
                None => (None, Vec::new()),
                Some(c) => {
                    let cname = media_name(c)?;
                    let text = std::fs::read_to_string(course_dir.join("media").join(cname))
                        .map_err(|e| format!("captions {c:?}: {e}"))?;
                    let cues = vtt::parse(&text).map_err(|(line, why)| {
                        format!("captions media/{cname} line {line}: {why}")
                    })?;
                    (Some(format!("/media/{course_slug}/{cname}")), cues)
                }
            };
            if !v
                .language
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
                || v.language.is_empty()
            {
                return Err(format!(
                    "language {:?} is not a language tag like en or pt-BR",
                    v.language
                ));
            }
            Ok(Video::File {
                src: format!("/media/{course_slug}/{name}"),
                captions,
                language: v.language.clone(),
                transcript,
            })
        }
        _ => Err("video needs exactly one of youtube, vimeo or file".into()),
    }
}

fn media_name(path: &str) -> Result<&str, String> {
    let name = path.strip_prefix("media/").unwrap_or(path);
    if is_media_name(name) {
        Ok(name)
    } else {
        Err(format!("{path:?} must name a file directly inside media/"))
    }
}

/// The problems one file of a course folder has, checked exactly as the import
/// would, without storing anything: what an author sees before a save goes through.
/// `path` is relative to `course_dir` (`modules/01-intro.md`, `labs/01-x/lab.yaml`).
pub fn check_file(course_dir: &Path, path: &str) -> Vec<Problem> {
    let slug = course_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    let shown = format!("{slug}/{path}");
    let course_rel = format!("{slug}/course.yaml");
    let course_text = std::fs::read_to_string(course_dir.join("course.yaml")).unwrap_or_default();
    let course: CourseFile = match serde_yaml::from_str(&course_text) {
        Ok(c) => c,
        Err(e) => return vec![yaml_problem(&course_rel, &e, 0)],
    };
    if let Some(bad) =
        course.sections.iter().enumerate().find(|(i, s)| {
            !is_slug(&s.slug) || course.sections[..*i].iter().any(|o| o.slug == s.slug)
        })
    {
        return vec![Problem {
            path: course_rel,
            line: key_line(&course_text, "sections"),
            message: format!("section slug {:?} must be a unique slug", bad.1.slug),
        }];
    }
    if let Some(p) = course.about_problem(&course_rel, &course_text) {
        return vec![p];
    }
    let read_text = |p: &str| -> Result<String, Problem> {
        let bytes = std::fs::read(course_dir.join(p)).unwrap_or_default();
        String::from_utf8(bytes).map_err(|_| Problem {
            path: format!("{slug}/{p}"),
            line: 1,
            message: "the file is not UTF-8 text".into(),
        })
    };
    if path.starts_with("modules/") && path.ends_with(".md") {
        let text = match read_text(path) {
            Ok(t) => t,
            Err(p) => return vec![p],
        };
        let m = match parse_module(course_dir, &shown, &text, &course.sections, &slug) {
            Ok(m) => m,
            Err(p) => return vec![p],
        };
        // Its slug must be its own, and its prerequisites must be modules of the course.
        let mut others = Vec::new();
        for p in list(&course_dir.join("modules")).unwrap_or_default() {
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let other = format!("modules/{name}");
            if other == path || !name.ends_with(".md") {
                continue;
            }
            if let Ok(o) = read_text(&other)
                .and_then(|t| parse_module(course_dir, &other, &t, &course.sections, &slug))
            {
                others.push(o.slug);
            }
        }
        if others.contains(&m.slug) {
            return vec![Problem {
                path: shown,
                line: 1,
                message: format!("another module already has slug {:?}", m.slug),
            }];
        }
        return m
            .fm
            .prerequisites
            .iter()
            .find(|p| !others.contains(p))
            .map(|bad| Problem {
                path: shown.clone(),
                line: m.prerequisites_line,
                message: format!("prerequisite {bad:?} is not a module of this course"),
            })
            .into_iter()
            .collect();
    }
    if let Some(rest) = path.strip_prefix("labs/") {
        let folder = format!("{slug}/labs/{}", rest.split('/').next().unwrap_or(""));
        let sections: Vec<String> = course.sections.iter().map(|s| s.slug.clone()).collect();
        let parent = course_dir.parent().unwrap_or(course_dir);
        let labs = crate::labs::store::parse_labs(
            &course_dir.join("labs"),
            |p| p.strip_prefix(parent).unwrap_or(p).display().to_string(),
            &sections,
        );
        return labs
            .problems
            .into_iter()
            .filter(|p| p.path == folder || p.path.starts_with(&format!("{folder}/")))
            .collect();
    }
    if path.starts_with("exam/") {
        let exam = course_dir.join("exam");
        let prefix = format!("{}/", exam.display());
        return match crate::exam::store::read_folder(&exam) {
            Ok(_) => Vec::new(),
            Err(problems) => problems
                .into_iter()
                .map(|mut p| {
                    p.path = format!("{slug}/exam/{}", p.path.trim_start_matches(&prefix));
                    p
                })
                .collect(),
        };
    }
    Vec::new()
}

/// Imports every course folder (one holding `course.yaml`) under `content_dir`.
pub async fn import_all(
    db: &Db,
    content_dir: &Path,
    media_dir: &Path,
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    for (position, dir) in list(content_dir)?
        .into_iter()
        .filter(|d| d.join("course.yaml").is_file())
        .enumerate()
    {
        import_course(db, &dir, media_dir, position as i64, &mut report).await?;
    }
    Ok(report)
}

async fn import_course(
    db: &Db,
    dir: &Path,
    media_dir: &Path,
    position: i64,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let dir_name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    let rel = |p: &Path| {
        p.strip_prefix(dir.parent().unwrap_or(dir))
            .unwrap_or(p)
            .display()
            .to_string()
    };
    let slug = dir_name.clone();
    if !is_slug(&slug) {
        report.problems.push(Problem {
            path: rel(dir),
            line: 1,
            message: "a course folder name must be a slug (lower-case letters, digits, dashes)"
                .into(),
        });
        return Ok(());
    }
    // Hash every file that makes up the course, so an unchanged course is skipped.
    let course_path = dir.join("course.yaml");
    let module_paths: Vec<PathBuf> = list(&dir.join("modules"))?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    let media_paths: Vec<PathBuf> = list(&dir.join("media"))?
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    let lab_paths = list_files(&dir.join("labs"))?;
    let mut hasher = Sha256::new();
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for p in std::iter::once(&course_path)
        .chain(&module_paths)
        .chain(&media_paths)
        .chain(&lab_paths)
    {
        let bytes = read(p)?;
        hasher.update(rel(p).as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
        files.push((p.clone(), bytes));
    }
    // Narrated videos made by `masterclass content videos` belong to the course too.
    let generated = super::generated::find(media_dir, &slug);
    for g in generated.values() {
        hasher.update(&g.fingerprint);
    }
    let hash = hex::encode(hasher.finalize());
    let stored: Option<(String,)> =
        sqlx::query_as("SELECT content_hash FROM courses WHERE slug = $1")
            .bind(&slug)
            .fetch_optional(db)
            .await?;
    if stored.as_ref().is_some_and(|(h,)| *h == hash) {
        report.unchanged.push(slug);
        return Ok(());
    }

    let course_rel = rel(&course_path);
    let course_text = String::from_utf8_lossy(&files[0].1).to_string();
    let course: CourseFile = match serde_yaml::from_str(&course_text) {
        Ok(c) => c,
        Err(e) => {
            report.problems.push(yaml_problem(&course_rel, &e, 0));
            return Ok(());
        }
    };
    let mut course_problems = Vec::new();
    for (i, s) in course.sections.iter().enumerate() {
        if !is_slug(&s.slug) || course.sections[..i].iter().any(|o| o.slug == s.slug) {
            let line = course_text
                .lines()
                .position(|l| l.contains(&format!("slug: {}", s.slug)))
                .map_or(1, |i| i + 1);
            course_problems.push(Problem {
                path: course_rel.clone(),
                line,
                message: format!("section slug {:?} must be a unique slug", s.slug),
            });
        }
    }
    course_problems.extend(course.about_problem(&course_rel, &course_text));
    if !course_problems.is_empty() {
        report.problems.extend(course_problems);
        return Ok(());
    }

    let mut modules = Vec::new();
    let mut problems = Vec::new();
    let mut seen_paths = Vec::new();
    for (p, bytes) in files.iter().skip(1).take(module_paths.len()) {
        let rel_path = rel(p);
        seen_paths.push(rel_path.clone());
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                problems.push(Problem {
                    path: rel_path,
                    line: 1,
                    message: "the file is not UTF-8 text".into(),
                });
                continue;
            }
        };
        match parse_module(dir, &rel_path, text, &course.sections, &slug) {
            Ok(m) => {
                if modules.iter().any(|o: &ModuleFile| o.slug == m.slug) {
                    problems.push(Problem {
                        path: rel_path,
                        line: 1,
                        message: format!("another module already has slug {:?}", m.slug),
                    });
                } else {
                    modules.push(m);
                }
            }
            Err(p) => problems.push(p),
        }
    }
    // A prerequisite must name a module of this course.
    let slugs: Vec<String> = modules.iter().map(|m| m.slug.clone()).collect();
    let existing: Vec<(String,)> = sqlx::query_as(
        "SELECT m.slug FROM modules m JOIN courses c ON c.id = m.course_id WHERE c.slug = $1",
    )
    .bind(&slug)
    .fetch_all(db)
    .await?;
    modules.retain(|m| {
        match m
            .fm
            .prerequisites
            .iter()
            .find(|p| !slugs.contains(p) && !existing.iter().any(|(e,)| e == *p))
        {
            Some(bad) => {
                problems.push(Problem {
                    path: m.rel_path.clone(),
                    line: m.prerequisites_line,
                    message: format!("prerequisite {bad:?} is not a module of this course"),
                });
                false
            }
            None => true,
        }
    });

    let section_slugs: Vec<String> = course.sections.iter().map(|s| s.slug.clone()).collect();
    let mut labs = crate::labs::store::parse_labs(&dir.join("labs"), |p| rel(p), &section_slugs);
    problems.append(&mut labs.problems);

    let now = now_ms();
    let mut tx = db.begin().await?;
    let (course_id,): (i64,) = sqlx::query_as(
        "INSERT INTO courses (slug, title, summary, position, content_hash, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (slug) DO UPDATE SET title = excluded.title, summary = excluded.summary, position = excluded.position,
             content_hash = excluded.content_hash, updated_at = excluded.updated_at
         RETURNING id",
    )
    .bind(&slug)
    .bind(course.title.trim())
    .bind(course.summary.trim())
    .bind(course.order * 1000 + position)
    .bind(&hash)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM activities WHERE course_id = $1")
        .bind(course_id)
        .execute(&mut *tx)
        .await?;
    let mut section_ids = Vec::new();
    for (i, s) in course.sections.iter().enumerate() {
        let (sid,): (i64,) = sqlx::query_as(
            "INSERT INTO sections (course_id, slug, title, summary, position) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (course_id, slug) DO UPDATE SET title = excluded.title, summary = excluded.summary, position = excluded.position
             RETURNING id",
        )
        .bind(course_id)
        .bind(&s.slug)
        .bind(s.title.trim())
        .bind(s.summary.trim())
        .bind(i as i64)
        .fetch_one(&mut *tx)
        .await?;
        section_ids.push((s.slug.clone(), sid));
    }
    crate::labs::store::store_labs(&mut tx, course_id, &section_ids, &labs).await?;
    if let Some(exam) = &course.exam {
        sqlx::query("INSERT INTO activities (course_id, section_id, kind, title, summary, minutes, position) VALUES ($1, NULL, 'exam', $2, $3, $4, $5)")
            .bind(course_id)
            .bind(exam.title.trim())
            .bind(exam.summary.trim())
            .bind(exam.minutes)
            .bind(1i64)
            .execute(&mut *tx)
            .await?;
    }
    for m in &modules {
        let section_id = section_ids
            .iter()
            .find(|(s, _)| *s == m.fm.section)
            .map(|(_, id)| *id)
            .unwrap_or_default();
        let video = m
            .video
            .as_ref()
            .or_else(|| generated.get(&m.slug).map(|g| &g.video));
        let video_json = video.and_then(|v| serde_json::to_string(v).ok());
        sqlx::query(
            "INSERT INTO modules (course_id, section_id, slug, title, position, minutes, video_json, prerequisites_json,
                                  body_html, toc_json, published, source_path, content_hash, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (course_id, slug) DO UPDATE SET section_id = excluded.section_id, title = excluded.title,
                 position = excluded.position, minutes = excluded.minutes, video_json = excluded.video_json,
                 prerequisites_json = excluded.prerequisites_json, body_html = excluded.body_html, toc_json = excluded.toc_json,
                 published = excluded.published, source_path = excluded.source_path, content_hash = excluded.content_hash,
                 updated_at = excluded.updated_at",
        )
        .bind(course_id)
        .bind(section_id)
        .bind(&m.slug)
        .bind(m.fm.title.trim())
        .bind(m.fm.order)
        .bind(m.fm.minutes)
        .bind(video_json)
        .bind(serde_json::to_string(&m.fm.prerequisites).unwrap_or_else(|_| "[]".into()))
        .bind(&m.rendered.html)
        .bind(serde_json::to_string(&m.rendered.toc).unwrap_or_else(|_| "[]".into()))
        .bind(i64::from(!m.fm.draft))
        .bind(&m.rel_path)
        .bind(&m.hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    // Modules whose file is gone are unpublished, never deleted: progress stays.
    let stored: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, source_path FROM modules WHERE course_id = $1")
            .bind(course_id)
            .fetch_all(&mut *tx)
            .await?;
    for (id, path) in stored {
        if !seen_paths.contains(&path) {
            sqlx::query("UPDATE modules SET published = 0 WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query("DELETE FROM import_problems WHERE course_slug = $1")
        .bind(&slug)
        .execute(&mut *tx)
        .await?;
    for p in &problems {
        sqlx::query("INSERT INTO import_problems (course_slug, location, message, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&slug)
            .bind(format!("{}:{}", p.path, p.line))
            .bind(&p.message)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;

    let target = media_dir.join(&slug);
    for p in &media_paths {
        let Some(name) = p
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| is_media_name(n))
        else {
            continue;
        };
        std::fs::create_dir_all(&target).map_err(|e| ImportError::Io(target.clone(), e))?;
        std::fs::copy(p, target.join(name)).map_err(|e| ImportError::Io(p.clone(), e))?;
    }
    report.modules += modules.len();
    report.labs += labs.labs.len();
    report.imported.push(slug);
    report.problems.extend(problems);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_speaker_must_teach_a_section_of_the_course() {
        let text = "title: T\nsummary: S\nsections:\n  - slug: one\n    title: One\nlevel: Intermediate\nspeakers:\n  - name: Ada\n    sections: [two]\n";
        let course: CourseFile = serde_yaml::from_str(text).expect("parses");
        let p = course
            .about_problem("c/course.yaml", text)
            .expect("a problem");
        assert_eq!(p.line, 7);
        assert!(p.message.contains("\"two\""), "{}", p.message);
        let good = text.replace("[two]", "[one]");
        let course: CourseFile = serde_yaml::from_str(&good).expect("parses");
        assert_eq!(course.about_problem("c/course.yaml", &good), None);
        let blank = good.replace("level: Intermediate", "level: \"\"");
        let course: CourseFile = serde_yaml::from_str(&blank).expect("parses");
        assert_eq!(
            course
                .about_problem("c/course.yaml", &blank)
                .map(|p| p.line),
            Some(6)
        );
        // A misspelt field is an error, not silently nothing on the page.
        let typo = good.replace("    sections:", "    section:");
        assert!(serde_yaml::from_str::<CourseFile>(&typo).is_err());
    }

    #[test]
    fn front_matter_splits_and_counts_lines() {
        let (fm, body, line) =
            split_front_matter("---\ntitle: x\nsection: s\n---\n# Body\n").expect("split");
        assert_eq!(fm, "title: x\nsection: s\n");
        assert_eq!(body, "# Body\n");
        assert_eq!(line, 5);
        assert!(split_front_matter("# no front matter").is_none());
        assert!(split_front_matter("---\ntitle: x\n").is_none());
    }

    #[test]
    fn module_problems_name_the_line() {
        let sections = vec![SectionSpec {
            slug: "one".into(),
            title: "One".into(),
            summary: String::new(),
        }];
        let dir = Path::new("/nonexistent");
        let bad_yaml = "---\ntitle: A\nsection: one\norder: [\n---\nbody";
        let p = parse_module(dir, "c/modules/a.md", bad_yaml, &sections, "c")
            .err()
            .expect("error");
        assert_eq!(p.path, "c/modules/a.md");
        assert!(p.line >= 4, "{p}");
        let unknown = "---\ntitle: A\nsection: two\norder: 1\nminutes: 5\n---\nbody";
        let p = parse_module(dir, "c/modules/a.md", unknown, &sections, "c")
            .err()
            .expect("error");
        assert_eq!(p.line, 3, "{p}");
        assert!(p.message.contains("unknown section"), "{p}");
        let bad_video = "---\ntitle: A\nsection: one\norder: 1\nminutes: 5\nvideo:\n  youtube: \"x<script>\"\n---\nbody";
        let p = parse_module(dir, "c/modules/a.md", bad_video, &sections, "c")
            .err()
            .expect("error");
        assert_eq!(p.line, 6, "{p}");
        let ok = "---\ntitle: A\nsection: one\norder: 1\nminutes: 5\nvideo:\n  vimeo: \"76979871\"\n---\n## Hi";
        let m = parse_module(dir, "c/modules/01-intro.md", ok, &sections, "c").expect("valid");
        assert_eq!(m.slug, "intro");
        assert_eq!(
            m.video,
            Some(Video::Vimeo {
                id: "76979871".into()
            })
        );
    }
}
