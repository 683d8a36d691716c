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

/// Elements that run script, embed another document, or change attributes (and
/// so links) after the filter has looked at them.
const SVG_REFUSED_ELEMENTS: &[&str] = &[
    "script",
    "foreignobject",
    "iframe",
    "embed",
    "object",
    "handler",
    "listener",
    "animate",
    "set",
    "animatetransform",
    "animatemotion",
    "animatecolor",
    // XHTML's elements that navigate or load on their own.
    "meta",
    "link",
    "base",
    "frame",
    "frameset",
    "portal",
    "form",
];

/// The text `s` means once character references are read: `&#106;`, `&#x6A;`
/// and the five predefined entities. Any other entity is an error (an SVG has
/// no DTD to define it, and one with a DTD is refused before this).
fn svg_decode(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .unwrap_or(after.len());
        let name = &after[..end];
        if name.is_empty() {
            return Err("a bare & in an SVG must be written &amp;".into());
        }
        let decoded = if let Some(num) = name.strip_prefix('#') {
            let value = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse::<u32>().ok(),
            };
            value.and_then(char::from_u32)
        } else {
            match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    return Err(format!(
                        "an SVG may not use entities (&{name};): write the character itself"
                    ))
                }
            }
        };
        out.push(decoded.ok_or_else(|| format!("&{name}; is not a valid character reference"))?);
        rest = after[end..].strip_prefix(';').unwrap_or(&after[end..]);
    }
    out.push_str(rest);
    Ok(out)
}

/// One start or end tag found by [`svg_tags`]: its name and its attributes' names.
struct SvgTag<'a> {
    name: &'a str,
    attributes: Vec<&'a str>,
}

/// Every tag of `text`, read the way an XML parser would find them (comments and
/// character data are read as markup too: a false alarm there only refuses a
/// file, it never lets one through).
fn svg_tags(text: &str) -> Vec<SvgTag<'_>> {
    let name_end = |s: &str| {
        s.find(|c: char| c.is_whitespace() || matches!(c, '/' | '>' | '=' | '<'))
            .unwrap_or(s.len())
    };
    let mut tags = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('<') {
        let mut tag = &rest[at + 1..];
        tag = tag.strip_prefix('/').unwrap_or(tag);
        let n = name_end(tag);
        let name = &tag[..n];
        let mut attrs = Vec::new();
        let mut inside = &tag[n..];
        loop {
            inside = inside.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
            if inside.is_empty() || inside.starts_with(['>', '<']) {
                break;
            }
            let n = name_end(inside).max(1);
            attrs.push(&inside[..n]);
            inside = inside[n..].trim_start();
            if let Some(v) = inside.strip_prefix('=') {
                let v = v.trim_start();
                inside = match v.chars().next() {
                    Some(q @ ('"' | '\'')) => v[1..].find(q).map_or("", |e| &v[e + 2..]),
                    _ => &v[name_end(v)..],
                };
            }
        }
        tags.push(SvgTag {
            name,
            attributes: attrs,
        });
        rest = &rest[at + 1..];
    }
    tags
}

/// An SVG is served as an image, but opened on its own it is a document. It is
/// served with a sandboxing Content-Security-Policy (see the server's media
/// routes), which is what stops script; this filter refuses, besides, anything
/// that could run script, load another document or rewrite a link: DTDs and
/// entities, namespace-prefixed elements (`<s:script>` is a script to an XML
/// parser), `foreignObject`, animation, event handlers and `javascript:` URLs
/// however they are spelt.
fn svg(b: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(b).map_err(|_| "an SVG must be UTF-8 text".to_string())?;
    let lower = text.to_ascii_lowercase();
    if !lower.contains("<svg") {
        return Err("this is not an SVG image".into());
    }
    if ["<!doctype", "<!entity", "<!element", "<!attlist"]
        .iter()
        .any(|d| lower.contains(d))
    {
        return Err("an SVG may not contain a DTD (<!DOCTYPE …> or <!ENTITY …>)".into());
    }
    for pi in lower.match_indices("<?").map(|(i, _)| &lower[i + 2..]) {
        let declaration = pi
            .strip_prefix("xml")
            .is_some_and(|r| r.starts_with(char::is_whitespace));
        if !declaration {
            return Err(
                "an SVG may not contain processing instructions such as <?xml-stylesheet?>".into(),
            );
        }
        let decl = &pi[..pi.find("?>").unwrap_or(pi.len())];
        if let Some(enc) = decl.split("encoding").nth(1) {
            let enc = enc.trim_start().trim_start_matches('=').trim_start();
            let enc = enc.trim_start_matches(['"', '\'']);
            if !(enc.starts_with("utf-8") || enc.starts_with("utf8")) {
                return Err("an SVG must be UTF-8 and say so, if it names an encoding".into());
            }
        }
    }
    let decoded = svg_decode(text)?;
    for tag in svg_tags(text) {
        if tag.name.starts_with(['!', '?']) || tag.name.is_empty() {
            continue;
        }
        if tag.name.contains(':') {
            return Err(format!(
                "an SVG may not contain namespace-prefixed elements (<{}>); save it as a plain SVG",
                tag.name
            ));
        }
        let local = tag.name.to_ascii_lowercase();
        if SVG_REFUSED_ELEMENTS.contains(&local.as_str()) {
            return Err(format!(
                "an SVG may not contain <{}> (scripts, embedded documents and animation are refused)",
                tag.name
            ));
        }
        for a in &tag.attributes {
            let local = a.rsplit(':').next().unwrap_or(a).to_ascii_lowercase();
            if local.starts_with("on") {
                return Err(format!("an SVG may not contain event handlers ({a})"));
            }
        }
    }
    // Browsers drop ASCII whitespace and controls inside a URL's scheme.
    let squeezed: String = decoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control())
        .flat_map(char::to_lowercase)
        .collect();
    if [
        "javascript:",
        "vbscript:",
        "data:text/html",
        "data:application/xhtml",
    ]
    .iter()
    .any(|u| squeezed.contains(u))
    {
        return Err("an SVG may not contain javascript: (or HTML data:) addresses".into());
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
                    // Opened anyway (an SVG, say), it runs nothing.
                    (
                        header::CONTENT_SECURITY_POLICY,
                        "sandbox; default-src 'none'".to_string(),
                    ),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
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

    /// The five ways past the first filter, and their neighbours.
    #[test]
    fn svg_bypasses_are_refused() {
        let ok = r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10">
  <!-- a comment -->
  <style>rect { fill: #333; }</style>
  <a xlink:href="https://example.org/?a=1&amp;b=2"><rect width="10" height="10" xml:space="preserve"/></a>
  <text x="1" y="5">Tom &amp; Jerry &#8212; &lt;3</text>
</svg>"#;
        assert_eq!(svg(ok.as_bytes()), Ok(()));
        for bad in [
            // A namespace prefix makes a script an XML parser still runs.
            r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:s="http://www.w3.org/2000/svg"><s:script>alert(1)</s:script></svg>"#,
            // An entity from a DTD expands to markup or a URL.
            r#"<!DOCTYPE svg [<!ENTITY x "javascript:alert(1)">]><svg xmlns="http://www.w3.org/2000/svg"><a href="&x;"><text>x</text></a></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><a href="&x;"><text>x</text></a></svg>"#,
            // Character references spell out the scheme.
            r#"<svg xmlns="http://www.w3.org/2000/svg"><a href="&#x6A;ava&#115;cript&#x3A;alert(1)"><text>x</text></a></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><a href="java&#x09;script:alert(1)"><text>x</text></a></svg>"#,
            // foreignObject carries XHTML, however it is spelt.
            r#"<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><iframe xmlns="http://www.w3.org/1999/xhtml" src="https://evil.example"/></foreignObject></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:v="http://www.w3.org/2000/svg"><v:foreignObject><p>x</p></v:foreignObject></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><g><meta xmlns="http://www.w3.org/1999/xhtml" http-equiv="refresh" content="0;url=https://evil.example"/></g></svg>"#,
            // SMIL animation rewrites a link after the filter has read it.
            r#"<svg xmlns="http://www.w3.org/2000/svg"><a><set attributeName="href" to="https://evil.example"/><text>x</text></a></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><a><animate attributeName="href" values="https://evil.example"/><text>x</text></a></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><g><animateTransform attributeName="transform" type="rotate"/><animateMotion path="M0 0"/></g></svg>"#,
            // Handlers, stylesheets by processing instruction, other encodings.
            r#"<svg xmlns="http://www.w3.org/2000/svg"><rect/onclick="alert(1)"/></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><rect xlink:onclick="alert(1)"/></svg>"#,
            r#"<?xml-stylesheet type="text/xsl" href="https://evil.example/x.xsl"?><svg xmlns="http://www.w3.org/2000/svg"/>"#,
            r#"<?xml version="1.0" encoding="ISO-2022-JP"?><svg xmlns="http://www.w3.org/2000/svg"/>"#,
        ] {
            assert!(svg(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
