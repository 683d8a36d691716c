//! `k6/http` requests: URL sandboxing, metrics and the response object, plus
//! a small blocking HTTP/1.1 client for live runs over loopback.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::metrics::{RequestSample, Tags};
use super::vu::{VuState, World, WorldRequest, WorldResponse};

/// Why a request did not produce a response object.
#[derive(Debug)]
pub enum RequestFailure {
    /// The VU must stop (deadline, cancel, request budget).
    Stop(String),
    /// A JavaScript exception (bad arguments).
    Throw(String),
}

/// Request parameters from `k6/http` (headers, tags, timeout, ...).
#[derive(Debug, Default, Clone)]
pub struct Params {
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// Extra sample tags (`params.tags`).
    pub tags: Vec<(String, String)>,
    /// `params.timeout` as given (a duration string or milliseconds).
    pub timeout: Option<String>,
    /// `params.responseType` (`"none"` discards the body).
    pub response_type: Option<String>,
    /// Expected status ranges from `params.responseCallback`.
    pub expected: Option<Vec<(u16, u16)>>,
}

impl Params {
    /// Builds params from the flat arrays the JavaScript side passes.
    pub fn from_flat(headers: Vec<String>, tags: Vec<String>, opts: Vec<String>) -> Self {
        let pairs = |v: Vec<String>| {
            let mut out = Vec::with_capacity(v.len() / 2);
            let mut it = v.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((k, v));
            }
            out
        };
        let opt = |i: usize| opts.get(i).filter(|s| !s.is_empty()).cloned();
        Self {
            headers: pairs(headers),
            tags: pairs(tags),
            timeout: opt(0),
            response_type: opt(1),
            expected: opt(2).and_then(|e| serde_json::from_str(&e).ok()),
        }
    }
}

/// Response headers as handed to JavaScript.
#[derive(Debug, Clone)]
pub enum HeadersOut {
    /// The simulated service's two headers: `Content-Type` (this) and
    /// `Content-Length` (the body's length), built only if a script reads them.
    Typed(&'static str),
    /// Headers as received (live).
    List(Vec<(String, String)>),
}

impl Default for HeadersOut {
    fn default() -> Self {
        Self::List(Vec::new())
    }
}

/// What `k6/http` hands back to JavaScript.
#[derive(Debug, Clone, Default)]
pub struct ResponseOut {
    /// Status (0 on transport errors).
    pub status: u16,
    /// Body (cut to the kept budget), unless discarded; shared when the
    /// service answered with a fixed body.
    pub body: Option<Cow<'static, [u8]>>,
    /// Length of the whole body as received.
    pub body_len: usize,
    /// Transport error: k6-style code and text.
    pub error: Option<(u32, String)>,
    /// Phases in seconds: blocked, connecting, sending, waiting, receiving
    /// (`Response.timings` makes milliseconds of them when read).
    pub phases: [f64; 5],
    /// Response headers.
    pub headers: HeadersOut,
}

/// Host names that mean "this machine".
fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1") || host.starts_with("127.")
}

/// Where a URL leads: the path on the toy service, or why it cannot be sent.
#[derive(Debug, Clone)]
pub struct Routed {
    url: String,
    target: Result<String, (u32, String)>,
}

fn route(vu: &VuState, url: &str) -> Result<String, (u32, String)> {
    let (host, port, path) = split_url(url).map_err(|e| (1000, e))?;
    let (thost, tport) = (&vu.target.0, vu.target.1);
    if is_loopback(&host) && (port == tport || port == 3333) {
        Ok(path)
    } else {
        Err((1100, format!("lab sandbox: {url} is not reachable; only the toy service ({}) is, e.g. __ENV.BASE_URL", format_args!("http://{thost}:{tport}"))))
    }
}

/// Splits `http://host:port/path?q` into host, port and path+query.
fn split_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = if let Some(r) = url.strip_prefix("http://") {
        r
    } else if url.starts_with("https://") {
        return Err("https is not available in the lab: the toy service speaks plain http".into());
    } else {
        return Err(format!("invalid URL {url:?}: expected http://host/path"));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(h) = authority.strip_prefix('[') {
        let (h, p) = h
            .split_once(']')
            .ok_or_else(|| format!("invalid URL {url:?}"))?;
        (format!("[{h}]"), p.strip_prefix(':').unwrap_or(""))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p),
            None => (authority.to_owned(), ""),
        }
    };
    let port = if port.is_empty() {
        80
    } else {
        port.parse()
            .map_err(|_| format!("invalid port in URL {url:?}"))?
    };
    if host.is_empty() {
        return Err(format!("invalid URL {url:?}: no host"));
    }
    Ok((host.to_ascii_lowercase(), port, path))
}

/// Remembers `url` as the VU's last URL, with where it leads. Done first
/// thing by every request given a URL, so the JavaScript side may send
/// none when it asks for the same URL again (see `k6_http.js`).
pub fn set_url(vu: &mut VuState, url: String) {
    if vu.last_route.as_ref().is_some_and(|r| r.url == url) {
        return;
    }
    let target = route(vu, &url);
    vu.last_route = Some(Routed { url, target });
}

/// Runs one `k6/http` request for a VU to its last URL (see [`set_url`]):
/// sandbox checks, the world's answer, the request's metrics, and the
/// response for JavaScript.
pub fn request(
    vu: &mut VuState,
    world: &dyn World,
    method: &str,
    body: Option<&str>,
    spec: &Params,
) -> Result<ResponseOut, RequestFailure> {
    if world.stopping() {
        return Err(RequestFailure::Stop("the run was stopped".into()));
    }
    if !world.take_request() {
        world.abort("the run reached its request budget".into());
        return Err(RequestFailure::Stop(
            "the run reached its request budget".into(),
        ));
    }
    let timeout = match &spec.timeout {
        None => 60.0,
        Some(v) => match v.parse::<f64>() {
            Ok(ms) if ms.is_finite() && ms >= 0.0 => ms / 1000.0,
            _ => crate::duration::parse_duration(v)
                .map_err(|e| RequestFailure::Throw(format!("timeout: {e}")))?,
        },
    };
    let Some(routed) = vu.last_route.take() else {
        return Err(RequestFailure::Throw("http: no URL".into()));
    };
    let url = routed.url.as_str();
    let resp = match &routed.target {
        Err((code, e)) => WorldResponse {
            error: Some((*code, e.clone())),
            ..WorldResponse::default()
        },
        Ok(path) => world.http(
            vu,
            WorldRequest {
                method,
                path_and_query: path,
                headers: &spec.headers,
                body: body.unwrap_or_default().as_bytes(),
                timeout,
            },
        ),
    };
    if vu.stop.get() {
        vu.last_route = Some(routed);
        return Err(RequestFailure::Stop(
            vu.stop_reason
                .clone()
                .unwrap_or_else(|| "interrupted".into()),
        ));
    }
    let end_t = world.now(vu);
    let [blocked, connecting, sending, waiting, receiving] = resp.phases;
    let duration_ms = (sending + waiting + receiving) * 1000.0;

    let expected = spec.expected.as_ref().or(vu.expected.as_ref());
    let ok = match expected {
        Some(ranges) => ranges
            .iter()
            .any(|(lo, hi)| resp.status >= *lo && resp.status <= *hi),
        None => (200..400).contains(&resp.status),
    };
    let sent = resp.sent as f64;
    let received = resp.received as f64;
    let vu_ro: &VuState = vu;
    world.with_store(&mut |store| {
        // Past the budget the run stops (the world says so before the next
        // request); this request's samples still count.
        let _ = store.admit_request_tags(&spec.tags);
        // Tags matter only to sub-metrics (thresholds on tagged series):
        // without any on the HTTP metrics, skip building them.
        let tags = if store.http_tagged() {
            request_tags(
                vu_ro,
                method,
                url,
                spec,
                resp.status,
                ok,
                resp.error.as_ref(),
            )
        } else {
            Vec::new()
        };
        store.add_request(
            end_t,
            &RequestSample {
                ok,
                timed: resp.error.is_none() || resp.status != 0,
                duration_ms,
                phases_ms: [
                    blocked * 1000.0,
                    connecting * 1000.0,
                    sending * 1000.0,
                    waiting * 1000.0,
                    receiving * 1000.0,
                ],
                sent,
                received,
            },
            &tags,
        );
    });
    vu.last_route = Some(routed);

    if let Some((_, msg)) = &resp.error {
        world.log(format!("[warn] Request Failed error=\"{msg}\""));
    }
    let body_len = resp.body.len();
    let body = if spec.response_type.as_deref() == Some("none") {
        None
    } else {
        Some(match resp.body {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..b.len().min(vu.max_body)]),
            Cow::Owned(mut b) => {
                b.truncate(vu.max_body);
                Cow::Owned(b)
            }
        })
    };
    Ok(ResponseOut {
        status: resp.status,
        body,
        body_len,
        error: resp.error,
        phases: resp.phases,
        headers: match resp.content_type {
            Some(ct) => HeadersOut::Typed(ct),
            None => HeadersOut::List(
                resp.headers
                    .iter()
                    .map(|(k, v)| (canonical_header(k), v.clone()))
                    .collect(),
            ),
        },
    })
}

/// The tags of a request's samples, as k6 sets them.
fn request_tags(
    vu: &VuState,
    method: &str,
    url: &str,
    spec: &Params,
    status: u16,
    ok: bool,
    error: Option<&(u32, String)>,
) -> Tags {
    let mut tags = vu.tags.clone();
    let name = spec
        .tags
        .iter()
        .find(|(k, _)| k == "name")
        .map_or(url, |(_, v)| v.as_str());
    for (k, v) in [
        ("method", method.to_owned()),
        ("url", url.to_owned()),
        ("name", name.to_owned()),
        ("status", status.to_string()),
        ("expected_response", ok.to_string()),
        ("proto", "HTTP/1.1".to_owned()),
    ] {
        tags.push((k.to_owned(), v));
    }
    if let Some((code, _)) = error {
        tags.push(("error_code".into(), code.to_string()));
    }
    let mut group = String::new();
    for (g, _) in &vu.groups {
        group.push_str("::");
        group.push_str(g);
    }
    tags.push(("group".into(), group));
    tags.push(("scenario".into(), vu.scenario.clone()));
    for (k, v) in &spec.tags {
        if let Some(slot) = tags.iter_mut().find(|(tk, _)| tk == k) {
            slot.1.clone_from(v);
        } else {
            tags.push((k.clone(), v.clone()));
        }
    }
    tags
}

fn canonical_header(k: &str) -> String {
    k.split('-')
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Reason phrase of common statuses.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// A keep-alive HTTP/1.1 connection to the toy service.
#[derive(Debug, Default)]
pub struct LiveClient {
    conn: Option<BufReader<TcpStream>>,
}

impl LiveClient {
    /// Sends a request to `addr` and reads the whole response.
    pub fn send(
        &mut self,
        addr: std::net::SocketAddr,
        req: &WorldRequest<'_>,
        max_body: usize,
    ) -> WorldResponse {
        match self.try_send(addr, req, max_body, true) {
            Ok(r) => r,
            Err(e) => {
                self.conn = None;
                WorldResponse {
                    error: Some((1000, e)),
                    ..WorldResponse::default()
                }
            }
        }
    }

    fn try_send(
        &mut self,
        addr: std::net::SocketAddr,
        req: &WorldRequest<'_>,
        max_body: usize,
        retry: bool,
    ) -> Result<WorldResponse, String> {
        let t0 = Instant::now();
        let mut connecting = 0.0;
        if self.conn.is_none() {
            let c0 = Instant::now();
            let s = TcpStream::connect_timeout(
                &addr,
                Duration::from_secs_f64(req.timeout.clamp(0.001, 60.0)),
            )
            .map_err(|e| format!("dial tcp {addr}: {e}"))?;
            let _ = s.set_nodelay(true);
            connecting = c0.elapsed().as_secs_f64();
            self.conn = Some(BufReader::with_capacity(64 * 1024, s));
        }
        let blocked = t0.elapsed().as_secs_f64();
        let Some(conn) = self.conn.as_mut() else {
            return Err("no connection".into());
        };
        let timeout = Duration::from_secs_f64(req.timeout.clamp(0.001, 600.0));
        let _ = conn.get_ref().set_read_timeout(Some(timeout));
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: k6/0.54.0 (masterclass lab)\r\n",
            req.method, req.path_and_query
        );
        let mut has_ct = false;
        for (k, v) in req.headers {
            if k.eq_ignore_ascii_case("host")
                || k.eq_ignore_ascii_case("content-length")
                || k.contains(['\r', '\n'])
                || v.contains(['\r', '\n'])
            {
                continue;
            }
            has_ct |= k.eq_ignore_ascii_case("content-type");
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let _ = has_ct;
        head.push_str(&format!("Content-Length: {}\r\n\r\n", req.body.len()));
        let s0 = Instant::now();
        let mut buf = head.into_bytes();
        buf.extend_from_slice(req.body);
        let sent = buf.len() as u64;
        if let Err(e) = conn.get_mut().write_all(&buf) {
            self.conn = None;
            return if retry {
                self.try_send(addr, req, max_body, false)
            } else {
                Err(format!("write: {e}"))
            };
        }
        let sending = s0.elapsed().as_secs_f64();
        let w0 = Instant::now();
        let mut line = String::new();
        match conn.read_line(&mut line) {
            Ok(0) if retry => {
                self.conn = None;
                return self.try_send(addr, req, max_body, false);
            }
            Ok(0) => return Err("connection closed by the server".into()),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                self.conn = None;
                return Err(format!("request timeout after {}s", req.timeout));
            }
            Err(e) => {
                self.conn = None;
                return Err(format!("read: {e}"));
            }
        }
        let waiting = w0.elapsed().as_secs_f64();
        let r0 = Instant::now();
        let mut received = line.len() as u64;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("malformed status line {line:?}"))?;
        let mut headers = Vec::new();
        let mut content_length: Option<usize> = None;
        let mut chunked = false;
        let mut close = false;
        loop {
            let mut h = String::new();
            let n = conn.read_line(&mut h).map_err(|e| format!("read: {e}"))?;
            received += n as u64;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_owned(), v.trim().to_owned());
                if k.eq_ignore_ascii_case("content-length") {
                    content_length = v.parse().ok();
                } else if k.eq_ignore_ascii_case("transfer-encoding")
                    && v.eq_ignore_ascii_case("chunked")
                {
                    chunked = true;
                } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                    close = true;
                }
                headers.push((k, v));
            }
        }
        let mut body = Vec::new();
        if req.method == "HEAD" || status == 204 || status == 304 {
        } else if chunked {
            loop {
                let mut sz = String::new();
                received += conn.read_line(&mut sz).map_err(|e| format!("read: {e}"))? as u64;
                let n = usize::from_str_radix(sz.trim().split(';').next().unwrap_or("0"), 16)
                    .map_err(|_| "bad chunk".to_owned())?;
                let mut chunk = vec![0; n + 2];
                conn.read_exact(&mut chunk)
                    .map_err(|e| format!("read: {e}"))?;
                received += chunk.len() as u64;
                if n == 0 {
                    break;
                }
                if body.len() < max_body {
                    body.extend_from_slice(&chunk[..n]);
                }
            }
        } else if let Some(n) = content_length {
            let mut remaining = n;
            let mut tmp = [0u8; 16 * 1024];
            while remaining > 0 {
                let k = conn
                    .read(&mut tmp[..remaining.min(16 * 1024)])
                    .map_err(|e| format!("read: {e}"))?;
                if k == 0 {
                    return Err("connection closed mid-body".into());
                }
                if body.len() < max_body {
                    body.extend_from_slice(&tmp[..k]);
                }
                remaining -= k;
            }
            received += n as u64;
        } else {
            conn.take(max_body as u64)
                .read_to_end(&mut body)
                .map_err(|e| format!("read: {e}"))?;
            received += body.len() as u64;
            close = true;
        }
        let receiving = r0.elapsed().as_secs_f64();
        if close {
            self.conn = None;
        }
        Ok(WorldResponse {
            status,
            headers,
            content_type: None,
            body: Cow::Owned(body),
            error: None,
            phases: [blocked, connecting, sending, waiting, receiving],
            sent,
            received,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_url("http://localhost:3333/api/pizza?x=1"),
            Ok(("localhost".into(), 3333, "/api/pizza?x=1".into()))
        );
        assert_eq!(
            split_url("http://127.0.0.1"),
            Ok(("127.0.0.1".into(), 80, "/".into()))
        );
        assert_eq!(
            split_url("http://[::1]:8080/a"),
            Ok(("[::1]".into(), 8080, "/a".into()))
        );
        assert!(split_url("https://example.com").is_err());
        assert!(split_url("ftp://x").is_err());
        assert!(split_url("http://x:notaport/").is_err());
    }
}
