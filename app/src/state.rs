//! Server-side shared state, handed to every request through Leptos context.

use std::sync::Arc;

use crate::auth::ratelimit::RateLimiter;

/// How the platform is configured; built once by the server binary.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL used in links sent by email (password resets, certificates).
    pub public_url: String,
    /// Where media files served under `/media` live.
    pub media_dir: std::path::PathBuf,
    /// SMTP relay for outgoing mail; `None` writes mail to the log instead.
    pub smtp: Option<SmtpConfig>,
}

/// Outgoing mail settings.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    /// `starttls` (default), `tls` (implicit, port 465) or `none` (a local relay).
    pub tls: SmtpTls,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Tls,
    None,
}

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    pub db: crate::db::Db,
    pub config: Arc<Config>,
    pub limiter: Arc<RateLimiter>,
    /// The published courses, held in memory between imports.
    pub published: Arc<crate::course::published::Published>,
    /// This instance's lab workers.
    pub labs: Arc<crate::labs::worker::LabQueue>,
}

/// The state of the current request; server functions call this first.
pub fn app_state() -> Result<AppState, crate::error::AppError> {
    leptos::prelude::use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from context");
        crate::error::AppError::Internal
    })
}
