//! Hostile scripts are contained with a clear message and the host stays healthy.

use crate::common::{live, metric, sim, sim_with};
use lab_engine::runner::{exit, Limits, RunError};

fn tight() -> Limits {
    Limits {
        call_seconds: 0.5,
        heap_bytes: 16 << 20,
        ..Limits::default()
    }
}

fn expect_contained(r: Result<lab_engine::runner::RunSummary, RunError>, needle: &str) {
    let text = match r {
        Ok(s) => {
            assert_ne!(s.exit_code, exit::OK, "{needle}: the run should not pass");
            format!("{:?} {:?}", s.aborted, s.logs)
        }
        Err(e) => e.to_string(),
    };
    assert!(
        text.to_lowercase().contains(&needle.to_lowercase()),
        "{needle}: {text}"
    );
}

#[test]
fn infinite_loop_in_default() {
    expect_contained(
        sim_with(
            "export default function () { while (true) {} }\n",
            1,
            "baseline",
            tight(),
        ),
        "infinite loop",
    );
}

#[test]
fn infinite_loop_in_init() {
    expect_contained(
        sim_with(
            "while (true) {}\nexport default function () {}\n",
            1,
            "baseline",
            tight(),
        ),
        "infinite loop",
    );
}

#[test]
fn allocation_bomb() {
    let r = sim_with("export default function () { const a = []; while (true) { a.push(new Array(100000).fill('x')); } }\n", 1, "baseline", tight());
    let text = match r {
        Ok(s) => format!("{:?} {:?}", s.aborted, s.logs),
        Err(e) => e.to_string(),
    };
    assert!(
        text.contains("out of memory") || text.contains("infinite loop"),
        "{text}"
    );
}

#[test]
fn deep_recursion() {
    let s = sim_with(
        "function f(n) { return f(n + 1) + 1; }\nexport default function () { f(0); }\n",
        1,
        "baseline",
        // A generous time budget: the stack must run out first, even on a busy machine.
        Limits {
            call_seconds: 5.0,
            ..tight()
        },
    )
    .unwrap();
    assert!(
        s.logs.iter().any(|l| l.contains("stack overflow")
            || l.contains("RangeError")
            || l.contains("InternalError")),
        "{:?}",
        s.logs
    );
    assert_eq!(metric(&s, "iterations", "count"), 0.0);
}

#[test]
fn a_hundred_thousand_vus() {
    let e = sim(
        "export const options = { vus: 100000, duration: '1m' };\nexport default function () {}\n",
        1,
    )
    .unwrap_err();
    assert!(matches!(e, RunError::Sandbox(_)), "{e}");
    assert!(e.to_string().contains("100000"));
}

#[test]
fn external_url_never_leaves() {
    let s = sim("import http from 'k6/http';\nimport { check } from 'k6';\nexport default function () { const r = http.get('http://example.com/'); check(r, { blocked: (r) => r.status === 0 && r.error.includes('sandbox') }); }\n", 1).unwrap();
    assert_eq!(metric(&s, "checks", "passes"), 1.0);
    assert_eq!(metric(&s, "http_req_failed", "passes"), 1.0);
    let s = sim("import http from 'k6/http';\nexport default function () { http.get('http://10.0.0.1:3333/'); http.get('http://127.0.0.1:22/'); }\n", 1).unwrap();
    assert_eq!(metric(&s, "http_req_failed", "passes"), 2.0);
}

#[test]
fn catastrophic_regex() {
    let r = sim_with(
        "export default function () { /^(a+)+$/.test('a'.repeat(40) + 'b'); }\n",
        1,
        "baseline",
        tight(),
    );
    expect_contained(r, "infinite loop");
}

#[test]
fn never_returning_default_is_interrupted_at_the_end() {
    let s = sim("import { sleep } from 'k6';\nexport const options = { vus: 2, duration: '10s' };\nexport default function () { while (true) { sleep(1); } }\n", 1).unwrap();
    assert_eq!(s.exit_code, exit::OK);
    assert!(s.duration <= 41.0, "{}", s.duration);
    assert_eq!(metric(&s, "iterations", "count"), 0.0);
}

#[test]
fn cancellation_stops_a_run() {
    let cfg = lab_engine::RunConfig::default();
    let cancel = cfg.cancel.clone();
    let mut n = 0;
    let s = lab_engine::runner::run_sim_blocking("import { sleep } from 'k6';\nexport const options = { vus: 1, duration: '1h' };\nexport default function () { sleep(1); }\n", &cfg, |_| {
        n += 1;
        if n == 5 {
            cancel.cancel();
        }
    })
    .unwrap();
    assert_eq!(s.exit_code, exit::EXTERNAL_ABORT);
    assert!(s.duration < 60.0, "{}", s.duration);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_infinite_loop_is_stopped() {
    expect_contained(live("export const options = { vus: 1, iterations: 1 };\nexport default function () { for (;;) {} }\n", tight()).await, "infinite loop");
}

#[test]
fn heap_is_shared_among_many_vus_and_huge_scripts_are_refused() {
    let l = Limits::default().for_vus(1000);
    assert!(l.heap_bytes <= (4 << 20).max(Limits::default().total_heap_bytes / 1000));
    let big = format!(
        "// {}\nexport default function () {{}}\n",
        "x".repeat(2 << 20)
    );
    assert!(matches!(sim(&big, 1), Err(RunError::Sandbox(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_live_is_not_mistaken_for_a_busy_loop() {
    // sleep and HTTP waits do not count against the per-call CPU budget: the
    // sleeps add up to more than the budget, which leaves room for a busy machine.
    let limits = Limits {
        call_seconds: 2.0,
        ..tight()
    };
    let s = live("import http from 'k6/http';\nimport { sleep } from 'k6';\nexport const options = { vus: 1, iterations: 1 };\nexport default function () { sleep(1.5); http.get(`${__ENV.BASE_URL}/`); sleep(1.5); }\n", limits).await.unwrap();
    assert_eq!(s.exit_code, exit::OK, "{:?} {:?}", s.aborted, s.logs);
    assert_eq!(metric(&s, "iterations", "count"), 1.0);
}

#[test]
fn huge_responses_are_cut_to_the_kept_body_budget() {
    let limits = Limits {
        max_body_bytes: 16,
        ..Limits::default()
    };
    let s = sim_with("import http from 'k6/http';\nimport { check } from 'k6';\nexport default function () { const r = http.get('http://localhost:3333/'); check(r, { cut: (r) => r.body.length === 16 }); }\n", 1, "baseline", limits).unwrap();
    assert_eq!(metric(&s, "checks", "passes"), 1.0, "{:?}", s.logs);
    assert!(metric(&s, "data_received", "count") > 100.0);
}
