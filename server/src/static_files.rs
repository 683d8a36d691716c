//! The compiled site (`/pkg`: wasm, JavaScript, CSS) served from memory,
//! precompressed with brotli and gzip, with immutable caching for fingerprinted names.
//!
//! Compressing a fresh build's wasm with brotli at its best level takes seconds,
//! so it never holds up start-up: files are served as they are until their
//! compressed twins are ready, made by a background thread and kept on disk
//! (`name.br`, `name.gz`) for the next start.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// One file with its encodings; an encoding is absent until it is ready, and
/// absent for good when it would not be smaller.
#[derive(Debug)]
pub struct Asset {
    pub content_type: &'static str,
    pub cache_control: &'static str,
    pub etag: HeaderValue,
    pub identity: axum::body::Bytes,
    pub gzip: OnceLock<Option<axum::body::Bytes>>,
    pub brotli: OnceLock<Option<axum::body::Bytes>>,
}

impl Asset {
    fn gzip(&self) -> Option<&axum::body::Bytes> {
        self.gzip.get().and_then(Option::as_ref)
    }

    fn brotli(&self) -> Option<&axum::body::Bytes> {
        self.brotli.get().and_then(Option::as_ref)
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// The policy of every file a person put on the site (uploads and course media
/// under `/media`) and of every SVG: opened on its own, an SVG is a document
/// that could run script, so it gets a sandbox (a unique origin, no script, no
/// forms, no navigation of its opener) and may load nothing but inline style.
pub const SANDBOX_CSP: &str =
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; media-src 'self'";

/// `/media`: the media folder (uploads, course media, generated videos) with
/// [`SANDBOX_CSP`] and `nosniff` on every answer, whatever the file.
pub fn media(dir: &Path) -> Router {
    use tower_http::set_header::SetResponseHeaderLayer;
    Router::new()
        .fallback_service(tower_http::services::ServeDir::new(dir))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SANDBOX_CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

/// `name.<hash>.ext`, as cargo-leptos writes with `hash-files`.
fn is_fingerprinted(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    let parts: Vec<&str> = file.split('.').collect();
    parts.len() >= 3
        && parts[parts.len() - 2].len() >= 8
        && parts[parts.len() - 2]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).and_then(|_| gz.finish()).ok()
}

fn brotli(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)
        .ok()
        .map(|_| out)
}

/// The `.br`/`.gz` twin of `path`.
fn twin_of(path: &Path, ext: &str) -> Option<PathBuf> {
    Some(path.with_file_name(format!("{}.{ext}", path.file_name()?.to_string_lossy())))
}

/// The twin on disk, when it is at least as new as the file.
fn fresh_twin(path: &Path, ext: &str) -> Option<Vec<u8>> {
    let twin = twin_of(path, ext)?;
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (modified(&twin)? >= modified(path)?)
        .then(|| std::fs::read(&twin).ok())
        .flatten()
}

/// Compresses now and keeps the result beside the file for the next start.
/// Written under a temporary name and renamed, so a server starting meanwhile
/// (or another instance sharing the folder) never reads half a twin.
fn compress_to_twin(
    path: &Path,
    ext: &str,
    bytes: &[u8],
    compress: fn(&[u8]) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let out = compress(bytes)?;
    if let Some(twin) = twin_of(path, ext) {
        let partial = twin.with_extension(format!("{ext}.partial-{}", std::process::id()));
        if std::fs::write(&partial, &out).is_ok() && std::fs::rename(&partial, &twin).is_err() {
            let _ = std::fs::remove_file(&partial);
        }
    }
    Some(out)
}

/// Sets an encoding, keeping it only when it is smaller than the file itself.
fn settle(
    slot: &OnceLock<Option<axum::body::Bytes>>,
    compressed: Option<Vec<u8>>,
    identity: usize,
) {
    let _ = slot.set(compressed.filter(|c| c.len() < identity).map(Into::into));
}

/// Loads every file under `dir` (recursively), keyed by URL path. Compressed
/// twins already on disk are used at once; the missing ones are made by a
/// background thread, and each file is served uncompressed until its twin is ready.
pub fn load(dir: &Path) -> Vec<(String, Arc<Asset>)> {
    let mut out = Vec::new();
    let mut to_compress: Vec<(PathBuf, Arc<Asset>)> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Ok(rel) = path.strip_prefix(dir) else {
                continue;
            };
            let url = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
            if url.ends_with(".gz") || url.ends_with(".br") || url.contains(".partial-") {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let ct = content_type(&url);
            let compressible = !matches!(ct, "image/png" | "font/woff2") && bytes.len() > 512;
            let digest = {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                h.finish()
            };
            let etag = HeaderValue::from_str(&format!("\"{digest:016x}\""))
                .unwrap_or(HeaderValue::from_static("\"0\""));
            let cache_control = if is_fingerprinted(&url) {
                "public, max-age=31536000, immutable"
            } else {
                "public, max-age=300, must-revalidate"
            };
            let asset = Arc::new(Asset {
                content_type: ct,
                cache_control,
                etag,
                identity: bytes.into(),
                gzip: OnceLock::new(),
                brotli: OnceLock::new(),
            });
            let size = asset.identity.len();
            if compressible {
                if let Some(g) = fresh_twin(&path, "gz") {
                    settle(&asset.gzip, Some(g), size);
                }
                if let Some(b) = fresh_twin(&path, "br") {
                    settle(&asset.brotli, Some(b), size);
                }
                if asset.gzip.get().is_none() || asset.brotli.get().is_none() {
                    to_compress.push((path, asset.clone()));
                }
            } else {
                let _ = asset.gzip.set(None);
                let _ = asset.brotli.set(None);
            }
            out.push((url, asset));
        }
    }
    if !to_compress.is_empty() {
        let spawned = std::thread::Builder::new()
            .name("compress-site".into())
            .spawn(move || compress_all(&to_compress));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "site files are served uncompressed: no thread to compress them");
        }
    }
    out
}

/// gzip for every file first (fast), then brotli (slow, smaller).
fn compress_all(pending: &[(PathBuf, Arc<Asset>)]) {
    for (path, asset) in pending {
        if asset.gzip.get().is_none() {
            let g = compress_to_twin(path, "gz", &asset.identity, gzip);
            settle(&asset.gzip, g, asset.identity.len());
        }
    }
    for (path, asset) in pending {
        if asset.brotli.get().is_none() {
            let b = compress_to_twin(path, "br", &asset.identity, brotli);
            settle(&asset.brotli, b, asset.identity.len());
        }
    }
    tracing::debug!(files = pending.len(), "site files compressed");
}

fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.split(';');
            let name = it.next().unwrap_or("").trim();
            let q_zero = it.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case(coding) && !q_zero
        })
}

fn respond(asset: &Asset, headers: &HeaderMap) -> Response {
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v == asset.etag)
    {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, asset.etag.clone())],
        )
            .into_response();
    }
    let (body, encoding) = match (asset.brotli(), asset.gzip()) {
        (Some(b), _) if accepts(headers, "br") => (b.clone(), Some("br")),
        (_, Some(g)) if accepts(headers, "gzip") => (g.clone(), Some("gzip")),
        _ => (asset.identity.clone(), None),
    };
    let mut res = Response::new(Body::from(body));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(asset.cache_control),
    );
    h.insert(header::ETAG, asset.etag.clone());
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.content_type == "image/svg+xml" {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SANDBOX_CSP),
        );
    }
    if let Some(e) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
    }
    res
}

/// A route per file; paths are exact, so nothing falls through to the page renderer.
pub fn routes<S: Clone + Send + Sync + 'static>(assets: Vec<(String, Arc<Asset>)>) -> Router<S> {
    let mut router = Router::new();
    for (path, asset) in assets {
        router = router.route(
            &path,
            get(move |headers: HeaderMap| async move { respond(&asset, &headers) }),
        );
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_and_encodings() {
        assert!(is_fingerprinted("/pkg/masterclass.8f3a2c1d9e.js"));
        assert!(!is_fingerprinted("/pkg/masterclass.js"));
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br;q=0"),
        );
        assert!(accepts(&h, "gzip"));
        assert!(!accepts(&h, "br"));
    }

    /// Start-up does not wait for compression; the twins arrive in the
    /// background, decode to the file, and the next start reads them from disk.
    #[test]
    fn compressed_twins_are_made_in_the_background_and_reused() {
        let dir = tempfile::tempdir().expect("dir");
        let pkg = dir.path().join("pkg");
        std::fs::create_dir(&pkg).expect("pkg");
        let body = "export function hydrate() { return 'masterclass'; }\n".repeat(400);
        std::fs::write(pkg.join("app.12345678.js"), &body).expect("write");
        std::fs::write(pkg.join("tiny.txt"), "small").expect("write");

        let ready = |assets: &[(String, Arc<Asset>)]| {
            let (_, js) = assets
                .iter()
                .find(|(u, _)| u == "/pkg/app.12345678.js")
                .expect("js");
            js.brotli.get().is_some() && js.gzip.get().is_some()
        };
        let assets = load(dir.path());
        assert_eq!(
            assets.len(),
            2,
            "{:?}",
            assets.iter().map(|a| &a.0).collect::<Vec<_>>()
        );
        // Bounded wait for the background thread; no assertion on how long it took.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !ready(&assets) {
            assert!(
                std::time::Instant::now() < deadline,
                "no compressed twins after 120 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let (_, js) = assets
            .iter()
            .find(|(u, _)| u == "/pkg/app.12345678.js")
            .expect("js");
        let mut decoded = Vec::new();
        brotli::BrotliDecompress(&mut &js.brotli().expect("br")[..], &mut decoded)
            .expect("br decodes");
        assert_eq!(decoded, body.as_bytes());
        let mut gunzipped = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&js.gzip().expect("gz")[..]),
            &mut gunzipped,
        )
        .expect("gz decodes");
        assert_eq!(gunzipped, body);
        let (_, tiny) = assets
            .iter()
            .find(|(u, _)| u == "/pkg/tiny.txt")
            .expect("tiny");
        assert!(tiny.brotli().is_none() && tiny.gzip().is_none());

        // Served compressed to a browser that asks for it.
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, br"),
        );
        let res = respond(js, &h);
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "br");

        // The next start finds the twins on disk, and never lists them as files.
        let again = load(dir.path());
        assert_eq!(again.len(), 2);
        assert!(ready(&again), "twins on disk are used at once");
        assert!(
            pkg.join("app.12345678.js.br").is_file() && pkg.join("app.12345678.js.gz").is_file()
        );
        assert!(std::fs::read_dir(&pkg)
            .expect("ls")
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().contains("partial")));
    }
}
