//! The one middleware around every route: who the client is, the
//! cross-origin check, the error status of API answers, the security and
//! cache headers and the request metrics. One function rather than a layer
//! each: axum layers each route separately and every layer clones the ones
//! inside it per request.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::Metrics;
use crate::security::{TrustedProxies, WebOrigin};
use crate::{api_status, form_flash, security};

/// What the middleware needs of the server.
#[derive(Clone)]
pub struct Site {
    pub metrics: Arc<Metrics>,
    /// The public URL's origin, which state-changing requests may come from.
    pub public_origin: Arc<WebOrigin>,
    /// The public URL is `https`: answers carry `Strict-Transport-Security`.
    pub hsts: bool,
    /// Proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Arc<TrustedProxies>,
}

/// Unmatched paths share one metrics label, so scanners cannot blow up cardinality.
pub async fn around(State(site): State<Site>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let proxied = security::resolve_client(&mut req, &site.trusted_proxies).unwrap_or(false);
    let rejected = {
        let proto = if proxied {
            security::forwarded_proto(req.headers())
        } else {
            None
        };
        security::cross_origin_rejection(&req, &site.public_origin, proto)
    };
    let signed_in = security::has_session_cookie(req.headers());
    let public_file = security::is_public_file(req.uri().path());
    let mut res = match rejected {
        Some(rejected) => rejected,
        None => {
            let api = req.uri().path().starts_with("/api/");
            let (req, form) = form_flash::capture(req).await;
            let res = next.run(req).await;
            let res = match form {
                Some(fields) => form_flash::after(res, fields),
                None => res,
            };
            if api {
                api_status::from_error(res).await
            } else {
                res
            }
        }
    };
    security::add_headers(&mut res, site.hsts);
    security::add_no_store(&mut res, public_file, signed_in);
    site.metrics.observe(
        method.as_str(),
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        res.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    res
}
