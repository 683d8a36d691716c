//! Accounts: registration, sign-in, password changes and resets.

#[cfg(feature = "ssr")]
pub mod accounts;
pub mod form_flash;
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

/// Where to go after signing in or up: a path on this site, or `/`.
///
/// Only a path that begins with exactly one `/` (not `//` or `/\`, which
/// browsers read as another host) and holds no whitespace, control character
/// or backslash: browsers drop tabs and newlines from URLs, so `/\t/evil.example`
/// would become `//evil.example`, and a newline cannot go into a header.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_string(),
        _ => "/".to_string(),
    }
}

fn is_local_path(n: &str) -> bool {
    n.len() <= 2048
        && n.starts_with('/')
        && !n[1..].starts_with('/')
        && !n
            .chars()
            .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
}

/// `s` made safe as one query-string value (`/` kept for readable paths).
pub fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Who is signed in (none for visitors).
#[server(endpoint = "auth/me")]
pub async fn current_user() -> Result<Option<User>, AppError> {
    crate::error::ssr::with_status(session::current_user().await)
}

/// Creates an account and signs it in.
///
/// An email that already has an account gets the same answer (and takes as
/// long), so the form does not tell strangers who is registered; the owner is
/// told by email instead, and nobody is signed in.
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
            match accounts::create_user(&state.db, &email, &name, &password, false).await {
                Ok(user) => session::sign_in(user.id, 0).await?,
                Err(AppError::Conflict(_)) => {
                    // The password was hashed all the same (create_user hashes
                    // before it inserts), and the mail goes out in the background.
                    if state.limiter.hit(
                        &format!("register-notice:{}", email.as_str()),
                        state.limiter.limits.register_notices_per_account,
                    ) {
                        crate::mail::send_later(
                            state.config.clone(),
                            email.as_str().to_string(),
                            "Someone tried to create a Masterclass account with your address"
                                .into(),
                            registration_notice(&state.config.public_url),
                        );
                    }
                    session::sign_in_nobody().await?;
                }
                Err(e) => return Err(e),
            }
            leptos_axum::redirect(&safe_next(next.as_deref()));
            Ok(())
        }
        .await,
    )
}

#[cfg(feature = "ssr")]
fn registration_notice(public_url: &str) -> String {
    let base = public_url.trim_end_matches('/');
    format!(
        "Someone tried to create a new Masterclass account with this email address, \
         which already has an account. Nothing about your account changed, and \
         nobody was signed in.\n\n\
         If it was you, log in at {base}/login, or choose a new password at \
         {base}/forgot-password if you forgot it.\n\n\
         If it was not you, you can ignore this email.\n"
    )
}

/// Signs in with email and password.
///
/// Attempts are limited per client address and per (account, address), never
/// per account alone, so nobody can lock the owner out of their own account
/// from somewhere else.
#[server(endpoint = "auth/login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    crate::error::ssr::with_status(
        async move {
            let state = crate::state::app_state()?;
            let limits = state.limiter.limits;
            let email = email.trim().to_lowercase();
            let mismatch =
                || AppError::Validation("That email and password do not match an account.".into());
            if email.len() > 254 {
                return Err(mismatch());
            }
            let ip = session::client_ip().await;
            let ip_key = format!("login-ip:{ip}");
            let pair_key = format!("login:{ip}:{email}");
            let busy = AppError::TooManyRequests(
                "Too many sign-in attempts. Please wait a few minutes and try again.".into(),
            );
            // Both are counted before the password is checked, so a burst of
            // parallel guesses cannot all slip in before the first failure counts.
            if !state.limiter.hit(&ip_key, limits.login_per_ip) {
                return Err(busy);
            }
            if !state
                .limiter
                .hit(&pair_key, limits.login_failures_per_account)
            {
                return Err(busy);
            }
            match accounts::check_credentials(&state.db, &email, &password).await? {
                Some((user_id, epoch)) => {
                    state.limiter.clear(&pair_key);
                    state.limiter.undo(&ip_key);
                    session::sign_in(user_id, epoch).await?;
                    leptos_axum::redirect(&safe_next(next.as_deref()));
                    Ok(())
                }
                None => Err(mismatch()),
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
            leptos_axum::redirect("/account?reset=1");
            Ok(())
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::{query_value, safe_next};

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/courses/x")), "/courses/x");
        assert_eq!(
            safe_next(Some("/courses/x?tab=2#top")),
            "/courses/x?tab=2#top"
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\nSet-Cookie: x=1",
            "/ /evil.example",
            "/\u{a0}/evil.example",
            "/\u{7f}",
            "\t//evil.example",
            "javascript:alert(1)",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(5000)))), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_value("/courses/x"), "/courses/x");
        assert_eq!(query_value("/a?b=c&d"), "/a%3Fb%3Dc%26d");
        assert_eq!(query_value("/é"), "/%C3%A9");
    }
}
