//! What one learner's run can grow is bounded: the toy service labels its
//! metrics by route, not by path, and a run's metric series, kept samples
//! and scrapes have limits that end it with a message saying what to change.

use crate::common::{live, metric};
use lab_engine::runner::{exit, run_sim_blocking, Limits, RunConfig, RunSummary};

/// Runs a script on the simulated clock (one thread, so a run that reaches
/// a limit stops at the same sample every time) with these limits.
fn sim_limited(script: &str, limits: Limits) -> RunSummary {
    let cfg = RunConfig {
        seed: 3,
        limits,
        threads: 1,
        ..RunConfig::default()
    };
    run_sim_blocking(script, &cfg, |_| {}).expect("the run produces a summary")
}

/// The lines of the last scrape of the run whose metric is `name`.
fn last_scrape_lines<'a>(s: &'a RunSummary, name: &str) -> Vec<&'a str> {
    let last = s.scrapes.last().expect("a scrape");
    last.text
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .collect()
}

/// Asserts the run ended because of a limit, with `needle` in its reason.
fn ended_by_limit(s: &RunSummary, needle: &str) {
    assert_eq!(
        s.exit_code,
        exit::SCRIPT_ABORTED,
        "{:?} {:?}",
        s.aborted,
        s.logs
    );
    let why = s.aborted.as_deref().unwrap_or_default();
    assert!(why.contains(needle), "{why}");
    // The reason is said once, not once per VU or iteration.
    assert!(
        !s.logs.iter().any(|l| l.contains("reached its limit")),
        "{:?}",
        s.logs
    );
}

/// A lab-01-sized load test asking for unique paths: thousands of distinct
/// paths, a handful of series.
const UNIQUE_PATHS: &str = r#"
import http from 'k6/http';
export const options = { vus: 10, duration: '30s' };
export default function () {
  const id = `${__VU}-${__ITER}-${Math.random().toString(36).slice(2)}`;
  http.get(`${__ENV.BASE_URL}/api/ingredients/${id}`);
  http.get(`${__ENV.BASE_URL}/no/such/route/${id}`);
  http.get(`${__ENV.BASE_URL}/api/ingredients/topping`);
}
"#;

#[test]
fn unique_paths_make_a_few_route_series_and_the_run_completes() {
    let s = sim_limited(UNIQUE_PATHS, Limits::default());
    assert_eq!(s.exit_code, exit::OK, "{:?} {:?}", s.aborted, s.logs);
    let requests = metric(&s, "http_reqs", "count");
    assert!(requests > 20_000.0, "{requests} requests");
    let counters = last_scrape_lines(&s, "http_requests_total");
    let (labels, counts): (Vec<&str>, Vec<f64>) = counters
        .iter()
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(labels, v)| (labels, v.parse::<f64>().unwrap_or(f64::NAN)))
        .unzip();
    // Unknown ingredients (400), known ones (200) and unknown routes (404).
    assert_eq!(
        labels,
        [
            "http_requests_total{method=\"GET\",path=\"/api/ingredients/{type}\",status=\"200\"}",
            "http_requests_total{method=\"GET\",path=\"/api/ingredients/{type}\",status=\"400\"}",
            "http_requests_total{method=\"GET\",path=\"other\",status=\"404\"}",
        ]
    );
    assert_eq!(counts.iter().sum::<f64>(), requests);
    // Every scrape has the same lines: the exposition does not grow with the paths.
    let sizes: Vec<usize> = s
        .scrapes
        .iter()
        .skip(1)
        .map(|c| c.text.lines().count())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] == w[1]), "{sizes:?}");
    assert!(sizes[0] < 400, "{sizes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_toy_service_labels_unique_paths_by_route() {
    let script = r#"
import http from 'k6/http';
export const options = { vus: 2, iterations: 300 };
export default function () {
  http.get(`${__ENV.BASE_URL}/api/ingredients/x${__VU}-${__ITER}`);
  http.request(`M${__ITER}`, `${__ENV.BASE_URL}/x${__VU}-${__ITER}`);
}
"#;
    let s = live(script, Limits::default()).await.expect("runs");
    assert_eq!(s.exit_code, exit::OK, "{:?} {:?}", s.aborted, s.logs);
    let counters = last_scrape_lines(&s, "http_requests_total");
    assert_eq!(counters.len(), 2, "{counters:?}");
    assert!(
        counters[0].starts_with(
            "http_requests_total{method=\"GET\",path=\"/api/ingredients/{type}\",status=\"400\"}"
        ),
        "{counters:?}"
    );
    // Invented methods and paths share one label each.
    assert!(
        counters[1]
            .starts_with("http_requests_total{method=\"other\",path=\"other\",status=\"404\"}"),
        "{counters:?}"
    );
}

#[test]
fn a_trend_fed_in_a_tight_loop_ends_the_run_at_the_sample_limit() {
    let script = r#"
import { Trend } from 'k6/metrics';
const t = new Trend('my_trend');
export const options = { vus: 2, duration: '10s', summaryTrendStats: ['count', 'max'] };
export default function () {
  for (let i = 0; ; i++) t.add(i);
}
"#;
    let s = sim_limited(
        script,
        Limits {
            max_samples: 200_000,
            ..Limits::default()
        },
    );
    ended_by_limit(&s, "limit of 200,000 kept metric samples");
    let kept = s.data["metrics"]["my_trend"]["values"]["count"]
        .as_f64()
        .expect("the trend's count");
    // Each lane counts its first few distinct values (they might recur)
    // rather than keeping them: a few more than the budget.
    assert!(
        (150_000.0..=200_000.0 + 2.0 * 64.0).contains(&kept),
        "{kept}"
    );
}

#[test]
fn a_script_that_swallows_the_limit_error_is_stopped_all_the_same() {
    let script = r#"
import { Trend } from 'k6/metrics';
const t = new Trend('my_trend');
export const options = { vus: 1, iterations: 1 };
export default function () {
  for (;;) { try { t.add(Math.random()); } catch (e) { /* keep going */ } }
}
"#;
    let s = sim_limited(
        script,
        Limits {
            max_samples: 50_000,
            ..Limits::default()
        },
    );
    // Stopped by the limit, not by the CPU budget of the call.
    ended_by_limit(&s, "limit of 50,000 kept metric samples");
}

#[test]
fn a_counter_tagged_with_unique_values_ends_the_run_at_the_series_limit() {
    let script = r#"
import { Counter } from 'k6/metrics';
const c = new Counter('my_counter');
export const options = { vus: 2, duration: '10s' };
export default function () {
  for (let i = 0; ; i++) c.add(1, { id: `${__VU}-${__ITER}-${i}` });
}
"#;
    let s = sim_limited(
        script,
        Limits {
            max_series: 1_000,
            ..Limits::default()
        },
    );
    ended_by_limit(&s, "limit of 1,000 metric series (k6 tags make a new series per distinct value: tag by route, not by URL");
    // One sample per admitted series, and no more after the limit.
    let count = metric(&s, "my_counter", "count");
    assert!((900.0..=1_000.0).contains(&count), "{count}");
}

#[test]
fn a_tag_set_used_again_is_the_same_series() {
    let script = r#"
import { Counter, Gauge, Rate } from 'k6/metrics';
const c = new Counter('my_counter');
const g = new Gauge('my_gauge');
const r = new Rate('my_rate');
export const options = { vus: 2, iterations: 200 };
export default function () {
  for (let i = 0; i < 100; i++) {
    c.add(1, i % 2 ? { route: 'pizza', kind: 'a' } : { kind: 'a', route: 'pizza' });
    g.add(i, { route: `r${i % 5}` });
    r.add(i % 2, { route: `r${i % 5}` });
  }
}
"#;
    // 1 + 5 + 5 series, each used again and again: a limit of 11 holds them.
    let s = sim_limited(
        script,
        Limits {
            max_series: 11,
            ..Limits::default()
        },
    );
    assert_eq!(s.exit_code, exit::OK, "{:?}", s.aborted);
    assert_eq!(metric(&s, "my_counter", "count"), 20_000.0);
}

#[test]
fn unique_check_and_group_names_end_the_run_at_the_series_limit() {
    for body in [
        "check(null, { [`ok ${__ITER}`]: () => true });",
        "group(`step ${__ITER}`, () => {});",
    ] {
        let script = format!(
            "import {{ check, group }} from 'k6';\nexport const options = {{ vus: 1, iterations: 5000 }};\nexport default function () {{ {body} }}\n"
        );
        let s = sim_limited(
            &script,
            Limits {
                max_series: 300,
                ..Limits::default()
            },
        );
        ended_by_limit(&s, "limit of 300 metric series");
        let root = &s.data["root_group"];
        let nodes = root["checks"].as_array().map_or(0, Vec::len)
            + root["groups"].as_array().map_or(0, Vec::len);
        assert!((1..=300).contains(&nodes), "{body}: {nodes}");
    }
}

#[test]
fn requests_tagged_with_unique_names_end_the_run_at_the_series_limit() {
    let script = r#"
import http from 'k6/http';
export const options = { vus: 1, iterations: 5000 };
export default function () {
  http.get(`${__ENV.BASE_URL}/api/doughs`, { tags: { name: `doughs ${__ITER}` } });
}
"#;
    let s = sim_limited(
        script,
        Limits {
            max_series: 500,
            ..Limits::default()
        },
    );
    ended_by_limit(&s, "limit of 500 metric series");
    assert!(metric(&s, "http_reqs", "count") <= 501.0);
}

#[test]
fn thresholds_on_too_many_tag_filters_are_refused_before_the_run() {
    let script = r#"
import http from 'k6/http';
const thresholds = {};
for (let i = 0; i < 50; i++) thresholds[`http_req_duration{id:${i}}`] = ['p(95)<500'];
export const options = { vus: 1, iterations: 1, thresholds };
export default function () { http.get(`${__ENV.BASE_URL}/`); }
"#;
    let cfg = RunConfig {
        limits: Limits {
            max_series: 20,
            ..Limits::default()
        },
        ..RunConfig::default()
    };
    let e = run_sim_blocking(script, &cfg, |_| {}).expect_err("refused");
    assert_eq!(e.exit_code(), exit::INVALID_CONFIG);
    assert!(e.to_string().contains("limit of 20 metric series"), "{e}");
}

#[test]
fn request_timings_end_the_run_at_the_sample_limit() {
    let script = r#"
import http from 'k6/http';
export const options = { vus: 4, duration: '5m', summaryTrendStats: ['count'] };
export default function () { http.get(`${__ENV.BASE_URL}/api/quotes`); }
"#;
    let s = sim_limited(
        script,
        Limits {
            max_samples: 80_000,
            ..Limits::default()
        },
    );
    ended_by_limit(&s, "limit of 80,000 kept metric samples");
    // A request keeps its duration, its waiting time and the second's copy
    // of the duration, and its iteration's duration (its other timings
    // recur and are counted): four values, so at most 20,000 requests.
    let timed = s.data["metrics"]["http_req_duration"]["values"]["count"]
        .as_f64()
        .expect("count");
    assert!((10_000.0..=20_200.0).contains(&timed), "{timed}");
    assert!(metric(&s, "http_reqs", "count") >= timed);
    assert!(s.duration < 300.0, "{}", s.duration);
}

#[test]
fn empty_iterations_keep_next_to_nothing() {
    // An empty function's iterations all take the same time: their
    // durations are counted, not kept, so millions fit a small budget.
    let script = r#"
export const options = { vus: 20, duration: '1m', summaryTrendStats: ['count', 'p(95)'] };
export default function () {}
"#;
    let s = sim_limited(
        script,
        Limits {
            max_samples: 10_000,
            ..Limits::default()
        },
    );
    assert_eq!(s.exit_code, exit::OK, "{:?}", s.aborted);
    let values = &s.data["metrics"]["iteration_duration"]["values"];
    let n = values["count"].as_f64().expect("count");
    assert!(n > 1_000_000.0, "{n}");
    let p95 = values["p(95)"].as_f64().expect("p(95)");
    assert!((p95 - 0.5).abs() < 1e-9, "{p95}");
}

#[test]
fn scrapes_end_the_run_at_their_limit() {
    let script = r#"
import http from 'k6/http';
export const options = { vus: 1, duration: '10m' };
export default function () { http.get(`${__ENV.BASE_URL}/api/quotes`); }
"#;
    let s = sim_limited(
        script,
        Limits {
            max_scrape_bytes: 300_000,
            ..Limits::default()
        },
    );
    ended_by_limit(&s, "limit of 300 kB of the toy service's /metrics scrapes");
    let kept: usize = s.scrapes.iter().map(|c| c.text.len()).sum();
    assert!(kept <= 300_000, "{kept}");
    assert!(s.duration < 600.0, "{}", s.duration);
}
