//! What every page request passes through before and after Leptos renders it.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tower_sessions::Session;

use app::db::Db;
use app::shared_html::ssr::SharedHtml;

/// Finds who is signed in before the page renders, and sends the prebuilt
/// HTML the page placed by reference (see `app::shared_html`).
pub async fn around(
    State(db): State<Db>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    app::auth::session::find_for_page(&mut req, &session, &db).await;
    let shared = SharedHtml::default();
    req.extensions_mut().insert(shared.clone());
    shared.send(next.run(req).await)
}
