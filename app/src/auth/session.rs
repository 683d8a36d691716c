//! Who is asking: the session's user, loaded once per request.

use std::sync::Arc;
use tokio::sync::OnceCell;
use tower_sessions::Session;

use super::User;
use crate::error::AppError;
use crate::state::app_state;

const USER_KEY: &str = "uid";
const EPOCH_KEY: &str = "epoch";
/// Marks a session that a sign-up answered without signing anyone in.
const SIGNED_UP_KEY: &str = "signed_up";

/// Caches the current user for one request, so a page with several
/// server calls looks the session up once.
#[derive(Clone, Default)]
pub struct RequestUser(Arc<OnceCell<Option<User>>>);

impl RequestUser {
    /// The cache for the page being rendered: filled already when
    /// [`find_for_page`] found the user before rendering began.
    pub fn for_page() -> Self {
        let known = leptos::prelude::with_context::<axum::http::request::Parts, _>(|p| {
            p.extensions.get::<SignedIn>().cloned()
        })
        .flatten();
        match known {
            Some(SignedIn(user)) => RequestUser(Arc::new(OnceCell::new_with(Some(user)))),
            None => RequestUser::default(),
        }
    }
}

/// Who is signed in, as [`find_for_page`] found it.
#[derive(Clone)]
struct SignedIn(Option<User>);

/// Loads the signed-in user before a page renders (called by the pages'
/// middleware), so the page can show it at once (the header needs no resource
/// of its own). If the session cannot be read here, the page reads it as
/// server functions do and reports the error there. Only `GET`s: the pages'
/// router also serves the server functions, and one that signs in or out must
/// not find the user of before its change.
pub async fn find_for_page(
    req: &mut axum::extract::Request,
    session: &Session,
    db: &crate::db::Db,
) {
    if req.method() == axum::http::Method::GET {
        if let Ok(user) = user_of(session, db).await {
            req.extensions_mut().insert(SignedIn(user));
        }
    }
}

/// The signed-in user as far as it is known without waiting (see
/// [`find_for_page`]): `None` for a visitor, or when nobody looked yet.
pub fn known_user() -> Option<User> {
    leptos::prelude::use_context::<RequestUser>().and_then(|c| c.0.get().cloned().flatten())
}

async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|e| {
        tracing::error!(error = %e, "no session layer");
        AppError::Internal
    })
}

/// Loads the signed-in user, if any. A session from before the last password
/// change (its epoch is old) counts as signed out.
pub async fn current_user() -> Result<Option<User>, AppError> {
    let cache = leptos::prelude::use_context::<RequestUser>();
    if let Some(cache) = &cache {
        if let Some(u) = cache.0.get() {
            return Ok(u.clone());
        }
    }
    let user = load_user().await?;
    if let Some(cache) = cache {
        let _ = cache.0.set(user.clone());
    }
    Ok(user)
}

async fn load_user() -> Result<Option<User>, AppError> {
    let session = session().await?;
    let state = app_state()?;
    user_of(&session, &state.db).await
}

/// The user signed in to `session`, for handlers outside Leptos (event streams).
pub async fn user_of(session: &Session, db: &crate::db::Db) -> Result<Option<User>, AppError> {
    let Some(uid) = session.get::<i64>(USER_KEY).await? else {
        return Ok(None);
    };
    let epoch = session.get::<i64>(EPOCH_KEY).await?.unwrap_or(-1);
    let row = crate::row_cache::USERS
        .get_or_load(db, uid, || async {
            sqlx::query_as(
                "SELECT id, email, display_name, is_admin, session_epoch FROM users WHERE id = $1",
            )
            .bind(uid)
            .fetch_optional(db)
            .await
        })
        .await?;
    Ok(
        row.and_then(|(id, email, display_name, is_admin, session_epoch)| {
            (session_epoch == epoch).then_some(User {
                id,
                email,
                display_name,
                is_admin: is_admin != 0,
            })
        }),
    )
}

/// A user's account row as sessions check it: id, email, display name,
/// administrator (0/1) and session epoch; `None` when there is no such user.
pub type UserRow = Option<(i64, String, String, i64, i64)>;

/// The signed-in user, or `Unauthorized`.
pub async fn require_user() -> Result<User, AppError> {
    current_user().await?.ok_or(AppError::Unauthorized)
}

/// The signed-in administrator, or `Unauthorized`/`Forbidden`.
pub async fn require_admin() -> Result<User, AppError> {
    let user = require_user().await?;
    if user.is_admin {
        Ok(user)
    } else {
        Err(AppError::Forbidden)
    }
}

/// Signs `user_id` in: a fresh session id, so a planted id is worthless.
pub async fn sign_in(user_id: i64, epoch: i64) -> Result<(), AppError> {
    let session = session().await?;
    session.cycle_id().await?;
    session.insert(USER_KEY, user_id).await?;
    session.insert(EPOCH_KEY, epoch).await?;
    Ok(())
}

/// Gives the browser a fresh session with nobody signed in: what a sign-up
/// with an email that already has an account answers, so that its cookie
/// looks like the one a new account gets.
pub async fn sign_in_nobody() -> Result<(), AppError> {
    let session = session().await?;
    session.cycle_id().await?;
    session.remove::<i64>(USER_KEY).await?;
    session.remove::<i64>(EPOCH_KEY).await?;
    session.insert(SIGNED_UP_KEY, true).await?;
    Ok(())
}

/// Keeps this session valid after the user's epoch moved (password change).
pub async fn refresh_epoch(epoch: i64) -> Result<(), AppError> {
    let session = session().await?;
    session.cycle_id().await?;
    session.insert(EPOCH_KEY, epoch).await?;
    Ok(())
}

/// Signs out: the session is deleted from the store.
pub async fn sign_out() -> Result<(), AppError> {
    session().await?.flush().await?;
    Ok(())
}

/// The client's address as the server resolved it: the socket peer, or the
/// address a trusted proxy (`MASTERCLASS_TRUSTED_PROXIES`) forwarded. The
/// server puts it on every request; each per-address limit keys on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

/// The client's address as rate limits count it (see [`ClientIp`] and
/// [`super::ratelimit::address_key`]).
pub async fn client_ip() -> String {
    if let Ok(axum::Extension(ClientIp(ip))) =
        leptos_axum::extract::<axum::Extension<ClientIp>>().await
    {
        return super::ratelimit::address_key(ip);
    }
    leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .await
        .map(|ci| super::ratelimit::address_key(ci.0.ip()))
        .unwrap_or_else(|_| "unknown".into())
}
