//! The toy service's behaviour, independent of any transport: the live HTTP
//! server and the simulated clock both ask this model for responses, so a
//! script sees the same API in both modes.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::json;

use super::catalog;
use super::metrics::{Registry, SeriesId, DEFAULT_BUCKETS};
use super::scenario::{ActiveEffect, EffectKind, Latency, Scenario};

/// One request as the model sees it.
#[derive(Debug, Clone, Copy)]
pub struct ToyRequest<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// Path without the query string.
    pub path: &'a str,
    /// Raw query string (without `?`), possibly empty.
    pub query: &'a str,
    /// Value of the `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// Value of the legacy `X-User-ID` header, if any.
    pub user_id: Option<&'a str>,
    /// Request body.
    pub body: &'a [u8],
}

/// The model's answer: what to send and how long the request should take.
#[derive(Debug, Clone)]
pub struct ToyResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` of the body.
    pub content_type: &'static str,
    /// Response body (catalog answers are shared, not copied).
    pub body: Cow<'static, [u8]>,
    /// Time the service spends on this request, in seconds.
    pub latency: f64,
    /// Route label used in metrics: a route template (one of [`ROUTES`]) or
    /// [`OTHER_ROUTE`], never the raw path, so the labels stay a fixed set.
    pub route: &'static str,
}

/// The toy service's routes, as its metrics label them: QuickPizza's route
/// templates. A label per raw path would make a series per distinct path,
/// and a load test that asks for unique paths (`/api/ingredients/<random>`)
/// would grow the registry, every scrape and the memory of the run without
/// bound.
pub const ROUTES: &[&str] = &[
    "/",
    "/api/pizza",
    "/api/doughs",
    "/api/tools",
    "/api/quotes",
    "/api/names",
    "/api/adjectives",
    "/api/ratings",
    "/api/users/token/login",
    "/api/ingredients/{type}",
];

/// The route label of every request whose path matches no route (a 404):
/// one label for all of them, whatever the path.
pub const OTHER_ROUTE: &str = "other";

/// The methods the metrics name; any other method is labelled `other`
/// (a script can send any token as a method).
const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

/// The route template `path` (without its query string) matches, if any:
/// `/api/ingredients/olive_oil` matches `/api/ingredients/{type}`.
pub fn route_template(path: &str) -> Option<&'static str> {
    // A match, not a search of `ROUTES`: this runs for every request.
    Some(match path {
        "/" => "/",
        "/api/pizza" => "/api/pizza",
        "/api/doughs" => "/api/doughs",
        "/api/tools" => "/api/tools",
        "/api/quotes" => "/api/quotes",
        "/api/names" => "/api/names",
        "/api/adjectives" => "/api/adjectives",
        "/api/ratings" => "/api/ratings",
        "/api/users/token/login" => "/api/users/token/login",
        p => {
            let kind = p.strip_prefix("/api/ingredients/")?;
            // One path segment, as QuickPizza's router matches `{type}`.
            if kind.contains('/') {
                return None;
            }
            "/api/ingredients/{type}"
        }
    })
}

/// The route label a metric gets for `label`: itself when it is a route
/// template or [`OTHER_ROUTE`], [`OTHER_ROUTE`] otherwise.
fn route_label(label: &str) -> &'static str {
    ROUTES
        .iter()
        .copied()
        .find(|r| *r == label)
        .unwrap_or(OTHER_ROUTE)
}

fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .copied()
        .find(|m| *m == method)
        .unwrap_or("other")
}

/// A scenario's name for a route as the model keys it: scenarios written
/// before routes were labelled by template say `/api/ingredients` (and
/// `unmatched` for paths that match no route); both still work.
pub(crate) fn scenario_route(name: &str) -> &str {
    match name {
        "/api/ingredients" => "/api/ingredients/{type}",
        "unmatched" => OTHER_ROUTE,
        other => other,
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Restrictions {
    #[serde(default)]
    max_calories_per_slice: Option<i64>,
    #[serde(default)]
    must_be_vegetarian: bool,
    #[serde(default)]
    excluded_ingredients: Vec<String>,
    #[serde(default)]
    excluded_tools: Vec<String>,
    #[serde(default)]
    max_number_of_toppings: Option<i64>,
    #[serde(default)]
    min_number_of_toppings: Option<i64>,
    #[serde(default)]
    custom_name: Option<String>,
}

const HOME_HTML: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>QuickPizza (Masterclass toy)</title></head>\n<body><main><h1>QuickPizza</h1><p>Looking to break out of your pizza routine? Ask for a recommendation: <code>POST /api/pizza</code>.</p></main></body></html>\n";

const STORAGE_BUCKETS_US: &[f64] = &[
    100.0,
    250.0,
    500.0,
    1000.0,
    2500.0,
    5000.0,
    10000.0,
    25000.0,
    50000.0,
    100000.0,
    250000.0,
    1_000_000.0,
];
const INGREDIENT_BUCKETS: &[f64] = &[
    1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
];
const CALORIE_BUCKETS: &[f64] = &[
    100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0, 1200.0, 1500.0, 2000.0,
];
const TOKEN_RANGES: u32 = 8;

/// The toy service's state: scenario, seeded randomness and Prometheus metrics.
#[derive(Debug)]
pub struct ToyModel {
    scenario: Scenario,
    effects: Vec<ActiveEffect>,
    rng: StdRng,
    registry: Registry,
    next_pizza_id: i64,
    /// End times of requests in flight, for the simulated concurrency estimate.
    in_flight: BinaryHeap<Reverse<u64>>,
    backlog_bytes: f64,
    /// The backlog the gauges show.
    backlog_shown: f64,
    last_tick: f64,
    ratings: Vec<serde_json::Value>,
    /// Concurrency, hot shard and whether reads happened, as of the last request.
    pending: (u32, Option<(u32, f64)>, bool),
    /// Requests in flight elsewhere (other lanes of a parallel simulation),
    /// added to the model's own estimate.
    background: u32,
    /// Pizza ids advance by this step (lanes interleave their ids).
    id_step: i64,
    /// Whether a release effect has begun (toy_build_info flipped).
    released: bool,
    /// Whether this model ages the compaction backlog itself (a lane's
    /// model hands its writes to the lead model instead).
    owns_backlog: bool,
    ids: Ids,
    /// Log-normal sigmas of the latencies sampled so far (median and p99
    /// bits, sigma): a handful, each worth a logarithm per sample.
    sigmas: Vec<(u64, u64, f64)>,
}

/// Series handles resolved once: the per-request path touches the registry
/// without building label keys.
#[derive(Debug, Default)]
struct Ids {
    /// (method, route label, status) -> (requests counter, duration histogram).
    http: Vec<(&'static str, &'static str, u16, SeriesId, SeriesId)>,
    shards: Vec<ShardIds>,
    ranges: Vec<SeriesId>,
}

#[derive(Debug, Clone, Copy)]
struct ShardIds {
    row_hits: SeriesId,
    partition_hits: SeriesId,
    row_misses: SeriesId,
    partition_misses: SeriesId,
    read_timeouts: SeriesId,
    read_latency: SeriesId,
    write_latency: SeriesId,
}

fn micros(secs: f64) -> u64 {
    (secs * 1e6).max(0.0) as u64
}

impl ToyModel {
    /// A model of `scenario` whose randomness comes from `seed`.
    pub fn new(mut scenario: Scenario, seed: u64) -> Self {
        scenario.endpoints = std::mem::take(&mut scenario.endpoints)
            .into_iter()
            .map(|(k, v)| (scenario_route(&k).to_owned(), v))
            .collect();
        let effects = scenario.effects.iter().map(ActiveEffect::resolve).collect();
        let mut registry = Registry::new();
        registry.declare_counter(
            "http_requests_total",
            "The total number of HTTP requests",
            &["method", "path", "status"],
        );
        registry.declare_histogram(
            "http_request_duration_seconds",
            "The duration of HTTP requests",
            &["method", "path", "status"],
            DEFAULT_BUCKETS,
        );
        registry.declare_counter(
            "pizza_recommendations_total",
            "The total number of pizza recommendations",
            &["vegetarian", "tool"],
        );
        registry.declare_histogram(
            "number_of_ingredients_per_pizza",
            "The number of ingredients per pizza",
            &[],
            INGREDIENT_BUCKETS,
        );
        registry.declare_histogram(
            "pizza_calories_per_slice",
            "The number of calories per slice of pizza",
            &[],
            CALORIE_BUCKETS,
        );
        registry.declare_gauge(
            "toy_build_info",
            "Version of the toy service serving requests",
            &["version"],
        );
        registry.declare_histogram(
            "scylla_storage_proxy_coordinator_read_latency",
            "Read latency of the modelled ScyllaDB node, in microseconds",
            &["shard"],
            STORAGE_BUCKETS_US,
        );
        registry.declare_histogram(
            "scylla_storage_proxy_coordinator_write_latency",
            "Write latency of the modelled ScyllaDB node, in microseconds",
            &["shard"],
            STORAGE_BUCKETS_US,
        );
        registry.declare_counter(
            "scylla_storage_proxy_coordinator_read_timeouts",
            "Reads that timed out",
            &["shard"],
        );
        registry.declare_counter(
            "scylla_storage_proxy_coordinator_write_timeouts",
            "Writes that timed out",
            &["shard"],
        );
        registry.declare_gauge(
            "scylla_storage_proxy_coordinator_foreground_reads",
            "Reads in flight (pending)",
            &["shard"],
        );
        registry.declare_gauge(
            "scylla_database_queued_reads",
            "Reads queued waiting for admission",
            &["shard"],
        );
        registry.declare_counter("scylla_cache_row_hits", "Row cache hits", &["shard"]);
        registry.declare_counter("scylla_cache_row_misses", "Row cache misses", &["shard"]);
        registry.declare_counter(
            "scylla_cache_partition_hits",
            "Partition cache hits",
            &["shard"],
        );
        registry.declare_counter(
            "scylla_cache_partition_misses",
            "Partition cache misses",
            &["shard"],
        );
        registry.declare_gauge(
            "scylla_compaction_manager_pending_compactions",
            "Compactions waiting to run",
            &["shard"],
        );
        registry.declare_gauge(
            "scylla_compaction_manager_backlog",
            "Compaction backlog, in bytes",
            &["shard"],
        );
        registry.declare_counter(
            "scylla_database_total_reads_per_token_range",
            "Reads per partition-key token range of the pizza table",
            &["ks", "cf", "token_range"],
        );
        registry.declare_gauge(
            "toy_db_pool_in_use",
            "Connections of the database pool in use",
            &[],
        );
        registry.set("toy_build_info", &["v1"], 1.0);
        for shard in 0..scenario.shards {
            let s = shard.to_string();
            registry.set("scylla_compaction_manager_pending_compactions", &[&s], 0.0);
            registry.set("scylla_compaction_manager_backlog", &[&s], 0.0);
            registry.set(
                "scylla_storage_proxy_coordinator_foreground_reads",
                &[&s],
                0.0,
            );
            registry.set("scylla_database_queued_reads", &[&s], 0.0);
            registry.inc("scylla_storage_proxy_coordinator_read_timeouts", &[&s], 0.0);
            registry.inc("scylla_cache_row_hits", &[&s], 0.0);
            registry.inc("scylla_cache_row_misses", &[&s], 0.0);
        }
        let mut ids = Ids::default();
        for shard in 0..scenario.shards {
            let s = shard.to_string();
            let mut r = |name| registry.resolve(name, &[&s]);
            if let (Some(a), Some(b), Some(c), Some(d), Some(e), Some(f), Some(g)) = (
                r("scylla_cache_row_hits"),
                r("scylla_cache_partition_hits"),
                r("scylla_cache_row_misses"),
                r("scylla_cache_partition_misses"),
                r("scylla_storage_proxy_coordinator_read_timeouts"),
                r("scylla_storage_proxy_coordinator_read_latency"),
                r("scylla_storage_proxy_coordinator_write_latency"),
            ) {
                ids.shards.push(ShardIds {
                    row_hits: a,
                    partition_hits: b,
                    row_misses: c,
                    partition_misses: d,
                    read_timeouts: e,
                    read_latency: f,
                    write_latency: g,
                });
            }
        }
        Self {
            scenario,
            effects,
            rng: StdRng::seed_from_u64(seed),
            sigmas: Vec::new(),
            registry,
            next_pizza_id: 1,
            in_flight: BinaryHeap::new(),
            backlog_bytes: 0.0,
            backlog_shown: 0.0,
            last_tick: 0.0,
            ratings: Vec::new(),
            pending: (0, None, false),
            background: 0,
            id_step: 1,
            released: false,
            owns_backlog: true,
            ids,
        }
    }

    /// Lane `lane` of `lanes` of a parallel simulation: its own randomness,
    /// interleaved pizza ids, and writes handed to the lead model (lane 0)
    /// through [`ToyModel::take_backlog`] instead of aged here.
    pub fn lane(scenario: Scenario, seed: u64, lane: u32, lanes: u32) -> Self {
        let mix = u64::from(lane).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let mut m = Self::new(scenario, if lane == 0 { seed } else { seed ^ mix });
        m.next_pizza_id = 1 + i64::from(lane);
        m.id_step = i64::from(lanes.max(1));
        m.owns_backlog = lane == 0;
        m
    }

    /// Sets how many requests are in flight outside this model (other lanes).
    pub fn set_background(&mut self, n: u32) {
        self.background = n;
    }

    /// Takes the write bytes this lane accumulated for compaction.
    pub fn take_backlog(&mut self) -> f64 {
        if self.owns_backlog {
            0.0
        } else {
            std::mem::take(&mut self.backlog_bytes)
        }
    }

    /// Adds compaction work done by other lanes.
    pub fn add_backlog(&mut self, bytes: f64) {
        self.backlog_bytes += bytes;
    }

    /// The `/metrics` text of a service split over lanes: this (lead)
    /// model's gauges and everyone's counters and histograms, as of `now`.
    pub fn render_merged(&mut self, others: &[&ToyModel], now: f64) -> String {
        for o in others {
            let (c, h, r) = o.pending;
            if c > self.pending.0 {
                self.pending.0 = c;
            }
            self.pending.1 = self.pending.1.or(h);
            self.pending.2 |= r;
        }
        self.prepare_render(now);
        if others.is_empty() {
            return self.registry.render();
        }
        let mut r = self.registry.clone();
        for o in others {
            r.add_counts(&o.registry);
            if let Some(v) = o.registry.value("toy_db_pool_in_use", &[]) {
                if r.value("toy_db_pool_in_use", &[]).is_none_or(|m| v > m) {
                    r.set("toy_db_pool_in_use", &[], v);
                }
            }
        }
        r.render()
    }

    /// The scenario this model follows.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    fn sample(&mut self, l: Latency) -> f64 {
        // Log-normal from median and p99: sigma = ln(p99/median) / z(0.99).
        let key = (l.median_ms.to_bits(), l.p99_ms.to_bits());
        let sigma = match self.sigmas.iter().find(|(m, p, _)| (*m, *p) == key) {
            Some((_, _, s)) => *s,
            None => {
                let s = (l.p99_ms / l.median_ms).ln() / 2.326_347_874;
                if self.sigmas.len() < 16 {
                    self.sigmas.push((key.0, key.1, s));
                }
                s
            }
        };
        let u1: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        let u2: f64 = self.rng.gen();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        l.median_ms * (sigma * z).exp() / 1000.0
    }

    /// Answers `req` arriving at `now` seconds into the run. `concurrency` is
    /// the number of requests in flight including this one (measured by the
    /// live server); `None` lets the model estimate it from its own history, as
    /// the simulated clock does. When `record_http` is set the HTTP metrics are
    /// recorded with the modelled latency (the live server records the
    /// measured one itself through [`ToyModel::record_http`]).
    pub fn handle(
        &mut self,
        req: &ToyRequest<'_>,
        now: f64,
        concurrency: Option<u32>,
        record_http: bool,
    ) -> ToyResponse {
        self.tick(now);
        let estimated = concurrency.is_none();
        let background = self.background;
        let concurrency = concurrency.unwrap_or_else(|| {
            let now_us = micros(now);
            while self
                .in_flight
                .peek()
                .is_some_and(|Reverse(end)| *end <= now_us)
            {
                self.in_flight.pop();
            }
            u32::try_from(self.in_flight.len())
                .unwrap_or(u32::MAX)
                .saturating_add(1)
                .saturating_add(background)
        });
        let route = route_template(req.path);
        let key = route.unwrap_or(OTHER_ROUTE);

        let (spec_latency, spec_errors) = if self.scenario.endpoints.is_empty() {
            (None, None)
        } else {
            self.scenario
                .endpoints
                .get(key)
                .map_or((None, None), |s| (s.latency, s.error_rate))
        };
        let base = spec_latency.unwrap_or(self.scenario.latency);
        let mut latency = self.sample(base);
        let mut error_rate = spec_errors.unwrap_or(self.scenario.error_rate);
        let mut error_status = 500;
        let mut version = "v1";
        let mut hot: Option<(u32, f64, f64)> = None;
        let mut storm: Option<(f64, f64)> = None;
        let mut extra_reads = 0;
        let mut pool: Option<(u32, f64)> = None;
        for e in self.effects.iter().filter(|e| e.applies(now, key)) {
            match &e.kind {
                EffectKind::Latency { factor, add_ms } => {
                    latency = latency * factor + add_ms / 1000.0
                }
                EffectKind::Release { factor, add_ms, .. } => {
                    version = "v2";
                    latency = latency * factor + add_ms / 1000.0;
                }
                EffectKind::Errors { rate, status } => {
                    error_rate = error_rate.max(*rate);
                    error_status = *status;
                }
                EffectKind::HotPartition {
                    shard,
                    share,
                    extra_ms,
                } => hot = Some((*shard, *share, *extra_ms)),
                EffectKind::CompactionStorm {
                    read_factor,
                    cache_hit_ratio,
                } => storm = Some((*read_factor, *cache_hit_ratio)),
                EffectKind::Pool { size, service_ms } => pool = Some((*size, *service_ms)),
                EffectKind::FullScan {
                    reads_per_request,
                    extra_ms,
                } => {
                    extra_reads += reads_per_request;
                    latency += extra_ms / 1000.0;
                }
            }
        }
        let _ = version;

        if let Some((size, service_ms)) = pool {
            let size = size.max(1);
            let in_use = concurrency.min(size);
            self.registry
                .set("toy_db_pool_in_use", &[], f64::from(in_use));
            if concurrency > size {
                latency += f64::from(concurrency - size) * service_ms / 1000.0 / f64::from(size);
            }
        }

        let fail = route.is_some()
            && key != "/"
            && error_rate > 0.0
            && self.rng.gen_bool(error_rate.clamp(0.0, 1.0));
        let (status, content_type, body, reads, writes) = if fail {
            (
                error_status,
                "text/plain; charset=utf-8",
                Cow::Borrowed(&b"internal server error\n"[..]),
                0,
                0,
            )
        } else {
            self.respond(req, route)
        };
        let reads = if status < 400 && reads > 0 {
            reads + extra_reads
        } else {
            reads
        };
        latency += self.storage(reads, writes, concurrency, hot, storm);

        if record_http {
            self.record_http_labels(method_label(req.method), key, status, latency);
        }
        if estimated {
            self.in_flight.push(Reverse(micros(now + latency)));
        }
        ToyResponse {
            status,
            content_type,
            body,
            latency,
            route: key,
        }
    }

    /// Records one finished request in the HTTP metrics. `route` is the
    /// answer's [`ToyResponse::route`]; anything else that is not a route
    /// template is counted as [`OTHER_ROUTE`], and an unknown method as
    /// `other`, so the HTTP series stay a fixed, small set.
    pub fn record_http(&mut self, method: &str, route: &str, status: u16, duration: f64) {
        self.record_http_labels(method_label(method), route_label(route), status, duration);
    }

    fn record_http_labels(
        &mut self,
        method: &'static str,
        route: &'static str,
        status: u16,
        duration: f64,
    ) {
        let hit = self
            .ids
            .http
            .iter()
            .find(|(m, r, s, _, _)| *s == status && *m == method && *r == route)
            .map(|(_, _, _, c, h)| (*c, *h));
        let (c, h) = match hit {
            Some(ids) => ids,
            None => {
                let st = status.to_string();
                let labels = [method, route, st.as_str()];
                let (Some(c), Some(h)) = (
                    self.registry.resolve("http_requests_total", &labels),
                    self.registry
                        .resolve("http_request_duration_seconds", &labels),
                ) else {
                    return;
                };
                // Statuses come from the scenario, so this stays small; the
                // bound only keeps the lookup short.
                if self.ids.http.len() < 256 {
                    self.ids.http.push((method, route, status, c, h));
                }
                (c, h)
            }
        };
        self.registry.inc_id(c, 1.0);
        self.registry.observe_id(h, duration);
    }

    fn storage(
        &mut self,
        reads: u32,
        writes: u32,
        concurrency: u32,
        hot: Option<(u32, f64, f64)>,
        storm: Option<(f64, f64)>,
    ) -> f64 {
        let shards = self.scenario.shards;
        let mut total = 0.0_f64;
        let hit_ratio = storm.map_or(self.scenario.cache_hit_ratio, |(_, h)| h);
        for _ in 0..reads {
            let (shard, is_hot) = match hot {
                Some((s, share, _)) if self.rng.gen_bool(share.clamp(0.0, 1.0)) => {
                    (s % shards, true)
                }
                _ => (self.rng.gen_range(0..shards), false),
            };
            let range = if is_hot {
                (shard * 2) % TOKEN_RANGES
            } else {
                self.rng.gen_range(0..TOKEN_RANGES)
            };
            let ids = self.shard_ids(shard);
            let hit = self.rng.gen_bool(hit_ratio.clamp(0.0, 1.0));
            let mut lat = if hit {
                if let Some(ids) = ids {
                    self.registry.inc_id(ids.row_hits, 1.0);
                    self.registry.inc_id(ids.partition_hits, 1.0);
                }
                self.sample(Latency {
                    median_ms: 0.15,
                    p99_ms: 1.0,
                })
            } else {
                if let Some(ids) = ids {
                    self.registry.inc_id(ids.row_misses, 1.0);
                    self.registry.inc_id(ids.partition_misses, 1.0);
                }
                self.sample(Latency {
                    median_ms: 1.5,
                    p99_ms: 8.0,
                })
            };
            if let Some((f, _)) = storm {
                lat *= f;
            }
            if let Some((_, _, extra)) = hot.filter(|_| is_hot) {
                lat += extra / 1000.0 * self.rng.gen_range(0.5..1.5);
            }
            if let Some(ids) = ids {
                if lat > 0.1 {
                    self.registry.inc_id(ids.read_timeouts, 1.0);
                }
                self.registry.observe_id(ids.read_latency, lat * 1e6);
            }
            if let Some(id) = self.range_id(range) {
                self.registry.inc_id(id, 1.0);
            }
            total += lat;
        }
        for _ in 0..writes {
            let shard = self.rng.gen_range(0..shards);
            let mut lat = self.sample(Latency {
                median_ms: 0.4,
                p99_ms: 3.0,
            });
            if let Some((f, _)) = storm {
                lat *= f.sqrt();
            }
            if let Some(ids) = self.shard_ids(shard) {
                self.registry.observe_id(ids.write_latency, lat * 1e6);
            }
            self.backlog_bytes += 4096.0;
            total += lat;
        }
        // Pending reads per shard, applied to the gauges at the next scrape.
        self.pending = (
            concurrency,
            if reads > 0 {
                hot.map(|(h, share, _)| (h, share))
            } else {
                None
            },
            reads > 0,
        );
        total
    }

    fn shard_ids(&self, shard: u32) -> Option<ShardIds> {
        self.ids.shards.get(shard as usize).copied()
    }

    fn range_id(&mut self, range: u32) -> Option<SeriesId> {
        if self.ids.ranges.is_empty() {
            for r in 0..TOKEN_RANGES {
                let id = self.registry.resolve(
                    "scylla_database_total_reads_per_token_range",
                    &["quickpizza", "pizzas", &r.to_string()],
                )?;
                self.ids.ranges.push(id);
            }
        }
        self.ids.ranges.get(range as usize).copied()
    }

    /// Advances time-driven state (compaction backlog, releases) to `now`.
    pub fn tick(&mut self, now: f64) {
        if !self.released
            && self
                .effects
                .iter()
                .any(|e| matches!(e.kind, EffectKind::Release { .. }) && now >= e.from)
        {
            self.released = true;
            self.registry.set("toy_build_info", &["v1"], 0.0);
            self.registry.set("toy_build_info", &["v2"], 1.0);
        }
        let dt = (now - self.last_tick).max(0.0);
        if dt <= 0.0 {
            return;
        }
        self.last_tick = now;
        if !self.owns_backlog {
            return;
        }
        let storm = self.effects.iter().any(|e| {
            matches!(e.kind, EffectKind::CompactionStorm { .. }) && now >= e.from && now < e.until
        });
        if storm {
            self.backlog_bytes += 4.0e6 * dt;
        } else {
            // Compaction drains 2 MB/s when it keeps up.
            self.backlog_bytes = (self.backlog_bytes - 2.0e6 * dt).max(0.0);
        }
        // The gauges change only with the backlog: an idle backlog costs nothing per request.
        if self.backlog_bytes == self.backlog_shown {
            return;
        }
        self.backlog_shown = self.backlog_bytes;
        let shards = self.scenario.shards;
        let per_shard = self.backlog_bytes / f64::from(shards);
        let pending = (per_shard / 1.0e6).ceil();
        for shard in 0..shards {
            let s = shard.to_string();
            self.registry.set(
                "scylla_compaction_manager_backlog",
                &[&s],
                per_shard.round(),
            );
            self.registry.set(
                "scylla_compaction_manager_pending_compactions",
                &[&s],
                pending,
            );
        }
    }

    /// The `/metrics` exposition text as of `now` seconds into the run.
    pub fn render_metrics(&mut self, now: f64) -> String {
        self.prepare_render(now);
        self.registry.render()
    }

    fn prepare_render(&mut self, now: f64) {
        self.tick(now);
        let (concurrency, hot, reading) = self.pending;
        let shards = self.scenario.shards;
        // The requests in flight spread over the shards (or pile on the hot one).
        for shard in 0..shards {
            let share = match hot {
                Some((h, share)) if h % shards == shard => {
                    share + (1.0 - share) / f64::from(shards)
                }
                Some((_, share)) => (1.0 - share) / f64::from(shards),
                None => 1.0 / f64::from(shards),
            };
            let pending = if reading {
                (f64::from(concurrency) * share).round()
            } else {
                0.0
            };
            let s = shard.to_string();
            self.registry.set(
                "scylla_storage_proxy_coordinator_foreground_reads",
                &[&s],
                pending,
            );
            self.registry.set(
                "scylla_database_queued_reads",
                &[&s],
                (pending - 8.0).max(0.0),
            );
        }
    }

    /// Series in the model's registry (see [`super::metrics::MAX_SERIES`]).
    pub fn metric_series(&self) -> usize {
        self.registry.series_count()
    }

    /// New series the registry refused because it was full.
    pub fn refused_series(&self) -> u64 {
        self.registry.refused()
    }

    /// Reads a counter or gauge (for tests and graders).
    pub fn metric_value(&self, name: &str, labels: &[&str]) -> Option<f64> {
        self.registry.value(name, labels)
    }

    fn respond(
        &mut self,
        req: &ToyRequest<'_>,
        route: Option<&'static str>,
    ) -> (u16, &'static str, Cow<'static, [u8]>, u32, u32) {
        const JSON: &str = "application/json";
        const TEXT: &str = "text/plain; charset=utf-8";
        let method = req.method;
        let Some(route) = route else {
            return (404, TEXT, Cow::Borrowed(&b"404 page not found\n"[..]), 0, 0);
        };
        static CATALOG: std::sync::OnceLock<[Vec<u8>; 5]> = std::sync::OnceLock::new();
        let cat = CATALOG.get_or_init(|| {
            let enc = |v: serde_json::Value| {
                let mut b = serde_json::to_vec(&v).unwrap_or_default();
                b.push(b'\n');
                b
            };
            [
                enc(json!({ "doughs": catalog::doughs() })),
                enc(json!({ "tools": catalog::TOOLS })),
                enc(json!({ "quotes": catalog::QUOTES })),
                enc(json!({ "names": catalog::NAMES })),
                enc(json!({ "adjectives": catalog::ADJECTIVES })),
            ]
        });
        let json_body = |v: serde_json::Value| {
            let mut b = serde_json::to_vec(&v).unwrap_or_default();
            b.push(b'\n');
            Cow::Owned(b)
        };
        let get_only = |m: &str| m == "GET" || m == "HEAD";
        match route {
            "/" if get_only(method) => (
                200,
                "text/html; charset=utf-8",
                Cow::Borrowed(HOME_HTML.as_bytes()),
                0,
                0,
            ),
            "/api/doughs" if get_only(method) => (200, JSON, Cow::Borrowed(&cat[0][..]), 1, 0),
            "/api/tools" if get_only(method) => (200, JSON, Cow::Borrowed(&cat[1][..]), 1, 0),
            "/api/quotes" if get_only(method) => (200, JSON, Cow::Borrowed(&cat[2][..]), 1, 0),
            "/api/names" if get_only(method) => (200, JSON, Cow::Borrowed(&cat[3][..]), 1, 0),
            "/api/adjectives" if get_only(method) => (200, JSON, Cow::Borrowed(&cat[4][..]), 1, 0),
            "/api/ingredients/{type}" if get_only(method) => {
                let kind = req.path.trim_start_matches("/api/ingredients/");
                match catalog::ingredients(kind) {
                    Some(list) => {
                        let veg = query_param(req.query, "is_vegetarian");
                        let list: Vec<_> = list
                            .into_iter()
                            .filter(|i| {
                                veg.as_deref().is_none_or(|v| i.vegetarian == (v == "true"))
                            })
                            .collect();
                        (200, JSON, json_body(json!({ "ingredients": list })), 1, 0)
                    }
                    None => (
                        400,
                        TEXT,
                        Cow::Owned(format!("Unknown ingredient {kind:?}").into_bytes()),
                        0,
                        0,
                    ),
                }
            }
            "/api/users/token/login" if method == "POST" => {
                let token: String = (0..16)
                    .map(|_| {
                        char::from(
                            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                [self.rng.gen_range(0..62)],
                        )
                    })
                    .collect();
                (200, JSON, json_body(json!({ "token": token })), 1, 1)
            }
            "/api/ratings" | "/api/pizza" if !authorized(req) => (
                401,
                JSON,
                json_body(
                    json!({ "error": "unauthorized: send an 'Authorization: token <16 characters>' header" }),
                ),
                0,
                0,
            ),
            "/api/ratings" if get_only(method) => (
                200,
                JSON,
                json_body(json!({ "ratings": self.ratings })),
                1,
                0,
            ),
            "/api/ratings" if method == "POST" => {
                match serde_json::from_slice::<serde_json::Value>(req.body) {
                    Ok(v)
                        if v.get("stars")
                            .and_then(serde_json::Value::as_i64)
                            .is_some_and(|s| (1..=5).contains(&s)) =>
                    {
                        let id = i64::try_from(self.ratings.len()).unwrap_or(0) + 1;
                        let rating = json!({ "id": id, "stars": v["stars"], "pizza_id": v.get("pizza_id").cloned().unwrap_or(json!(0)) });
                        if self.ratings.len() < 1000 {
                            self.ratings.push(rating.clone());
                        }
                        (201, JSON, json_body(rating), 0, 1)
                    }
                    _ => (
                        400,
                        JSON,
                        json_body(json!({ "error": "a rating needs stars between 1 and 5" })),
                        0,
                        0,
                    ),
                }
            }
            "/api/pizza" if method == "POST" => {
                let r: Restrictions = if req.body.iter().all(u8::is_ascii_whitespace) {
                    return (
                        400,
                        JSON,
                        json_body(json!({ "error": "empty body: send restrictions as JSON" })),
                        0,
                        0,
                    );
                } else {
                    match serde_json::from_slice(req.body) {
                        Ok(r) => r,
                        Err(e) => {
                            return (
                                400,
                                JSON,
                                json_body(json!({ "error": format!("invalid restrictions: {e}") })),
                                0,
                                0,
                            )
                        }
                    }
                };
                match self.recommend(&r) {
                    Some(v) => (200, JSON, json_body(v), 5, 1),
                    None => (
                        400,
                        JSON,
                        json_body(json!({ "error": "no pizza matches these restrictions" })),
                        5,
                        0,
                    ),
                }
            }
            _ => (405, TEXT, Cow::Borrowed(&b"method not allowed\n"[..]), 0, 0),
        }
    }

    fn recommend(&mut self, r: &Restrictions) -> Option<serde_json::Value> {
        let max_cal = r.max_calories_per_slice.filter(|c| *c > 0).unwrap_or(1000);
        let min_top = r.min_number_of_toppings.unwrap_or(2).clamp(0, 10);
        let max_top = r.max_number_of_toppings.unwrap_or(5).clamp(min_top, 10);
        let allowed = |i: &catalog::Ingredient| {
            !r.excluded_ingredients
                .iter()
                .any(|x| x.eq_ignore_ascii_case(i.name))
                && (!r.must_be_vegetarian || i.vegetarian)
        };
        let pick = |kind: &str| -> Vec<catalog::Ingredient> {
            catalog::ingredients(kind)
                .unwrap_or_default()
                .into_iter()
                .filter(allowed)
                .collect()
        };
        let (oils, tomatoes, mozz, toppings) = (
            pick("olive_oil"),
            pick("tomato"),
            pick("mozzarella"),
            pick("topping"),
        );
        let tools: Vec<&str> = catalog::TOOLS
            .iter()
            .copied()
            .filter(|t| !r.excluded_tools.iter().any(|x| x.eq_ignore_ascii_case(t)))
            .collect();
        if oils.is_empty()
            || tomatoes.is_empty()
            || mozz.is_empty()
            || tools.is_empty()
            || (toppings.is_empty() && min_top > 0)
        {
            return None;
        }
        let doughs = catalog::doughs();
        let mut best = None;
        for _ in 0..10 {
            let adj = catalog::ADJECTIVES[self.rng.gen_range(0..catalog::ADJECTIVES.len())];
            let name = catalog::NAMES[self.rng.gen_range(0..catalog::NAMES.len())];
            let article = if adj.starts_with(['A', 'E', 'I', 'O', 'U']) {
                "An"
            } else if self.rng.gen_bool(0.5) {
                "The"
            } else {
                "A"
            };
            let mut ingredients = vec![
                oils[self.rng.gen_range(0..oils.len())].clone(),
                tomatoes[self.rng.gen_range(0..tomatoes.len())].clone(),
                mozz[self.rng.gen_range(0..mozz.len())].clone(),
            ];
            let n = self.rng.gen_range(min_top..=max_top);
            for _ in 0..n {
                if toppings.is_empty() {
                    break;
                }
                let t = toppings[self.rng.gen_range(0..toppings.len())].clone();
                if !ingredients.iter().any(|i| i.id == t.id) {
                    ingredients.push(t);
                }
            }
            let dough = doughs[self.rng.gen_range(0..doughs.len())].clone();
            let calories: i64 = ingredients
                .iter()
                .map(|i| i.calories_per_slice)
                .sum::<i64>()
                + dough.calories_per_slice;
            let tool = tools[self.rng.gen_range(0..tools.len())];
            let custom = r
                .custom_name
                .as_deref()
                .filter(|n| !n.trim().is_empty())
                .map(|n| n.chars().take(64).collect::<String>());
            let candidate = (
                custom.unwrap_or_else(|| format!("{article} {adj} {name}")),
                dough,
                ingredients,
                tool,
                calories,
            );
            let fits = candidate.4 <= max_cal;
            best = Some(candidate);
            if fits {
                break;
            }
        }
        let (name, dough, ingredients, tool, calories) = best?;
        let vegetarian = ingredients.iter().all(|i| i.vegetarian);
        let id = self.next_pizza_id;
        self.next_pizza_id += self.id_step;
        self.registry.inc(
            "pizza_recommendations_total",
            &[if vegetarian { "true" } else { "false" }, tool],
            1.0,
        );
        self.registry.observe(
            "number_of_ingredients_per_pizza",
            &[],
            ingredients.len() as f64,
        );
        self.registry
            .observe("pizza_calories_per_slice", &[], calories as f64);
        Some(json!({
            "pizza": { "id": id, "name": name, "dough": dough, "ingredients": ingredients, "tool": tool },
            "calories": calories,
            "vegetarian": vegetarian,
        }))
    }
}

fn authorized(req: &ToyRequest<'_>) -> bool {
    if req.user_id.is_some_and(|u| !u.trim().is_empty()) {
        return true;
    }
    let Some(h) = req.authorization else {
        return false;
    };
    let mut parts = h.split_whitespace();
    let (Some(scheme), Some(token), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    (scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer"))
        && token.len() == 16
        && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| v.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(
        method: &'a str,
        path: &'a str,
        auth: Option<&'a str>,
        body: &'a [u8],
    ) -> ToyRequest<'a> {
        ToyRequest {
            method,
            path,
            query: "",
            authorization: auth,
            user_id: None,
            body,
        }
    }

    #[test]
    fn pizza_needs_a_token_and_valid_json() {
        let mut m = ToyModel::new(Scenario::baseline(), 1);
        assert_eq!(
            m.handle(&req("POST", "/api/pizza", None, b"{}"), 0.0, None, true)
                .status,
            401
        );
        let tok = Some("token abcdef0123456789");
        assert_eq!(
            m.handle(&req("POST", "/api/pizza", tok, b"{nope"), 0.0, None, true)
                .status,
            400
        );
        let r = m.handle(&req("POST", "/api/pizza", tok, br#"{"maxCaloriesPerSlice":1000,"mustBeVegetarian":true,"excludedIngredients":["Pepperoni"],"excludedTools":["Knife"],"maxNumberOfToppings":5,"minNumberOfToppings":2}"#), 0.0, None, true);
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(v["vegetarian"], true);
        assert!(v["pizza"]["name"].is_string());
        assert!(v["pizza"]["dough"]["caloriesPerSlice"].is_i64());
        assert_ne!(v["pizza"]["tool"], "Knife");
        assert!(v["calories"].is_i64());
    }

    #[test]
    fn same_seed_same_answers() {
        let run = || {
            let mut m = ToyModel::new(Scenario::builtin("hot-partition").expect("builtin"), 9);
            let mut out = Vec::new();
            for i in 0..50 {
                let r = m.handle(
                    &req("POST", "/api/pizza", Some("token abcdef0123456789"), b"{}"),
                    f64::from(i),
                    None,
                    true,
                );
                out.push((r.status, r.body, r.latency.to_bits()));
            }
            (out, m.render_metrics(60.0))
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn catalog_routes() {
        let mut m = ToyModel::new(Scenario::baseline(), 1);
        for (p, key) in [
            ("/api/doughs", "doughs"),
            ("/api/tools", "tools"),
            ("/api/quotes", "quotes"),
            ("/api/names", "names"),
            ("/api/adjectives", "adjectives"),
            ("/api/ingredients/topping", "ingredients"),
        ] {
            let r = m.handle(&req("GET", p, None, b""), 0.0, None, true);
            assert_eq!(r.status, 200, "{p}");
            let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
            assert!(v[key].is_array(), "{p}");
        }
        assert_eq!(
            m.handle(
                &req("GET", "/api/ingredients/gold", None, b""),
                0.0,
                None,
                true
            )
            .status,
            400
        );
        assert_eq!(
            m.handle(&req("GET", "/nope", None, b""), 0.0, None, true)
                .status,
            404
        );
        let text = m.render_metrics(1.0);
        assert!(
            text.contains(
                "http_requests_total{method=\"GET\",path=\"/api/doughs\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("scylla_storage_proxy_coordinator_read_latency_bucket"));
    }

    #[test]
    fn paths_are_labelled_by_route_so_unique_paths_add_no_series() {
        let mut m = ToyModel::new(Scenario::baseline(), 1);
        m.handle(
            &req("GET", "/api/ingredients/tomato", None, b""),
            0.0,
            None,
            true,
        );
        m.handle(&req("GET", "/nope", None, b""), 0.0, None, true);
        let before = m.metric_series();
        for i in 0..5000 {
            let ingredient = format!("/api/ingredients/x{i}");
            let unknown = format!("/x/{i}");
            for p in [
                ingredient.as_str(),
                unknown.as_str(),
                "/api/ingredients/tomato",
            ] {
                m.handle(&req("GET", p, None, b""), 0.0, None, true);
            }
            // Labels from elsewhere (the live server passes its answer's) are
            // held to the same set.
            m.record_http(&format!("M{i}"), &format!("/raw/{i}"), 404, 0.001);
        }
        // Unknown ingredients (400) and invented methods add one label set
        // each (a counter and a histogram series), whatever their number.
        assert_eq!(m.metric_series(), before + 4);
        assert_eq!(m.refused_series(), 0);
        let text = m.render_metrics(1.0);
        for line in [
            "http_requests_total{method=\"GET\",path=\"/api/ingredients/{type}\",status=\"200\"} 5001\n",
            "http_requests_total{method=\"GET\",path=\"/api/ingredients/{type}\",status=\"400\"} 5000\n",
            "http_requests_total{method=\"GET\",path=\"other\",status=\"404\"} 5001\n",
            "http_requests_total{method=\"other\",path=\"other\",status=\"404\"} 5000\n",
        ] {
            assert!(text.contains(line), "{line}{text}");
        }
        assert_eq!(text.matches("http_requests_total{").count(), 4, "{text}");
        assert_eq!(route_template("/api/ingredients/a/b"), None);
        for r in ROUTES {
            let path = r.replace("{type}", "tomato");
            assert_eq!(route_template(&path), Some(*r), "{r}");
            assert_eq!(route_label(r), *r);
        }
        assert_eq!(route_template("/api/pizza"), Some("/api/pizza"));
        assert_eq!(route_template("/api/pizza/1"), None);
    }

    #[test]
    fn scenarios_may_name_routes_the_old_way() {
        let yaml = "name: slow-ingredients\nendpoints:\n  /api/ingredients: { latency: { median_ms: 900, p99_ms: 1000 } }\neffects:\n  - { kind: errors, rate: 1, status: 503, endpoints: [unmatched] }\n";
        let mut m = ToyModel::new(Scenario::from_yaml(yaml).expect("parses"), 1);
        let slow = m.handle(
            &req("GET", "/api/ingredients/tomato", None, b""),
            0.0,
            None,
            true,
        );
        assert!(slow.latency > 0.5, "{}", slow.latency);
        assert_eq!(slow.route, "/api/ingredients/{type}");
        let quick = m.handle(&req("GET", "/api/doughs", None, b""), 0.0, None, true);
        assert!(quick.latency < 0.5, "{}", quick.latency);
        // Paths that match no route answer 404 whatever the effect says.
        let other = m.handle(&req("GET", "/nope", None, b""), 0.0, None, true);
        assert_eq!((other.status, other.route), (404, OTHER_ROUTE));
    }

    #[test]
    fn errors_scenario_fails_some_pizzas() {
        let mut m = ToyModel::new(Scenario::builtin("errors").expect("builtin"), 3);
        let fails = (0..400)
            .filter(|_| {
                m.handle(
                    &req("POST", "/api/pizza", Some("token abcdef0123456789"), b"{}"),
                    0.0,
                    None,
                    true,
                )
                .status
                    == 500
            })
            .count();
        assert!((5..60).contains(&fails), "{fails}");
    }
}
