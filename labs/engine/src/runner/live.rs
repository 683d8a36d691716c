//! The live clock: one OS thread per VU sending real HTTP over loopback to
//! the in-process toy service, in real time.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::http::LiveClient;
use super::metrics::{ids, Budget, Store};
use super::options::{Executor, Plan};
use super::schedule::{active_at, arrival_time, next_active, next_inactive, vu_steps};
use super::vu::{Limits, Vu, VuSetup, VuState, World, WorldRequest, WorldResponse};
use super::{scenario_tags, Finish, Progress, RunConfig, RunError, RunSummary, Scrape};
use crate::toy::ToyServer;

const MAX_LOGS: usize = 1000;

struct Shared {
    store: Mutex<Store>,
    logs: Mutex<Vec<String>>,
    abort: Mutex<Option<String>>,
    fatal: Mutex<Option<String>>,
    cancel: CancellationToken,
    start: Instant,
    limits: Limits,
    addr: SocketAddr,
    requests: AtomicU64,
    iterations: AtomicU64,
    vus_active: AtomicU64,
    vus_max: AtomicU64,
    total_bits: AtomicU64,
    origin_bits: AtomicU64,
    options_json: Mutex<String>,
    /// Unix time of `start`, milliseconds.
    epoch_ms: f64,
    /// The run's metric budget (the store keeps within it).
    budget: Arc<Budget>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn stopping(&self) -> bool {
        self.cancel.is_cancelled()
            || self.budget.exceeded().is_some()
            || lock(&self.abort).is_some()
            || lock(&self.fatal).is_some()
            || self.now() > self.wall_budget()
    }

    /// Live runs take real time: the budget is the scheduled test plus `run_seconds`.
    fn wall_budget(&self) -> f64 {
        self.limits.run_seconds + f64::from_bits(self.total_bits.load(Ordering::Relaxed)) + 60.0
    }

    fn origin(&self) -> f64 {
        f64::from_bits(self.origin_bits.load(Ordering::Relaxed))
    }

    fn log(&self, line: String) {
        let mut l = lock(&self.logs);
        if l.len() < MAX_LOGS {
            l.push(format!(
                "t={:.3}s {line}",
                (self.now() - self.origin()).max(0.0)
            ));
        }
    }

    /// Sleeps until `until` (seconds since start) or until the run stops.
    fn sleep_until(&self, until: f64) -> bool {
        loop {
            if self.stopping() {
                return false;
            }
            let left = until - self.now();
            if left <= 0.0 {
                return true;
            }
            std::thread::sleep(Duration::from_secs_f64(left.min(0.05)));
        }
    }
}

struct LiveWorld {
    shared: Arc<Shared>,
    client: RefCell<LiveClient>,
}

impl World for LiveWorld {
    fn now(&self, _vu: &VuState) -> f64 {
        self.shared.now() - self.shared.origin()
    }

    fn sleep(&self, vu: &mut VuState, secs: f64) -> bool {
        let origin = self.shared.origin();
        let want = self.shared.now() + secs;
        let dl = vu.deadline + origin;
        if want > dl {
            self.shared.sleep_until(dl);
            vu.time = vu.deadline;
            return false;
        }
        let ok = self.shared.sleep_until(want);
        vu.time = self.shared.now() - origin;
        ok
    }

    fn http(&self, vu: &mut VuState, req: WorldRequest) -> WorldResponse {
        let mut req = req;
        let left = vu.deadline + self.shared.origin() - self.shared.now();
        if left <= 0.0 {
            vu.stop.set(true);
            vu.stop_reason.get_or_insert_with(|| {
                "the iteration was interrupted at the end of the scenario".into()
            });
            return WorldResponse::default();
        }
        req.timeout = req.timeout.min(left.max(0.001));
        let r = self
            .client
            .borrow_mut()
            .send(self.shared.addr, &req, vu.max_body);
        vu.time = self.shared.now() - self.shared.origin();
        r
    }

    fn with_store(&self, f: &mut dyn FnMut(&mut Store)) {
        f(&mut lock(&self.shared.store));
    }

    fn log(&self, line: String) {
        self.shared.log(line);
    }

    fn abort(&self, reason: String) {
        lock(&self.shared.abort).get_or_insert(reason);
    }

    fn stopping(&self) -> bool {
        self.shared.stopping()
    }

    fn take_request(&self) -> bool {
        self.shared.requests.fetch_add(1, Ordering::Relaxed) < self.shared.limits.max_requests
    }

    fn exec_info(&self) -> (f64, u64, u64, u64) {
        let s = &self.shared;
        (
            (s.now() - s.origin()) * 1000.0,
            s.iterations.load(Ordering::Relaxed),
            s.vus_active.load(Ordering::Relaxed),
            s.vus_max.load(Ordering::Relaxed),
        )
    }

    fn options_json(&self) -> String {
        lock(&self.shared.options_json).clone()
    }

    fn epoch_ms(&self) -> f64 {
        self.shared.epoch_ms + self.shared.origin() * 1000.0
    }
}

fn world(shared: &Arc<Shared>) -> Rc<dyn World> {
    Rc::new(LiveWorld {
        shared: Arc::clone(shared),
        client: RefCell::new(LiveClient::default()),
    })
}

struct Ctx {
    shared: Arc<Shared>,
    plan: Plan,
    script: String,
    env: BTreeMap<String, String>,
    limits: Limits,
    seed: u64,
    data: Option<String>,
    target: (String, u16),
}

fn iterate(c: &Ctx, vu: &Vu, sc: usize, deadline: f64, n: u64) {
    let scp = &c.plan.scenarios[sc];
    let origin = c.shared.origin();
    let t = c.shared.now() - origin;
    super::begin_iteration(vu, scp, t, deadline, n);
    let r = vu.call(&scp.exec, c.data.as_deref());
    let end = c.shared.now() - origin;
    let (interrupted, reason) = super::end_iteration(vu);
    match r {
        Ok(_) => {
            c.shared.iterations.fetch_add(1, Ordering::Relaxed);
            super::record_iteration(&mut lock(&c.shared.store), &scp.name, t, end);
        }
        Err(e) => match super::sim::classify(&e, interrupted, reason.as_deref()) {
            super::sim::Failure::Fatal(m) => {
                lock(&c.shared.fatal).get_or_insert(m);
            }
            super::sim::Failure::Quiet => {}
            super::sim::Failure::Log => c.shared.log(format!(
                "[error] {e}  (VU {}, scenario {})",
                vu.state.borrow().id,
                scp.name
            )),
        },
    }
}

fn vu_thread(c: &Ctx, sc: usize, local: u32, id: u32, counter: &AtomicU64) {
    let scp = &c.plan.scenarios[sc];
    let mut env = c.env.clone();
    for (k, v) in &scp.env {
        env.insert(k.clone(), v.clone());
    }
    let vu = match Vu::new(
        VuSetup {
            id: u64::from(id),
            script: c.script.clone(),
            env,
            limits: c.limits.for_vus(c.plan.total_vus()),
            seed: c.seed,
            target: c.target.clone(),
        },
        world(&c.shared),
        scenario_tags(&c.plan, scp),
    ) {
        Ok(v) => v,
        Err(e) => {
            lock(&c.shared.fatal).get_or_insert(e.0);
            return;
        }
    };
    let origin = c.shared.origin();
    let start = scp.start_time;
    let end = start + scp.executor.duration();
    let hard = end + scp.graceful_stop;
    let now = || c.shared.now() - origin;
    if !c.shared.sleep_until(origin + start) {
        return;
    }
    let n = c.shared.vus_active.fetch_add(1, Ordering::Relaxed) + 1;
    lock(&c.shared.store).add(ids::VUS, now(), n as f64, &[]);
    let mut iters = 0u64;
    match &scp.executor {
        Executor::ConstantVus { .. } => {
            while now() < end && !c.shared.stopping() {
                iterate(c, &vu, sc, hard, iters);
                iters += 1;
            }
        }
        Executor::RampingVus {
            start_vus,
            stages,
            graceful_ramp_down,
        } => {
            let steps = vu_steps(*start_vus, stages);
            let mut active = true;
            while now() < end && !c.shared.stopping() {
                let rel = now() - start;
                if active_at(&steps, rel) > local {
                    if !active {
                        c.shared.vus_active.fetch_add(1, Ordering::Relaxed);
                        active = true;
                    }
                    let dl = next_inactive(&steps, rel, local)
                        .map_or(hard, |x| (start + x + graceful_ramp_down).min(hard));
                    iterate(c, &vu, sc, dl, iters);
                    iters += 1;
                } else {
                    if active {
                        c.shared.vus_active.fetch_sub(1, Ordering::Relaxed);
                        active = false;
                    }
                    match next_active(&steps, rel, local) {
                        Some(t) => {
                            if !c.shared.sleep_until(origin + start + t) {
                                break;
                            }
                        }
                        None => break,
                    }
                }
            }
            if !active {
                c.shared.vus_active.fetch_add(1, Ordering::Relaxed);
            }
        }
        Executor::PerVuIterations { iterations, .. } => {
            while iters < *iterations && now() < end && !c.shared.stopping() {
                iterate(c, &vu, sc, hard, iters);
                iters += 1;
            }
        }
        Executor::SharedIterations { iterations, .. } => loop {
            if now() >= end || c.shared.stopping() {
                break;
            }
            let k = counter.fetch_add(1, Ordering::Relaxed);
            if k >= *iterations {
                break;
            }
            iterate(c, &vu, sc, hard, k);
        },
        ex @ (Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. }) => loop {
            let k = counter.fetch_add(1, Ordering::Relaxed);
            let Some(at) = arrival_time(ex, k) else { break };
            let due = start + at;
            if !c.shared.sleep_until(origin + due) {
                break;
            }
            if now() - due > 1.0 {
                let tags = vec![("scenario".to_owned(), scp.name.clone())];
                lock(&c.shared.store).add(ids::DROPPED_ITERATIONS, now(), 1.0, &tags);
                continue;
            }
            iterate(c, &vu, sc, hard, k);
        },
    }
    c.shared.vus_active.fetch_sub(1, Ordering::Relaxed);
}

/// The blocking part of a live run: init, setup, VU threads, teardown, summary.
fn coordinate(
    shared: &Arc<Shared>,
    script: &str,
    cfg: &RunConfig,
    env: BTreeMap<String, String>,
    target: (String, u16),
    scrapes: &Arc<Mutex<Vec<Scrape>>>,
    plan_slot: &Arc<Mutex<Option<Plan>>>,
) -> Result<RunSummary, RunError> {
    let setup = |id: u64| VuSetup {
        id,
        script: script.to_owned(),
        env: env.clone(),
        limits: cfg.limits.clone(),
        seed: cfg.seed,
        target: target.clone(),
    };
    let first = Vu::new(setup(0), world(shared), Vec::new()).map_err(|e| RunError::Script(e.0))?;
    let (plan, opts) = super::open_plan(&first, &mut lock(&shared.store), &cfg.limits)?;
    *lock(&shared.options_json) = opts;
    if plan
        .thresholds
        .iter()
        .any(|t| t.exprs.iter().any(|r| r.abort_on_fail))
    {
        *lock(plan_slot) = Some(plan.clone());
    }
    shared
        .total_bits
        .store(plan.scheduled().to_bits(), Ordering::Relaxed);
    shared.vus_max.store(plan.total_vus(), Ordering::Relaxed);
    let mut data = None;
    if first.has_export("setup") {
        first.state.borrow_mut().deadline = plan.setup_timeout;
        data = first
            .call("setup", None)
            .map_err(|e| RunError::Script(format!("setup() failed: {e}")))?;
        data.get_or_insert_with(|| "null".into());
    }
    shared
        .origin_bits
        .store(shared.now().to_bits(), Ordering::Relaxed);
    lock(&shared.store).add(ids::VUS_MAX, 0.0, plan.total_vus() as f64, &[]);
    let ctx = Arc::new(Ctx {
        shared: Arc::clone(shared),
        plan: plan.clone(),
        script: script.to_owned(),
        env: env.clone(),
        limits: cfg.limits.clone(),
        seed: cfg.seed,
        data: data.clone(),
        target: target.clone(),
    });
    let mut handles = Vec::new();
    let mut base = 1u32;
    for (i, sc) in plan.scenarios.iter().enumerate() {
        let counter = Arc::new(AtomicU64::new(0));
        for local in 0..sc.executor.max_vus() {
            let (c, counter) = (Arc::clone(&ctx), Arc::clone(&counter));
            let id = base + local;
            let h = std::thread::Builder::new()
                .name(format!("vu-{id}"))
                .spawn(move || vu_thread(&c, i, local, id, &counter))
                .map_err(|e| RunError::Sandbox(format!("cannot start VU threads: {e}")))?;
            handles.push(h);
        }
        base += sc.executor.max_vus();
    }
    for h in handles {
        let _ = h.join();
    }
    let duration = (shared.now() - shared.origin()).max(0.0);
    first.state.borrow_mut().deadline = duration + plan.teardown_timeout;
    let fatal = lock(&shared.fatal).clone();
    if first.has_export("teardown") {
        if let Err(e) = first.call("teardown", data.as_deref()) {
            if fatal.is_none() {
                return Err(RunError::Script(format!("teardown() failed: {e}")));
            }
        }
    }
    let logs = std::mem::take(&mut *lock(&shared.logs));
    let aborted = lock(&shared.abort).clone().or_else(|| {
        (shared.now() > shared.wall_budget()).then(|| {
            format!(
                "the run exceeded its wall-time budget of {}s",
                cfg.limits.run_seconds
            )
        })
    });
    let mut store = lock(&shared.store).clone();
    let scrapes = std::mem::take(&mut *lock(scrapes));
    Finish {
        store: &mut store,
        plan: &plan,
        duration,
        cfg,
        aborted,
        fatal,
        logs,
        scrapes,
        limit: shared.budget.exceeded().map(str::to_owned),
    }
    .summarize(|d| {
        if first.has_export("handleSummary") {
            first.call_with_json("handleSummary", &d.to_string())
        } else {
            Ok(None)
        }
    })
}

/// Runs a script live against a fresh in-process toy service, or against
/// the operator's loopback `target`.
pub(crate) async fn run(
    script: &str,
    cfg: RunConfig,
    mut progress: impl FnMut(Progress) + Send + 'static,
) -> Result<RunSummary, RunError> {
    let server = match cfg.target {
        Some(_) => None,
        None => Some(
            ToyServer::start(0, cfg.scenario.clone(), cfg.seed)
                .await
                .map_err(|e| RunError::Toy(e.to_string()))?,
        ),
    };
    let addr = match (&server, cfg.target) {
        (Some(s), _) => s.addr(),
        (None, Some(t)) if t.ip().is_loopback() => t,
        (None, _) => {
            return Err(RunError::Toy(
                "the load target must be a loopback address".into(),
            ))
        }
    };
    let budget = Budget::for_limits(&cfg.limits);
    let shared = Arc::new(Shared {
        store: Mutex::new(Store::with_budget(
            cfg.limits.max_test_seconds as usize + 120,
            Arc::clone(&budget),
        )),
        logs: Mutex::new(Vec::new()),
        abort: Mutex::new(None),
        fatal: Mutex::new(None),
        cancel: cfg.cancel.clone(),
        start: Instant::now(),
        limits: cfg.limits.clone(),
        addr,
        requests: AtomicU64::new(0),
        iterations: AtomicU64::new(0),
        vus_active: AtomicU64::new(0),
        vus_max: AtomicU64::new(0),
        total_bits: AtomicU64::new(0),
        origin_bits: AtomicU64::new(0f64.to_bits()),
        options_json: Mutex::new("{}".into()),
        epoch_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        budget,
    });
    let mut env = cfg.env.clone();
    env.entry("BASE_URL".into())
        .or_insert_with(|| match &server {
            Some(s) => s.base_url(),
            None => format!("http://{addr}"),
        });
    let target = (addr.ip().to_string(), addr.port());
    let scrapes: Arc<Mutex<Vec<Scrape>>> = Arc::new(Mutex::new(Vec::new()));
    let plan_slot: Arc<Mutex<Option<Plan>>> = Arc::new(Mutex::new(None));
    let (sh, sc, sc2, ps) = (
        Arc::clone(&shared),
        cfg.clone(),
        Arc::clone(&scrapes),
        Arc::clone(&plan_slot),
    );
    let script = script.to_owned();
    let mut job =
        tokio::task::spawn_blocking(move || coordinate(&sh, &script, &sc, env, target, &sc2, &ps));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_reqs = 0i64;
    let mut next_scrape = 0.0;
    let result = loop {
        tokio::select! {
            r = &mut job => break r,
            _ = tick.tick() => {
                let elapsed = (shared.now() - shared.origin()).max(0.0);
                let vus = shared.vus_active.load(Ordering::Relaxed);
                if let Some(server) = server.as_ref().filter(|_| elapsed >= next_scrape) {
                    let text = server.metrics_text();
                    // Past the budget the VUs see the run stopping.
                    if shared.budget.keep_scrape(text.len()) {
                        lock(&scrapes).push(Scrape { t: elapsed, text });
                    }
                    next_scrape += cfg.scrape_interval.max(1.0);
                }
                let p = {
                    let mut s = lock(&shared.store);
                    s.set_vus(elapsed, i64::try_from(vus).unwrap_or(0));
                    s.seal_seconds(elapsed);
                    let (reqs, errors) = super::request_counts(&[&s]);
                    let p = Progress {
                        elapsed,
                        total: f64::from_bits(shared.total_bits.load(Ordering::Relaxed)),
                        vus: i64::try_from(vus).unwrap_or(0),
                        vus_max: i64::try_from(shared.vus_max.load(Ordering::Relaxed)).unwrap_or(0),
                        iterations: i64::try_from(shared.iterations.load(Ordering::Relaxed)).unwrap_or(0),
                        requests: reqs,
                        rps: (reqs - last_reqs) as f64,
                        p95_ms: s.recent_p95(elapsed, 10),
                        errors,
                    };
                    last_reqs = reqs;
                    if let Some(plan) = lock(&plan_slot).as_ref() {
                        if let Some(why) = super::abort_check(&mut s, plan, elapsed) {
                            lock(&shared.abort).get_or_insert(why);
                        }
                    }
                    p
                };
                progress(p);
            }
        }
    };
    let (final_text, refused) = match server {
        Some(server) => {
            let text = server.metrics_text();
            let refused = server.refused_series();
            server.shutdown().await;
            (Some(text), refused)
        }
        None => (None, 0),
    };
    let mut summary = result.map_err(|e| RunError::Script(format!("the run crashed: {e}")))??;
    if let Some(text) = final_text {
        if shared.budget.keep_scrape(text.len()) {
            summary.scrapes.push(Scrape {
                t: summary.duration,
                text,
            });
        } else if summary.aborted.is_none() {
            // Only the last scrape did not fit: the run ends as if it had stopped there.
            summary.aborted = shared.budget.exceeded().map(str::to_owned);
            summary.exit_code = super::exit::SCRIPT_ABORTED;
        }
    }
    if refused > 0 {
        summary.logs.push(format!(
            "[warn] the toy service's /metrics holds at most {} series; {refused} new series were not recorded",
            crate::toy::metrics::MAX_SERIES
        ));
    }
    Ok(summary)
}
