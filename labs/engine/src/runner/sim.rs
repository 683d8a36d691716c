//! The simulated clock: a discrete-event loop over VU iterations against
//! the toy service's model. Iterations run whole (script time does not pass
//! while JavaScript computes), ordered by virtual start time, so the same
//! script and seed always give the same result.
//!
//! The VUs are dealt to a fixed number of lanes (two, unless the test has
//! fewer VUs to share out), each with its own event queue, metrics and
//! replica of the service model. Lanes meet once per virtual second: there
//! the run's progress, scrapes and thresholds are taken over all lanes, and
//! the lanes learn how busy the others were (the service's concurrency).
//! Between meetings a lane depends on nothing but itself, so lanes can run
//! on separate threads and the result depends on the lanes, never on the
//! threads or their timing: one thread or two give the same bytes.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::metrics::{ids, Budget, Store};
use super::options::{Executor, Plan};
use super::schedule::{active_at, arrival_time, next_active, next_inactive, vu_steps};
use super::vu::{Limits, Vu, VuSetup, VuState, World, WorldRequest, WorldResponse};
use super::{exit, scenario_tags, Finish, Progress, RunConfig, RunError, RunSummary, Scrape};
use crate::toy::{ToyModel, ToyRequest};

/// Virtual cost of running an iteration's JavaScript, so empty loops advance time.
const MIN_ITERATION: f64 = 0.0005;
const MAX_LOGS: usize = 1000;
/// Lanes of a test with at least this many VUs that can be dealt out.
pub(crate) const LANES: u32 = 2;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Run-wide state: written by the coordinator between epochs, read by lanes.
struct RunShared {
    cancel: CancellationToken,
    wall_start: Instant,
    limits: Limits,
    /// Requests sent by all lanes (the budget is the run's, not a lane's).
    requests: AtomicU64,
    /// Set between epochs when the run must end (abort, abortOnFail).
    stop: AtomicBool,
    abort: Mutex<Option<String>>,
    /// Iterations of all lanes as of the last epoch.
    iterations: AtomicU64,
    vus_active: AtomicU64,
    vus_max: AtomicU64,
    options_json: Mutex<String>,
    /// The run's metric budget (the lanes' stores keep within it).
    budget: Arc<Budget>,
}

impl RunShared {
    fn new(cfg: &RunConfig) -> Arc<Self> {
        Arc::new(Self {
            cancel: cfg.cancel.clone(),
            wall_start: Instant::now(),
            limits: cfg.limits.clone(),
            requests: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            abort: Mutex::new(None),
            iterations: AtomicU64::new(0),
            vus_active: AtomicU64::new(0),
            vus_max: AtomicU64::new(0),
            options_json: Mutex::new("{}".into()),
            budget: Budget::for_limits(&cfg.limits),
        })
    }

    /// A store of this run, keeping within its budget.
    fn store(&self, max_series_seconds: usize) -> Store {
        Store::with_budget(max_series_seconds, Arc::clone(&self.budget))
    }
}

/// What a lane shares with the coordinator: touched by the lane's thread
/// during an epoch and by the coordinator between epochs, never both.
struct LaneShared {
    store: Mutex<Store>,
    model: Mutex<ToyModel>,
    logs: Mutex<Vec<String>>,
    abort: Mutex<Option<String>>,
    aborted: AtomicBool,
    iterations: AtomicU64,
    /// This lane's iterations as of the last epoch.
    iterations_seen: AtomicU64,
    report: Mutex<LaneReport>,
}

/// A lane's state at the end of an epoch.
#[derive(Default)]
struct LaneReport {
    /// Time of its next event.
    next: Option<f64>,
    /// Active VUs at the epoch's end.
    active: u64,
    /// Seconds of service time its requests took during the epoch.
    busy: f64,
    stopped: bool,
    /// End of the lane's test (last iteration end, or when it stopped).
    end: f64,
    fatal: Option<String>,
    error: Option<RunError>,
}

impl LaneShared {
    fn new(store: Store, model: ToyModel) -> Arc<Self> {
        Arc::new(Self {
            store: Mutex::new(store),
            model: Mutex::new(model),
            logs: Mutex::new(Vec::new()),
            abort: Mutex::new(None),
            aborted: AtomicBool::new(false),
            iterations: AtomicU64::new(0),
            iterations_seen: AtomicU64::new(0),
            report: Mutex::new(LaneReport::default()),
        })
    }
}

/// The world as a lane's VUs see it.
struct LaneWorld {
    lane: Arc<LaneShared>,
    run: Arc<RunShared>,
    now: Cell<f64>,
    busy: Cell<f64>,
    vus_max: Cell<u64>,
    stop_checks: Cell<u32>,
    over_time: Cell<bool>,
    /// Requests taken from the run's budget and not sent yet.
    reserved: Cell<u64>,
}

impl LaneWorld {
    fn new(lane: &Arc<LaneShared>, run: &Arc<RunShared>) -> Rc<Self> {
        Rc::new(Self {
            lane: Arc::clone(lane),
            run: Arc::clone(run),
            now: Cell::new(0.0),
            busy: Cell::new(0.0),
            vus_max: Cell::new(0),
            stop_checks: Cell::new(0),
            reserved: Cell::new(0),
            over_time: Cell::new(false),
        })
    }

    fn over_time(&self) -> bool {
        self.run.wall_start.elapsed().as_secs_f64() > self.run.limits.run_seconds
    }
}

impl World for LaneWorld {
    fn now(&self, vu: &VuState) -> f64 {
        vu.time
    }

    fn sleep(&self, vu: &mut VuState, secs: f64) -> bool {
        if vu.time + secs > vu.deadline {
            vu.time = vu.deadline;
            return false;
        }
        vu.time += secs;
        !self.stopping()
    }

    fn http(&self, vu: &mut VuState, req: WorldRequest<'_>) -> WorldResponse {
        let (path, query) = req
            .path_and_query
            .split_once('?')
            .unwrap_or((req.path_and_query, ""));
        let header = |n: &str| {
            req.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        };
        let treq = ToyRequest {
            method: req.method,
            path,
            query,
            authorization: header("authorization"),
            user_id: header("x-user-id"),
            body: req.body,
        };
        let answer = lock(&self.lane.model).handle(&treq, vu.time, None, true);
        self.busy.set(self.busy.get() + answer.latency);
        let sent = (req.method.len()
            + req.path_and_query.len()
            + 60
            + req
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 4)
                .sum::<usize>()
            + req.body.len()) as u64;
        let received = (answer.body.len() + 120) as u64;
        let sending = 0.000_01 + sent as f64 / 1.0e9;
        let receiving = 0.000_02 + received as f64 / 1.0e9;
        if answer.latency > req.timeout {
            vu.time += req.timeout;
            return WorldResponse {
                error: Some((1050, format!("request timeout after {}s", req.timeout))),
                sent,
                ..WorldResponse::default()
            };
        }
        let total = sending + answer.latency + receiving;
        if vu.time + total > vu.deadline {
            vu.time = vu.deadline;
            vu.stop.set(true);
            vu.stop_reason.get_or_insert_with(|| {
                "the iteration was interrupted at the end of the scenario".into()
            });
            return WorldResponse::default();
        }
        vu.time += total;
        WorldResponse {
            status: answer.status,
            headers: Vec::new(),
            content_type: Some(answer.content_type),
            body: answer.body,
            error: None,
            phases: [0.0, 0.0, sending, answer.latency, receiving],
            sent,
            received,
        }
    }

    fn with_store(&self, f: &mut dyn FnMut(&mut Store)) {
        f(&mut lock(&self.lane.store));
    }

    fn log(&self, line: String) {
        let mut l = lock(&self.lane.logs);
        if l.len() < MAX_LOGS {
            l.push(format!("t={:.3}s {line}", self.now.get()));
        }
    }

    fn abort(&self, reason: String) {
        lock(&self.lane.abort).get_or_insert(reason);
        self.lane.aborted.store(true, Ordering::Relaxed);
    }

    fn stopping(&self) -> bool {
        if self.lane.aborted.load(Ordering::Relaxed)
            || self.run.stop.load(Ordering::Relaxed)
            || self.over_time.get()
            || self.run.budget.exceeded().is_some()
        {
            return true;
        }
        // The clock and the cancel token (a lock) cost more than a simulated
        // request: look every 64 asks.
        let n = self.stop_checks.get().wrapping_add(1);
        self.stop_checks.set(n);
        if n.is_multiple_of(64) && (self.over_time() || self.cancel().is_cancelled()) {
            self.over_time.set(true);
        }
        self.over_time.get()
    }

    fn take_request(&self) -> bool {
        // Lanes on different cores would fight over one counter per request:
        // each takes requests from the run's budget in small batches.
        let left = self.reserved.get();
        if left > 0 {
            self.reserved.set(left - 1);
            return true;
        }
        let max = self.run.limits.max_requests;
        let batch = (max / 64).clamp(1, 1024);
        let taken = self.run.requests.fetch_add(batch, Ordering::Relaxed);
        if taken >= max {
            return false;
        }
        self.reserved.set(batch.min(max - taken) - 1);
        true
    }

    fn exec_info(&self) -> (f64, u64, u64, u64) {
        let own = self.lane.iterations.load(Ordering::Relaxed)
            - self.lane.iterations_seen.load(Ordering::Relaxed);
        (
            self.now.get() * 1000.0,
            self.run.iterations.load(Ordering::Relaxed) + own,
            self.run.vus_active.load(Ordering::Relaxed),
            self.run
                .vus_max
                .load(Ordering::Relaxed)
                .max(self.vus_max.get()),
        )
    }

    fn options_json(&self) -> String {
        lock(&self.run.options_json).clone()
    }

    fn waits(&self) -> bool {
        false
    }

    fn epoch_ms(&self) -> f64 {
        // 2025-01-01T12:00:00Z: simulated runs start at a fixed instant.
        1_735_732_800_000.0
    }
}

impl LaneWorld {
    fn cancel(&self) -> &CancellationToken {
        &self.run.cancel
    }
}

/// The lane of a VU: VUs that loop on their own are dealt round-robin;
/// VUs that share work (shared iterations, arrival rates) stay in lane 0,
/// where that work is handed out in order.
fn lane_of(ex: &Executor, local: u32, lanes: u32) -> u32 {
    if deals(ex) {
        local % lanes.max(1)
    } else {
        0
    }
}

/// Whether an executor's VUs loop on their own (and so can be dealt out).
fn deals(ex: &Executor) -> bool {
    matches!(
        ex,
        Executor::ConstantVus { .. }
            | Executor::RampingVus { .. }
            | Executor::PerVuIterations { .. }
    )
}

/// How many of VUs `0..n` (local indexes) are dealt to lane `index`.
fn lane_share(n: u32, index: u32, lanes: u32) -> u64 {
    let lanes = lanes.max(1);
    u64::from((n + lanes - 1 - index.min(lanes - 1)) / lanes)
}

/// How many lanes a plan gets: a function of the plan alone, never of the
/// machine, so results do not depend on where they are computed.
fn lane_count(plan: &Plan) -> u32 {
    let dealt: u64 = plan
        .scenarios
        .iter()
        .filter(|s| deals(&s.executor))
        .map(|s| u64::from(s.executor.max_vus()))
        .sum();
    if dealt >= 2 {
        LANES
    } else {
        1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Loop { sc: usize, local: u32 },
    Arrival { sc: usize, k: u64 },
}

struct ScState {
    base: u32,
    steps: Vec<(f64, u32)>,
    shared_next: u64,
    iters: Vec<u64>,
    done: Vec<bool>,
    busy_until: Vec<f64>,
    allocated: u32,
}

/// A lane: a share of the VUs with its own events, metrics and service model.
struct Sim<'a> {
    index: u32,
    lanes: u32,
    world: Rc<LaneWorld>,
    plan: &'a Plan,
    cfg: &'a RunConfig,
    script: &'a str,
    env: &'a BTreeMap<String, String>,
    vus: Vec<Option<Vu>>,
    data: Option<String>,
    origin: f64,
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    states: Vec<ScState>,
    fatal: Option<String>,
    end: f64,
    /// When the lane stopped early (abort, cancel, budget, fatal error).
    stop_time: Option<f64>,
    error: Option<RunError>,
    vus_max: u64,
}

fn us(t: f64) -> u64 {
    (t * 1e6).round().max(0.0) as u64
}

impl Sim<'_> {
    fn push(&mut self, t: f64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((us(t), self.seq, ev)));
    }

    fn vu(&mut self, id: u32, sc: usize) -> Result<&Vu, RunError> {
        let idx = id as usize - 1;
        if self.vus.len() <= idx {
            self.vus.resize_with(idx + 1, || None);
        }
        if self.vus[idx].is_none() {
            let mut env = self.env.clone();
            for (k, v) in &self.plan.scenarios[sc].env {
                env.insert(k.clone(), v.clone());
            }
            let vu = Vu::new(
                VuSetup {
                    id: u64::from(id),
                    script: self.script.to_owned(),
                    env,
                    limits: self.cfg.limits.for_vus(self.plan.total_vus()),
                    seed: self.cfg.seed,
                    target: ("localhost".into(), 3333),
                },
                Rc::clone(&self.world) as Rc<dyn World>,
                scenario_tags(self.plan, &self.plan.scenarios[sc]),
            )
            .map_err(|e| RunError::Script(e.0))?;
            self.vus[idx] = Some(vu);
            self.vus_max = self.vus_max.max(u64::from(id));
            self.world.vus_max.set(self.vus_max);
        }
        self.vus[idx]
            .as_ref()
            .ok_or_else(|| RunError::Script("VU missing".into()))
    }

    /// Runs one iteration; returns its end time.
    fn iterate(
        &mut self,
        sc: usize,
        id: u32,
        t: f64,
        deadline: f64,
        iter_in_scenario: u64,
    ) -> Result<f64, RunError> {
        let plan = self.plan;
        let scp = &plan.scenarios[sc];
        let data = self.data.take();
        let vu = match self.vu(id, sc) {
            Ok(vu) => vu,
            Err(e) => {
                self.data = data;
                return Err(e);
            }
        };
        super::begin_iteration(vu, scp, t, deadline, iter_in_scenario);
        let r = vu.call(&scp.exec, data.as_deref());
        let end = {
            let st = vu.state.borrow();
            st.time.max(t + MIN_ITERATION).min(deadline.max(t))
        };
        let (interrupted, reason) = super::end_iteration(vu);
        self.data = data;
        let world = Rc::clone(&self.world);
        world.now.set(t);
        match r {
            Ok(_) => {
                world.lane.iterations.fetch_add(1, Ordering::Relaxed);
                super::record_iteration(&mut lock(&world.lane.store), &scp.name, t, end);
            }
            Err(e) => match classify(&e, interrupted, reason.as_deref()) {
                Failure::Fatal(m) => {
                    self.fatal.get_or_insert(m);
                }
                Failure::Quiet => {}
                Failure::Log => world.log(format!("[error] {e}  (VU {id}, scenario {})", scp.name)),
            },
        }
        if self.end < end {
            self.end = end;
        }
        Ok(end)
    }

    fn active_vus(&self, t: f64) -> u64 {
        let mut n = 0u64;
        for (i, sc) in self.plan.scenarios.iter().enumerate() {
            let rel = t - self.origin - sc.start_time;
            if rel < 0.0 || rel >= sc.executor.duration() {
                continue;
            }
            let st = &self.states[i];
            n += match &sc.executor {
                Executor::ConstantVus { vus, .. } => lane_share(*vus, self.index, self.lanes),
                Executor::RampingVus { .. } => {
                    lane_share(active_at(&st.steps, rel), self.index, self.lanes)
                }
                Executor::PerVuIterations { .. } | Executor::SharedIterations { .. } => {
                    st.done.iter().filter(|d| !**d).count() as u64
                }
                Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. } => {
                    u64::from(st.allocated)
                }
            };
        }
        n
    }

    fn handle(&mut self, t: f64, ev: Ev) -> Result<(), RunError> {
        match ev {
            Ev::Loop { sc, local } => {
                let plan = self.plan;
                let scp = &plan.scenarios[sc];
                let start = self.origin + scp.start_time;
                let end = start + scp.executor.duration();
                let hard = end + scp.graceful_stop;
                let rel = t - start;
                let id = self.states[sc].base + local;
                let li = local as usize;
                if t >= end {
                    self.states[sc].done[li] = true;
                    return Ok(());
                }
                let (deadline, n) = match &scp.executor {
                    Executor::ConstantVus { .. } => (hard, self.states[sc].iters[li]),
                    Executor::RampingVus {
                        graceful_ramp_down, ..
                    } => {
                        let steps = &self.states[sc].steps;
                        // A microsecond of slack: event times are rounded to microseconds.
                        let rel = rel + 2e-6;
                        if active_at(steps, rel) <= local {
                            match next_active(steps, rel, local) {
                                Some(nt) => self.push(start + nt + 2e-6, ev),
                                None => self.states[sc].done[li] = true,
                            }
                            return Ok(());
                        }
                        let dl = next_inactive(steps, rel, local)
                            .map_or(hard, |x| (start + x + graceful_ramp_down).min(hard));
                        (dl, self.states[sc].iters[li])
                    }
                    Executor::PerVuIterations { iterations, .. } => {
                        if self.states[sc].iters[li] >= *iterations {
                            self.states[sc].done[li] = true;
                            return Ok(());
                        }
                        (hard, self.states[sc].iters[li])
                    }
                    Executor::SharedIterations { iterations, .. } => {
                        let st = &mut self.states[sc];
                        if st.shared_next >= *iterations {
                            st.done[li] = true;
                            return Ok(());
                        }
                        st.shared_next += 1;
                        (hard, st.shared_next - 1)
                    }
                    _ => return Ok(()),
                };
                let e = self.iterate(sc, id, t, deadline, n)?;
                self.states[sc].iters[li] += 1;
                self.push(e, ev);
                Ok(())
            }
            Ev::Arrival { sc, k } => {
                let plan = self.plan;
                let scp = &plan.scenarios[sc];
                let start = self.origin + scp.start_time;
                let hard = start + scp.executor.duration() + scp.graceful_stop;
                let (pre, max) = match &scp.executor {
                    Executor::ConstantArrivalRate {
                        pre_allocated,
                        max_vus,
                        ..
                    }
                    | Executor::RampingArrivalRate {
                        pre_allocated,
                        max_vus,
                        ..
                    } => (*pre_allocated, *max_vus),
                    _ => return Ok(()),
                };
                if let Some(next) = arrival_time(&scp.executor, k + 1) {
                    self.push(start + next, Ev::Arrival { sc, k: k + 1 });
                }
                let st = &mut self.states[sc];
                if st.allocated < pre {
                    st.allocated = pre;
                    st.busy_until.resize(pre as usize, f64::NEG_INFINITY);
                }
                let free = st.busy_until.iter().position(|b| *b <= t);
                let local = match free {
                    Some(i) => i,
                    None if st.allocated < max => {
                        st.allocated += 1;
                        st.busy_until.push(f64::NEG_INFINITY);
                        st.busy_until.len() - 1
                    }
                    None => {
                        let tags = vec![("scenario".to_owned(), scp.name.clone())];
                        lock(&self.world.lane.store).add(ids::DROPPED_ITERATIONS, t, 1.0, &tags);
                        return Ok(());
                    }
                };
                let id = st.base + u32::try_from(local).unwrap_or(0);
                let e = self.iterate(sc, id, t, hard, k)?;
                self.states[sc].busy_until[local] = e;
                Ok(())
            }
        }
    }
}

impl<'a> Sim<'a> {
    /// Lane `index` of `lanes`, with the events of its VUs queued.
    #[expect(
        clippy::too_many_arguments,
        reason = "a lane is made of the run's parts"
    )]
    fn new(
        index: u32,
        lanes: u32,
        world: Rc<LaneWorld>,
        plan: &'a Plan,
        cfg: &'a RunConfig,
        script: &'a str,
        env: &'a BTreeMap<String, String>,
        data: Option<String>,
        origin: f64,
    ) -> Self {
        let mut states = Vec::new();
        let mut base = 1u32;
        for sc in &plan.scenarios {
            let max = sc.executor.max_vus();
            let steps = match &sc.executor {
                Executor::RampingVus {
                    start_vus, stages, ..
                } => vu_steps(*start_vus, stages),
                _ => Vec::new(),
            };
            states.push(ScState {
                base,
                steps,
                shared_next: 0,
                iters: vec![0; max as usize],
                // VUs of other lanes count as done here: they are active there.
                done: (0..max)
                    .map(|l| lane_of(&sc.executor, l, lanes) != index)
                    .collect(),
                busy_until: Vec::new(),
                allocated: 0,
            });
            base += max;
        }
        let mut sim = Sim {
            index,
            lanes,
            world,
            plan,
            cfg,
            script,
            env,
            vus: Vec::new(),
            data,
            origin,
            heap: BinaryHeap::new(),
            seq: 0,
            states,
            fatal: None,
            end: origin,
            stop_time: None,
            error: None,
            vus_max: 0,
        };
        for (i, sc) in plan.scenarios.iter().enumerate() {
            let start = origin + sc.start_time;
            match &sc.executor {
                Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. } => {
                    if index == 0 {
                        if let Some(t0) = arrival_time(&sc.executor, 0) {
                            sim.push(start + t0, Ev::Arrival { sc: i, k: 0 });
                        }
                    }
                }
                ex => {
                    for local in 0..ex.max_vus() {
                        if lane_of(ex, local, lanes) == index {
                            sim.push(start, Ev::Loop { sc: i, local });
                        }
                    }
                }
            }
        }
        sim
    }

    fn next_time(&self) -> Option<f64> {
        self.heap.peek().map(|Reverse((t, _, _))| *t as f64 / 1e6)
    }

    /// Handles every event before `target`.
    fn run_until(&mut self, target: f64) {
        if self.stop_time.is_some() {
            return;
        }
        while let Some(t) = self.next_time() {
            if target <= t {
                break;
            }
            let Some(Reverse((_, _, ev))) = self.heap.pop() else {
                break;
            };
            if self.world.stopping() {
                self.stop_time = Some(t);
                break;
            }
            self.world.now.set(t);
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| self.handle(t, ev)));
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    self.error = Some(e);
                    self.stop_time = Some(t);
                    break;
                }
                Err(_) => {
                    self.error = Some(RunError::Script("the simulation crashed".into()));
                    self.stop_time = Some(t);
                    break;
                }
            }
            if self.fatal.is_some() {
                self.stop_time = Some(t);
                break;
            }
        }
    }

    /// Publishes the lane's state as of `t` for the coordinator.
    fn report(&mut self, t: f64) {
        let end = match self.stop_time {
            Some(s) => s.max(self.end.min(s)),
            None => self.end,
        };
        let mut r = lock(&self.world.lane.report);
        *r = LaneReport {
            next: self.next_time(),
            active: self.active_vus(t),
            busy: self.world.busy.replace(0.0),
            stopped: self.stop_time.is_some(),
            end,
            fatal: self.fatal.clone(),
            error: self.error.take(),
        };
    }
}

/// What lanes on other threads are told to do next.
struct Control {
    barrier: Barrier,
    /// 0: run to `target`; 1: report at `target` and finish.
    cmd: AtomicU8,
    target: AtomicU64,
}

const RUN: u8 = 0;
const FINISH: u8 = 1;

/// Threads a run uses: as many as asked (0: the machine's cores), at most one per lane.
fn thread_count(cfg: &RunConfig, lanes: u32) -> u32 {
    let want = if cfg.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
    } else {
        u32::try_from(cfg.threads).unwrap_or(u32::MAX)
    };
    want.clamp(1, lanes.max(1))
}

/// Runs a script on the simulated clock.
pub(crate) fn run(
    script: &str,
    cfg: &RunConfig,
    progress: impl FnMut(Progress),
) -> Result<RunSummary, RunError> {
    let run = RunShared::new(cfg);
    let lead = LaneShared::new(
        run.store(cfg.limits.max_test_seconds as usize + 120),
        ToyModel::new(cfg.scenario.clone(), cfg.seed),
    );
    let world = LaneWorld::new(&lead, &run);
    let mut env = cfg.env.clone();
    env.entry("BASE_URL".into())
        .or_insert_with(|| "http://localhost:3333".into());
    let setup = |id: u64| VuSetup {
        id,
        script: script.to_owned(),
        env: env.clone(),
        limits: cfg.limits.clone(),
        seed: cfg.seed,
        target: ("localhost".into(), 3333),
    };
    let first = Vu::new(setup(1), Rc::clone(&world) as Rc<dyn World>, Vec::new())
        .map_err(|e| RunError::Script(e.0))?;
    let (plan, opts) = super::open_plan(&first, &mut lock(&lead.store), &cfg.limits)?;
    *lock(&run.options_json) = opts;
    let lanes = lane_count(&plan);
    // Other lanes start from the prepared store (custom metrics, sub-metrics)
    // before setup has recorded anything in the lead lane's.
    let mut shared = vec![Arc::clone(&lead)];
    for i in 1..lanes {
        let store = lock(&lead.store).clone();
        shared.push(LaneShared::new(
            store,
            ToyModel::lane(cfg.scenario.clone(), cfg.seed, i, lanes),
        ));
    }
    if lanes > 1 {
        let m = ToyModel::lane(cfg.scenario.clone(), cfg.seed, 0, lanes);
        *lock(&lead.model) = m;
    }
    // k6 runs setup, teardown and handleSummary in a VU of their own.
    let needs_aux = ["setup", "teardown", "handleSummary"]
        .iter()
        .any(|f| first.has_export(f));
    let aux = if needs_aux {
        Some(
            Vu::new(setup(0), Rc::clone(&world) as Rc<dyn World>, Vec::new())
                .map_err(|e| RunError::Script(e.0))?,
        )
    } else {
        None
    };
    let mut origin = 0.0;
    let mut data = None;
    if let Some(a) = aux.as_ref().filter(|a| a.has_export("setup")) {
        {
            let mut st = a.state.borrow_mut();
            st.scenario = "setup".into();
            st.deadline = plan.setup_timeout;
        }
        data = a
            .call("setup", None)
            .map_err(|e| RunError::Script(format!("setup() failed: {e}")))?;
        origin = a.state.borrow().time;
        data.get_or_insert_with(|| "null".into());
    }
    lock(&lead.store).add(ids::VUS_MAX, 0.0, plan.total_vus() as f64, &[]);

    let threads = thread_count(cfg, lanes);
    let ctl = Control {
        barrier: Barrier::new(threads as usize),
        cmd: AtomicU8::new(RUN),
        target: AtomicU64::new(0),
    };
    let parts = Parts {
        plan: &plan,
        cfg,
        script,
        env: &env,
        data: data.clone(),
        origin,
        lanes,
        threads,
    };
    let mut lead_lane = Sim::new(
        0,
        lanes,
        Rc::clone(&world),
        &plan,
        cfg,
        script,
        &env,
        data.clone(),
        origin,
    );
    lead_lane.vus = vec![Some(first)];
    lead_lane.vus_max = 1;
    let mut mine = vec![lead_lane];
    let outcome = std::thread::scope(|s| {
        for t in 1..threads {
            let (parts, shared, run, ctl) = (&parts, &shared, &run, &ctl);
            s.spawn(move || worker(t, parts, shared, run, ctl));
        }
        for i in (threads..lanes).step_by(threads as usize) {
            let w = LaneWorld::new(&shared[i as usize], &run);
            mine.push(parts.lane(i, w));
        }
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
            coordinate(&parts, &shared, &run, &ctl, &mut mine, progress)
        }));
        r.unwrap_or_else(|p| {
            // A panic between epochs (in the progress callback, say) would
            // leave the workers waiting for the next one: let them finish first.
            if threads > 1 {
                ctl.cmd.store(FINISH, Ordering::Relaxed);
                ctl.barrier.wait();
                ctl.barrier.wait();
            }
            std::panic::resume_unwind(p)
        })
    });
    let Coordinated {
        end,
        scrapes,
        fatal,
        logs: mut all_logs,
    } = outcome?;
    drop(mine);
    let duration = (end - origin).max(0.0);
    world.now.set(end);

    if let Some(a) = aux.as_ref().filter(|a| a.has_export("teardown")) {
        {
            let mut st = a.state.borrow_mut();
            st.scenario = "teardown".into();
            st.time = end;
            st.deadline = end + plan.teardown_timeout;
        }
        if let Err(e) = a.call("teardown", data.as_deref()) {
            if fatal.is_none() {
                return Err(RunError::Script(format!("teardown() failed: {e}")));
            }
        }
    }
    all_logs.append(&mut lock(&lead.logs));
    all_logs.truncate(MAX_LOGS);
    let limit = run.budget.exceeded().map(str::to_owned);
    let aborted = lock(&run.abort).clone().or_else(|| {
        shared
            .iter()
            .find_map(|l| lock(&l.abort).clone())
            .or_else(|| {
                (run.wall_start.elapsed().as_secs_f64() > cfg.limits.run_seconds).then(|| {
                    format!(
                        "the run exceeded its wall-time budget of {}s",
                        cfg.limits.run_seconds
                    )
                })
            })
    });
    // The lanes are done: their stores are taken, not copied.
    let mut store = std::mem::take(&mut *lock(&lead.store));
    for l in &shared[1..] {
        store.merge(&lock(&l.store));
    }
    let finish = Finish {
        store: &mut store,
        plan: &plan,
        duration,
        cfg,
        aborted,
        fatal,
        logs: all_logs,
        scrapes,
        limit,
    };
    let mut summary =
        finish.summarize(
            |data| match aux.as_ref().filter(|a| a.has_export("handleSummary")) {
                Some(a) => a.call_with_json("handleSummary", &data.to_string()),
                None => Ok(None),
            },
        )?;
    if summary.exit_code == exit::OK && cfg.cancel.is_cancelled() {
        summary.exit_code = exit::EXTERNAL_ABORT;
    }
    Ok(summary)
}

/// What every lane is built from.
struct Parts<'a> {
    plan: &'a Plan,
    cfg: &'a RunConfig,
    script: &'a str,
    env: &'a BTreeMap<String, String>,
    data: Option<String>,
    origin: f64,
    lanes: u32,
    threads: u32,
}

impl<'a> Parts<'a> {
    fn lane(&self, index: u32, world: Rc<LaneWorld>) -> Sim<'a> {
        Sim::new(
            index,
            self.lanes,
            world,
            self.plan,
            self.cfg,
            self.script,
            self.env,
            self.data.clone(),
            self.origin,
        )
    }
}

/// A worker thread: builds its lanes (QuickJS runtimes stay on the thread
/// that made them) and runs them epoch by epoch as the coordinator says.
fn worker(
    thread: u32,
    parts: &Parts<'_>,
    shared: &[Arc<LaneShared>],
    run: &Arc<RunShared>,
    ctl: &Control,
) {
    let mut lanes: Vec<Sim<'_>> = (thread..parts.lanes)
        .step_by(parts.threads as usize)
        .map(|i| parts.lane(i, LaneWorld::new(&shared[i as usize], run)))
        .collect();
    loop {
        ctl.barrier.wait();
        let target = f64::from_bits(ctl.target.load(Ordering::Relaxed));
        let finish = ctl.cmd.load(Ordering::Relaxed) == FINISH;
        for l in &mut lanes {
            if !finish {
                l.run_until(target);
            }
            l.report(target);
        }
        if finish {
            // The VUs go with the thread that made them, before it says it is done.
            drop(lanes);
            ctl.barrier.wait();
            return;
        }
        ctl.barrier.wait();
    }
}

struct Coordinated {
    end: f64,
    scrapes: Vec<Scrape>,
    fatal: Option<String>,
    logs: Vec<String>,
}

/// Runs all lanes epoch by epoch (one virtual second each), with the run's
/// ticks (VU gauge, scrapes, progress, abortOnFail) between epochs.
fn coordinate(
    parts: &Parts<'_>,
    shared: &[Arc<LaneShared>],
    run: &Arc<RunShared>,
    ctl: &Control,
    mine: &mut [Sim<'_>],
    mut progress: impl FnMut(Progress),
) -> Result<Coordinated, RunError> {
    let (plan, cfg, origin) = (parts.plan, parts.cfg, parts.origin);
    // One epoch on every lane: here for this thread's, on workers for theirs.
    let epoch = |mine: &mut [Sim<'_>], cmd: u8, target: f64| {
        ctl.cmd.store(cmd, Ordering::Relaxed);
        ctl.target.store(target.to_bits(), Ordering::Relaxed);
        if parts.threads > 1 {
            ctl.barrier.wait();
        }
        for l in mine.iter_mut() {
            if cmd == RUN {
                l.run_until(target);
            }
            l.report(target);
        }
        if parts.threads > 1 {
            ctl.barrier.wait();
        }
    };
    let aborts_on_fail = plan
        .thresholds
        .iter()
        .any(|t| t.exprs.iter().any(|r| r.abort_on_fail));
    let total = plan.scheduled();
    let mut next_tick = origin;
    let mut next_scrape = origin;
    let mut scrapes = Vec::new();
    let mut logs = Vec::new();
    let mut last_reqs = 0i64;
    let mut error = None;
    let mut reports: Vec<LaneReport>;
    loop {
        epoch(mine, RUN, next_tick);
        reports = shared
            .iter()
            .map(|l| std::mem::take(&mut *lock(&l.report)))
            .collect();
        for l in shared {
            logs.append(&mut lock(&l.logs));
        }
        logs.truncate(MAX_LOGS);
        if let Some(e) = reports.iter_mut().find_map(|r| r.error.take()) {
            error = Some(e);
            break;
        }
        if reports.iter().any(|r| r.stopped) {
            break;
        }
        let Some(_) = reports.iter().filter_map(|r| r.next).reduce(f64::min) else {
            break;
        };
        // A tick: once per virtual second while work remains.
        let t = next_tick;
        let active: u64 = reports.iter().map(|r| r.active).sum();
        run.vus_active.store(active, Ordering::Relaxed);
        let mut iterations = 0;
        for l in shared {
            let n = l.iterations.load(Ordering::Relaxed);
            l.iterations_seen.store(n, Ordering::Relaxed);
            iterations += n;
        }
        run.iterations.store(iterations, Ordering::Relaxed);
        // Each lane's model hears how busy the others were (service concurrency).
        let busy: f64 = reports.iter().map(|r| r.busy).sum();
        for (l, r) in shared.iter().zip(&reports) {
            let others = ((busy - r.busy).max(0.0)).round();
            lock(&l.model).set_background(others as u32);
        }
        let mut stores: Vec<_> = shared.iter().map(|l| lock(&l.store)).collect();
        stores[0].set_vus(t - origin, i64::try_from(active).unwrap_or(0));
        if t >= next_scrape {
            let text = render(shared, t);
            // Past the budget the run stops at the next meeting.
            if run.budget.keep_scrape(text.len()) {
                scrapes.push(Scrape {
                    t: t - origin,
                    text,
                });
            }
            next_scrape += cfg.scrape_interval.max(1.0);
        }
        for s in &mut stores {
            s.seal_seconds(t - origin);
        }
        let views: Vec<&Store> = stores.iter().map(|s| &**s).collect();
        let (reqs, errors) = super::request_counts(&views);
        progress(Progress {
            elapsed: t - origin,
            total,
            vus: i64::try_from(active).unwrap_or(0),
            vus_max: i64::try_from(plan.total_vus()).unwrap_or(0),
            iterations: i64::try_from(iterations).unwrap_or(0),
            requests: reqs,
            rps: (reqs - last_reqs) as f64,
            p95_ms: Store::recent_p95_of(&views, t - origin, 10),
            errors,
        });
        last_reqs = reqs;
        if aborts_on_fail {
            let why = if stores.len() == 1 {
                super::abort_check(&mut stores[0], plan, t - origin)
            } else {
                let mut merged = stores[0].clone();
                for s in &stores[1..] {
                    merged.merge(s);
                }
                super::abort_check(&mut merged, plan, t - origin)
            };
            if let Some(why) = why {
                lock(&run.abort).get_or_insert(why);
                run.stop.store(true, Ordering::Relaxed);
            }
        }
        drop(stores);
        next_tick += 1.0;
    }
    let end = reports.iter().map(|r| r.end).fold(origin, f64::max);
    epoch(mine, FINISH, end);
    if let Some(e) = error {
        return Err(e);
    }
    let active: u64 = shared.iter().map(|l| lock(&l.report).active).sum();
    lock(&shared[0].store).set_vus((end - origin).max(0.0), i64::try_from(active).unwrap_or(0));
    let text = render(shared, end);
    if run.budget.keep_scrape(text.len()) {
        scrapes.push(Scrape {
            t: (end - origin).max(0.0),
            text,
        });
    }
    let refused: u64 = shared.iter().map(|l| lock(&l.model).refused_series()).sum();
    if refused > 0 {
        logs.push(format!(
            "[warn] the toy service's /metrics holds at most {} series; {refused} new series were not recorded",
            crate::toy::metrics::MAX_SERIES
        ));
    }
    Ok(Coordinated {
        end,
        scrapes,
        fatal: reports.into_iter().find_map(|r| r.fatal),
        logs,
    })
}

/// The service's `/metrics` over all lanes: lane 0's model leads (it ages
/// the compaction backlog the others' writes feed).
fn render(shared: &[Arc<LaneShared>], t: f64) -> String {
    let mut models: Vec<_> = shared.iter().map(|l| lock(&l.model)).collect();
    let (lead, others) = models.split_at_mut(1);
    for o in others.iter_mut() {
        let b = o.take_backlog();
        lead[0].add_backlog(b);
    }
    let views: Vec<&ToyModel> = others.iter().map(|m| &**m).collect();
    lead[0].render_merged(&views, t)
}

/// How an iteration that threw is reported.
pub(crate) enum Failure {
    /// A sandbox budget was exceeded: stop the run.
    Fatal(String),
    /// Interrupted by the end of the scenario or a stop: not an error.
    Quiet,
    /// An exception in the script: logged, the run goes on (as in k6).
    Log,
}

/// Classifies an iteration's error.
pub(crate) fn classify(e: &str, interrupted: bool, reason: Option<&str>) -> Failure {
    let text = reason.unwrap_or(e);
    if text.contains("of CPU without returning") {
        Failure::Fatal(text.to_owned())
    } else if interrupted
        || text.contains("interrupted at the end of the scenario")
        || text.contains("the run was stopped")
        || text.contains("request budget")
        // The metric budget: the run's own reason to stop says it once.
        || text.contains(super::metrics::LIMIT_REACHED)
        || text == "interrupted"
    {
        Failure::Quiet
    } else {
        Failure::Log
    }
}

/// Evaluates a script's init context and options without running it: the
/// plan a run would follow, or the error that would stop it.
pub(crate) fn inspect(script: &str, cfg: &RunConfig) -> Result<Plan, RunError> {
    let run = RunShared::new(cfg);
    let lane = LaneShared::new(run.store(1), ToyModel::new(cfg.scenario.clone(), cfg.seed));
    let world = LaneWorld::new(&lane, &run);
    let mut env = cfg.env.clone();
    env.entry("BASE_URL".into())
        .or_insert_with(|| "http://localhost:3333".into());
    let vu = Vu::new(
        VuSetup {
            id: 1,
            script: script.to_owned(),
            env,
            limits: cfg.limits.clone(),
            seed: cfg.seed,
            target: ("localhost".into(), 3333),
        },
        world as Rc<dyn World>,
        Vec::new(),
    )
    .map_err(|e| RunError::Script(e.0))?;
    let (plan, _) = super::open_plan(&vu, &mut lock(&lane.store), &cfg.limits)?;
    Ok(plan)
}
