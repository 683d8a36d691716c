//! Accounts: registration, sign-in, password changes and resets.

#[cfg(feature = "ssr")]
pub mod accounts;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod password;
#[cfg(feature = "ssr")]
pub mod ratelimit;
#[cfg(feature = "ssr")]
pub mod session;
pub mod validate;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The signed-in person, as pages see them. Never carries the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
}

/// Where to go after signing in: only a local path, never another site.
#[cfg(feature = "ssr")]
fn safe_next(next: Option<String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/".to_string(),
    }
}

/// Who is signed in (none for visitors).
#[server(endpoint = "auth/me")]
pub async fn current_user() -> Result<Option<User>, AppError> {
    crate::error::ssr::with_status(session::current_user().await)
}

/// Creates an account and signs it in.
#[server(endpoint = "auth/register")]
pub async fn register(
    email: String,
    display_name: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let state = crate::state::app_state()?;
            let ip = session::client_ip().await;
            if !state.limiter.hit(
                &format!("register-ip:{ip}"),
                state.limiter.limits.register_per_ip,
            ) {
                return Err(AppError::TooManyRequests(
                    "Too many accounts were created from your network. Please try again later."
                        .into(),
                ));
            }
            let email = validate::Email::parse(&email)?;
            let name = validate::DisplayName::parse(&display_name)?;
            let password = validate::NewPassword::parse(&password)?;
            let user = accounts::create_user(&state.db, &email, &name, &password, false).await?;
            session::sign_in(user.id, 0).await?;
            leptos_axum::redirect(&safe_next(next));
            Ok(())
        }
        .await,
    )
}

/// Signs in with email and password.
#[server(endpoint = "auth/login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let state = crate::state::app_state()?;
            let limits = state.limiter.limits;
            let ip = session::client_ip().await;
            let email_key = format!("login-account:{}", email.trim().to_lowercase());
            let busy = AppError::TooManyRequests(
                "Too many sign-in attempts. Please wait a few minutes and try again.".into(),
            );
            if !state
                .limiter
                .hit(&format!("login-ip:{ip}"), limits.login_per_ip)
                || state
                    .limiter
                    .is_limited(&email_key, limits.login_failures_per_account)
            {
                return Err(busy);
            }
            match accounts::check_credentials(&state.db, &email, &password).await? {
                Some((user_id, epoch)) => {
                    state.limiter.clear(&email_key);
                    session::sign_in(user_id, epoch).await?;
                    leptos_axum::redirect(&safe_next(next));
                    Ok(())
                }
                None => {
                    state
                        .limiter
                        .hit(&email_key, limits.login_failures_per_account);
                    Err(AppError::Validation(
                        "That email and password do not match an account.".into(),
                    ))
                }
            }
        }
        .await,
    )
}

/// Signs out and goes home.
#[server(endpoint = "auth/logout")]
pub async fn logout() -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            session::sign_out().await?;
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

/// Changes the signed-in user's password; every other session is signed out.
#[server(endpoint = "auth/change-password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let user = session::require_user().await?;
            let state = crate::state::app_state()?;
            let new_password = validate::NewPassword::parse(&new_password)?;
            if accounts::check_credentials(&state.db, &user.email, &current_password)
                .await?
                .is_none()
            {
                return Err(AppError::Validation(
                    "Your current password is not right.".into(),
                ));
            }
            let epoch = accounts::set_password(&state.db, user.id, &new_password).await?;
            session::refresh_epoch(epoch).await?;
            leptos_axum::redirect("/account?changed=1");
            Ok(())
        }
        .await,
    )
}

/// Sends a reset link if the email has an account; says the same either way.
#[server(endpoint = "auth/forgot-password")]
pub async fn request_password_reset(email: String) -> Result<(), AppError> {
    crate::error::ssr::with_status(async move {
        let state = crate::state::app_state()?;
        let ip = session::client_ip().await;
        let limit = state.limiter.limits.reset_per_key;
        let email_norm = email.trim().to_lowercase();
        if !state.limiter.hit(&format!("reset-ip:{ip}"), limit)
            || !state.limiter.hit(&format!("reset-account:{email_norm}"), limit)
        {
            return Err(AppError::TooManyRequests("Too many reset requests. Please try again later.".into()));
        }
        if let Some(link) = accounts::issue_reset_link(&state.db, &state.config.public_url, &email_norm).await? {
            crate::mail::send(
                &state.config,
                &email_norm,
                "Reset your Masterclass password",
                &format!("Someone asked to reset the password of your Masterclass account.\n\nTo choose a new password, open this link within an hour:\n{link}\n\nIf it was not you, ignore this email; your password stays as it is.\n"),
            )
            .await;
        }
        leptos_axum::redirect("/forgot-password?sent=1");
        Ok(())
    }.await)
}

/// Sets a new password with a reset token, then signs in.
#[server(endpoint = "auth/reset-password")]
pub async fn reset_password(token: String, new_password: String) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let state = crate::state::app_state()?;
            let new_password = validate::NewPassword::parse(&new_password)?;
            let (user_id, epoch) =
                accounts::redeem_reset_token(&state.db, &token, &new_password).await?;
            session::sign_in(user_id, epoch).await?;
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/courses/x".into())), "/courses/x");
        assert_eq!(safe_next(Some("//evil.example".into())), "/");
        assert_eq!(safe_next(Some("https://evil.example".into())), "/");
        assert_eq!(safe_next(Some("/\\evil.example".into())), "/");
        assert_eq!(safe_next(None), "/");
    }
}
