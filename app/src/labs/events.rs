//! `GET /labs/runs/{id}/events`: a run's progress as Server-Sent Events.
//!
//! The stream reads the run's row a few times a second, so it shows progress
//! written by a worker on any instance. It sends `progress` whenever the
//! state changes and `done` once the run has finished, then ends.

use std::convert::Infallible;
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

/// The event-stream route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/labs/runs/{id}/events", get(events))
        .with_state(state)
}

async fn events(State(state): State<AppState>, session: Session, Path(id): Path<i64>) -> Response {
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
    let db = state.db.clone();
    let started = tokio::time::Instant::now();
    let stream = futures_util::stream::unfold(
        (db, user, String::new(), false),
        move |(db, user, last, finished)| async move {
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
                    return Some((Ok::<_, Infallible>(event), (db, user, data, done)));
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
