//! `GET /labs/runs/{id}/events`: a run's progress as Server-Sent Events.
//!
//! The stream reads the run's row a few times a second, so it shows progress
//! written by a worker on any instance. It sends `progress` whenever the
//! state changes and `done` once the run has finished, then ends.
//!
//! Each open stream holds a connection and polls the database, so one person
//! may hold only [`MAX_STREAMS_PER_USER`] at once (per instance): a further one
//! is refused with 429 until one of theirs ends. The page then falls back to
//! reloading the run once, as it does on any stream error.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_sessions::Session;

use super::store;
use crate::state::AppState;

const POLL: Duration = Duration::from_millis(250);
/// A stream ends after this long even if the run has not; the page reconnects.
const MAX_STREAM: Duration = Duration::from_secs(600);

/// How many progress streams one user may have open at once on one instance.
pub const MAX_STREAMS_PER_USER: usize = 4;

/// The open streams per user id. One per router (so per server), not per process.
#[derive(Clone, Default)]
struct OpenStreams(Arc<Mutex<HashMap<i64, usize>>>);

/// One open stream; dropping it (the stream ended, or the client went away)
/// gives the place back.
struct StreamSlot {
    open: OpenStreams,
    user: i64,
}

impl OpenStreams {
    fn take(&self, user: i64) -> Option<StreamSlot> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = map.entry(user).or_default();
        if *n >= MAX_STREAMS_PER_USER {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            open: self.clone(),
            user,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut map = self.open.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.user);
            }
        }
    }
}

/// The event-stream route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/labs/runs/{id}/events", get(events))
        .with_state((state, OpenStreams::default()))
}

async fn events(
    State((state, open)): State<(AppState, OpenStreams)>,
    session: Session,
    Path(id): Path<i64>,
) -> Response {
    let user = match crate::auth::session::user_of(&session, &state.db).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return (StatusCode::UNAUTHORIZED, "Please log in to continue.").into_response()
        }
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    // Answer "not found" for someone else's run, as the pages do.
    if let Err(e) = store::progress(&state.db, id, &user).await {
        let code = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (code, e.to_string()).into_response();
    }
    let Some(slot) = open.take(user.id) else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, "10")],
            format!(
                "You are already following {MAX_STREAMS_PER_USER} runs live, the most at once. \
                 Close another page that shows a run in progress, or reload this one to see where it is."
            ),
        )
            .into_response();
    };
    let db = state.db.clone();
    let started = tokio::time::Instant::now();
    let stream = futures_util::stream::unfold(
        (db, user, String::new(), false, slot),
        move |(db, user, last, finished, slot)| async move {
            if finished {
                return None;
            }
            loop {
                let (name, data, done) = match store::progress(&db, id, &user).await {
                    Ok(p) => {
                        let done = p.status != "queued" && p.status != "running";
                        let data = serde_json::to_string(&p).unwrap_or_default();
                        (if done { "done" } else { "progress" }, data, done)
                    }
                    Err(e) => ("error", e.to_string(), true),
                };
                if done || data != last {
                    let event = Event::default().event(name).data(&data);
                    return Some((Ok::<_, Infallible>(event), (db, user, data, done, slot)));
                }
                if started.elapsed() > MAX_STREAM {
                    return None;
                }
                tokio::time::sleep(POLL).await;
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
