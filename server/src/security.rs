//! Request hardening: cross-origin state changes are refused, and every
//! response carries the security headers.

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// The scheme-less `host[:port]` of an `Origin` or `Referer` value.
fn origin_host(value: &str) -> Option<&str> {
    let rest = value.split_once("://")?.1;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// Whether a state-changing request comes from this site. Browsers send
/// `Origin` on every cross-site POST (even as `null`), so a missing header
/// means a non-browser client, which carries no ambient cookies to abuse.
pub fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let claimed = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .map(|v| v.to_str().ok().and_then(origin_host));
    match claimed {
        None => true,
        Some(None) => false,
        Some(Some(origin)) => Some(origin) == host || Some(origin) == origin_host(public_url),
    }
}

/// The 403 for a cross-origin POST/PUT/PATCH/DELETE; `None` lets the request through.
pub fn cross_origin_rejection(req: &Request, public_url: &str) -> Option<Response> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || same_origin(req.headers(), public_url) {
        return None;
    }
    tracing::warn!(method = %req.method(), path = %req.uri().path(), "cross-origin request rejected");
    Some(
        (
            StatusCode::FORBIDDEN,
            "Cross-site request rejected: this form must be sent from the Masterclass site itself.",
        )
            .into_response(),
    )
}

const DEFAULT_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; media-src 'self'; \
     object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers; a page that set its own policy (with a nonce) keeps it.
pub fn add_headers(res: &mut Response) {
    let h = res.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(DEFAULT_CSP));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn origin_checks() {
        let public = "https://learn.example";
        assert!(same_origin(&h(&[("host", "127.0.0.1:3000")]), public));
        assert!(same_origin(
            &h(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://127.0.0.1:3000")
            ]),
            public
        ));
        assert!(same_origin(
            &h(&[("host", "internal:80"), ("origin", "https://learn.example")]),
            public
        ));
        assert!(!same_origin(
            &h(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "https://evil.example")
            ]),
            public
        ));
        assert!(!same_origin(
            &h(&[("host", "127.0.0.1:3000"), ("origin", "null")]),
            public
        ));
        assert!(!same_origin(
            &h(&[
                ("host", "127.0.0.1:3000"),
                ("referer", "https://evil.example/x")
            ]),
            public
        ));
        assert!(same_origin(
            &h(&[
                ("host", "127.0.0.1:3000"),
                ("referer", "http://127.0.0.1:3000/login")
            ]),
            public
        ));
    }
}
