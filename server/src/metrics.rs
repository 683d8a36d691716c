//! `/metrics`: request counts and latency histograms by route and status,
//! in the Prometheus text exposition format.

use axum::extract::State;
use axum::response::IntoResponse;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// What one method on one route has answered.
#[derive(Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    duration: Histogram,
}

/// Counters and histograms for every request the server answers.
#[derive(Default)]
pub struct Metrics {
    /// By method, then route: a request finds its entry without allocating.
    routes: Mutex<BTreeMap<String, BTreeMap<String, RouteStats>>>,
    started: Option<std::time::SystemTime>,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics {
            started: Some(std::time::SystemTime::now()),
            ..Default::default()
        })
    }

    /// Counts one answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let by_route = match routes.get_mut(method) {
            Some(r) => r,
            None => routes.entry(method.to_string()).or_default(),
        };
        let stats = match by_route.get_mut(route) {
            Some(s) => s,
            None => by_route.entry(route.to_string()).or_default(),
        };
        *stats.by_status.entry(status).or_insert(0) += 1;
        let h = &mut stats.duration;
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let esc = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        out.push_str("# HELP masterclass_http_requests_total HTTP requests answered, by method, route and status.\n");
        out.push_str("# TYPE masterclass_http_requests_total counter\n");
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let all = || {
            routes
                .iter()
                .flat_map(|(m, by_route)| by_route.iter().map(move |(r, st)| (m, r, st)))
        };
        for (m, r, stats) in all() {
            for (s, n) in &stats.by_status {
                let _ = writeln!(
                    out,
                    "masterclass_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{s}\"}} {n}",
                    esc(m),
                    esc(r)
                );
            }
        }
        out.push_str("# HELP masterclass_http_request_duration_seconds Time to answer an HTTP request, by method and route.\n");
        out.push_str("# TYPE masterclass_http_request_duration_seconds histogram\n");
        for (m, r, stats) in all() {
            let h = &stats.duration;
            let labels = format!("method=\"{}\",route=\"{}\"", esc(m), esc(r));
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "masterclass_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "masterclass_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "masterclass_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "masterclass_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        if let Some(t) = self
            .started
            .and_then(|s| s.duration_since(std::time::UNIX_EPOCH).ok())
        {
            out.push_str("# HELP process_start_time_seconds Start time of the process since the Unix epoch.\n");
            out.push_str("# TYPE process_start_time_seconds gauge\n");
            let _ = writeln!(out, "process_start_time_seconds {}", t.as_secs());
        }
        out.push_str("# HELP masterclass_build_info The running version.\n# TYPE masterclass_build_info gauge\n");
        let _ = writeln!(
            out,
            "masterclass_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

/// What `/metrics` answers with: the numbers, and the token a scraper must show.
#[derive(Clone)]
pub struct Endpoint {
    pub metrics: Arc<Metrics>,
    /// `MASTERCLASS_METRICS_TOKEN`; `None` lets anyone who can reach the route read it.
    pub token: Option<Arc<str>>,
}

/// Whether `Authorization` holds `Bearer <token>`. Compared in constant time,
/// so the answer's timing does not spell the token out.
fn authorized(headers: &axum::http::HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
    else {
        return false;
    };
    let (a, b) = (given.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /metrics`
pub async fn handler(
    State(endpoint): State<Endpoint>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    if let Some(token) = &endpoint.token {
        if !authorized(&headers, token) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
                "This endpoint needs the metrics token (Authorization: Bearer …).\n",
            )
                .into_response();
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        endpoint.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::authorized;
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn bearer_token() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("authorization", HeaderValue::from_static(v));
            h
        };
        let token = "s3cret-token-for-metrics";
        assert!(authorized(&with("Bearer s3cret-token-for-metrics"), token));
        assert!(authorized(
            &with("bearer  s3cret-token-for-metrics "),
            token
        ));
        assert!(!authorized(&with("Bearer s3cret-token-for-metric"), token));
        assert!(!authorized(&with("Basic s3cret-token-for-metrics"), token));
        assert!(!authorized(&HeaderMap::new(), token));
    }
}
