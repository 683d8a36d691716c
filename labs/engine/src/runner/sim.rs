//! The simulated clock: a discrete-event loop over VU iterations against
//! the toy service's model. Iterations run whole (script time does not pass
//! while JavaScript computes), ordered by virtual start time, so the same
//! script and seed always give the same result.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::rc::Rc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::metrics::{ids, Store};
use super::options::{Executor, Plan};
use super::schedule::{active_at, arrival_time, next_active, next_inactive, vu_steps};
use super::vu::{Limits, Vu, VuSetup, VuState, World, WorldRequest, WorldResponse};
use super::{
    exit, prepare, scenario_tags, Finish, Progress, RunConfig, RunError, RunSummary, Scrape,
};
use crate::toy::{ToyModel, ToyRequest};

/// Virtual cost of running an iteration's JavaScript, so empty loops advance time.
const MIN_ITERATION: f64 = 0.0005;
const MAX_LOGS: usize = 1000;

struct SimWorld {
    store: RefCell<Store>,
    model: RefCell<ToyModel>,
    logs: RefCell<Vec<String>>,
    abort: RefCell<Option<String>>,
    cancel: CancellationToken,
    wall_start: Instant,
    limits: Limits,
    requests: Cell<u64>,
    iterations: Cell<u64>,
    vus_active: Cell<u64>,
    vus_max: Cell<u64>,
    options_json: RefCell<String>,
    now: Cell<f64>,
}

impl World for SimWorld {
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

    fn http(&self, vu: &mut VuState, req: WorldRequest) -> WorldResponse {
        let (path, query) = req
            .path_and_query
            .split_once('?')
            .unwrap_or((&req.path_and_query, ""));
        let header = |n: &str| {
            req.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        };
        let treq = ToyRequest {
            method: &req.method,
            path,
            query,
            authorization: header("authorization"),
            user_id: header("x-user-id"),
            body: &req.body,
        };
        let answer = self.model.borrow_mut().handle(&treq, vu.time, None, true);
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
            headers: vec![
                ("Content-Type".into(), answer.content_type.into()),
                ("Content-Length".into(), answer.body.len().to_string()),
            ],
            body: answer.body,
            error: None,
            phases: [0.0, 0.0, sending, answer.latency, receiving],
            sent,
            received,
        }
    }

    fn with_store(&self, f: &mut dyn FnMut(&mut Store)) {
        f(&mut self.store.borrow_mut());
    }

    fn log(&self, line: String) {
        let mut l = self.logs.borrow_mut();
        if l.len() < MAX_LOGS {
            l.push(format!("t={:.3}s {line}", self.now.get()));
        }
    }

    fn abort(&self, reason: String) {
        self.abort.borrow_mut().get_or_insert(reason);
    }

    fn stopping(&self) -> bool {
        self.cancel.is_cancelled()
            || self.abort.borrow().is_some()
            || self.wall_start.elapsed().as_secs_f64() > self.limits.run_seconds
    }

    fn take_request(&self) -> bool {
        let n = self.requests.get() + 1;
        self.requests.set(n);
        n <= self.limits.max_requests
    }

    fn exec_info(&self) -> (f64, u64, u64, u64) {
        (
            self.now.get() * 1000.0,
            self.iterations.get(),
            self.vus_active.get(),
            self.vus_max.get(),
        )
    }

    fn options_json(&self) -> String {
        self.options_json.borrow().clone()
    }

    fn epoch_ms(&self) -> f64 {
        // 2025-01-01T12:00:00Z: simulated runs start at a fixed instant.
        1_735_732_800_000.0
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

struct Sim<'a> {
    world: Rc<SimWorld>,
    plan: &'a Plan,
    cfg: &'a RunConfig,
    script: &'a str,
    env: BTreeMap<String, String>,
    vus: Vec<Option<Vu>>,
    data: Option<String>,
    origin: f64,
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    states: Vec<ScState>,
    fatal: Option<String>,
    end: f64,
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
            self.world
                .vus_max
                .set(self.world.vus_max.get().max(u64::from(id)));
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
        let data = self.data.clone();
        let vu = self.vu(id, sc)?;
        {
            let mut st = vu.state.borrow_mut();
            st.time = t;
            st.deadline = deadline;
            st.scenario.clone_from(&scp.name);
            st.executor = scp.executor.name();
            st.scenario_start = scp.start_time;
            st.iter_in_scenario = i64::try_from(iter_in_scenario).unwrap_or(i64::MAX);
            st.groups.clear();
            st.stop.set(false);
            st.stop_reason = None;
        }
        let r = vu.call(&scp.exec, data.as_deref());
        let (end, interrupted, reason) = {
            let mut st = vu.state.borrow_mut();
            let end = st.time.max(t + MIN_ITERATION).min(deadline.max(t));
            st.iter += 1;
            let interrupted = st.stop.get();
            st.stop.set(false);
            (end, interrupted, st.stop_reason.take())
        };
        let world = Rc::clone(&self.world);
        world.now.set(t);
        match r {
            Ok(_) => {
                world.iterations.set(world.iterations.get() + 1);
                let tags = vec![
                    ("scenario".to_owned(), scp.name.clone()),
                    ("group".to_owned(), String::new()),
                ];
                let mut s = world.store.borrow_mut();
                s.add(ids::ITERATIONS, end, 1.0, &tags);
                s.add(ids::ITERATION_DURATION, end, (end - t) * 1000.0, &tags);
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
                Executor::ConstantVus { vus, .. } => u64::from(*vus),
                Executor::RampingVus { .. } => u64::from(active_at(&st.steps, rel)),
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
                        self.world
                            .store
                            .borrow_mut()
                            .add(ids::DROPPED_ITERATIONS, t, 1.0, &tags);
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

fn fmt_err(e: &super::vu::ScriptError) -> String {
    e.0.clone()
}

/// Runs a script on the simulated clock.
pub(crate) fn run(
    script: &str,
    cfg: &RunConfig,
    mut progress: impl FnMut(Progress),
) -> Result<RunSummary, RunError> {
    let world = Rc::new(SimWorld {
        store: RefCell::new(Store::new(cfg.limits.max_test_seconds as usize + 120)),
        model: RefCell::new(ToyModel::new(cfg.scenario.clone(), cfg.seed)),
        logs: RefCell::new(Vec::new()),
        abort: RefCell::new(None),
        cancel: cfg.cancel.clone(),
        wall_start: Instant::now(),
        limits: cfg.limits.clone(),
        requests: Cell::new(0),
        iterations: Cell::new(0),
        vus_active: Cell::new(0),
        vus_max: Cell::new(0),
        options_json: RefCell::new("{}".into()),
        now: Cell::new(0.0),
    });
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
        .map_err(|e| RunError::Script(fmt_err(&e)))?;
    let opts = first.options_json().map_err(|e| RunError::Script(e.0))?;
    let plan = super::options::plan(&opts).map_err(|e| RunError::Options(e.to_string()))?;
    *world.options_json.borrow_mut() = opts.to_string();
    prepare(&plan, &mut world.store.borrow_mut(), &cfg.limits)?;
    for sc in &plan.scenarios {
        if !first.has_export(&sc.exec) {
            return Err(RunError::Script(format!(
                "scenario {:?}: function '{}' not found in exports",
                sc.name, sc.exec
            )));
        }
    }
    // k6 runs setup, teardown and handleSummary in a VU of their own.
    let needs_aux = ["setup", "teardown", "handleSummary"]
        .iter()
        .any(|f| first.has_export(f));
    let aux = if needs_aux {
        Some(
            Vu::new(setup(0), Rc::clone(&world) as Rc<dyn World>, Vec::new())
                .map_err(|e| RunError::Script(fmt_err(&e)))?,
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
    {
        let mut s = world.store.borrow_mut();
        s.add(ids::VUS_MAX, 0.0, plan.total_vus() as f64, &[]);
    }

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
            done: vec![false; max as usize],
            busy_until: Vec::new(),
            allocated: 0,
        });
        base += max;
    }
    let setup_data = data.clone();
    let mut sim = Sim {
        world: Rc::clone(&world),
        plan: &plan,
        cfg,
        script,
        env: env.clone(),
        vus: vec![Some(first)],
        data,
        origin,
        heap: BinaryHeap::new(),
        seq: 0,
        states,
        fatal: None,
        end: origin,
    };
    for (i, sc) in plan.scenarios.iter().enumerate() {
        let start = origin + sc.start_time;
        match &sc.executor {
            Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. } => {
                if let Some(t0) = arrival_time(&sc.executor, 0) {
                    sim.push(start + t0, Ev::Arrival { sc: i, k: 0 });
                }
            }
            ex => {
                for local in 0..ex.max_vus() {
                    sim.push(start, Ev::Loop { sc: i, local });
                }
            }
        }
    }
    let total = plan.scheduled();
    let mut next_tick = origin;
    let mut next_scrape = origin;
    let mut scrapes = Vec::new();
    let mut last_reqs = 0i64;
    let mut stop_time = None;
    loop {
        let next = sim.heap.peek().map(|Reverse((t, _, _))| *t as f64 / 1e6);
        // Ticks: once per virtual second while work remains.
        if let Some(nt) = next {
            if next_tick <= nt {
                let t = next_tick;
                world.now.set(t);
                let active = sim.active_vus(t);
                world.vus_active.set(active);
                world
                    .store
                    .borrow_mut()
                    .set_vus(t - origin, i64::try_from(active).unwrap_or(0));
                if t >= next_scrape {
                    let text = world.model.borrow_mut().render_metrics(t);
                    scrapes.push(Scrape {
                        t: t - origin,
                        text,
                    });
                    next_scrape += cfg.scrape_interval.max(1.0);
                }
                let s = world.store.borrow();
                let reqs = s.metrics()[ids::HTTP_REQS].sink.count() as i64;
                let errors = match &s.metrics()[ids::HTTP_REQ_FAILED].sink {
                    super::metrics::Sink::Rate { trues, .. } => i64::try_from(*trues).unwrap_or(0),
                    _ => 0,
                };
                progress(Progress {
                    elapsed: t - origin,
                    total,
                    vus: i64::try_from(active).unwrap_or(0),
                    vus_max: i64::try_from(plan.total_vus()).unwrap_or(0),
                    iterations: i64::try_from(world.iterations.get()).unwrap_or(0),
                    requests: reqs,
                    rps: (reqs - last_reqs) as f64,
                    p95_ms: s.recent_p95(t - origin, 10),
                    errors,
                });
                last_reqs = reqs;
                drop(s);
                if plan
                    .thresholds
                    .iter()
                    .any(|t| t.exprs.iter().any(|r| r.abort_on_fail))
                {
                    if let Some(why) =
                        super::abort_check(&mut world.store.borrow_mut(), &plan, t - origin)
                    {
                        world.abort(why);
                    }
                }
                next_tick += 1.0;
                continue;
            }
        }
        let Some(Reverse((tu, _, ev))) = sim.heap.pop() else {
            break;
        };
        if world.stopping() {
            stop_time = Some(tu as f64 / 1e6);
            break;
        }
        let t = tu as f64 / 1e6;
        world.now.set(t);
        sim.handle(t, ev)?;
        if sim.fatal.is_some() {
            stop_time = Some(t);
            break;
        }
    }
    let end = stop_time
        .unwrap_or(sim.end)
        .max(sim.end.min(stop_time.unwrap_or(f64::INFINITY)));
    let duration = (end - origin).max(0.0);
    world.now.set(end);
    {
        let active = sim.active_vus(end);
        world
            .store
            .borrow_mut()
            .set_vus(duration, i64::try_from(active).unwrap_or(0));
    }
    scrapes.push(Scrape {
        t: duration,
        text: world.model.borrow_mut().render_metrics(end),
    });
    let fatal = sim.fatal.take();
    drop(sim);

    let mut logs = Vec::new();
    if let Some(a) = aux.as_ref().filter(|a| a.has_export("teardown")) {
        {
            let mut st = a.state.borrow_mut();
            st.scenario = "teardown".into();
            st.time = end;
            st.deadline = end + plan.teardown_timeout;
        }
        if let Err(e) = a.call("teardown", setup_data.as_deref()) {
            if fatal.is_none() {
                return Err(RunError::Script(format!("teardown() failed: {e}")));
            }
        }
    }
    logs.append(&mut world.logs.borrow_mut());
    let aborted = world.abort.borrow().clone().or_else(|| {
        (world.wall_start.elapsed().as_secs_f64() > cfg.limits.run_seconds).then(|| {
            format!(
                "the run exceeded its wall-time budget of {}s",
                cfg.limits.run_seconds
            )
        })
    });
    let mut store = world.store.borrow().clone();
    let finish = Finish {
        store: &mut store,
        plan: &plan,
        duration,
        cfg,
        aborted,
        fatal,
        logs,
        scrapes,
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
    let world = Rc::new(SimWorld {
        store: RefCell::new(Store::new(1)),
        model: RefCell::new(ToyModel::new(cfg.scenario.clone(), cfg.seed)),
        logs: RefCell::new(Vec::new()),
        abort: RefCell::new(None),
        cancel: cfg.cancel.clone(),
        wall_start: Instant::now(),
        limits: cfg.limits.clone(),
        requests: Cell::new(0),
        iterations: Cell::new(0),
        vus_active: Cell::new(0),
        vus_max: Cell::new(0),
        options_json: RefCell::new("{}".into()),
        now: Cell::new(0.0),
    });
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
        Rc::clone(&world) as Rc<dyn World>,
        Vec::new(),
    )
    .map_err(|e| RunError::Script(e.0))?;
    let opts = vu.options_json().map_err(|e| RunError::Script(e.0))?;
    let plan = super::options::plan(&opts).map_err(|e| RunError::Options(e.to_string()))?;
    prepare(&plan, &mut world.store.borrow_mut(), &cfg.limits)?;
    for sc in &plan.scenarios {
        if !vu.has_export(&sc.exec) {
            return Err(RunError::Script(format!(
                "scenario {:?}: function '{}' not found in exports",
                sc.name, sc.exec
            )));
        }
    }
    Ok(plan)
}
