//! A real Prometheus server over given data, for the differential test and the
//! benchmark: samples are written as OpenMetrics, backfilled into TSDB blocks
//! with `promtool tsdb create-blocks-from openmetrics`, and served by a
//! `prometheus` process on a free loopback port. The process is killed when
//! its handle is dropped and the scratch directory removed when its
//! [`TempDir`] is, so both happen even when a test panics.
//!
//! Shared as a plain source file (`#[path]`) so the library carries no test
//! harness.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use slo_toolkit::promql::labels::{Labels, METRIC_NAME};

/// promtool writes one block per two hours of input; giving it one file per
/// block keeps the backfill linear (it re-reads its whole input per block).
const BLOCK_MS: i64 = 2 * 3600 * 1000;

/// Why the real server is not available: `Missing` is a skip, `Failed` a bug.
#[derive(Debug)]
pub enum Unavailable {
    /// `prometheus` or `promtool` is not installed.
    Missing(String),
    /// Installed but something went wrong.
    Failed(String),
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::Missing(m) | Unavailable::Failed(m) => f.write_str(m),
        }
    }
}

/// Checks that both binaries run.
pub fn binaries() -> Result<(), Unavailable> {
    for bin in ["prometheus", "promtool"] {
        let ok = Command::new(bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(Unavailable::Missing(format!(
                "{bin} is not on PATH (apt-get install prometheus provides it)"
            )));
        }
    }
    Ok(())
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir.
    pub fn new(tag: &str) -> std::io::Result<Self> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("slo-toolkit-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p)?;
        Ok(Self(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One input series: labels and `(timestamp_ms, value)` points in time order.
pub struct InputSeries {
    /// Labels including `__name__`.
    pub labels: Labels,
    /// Points in increasing time order.
    pub points: Vec<(i64, f64)>,
}

fn openmetrics_series(labels: &Labels) -> String {
    let mut out = labels.metric_name().unwrap_or("").to_string();
    out.push('{');
    let mut first = true;
    for (k, v) in labels.iter().filter(|(k, _)| *k != METRIC_NAME) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push('=');
        out.push_str(&slo_toolkit::promql::labels::quote(v));
    }
    out.push('}');
    out
}

fn openmetrics_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust's shortest round-trip decimal, parsed back exactly by Go.
        format!("{v:?}")
    }
}

/// The OpenMetrics text of `series`, one document per TSDB block, in time order.
pub fn openmetrics_blocks(series: &[InputSeries]) -> impl Iterator<Item = String> + '_ {
    let mut blocks: Vec<i64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0.div_euclid(BLOCK_MS)))
        .collect();
    blocks.sort_unstable();
    blocks.dedup();
    let names: Vec<String> = series
        .iter()
        .map(|s| openmetrics_series(&s.labels))
        .collect();
    // Each series' points are in time order, so a cursor per series walks
    // through the blocks once.
    let mut cursor = vec![0usize; series.len()];
    blocks.into_iter().map(move |b| {
        let end = (b + 1) * BLOCK_MS;
        let mut text = String::new();
        for (si, s) in series.iter().enumerate() {
            while let Some(&(t, v)) = s.points.get(cursor[si]) {
                if t >= end {
                    break;
                }
                text.push_str(&names[si]);
                text.push(' ');
                text.push_str(&openmetrics_value(v));
                text.push(' ');
                text.push_str(&seconds(t));
                text.push('\n');
                cursor[si] += 1;
            }
        }
        text.push_str("# EOF\n");
        text
    })
}

/// Writes each OpenMetrics document of `blocks` (from [`openmetrics_blocks`])
/// to a file and backfills them into `tsdb` with promtool, two at a time.
/// Returns the block count.
pub fn backfill(
    blocks: impl Iterator<Item = String>,
    work: &Path,
    tsdb: &Path,
    mut progress: impl FnMut(usize, usize),
) -> Result<usize, Unavailable> {
    let failed =
        |what: &str, e: &dyn std::fmt::Display| Unavailable::Failed(format!("{what}: {e}"));
    let mut files = Vec::new();
    for (bi, text) in blocks.enumerate() {
        let f = work.join(format!("block-{bi:05}.om"));
        std::fs::write(&f, text).map_err(|e| failed("writing OpenMetrics", &e))?;
        files.push(f);
    }
    let total = files.len();
    let mut done = 0;
    let mut running = Children(Vec::new());
    let mut pending = files.iter();
    loop {
        while running.0.len() < 2 {
            let Some(f) = pending.next() else { break };
            let child = Command::new("promtool")
                .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
                .arg(f)
                .arg(tsdb)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| failed("starting promtool", &e))?;
            running.0.push(child);
        }
        if running.0.is_empty() {
            break;
        }
        let child = running.0.remove(0);
        let out = child
            .wait_with_output()
            .map_err(|e| failed("waiting for promtool", &e))?;
        if !out.status.success() {
            return Err(Unavailable::Failed(format!(
                "promtool tsdb create-blocks-from openmetrics failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        done += 1;
        progress(done, total);
    }
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    Ok(total)
}

/// promtool processes still running, killed on drop: an error or a panic
/// (say, in `progress`) must not leave them writing into a removed directory.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A running `prometheus`, killed on drop.
pub struct Server {
    child: Child,
    /// The loopback port it listens on.
    pub port: u16,
    /// The TSDB directory it serves.
    pub tsdb: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    // Bound then released: the tiny race with another process is acceptable
    // for a test helper, and prometheus fails loudly if it loses it.
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl Server {
    /// Starts prometheus over `tsdb` (retention long enough to keep data from
    /// 1970) with no scrape targets, and waits up to `ready_within` for it.
    pub fn start(work: &Path, tsdb: &Path, ready_within: Duration) -> Result<Server, Unavailable> {
        let failed =
            |what: &str, e: &dyn std::fmt::Display| Unavailable::Failed(format!("{what}: {e}"));
        let config = work.join("prometheus.yml");
        std::fs::write(
            &config,
            "global:\n  evaluation_interval: 1m\nscrape_configs: []\n",
        )
        .map_err(|e| failed("writing config", &e))?;
        // The free port is found by binding and releasing it, so another
        // process can take it in between: then try another one.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::spawn(work, tsdb, &config, ready_within) {
                Err(Unavailable::Failed(log))
                    if attempt < 3 && log.contains("address already in use") => {}
                other => return other,
            }
        }
    }

    fn spawn(
        work: &Path,
        tsdb: &Path,
        config: &Path,
        ready_within: Duration,
    ) -> Result<Server, Unavailable> {
        let failed =
            |what: &str, e: &dyn std::fmt::Display| Unavailable::Failed(format!("{what}: {e}"));
        let log = std::fs::File::create(work.join("prometheus.log"))
            .map_err(|e| failed("creating log", &e))?;
        let port = free_port().map_err(|e| failed("finding a free port", &e))?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", tsdb.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=100y")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| failed("starting prometheus", &e))?;
        let mut server = Server {
            child,
            port,
            tsdb: tsdb.to_path_buf(),
        };
        let deadline = Instant::now() + ready_within;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(work.join("prometheus.log")).unwrap_or_default();
                return Err(Unavailable::Failed(format!(
                    "prometheus exited ({status}):\n{log}"
                )));
            }
            if matches!(server.get("/-/ready"), Ok((200, _))) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(Unavailable::Failed(
                    "prometheus was not ready in time".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A plain HTTP/1.0 GET (so the body is not chunked): `(status, body)`.
    pub fn get(&self, path_and_query: &str) -> std::io::Result<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        write!(
            s,
            "GET {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
        )?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Ok((status, body.to_string()))
    }

    /// `/api/v1/query` at `t_ms`: the parsed JSON answer (success or error).
    pub fn instant_query(&self, q: &str, t_ms: i64) -> Result<serde_json::Value, String> {
        self.api(&format!(
            "/api/v1/query?query={}&time={}",
            urlencode(q),
            seconds(t_ms)
        ))
    }

    /// `/api/v1/query_range`.
    pub fn range_query(
        &self,
        q: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<serde_json::Value, String> {
        self.api(&format!(
            "/api/v1/query_range?query={}&start={}&end={}&step={}",
            urlencode(q),
            seconds(start_ms),
            seconds(end_ms),
            seconds(step_ms)
        ))
    }

    fn api(&self, path: &str) -> Result<serde_json::Value, String> {
        let (_, body) = self.get(path).map_err(|e| e.to_string())?;
        serde_json::from_str(&body).map_err(|e| format!("bad JSON from prometheus ({e}): {body}"))
    }

    /// The number of TSDB blocks on disk (Prometheus compacts backfilled
    /// two-hour blocks in the background).
    pub fn block_count(&self) -> usize {
        std::fs::read_dir(&self.tsdb)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.path().join("meta.json").exists())
                    .count()
            })
            .unwrap_or(0)
    }
}

/// Milliseconds as the API's decimal seconds.
pub fn seconds(t_ms: i64) -> String {
    let sign = if t_ms < 0 { "-" } else { "" };
    let a = t_ms.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
