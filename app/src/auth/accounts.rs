//! Account storage: users, credentials and reset tokens.

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::validate::{DisplayName, Email, NewPassword};
use super::{password, User};
use crate::db::{now_ms, Db};
use crate::error::AppError;

/// Creates a user; `Conflict` when the email is taken.
pub async fn create_user(
    db: &Db,
    email: &Email,
    name: &DisplayName,
    password: &NewPassword,
    is_admin: bool,
) -> Result<User, AppError> {
    let hash = password::hash(password.as_str().to_string()).await?;
    let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
        "INSERT INTO users (email, display_name, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(email.as_str())
    .bind(name.as_str())
    .bind(hash)
    .bind(i64::from(is_admin))
    .bind(now_ms())
    .fetch_one(db)
    .await;
    match inserted {
        Ok((id,)) => {
            // No copy of a row that did not exist may outlive its creation.
            crate::row_cache::USERS.forget(db, id);
            Ok(User {
                id,
                email: email.as_str().into(),
                display_name: name.as_str().into(),
                is_admin,
            })
        }
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(AppError::Conflict(
            "An account with that email already exists. Try signing in.".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Makes an existing account an administrator; `false` if there is no such account.
pub async fn promote(db: &Db, email: &Email) -> Result<bool, AppError> {
    let r = sqlx::query("UPDATE users SET is_admin = 1 WHERE email = $1")
        .bind(email.as_str())
        .execute(db)
        .await?;
    crate::row_cache::USERS.forget_all(db);
    Ok(r.rows_affected() > 0)
}

/// Whether any administrator exists.
pub async fn has_admin(db: &Db) -> Result<bool, AppError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE is_admin = 1")
        .fetch_one(db)
        .await?;
    Ok(n > 0)
}

/// Returns `(user id, session epoch)` when the credentials match. Unknown
/// emails are checked against a dummy hash, so both failures take as long.
pub async fn check_credentials(
    db: &Db,
    email: &str,
    password: &str,
) -> Result<Option<(i64, i64)>, AppError> {
    let email = email.trim().to_lowercase();
    let row: Option<(i64, String, i64)> =
        sqlx::query_as("SELECT id, password_hash, session_epoch FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(db)
            .await?;
    let (stored, ids) = match row {
        Some((id, hash, epoch)) => (Some(hash), Some((id, epoch))),
        None => (None, None),
    };
    let ok = password::verify(password.to_string(), stored).await?;
    Ok(if ok { ids } else { None })
}

/// Stores a new password and moves the session epoch, signing out other
/// sessions. Every reset link issued before it stops working: a link that
/// leaked (a forwarded mail, a shared inbox) must not outlive the password
/// it was meant to replace.
pub async fn set_password(db: &Db, user_id: i64, password: &NewPassword) -> Result<i64, AppError> {
    let hash = password::hash(password.as_str().to_string()).await?;
    let mut tx = db.begin().await?;
    let (epoch,): (i64,) = sqlx::query_as(
        "UPDATE users SET password_hash = $1, session_epoch = session_epoch + 1 WHERE id = $2 RETURNING session_epoch",
    )
    .bind(hash)
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(now_ms())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    crate::row_cache::USERS.forget(db, user_id);
    Ok(epoch)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

const RESET_TTL_MS: i64 = 60 * 60 * 1000;

/// Creates a one-hour, single-use reset link for `email`; `None` if there is no such account.
/// Only the token's hash is stored.
pub async fn issue_reset_link(
    db: &Db,
    public_url: &str,
    email: &str,
) -> Result<Option<String>, AppError> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE email = $1")
        .bind(email.trim().to_lowercase())
        .fetch_optional(db)
        .await?;
    let Some((user_id,)) = row else {
        return Ok(None);
    };
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    sqlx::query(
        "INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(token_hash(&token))
    .bind(user_id)
    .bind(now_ms() + RESET_TTL_MS)
    .execute(db)
    .await?;
    Ok(Some(format!(
        "{}/reset-password?token={token}",
        public_url.trim_end_matches('/')
    )))
}

/// Uses a reset token once: sets the password and returns `(user id, new epoch)`.
pub async fn redeem_reset_token(
    db: &Db,
    token: &str,
    password: &NewPassword,
) -> Result<(i64, i64), AppError> {
    let expired = || {
        AppError::Validation("This reset link is invalid or has expired. Ask for a new one.".into())
    };
    let now = now_ms();
    // Claiming the token in one UPDATE makes it single-use even under concurrent requests.
    let claimed: Option<(i64,)> = sqlx::query_as(
        "UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(now)
    .bind(token_hash(token.trim()))
    .fetch_optional(db)
    .await?;
    let (user_id,) = claimed.ok_or_else(expired)?;
    let epoch = set_password(db, user_id, password).await?;
    Ok((user_id, epoch))
}
