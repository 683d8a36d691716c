//! Server functions answer with their error's own status.
//!
//! A server function's body sets the status of the errors it returns, but
//! arguments that cannot be decoded (a missing or malformed field) fail before
//! the body runs, and server_fn answers those with 500. A malformed request is
//! the caller's mistake, so this gives such answers the status of the
//! [`AppError`] they carry (422 for a malformed form).

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use app::error::AppError;

/// Error bodies are one short JSON message; anything longer is left alone.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// An answer from `/api/`, with the status its error carries.
pub async fn from_error(res: Response) -> Response {
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Some(status) = serde_json::from_slice::<AppError>(&bytes)
        .ok()
        .and_then(|e| StatusCode::from_u16(e.status()).ok())
    {
        parts.status = status;
    }
    Response::from_parts(parts, Body::from(bytes))
}
