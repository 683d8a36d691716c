//! Serving HTTP/1.1 connections with the limits a public server needs: a
//! client has a few seconds to send a request's headers and a minute for its
//! body, an idle kept-alive connection is closed, and only so many
//! connections are open at once. `axum::serve` has none of these, so a client
//! that sends half its headers (Slowloris) held a connection, and a task, for
//! as long as it liked.
//!
//! The clocks, like those of Go's `http.Server`:
//! - from the moment a connection is accepted, or the first byte of a later
//!   request arrives, its headers must be complete within `header_timeout`;
//! - a request's body must arrive within `body_timeout` of its headers;
//! - between requests a kept-alive connection may stay silent for `idle_timeout`;
//! - while an answer is being written (a long download, an event stream) no
//!   clock runs.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// The limits on each connection (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// `MASTERCLASS_HEADER_TIMEOUT_SECS`: time to send a request's headers.
    pub header_timeout: Duration,
    /// `MASTERCLASS_BODY_TIMEOUT_SECS`: time to send a request's body.
    pub body_timeout: Duration,
    /// `MASTERCLASS_IDLE_TIMEOUT_SECS`: silence allowed between two requests.
    pub idle_timeout: Duration,
    /// `MASTERCLASS_MAX_CONNECTIONS`: connections open at once; more are
    /// answered 503 and closed.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            // Longer than nginx's upstream keepalive_timeout (60 s), so a
            // balancer never sends a request down a connection being closed.
            idle_timeout: Duration::from_secs(75),
            max_connections: 1024,
        }
    }
}

/// What a connection past the limit is told before it is closed.
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 46\r\n\r\n\
The server is busy. Please try again shortly.\n";

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// open connections finish their requests (idle ones close at once) and
/// returns when the last one has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let max = limits
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection that died in
                    // the backlog: neither stops the server.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let router = router.clone();
                let stop = stop_rx.clone();
                tokio::spawn(async move {
                    connection(stream, peer, router, limits, stop).await;
                    drop(slot);
                });
            }
            Err(_) => {
                tracing::warn!(%peer, max, "connection refused: too many open connections");
                tokio::spawn(refuse(stream));
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Each connection holds a slot until it closes: all slots back, all closed.
    let _ = slots
        .acquire_many(u32::try_from(max).unwrap_or(u32::MAX))
        .await;
    Ok(())
}

/// Tells a connection past the limit to come back later, and closes it.
/// What the client sent meanwhile is read and dropped before closing: a
/// socket closed with unread data resets the connection, and the client
/// might lose the answer.
async fn refuse(mut stream: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(BUSY).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => left = left.saturating_sub(n),
            }
        }
        Ok::<_, io::Error>(())
    })
    .await;
}

/// What a connection's clocks read, shared by its reads, its requests and its watchdog.
struct Activity {
    opened: Instant,
    /// Requests handed to the router whose answers are not yet fully written.
    busy: AtomicUsize,
    /// When the connection last read a byte or finished an answer (ms since `opened`).
    last: AtomicU64,
    /// When the head of the next request began (ms since `opened`); `NONE` when
    /// none is under way.
    head_since: AtomicU64,
}

const NONE: u64 = u64::MAX;

impl Activity {
    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn read_some(&self) {
        let now = self.now();
        self.last.store(now, Ordering::Relaxed);
        if self.busy.load(Ordering::Acquire) == 0 {
            let _ =
                self.head_since
                    .compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn request_started(&self) {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(NONE, Ordering::Release);
    }

    fn answer_finished(&self) {
        self.last.store(self.now(), Ordering::Relaxed);
        self.busy.fetch_sub(1, Ordering::AcqRel);
    }

    /// Waits until a clock runs out, and says which.
    async fn expired(&self, limits: HttpLimits) -> &'static str {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(NONE / 2);
        loop {
            let now = self.now();
            let (deadline, why) = if self.busy.load(Ordering::Acquire) > 0 {
                // An answer is being made or written: no clock; look again later.
                (now + ms(limits.idle_timeout.min(limits.header_timeout)), "")
            } else {
                match self.head_since.load(Ordering::Acquire) {
                    NONE => (
                        self.last.load(Ordering::Relaxed) + ms(limits.idle_timeout),
                        "idle keep-alive timeout",
                    ),
                    since => (since + ms(limits.header_timeout), "header timeout"),
                }
            };
            if now >= deadline && !why.is_empty() {
                return why;
            }
            let wait = Duration::from_millis(deadline.saturating_sub(now).max(1));
            tokio::time::sleep(wait).await;
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: HttpLimits,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity {
        opened: Instant::now(),
        busy: AtomicUsize::new(0),
        last: AtomicU64::new(0),
        // The first request's headers are due from the moment of accepting.
        head_since: AtomicU64::new(0),
    });
    let io = hyper_util::rt::TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            activity.request_started();
            let guard = AnswerGuard(activity.clone());
            let (mut parts, body) = req.into_parts();
            parts.extensions.insert(ConnectInfo(peer));
            let body = Body::new(TimedBody {
                inner: body,
                deadline: Instant::now() + limits.body_timeout,
                sleep: None,
            });
            let router = router.clone();
            async move {
                let res = match router
                    .oneshot(hyper::Request::from_parts(parts, body))
                    .await
                {
                    Ok(res) => res,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(res.map(|body| GuardedBody {
                    inner: body,
                    _guard: guard,
                }))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The clocks above do this job; hyper's own would need a timer.
    builder.header_read_timeout(None);
    let conn = builder.serve_connection(io, service);
    let mut conn = pin!(conn);
    let mut stopping = false;
    let expired = activity.expired(limits);
    let mut expired = pin!(expired);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            why = &mut expired => {
                // Nothing is being answered: closing loses no reply.
                tracing::debug!(%peer, why, "closing connection");
                return;
            }
        }
    }
}

/// The connection's socket, noting when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Marks the answer finished when hyper is done with its body.
struct AnswerGuard(Arc<Activity>);

impl Drop for AnswerGuard {
    fn drop(&mut self) {
        self.0.answer_finished();
    }
}

/// An answer's body, carrying the guard that marks it finished.
struct GuardedBody {
    inner: Body,
    _guard: AnswerGuard,
}

impl hyper::body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request's body, which must have arrived by its deadline.
struct TimedBody {
    inner: Incoming,
    deadline: Instant,
    /// Made the first time the body keeps the handler waiting.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// The error a late body ends with (the handler answers 400 and hyper closes the connection).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline: tokio::time::Instant = self.deadline.into();
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
