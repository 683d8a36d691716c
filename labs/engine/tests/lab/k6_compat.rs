//! Scripts written the way k6's docs and the QuickPizza workshops write them.

use crate::common::{live, metric, sim, sim_with};
use lab_engine::runner::{exit, Limits, RunError};

/// A QuickPizza workshop-style script, unchanged: localhost:3333 is routed to the toy service.
const WORKSHOP: &str = r#"
import http from "k6/http";
import { check, sleep } from "k6";

const BASE_URL = __ENV.BASE_URL || 'http://localhost:3333';

export const options = {
  stages: [
    { duration: '5s', target: 5 },
    { duration: '10s', target: 5 },
    { duration: '5s', target: 0 },
  ],
  thresholds: {
    http_req_failed: ['rate<0.01'],
    http_req_duration: ['p(95)<500', 'p(99)<1000'],
  },
};

export function setup() {
  let res = http.get(BASE_URL)
  if (res.status !== 200) {
    throw new Error(`Got unexpected status code ${res.status} when trying to setup. Exiting.`)
  }
}

export default function () {
  let restrictions = {
    maxCaloriesPerSlice: 500,
    mustBeVegetarian: false,
    excludedIngredients: ["pepperoni"],
    excludedTools: ["knife"],
    maxNumberOfToppings: 6,
    minNumberOfToppings: 2
  }
  let res = http.post(`${BASE_URL}/api/pizza`, JSON.stringify(restrictions), {
    headers: {
      'Content-Type': 'application/json',
      'Authorization': 'token abcdef0123456789',
    },
  });
  check(res, { "status is 200": (res) => res.status === 200 });
  console.log(`${res.json().pizza.name} (${res.json().pizza.ingredients.length} ingredients)`);
  sleep(1);
}
"#;

#[test]
fn workshop_script_runs_unchanged_in_sim() {
    let s = sim(WORKSHOP, 42).unwrap();
    assert_eq!(
        s.exit_code,
        exit::OK,
        "{:?} {:?}",
        s.thresholds,
        s.logs.first()
    );
    assert!(metric(&s, "http_reqs", "count") > 50.0);
    assert_eq!(metric(&s, "checks", "fails"), 0.0);
    assert!(s.thresholds.iter().all(|t| t.ok));
    assert!(s.text.contains("http_req_duration"));
    assert!(s.text.contains("✓ status is 200"));
    assert!(s.duration >= 20.0 && s.duration < 22.0, "{}", s.duration);
    assert!(
        !s.scrapes.is_empty()
            && s.scrapes
                .iter()
                .all(|x| x.text.contains("http_requests_total"))
    );
    assert!(s.series.iter().any(|p| p.vus == 5));
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let a = sim(WORKSHOP, 7).unwrap().export_json();
    let b = sim(WORKSHOP, 7).unwrap().export_json();
    let c = sim(WORKSHOP, 8).unwrap().export_json();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

const FEATURES: &str = r#"
import http from 'k6/http';
import { check, group, sleep, fail } from 'k6';
import exec from 'k6/execution';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import { textSummary } from 'https://jslib.k6.io/k6-summary/0.0.2/index.js';

const pizzaTime = new Trend('pizza_time', true);
const pizzas = new Counter('pizzas');
const veg = new Rate('vegetarian_pizzas');
const calories = new Gauge('last_calories');

export const options = {
  scenarios: {
    browse: { executor: 'per-vu-iterations', vus: 2, iterations: 5, exec: 'browse', tags: { flow: 'browse' } },
    order: { executor: 'shared-iterations', vus: 3, iterations: 12, startTime: '1s' },
    burst: { executor: 'constant-arrival-rate', rate: 4, timeUnit: '1s', duration: '5s', preAllocatedVUs: 2, maxVUs: 4, exec: 'browse' },
  },
  thresholds: {
    'http_req_duration{name:pizza}': ['p(95)<5000', 'max<60000'],
    'http_reqs{expected_response:true}': ['count>10'],
    'checks{check:has doughs}': ['rate==1'],
    checks: ['rate==1'],
    pizzas: ['count==12'],
    vegetarian_pizzas: ['rate==1'],
    last_calories: ['value>0'],
    'group_duration{group:::catalog}': [{ threshold: 'avg<10000', abortOnFail: true, delayAbortEval: '1s' }],
  },
};

export function setup() {
  return { token: 'abcdef0123456789' };
}

export function browse() {
  group('catalog', () => {
    const r = http.get(`${__ENV.BASE_URL}/api/doughs`);
    check(r, { 'doughs ok': (r) => r.status === 200, 'has doughs': (r) => r.json('doughs').length > 0 });
  });
}

export default function (data) {
  if (!data || data.token.length !== 16) fail('setup data did not arrive');
  const res = http.post(`${__ENV.BASE_URL}/api/pizza`, JSON.stringify({ maxCaloriesPerSlice: 1000, mustBeVegetarian: true }), {
    headers: { 'Content-Type': 'application/json', Authorization: `token ${data.token}` },
    tags: { name: 'pizza' },
  });
  check(res, { 'pizza 200': (r) => r.status === 200, 'vegetarian': (r) => r.json().vegetarian === true });
  pizzaTime.add(res.timings.duration);
  pizzas.add(1, { scenario_vu: String(exec.vu.idInTest) });
  veg.add(res.json('vegetarian'));
  calories.add(res.json('calories'));
  const batch = http.batch([['GET', `${__ENV.BASE_URL}/api/quotes`], ['GET', `${__ENV.BASE_URL}/api/names`]]);
  check(batch, { 'batch ok': (b) => b.every((r) => r.status === 200) });
  if (__ITER < 0 || __VU < 1) fail('bad __VU/__ITER');
  sleep(0.5);
}

export function teardown(data) {
  console.log('teardown saw', data.token);
}

export function handleSummary(data) {
  return {
    stdout: textSummary(data, { indent: ' ', enableColors: false }),
    'summary.json': JSON.stringify(Object.keys(data.metrics).sort()),
  };
}
"#;

fn check_features(s: &lab_engine::runner::RunSummary) {
    assert_eq!(
        s.exit_code,
        exit::OK,
        "thresholds {:?} logs {:?}",
        s.thresholds,
        s.logs
    );
    assert_eq!(metric(s, "pizzas", "count"), 12.0);
    // 12 pizza iterations x 3 requests, 10 browse iterations, 20 burst arrivals (or dropped).
    let browse_like = metric(s, "http_reqs", "count") - 36.0;
    let dropped = s.export["metrics"]["dropped_iterations"]["count"]
        .as_f64()
        .unwrap_or(0.0);
    assert_eq!(browse_like + dropped, 30.0, "{}", s.export["metrics"]);
    assert!(s.thresholds.len() >= 9);
    assert!(s.text.contains("{ name:pizza }"), "{}", s.text);
    assert!(s.outputs["summary.json"].contains("vegetarian_pizzas"));
    assert!(s
        .logs
        .iter()
        .any(|l| l.contains("teardown saw abcdef0123456789")));
    let root = &s.export["root_group"];
    assert_eq!(root["id"], "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(root["groups"]["catalog"]["path"], "::catalog");
    assert_eq!(
        root["groups"]["catalog"]["checks"]["has doughs"]["fails"],
        0
    );
    assert_eq!(root["checks"]["pizza 200"]["passes"], 12);
}

#[test]
fn scenarios_groups_custom_metrics_and_handle_summary_in_sim() {
    check_features(&sim(FEATURES, 3).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_script_runs_live_over_loopback() {
    check_features(&live(FEATURES, Limits::default()).await.unwrap());
}

#[test]
fn crossed_thresholds_exit_99_and_are_reported() {
    let s = sim("import http from 'k6/http';\nexport const options = { vus: 2, duration: '5s', thresholds: { http_req_duration: ['max<0', 'avg>=0'] } };\nexport default function () { http.get('http://localhost:3333/'); }\n", 1).unwrap();
    assert_eq!(s.exit_code, exit::THRESHOLDS_CROSSED);
    assert_eq!(
        s.export["metrics"]["http_req_duration"]["thresholds"]["max<0"],
        true
    );
    assert_eq!(
        s.export["metrics"]["http_req_duration"]["thresholds"]["avg>=0"],
        false
    );
    assert!(s.text.contains("✗ http_req_duration"));
}

#[test]
fn script_errors_exit_107() {
    for (script, needle) in [
        ("import http from 'k6/http';\nexport default function () { http.get( ; }\n", "SyntaxError"),
        ("throw new Error('boom in init');\nexport default function () {}\n", "boom in init"),
        ("export function setup() { throw new Error('setup exploded'); }\nexport default function () {}\n", "setup exploded"),
        ("import nope from 'https://example.com/lib.js';\nexport default function () {}\n", "remote modules"),
        ("import x from './helpers.js';\nexport default function () {}\n", "local files"),
        ("export const options = { scenarios: { a: { executor: 'constant-vus', vus: 1, duration: '1s', exec: 'missing' } } };\nexport default function () {}\n", "missing"),
        ("const f = open('/etc/passwd');\nexport default function () {}\n", "open()"),
    ] {
        match sim(script, 1) {
            Err(e @ RunError::Script(_)) => {
                assert_eq!(e.exit_code(), exit::SCRIPT_EXCEPTION);
                assert!(e.to_string().contains(needle), "{needle}: {e}");
            }
            other => panic!("{needle}: expected a script error, got {other:?}"),
        }
    }
}

#[test]
fn invalid_options_and_thresholds_are_clear() {
    let e = sim("export const options = { thresholds: { http_req_duration: ['p95<1'] } };\nexport default function () {}\n", 1).unwrap_err();
    assert!(e.to_string().contains("p95<1"), "{e}");
    let e = sim("export const options = { thresholds: { http_reqs: ['p(95)<1'] } };\nexport default function () {}\n", 1).unwrap_err();
    assert!(
        e.to_string()
            .contains("counter metrics support count and rate"),
        "{e}"
    );
    let e = sim("export const options = { thresholds: { nosuch: ['count>1'] } };\nexport default function () {}\n", 1).unwrap_err();
    assert!(e.to_string().contains("nosuch"), "{e}");
    let e = sim(
        "export const options = { duration: 'forever' };\nexport default function () {}\n",
        1,
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), exit::INVALID_CONFIG);
}

#[test]
fn abort_exits_108() {
    let s = sim("import exec from 'k6/execution';\nexport const options = { vus: 1, iterations: 5 };\nexport default function () { if (__ITER == 2) exec.test.abort('enough'); }\n", 1).unwrap();
    assert_eq!(s.exit_code, exit::SCRIPT_ABORTED);
    assert_eq!(s.aborted.as_deref(), Some("enough"));
}

#[test]
fn ramping_arrival_rate_and_scenario_regression() {
    let script = r#"
import http from 'k6/http';
export const options = {
  scenarios: { ramp: { executor: 'ramping-arrival-rate', startRate: 0, timeUnit: '1s', preAllocatedVUs: 5, maxVUs: 50,
    stages: [{ duration: '30s', target: 20 }, { duration: '60s', target: 20 }] } },
};
export default function () {
  http.post('http://localhost:3333/api/pizza', '{}', { headers: { Authorization: 'token abcdef0123456789' }, tags: { name: 'pizza' } });
}
"#;
    let base = sim_with(script, 5, "baseline", Limits::default()).unwrap();
    // integral of the rate: 30s ramp to 20/s (300) + 60s at 20/s (1200)
    assert_eq!(metric(&base, "iterations", "count"), 1500.0);
    let v2 = sim_with(script, 5, "v2-regression", Limits::default()).unwrap();
    assert!(
        metric(&v2, "http_req_duration", "p(95)")
            > 2.0 * metric(&base, "http_req_duration", "p(95)")
    );
    let last = v2.scrapes.last().unwrap();
    assert!(last.text.contains("toy_build_info{version=\"v2\"} 1"));
}

#[test]
fn abort_on_fail_stops_early_with_99() {
    let s = sim("import http from 'k6/http';\nexport const options = { vus: 1, duration: '1m', thresholds: { http_req_duration: [{ threshold: 'max<0', abortOnFail: true, delayAbortEval: '2s' }] } };\nexport default function () { http.get('http://localhost:3333/api/quotes'); }\n", 1).unwrap();
    assert_eq!(s.exit_code, exit::THRESHOLDS_CROSSED);
    assert!(s.duration < 10.0, "{}", s.duration);
    assert!(
        s.aborted.as_deref().unwrap_or("").contains("abortOnFail"),
        "{:?}",
        s.aborted
    );
}

#[test]
fn k6_utils_jslib_is_built_in() {
    let script = "import { randomIntBetween, randomItem, randomString, uuidv4 } from 'https://jslib.k6.io/k6-utils/1.4.0/index.js';\nimport { check } from 'k6';\nexport default function () { const n = randomIntBetween(1, 3); check(n, { 'in range': (n) => n >= 1 && n <= 3 }); check(randomItem(['a']), { item: (x) => x === 'a' }); check(randomString(8), { len: (s) => s.length === 8 }); check(uuidv4(), { uuid: (u) => /^[0-9a-f-]{36}$/.test(u) }); }\n";
    let s = sim(script, 1).unwrap();
    assert_eq!(metric(&s, "checks", "fails"), 0.0, "{:?}", s.logs);
    assert_eq!(metric(&s, "checks", "passes"), 4.0);
}

#[test]
fn inspect_validates_without_running() {
    let cfg = lab_engine::RunConfig::default();
    let plan = lab_engine::runner::inspect(WORKSHOP, &cfg).unwrap();
    assert_eq!(plan.scheduled(), 20.0);
    let header = lab_engine::runner::describe(&plan);
    assert!(header.contains("1 scenario, 5 max VUs"), "{header}");
    assert!(
        header.contains("ramping-vus") || header.contains("looping VUs"),
        "{header}"
    );
    let e = lab_engine::runner::inspect("export default function () { http.get( ; }", &cfg)
        .unwrap_err();
    assert_eq!(e.exit_code(), exit::SCRIPT_EXCEPTION);
}

#[test]
fn scenarios_show_in_the_scraped_storage_metrics() {
    let script = "import http from 'k6/http';\nimport { sleep } from 'k6';\nexport const options = { vus: 20, duration: '2m' };\nexport default function () { http.get('http://localhost:3333/api/doughs'); sleep(0.5); }\n";
    let value = |text: &str, series: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let hot = sim_with(script, 2, "hot-partition", Limits::default()).unwrap();
    let last = &hot.scrapes.last().unwrap().text;
    let hits = |sh: &str| {
        value(last, &format!("scylla_cache_row_hits{{shard=\"{sh}\"}}"))
            + value(last, &format!("scylla_cache_row_misses{{shard=\"{sh}\"}}"))
    };
    assert!(
        hits("2") > 2.0 * hits("1"),
        "shard 2 should be hot: {} vs {}",
        hits("2"),
        hits("1")
    );
    let storm = sim_with(script, 2, "compaction-storm", Limits::default()).unwrap();
    let during = storm.scrapes.iter().find(|s| s.t >= 80.0).unwrap();
    assert!(
        value(
            &during.text,
            "scylla_compaction_manager_backlog{shard=\"0\"}"
        ) > 1e6,
        "{}",
        during.t
    );
    let base = sim_with(script, 2, "baseline", Limits::default()).unwrap();
    let b = base.scrapes.iter().find(|s| s.t >= 80.0).unwrap();
    assert!(value(&b.text, "scylla_compaction_manager_backlog{shard=\"0\"}") < 1e6);
    assert!(
        metric(&storm, "http_req_duration", "p(95)") > metric(&base, "http_req_duration", "p(95)")
    );
    // Scrapes are time-stamped every 5 seconds of run time.
    assert_eq!(base.scrapes[1].t - base.scrapes[0].t, 5.0);
}

#[test]
fn date_follows_the_simulated_clock() {
    let script = "import { sleep, check } from 'k6';\nimport { Trend } from 'k6/metrics';\nconst t = new Trend('stamp');\nexport const options = { iterations: 2 };\nexport default function () { const a = Date.now(); sleep(2); const b = new Date().getTime(); check(b - a, { two_seconds: (d) => d >= 1999 && d <= 2001 }); t.add(a % 100000); }\n";
    let a = sim(script, 1).unwrap();
    assert_eq!(metric(&a, "checks", "passes"), 2.0, "{:?}", a.logs);
    assert_eq!(a.export_json(), sim(script, 1).unwrap().export_json());
}

#[test]
fn responses_keep_their_own_fields_whichever_url_came_before() {
    // The runner is told a request's URL only when it differs from the last
    // one: alternating, repeating and failing URLs must each answer for themselves.
    let script = r#"
import http from 'k6/http';
import { check } from 'k6';
import { Trend } from 'k6/metrics';
const d = new Trend('seen_duration', true);
export const options = { iterations: 3 };
const B = 'http://localhost:3333';
export default function () {
  const q1 = http.get(`${B}/api/quotes`);
  const q2 = http.get(`${B}/api/quotes`);
  const root = http.get(B + '/');
  const off = http.get('http://example.com/');
  const sec = http.get('https://localhost:3333/');
  const q3 = http.head(`${B}/api/quotes`);
  const p = http.post(`${B}/api/quotes`, 'x', { headers: { 'X-A': '1' } });
  const q4 = http.get(`${B}/api/quotes`);
  for (const r of [q1, q2, root, q3, p, q4]) {
    const t = r.timings;
    d.add(t.duration);
    check(r, {
      duration_is_the_phases: () => Math.abs(t.duration - (t.sending + t.waiting + t.receiving)) < 1e-9,
      content_length: () => r.status !== 200 || r.headers['Content-Length'] === String(r.body.length),
    });
  }
  check(null, {
    urls: () => [q1, q2, root, off, q3, p, q4].map((r) => r.url).join(' ') === `${B}/api/quotes ${B}/api/quotes ${B}/ http://example.com/ ${B}/api/quotes ${B}/api/quotes ${B}/api/quotes`,
    quotes: () => q1.status === 200 && q1.body === q2.body && q4.body === q1.body && q1.body.includes('"quotes"'),
    root_differs: () => root.status === 200 && root.body !== q1.body,
    off_failed: () => off.status === 0 && off.error_code === 1100 && off.error.includes('not reachable') && off.timings.duration === 0,
    https_refused: () => sec.status === 0 && sec.error_code === 1000 && sec.url === 'https://localhost:3333/',
    methods: () => q3.request.method === 'HEAD' && p.request.method === 'POST' && p.request.headers['X-A'] === '1' && q4.request.method === 'GET',
  });
}
"#;
    let s = sim(script, 3).unwrap();
    assert_eq!(metric(&s, "checks", "fails"), 0.0, "{:?}", s.logs);
    assert_eq!(metric(&s, "checks", "passes"), 3.0 * (12.0 + 6.0));
    assert_eq!(metric(&s, "http_reqs", "count"), 3.0 * 8.0);
}
