//! Hostile queries end with a clear error, never a crash or a runaway.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use slo_toolkit::promql::{
    instant_query, instant_query_with, parse, parse_with, range_query, range_query_with, Engine,
    QueryContext, QueryError, QueryLimits, QueryOptions, Storage, Value,
};

/// Runs `f` on a thread with a 256 KiB stack: if anything recursed with the
/// size of the query, the process would abort here.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("thread starts")
        .join()
        .expect("no panic")
}

/// One counter scraped every 15 s for an hour.
fn storage() -> Storage {
    let mut s = Storage::new();
    let lines: Vec<String> = (0..=240)
        .map(|i| {
            format!(
                "http_requests_total{{job=\"api\"}} {} {}",
                i * 10,
                i * 15_000
            )
        })
        .collect();
    s.load_timestamped(&lines.join("\n"), 0).expect("loads");
    s
}

fn limit_message(r: Result<Value, QueryError>) -> String {
    match r {
        Err(e @ QueryError::Limit(_)) => e.to_string(),
        other => panic!("expected a limit error, got {other:?}"),
    }
}

/// No timeout: these tests must not depend on how fast the machine is.
fn untimed() -> QueryLimits {
    QueryLimits {
        timeout: None,
        ..QueryLimits::default()
    }
}

#[test]
fn forty_kilobytes_of_one_plus_one_is_refused_without_overflowing() {
    let chain = format!("1{}", "+1".repeat(20_000));
    assert!(chain.len() > 40_000);
    let (by_size, by_depth, parsed) = on_small_stack(move || {
        let s = Storage::new();
        let by_size = instant_query(&s, &chain, 0);
        // With the size limit lifted, the nesting check still stops it
        // before the parser builds (and recurses over) a 20,000-deep tree.
        let roomy = QueryLimits {
            max_query_bytes: 1 << 20,
            ..untimed()
        };
        let by_depth = instant_query_with(&s, &chain, 0, &QueryContext::new(roomy));
        let parsed = parse(&chain).map(|_| ());
        (by_size, by_depth, parsed)
    });
    assert_eq!(
        limit_message(by_size),
        "the query is 40,001 bytes long; the limit is 16,384 bytes"
    );
    assert_eq!(
        limit_message(by_depth),
        "the query nests 20,001 levels deep; the limit is 200"
    );
    assert!(matches!(parsed, Err(QueryError::Limit(_))));
}

#[test]
fn deep_parentheses_and_signs_are_refused_without_overflowing() {
    let roomy = QueryLimits {
        max_query_bytes: 1 << 20,
        ..untimed()
    };
    let queries = [
        format!("{}1{}", "(".repeat(50_000), ")".repeat(50_000)),
        format!("{}1", "-".repeat(50_000)),
        format!("{}x{}", "abs(".repeat(10_000), ")".repeat(10_000)),
        format!("{}x", "x ^ ".repeat(10_000)),
        // Unbalanced: the parser would report it, but must not see it first.
        "(".repeat(50_000),
    ];
    let errors = on_small_stack(move || {
        queries
            .iter()
            .map(|q| parse_with(q, &roomy).map(|_| ()))
            .collect::<Vec<_>>()
    });
    for e in errors {
        match e {
            Err(QueryError::Limit(m)) => {
                assert!(m.contains("levels deep; the limit is 200"), "{m}")
            }
            other => panic!("expected a depth error, got {other:?}"),
        }
    }
}

#[test]
fn queries_at_the_depth_limit_still_run() {
    let s = storage();
    let q = format!(
        "{}http_requests_total{}",
        "abs(".repeat(150),
        ")".repeat(150)
    );
    let v = instant_query_with(&s, &q, 3_600_000, &QueryContext::new(untimed())).expect("runs");
    assert!(matches!(v, Value::Vector(ref els) if els.len() == 1));
    let sum = vec!["http_requests_total"; 190].join(" + ");
    assert!(instant_query_with(&s, &sum, 3_600_000, &QueryContext::new(untimed())).is_ok());
}

#[test]
fn the_evaluator_checks_the_depth_of_a_tree_it_is_handed() {
    let s = Storage::new();
    let deep = QueryLimits {
        max_depth: 400,
        ..untimed()
    };
    let q = format!("{}1{}", "(".repeat(300), ")".repeat(300));
    let expr = parse_with(&q, &deep).expect("parses under a raised limit");
    let r = Engine::new(&s, QueryOptions::default(), 0, 0).eval_instant(&expr, 0);
    assert_eq!(
        limit_message(r),
        "the query nests 301 levels deep; the limit is 200"
    );
}

#[test]
fn a_month_of_millisecond_subquery_steps_is_refused_before_any_work() {
    let r = on_small_stack(|| {
        instant_query_with(
            &Storage::new(),
            "count_over_time(vector(1)[30d:1ms])",
            0,
            &QueryContext::new(untimed()),
        )
    });
    let m = limit_message(r);
    assert!(
        m.contains("exceeded maximum resolution of 11,000 points per timeseries"),
        "{m}"
    );
    assert!(m.contains("[30d:1ms]"), "{m}");
    // An hour at a millisecond is refused the same way.
    let r = instant_query(&Storage::new(), "count_over_time(vector(1)[1h:1ms])", 0);
    assert!(limit_message(r).contains("11,000 points"));
    // A subquery within the limit runs.
    let ok = instant_query(&Storage::new(), "count_over_time(vector(1)[1h:1s])", 0);
    assert!(
        matches!(ok, Ok(Value::Vector(ref els)) if els.len() == 1),
        "{ok:?}"
    );
}

#[test]
fn range_queries_have_prometheus_points_limit() {
    let s = storage();
    let r = range_query(&s, "http_requests_total", 0, 3_600_000_000, 1000);
    assert_eq!(
        limit_message(r),
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
    // 11,000 steps exactly is allowed, as in Prometheus.
    assert!(range_query(&s, "1", 0, 11_000_000, 1000).is_ok());
}

#[test]
fn too_many_samples_is_refused_with_prometheus_wording() {
    let s = storage();
    let small = QueryContext::new(QueryLimits {
        max_samples: 100,
        ..untimed()
    });
    let want = "query processing would load too many samples into memory in query execution (the limit is 100 samples)";
    // A range selector loading 241 points.
    let r = instant_query_with(
        &s,
        "count_over_time(http_requests_total[1h])",
        3_600_000,
        &small,
    );
    assert_eq!(limit_message(r), want);
    // A subquery gathering 241 points.
    let r = instant_query_with(&s, "max_over_time(vector(1)[1h:15s])", 3_600_000, &small);
    assert_eq!(limit_message(r), want);
    // A range query whose result holds 241 points.
    let r = range_query_with(&s, "http_requests_total", 0, 3_600_000, 15_000, &small);
    assert_eq!(limit_message(r), want);
    // What the operands held is let go once they are combined: 50 steps of
    // a 20-point range each stay under 100.
    let r = range_query_with(
        &s,
        "count_over_time(http_requests_total[5m])",
        0,
        3_600_000,
        72_000,
        &small,
    );
    assert!(r.is_ok(), "{r:?}");
    // The default limit is far above what labs need.
    assert!(instant_query(&s, "count_over_time(http_requests_total[1h])", 3_600_000).is_ok());
}

#[test]
fn a_cancelled_query_stops() {
    let s = Storage::new();
    // Over a hundred million inner evaluations if nothing stopped it.
    let long = "count_over_time(count_over_time(vector(1)[3h:1s])[3h:1s])";
    let checks = AtomicUsize::new(0);
    let cancel = || checks.fetch_add(1, Ordering::Relaxed) >= 3;
    let ctx = QueryContext::new(untimed()).with_cancel(&cancel);
    let r = instant_query_with(&s, long, 0, &ctx);
    assert_eq!(r, Err(QueryError::Cancelled));
    assert_eq!(QueryError::Cancelled.to_string(), "query cancelled");
    assert!(checks.load(Ordering::Relaxed) >= 4);

    // A flag set before the query starts stops it before any work.
    let flag = AtomicBool::new(true);
    let cancel = || flag.load(Ordering::Relaxed);
    let ctx = QueryContext::new(untimed()).with_cancel(&cancel);
    assert_eq!(
        range_query_with(&s, "1", 0, 1000, 1000, &ctx),
        Err(QueryError::Cancelled)
    );

    // The same from another thread, as the grader's token does.
    let flag = AtomicBool::new(false);
    let cancel = || flag.load(Ordering::Relaxed);
    std::thread::scope(|scope| {
        let ctx = QueryContext::new(untimed()).with_cancel(&cancel);
        let query = scope.spawn(move || instant_query_with(&s, long, 0, &ctx));
        flag.store(true, Ordering::Relaxed);
        assert_eq!(query.join().expect("no panic"), Err(QueryError::Cancelled));
    });
}

#[test]
fn a_deadline_in_the_past_stops_the_query() {
    let s = storage();
    let ctx = QueryContext::new(untimed()).with_deadline(Instant::now());
    let r = instant_query_with(&s, "http_requests_total", 3_600_000, &ctx);
    assert!(matches!(r, Err(QueryError::Timeout(_))), "{r:?}");
    assert!(r
        .expect_err("timed out")
        .to_string()
        .starts_with("query timed out after"));
    // A zero timeout likewise.
    let ctx = QueryContext::new(QueryLimits {
        timeout: Some(Duration::ZERO),
        ..QueryLimits::default()
    });
    let r = range_query_with(&s, "1", 0, 60_000, 15_000, &ctx);
    assert_eq!(r, Err(QueryError::Timeout(Duration::ZERO)));
    assert_eq!(
        QueryError::Timeout(Duration::from_secs(10)).to_string(),
        "query timed out after 10 s"
    );
}

#[test]
fn defaults_are_documented_values() {
    let d = QueryLimits::default();
    assert_eq!(d.max_query_bytes, 16 * 1024);
    assert_eq!(d.max_depth, 200);
    assert_eq!(d.max_samples, 5_000_000);
    assert_eq!(d.max_points_per_series, 11_000);
    assert_eq!(d.timeout, Some(Duration::from_secs(10)));
}
