//! The simulated clock on several threads: the lanes decide the result, the
//! threads only how fast it comes, so one thread and two give the same bytes.

use crate::common::{metric, sim_threads};
use lab_engine::runner::exit;

/// Everything a run reports that must not depend on threads.
fn fingerprint(s: &lab_engine::runner::RunSummary) -> String {
    let scrapes: Vec<&str> = s.scrapes.iter().map(|x| x.text.as_str()).collect();
    format!(
        "{}\n{}\n{:?}\n{:?}\n{}\n{:?}\n{}",
        s.export_json(),
        s.exit_code,
        s.series,
        s.logs,
        s.text,
        s.aborted,
        scrapes.join("\n")
    )
}

fn same_with_one_and_two_threads(script: &str, scenario: &str) -> lab_engine::runner::RunSummary {
    let one = sim_threads(script, 11, scenario, 1).unwrap();
    let two = sim_threads(script, 11, scenario, 2).unwrap();
    let again = sim_threads(script, 11, scenario, 2).unwrap();
    assert_eq!(fingerprint(&one), fingerprint(&two), "1 thread vs 2");
    assert_eq!(fingerprint(&two), fingerprint(&again), "2 threads twice");
    two
}

#[test]
fn constant_vus_with_checks_groups_and_custom_metrics() {
    let script = r#"
import http from 'k6/http';
import { check, group, sleep } from 'k6';
import exec from 'k6/execution';
import { Counter, Gauge, Trend } from 'k6/metrics';
const quotes = new Counter('quotes');
const last = new Gauge('last_vu');
const t = new Trend('quote_time', true);
export const options = {
  vus: 9,
  duration: '20s',
  thresholds: { 'http_req_duration{name:quotes}': ['p(95)<5000'], checks: ['rate==1'] },
};
export default function () {
  group('catalog', () => {
    const r = http.get('http://localhost:3333/api/quotes', { tags: { name: 'quotes' } });
    check(r, { ok: (r) => r.status === 200, json: (r) => r.json('quotes').length > 0 });
    t.add(r.timings.duration);
  });
  quotes.add(1);
  last.add(exec.vu.idInTest);
  if (Math.random() < 0.01) console.log(`vu ${__VU} iter ${__ITER} at ${Date.now()}`);
  sleep(Math.random());
}
"#;
    let s = same_with_one_and_two_threads(script, "baseline");
    assert_eq!(s.exit_code, exit::OK, "{:?}", s.logs);
    assert!(metric(&s, "http_reqs", "count") > 100.0);
    assert_eq!(
        metric(&s, "quotes", "count"),
        metric(&s, "http_reqs", "count")
    );
    assert_eq!(metric(&s, "checks", "fails"), 0.0);
    assert!(s.series.iter().any(|p| p.vus == 9), "{:?}", s.series);
}

#[test]
fn ramping_shared_arrival_and_per_vu_scenarios_together() {
    let script = r#"
import http from 'k6/http';
import { check, sleep } from 'k6';
export const options = {
  scenarios: {
    ramp: { executor: 'ramping-vus', startVUs: 1, stages: [{ duration: '5s', target: 6 }, { duration: '5s', target: 0 }] },
    each: { executor: 'per-vu-iterations', vus: 3, iterations: 4, startTime: '2s' },
    shared: { executor: 'shared-iterations', vus: 2, iterations: 10 },
    rate: { executor: 'constant-arrival-rate', rate: 5, timeUnit: '1s', duration: '6s', preAllocatedVUs: 2, maxVUs: 3 },
  },
};
export function setup() { return { t: 'abcdef0123456789' }; }
export default function (d) {
  const r = http.post('http://localhost:3333/api/pizza', '{}', { headers: { Authorization: `token ${d.t}` } });
  check(r, { 'pizza': (r) => r.status === 200 });
  sleep(0.3);
}
export function teardown(d) { console.log('done', d.t); }
"#;
    let s = same_with_one_and_two_threads(script, "small-pool");
    assert_eq!(s.exit_code, exit::OK, "{:?}", s.logs);
    assert!(metric(&s, "iterations", "count") >= 12.0 + 10.0);
}

#[test]
fn aborts_stop_every_lane_the_same_way() {
    let script = r#"
import http from 'k6/http';
import exec from 'k6/execution';
export const options = { vus: 4, duration: '30s' };
export default function () {
  http.get('http://localhost:3333/api/doughs');
  if (__VU === 2 && __ITER === 200) exec.test.abort('enough');
}
"#;
    let s = same_with_one_and_two_threads(script, "baseline");
    assert_eq!(s.exit_code, exit::SCRIPT_ABORTED);
    assert!(s.duration < 30.0, "{}", s.duration);
    let crossing = r#"
import http from 'k6/http';
export const options = {
  vus: 6,
  duration: '30s',
  thresholds: { http_req_failed: [{ threshold: 'rate<0.01', abortOnFail: true }] },
};
export default function () { http.get('http://localhost:3333/nope'); }
"#;
    let s = same_with_one_and_two_threads(crossing, "baseline");
    assert_eq!(s.exit_code, exit::THRESHOLDS_CROSSED);
    assert!(s.duration < 5.0, "{}", s.duration);
}

#[test]
fn lanes_see_each_others_load_on_a_small_pool() {
    // The pool's queueing comes from concurrency across all VUs: with the VUs
    // split over lanes, each lane still feels the others.
    let script = |vus: u32| {
        format!("import http from 'k6/http';\nexport const options = {{ vus: {vus}, duration: '20s' }};\nexport default function () {{ http.get('http://localhost:3333/api/quotes'); }}\n")
    };
    let few = sim_threads(&script(2), 3, "small-pool", 2).unwrap();
    let many = sim_threads(&script(8), 3, "small-pool", 2).unwrap();
    let p95 = |s| metric(s, "http_req_duration", "p(95)");
    assert!(
        p95(&many) > 1.5 * p95(&few),
        "{} vs {}",
        p95(&many),
        p95(&few)
    );
}

#[test]
fn a_panicking_progress_callback_does_not_strand_the_workers() {
    let script = "import http from 'k6/http';\nexport const options = { vus: 4, duration: '5s' };\nexport default function () { http.get('http://localhost:3333/'); }\n";
    let cfg = lab_engine::runner::RunConfig {
        threads: 2,
        ..lab_engine::runner::RunConfig::default()
    };
    let r = std::panic::catch_unwind(|| {
        lab_engine::runner::run_sim_blocking(script, &cfg, |p| {
            assert!(p.elapsed < 2.0, "the caller's callback gave up");
        })
    });
    assert!(r.is_err());
}

#[test]
fn the_request_budget_holds_across_lanes() {
    let script = "import http from 'k6/http';\nexport const options = { vus: 6, duration: '1m' };\nexport default function () { http.get('http://localhost:3333/'); }\n";
    for (max, threads) in [(100u64, 1usize), (100, 2), (10_000, 2)] {
        let cfg = lab_engine::runner::RunConfig {
            threads,
            limits: lab_engine::runner::Limits {
                max_requests: max,
                ..lab_engine::runner::Limits::default()
            },
            ..lab_engine::runner::RunConfig::default()
        };
        let s = lab_engine::runner::run_sim_blocking(script, &cfg, |_| {}).unwrap();
        let sent = metric(&s, "http_reqs", "count");
        assert!(
            sent <= max as f64 && sent >= max as f64 * 0.9,
            "{sent} of {max}"
        );
        assert_eq!(s.exit_code, exit::SCRIPT_ABORTED, "{:?}", s.aborted);
        assert!(s.aborted.unwrap_or_default().contains("request budget"));
    }
}
