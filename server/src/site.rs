//! The one middleware around every route: the cross-origin check, the error
//! status of API answers, the security headers and the request metrics.
//! One function rather than a layer each: axum layers each route separately
//! and every layer clones the ones inside it per request.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::Metrics;
use crate::{api_status, security};

/// What the middleware needs of the server.
#[derive(Clone)]
pub struct Site {
    pub metrics: Arc<Metrics>,
    /// The public address, which state-changing requests may come from.
    pub public_url: Arc<str>,
}

/// Unmatched paths share one metrics label, so scanners cannot blow up cardinality.
pub async fn around(State(site): State<Site>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let mut res = match security::cross_origin_rejection(&req, &site.public_url) {
        Some(rejected) => rejected,
        None => {
            let api = req.uri().path().starts_with("/api/");
            let res = next.run(req).await;
            if api {
                api_status::from_error(res).await
            } else {
                res
            }
        }
    };
    security::add_headers(&mut res);
    site.metrics.observe(
        method.as_str(),
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        res.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    res
}
