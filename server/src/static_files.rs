//! The compiled site (`/pkg`: wasm, JavaScript, CSS) served from memory,
//! precompressed with brotli and gzip, with immutable caching for fingerprinted names.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// One file with its encodings.
#[derive(Debug)]
pub struct Asset {
    pub content_type: &'static str,
    pub cache_control: &'static str,
    pub etag: HeaderValue,
    pub identity: axum::body::Bytes,
    pub gzip: Option<axum::body::Bytes>,
    pub brotli: Option<axum::body::Bytes>,
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

/// The `.br`/`.gz` twin of `path`: read from disk when it is newer than the
/// file, otherwise compressed now and written beside it for the next start.
fn precompressed(
    path: &Path,
    ext: &str,
    bytes: &[u8],
    compress: fn(&[u8]) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let twin = path.with_file_name(format!("{}.{ext}", path.file_name()?.to_string_lossy()));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(t), Some(s)) = (modified(&twin), modified(path)) {
        if t >= s {
            if let Ok(cached) = std::fs::read(&twin) {
                return Some(cached);
            }
        }
    }
    let out = compress(bytes)?;
    let _ = std::fs::write(&twin, &out);
    Some(out)
}

/// Loads every file under `dir` (recursively), keyed by URL path.
pub fn load(dir: &Path) -> Vec<(String, Arc<Asset>)> {
    let mut out = Vec::new();
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
            if url.ends_with(".gz") || url.ends_with(".br") {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let ct = content_type(&url);
            let compressible = !matches!(ct, "image/png" | "font/woff2") && bytes.len() > 512;
            let (gzip, brotli) = if compressible {
                (
                    precompressed(&path, "gz", &bytes, gzip).filter(|g| g.len() < bytes.len()),
                    precompressed(&path, "br", &bytes, brotli).filter(|b| b.len() < bytes.len()),
                )
            } else {
                (None, None)
            };
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
            out.push((
                url,
                Arc::new(Asset {
                    content_type: ct,
                    cache_control,
                    etag,
                    identity: bytes.into(),
                    gzip: gzip.map(Into::into),
                    brotli: brotli.map(Into::into),
                }),
            ));
        }
    }
    out
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
    let (body, encoding) = match (&asset.brotli, &asset.gzip) {
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
}
