//! `k6/http` requests: URL sandboxing, metrics and the response object, plus
//! a small blocking HTTP/1.1 client for live runs over loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::metrics::ids;
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

/// What `k6/http` hands back to JavaScript.
#[derive(Debug, Clone, Default)]
pub struct ResponseOut {
    /// Status (0 on transport errors).
    pub status: u16,
    /// Body, unless discarded.
    pub body: Option<String>,
    /// Transport error text (empty when none).
    pub error: String,
    /// k6-style error code (0 when none).
    pub error_code: u32,
    /// `200 OK`.
    pub status_text: String,
    /// duration, blocked, connecting, sending, waiting, receiving (ms).
    pub timings: [f64; 6],
    /// Response headers.
    pub headers: Vec<(String, String)>,
}

/// Host names that mean "this machine".
fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1") || host.starts_with("127.")
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

/// Runs one `k6/http` request for a VU and returns the response as JSON.
pub fn request(
    vu: &mut VuState,
    world: &dyn World,
    method: String,
    url: String,
    body: Option<String>,
    spec: Params,
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
    let headers = spec.headers;
    let body_bytes = body.unwrap_or_default().into_bytes();
    let start_t = world.now(vu);

    let resp = match split_url(&url) {
        Err(e) => WorldResponse {
            error: Some((1000, e)),
            ..WorldResponse::default()
        },
        Ok((host, port, path)) => {
            let (thost, tport) = (&vu.target.0, vu.target.1);
            let to_target = is_loopback(&host) && (port == tport || port == 3333);
            if !to_target {
                WorldResponse {
                    error: Some((1100, format!("lab sandbox: {url} is not reachable; only the toy service ({}) is, e.g. __ENV.BASE_URL", format_args!("http://{thost}:{tport}")))),
                    ..WorldResponse::default()
                }
            } else {
                world.http(
                    vu,
                    WorldRequest {
                        method: method.clone(),
                        path_and_query: path,
                        headers: headers.clone(),
                        body: body_bytes.clone(),
                        timeout,
                    },
                )
            }
        }
    };
    if vu.stop.get() {
        return Err(RequestFailure::Stop(
            vu.stop_reason
                .clone()
                .unwrap_or_else(|| "interrupted".into()),
        ));
    }
    let end_t = world.now(vu);
    let [blocked, connecting, sending, waiting, receiving] = resp.phases;
    let duration_ms = (sending + waiting + receiving) * 1000.0;

    let expected = spec.expected.clone().or_else(|| vu.expected.clone());
    let ok = match &expected {
        Some(ranges) => ranges
            .iter()
            .any(|(lo, hi)| resp.status >= *lo && resp.status <= *hi),
        None => (200..400).contains(&resp.status),
    };

    let mut tags = vu.tags.clone();
    let name = spec
        .tags
        .iter()
        .find(|(k, _)| k == "name")
        .map_or_else(|| url.clone(), |(_, v)| v.clone());
    for (k, v) in [
        ("method", method.clone()),
        ("url", url.clone()),
        ("name", name),
        ("status", resp.status.to_string()),
        ("expected_response", ok.to_string()),
        ("proto", "HTTP/1.1".to_owned()),
    ] {
        tags.push((k.to_owned(), v));
    }
    if let Some((code, _)) = &resp.error {
        tags.push(("error_code".into(), code.to_string()));
    }
    let mut group = String::new();
    for (g, _) in &vu.groups {
        group.push_str("::");
        group.push_str(g);
    }
    tags.push(("group".into(), group));
    tags.push(("scenario".into(), vu.scenario.clone()));
    for (k, v) in spec.tags {
        if let Some(slot) = tags.iter_mut().find(|(tk, _)| *tk == k) {
            slot.1 = v;
        } else {
            tags.push((k, v));
        }
    }
    let sent = resp.sent as f64;
    let received = resp.received as f64;
    world.with_store(&mut |store| {
        store.add(ids::HTTP_REQS, end_t, 1.0, &tags);
        store.add(
            ids::HTTP_REQ_FAILED,
            end_t,
            if ok { 0.0 } else { 1.0 },
            &tags,
        );
        if resp.error.is_none() || resp.status != 0 {
            store.add(ids::HTTP_REQ_DURATION, end_t, duration_ms, &tags);
            store.add(ids::HTTP_REQ_BLOCKED, end_t, blocked * 1000.0, &tags);
            store.add(ids::HTTP_REQ_CONNECTING, end_t, connecting * 1000.0, &tags);
            store.add(ids::HTTP_REQ_TLS, end_t, 0.0, &tags);
            store.add(ids::HTTP_REQ_SENDING, end_t, sending * 1000.0, &tags);
            store.add(ids::HTTP_REQ_WAITING, end_t, waiting * 1000.0, &tags);
            store.add(ids::HTTP_REQ_RECEIVING, end_t, receiving * 1000.0, &tags);
        }
        store.add(ids::DATA_SENT, end_t, sent, &tags);
        store.add(ids::DATA_RECEIVED, end_t, received, &tags);
    });
    let _ = start_t;

    if let Some((_, msg)) = &resp.error {
        world.log(format!("[warn] Request Failed error=\"{msg}\""));
    }
    let mut body = resp.body;
    body.truncate(vu.max_body);
    let body = if spec.response_type.as_deref() == Some("none") {
        None
    } else {
        Some(
            String::from_utf8(body)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        )
    };
    let _ = body_bytes;
    let (error_code, error) = resp.error.unwrap_or_default();
    Ok(ResponseOut {
        status: resp.status,
        body,
        error,
        error_code,
        status_text: format!("{} {}", resp.status, reason(resp.status)),
        timings: [
            duration_ms,
            blocked * 1000.0,
            connecting * 1000.0,
            sending * 1000.0,
            waiting * 1000.0,
            receiving * 1000.0,
        ],
        headers: resp
            .headers
            .iter()
            .map(|(k, v)| (canonical_header(k), v.clone()))
            .collect(),
    })
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
        req: &WorldRequest,
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
        req: &WorldRequest,
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
        for (k, v) in &req.headers {
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
        buf.extend_from_slice(&req.body);
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
            body,
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
