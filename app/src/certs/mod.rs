//! Verifiable certificates: issued from a passed exam attempt, shown on a public
//! page, downloadable as a PDF and as a signed Open Badges 3.0 credential (VC-JWT,
//! EdDSA), revocable through a published Bitstring Status List, and checkable by
//! anyone — here, with `masterclass cert verify`, or with any JOSE library.

pub mod pages;

#[cfg(feature = "ssr")]
pub mod credential;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod jose;
#[cfg(feature = "ssr")]
pub mod keys;
#[cfg(feature = "ssr")]
pub mod pdf;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod text;
#[cfg(feature = "ssr")]
pub mod verify;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A certificate as its public page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateView {
    pub id: String,
    pub recipient_name: String,
    pub course_title: String,
    pub course_slug: String,
    pub issued_at: i64,
    /// `YYYY-MM-DD`, UTC.
    pub issued_date: String,
    pub revoked: bool,
    pub revoked_reason: Option<String>,
    /// `YYYY-MM-DD`, UTC: the end of its validity; `None`: it never expires.
    pub valid_until_date: Option<String>,
    /// Past its validity, by the server's clock.
    pub expired: bool,
    pub page_url: String,
    pub linkedin_url: String,
    pub kid: String,
    /// The QR code of the page URL: an SVG path on a `qr_size` square.
    pub qr_size: i32,
    pub qr_path: String,
}

/// What the learner confirms before a certificate is issued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimInfo {
    pub attempt: i64,
    pub course_title: String,
    pub course_slug: String,
    pub default_name: String,
    /// The certificate already issued for this attempt (or course), if any.
    pub certificate: Option<String>,
}

/// One certificate in a list (the learner's own, or the administrator's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateRow {
    pub id: String,
    pub recipient_name: String,
    pub course_title: String,
    pub issued_at: i64,
    pub revoked: bool,
    pub revoked_reason: Option<String>,
    /// The end of its validity (Unix ms); `None`: it never expires.
    pub valid_until: Option<i64>,
    /// Past its validity, by the server's clock.
    pub expired: bool,
    /// The learner's account (administrators only).
    pub email: Option<String>,
}

/// A learner's certificates and the passed attempts that can still be claimed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MyCertificateList {
    pub issued: Vec<CertificateRow>,
    /// (attempt id, course title)
    pub claimable: Vec<(i64, String)>,
}

/// One verification step and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// The outcome of verifying a credential.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub valid: bool,
    pub revoked: bool,
    /// Past its `validUntil` (or `exp`).
    #[serde(default)]
    pub expired: bool,
    /// Why it fails, in one sentence.
    pub reason: Option<String>,
    pub checks: Vec<Check>,
    pub recipient_name: Option<String>,
    pub achievement: Option<String>,
    pub issuer: Option<String>,
    pub credential_id: Option<String>,
}

/// A certificate's public view; anyone may look.
#[server(endpoint = "certs/get")]
pub async fn get_certificate(id: String) -> Result<CertificateView, AppError> {
    crate::error::ssr::with_status(
        async move {
            let state = crate::state::app_state()?;
            store::view(&state.db, &state.config.public_url, &id).await
        }
        .await,
    )
}

/// What the learner confirms to receive the certificate of a passed attempt.
#[server(endpoint = "certs/claim-info")]
pub async fn certificate_claim(attempt: i64) -> Result<ClaimInfo, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            store::claim_info(&state.db, attempt, &user).await
        }
        .await,
    )
}

/// Issues the certificate of a passed attempt with the name as confirmed (or corrects
/// the name: the credential is signed again, the public page stays the same).
#[server(endpoint = "certs/issue")]
pub async fn issue_certificate(attempt: i64, name: String) -> Result<String, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            let id =
                store::issue(&state.db, &state.config.public_url, attempt, &user, &name).await?;
            leptos_axum::redirect(&format!("/certificates/{id}"));
            Ok(id)
        }
        .await,
    )
}

/// The signed-in learner's certificates.
#[server(endpoint = "certs/mine")]
pub async fn my_certificates() -> Result<MyCertificateList, AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = crate::auth::session::require_user().await?;
            let state = crate::state::app_state()?;
            store::mine(&state.db, user.id).await
        }
        .await,
    )
}

/// Verifies a credential (a VC-JWT) issued by this platform; anyone may ask.
#[server(endpoint = "certs/verify")]
pub async fn verify_credential(jwt: String) -> Result<VerifyReport, AppError> {
    crate::error::ssr::with_status(
        async move {
            let state = crate::state::app_state()?;
            store::verify_here(&state.db, &state.config.public_url, &jwt).await
        }
        .await,
    )
}

/// Every certificate, for administrators.
#[server(endpoint = "certs/admin/list")]
pub async fn admin_certificates() -> Result<Vec<CertificateRow>, AppError> {
    crate::error::ssr::with_status(
        async move {
            crate::auth::session::require_admin().await?;
            let state = crate::state::app_state()?;
            store::all(&state.db).await
        }
        .await,
    )
}

/// Revokes a certificate with a reason the public page shows.
#[server(endpoint = "certs/admin/revoke")]
pub async fn revoke_certificate(id: String, reason: String) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let admin = crate::auth::session::require_admin().await?;
            let state = crate::state::app_state()?;
            store::revoke(&state.db, &id, &reason, admin.id).await?;
            crate::admin::store::audit(
                &state.db,
                &admin,
                "revoked a certificate",
                &format!("certificate {id}"),
                None,
                Some(reason.trim()),
            )
            .await
        }
        .await,
    )
}
