//! The toy service over real HTTP (axum), for live runs and `toy serve`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::model::{ToyModel, ToyRequest};
use super::scenario::Scenario;

/// Largest request body the toy service reads.
const MAX_BODY: usize = 1 << 20;

#[derive(Clone)]
struct AppState {
    model: Arc<Mutex<ToyModel>>,
    start: Instant,
    in_flight: Arc<AtomicU32>,
}

/// A running toy service bound to a loopback port.
#[derive(Debug)]
pub struct ToyServer {
    addr: SocketAddr,
    model: Arc<Mutex<ToyModel>>,
    start: Instant,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl ToyServer {
    /// Starts the service on `127.0.0.1:port` (`0` picks a free port).
    pub async fn start(port: u16, scenario: Scenario, seed: u64) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let model = Arc::new(Mutex::new(ToyModel::new(scenario, seed)));
        let start = Instant::now();
        let state = AppState {
            model: Arc::clone(&model),
            start,
            in_flight: Arc::new(AtomicU32::new(0)),
        };
        let app = Router::new()
            .route("/metrics", axum::routing::get(metrics))
            .fallback(handle)
            .with_state(state);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let shutdown = async move { stopped.cancelled().await };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "toy service stopped");
            }
        });
        Ok(Self {
            addr,
            model,
            start,
            stop,
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Seconds since the service started.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// The current `/metrics` exposition text.
    pub fn metrics_text(&self) -> String {
        let now = self.elapsed();
        self.model
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .render_metrics(now)
    }

    /// New metric series the service refused because its registry was full.
    pub fn refused_series(&self) -> u64 {
        self.model
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .refused_series()
    }

    /// Stops accepting connections and waits for the server task.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    let now = st.start.elapsed().as_secs_f64();
    let text = st
        .model
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .render_metrics(now);
    let mut resp = Response::new(Body::from(text));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

struct InFlight(Arc<AtomicU32>);
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn handle(State(st): State<AppState>, req: Request) -> Response {
    let started = Instant::now();
    let concurrency = st.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    let _guard = InFlight(Arc::clone(&st.in_flight));
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        let mut r = Response::new(Body::from("request body too large\n"));
        *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        return r;
    };
    let header_str =
        |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let user_id = parts.headers.get("x-user-id").and_then(|v| v.to_str().ok());
    let method = parts.method.as_str().to_owned();
    let toy_req = ToyRequest {
        method: &method,
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        authorization: header_str(header::AUTHORIZATION),
        user_id,
        body: &body,
    };
    let now = st.start.elapsed().as_secs_f64();
    let answer = st
        .model
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .handle(&toy_req, now, Some(concurrency), false);
    let remaining = answer.latency - started.elapsed().as_secs_f64();
    // Tokio's timer has millisecond granularity: shorter waits would turn
    // into a full millisecond, so sub-half-millisecond latencies are served at once.
    if remaining >= 0.0005 {
        tokio::time::sleep(Duration::from_secs_f64(remaining.min(60.0))).await;
    }
    st.model
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .record_http(
            &method,
            answer.route,
            answer.status,
            started.elapsed().as_secs_f64(),
        );
    let body = if parts.method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(answer.body)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(answer.content_type),
    );
    resp
}

/// Serves the toy service on `port` until `stop` is cancelled (for `toy serve`).
pub async fn serve_until(
    port: u16,
    scenario: Scenario,
    seed: u64,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let server = ToyServer::start(port, scenario, seed).await?;
    println!(
        "toy service (QuickPizza-compatible) listening on {}",
        server.base_url()
    );
    stop.cancelled().await;
    server.shutdown().await;
    Ok(())
}
