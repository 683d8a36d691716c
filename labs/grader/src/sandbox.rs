//! Grading in a child process: learner scripts and queries are hostile, and
//! limits inside the engine are never complete, so the work itself runs in a
//! separate process (the same binary, a hidden subcommand) under OS limits —
//! address space, CPU time — and a wall-clock deadline the parent enforces.
//! Whatever the next bug nobody has found does there (abort, stack overflow,
//! runaway allocation), it ends that one process: the server and every other
//! run go on.
//!
//! The two sides talk over pipes, one JSON message per line. The parent
//! writes a [`Request`] to the child's stdin and keeps stdin open: a `cancel`
//! line asks the child to stop (it still answers with what it has), and
//! end-of-file does the same, so a child whose server died winds down by
//! itself. The child answers on stdout with progress lines and then one
//! final message; its stderr is kept (the tail) to tell why it died.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::data::RunData;
use crate::grade::{GradeProgress, Outcome};
use crate::model::Lab;
use crate::report::Chart;

/// The largest message either side accepts, in bytes: a lab's result with its
/// runs' series is a few megabytes; anything far beyond that is a bug or an
/// attack, and must not grow the server.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// How much of the child's stderr is kept to explain a death.
const STDERR_TAIL: usize = 4096;
/// How long a cancelled child has to answer with its partial result.
const CANCEL_GRACE: Duration = Duration::from_secs(10);

/// What the server asks of a child.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Grade a learner's files.
    Grade {
        lab: Box<Lab>,
        files: BTreeMap<String, String>,
    },
    /// Chart a learner's PromQL over a graded run's series.
    Query { data: RunData, query: String },
}

/// What a child answers, one per line.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// Grading moved on (many of these, throttled by the grader).
    Progress(GradeProgress),
    /// The final answer to [`Request::Grade`].
    Graded(Box<Outcome>),
    /// The final answer to [`Request::Query`]: the chart, or the learner's error.
    Charted(Result<Chart, String>),
}

/// The OS limits one child runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Address space (`RLIMIT_AS`) the child may add to what it maps when it
    /// starts (its program image and runtime), bytes.
    pub memory_bytes: u64,
    /// CPU time (`RLIMIT_CPU`), seconds; the kernel stops the child after it.
    pub cpu_secs: u64,
    /// Wall-clock time; the parent kills the child after it.
    pub wall: Duration,
}

/// Why a child gave no answer. Every variant has a message a learner can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The child ran out of its address space.
    Memory { limit_bytes: u64 },
    /// The child used up its CPU time.
    CpuTime { limit_secs: u64 },
    /// The child was still working at its wall-clock deadline.
    Deadline { limit: Duration },
    /// The child overflowed a thread's stack (input nested too deeply).
    StackOverflow,
    /// The child died some other way (a signal, a panic, a bug): not the
    /// learner's input's known fault, so worth one more try.
    Crashed { detail: String },
    /// The child answered more than the server accepts.
    TooLarge,
    /// The child could not be started (the server's own problem).
    Spawn { detail: String },
}

impl Failure {
    /// What the learner reads.
    pub fn message(&self) -> String {
        match self {
            Failure::Memory { limit_bytes } => format!(
                "This run used all the memory a lab run may use ({} MB) and was stopped. \
                 Something in it keeps growing: metric tags with a new value per request, a loop that keeps data, or a query over too many points.",
                limit_bytes / (1024 * 1024)
            ),
            Failure::CpuTime { limit_secs } => format!(
                "This run used all the CPU time a lab run may use ({limit_secs} s) and was stopped. Look for a loop that never ends or a query over too many points."
            ),
            Failure::Deadline { limit } => format!(
                "This run was still going after {} s, the longest a lab run may take, and was stopped.",
                limit.as_secs()
            ),
            Failure::StackOverflow => {
                "This run nests too deeply (a query or expression with thousands of levels, or runaway recursion) and was stopped.".into()
            }
            Failure::Crashed { .. } => {
                "The grader stopped unexpectedly while grading this run. Your files are saved; run it again.".into()
            }
            Failure::TooLarge => {
                "This run produced more results than a lab run may keep and was stopped.".into()
            }
            Failure::Spawn { .. } => {
                "The grader could not be started. Your files are saved; try again in a moment.".into()
            }
        }
    }

    /// Whether the death says nothing about the learner's input (a crash, not
    /// a limit the input reached): such a run deserves one more try.
    pub fn is_crash(&self) -> bool {
        matches!(self, Failure::Crashed { .. } | Failure::Spawn { .. })
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Crashed { detail } | Failure::Spawn { detail } => f.write_str(detail),
            other => f.write_str(&other.message()),
        }
    }
}

/// How to start a child: a program (normally this very binary) and the
/// arguments that select its child mode, plus the limits for each kind of work.
#[derive(Debug, Clone)]
pub struct Sandbox {
    program: PathBuf,
    args: Vec<OsString>,
    /// Limits for grading; the wall clock grows with the lab's live runs.
    pub grade_limits: Limits,
    /// Limits for one chart query.
    pub query_limits: Limits,
}

/// Default address space for grading: the JavaScript heap, the toy service,
/// the runs' series and the checks' queries all fit in a fraction of it.
pub const DEFAULT_MEMORY_BYTES: u64 = 1536 * 1024 * 1024;

impl Sandbox {
    /// Children are `program args… --memory-bytes N --cpu-secs N`.
    pub fn new(program: PathBuf, args: Vec<OsString>) -> Self {
        Sandbox {
            program,
            args,
            grade_limits: Limits {
                memory_bytes: DEFAULT_MEMORY_BYTES,
                cpu_secs: 300,
                wall: Duration::from_secs(120),
            },
            query_limits: Limits {
                memory_bytes: 768 * 1024 * 1024,
                cpu_secs: 15,
                wall: Duration::from_secs(15),
            },
        }
    }

    /// The limits grading `lab` runs under: the base wall clock and CPU time
    /// (enough for every simulated run and the checks), plus each live run's
    /// own length, since a live run takes its real duration.
    pub fn limits_for(&self, lab: &Lab) -> Limits {
        let base = self.grade_limits;
        let live: f64 = lab
            .runs
            .iter()
            .filter(|r| r.mode == lab_engine::Mode::Live)
            .map(|r| r.max_duration + 30.0)
            .sum();
        let live = Duration::from_secs_f64(live.clamp(0.0, 24.0 * 3600.0));
        Limits {
            memory_bytes: base.memory_bytes,
            // A live run may keep both cores busy for its whole length.
            cpu_secs: base.cpu_secs + 2 * live.as_secs(),
            wall: base.wall + live,
        }
    }

    /// Grades `files` in a child. `progress` sees the child's progress;
    /// cancelling `cancel` asks the child to stop and answer with what it
    /// has (a child that does not is killed).
    pub async fn grade(
        &self,
        lab: &Lab,
        files: &BTreeMap<String, String>,
        cancel: CancellationToken,
        mut progress: impl FnMut(GradeProgress) + Send,
    ) -> Result<Outcome, Failure> {
        let limits = self.limits_for(lab);
        let request = Request::Grade {
            lab: Box::new(lab.clone()),
            files: files.clone(),
        };
        let reply = self
            .exchange(&request, limits, cancel, |reply| {
                if let Reply::Progress(p) = reply {
                    progress(p);
                    None
                } else {
                    Some(reply)
                }
            })
            .await?;
        match reply {
            Reply::Graded(outcome) => Ok(*outcome),
            other => Err(Failure::Crashed {
                detail: format!("the grader answered a grade request with {other:?}"),
            }),
        }
    }

    /// Charts `query` over `data` in a child. The outer error is the child's
    /// death; the inner one the learner's query error.
    pub async fn query(
        &self,
        data: &RunData,
        query: &str,
    ) -> Result<Result<Chart, String>, Failure> {
        let request = Request::Query {
            data: data.clone(),
            query: query.to_owned(),
        };
        let reply = self
            .exchange(&request, self.query_limits, CancellationToken::new(), Some)
            .await?;
        match reply {
            Reply::Charted(chart) => Ok(chart),
            other => Err(Failure::Crashed {
                detail: format!("the grader answered a query with {other:?}"),
            }),
        }
    }

    /// Starts a child, sends `request`, passes each reply to `on_reply` until
    /// it returns one (the final answer), and explains a child that died.
    async fn exchange(
        &self,
        request: &Request,
        limits: Limits,
        cancel: CancellationToken,
        mut on_reply: impl FnMut(Reply) -> Option<Reply> + Send,
    ) -> Result<Reply, Failure> {
        let line = serde_json::to_string(request).map_err(|e| Failure::Spawn {
            detail: format!("request not encoded: {e}"),
        })?;
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .arg("--memory-bytes")
            .arg(limits.memory_bytes.to_string())
            .arg("--cpu-secs")
            .arg(limits.cpu_secs.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A dropped exchange (the client left, the server stops) ends the child.
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Failure::Spawn {
                detail: format!("{}: {e}", self.program.display()),
            })?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(Failure::Spawn {
                detail: "the child's pipes are missing".into(),
            });
        };
        let stderr_tail = tokio::spawn(keep_tail(stderr));
        let mut stdout = BufReader::new(stdout);
        let deadline = tokio::time::sleep(limits.wall);
        tokio::pin!(deadline);

        // The request goes out while replies are read: a child may start
        // answering (or die) before it has read all of it.
        let send = async move {
            stdin.write_all(line.as_bytes()).await?;
            stdin.write_all(b"\n").await?;
            stdin.flush().await?;
            Ok::<_, std::io::Error>(stdin)
        };
        tokio::pin!(send);
        let mut stdin = None;
        let mut buf = Vec::new();
        let mut cancel_sent: Option<tokio::time::Instant> = None;
        let answer = loop {
            let grace = async {
                match cancel_sent {
                    Some(at) => tokio::time::sleep_until(at + CANCEL_GRACE).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                sent = &mut send, if stdin.is_none() => match sent {
                    Ok(mut s) => {
                        // A cancel that came while the request was going out.
                        if cancel_sent.is_some() {
                            let _ = s.write_all(b"cancel\n").await;
                            let _ = s.flush().await;
                        }
                        stdin = Some(s);
                    }
                    // The child closed its stdin: it died; its exit says why.
                    Err(_) => break None,
                },
                read = read_line(&mut stdout, &mut buf) => match read {
                    Ok(true) => match serde_json::from_slice::<Reply>(&buf) {
                        Ok(reply) => {
                            if let Some(last) = on_reply(reply) {
                                break Some(Ok(last));
                            }
                        }
                        Err(e) => break Some(Err(Failure::Crashed {
                            detail: format!("the grader wrote something unreadable: {e}"),
                        })),
                    },
                    Ok(false) => break None,
                    Err(ReadError::TooLarge) => break Some(Err(Failure::TooLarge)),
                    Err(ReadError::Io) => break None,
                },
                () = cancel.cancelled(), if cancel_sent.is_none() => {
                    cancel_sent = Some(tokio::time::Instant::now());
                    if let Some(s) = stdin.as_mut() {
                        let _ = s.write_all(b"cancel\n").await;
                        let _ = s.flush().await;
                    }
                },
                () = grace => break Some(Err(Failure::Deadline { limit: limits.wall })),
                () = &mut deadline => break Some(Err(Failure::Deadline { limit: limits.wall })),
            }
        };
        drop(stdin);
        match answer {
            Some(Ok(reply)) => {
                // The answer is in: the child has nothing left worth waiting for.
                let _ = child.start_kill();
                let _ = child.wait().await;
                Ok(reply)
            }
            Some(Err(failure)) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                Err(failure)
            }
            None => {
                let status = wait_briefly(&mut child).await;
                let tail = stderr_tail.await.unwrap_or_default();
                Err(explain(status, &tail, limits))
            }
        }
    }
}

/// The child's exit status once it has ended (it closed its stdout, so it is
/// ending); one that lingers is killed.
async fn wait_briefly(child: &mut Child) -> Option<ExitStatus> {
    match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
        Ok(Ok(status)) => Some(status),
        _ => {
            let _ = child.start_kill();
            child.wait().await.ok()
        }
    }
}

/// Why a child ended without an answer, from its exit and its last words.
fn explain(status: Option<ExitStatus>, stderr: &str, limits: Limits) -> Failure {
    use std::os::unix::process::ExitStatusExt as _;
    let signal = status.and_then(|s| s.signal());
    if stderr.contains("memory allocation of") || stderr.contains("out of memory") {
        return Failure::Memory {
            limit_bytes: limits.memory_bytes,
        };
    }
    if stderr.contains("has overflowed its stack") {
        return Failure::StackOverflow;
    }
    // The kernel's CPU limit: SIGXCPU at the soft limit, SIGKILL at the hard one.
    const SIGXCPU: i32 = 24;
    if signal == Some(SIGXCPU) {
        return Failure::CpuTime {
            limit_secs: limits.cpu_secs,
        };
    }
    let how = match (status, signal) {
        (_, Some(sig)) => format!("signal {sig}"),
        (Some(s), None) => format!("{s}"),
        (None, None) => "an unknown end".into(),
    };
    let last = stderr.trim().lines().last().unwrap_or("").trim();
    Failure::Crashed {
        detail: if last.is_empty() {
            format!("the grader ended with {how}")
        } else {
            format!("the grader ended with {how}: {last}")
        },
    }
}

/// Reads a stream to its end, keeping only its last [`STDERR_TAIL`] bytes.
async fn keep_tail(mut from: impl AsyncRead + Unpin) -> String {
    let mut tail: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = from.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&chunk[..n]);
        if tail.len() > STDERR_TAIL {
            tail.drain(..tail.len() - STDERR_TAIL);
        }
    }
    String::from_utf8_lossy(&tail).into_owned()
}

enum ReadError {
    TooLarge,
    Io,
}

/// Reads one line into `buf` (without its newline), refusing lines over
/// [`MAX_MESSAGE`] without holding them; `false` at end of stream.
async fn read_line(
    from: &mut (impl AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
) -> Result<bool, ReadError> {
    buf.clear();
    loop {
        let available = from.fill_buf().await.map_err(|_| ReadError::Io)?;
        if available.is_empty() {
            return Ok(false);
        }
        match memchr(available) {
            Some(i) => {
                buf.extend_from_slice(&available[..i]);
                from.consume(i + 1);
                if buf.len() > MAX_MESSAGE {
                    return Err(ReadError::TooLarge);
                }
                return Ok(true);
            }
            None => {
                let n = available.len();
                buf.extend_from_slice(available);
                from.consume(n);
                if buf.len() > MAX_MESSAGE {
                    return Err(ReadError::TooLarge);
                }
            }
        }
    }
}

fn memchr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == b'\n')
}

/// The address space this process maps now, bytes (`VmSize`; 0 where
/// `/proc` cannot tell, which only makes the limit tighter).
fn address_space_in_use() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmSize:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0)
}

/// The child's command-line arguments (after the hidden subcommand's name).
#[derive(Debug, Clone, clap::Args)]
pub struct ChildArgs {
    /// Address space the child may map beyond what it maps at start, bytes.
    #[arg(long)]
    pub memory_bytes: u64,
    /// CPU time limit, seconds.
    #[arg(long)]
    pub cpu_secs: u64,
}

/// The child's side: sets its own OS limits, reads one request from stdin,
/// answers on stdout, and stops early on a `cancel` line or end of input.
/// Returns the process's exit code.
pub async fn child_main(args: ChildArgs) -> i32 {
    use rlimit::Resource;
    // No core files of a hostile run; then the two limits that bound it.
    // The budget is on top of what the program already maps (its image, the
    // runtime's threads and reservations), which differs between builds.
    let address_space = address_space_in_use().saturating_add(args.memory_bytes);
    let limited = Resource::CORE
        .set(0, 0)
        .and_then(|()| Resource::AS.set(address_space, address_space))
        .and_then(|()| Resource::CPU.set(args.cpu_secs, args.cpu_secs.saturating_add(5)));
    if let Err(e) = limited {
        // Never grade without the limits.
        eprintln!("lab sandbox: cannot set resource limits: {e}");
        return 70;
    }
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut buf = Vec::new();
    match read_line(&mut stdin, &mut buf).await {
        Ok(true) => {}
        Ok(false) => return 0,
        Err(_) => {
            eprintln!("lab sandbox: the request could not be read");
            return 65;
        }
    }
    let request: Request = match serde_json::from_slice(&buf) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lab sandbox: the request is not valid: {e}");
            return 65;
        }
    };
    drop(buf);
    let cancel = CancellationToken::new();
    // Any further line (or the parent going away) means stop.
    tokio::spawn({
        let cancel = cancel.clone();
        async move {
            let mut line = Vec::new();
            let _ = read_line(&mut stdin, &mut line).await;
            cancel.cancel();
        }
    });
    let reply = match request {
        Request::Grade { lab, files } => {
            let outcome = crate::grade::grade(&lab, &files, cancel, |p| {
                write_reply(&Reply::Progress(p));
            })
            .await;
            Reply::Graded(Box::new(outcome))
        }
        Request::Query { data, query } => {
            let chart =
                tokio::task::spawn_blocking(move || crate::data::query_chart(&data, &query))
                    .await
                    .unwrap_or_else(|e| Err(format!("the query stopped unexpectedly: {e}")));
            Reply::Charted(chart)
        }
    };
    if write_reply(&reply) {
        0
    } else {
        74
    }
}

/// Writes one reply line to stdout; `false` when the parent is gone.
fn write_reply(reply: &Reply) -> bool {
    use std::io::Write as _;
    let Ok(mut line) = serde_json::to_vec(reply) else {
        return false;
    };
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    out.write_all(&line).and_then(|()| out.flush()).is_ok()
}
