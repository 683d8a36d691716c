//! One virtual user: a QuickJS runtime with k6's modules, bridged to the
//! run's world (simulated or live) through a few native functions.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rquickjs::convert::Coerced;
use rquickjs::function::Opt;
use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{
    Context, Ctx, Exception, Function, Module, Object, Persistent, Promise, Runtime, Value,
};
use serde::Serialize;
use serde_json::json;

use super::metrics::{ids, Contains, MetricType, Store, Tags};

/// Limits of a run and of each of its VUs. Everything a script can grow
/// has one: the JavaScript heap, VUs, requests, kept response bytes, and
/// the metric state outside the heap (series, kept samples, scrapes).
///
/// The metric limits count in the run's memory next to the JavaScript heap:
/// a kept sample is an `f64` (8 bytes, up to twice that while a trend grows
/// and is sorted at the end), a series a key and a name or sink, a scrape
/// its text. Their defaults let every course lab's solution pass with room
/// to spare and keep a run's metric state to a few hundred MB at most.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
#[serde(default)]
pub struct Limits {
    /// JavaScript heap per VU, bytes.
    pub heap_bytes: usize,
    /// JavaScript stack per VU, bytes.
    pub stack_bytes: usize,
    /// CPU (wall) time one call into the script may take, seconds.
    pub call_seconds: f64,
    /// Wall-clock budget of the whole run, seconds (live runs get this on top
    /// of the test's scheduled length and graceful stops).
    pub run_seconds: f64,
    /// Most VUs a run may use.
    pub max_vus: u32,
    /// Most requests a run may send.
    pub max_requests: u64,
    /// Response body bytes kept per response (the rest is discarded).
    pub max_body_bytes: usize,
    /// Longest simulated test, seconds.
    pub max_test_seconds: f64,
    /// JavaScript heap of all VUs together, bytes: each VU gets at most this
    /// divided by the test's VUs (and never more than `heap_bytes`).
    pub total_heap_bytes: usize,
    /// Largest script accepted, bytes.
    pub max_script_bytes: usize,
    /// Most metric series a run may track: each distinct tag set of a
    /// custom metric's samples (k6 keys time series by tag set), each tag
    /// set a script gives requests, each group and check name, and each
    /// threshold sub-metric. Reaching it ends the run with a message that
    /// says to tag by route, not by URL.
    pub max_series: u64,
    /// Most metric samples a run may keep: Trend values kept one by one.
    /// A request keeps at most eight (seven timings and its duration once
    /// more for the per-second series), a `Trend.add()` one; values that
    /// recur are counted instead of kept, and counters, rates and gauges
    /// keep none. Reaching it ends the run.
    pub max_samples: u64,
    /// Most bytes of the toy service's `/metrics` text a run keeps in its
    /// scrapes. Reaching it ends the run.
    pub max_scrape_bytes: usize,
}

impl Limits {
    /// The limits a VU gets in a test with `vus` VUs.
    pub fn for_vus(&self, vus: u64) -> Self {
        let share = usize::try_from(vus.max(1)).map_or(0, |v| self.total_heap_bytes / v);
        Self {
            heap_bytes: self.heap_bytes.min(share.max(4 << 20)),
            ..self.clone()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            heap_bytes: 64 << 20,
            stack_bytes: 512 << 10,
            call_seconds: 5.0,
            run_seconds: 300.0,
            max_vus: 1000,
            max_requests: 5_000_000,
            max_body_bytes: 1 << 20,
            max_test_seconds: 4.0 * 3600.0,
            total_heap_bytes: 2 << 30,
            max_script_bytes: 1 << 20,
            // k6 warns at 100,000 series; a lab needs a few dozen.
            max_series: 10_000,
            // 80 MB of values: at least 1,250,000 requests, six times what
            // the largest lab allows (find-the-knee, 200,000 requests).
            max_samples: 10_000_000,
            // The longest lab (80 minutes scraped every 30 s) keeps under
            // 5 MB; a four-hour test scraped every 5 s about 100 MB.
            max_scrape_bytes: 128_000_000,
        }
    }
}

/// An HTTP request as the world sees it (after URL checks).
#[derive(Debug, Clone, Copy)]
pub struct WorldRequest<'a> {
    /// Method.
    pub method: &'a str,
    /// Path and query.
    pub path_and_query: &'a str,
    /// Headers.
    pub headers: &'a [(String, String)],
    /// Body.
    pub body: &'a [u8],
    /// Timeout, seconds.
    pub timeout: f64,
}

/// What the world answered.
#[derive(Debug, Clone, Default)]
pub struct WorldResponse {
    /// Status (0 on a transport error).
    pub status: u16,
    /// Headers (live).
    pub headers: Vec<(String, String)>,
    /// The simulated service's `Content-Type`; with it, `headers` is empty
    /// and `Content-Length` is the body's length.
    pub content_type: Option<&'static str>,
    /// Body.
    pub body: std::borrow::Cow<'static, [u8]>,
    /// Transport error, if any.
    pub error: Option<(u32, String)>,
    /// Phases in seconds: blocked, connecting, sending, waiting, receiving.
    pub phases: [f64; 5],
    /// Bytes sent on the wire.
    pub sent: u64,
    /// Bytes received on the wire.
    pub received: u64,
}

/// The environment VUs run in: the simulated model or the live service.
pub trait World {
    /// Seconds since the start of the test, as this VU sees it.
    fn now(&self, vu: &VuState) -> f64;
    /// Sleeps; returns `false` if the VU must stop (deadline, cancel).
    fn sleep(&self, vu: &mut VuState, secs: f64) -> bool;
    /// Sends a request to the toy service; advances the VU's time.
    fn http(&self, vu: &mut VuState, req: WorldRequest<'_>) -> WorldResponse;
    /// Runs `f` on the run's metrics.
    fn with_store(&self, f: &mut dyn FnMut(&mut Store));
    /// Records a console line.
    fn log(&self, line: String);
    /// Asks the run to abort (exec.test.abort()).
    fn abort(&self, reason: String);
    /// Whether the run is stopping.
    fn stopping(&self) -> bool;
    /// Counts a request against the run's budget; `false` when exhausted.
    fn take_request(&self) -> bool;
    /// Run-wide execution info for k6/execution (elapsed ms, iterations, vus active, vus max).
    fn exec_info(&self) -> (f64, u64, u64, u64);
    /// Options JSON, for `exec.test.options`.
    fn options_json(&self) -> String;
    /// Whether sleeps and requests take real time (live), which the CPU
    /// budget of a call must not count; simulated ones take none.
    fn waits(&self) -> bool {
        true
    }
    /// Wall-clock milliseconds since the Unix epoch at the start of the run
    /// (fixed in sim mode so `Date.now()` is deterministic).
    fn epoch_ms(&self) -> f64;
}

/// Per-VU state shared with the native functions.
#[derive(Debug)]
pub struct VuState {
    /// `__VU` (1-based; 0 in setup/teardown).
    pub id: u64,
    /// `__ITER`.
    pub iter: i64,
    /// Iteration number within the scenario (arrival-rate/shared counters).
    pub iter_in_scenario: i64,
    /// Scenario name.
    pub scenario: String,
    /// Executor name.
    pub executor: &'static str,
    /// Scenario start, seconds.
    pub scenario_start: f64,
    /// Virtual clock (sim) or last observed time (live), seconds.
    pub time: f64,
    /// Iteration hard stop, seconds.
    pub deadline: f64,
    /// Set to make the interrupt handler stop the script.
    pub stop: Rc<Cell<bool>>,
    /// Why the script was stopped.
    pub stop_reason: Option<String>,
    /// Current group path.
    pub groups: Vec<(String, f64)>,
    /// Tags on every sample (test-wide and scenario tags).
    pub tags: Tags,
    /// Math.random source.
    pub rng: StdRng,
    /// Expected statuses set by http.setResponseCallback.
    pub expected: Option<Vec<(u16, u16)>>,
    /// The real address scripts reach (`http://host:port`).
    pub target: (String, u16),
    /// Response bytes kept.
    pub max_body: usize,
    /// The last URL requested and where it leads.
    pub last_route: Option<super::http::Routed>,
}

impl VuState {
    fn group_path(&self) -> String {
        let mut s = String::new();
        for (g, _) in &self.groups {
            s.push_str("::");
            s.push_str(g);
        }
        s
    }

    fn sample_tags(&self) -> Tags {
        let mut t = self.tags.clone();
        t.push(("group".into(), self.group_path()));
        t.push(("scenario".into(), self.scenario.clone()));
        t
    }
}

/// A script error: syntax error, exception in init/setup/teardown.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct ScriptError(pub String);

struct K6Resolver;

const SUMMARY_JSLIB: &str = "https://jslib.k6.io/k6-summary/";
const UTILS_JSLIB: &str = "https://jslib.k6.io/k6-utils/";

fn builtin_source(name: &str) -> Option<&'static str> {
    Some(match name {
        "k6" => include_str!("js/k6.js"),
        "k6/http" => include_str!("js/k6_http.js"),
        "k6/metrics" => include_str!("js/k6_metrics.js"),
        "k6/execution" => include_str!("js/k6_execution.js"),
        "k6/data" => "export class SharedArray { constructor(name, fn) { const a = fn(); if (!Array.isArray(a)) throw new Error('SharedArray: the function must return an array'); return Object.freeze(a); } }\nexport default { SharedArray };\n",
        "k6-summary" => include_str!("js/k6_summary.js"),
        "k6-utils" => include_str!("js/k6_utils.js"),
        _ => return None,
    })
}

impl Resolver for K6Resolver {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _a: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        if name.starts_with(SUMMARY_JSLIB) {
            return Ok("k6-summary".into());
        }
        if name.starts_with(UTILS_JSLIB) {
            return Ok("k6-utils".into());
        }
        if builtin_source(name).is_some() {
            return Ok(name.to_owned());
        }
        let why = if name.starts_with("http://") || name.starts_with("https://") {
            "remote modules cannot be imported in the lab sandbox (only the k6-summary and k6-utils jslibs are built in)"
        } else if name.starts_with('.') || name.starts_with('/') {
            "local files cannot be imported in the lab sandbox: put everything in one script"
        } else {
            "unknown module: available are k6, k6/http, k6/metrics, k6/execution, k6/data and the k6-summary and k6-utils jslibs"
        };
        Err(rquickjs::Error::new_resolving_message(base, name, why))
    }
}

struct K6Loader;

impl Loader for K6Loader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _a: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        let src = builtin_source(name).ok_or_else(|| rquickjs::Error::new_loading(name))?;
        Module::declare(ctx.clone(), name, src)
    }
}

/// Everything a VU needs to start.
pub struct VuSetup {
    /// `__VU`.
    pub id: u64,
    /// The script source.
    pub script: String,
    /// `__ENV`.
    pub env: BTreeMap<String, String>,
    /// Limits.
    pub limits: Limits,
    /// Seed for Math.random.
    pub seed: u64,
    /// Where scripts point.
    pub target: (String, u16),
}

/// A virtual user with its own QuickJS runtime.
pub struct Vu {
    rt: Runtime,
    ctx: Context,
    /// State shared with native functions.
    pub state: Rc<RefCell<VuState>>,
    call_start: Rc<Cell<Option<Instant>>>,
    call_budget: f64,
    world: Rc<dyn World>,
    bodies: BodyCache,
    /// Exported functions already looked up (emptied on drop, like `bodies`).
    exports: RefCell<Vec<(String, Persistent<Function<'static>>)>>,
}

impl Drop for Vu {
    fn drop(&mut self) {
        // Cached strings hold the context: release them while the runtime lives.
        self.ctx.with(|_| {
            self.bodies.entries.borrow_mut().clear();
            self.bodies.checks.entries.borrow_mut().clear();
            self.exports.borrow_mut().clear();
        });
    }
}

fn js_err(ctx: &Ctx<'_>, msg: &str) -> rquickjs::Error {
    Exception::throw_message(ctx, msg)
}

fn exception_text(ctx: &Ctx<'_>, e: &rquickjs::Error) -> String {
    if !matches!(e, rquickjs::Error::Exception) {
        return e.to_string();
    }
    let v = ctx.catch();
    if let Some(obj) = v.as_object() {
        let name: Option<String> = obj.get("name").ok();
        let msg: Option<String> = obj.get("message").ok();
        let stack: Option<String> = obj.get("stack").ok();
        let head = match (name, msg) {
            (Some(n), Some(m)) => format!("{n}: {m}"),
            (None, Some(m)) => m,
            _ => ctx
                .json_stringify(v.clone())
                .ok()
                .flatten()
                .and_then(|s| s.to_string().ok())
                .unwrap_or_else(|| "uncaught exception".into()),
        };
        match stack.filter(|s| !s.trim().is_empty()) {
            Some(s) => format!("{head}\n{}", s.trim_end()),
            None => head,
        }
    } else if let Some(s) = v.as_string().and_then(|s| s.to_string().ok()) {
        s
    } else {
        format!("{v:?}")
    }
}

impl Vu {
    /// Creates the VU and evaluates the script's init context.
    pub fn new(
        setup: VuSetup,
        world: Rc<dyn World>,
        scenario_tags: Tags,
    ) -> Result<Self, ScriptError> {
        let rt = Runtime::new()
            .map_err(|e| ScriptError(format!("cannot start the JavaScript engine: {e}")))?;
        rt.set_memory_limit(setup.limits.heap_bytes);
        rt.set_max_stack_size(setup.limits.stack_bytes);
        rt.set_loader(K6Resolver, K6Loader);
        let stop = Rc::new(Cell::new(false));
        let call_start: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
        let state = Rc::new(RefCell::new(VuState {
            id: setup.id,
            iter: 0,
            iter_in_scenario: 0,
            scenario: "default".into(),
            executor: "",
            scenario_start: 0.0,
            time: 0.0,
            deadline: f64::INFINITY,
            stop: Rc::clone(&stop),
            stop_reason: None,
            groups: Vec::new(),
            tags: scenario_tags,
            rng: StdRng::seed_from_u64(setup.seed ^ setup.id.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            expected: None,
            target: setup.target.clone(),
            max_body: setup.limits.max_body_bytes,
            last_route: None,
        }));
        {
            let stop = Rc::clone(&stop);
            let call_start = Rc::clone(&call_start);
            let budget = setup.limits.call_seconds;
            let st = Rc::clone(&state);
            let w = Rc::clone(&world);
            rt.set_interrupt_handler(Some(Box::new(move || {
                if stop.get() {
                    return true;
                }
                if w.stopping() {
                    stop.set(true);
                    if let Ok(mut s) = st.try_borrow_mut() {
                        s.stop_reason.get_or_insert_with(|| "the run was stopped".into());
                    }
                    return true;
                }
                if let Some(t) = call_start.get() {
                    if t.elapsed().as_secs_f64() > budget {
                        stop.set(true);
                        if let Ok(mut s) = st.try_borrow_mut() {
                            s.stop_reason.get_or_insert_with(|| format!("the script ran for more than {budget}s of CPU without returning (infinite loop?) and was stopped"));
                        }
                        return true;
                    }
                }
                false
            })));
        }
        let ctx = Context::full(&rt)
            .map_err(|e| ScriptError(format!("cannot start the JavaScript engine: {e}")))?;
        let vu = Self {
            rt,
            ctx,
            state,
            call_start,
            call_budget: setup.limits.call_seconds,
            world,
            bodies: BodyCache::default(),
            exports: RefCell::new(Vec::new()),
        };
        vu.install(&setup)?;
        Ok(vu)
    }

    fn install(&self, setup: &VuSetup) -> Result<(), ScriptError> {
        let state = Rc::clone(&self.state);
        let world = Rc::clone(&self.world);
        self.call_start.set(Some(Instant::now()));
        let r = self.ctx.with(|ctx| -> Result<(), ScriptError> {
            let wrap =
                |r: rquickjs::Result<()>| r.map_err(|e| ScriptError(exception_text(&ctx, &e)));
            wrap(install_natives(
                &ctx,
                &state,
                &world,
                &self.call_start,
                &self.bodies,
            ))?;
            let env = Object::new(ctx.clone()).map_err(|e| ScriptError(e.to_string()))?;
            for (k, v) in &setup.env {
                wrap(env.set(k.as_str(), v.as_str()))?;
            }
            let g = ctx.globals();
            wrap(g.set("__ENV", env))?;
            wrap(g.set("__VU", setup.id as f64))?;
            wrap(ctx.eval::<(), _>(include_str!("js/prelude.js")))?;
            let module = Module::declare(ctx.clone(), "script.js", setup.script.as_str())
                .map_err(|e| ScriptError(exception_text(&ctx, &e)))?;
            let (module, promise) = module
                .eval()
                .map_err(|e| ScriptError(exception_text(&ctx, &e)))?;
            drive(&ctx, &promise).map_err(ScriptError)?;
            let ns = module
                .namespace()
                .map_err(|e| ScriptError(exception_text(&ctx, &e)))?;
            wrap(g.set("__k6mod", ns))?;
            Ok(())
        });
        self.call_start.set(None);
        r.map_err(|e| self.explain(e))
    }

    fn explain(&self, e: ScriptError) -> ScriptError {
        let mut st = self.state.borrow_mut();
        st.stop.set(false);
        match st.stop_reason.take() {
            Some(r) => ScriptError(r),
            None => e,
        }
    }

    /// The script's `options` export as JSON (`null` when absent).
    pub fn options_json(&self) -> Result<serde_json::Value, ScriptError> {
        self.ctx.with(|ctx| {
            let ns: Object = ctx
                .globals()
                .get("__k6mod")
                .map_err(|e| ScriptError(e.to_string()))?;
            let opts: Value = ns
                .get("options")
                .map_err(|e| ScriptError(exception_text(&ctx, &e)))?;
            if opts.is_undefined() || opts.is_null() {
                return Ok(serde_json::Value::Null);
            }
            let s = ctx
                .json_stringify(opts)
                .map_err(|e| ScriptError(format!("options: {}", exception_text(&ctx, &e))))?
                .and_then(|s| s.to_string().ok())
                .unwrap_or_else(|| "null".into());
            serde_json::from_str(&s).map_err(|e| ScriptError(format!("options: {e}")))
        })
    }

    /// Whether the script exports a function with this name.
    pub fn has_export(&self, name: &str) -> bool {
        self.ctx.with(|ctx| {
            let Ok(ns) = ctx.globals().get::<_, Object>("__k6mod") else {
                return false;
            };
            ns.get::<_, Value>(name).is_ok_and(|v| v.is_function())
        })
    }

    /// Calls an exported function with `data_json` (setup's data) as its
    /// argument and returns its result as JSON. `Err` carries the exception.
    pub fn call(&self, name: &str, data_json: Option<&str>) -> Result<Option<String>, String> {
        self.call_inner(name, data_json, true)
    }

    /// Calls an exported function with a fresh JSON argument (handleSummary).
    pub fn call_with_json(&self, name: &str, json: &str) -> Result<Option<String>, String> {
        self.call_inner(name, Some(json), false)
    }

    fn call_inner(
        &self,
        name: &str,
        data_json: Option<&str>,
        cache: bool,
    ) -> Result<Option<String>, String> {
        self.call_start.set(Some(Instant::now()));
        let r = self.ctx.with(|ctx| -> Result<Option<String>, String> {
            // The default function is called once per iteration: resolve it once.
            let cached = self
                .exports
                .borrow()
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, f)| f.clone());
            let f = match cached {
                Some(f) => f.restore(&ctx).map_err(|e| e.to_string())?,
                None => {
                    let ns: Object = ctx.globals().get("__k6mod").map_err(|e| e.to_string())?;
                    let f: Value = ns.get(name).map_err(|e| exception_text(&ctx, &e))?;
                    let Some(f) = f.as_function().cloned() else {
                        return Err(format!("function '{name}' not found in exports"));
                    };
                    let mut ex = self.exports.borrow_mut();
                    if ex.len() < 8 {
                        ex.push((name.to_owned(), Persistent::save(&ctx, f.clone())));
                    }
                    f
                }
            };
            let arg: Value = match data_json {
                Some(d) => {
                    let g = ctx.globals();
                    let cached: Value = if cache {
                        g.get("__k6data")
                            .unwrap_or_else(|_| Value::new_undefined(ctx.clone()))
                    } else {
                        Value::new_undefined(ctx.clone())
                    };
                    if cached.is_undefined() {
                        let v = ctx.json_parse(d).map_err(|e| exception_text(&ctx, &e))?;
                        if cache {
                            let _ = g.set("__k6data", v.clone());
                        }
                        v
                    } else {
                        cached
                    }
                }
                None => Value::new_undefined(ctx.clone()),
            };
            let out: Value = f.call((arg,)).map_err(|e| exception_text(&ctx, &e))?;
            let out = if let Some(p) = out.as_promise() {
                drive(&ctx, p)?;
                p.result::<Value>()
                    .and_then(Result::ok)
                    .unwrap_or_else(|| Value::new_undefined(ctx.clone()))
            } else {
                out
            };
            if out.is_undefined() || out.is_function() {
                return Ok(None);
            }
            Ok(ctx
                .json_stringify(out)
                .ok()
                .flatten()
                .and_then(|s| s.to_string().ok()))
        });
        self.call_start.set(None);
        let _ = self.call_budget;
        r.map_err(|e| self.explain(ScriptError(e)).0)
    }

    /// Runs a garbage collection (between iterations when memory is high).
    pub fn memory_bytes(&self) -> i64 {
        self.rt.memory_usage().memory_used_size
    }
}

fn drive<'js>(ctx: &Ctx<'js>, p: &Promise<'js>) -> Result<(), String> {
    use rquickjs::promise::PromiseState;
    let mut spins = 0u32;
    loop {
        match p.state() {
            PromiseState::Pending => {
                if !ctx.execute_pending_job() {
                    return Err("the script awaited something that never settles (timers and network promises are not available)".into());
                }
                spins += 1;
                if spins > 10_000_000 {
                    return Err("too many pending jobs".into());
                }
            }
            PromiseState::Resolved => return Ok(()),
            PromiseState::Rejected => {
                return match p.result::<Value>() {
                    Some(Err(e)) => Err(exception_text(ctx, &e)),
                    _ => Err("promise rejected".into()),
                }
            }
        }
    }
}

/// JavaScript strings of the fixed bodies the service answers with (the
/// catalog), made once per VU and shared by every response that carries them.
/// The strings keep the context alive, so the VU empties the cache before
/// its runtime goes (see `Drop for Vu`).
#[derive(Default, Clone)]
struct BodyCache {
    entries: Rc<RefCell<Vec<CachedBody>>>,
    /// Check names, kept the same way.
    checks: CheckNames,
}

/// The names of a VU's checks by the JavaScript string of the key:
/// `check(r, { ok: ... })` makes a new object every iteration but its key is
/// the same atom, so the name is converted once instead of every call.
#[derive(Default, Clone)]
struct CheckNames {
    entries: Rc<RefCell<Vec<CheckName>>>,
}

/// A key's identity (for a quick search), the key (kept alive, so that
/// identity stays its own) and the name.
type CheckName = ((i32, u64), Persistent<Value<'static>>, Rc<str>);

/// How many check names a VU keeps (scripts that make names on the fly
/// convert them each time past this).
const CHECK_NAMES: usize = 64;

impl CheckNames {
    fn name<'js>(&self, ctx: &Ctx<'js>, key: Value<'js>) -> rquickjs::Result<Rc<str>> {
        let id = identity(&key);
        {
            let e = self.entries.borrow();
            if let Some((_, k, name)) = e.iter().find(|(i, _, _)| *i == id) {
                // Identity is what `Value`'s `==` compares: confirm with it.
                if k.clone().restore(ctx)? == key {
                    return Ok(Rc::clone(name));
                }
            }
        }
        let name: Rc<str> = key.get::<Coerced<String>>()?.0.into();
        let mut e = self.entries.borrow_mut();
        if e.len() < CHECK_NAMES && key.is_string() {
            e.push((id, Persistent::save(ctx, key), Rc::clone(&name)));
        }
        Ok(name)
    }
}

/// A value's tag and bits, as its `Hash` writes them: equal for the same
/// JavaScript value (a hint only; `==` decides).
fn identity(v: &Value<'_>) -> (i32, u64) {
    #[derive(Default)]
    struct Bits(i32, u64);
    impl std::hash::Hasher for Bits {
        fn finish(&self) -> u64 {
            self.1
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.1 = self.1.rotate_left(8) ^ u64::from(*b);
            }
        }
        fn write_i32(&mut self, i: i32) {
            self.0 = i;
        }
        fn write_u64(&mut self, i: u64) {
            self.1 = i;
        }
    }
    let mut h = Bits::default();
    std::hash::Hash::hash(v, &mut h);
    (h.0, h.1)
}

/// A fixed body (by address and length), its string, and whether it is
/// all ASCII (its string's length is then its length in bytes).
type CachedBody = (usize, usize, Persistent<rquickjs::String<'static>>, bool);

/// How many fixed bodies a VU keeps as strings (the catalog has a handful).
const BODY_CACHE: usize = 32;

/// A response body: fixed bodies are borrowed (and cached by address).
type BodyBytes = std::borrow::Cow<'static, [u8]>;

impl BodyCache {
    /// The body as a JavaScript string, and whether it is all ASCII.
    fn string<'js>(
        &self,
        ctx: &Ctx<'js>,
        body: &BodyBytes,
    ) -> rquickjs::Result<(rquickjs::String<'js>, bool)> {
        let text = |b: &[u8]| {
            let s = match std::str::from_utf8(b) {
                Ok(t) => rquickjs::String::from_str(ctx.clone(), t),
                Err(_) => rquickjs::String::from_str(ctx.clone(), &String::from_utf8_lossy(b)),
            };
            s.map(|s| (s, b.is_ascii()))
        };
        match body {
            std::borrow::Cow::Borrowed(b) => {
                let key = (b.as_ptr() as usize, b.len());
                let mut e = self.entries.borrow_mut();
                if let Some((_, _, s, ascii)) = e.iter().find(|(p, l, _, _)| (*p, *l) == key) {
                    return Ok((s.clone().restore(ctx)?, *ascii));
                }
                let (s, ascii) = text(b)?;
                if e.len() < BODY_CACHE {
                    e.push((key.0, key.1, Persistent::save(ctx, s.clone()), ascii));
                }
                Ok((s, ascii))
            }
            std::borrow::Cow::Owned(b) => text(b),
        }
    }
}

/// Fills the array `k6/http`'s `Response` wraps and returns the status.
/// The script makes the array with every slot at its usual value, so only
/// the rest is set (each set costs about as much as a small object): body,
/// five phases in seconds (blocked, connecting, sending, waiting, receiving),
/// headers (a content type or a flat list), body length (left at -1 when it
/// is the body string's length), and the error text and code.
fn fill_response<'js>(
    ctx: &Ctx<'js>,
    bodies: &BodyCache,
    a: &rquickjs::Array<'js>,
    r: super::http::ResponseOut,
) -> rquickjs::Result<u16> {
    let mut whole_ascii = false;
    if let Some(b) = &r.body {
        let (s, ascii) = bodies.string(ctx, b)?;
        whole_ascii = ascii && b.len() == r.body_len;
        a.set(0, s)?;
    }
    for (i, t) in r.phases.iter().enumerate() {
        // Zero already (blocked and connecting, simulated).
        if *t != 0.0 {
            a.set(1 + i, *t)?;
        }
    }
    match r.headers {
        super::http::HeadersOut::Typed(ct) => {
            // Content types are fixed strings too: cached like fixed bodies.
            let (s, _) = bodies.string(ctx, &std::borrow::Cow::Borrowed(ct.as_bytes()))?;
            a.set(6, s)?;
        }
        super::http::HeadersOut::List(list) => {
            let mut flat = Vec::with_capacity(list.len() * 2);
            for (k, v) in list {
                flat.push(k);
                flat.push(v);
            }
            a.set(6, flat)?;
        }
    }
    if !whole_ascii {
        a.set(7, r.body_len as f64)?;
    }
    if let Some((code, text)) = r.error {
        a.set(8, text)?;
        a.set(9, code)?;
    }
    Ok(r.status)
}

fn parse_tags(json: &str) -> Tags {
    if json.is_empty() {
        return Vec::new();
    }
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) {
        Ok(m) => m
            .into_iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, s)
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn merge_tags(base: &mut Tags, extra: Tags) {
    for (k, v) in extra {
        if let Some(slot) = base.iter_mut().find(|(bk, _)| *bk == k) {
            slot.1 = v;
        } else {
            base.push((k, v));
        }
    }
}

fn set_fn<'js, F, P>(ctx: &Ctx<'js>, obj: &Object<'js>, name: &str, f: F) -> rquickjs::Result<()>
where
    F: rquickjs::function::IntoJsFunc<'js, P> + 'js,
{
    let func = Function::new(ctx.clone(), f)?;
    obj.set(name, func)
}

fn install_natives<'js>(
    ctx: &Ctx<'js>,
    state: &Rc<RefCell<VuState>>,
    world: &Rc<dyn World>,
    call_start: &Rc<Cell<Option<Instant>>>,
    bodies: &BodyCache,
) -> rquickjs::Result<()> {
    let n = Object::new(ctx.clone())?;
    {
        let (st, w, cs) = (Rc::clone(state), Rc::clone(world), Rc::clone(call_start));
        set_fn(
            ctx,
            &n,
            "sleep",
            move |ctx: Ctx<'js>, secs: f64| -> rquickjs::Result<()> {
                let mut s = st.borrow_mut();
                let secs = if secs.is_finite() { secs.max(0.0) } else { 0.0 };
                let slept = w.sleep(&mut s, secs);
                // The CPU budget counts JavaScript running without a break, not waiting.
                if w.waits() {
                    cs.set(Some(Instant::now()));
                }
                if !slept {
                    s.stop.set(true);
                    s.stop_reason.get_or_insert_with(|| {
                        "the iteration was interrupted at the end of the scenario".into()
                    });
                    return Err(js_err(&ctx, "interrupted"));
                }
                Ok(())
            },
        )?;
    }
    {
        let (st, w) = (Rc::clone(state), Rc::clone(world));
        let names = bodies.checks.clone();
        set_fn(
            ctx,
            &n,
            "checks",
            move |ctx: Ctx<'js>,
                  val: Opt<Value<'js>>,
                  sets: Opt<Value<'js>>,
                  tags: Opt<Value<'js>>|
                  -> rquickjs::Result<bool> {
                let Some(sets) = sets.0.filter(Value::is_object) else {
                    return Ok(true);
                };
                let Some(sets) = sets.as_object() else {
                    return Ok(true);
                };
                let val = val.0.unwrap_or_else(|| Value::new_undefined(ctx.clone()));
                let extra = match tags.0 {
                    Some(t) if t.is_object() => ctx
                        .json_stringify(t)?
                        .and_then(|s| s.to_string().ok())
                        .map(|s| parse_tags(&s)),
                    _ => None,
                };
                let mut all = true;
                for prop in sets.props::<Value, Value>() {
                    let (key, c) = prop?;
                    // The check functions run with no borrow held: they may call natives.
                    let ok = match c.as_function() {
                        Some(f) => f.call::<_, Coerced<bool>>((val.clone(),))?.0,
                        None => c.get::<Coerced<bool>>()?.0,
                    };
                    all &= ok;
                    let name = names.name(&ctx, key)?;
                    let name = &*name;
                    let s = st.borrow();
                    let t = w.now(&s);
                    w.with_store(&mut |store| {
                        // Tags matter only to sub-metrics on `checks`.
                        let tg = if store.tagged(ids::CHECKS) {
                            let mut tg = s.sample_tags();
                            tg.push(("check".into(), name.to_owned()));
                            if let Some(extra) = &extra {
                                merge_tags(&mut tg, extra.clone());
                            }
                            tg
                        } else {
                            Vec::new()
                        };
                        store.add(ids::CHECKS, t, if ok { 1.0 } else { 0.0 }, &tg);
                        store.record_check(s.groups.iter().map(|(g, _)| g.as_str()), name, ok);
                    });
                }
                Ok(all)
            },
        )?;
    }
    {
        let (st, w) = (Rc::clone(state), Rc::clone(world));
        set_fn(ctx, &n, "groupEnter", move |name: String| {
            let mut s = st.borrow_mut();
            let t = w.now(&s);
            s.groups.push((name, t));
            w.with_store(&mut |store| store.touch_group(s.groups.iter().map(|(g, _)| g.as_str())));
        })?;
    }
    {
        let (st, w) = (Rc::clone(state), Rc::clone(world));
        set_fn(ctx, &n, "groupExit", move |_ok: bool| {
            let mut s = st.borrow_mut();
            let t = w.now(&s);
            let tg = s.sample_tags();
            if let Some((_, start)) = s.groups.pop() {
                w.with_store(&mut |store| {
                    store.add(ids::GROUP_DURATION, t, (t - start) * 1000.0, &tg)
                });
            }
        })?;
    }
    {
        let w = Rc::clone(world);
        set_fn(
            ctx,
            &n,
            "metricNew",
            move |ctx: Ctx<'js>,
                  name: String,
                  kind: String,
                  is_time: bool|
                  -> rquickjs::Result<()> {
                let kind = match kind.as_str() {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    "rate" => MetricType::Rate,
                    _ => MetricType::Trend,
                };
                let contains = if is_time {
                    Contains::Time
                } else {
                    Contains::Default
                };
                let mut res = Ok(());
                w.with_store(&mut |store| {
                    if let Err(e) = store.register(&name, kind, contains) {
                        res = Err(e.to_string());
                    }
                });
                res.map_err(|m| js_err(&ctx, &m))
            },
        )?;
    }
    {
        let (st, w) = (Rc::clone(state), Rc::clone(world));
        set_fn(
            ctx,
            &n,
            "metricAdd",
            move |ctx: Ctx<'js>, name: String, value: f64, tags: String| -> rquickjs::Result<()> {
                if !value.is_finite() {
                    return Err(js_err(
                        &ctx,
                        &format!("metric {name:?}: the value must be a finite number"),
                    ));
                }
                let mut s = st.borrow_mut();
                let t = w.now(&s);
                let mut tg = s.sample_tags();
                merge_tags(&mut tg, parse_tags(&tags));
                let mut refused = None;
                w.with_store(&mut |store| {
                    if let Some(id) = store.id(&name) {
                        if !store.add_tagged(id, t, value, &tg) {
                            refused = store.budget().exceeded().map(str::to_owned);
                        }
                    }
                });
                // Past the budget the run ends: stop this VU with the reason
                // (a script catching the exception is stopped by the
                // interrupt handler, which sees the run stopping).
                if let Some(why) = refused {
                    s.stop.set(true);
                    s.stop_reason.get_or_insert(why);
                    return Err(js_err(&ctx, "interrupted"));
                }
                Ok(())
            },
        )?;
    }
    {
        let w = Rc::clone(world);
        set_fn(ctx, &n, "log", move |level: String, msg: String| {
            let msg: String = msg.chars().take(2000).collect();
            w.log(format!("{}[{level}] {msg}", ""));
        })?;
    }
    {
        let (st, w) = (Rc::clone(state), Rc::clone(world));
        set_fn(ctx, &n, "nowMs", move || {
            let s = st.borrow();
            w.epoch_ms() + (w.now(&s) * 1000.0).floor()
        })?;
    }
    {
        let st = Rc::clone(state);
        set_fn(ctx, &n, "random", move || st.borrow_mut().rng.gen::<f64>())?;
    }
    {
        let st = Rc::clone(state);
        set_fn(ctx, &n, "iter", move || st.borrow().iter as f64)?;
    }
    {
        let st = Rc::clone(state);
        set_fn(ctx, &n, "randomSeed", move |seed: f64| {
            st.borrow_mut().rng = StdRng::seed_from_u64(seed as u64);
        })?;
    }
    {
        let (st, w) = (Rc::clone(state), Rc::clone(world));
        set_fn(
            ctx,
            &n,
            "abort",
            move |ctx: Ctx<'js>, reason: String| -> rquickjs::Result<()> {
                w.abort(reason);
                let s = st.borrow();
                s.stop.set(true);
                Err(js_err(&ctx, "test aborted"))
            },
        )?;
    }
    {
        let (st, w) = (Rc::clone(state), Rc::clone(world));
        set_fn(ctx, &n, "execInfo", move || {
            let s = st.borrow();
            let (elapsed_ms, iterations, active, max) = w.exec_info();
            json!({
                "vu": s.id, "iter": s.iter, "iterInScenario": s.iter_in_scenario,
                "scenario": s.scenario, "executor": s.executor, "scenarioStart": s.scenario_start * 1000.0,
                "progress": 0, "elapsedMs": elapsed_ms, "iterationsCompleted": iterations, "vusActive": active, "vusMax": max,
            })
            .to_string()
        })?;
    }
    {
        let w = Rc::clone(world);
        set_fn(ctx, &n, "options", move || w.options_json())?;
    }
    {
        let st = Rc::clone(state);
        set_fn(ctx, &n, "setResponseCallback", move |ranges: String| {
            st.borrow_mut().expected = serde_json::from_str::<Vec<(u16, u16)>>(&ranges).ok();
        })?;
    }
    set_fn(ctx, &n, "textSummary", move |data: String, opts: String| {
        super::summary::text_summary_from_json(&data, &opts)
    })?;
    set_fn(
        ctx,
        &n,
        "junitSummary",
        move |data: String, _opts: String| super::summary::junit_from_json(&data),
    )?;
    {
        let (st, w, cs) = (Rc::clone(state), Rc::clone(world), Rc::clone(call_start));
        let bodies = bodies.clone();
        set_fn(
            ctx,
            &n,
            "request",
            move |ctx: Ctx<'js>,
                  out: rquickjs::Array<'js>,
                  method: Value<'js>,
                  url: Opt<Value<'js>>,
                  body: Opt<Option<String>>,
                  params: Opt<Vec<Vec<String>>>|
                  -> rquickjs::Result<u16> {
                let mut s = st.borrow_mut();
                // No URL: the same as the last request's (the JavaScript side
                // keeps track), so a script's usual URL is converted once.
                if let Some(url) = url.0.filter(|u| !u.is_undefined()) {
                    super::http::set_url(&mut s, url.get::<Coerced<String>>()?.0);
                }
                // Bare GETs and HEADs name their method by number: no string to convert.
                let method: std::borrow::Cow<'static, str> = match method.as_int() {
                    Some(1) => "HEAD".into(),
                    Some(_) => "GET".into(),
                    None => method.get::<Coerced<String>>()?.0.into(),
                };
                let params = match params.0 {
                    Some(mut p) if p.len() == 3 => {
                        let opts = p.pop().unwrap_or_default();
                        let tags = p.pop().unwrap_or_default();
                        let headers = p.pop().unwrap_or_default();
                        super::http::Params::from_flat(headers, tags, opts)
                    }
                    _ => super::http::Params::default(),
                };
                let body = body.0.flatten();
                let res = super::http::request(&mut s, &*w, &method, body.as_deref(), &params);
                if w.waits() {
                    cs.set(Some(Instant::now()));
                }
                match res {
                    Ok(r) => {
                        drop(s);
                        fill_response(&ctx, &bodies, &out, r)
                    }
                    Err(super::http::RequestFailure::Stop(msg)) => {
                        s.stop.set(true);
                        s.stop_reason.get_or_insert(msg);
                        Err(js_err(&ctx, "interrupted"))
                    }
                    Err(super::http::RequestFailure::Throw(msg)) => Err(js_err(&ctx, &msg)),
                }
            },
        )?;
    }
    ctx.globals().set("__k6n", n)
}
