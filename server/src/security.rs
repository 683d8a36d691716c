//! Request hardening: who the client is (behind trusted proxies), cross-origin
//! state changes are refused, and every response carries the security headers.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// The addresses whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed
/// (`MASTERCLASS_TRUSTED_PROXIES`): single addresses and CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses `10.0.0.1, 10.1.0.0/16, ::1, fd00::/8` (commas, spaces or both).
    pub fn parse(raw: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for item in raw
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            let bad = || format!("{item:?} is not an IP address or a CIDR block like 10.0.0.0/8");
            let (addr, prefix) = match item.split_once('/') {
                Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
                None => (item, None),
            };
            let ip = addr.parse::<IpAddr>().map_err(|_| bad())?.to_canonical();
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = prefix.unwrap_or(max);
            if prefix > max {
                return Err(bad());
            }
            nets.push((mask(ip, prefix), prefix));
        }
        Ok(TrustedProxies(nets))
    }

    /// Whether no proxy is trusted (the socket peer is always the client).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0
            .iter()
            .any(|(net, prefix)| net.is_ipv4() == ip.is_ipv4() && mask(ip, *prefix) == *net)
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `2001:db8::1`, `[2001:db8::1]:443`
/// or `1.2.3.4:5678`.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// Who the client is: the socket peer, unless the peer is a trusted proxy;
/// then the right-most address of `X-Forwarded-For` that is not a trusted
/// proxy. Everything left of it was written by the client and proves nothing.
/// Also says whether the answer came through a trusted proxy (whose
/// `X-Forwarded-Proto` may then be believed).
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> (IpAddr, bool) {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return (peer, false);
    }
    let mut client = peer;
    let values: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    for entry in values.iter().rev().flat_map(|v| v.rsplit(',')) {
        if entry.trim().is_empty() {
            continue;
        }
        match forwarded_ip(entry) {
            Some(ip) if trusted.contains(ip) => client = ip,
            Some(ip) => return (ip, true),
            // Garbage where an address should be: the last proxy that passed
            // it on is the nearest address known.
            None => return (client, true),
        }
    }
    (client, true)
}

/// Resolves the client's address once per request and leaves it on the
/// request for everything that limits per address.
pub fn resolve_client(req: &mut Request, trusted: &TrustedProxies) -> Option<bool> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    let (ip, proxied) = client_addr(peer, req.headers(), trusted);
    req.extensions_mut()
        .insert(app::auth::session::ClientIp(ip));
    Some(proxied)
}

/// A web origin: scheme, host and port (the default port when none is written).
/// The default matches no origin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebOrigin {
    scheme: String,
    host: String,
    port: u16,
}

impl WebOrigin {
    /// The origin of an absolute `http(s)` URL (an `Origin` or `Referer` value,
    /// or the public URL); `None` for anything else, `null` included.
    pub fn of_url(value: &str) -> Option<WebOrigin> {
        let url = reqwest::Url::parse(value.trim()).ok()?;
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        Some(WebOrigin {
            scheme: url.scheme().to_string(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }

    /// Whether this is an `https` origin.
    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }
}

/// Whether a state-changing request comes from this site: its `Origin` (or
/// `Referer`) has the scheme, host and port of the public URL, or of the
/// address the request itself was sent to (`Host`, with the scheme a trusted
/// proxy reported, `http` otherwise). A plain-`http` page on the public host
/// of an `https` site is not the site (anyone on the network can write one).
/// Browsers send `Origin` on every cross-site POST (even as `null`), so a
/// missing header means a non-browser client, which carries no ambient
/// cookies to abuse.
pub fn same_origin(headers: &HeaderMap, public: &WebOrigin, forwarded_proto: Option<&str>) -> bool {
    let claimed = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .map(|v| v.to_str().ok().and_then(WebOrigin::of_url));
    let origin = match claimed {
        None => return true,
        Some(None) => return false,
        Some(Some(o)) => o,
    };
    if origin == *public {
        return true;
    }
    if public.is_https() && !origin.is_https() && origin.host == public.host {
        return false;
    }
    let scheme = match forwarded_proto {
        Some("https") => "https",
        _ => "http",
    };
    let requested = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| WebOrigin::of_url(&format!("{scheme}://{h}/")));
    requested.as_ref() == Some(&origin)
}

/// The 403 for a cross-origin POST/PUT/PATCH/DELETE; `None` lets the request through.
pub fn cross_origin_rejection(
    req: &Request,
    public: &WebOrigin,
    forwarded_proto: Option<&str>,
) -> Option<Response> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || same_origin(req.headers(), public, forwarded_proto) {
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

/// The `X-Forwarded-Proto` of a request that came through a trusted proxy.
pub fn forwarded_proto(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.rsplit(',').next().unwrap_or(v).trim())
}

/// Whether `path` is one of the site's files or course media, which are the
/// same for everyone.
pub fn is_public_file(path: &str) -> bool {
    path.starts_with("/pkg/") || path.starts_with("/media/")
}

/// Whether the request carries the session cookie (someone may be signed in).
pub fn has_session_cookie(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| {
            c.trim_start()
                .starts_with(crate::startup::SESSION_COOKIE_EQ)
        })
}

/// Answers to signed-in users are theirs alone: no shared or browser cache
/// may keep them (a page with their name, progress or exam on a shared
/// computer). Answers that say how to cache themselves (the fingerprinted
/// site files, certificates) keep what they say; course media are public.
pub fn add_no_store(res: &mut Response, public_file: bool, signed_in: bool) {
    let signed_in = signed_in || res.headers().contains_key(header::SET_COOKIE);
    if !signed_in || public_file || res.headers().contains_key(header::CACHE_CONTROL) {
        return;
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

const DEFAULT_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; media-src 'self'; \
     object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// A year: browsers then refuse plain HTTP to the site for that long.
/// No `includeSubDomains`: other sites under the same domain are not ours to pin.
const HSTS: &str = "max-age=31536000";

/// Adds the security headers; a page that set its own policy (with a nonce)
/// keeps it. `hsts` when the public URL is `https`.
pub fn add_headers(res: &mut Response, hsts: bool) {
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
    if hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    fn origin(url: &str) -> WebOrigin {
        WebOrigin::of_url(url).expect("origin")
    }

    #[test]
    fn origin_checks() {
        let public = &origin("https://learn.example");
        let ok = |pairs: &[(&'static str, &'static str)]| same_origin(&h(pairs), public, None);
        assert!(ok(&[("host", "127.0.0.1:3000")]));
        assert!(ok(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000")
        ]));
        assert!(ok(&[
            ("host", "internal:80"),
            ("origin", "https://learn.example")
        ]));
        assert!(ok(&[
            ("host", "internal:80"),
            ("origin", "https://learn.example:443")
        ]));
        assert!(!ok(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "https://evil.example")
        ]));
        assert!(!ok(&[("host", "127.0.0.1:3000"), ("origin", "null")]));
        assert!(!ok(&[
            ("host", "127.0.0.1:3000"),
            ("referer", "https://evil.example/x")
        ]));
        assert!(ok(&[
            ("host", "127.0.0.1:3000"),
            ("referer", "http://127.0.0.1:3000/login")
        ]));
        // The scheme and port count, not only the host.
        assert!(!ok(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "https://127.0.0.1:3000")
        ]));
        assert!(!ok(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3001")
        ]));
        assert!(!ok(&[
            ("host", "learn.example"),
            ("origin", "http://learn.example")
        ]));
        assert!(!ok(&[
            ("host", "learn.example:8443"),
            ("origin", "https://learn.example:8443")
        ]));
        assert!(same_origin(
            &h(&[
                ("host", "learn.example:8443"),
                ("origin", "https://learn.example:8443")
            ]),
            public,
            Some("https")
        ));
    }

    #[test]
    fn trusted_proxies_parse_and_match() {
        let t = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8 ::1,fd00::/8").expect("parse");
        for ip in ["127.0.0.1", "10.1.2.3", "::1", "fd12::5", "::ffff:10.9.9.9"] {
            assert!(t.contains(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["127.0.0.2", "11.0.0.1", "::2", "fe80::1"] {
            assert!(!t.contains(ip.parse().expect("ip")), "{ip}");
        }
        assert!(TrustedProxies::parse("").expect("empty").is_empty());
        for bad in ["10.0.0.0/33", "nginx", "10.0.0/8", "::1/129"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
        assert!(TrustedProxies::parse("0.0.0.0/0")
            .expect("all")
            .contains("8.8.8.8".parse().expect("ip")));
    }

    #[test]
    fn forwarded_for_is_read_from_the_right() {
        let t = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").expect("parse");
        let ip = |s: &str| -> IpAddr { s.parse().expect("ip") };
        let proxy = ip("127.0.0.1");
        let of = |pairs: &[(&'static str, &'static str)], peer: IpAddr| {
            client_addr(peer, &h(pairs), &t).0
        };
        // Not through a trusted proxy: the header is the client's own words.
        assert_eq!(
            of(&[("x-forwarded-for", "198.51.100.1")], ip("203.0.113.9")),
            ip("203.0.113.9")
        );
        assert_eq!(
            of(&[("x-forwarded-for", "198.51.100.1")], proxy),
            ip("198.51.100.1")
        );
        // A client's forged entries sit left of what the proxy appended.
        assert_eq!(
            of(&[("x-forwarded-for", "1.1.1.1, 198.51.100.1")], proxy),
            ip("198.51.100.1")
        );
        assert_eq!(
            of(
                &[
                    ("x-forwarded-for", "1.1.1.1"),
                    ("x-forwarded-for", "198.51.100.1, 10.0.0.7")
                ],
                proxy
            ),
            ip("198.51.100.1")
        );
        assert_eq!(
            of(&[("x-forwarded-for", "[2001:db8::1]:443")], proxy),
            ip("2001:db8::1")
        );
        assert_eq!(
            of(&[("x-forwarded-for", "junk, 10.0.0.7")], proxy),
            ip("10.0.0.7")
        );
        assert_eq!(of(&[], proxy), proxy);
        assert_eq!(of(&[("x-forwarded-for", "")], proxy), proxy);
    }
}
