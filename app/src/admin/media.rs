//! Uploads and downloads of course files: videos, captions and images for a
//! course (checked by name, type — by their first bytes, not only the extension —
//! and size), GIFT question files into the exam's bank, and any course file back
//! out. Uploads are stored as course files, so they have revisions and export with
//! the rest.

use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::Router;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::course::sync::{self, Author, NewRevision};
use crate::error::AppError;
use crate::state::AppState;

const MB: usize = 1024 * 1024;
/// The largest upload of any kind; each kind has its own limit below it.
pub const MAX_UPLOAD: usize = 100 * MB;

/// What an upload may be: extension, limit, and a check of the content.
struct Kind {
    ext: &'static str,
    /// The course folder it goes in.
    folder: &'static str,
    max: usize,
    check: fn(&[u8]) -> Result<(), String>,
}

const KINDS: &[Kind] = &[
    Kind {
        ext: "webm",
        folder: "media",
        max: MAX_UPLOAD,
        check: webm,
    },
    Kind {
        ext: "mp4",
        folder: "media",
        max: MAX_UPLOAD,
        check: mp4,
    },
    Kind {
        ext: "vtt",
        folder: "media",
        max: MB,
        check: vtt,
    },
    Kind {
        ext: "png",
        folder: "media",
        max: 5 * MB,
        check: png,
    },
    Kind {
        ext: "jpg",
        folder: "media",
        max: 5 * MB,
        check: jpeg,
    },
    Kind {
        ext: "jpeg",
        folder: "media",
        max: 5 * MB,
        check: jpeg,
    },
    Kind {
        ext: "svg",
        folder: "media",
        max: 5 * MB,
        check: svg,
    },
    Kind {
        ext: "gift",
        folder: "exam",
        max: MB,
        check: gift,
    },
];

/// A Moodle GIFT file: it must parse, every error reported with its line.
fn gift(b: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(b).map_err(|_| "a GIFT file must be UTF-8 text".to_string())?;
    match crate::exam::gift::parse(text, "Default") {
        Ok(q) if q.is_empty() => Err("this GIFT file holds no question".into()),
        Ok(_) => Ok(()),
        Err(errors) => Err(errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

fn webm(b: &[u8]) -> Result<(), String> {
    b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3])
        .then_some(())
        .ok_or_else(|| "this is not a WebM video".into())
}

fn mp4(b: &[u8]) -> Result<(), String> {
    (b.len() > 8 && &b[4..8] == b"ftyp")
        .then_some(())
        .ok_or_else(|| "this is not an MP4 video".into())
}

fn png(b: &[u8]) -> Result<(), String> {
    b.starts_with(b"\x89PNG\r\n\x1a\n")
        .then_some(())
        .ok_or_else(|| "this is not a PNG image".into())
}

fn jpeg(b: &[u8]) -> Result<(), String> {
    b.starts_with(&[0xFF, 0xD8, 0xFF])
        .then_some(())
        .ok_or_else(|| "this is not a JPEG image".into())
}

fn vtt(b: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(b).map_err(|_| "captions must be UTF-8 text".to_string())?;
    crate::course::vtt::parse(text)
        .map(|_| ())
        .map_err(|(line, m)| format!("not valid WebVTT (line {line}: {m})"))
}

/// An SVG is served as an image, but opened on its own it is a document: refuse
/// anything that could run script or load another document.
fn svg(b: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(b).map_err(|_| "an SVG must be UTF-8 text".to_string())?;
    let lower = text.to_ascii_lowercase();
    if !lower.contains("<svg") {
        return Err("this is not an SVG image".into());
    }
    let mut handler = false;
    for (i, _) in lower.match_indices("on") {
        let before = lower[..i].chars().last();
        let rest = &lower[i + 2..];
        let name_len = rest.chars().take_while(|c| c.is_ascii_alphabetic()).count();
        if matches!(before, Some(c) if c.is_whitespace())
            && name_len > 0
            && rest[name_len..].trim_start().starts_with('=')
        {
            handler = true;
        }
    }
    let bad = [
        "<script",
        "javascript:",
        "<foreignobject",
        "<iframe",
        "<embed",
        "<object",
    ];
    if handler || bad.iter().any(|b| lower.contains(b)) {
        return Err("an SVG may not contain scripts, event handlers or embedded documents".into());
    }
    Ok(())
}

/// The stored name of an upload, or why it is refused.
fn media_name(raw: &str) -> Result<(String, &'static Kind), String> {
    let name = raw.trim().to_ascii_lowercase();
    if name.contains('/') || name.contains('\\') || name.contains("..") || name.starts_with('.') {
        return Err("a file name may not contain a path".into());
    }
    if name.is_empty()
        || name.len() > 100
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(
            "name the file with letters, digits, dots, dashes and underscores (up to 100)".into(),
        );
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let kind = KINDS.iter().find(|k| k.ext == ext).ok_or_else(|| {
        "only WebM and MP4 videos, WebVTT captions, PNG, JPEG and SVG images and GIFT question files are accepted"
            .to_string()
    })?;
    Ok((name, kind))
}

/// Reads the `file` field, stopping as soon as it is over `max` bytes.
async fn read_file(
    mut form: Multipart,
) -> Result<(String, Vec<u8>, &'static Kind), (StatusCode, String)> {
    let unprocessable = |m: String| (StatusCode::UNPROCESSABLE_ENTITY, m);
    while let Some(mut field) = form.next_field().await.map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("the upload could not be read: {e}"),
        )
    })? {
        if field.name() != Some("file") {
            continue;
        }
        let (name, kind) = media_name(field.file_name().unwrap_or(""))
            .map_err(|m| (StatusCode::UNSUPPORTED_MEDIA_TYPE, m))?;
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the upload stopped: {e}"),
            )
        })? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > kind.max {
                return Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("a .{} file may be at most {} MB", kind.ext, kind.max / MB),
                ));
            }
        }
        (kind.check)(&bytes).map_err(unprocessable)?;
        return Ok((name, bytes, kind));
    }
    Err(unprocessable("choose a file to upload".into()))
}

async fn upload(
    State(state): State<AppState>,
    session: tower_sessions::Session,
    Path(course): Path<String>,
    headers: HeaderMap,
    form: Multipart,
) -> Response {
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let back = format!(
        "/admin/content/{}",
        utf8_percent_encode(&course, NON_ALPHANUMERIC)
    );
    let answer = |code: StatusCode, message: String| {
        if browser && code.is_success() {
            Redirect::to(&format!(
                "{back}?uploaded={}",
                utf8_percent_encode(&message, NON_ALPHANUMERIC)
            ))
            .into_response()
        } else if browser && code != StatusCode::UNAUTHORIZED {
            Redirect::to(&format!(
                "{back}?error={}",
                utf8_percent_encode(&message, NON_ALPHANUMERIC)
            ))
            .into_response()
        } else if browser {
            Redirect::to(&format!("/login?next={back}")).into_response()
        } else {
            (code, message).into_response()
        }
    };
    let admin = match crate::auth::session::user_of(&session, &state.db).await {
        Ok(Some(u)) if u.is_admin => u,
        Ok(Some(_)) => return answer(StatusCode::FORBIDDEN, AppError::Forbidden.to_string()),
        Ok(None) => return answer(StatusCode::UNAUTHORIZED, AppError::Unauthorized.to_string()),
        Err(e) => return answer(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    match sync::course_files(&state.db, &course).await {
        Ok(files) if !files.is_empty() => {}
        Ok(_) => return answer(StatusCode::NOT_FOUND, AppError::NotFound.to_string()),
        Err(e) => {
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                AppError::from(e).to_string(),
            )
        }
    }
    let (name, bytes, kind) = match read_file(form).await {
        Ok(f) => f,
        Err((code, message)) => return answer(code, message),
    };
    let path = format!("{}/{name}", kind.folder);
    match store(&state, &admin, &course, &path, &bytes).await {
        Ok(()) => answer(StatusCode::CREATED, name),
        Err(e) => answer(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            e.to_string(),
        ),
    }
}

async fn store(
    state: &AppState,
    admin: &crate::auth::User,
    course: &str,
    path: &str,
    bytes: &[u8],
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    let rev = NewRevision {
        slug: course,
        path,
        body: bytes,
        note: "uploaded",
        expected: None,
        synced: false,
    };
    let author = Author {
        user_id: Some(admin.id),
        name: &admin.email,
    };
    let revision = sync::write_revision(&mut tx, &rev, &author)
        .await?
        .ok_or_else(|| AppError::Conflict("another upload of this file came first".into()))?;
    tx.commit().await?;
    super::store::audit(
        &state.db,
        admin,
        "uploaded a file",
        &format!("{course}/{path}"),
        None,
        Some(&format!("revision {revision}, {} bytes", bytes.len())),
    )
    .await?;
    super::store::republish(state).await
}

/// Any course file as stored (a GIFT file is the question bank's export), as a
/// download: never rendered by the browser.
async fn download(
    State(state): State<AppState>,
    session: tower_sessions::Session,
    Path((course, path)): Path<(String, String)>,
) -> Response {
    match crate::auth::session::user_of(&session, &state.db).await {
        Ok(Some(u)) if u.is_admin => {}
        Ok(Some(_)) => {
            return (StatusCode::FORBIDDEN, AppError::Forbidden.to_string()).into_response()
        }
        Ok(None) => {
            return (StatusCode::UNAUTHORIZED, AppError::Unauthorized.to_string()).into_response()
        }
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
    if !sync::safe_path(&path) {
        return (StatusCode::NOT_FOUND, AppError::NotFound.to_string()).into_response();
    }
    match sync::file_body(&state.db, &course, &path).await {
        Ok(Some((body, _))) => {
            let name = path.rsplit('/').next().unwrap_or("file").to_string();
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                ],
                body,
            )
                .into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, AppError::NotFound.to_string()).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            AppError::from(e).to_string(),
        )
            .into_response(),
    }
}

/// The upload route, with its own body limit (the app's default is far smaller),
/// and the download route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/admin/files/{course}/{*path}",
            axum::routing::get(download),
        )
        .route("/admin/media/{course}", post(upload))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD + MB))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_and_types_allowed() {
        assert_eq!(
            media_name("Diagram.SVG").map(|(n, _)| n),
            Ok("diagram.svg".into())
        );
        for bad in [
            "../x.png",
            "a/b.png",
            "..png",
            ".hidden.png",
            "a b.png",
            "page.html",
            "x.svg.html",
            "run.js",
            "",
        ] {
            assert!(media_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn contents_must_match_the_type() {
        assert!(png(b"\x89PNG\r\n\x1a\nrest").is_ok());
        assert!(png(b"<html>").is_err());
        assert!(jpeg(&[0xFF, 0xD8, 0xFF, 0xE0]).is_ok());
        assert!(webm(&[0x1A, 0x45, 0xDF, 0xA3, 1]).is_ok() && webm(b"RIFF").is_err());
        assert!(mp4(b"\0\0\0\x18ftypisom").is_ok() && mp4(b"ftyp").is_err());
        assert!(vtt(b"WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n").is_ok());
        assert!(vtt(b"<script>").is_err());
        assert!(svg(b"<svg xmlns='http://www.w3.org/2000/svg'><rect width='1'/></svg>").is_ok());
        for bad in [
            &b"<svg><script>alert(1)</script></svg>"[..],
            b"<svg onload=alert(1)></svg>",
            b"<svg><a href='javascript:alert(1)'>x</a></svg>",
            b"<svg><foreignObject><iframe/></foreignObject></svg>",
            b"<html><body>hi</body></html>",
        ] {
            assert!(svg(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        // "on" inside words and attribute values is fine.
        assert!(svg(b"<svg><text font-family='mono'>Iron condition</text></svg>").is_ok());
    }
}
