//! The certificate endpoints that are not pages: the credential, the PDF, the
//! issuer's keys and profile, the status list, and the verify page's file upload.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::{credential, keys, store};
use crate::error::AppError;
use crate::state::AppState;

fn error(e: AppError) -> Response {
    let code = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, e.to_string()).into_response()
}

fn with_type(body: impl IntoResponse, content_type: &'static str, cache: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

fn attachment(mut r: Response, filename: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

async fn credential_jwt(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match store::credential_jwt(&state.db, &id).await {
        Ok(jwt) => attachment(
            with_type(jwt, "application/vc+jwt", "no-cache"),
            format!("certificate-{id}.jwt"),
        ),
        Err(e) => error(e),
    }
}

async fn pdf(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match store::pdf(&state.db, &state.config.public_url, &id).await {
        Ok(bytes) => attachment(
            with_type(bytes, "application/pdf", "no-cache"),
            format!("certificate-{id}.pdf"),
        ),
        Err(e) => error(e),
    }
}

async fn jwks(State(state): State<AppState>) -> Response {
    match keys::jwks(&state.db).await {
        Ok(doc) => with_type(
            doc.to_string(),
            "application/jwk-set+json",
            "public, max-age=300",
        ),
        Err(e) => error(e),
    }
}

async fn issuer(State(state): State<AppState>) -> Response {
    let doc = credential::issuer_document(&state.config.public_url);
    with_type(
        doc.to_string(),
        "application/ld+json",
        "public, max-age=300",
    )
}

async fn status_list(State(state): State<AppState>) -> Response {
    match store::status_list_jwt(&state.db, &state.config.public_url).await {
        Ok(jwt) => with_type(jwt, "application/vc+jwt", "no-cache"),
        Err(e) => error(e),
    }
}

/// The content of the `file` part of a multipart form (the verify page's file input).
fn file_part(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let boundary = ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?;
    let boundary = format!("--{}", boundary.trim_matches('"'));
    let text = String::from_utf8_lossy(body);
    text.split(boundary.as_str()).find_map(|part| {
        let (head, content) = part.split_once("\r\n\r\n")?;
        head.contains("name=\"file\"")
            .then(|| content.trim_end_matches("\r\n").trim().to_string())
            .filter(|c| !c.is_empty())
    })
}

/// Without JavaScript a chosen file is posted here; its content goes to the verify page.
async fn upload(headers: HeaderMap, body: axum::body::Bytes) -> Response {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    match file_part(&headers, &body) {
        Some(jwt) if jwt.len() <= 64 * 1024 => Redirect::to(&format!(
            "/certificates/verify?jwt={}",
            utf8_percent_encode(&jwt, NON_ALPHANUMERIC)
        ))
        .into_response(),
        Some(_) => Redirect::to("/certificates/verify?error=large").into_response(),
        None => Redirect::to("/certificates/verify?error=nofile").into_response(),
    }
}

/// The routes, with their state.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/certificates/{id}/credential.jwt", get(credential_jwt))
        .route("/certificates/{id}/certificate.pdf", get(pdf))
        .route("/certificates/verify/upload", post(upload))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/issuer", get(issuer))
        .route("/status/revocation", get(status_list))
        .with_state(state)
}
