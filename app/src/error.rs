//! The one error type every server function returns.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// What went wrong, phrased for the person who caused it.
///
/// Internal details are logged on the server and never cross the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum AppError {
    #[error("Not found.")]
    NotFound,
    #[error("Please log in to continue.")]
    Unauthorized,
    #[error("You are not allowed to do that.")]
    Forbidden,
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
}

impl AppError {
    /// The HTTP status this error answers with when called as an API.
    pub fn status(&self) -> u16 {
        match self {
            AppError::NotFound => 404,
            AppError::Unauthorized => 401,
            AppError::Forbidden => 403,
            AppError::Validation(_) => 422,
            AppError::Conflict(_) => 409,
            AppError::TooManyRequests(_) => 429,
            AppError::Internal => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::Deserialization(m) => {
                AppError::Validation(format!("The form was incomplete or malformed: {m}"))
            }
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => AppError::Validation(
                "The server could not be reached. Check your connection and try again.".into(),
            ),
            _ => AppError::Internal,
        }
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Turning server-side failures into [`AppError`]s and HTTP statuses.
    use super::AppError;

    impl From<sqlx::Error> for AppError {
        fn from(e: sqlx::Error) -> Self {
            tracing::error!(error = %e, "database error");
            AppError::Internal
        }
    }

    impl From<tower_sessions::session::Error> for AppError {
        fn from(e: tower_sessions::session::Error) -> Self {
            tracing::error!(error = %e, "session error");
            AppError::Internal
        }
    }

    /// Gives an API caller the error's real HTTP status.
    ///
    /// Only for calls to the server-function endpoint itself: a page rendering
    /// on the server sets its own status, and a plain form post (the
    /// JavaScript-off path) is answered with a redirect back to the form that
    /// carries the error in the URL, which a status here would break.
    pub fn with_status<T>(result: Result<T, AppError>) -> Result<T, AppError> {
        if let Err(e) = &result {
            let api_call = leptos::prelude::use_context::<axum::http::request::Parts>()
                .is_some_and(|p| {
                    let accepts_html = p
                        .headers
                        .get(axum::http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|s| s.contains("text/html"));
                    p.uri.path().starts_with("/api/") && !accepts_html
                });
            if api_call {
                if let (Some(opts), Ok(code)) = (
                    leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
                    axum::http::StatusCode::from_u16(e.status()),
                ) {
                    opts.set_status(code);
                }
            }
        }
        result
    }
}
