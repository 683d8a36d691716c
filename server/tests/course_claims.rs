//! Every number the course text states about a tool, recomputed by the course's own engines.
//!
//! Each row of [`CLAIMS`] names a module, quotes a fragment of its text, and recomputes what
//! the fragment states: k6 claims run a small script (often the module's own example, taken
//! from its code block) through the k6-compatible runner on the simulated clock; PromQL claims
//! run the query through the PromQL engine over data shaped like the example; burn-rate
//! claims read the SLO rule generator's window table or replay its generated rules; quality-gate
//! claims score the module's `slo.yaml` with the gate engine. A few worked examples are plain
//! arithmetic (queueing theory, fan-out); they are checked here too so the text stays right.
//!
//! The test fails when a fragment is no longer in its module (someone edited the sentence:
//! re-check the claim, then update the row) or when the engine disagrees with the number.
//!
//! | module | quoted fragment (abridged) | computation |
//! |:--|:--|:--|
//! | 02-thresholds-are-slos | "k6 exits with code `99`" | the module's script with a tightened threshold, run in sim |
//! | 06-coordinated-omission-… | "p90 = 25 + 0.1 × (140 − 25) = 36.5 ms" | a k6 Trend of the ten samples, read from the summary |
//! | 02-prometheus-data-model | "`increase(x[1m])` = 90 × 60 / 45 = 120" | `increase(x[1m])` over samples 7 s and 8 s from the edges |
//! | 03-burn-rate-alerts | "over 28 days the four become 13.44, 5.6, 2.8 …" | `slo::burn_windows(28)` |
//! | 04-quality-gates | build B's row of the scoring table (470 ms: fail) | the module's `slo.yaml` scored against a 400 ms baseline |
//!
//! To add a claim: append a row to [`CLAIMS`] with the module's file stem, a fragment copied
//! from the module (whitespace is normalised; keep the number in the fragment), and a check —
//! a closure returning `Ok(())` or what differs. Use the helpers below: [`near`] / [`about`]
//! compare numbers, [`k6`] / [`k6_trend`] / [`k6_plan`] run scripts, [`promql`] / [`empty`]
//! evaluate queries, [`gate`] scores a gate, [`window`] reads the burn-rate table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use lab_engine::runner::{
    inspect, run_sim_blocking, Executor, Limits, Plan, RunConfig, RunSummary,
};
use lab_engine::toy::Scenario;
use slo_toolkit::gate::{Criterion, EvaluationResult, SliFile, SloFile};
use slo_toolkit::promql::{instant_query, promqltest::load_script_data, Labels, Storage, Value};
use slo_toolkit::slo::{burn_windows, generate_rule_file, parse_slo_str, BurnWindow, SloSpec};

const COURSE: &str = "performance-engineering-masterclass";

// Module file stems.
const WHY: &str = "01-why-load-test";
const THRESHOLDS: &str = "02-thresholds-are-slos";
const SCRIPTS: &str = "03-k6-scripts-checks-and-stages";
const EXECUTORS: &str = "04-executors-and-workload-models";
const TEST_TYPES: &str = "05-test-types";
const OMISSION: &str = "06-coordinated-omission-and-percentiles";
const SLIS: &str = "01-slis-in-promql";
const DATA_MODEL: &str = "02-prometheus-data-model";
const BURN: &str = "03-burn-rate-alerts";
const GATES: &str = "04-quality-gates";
const SLOS_AS_CODE: &str = "05-slos-as-code";
const DASHBOARD: &str = "01-reading-a-database-dashboard";
const LATENCY: &str = "03-latency-and-the-sla";
const QUEUES: &str = "04-queues-and-littles-law";
const NOW_BEFORE: &str = "06-now-versus-before";
const TRIAGE: &str = "07-triage-by-priority";
const KPIS: &str = "02-when-kpis-trend-the-wrong-way";

type Check = Result<(), String>;

/// One statement of the course text and how to recompute it.
struct Claim {
    /// The module's file stem.
    module: &'static str,
    /// A fragment of the module's text (whitespace-normalised) that states the number.
    says: &'static str,
    /// Recomputes the number through the engines.
    check: fn() -> Check,
}

const ABORT_SNIPPET: &str = "{ threshold: 'p(95)<500', abortOnFail: true, delayAbortEval: '30s' }";

const CLAIMS: &[Claim] = &[
    // ------------------------------------------------------------ k6 and load testing
    Claim {
        module: WHY,
        says: "rate: 300, // iterations started per timeUnit",
        check: || {
            let script = with_default(&block(WHY, "javascript", "shoppers")).replace("'5m'", "'10s'");
            let plan = k6_plan(&script)?;
            match plan.scenarios[0].executor {
                Executor::ConstantArrivalRate { rate, time_unit, .. } => {
                    near(300.0, rate / time_unit)?
                }
                ref other => return Err(format!("{other:?}")),
            }
            // Ten seconds of it start 3,000 iterations on schedule.
            near(3000.0, stat(&k6(&script)?, "iterations", "count")?)
        },
    },
    Claim {
        module: WHY,
        says: "a page that makes forty requests meets that slow request on a third of its loads",
        check: || about(1.0 / 3.0, 1.0 - 0.99f64.powi(40), 0.01),
    },
    Claim {
        module: THRESHOLDS,
        says: "When a threshold is crossed, k6 exits with code `99`",
        check: || {
            near(0.0, thresholds_run().exit_code.into())?;
            let tight = block(THRESHOLDS, "javascript", "http_req_failed").replace("'p(95)<500'", "'p(95)<1'");
            near(99.0, k6(&tight)?.exit_code.into())
        },
    },
    Claim {
        module: THRESHOLDS,
        says: "A *Trend* such as `http_req_duration` offers `avg`, `min`, `max`, `med` and `p(N)` for any percentile",
        check: || {
            accepts("http_req_duration", &["avg<1", "min<1", "max<1", "med<1", "p(99.9)<1"])?;
            refuses("http_req_duration", "rate<1")
        },
    },
    Claim {
        module: THRESHOLDS,
        says: "a *Rate* such as `http_req_failed` or `checks` offers `rate`, the share of non-zero samples",
        check: || {
            accepts("http_req_failed", &["rate<1"])?;
            accepts("checks", &["rate<1"])?;
            refuses("http_req_failed", "p(95)<1")?;
            let s = k6(HALF_FAILED)?;
            near(0.5, stat(&s, "http_req_failed", "rate")?)
        },
    },
    Claim {
        module: THRESHOLDS,
        says: "a *Counter* such as `http_reqs` offers `count` and `rate` (per second)",
        check: || {
            accepts("http_reqs", &["count<1", "rate<1"])?;
            refuses("http_reqs", "p(95)<1")?;
            let s = thresholds_run();
            near(
                stat(s, "http_reqs", "count")? / s.duration,
                stat(s, "http_reqs", "rate")?,
            )
        },
    },
    Claim {
        module: THRESHOLDS,
        says: "a *Gauge* offers `value`",
        check: || {
            accepts("vus", &["value<1"])?;
            refuses("vus", "avg<1")
        },
    },
    Claim {
        module: THRESHOLDS,
        says: "Several strings in one array must all hold.",
        check: || {
            let one_fails = block(THRESHOLDS, "javascript", "http_req_failed").replace("'p(99)<1500'", "'p(99)<1'");
            let s = k6(&one_fails)?;
            let failed: Vec<&str> = s.thresholds.iter().filter(|t| !t.ok).map(|t| t.expression.as_str()).collect();
            if failed != ["p(99)<1"] {
                return Err(format!("failed thresholds: {failed:?}"));
            }
            near(99.0, s.exit_code.into())
        },
    },
    Claim {
        module: THRESHOLDS,
        says: "Durations are in milliseconds, so `p(95)<500` means half a second.",
        check: || {
            // The baseline scenario's recommendations have a median of 25 ms.
            let med = stat(thresholds_run(), "http_req_duration", "med")?;
            if (12.5..50.0).contains(&med) {
                Ok(())
            } else {
                Err(format!("median {med}, not a number of milliseconds near 25"))
            }
        },
    },
    Claim {
        module: THRESHOLDS,
        says: "By default k6 counts a response as failed when its status is outside 200–399",
        check: || {
            let s = k6(HALF_FAILED)?;
            near(2.0, stat(&s, "http_reqs", "count")?)?;
            near(0.5, stat(&s, "http_req_failed", "rate")?)
        },
    },
    Claim {
        module: THRESHOLDS,
        says: "`http.setResponseCallback(http.expectedStatuses(200, 404))`",
        check: || {
            let script = HALF_FAILED.replace(
                "// callback",
                "http.setResponseCallback(http.expectedStatuses(200, 404));",
            );
            near(0.0, stat(&k6(&script)?, "http_req_failed", "rate")?)
        },
    },
    Claim {
        module: THRESHOLDS,
        says: "Write the threshold for \"fewer than 1 request in 200 fails\"",
        check: || {
            let answer = "http_req_failed: ['rate<0.005']";
            if !normalized(THRESHOLDS).contains(&format!("2. `{answer}`")) {
                return Err("the answer is not `http_req_failed: ['rate<0.005']`".into());
            }
            let e = lab_engine::runner::thresholds::parse_expression("rate<0.005").map_err(|e| e.to_string())?;
            near(1.0 / 200.0, e.value)
        },
    },
    Claim {
        module: THRESHOLDS,
        says: ABORT_SNIPPET,
        check: || {
            // "stops the run as soon as the objective is clearly missed", after the delay.
            let script = format!(
                "import {{ sleep }} from 'k6';\nimport {{ Trend }} from 'k6/metrics';\nconst t = new Trend('t');\n\
                 export const options = {{ vus: 1, duration: '2m', thresholds: {{ t: [{snippet}] }} }};\n\
                 export default function () {{ t.add(1000); sleep(1); }}\n",
                snippet = ABORT_SNIPPET
            );
            let s = k6(&script)?;
            near(99.0, s.exit_code.into())?;
            if !(30.0..35.0).contains(&s.duration) {
                return Err(format!("the run stopped after {} s, not just after 30 s", s.duration));
            }
            Ok(())
        },
    },
    Claim {
        module: THRESHOLDS,
        says: "Any distribution whose mean is under 500 ms, including one where a tenth of the requests take several seconds",
        check: || {
            let mut v = vec![100.0; 90];
            v.extend([3000.0; 10]);
            let avg = k6_trend(&v, "avg")?;
            let p95 = k6_trend(&v, "p(95)")?;
            if avg < 500.0 && p95 > 500.0 {
                Ok(())
            } else {
                Err(format!("avg {avg}, p(95) {p95}"))
            }
        },
    },
    Claim {
        module: SCRIPTS,
        says: "{ duration: '1m', target: 20 }, // ramp up: 0 → 20 VUs",
        check: || {
            // "k6 moves linearly from one target to the next over each stage's duration".
            let script = with_default(&block(SCRIPTS, "js", "ramp up"));
            let plan = k6_plan(&script)?;
            near(390.0, plan.scheduled())?;
            let s = k6(&script)?;
            let vus_at = |t: i64| s.series.iter().find(|p| p.t == t).map_or(-1, |p| p.vus);
            about(10.0, vus_at(30) as f64, 0.1)?;
            near(20.0, vus_at(180) as f64)?;
            about(10.0, vus_at(375) as f64, 0.1)
        },
    },
    Claim {
        module: SCRIPTS,
        says: "`stages` is a shortcut for a scenario with the `ramping-vus` executor, just as `vus` with `duration` is a shortcut for `constant-vus` and `vus` with `iterations` for `shared-iterations`",
        check: || {
            let executor = |opts: &str| -> Result<&'static str, String> {
                let plan = k6_plan(&format!("export const options = {opts};\nexport default function () {{}}\n"))?;
                Ok(plan.scenarios[0].executor.name())
            };
            same("ramping-vus", executor("{ stages: [{ duration: '10s', target: 5 }] }")?)?;
            same("constant-vus", executor("{ vus: 5, duration: '10s' }")?)?;
            same("shared-iterations", executor("{ vus: 5, iterations: 10 }")?)
        },
    },
    Claim {
        module: SCRIPTS,
        says: "export const options = { vus: 1, iterations: 5 };",
        check: || {
            let s = k6("export const options = { vus: 1, iterations: 5 };\nexport default function () {}\n")?;
            near(5.0, stat(&s, "iterations", "count")?)
        },
    },
    Claim {
        module: SCRIPTS,
        says: "For Trends the default columns are `avg`, `min`, `med`, `max`, `p(90)` and `p(95)`",
        check: || {
            let plan = k6_plan("export default function () {}\n")?;
            same("avg min med max p(90) p(95)", &plan.summary_trend_stats.join(" "))
        },
    },
    Claim {
        module: SCRIPTS,
        says: "`summaryTrendStats: ['med', 'p(95)', 'p(99)', 'max']`",
        check: || {
            // "The default summary has no p(99)": only the option adds it.
            let script = "import http from 'k6/http';\n\
                export const options = { iterations: 3, summaryTrendStats: ['med', 'p(95)', 'p(99)', 'max'] };\n\
                export default function () { http.get(`${__ENV.BASE_URL}/`); }\n";
            let s = k6(script)?;
            let mut keys: Vec<&String> = s.data["metrics"]["http_req_duration"]["values"]
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            keys.sort();
            same("[\"max\", \"med\", \"p(95)\", \"p(99)\"]", &format!("{keys:?}"))?;
            let default = k6(&script.replace(", summaryTrendStats: ['med', 'p(95)', 'p(99)', 'max']", ""))?;
            match default.data["metrics"]["http_req_duration"]["values"].get("p(99)") {
                None => Ok(()),
                Some(v) => Err(format!("the default summary has a p(99): {v}")),
            }
        },
    },
    Claim {
        module: SCRIPTS,
        says: "returns `true` only if every predicate held. It never stops the iteration and never fails the test on its own.",
        check: || {
            let s = checks_run()?;
            near(10.0, stat(&s, "checks", "passes")?)?;
            near(10.0, stat(&s, "checks", "fails")?)?;
            // check() returned false every time, and the iteration went on to count it.
            near(10.0, stat(&s, "after_check", "count")?)?;
            near(0.0, s.exit_code.into())
        },
    },
    Claim {
        module: SCRIPTS,
        says: "A check fails on 3% of responses, and the run still exits with `0`.",
        check: || near(0.0, checks_run()?.exit_code.into()),
    },
    Claim {
        module: SCRIPTS,
        says: "reports how long the whole group took in `group_duration`",
        check: || {
            let s = k6("import http from 'k6/http';\nimport { group } from 'k6';\n\
                export const options = { iterations: 2 };\n\
                export default function () { group('checkout', () => { http.get(`${__ENV.BASE_URL}/`); }); }\n")?;
            let avg = stat(&s, "group_duration", "avg")?;
            if avg >= stat(&s, "http_req_duration", "avg")? {
                Ok(())
            } else {
                Err(format!("group_duration avg {avg} is shorter than its request"))
            }
        },
    },
    Claim {
        module: SCRIPTS,
        says: "It covers sending, waiting and receiving; `http_req_waiting` alone is the time to first byte.",
        check: || {
            let s = k6(&block(SCRIPTS, "js", "export function setup()"))?;
            let parts = stat(&s, "http_req_sending", "avg")?
                + stat(&s, "http_req_waiting", "avg")?
                + stat(&s, "http_req_receiving", "avg")?;
            about(parts, stat(&s, "http_req_duration", "avg")?, 1e-6)
        },
    },
    Claim {
        module: SCRIPTS,
        says: "| setup | `export function setup()` | once, before the first iteration | log in once, create test data; its return value is handed on |",
        check: || {
            let s = lifecycle_run()?;
            near(1.0, count_logs(&s, "marker-setup"))?;
            // The default function saw setup's return value in every iteration.
            near(1.0, stat(&s, "checks", "rate")?)?;
            near(4.0, stat(&s, "checks", "passes")?)
        },
    },
    Claim {
        module: SCRIPTS,
        says: "| teardown | `export function teardown(data)` | once, after the last iteration | delete test data |",
        check: || near(1.0, count_logs(&lifecycle_run()?, "marker-teardown")),
    },
    Claim {
        module: SCRIPTS,
        says: "`0` when all thresholds held, `99` when one was crossed, and other codes (such as `107` when the script throws outside an iteration: in init code, `setup()` or `teardown()`)",
        check: || {
            near(0.0, k6(&block(SCRIPTS, "js", "export function setup()"))?.exit_code.into())?;
            let init = "throw new Error('boom');\nexport default function () {}\n";
            near(107.0, k6_error(init)?.into())?;
            let setup = "export function setup() { throw new Error('boom'); }\nexport default function () {}\n";
            near(107.0, k6_exit(setup)?.into())?;
            // An exception inside an iteration ends that iteration only.
            let vu = "export const options = { iterations: 2 };\nexport default function () { throw new Error('boom'); }\n";
            near(0.0, k6_exit(vu)?.into())
        },
    },
    Claim {
        module: EXECUTORS,
        says: "Every executor also takes `gracefulStop` (default 30 seconds)",
        check: || {
            let plan = k6_plan(&block(EXECUTORS, "js", "browse: {"))?;
            for sc in &plan.scenarios {
                near(30.0, sc.graceful_stop)?;
            }
            let plan = k6_plan("export const options = { scenarios: { r: { executor: 'ramping-vus', stages: [{ duration: '10s', target: 2 }] } } };\nexport default function () {}\n")?;
            match plan.scenarios[0].executor {
                Executor::RampingVus { graceful_ramp_down, .. } => near(30.0, graceful_ramp_down),
                ref other => Err(format!("{other:?}")),
            }
        },
    },
    Claim {
        module: EXECUTORS,
        says: "Current k6 has dropped it along with those commands, and the course's runner refuses it too",
        check: || match k6_plan("export const options = { scenarios: { x: { executor: 'externally-controlled', vus: 1, maxVUs: 2, duration: '10s' } } };\nexport default function () {}\n") {
            Err(e) if e.contains("not available in labs") => Ok(()),
            other => Err(format!("{other:?}")),
        },
    },
    Claim {
        module: EXECUTORS,
        says: "If the service slows from 100 ms to 1 s, 50 VUs with no sleep go from about 500 requests per second to about 50.",
        check: || {
            let closed = |secs: f64| -> Result<f64, String> {
                let s = k6(&format!("import {{ sleep }} from 'k6';\nexport const options = {{ vus: 50, duration: '20s' }};\nexport default function () {{ sleep({secs}); }}\n"))?;
                Ok(stat(&s, "iterations", "count")? / 20.0)
            };
            about(500.0, closed(0.1)?, 0.03)?;
            about(50.0, closed(1.0)?, 0.03)
        },
    },
    Claim {
        module: EXECUTORS,
        says: "At 200 iterations per second and 0.25 s per iteration, 50 VUs are busy on average. If the service degrades to 2 s per iteration, the same rate needs 400.",
        check: || {
            // "If even `maxVUs` is not enough, k6 ... counts them in `dropped_iterations`".
            for (secs, vus) in [(0.25, 50.0), (2.0, 400.0)] {
                let dropped = |pool: f64| -> Result<f64, String> {
                    let s = k6(&format!(
                        "import {{ sleep }} from 'k6';\nexport const options = {{ scenarios: {{ s: {{ executor: 'constant-arrival-rate', rate: 200, timeUnit: '1s', duration: '10s', preAllocatedVUs: {pool}, maxVUs: {pool} }} }} }};\nexport default function () {{ sleep({secs}); }}\n"
                    ))?;
                    Ok(stat(&s, "dropped_iterations", "count").unwrap_or(0.0))
                };
                near(0.0, dropped((vus * 1.1f64).ceil())?)?;
                let short = dropped((vus * 0.9f64).floor())?;
                if short <= 0.0 {
                    return Err(format!("{} VUs were enough for {secs} s iterations", vus * 0.9));
                }
            }
            Ok(())
        },
    },
    Claim {
        module: EXECUTORS,
        says: "Little's law: 150 × 0.8 = 120 VUs when healthy, 150 × 3 = 450 when overloaded.",
        check: || {
            near(120.0, 150.0 * 0.8)?;
            near(450.0, 150.0 * 3.0)
        },
    },
    Claim {
        module: EXECUTORS,
        says: "an iteration takes about 1.1 s; with one second of sleep, responses took roughly 100 ms",
        check: || {
            about(1.1, 100.0 / 90.0, 0.02)?;
            about(100.0, (100.0 / 90.0 - 1.0) * 1000.0, 0.15)
        },
    },
    Claim {
        module: EXECUTORS,
        says: "`per-vu-iterations` with `vus: 20` and `iterations: 50`",
        check: || {
            let s = k6("export const options = { scenarios: { accounts: { executor: 'per-vu-iterations', vus: 20, iterations: 50 } } };\nexport default function () {}\n")?;
            near(20.0 * 50.0, stat(&s, "iterations", "count")?)
        },
    },
    Claim {
        module: TEST_TYPES,
        says: "{ duration: '5m', target: 50 }, // watch the recovery",
        check: || {
            // "The most important minutes are the last five".
            let plan = k6_plan(&with_default(&block(TEST_TYPES, "js", "spike: {")))?;
            match &plan.scenarios[0].executor {
                Executor::RampingArrivalRate { stages, .. } => {
                    near(300.0, stages.last().map_or(0.0, |s| s.duration))?;
                    near(500.0, plan.scheduled())
                }
                other => Err(format!("{other:?}")),
            }
        },
    },
    Claim {
        module: TEST_TYPES,
        says: "let thresholds with `abortOnFail` stop the run once the limit is clearly passed",
        check: || {
            let plan = k6_plan(&with_default(&block(TEST_TYPES, "js", "breakpoint: {")))?;
            for t in &plan.thresholds {
                let r = &t.exprs[0];
                if !r.abort_on_fail {
                    return Err(format!("{} does not abort", t.key));
                }
                near(60.0, r.delay_abort_eval)?;
            }
            near(2.0, plan.thresholds.len() as f64)
        },
    },
    Claim {
        module: OMISSION,
        says: "The result: 9,801 samples, of which one is slow. The p99 is 1 ms.",
        check: || {
            let mut v = vec![1.0; 9_800];
            v.push(2_000.0);
            near(1.0, k6_trend(&v, "p(99)")?)
        },
    },
    Claim {
        module: OMISSION,
        says: "That is two hundred slow experiences, 2% of all requests, and the true p99 is about **one second**",
        check: || {
            let mut v = vec![1.0; 9_800];
            v.extend((1..=200).map(|i| f64::from(i) * 10.0));
            near(0.02, 200.0 / v.len() as f64)?;
            about(1_000.0, k6_trend(&v, "p(99)")?, 0.01)
        },
    },
    Claim {
        module: OMISSION,
        says: "The **mean** is (98 × 100 + 2 × 5,000) / 100 = 198 ms.",
        check: || near(198.0, k6_trend(&tail_sample(), "avg")?),
    },
    Claim {
        module: OMISSION,
        says: "The **median** (p50) is 100 ms",
        check: || near(100.0, k6_trend(&tail_sample(), "med")?),
    },
    Claim {
        module: OMISSION,
        says: "The **p95** is still 100 ms.",
        check: || near(100.0, k6_trend(&tail_sample(), "p(95)")?),
    },
    Claim {
        module: OMISSION,
        says: "The **p99** is 5,000 ms",
        check: || near(5_000.0, k6_trend(&tail_sample(), "p(99)")?),
    },
    Claim {
        module: OMISSION,
        says: "meets at least one call beyond the p99 on 1 − 0.99⁴⁰ ≈ 33% of its loads",
        check: || about(0.33, 1.0 - 0.99f64.powi(40), 0.01),
    },
    Claim {
        module: OMISSION,
        says: "the p90 rank is 0.9 × 9 = 8.1, so p90 = 25 + 0.1 × (140 − 25) = 36.5 ms",
        check: || near(36.5, k6_trend(&ten_samples()?, "p(90)")?),
    },
    Claim {
        module: OMISSION,
        says: "The p50 rank is 4.5: halfway between 15 and 15, so 15 ms.",
        check: || near(15.0, k6_trend(&ten_samples()?, "med")?),
    },
    Claim {
        module: OMISSION,
        says: "Mean = (9 × 10 + 910) / 10 = 100 ms. Median: rank 4.5, between 10 and 10, so 10 ms. p90: rank 8.1, between 10 and 910, so 10 + 0.1 × 900 = 100 ms.",
        check: || {
            let mut v = vec![10.0; 9];
            v.push(910.0);
            near(100.0, k6_trend(&v, "avg")?)?;
            near(10.0, k6_trend(&v, "med")?)?;
            near(100.0, k6_trend(&v, "p(90)")?)
        },
    },
    Claim {
        module: OMISSION,
        says: "Four percent of the planned iterations (12,000 of 300,000)",
        check: || {
            near(300_000.0, 500.0 * 600.0)?;
            near(0.04, 12_000.0 / 300_000.0)
        },
    },
    Claim {
        module: OMISSION,
        says: "assuming values are spread evenly inside each bucket",
        check: || {
            let s = store("load 1m\n  b{le=\"1\"} 0\n  b{le=\"2\"} 100\n  b{le=\"+Inf\"} 100\n")?;
            near(1.5, promql(&s, "histogram_quantile(0.5, b)", 0)?)?;
            near(1.9, promql(&s, "histogram_quantile(0.9, b)", 0)?)
        },
    },
    // ------------------------------------------------------------ Prometheus and PromQL
    Claim {
        module: SLIS,
        says: "with a 15-second scrape interval, `[1m]` holds only four samples",
        check: || {
            // Scrapes do not line up with the evaluation time. (On a sample exactly a minute
            // old, the engine follows Prometheus 2, whose ranges include it; Prometheus 3's
            // ranges are left-open.)
            let s = store("load 15s\n  x 0+1x20\n")?;
            near(4.0, promql(&s, "count_over_time(x[1m])", 127_000)?)
        },
    },
    Claim {
        module: SLIS,
        says: "(`\"0.5\"` does not match `\"0.50\"`",
        check: || {
            let s = store(HISTOGRAM_LOAD)?;
            near(9990.0, promql(&s, "sum(http_request_duration_seconds_bucket{le=\"0.5\"})", 0)?)?;
            empty(&s, "http_request_duration_seconds_bucket{le=\"0.50\"}")
        },
    },
    Claim {
        module: SLIS,
        says: "a boundary that does not exist returns nothing at all",
        check: || empty(&store(HISTOGRAM_LOAD)?, "http_request_duration_seconds_bucket{le=\"0.3\"}"),
    },
    Claim {
        module: SLIS,
        says: "that is 10,000 failures you may spend; if failures came as a full outage, it would be 0.1% of 43,200 minutes — 43.2 minutes",
        check: || {
            let b = budget(99.9)?;
            near(10_000.0, 10_000_000.0 * b)?;
            near(43_200.0, 30.0 * 24.0 * 60.0)?;
            near(43.2, 43_200.0 * b)
        },
    },
    Claim {
        module: SLIS,
        says: "A result of 1 means the budget is untouched, 0 that it is exactly spent, below 0 overspent.",
        check: || {
            let q = block(SLIS, "promql", "1 - (");
            let remaining = |errors_per_1000: u32| -> Result<f64, String> {
                let s = store(&format!(
                    "load 1m\n  http_requests_total{{path=\"/api/pizza\", status=\"200\"}} 0+{}x60\n  http_requests_total{{path=\"/api/pizza\", status=\"500\"}} 0+{errors_per_1000}x60\n",
                    1000 - errors_per_1000
                ))?;
                promql(&s, &q, 3_600_000)
            };
            near(1.0, remaining(0)?)?;
            about(0.0, remaining(1)?, 1e-9)?;
            about(-1.0, remaining(2)?, 1e-9)
        },
    },
    Claim {
        module: SLIS,
        says: "a burn rate of 14.4 sustained for one hour spends 2% of a 30-day budget",
        check: || {
            let w = window(30, "1h")?;
            near(14.4, w.factor)?;
            near(0.02, w.budget_share)?;
            near(0.02, w.factor * 1.0 / (30.0 * 24.0))
        },
    },
    Claim { module: SLIS, says: "| 14.4 | 1h | 5m | page |", check: || table_row(30, "1h", 14.4, "5m", "page") },
    Claim { module: SLIS, says: "| 6 | 6h | 30m | page |", check: || table_row(30, "6h", 6.0, "30m", "page") },
    Claim { module: SLIS, says: "| 3 | 1d | 2h | ticket |", check: || table_row(30, "1d", 3.0, "2h", "ticket") },
    Claim { module: SLIS, says: "| 1 | 3d | 6h | ticket |", check: || table_row(30, "3d", 1.0, "6h", "ticket") },
    Claim {
        module: SLIS,
        says: "28 × 24 × 60 × 0.005 = 201.6 minutes",
        check: || near(201.6, 28.0 * 24.0 * 60.0 * budget(99.5)?),
    },
    Claim {
        module: DATA_MODEL,
        says: "`{__name__=\"http_requests_total\"}` selects the same series as the bare name",
        check: || {
            let s = exposition(DATA_MODEL, "# TYPE http_requests_total counter")?;
            near(3.0, promql(&s, "count(http_requests_total)", 0)?)?;
            near(3.0, promql(&s, "count({__name__=\"http_requests_total\"})", 0)?)?;
            near(
                promql(&s, "sum(http_requests_total)", 0)?,
                promql(&s, "sum({__name__=\"http_requests_total\"})", 0)?,
            )
        },
    },
    Claim {
        module: DATA_MODEL,
        says: "The `+Inf` bucket counts everything and always equals `_count`",
        check: || {
            let s = exposition(DATA_MODEL, "http_request_duration_seconds_sum")?;
            near(
                promql(&s, "http_request_duration_seconds_count", 0)?,
                promql(&s, "http_request_duration_seconds_bucket{le=\"+Inf\"}", 0)?,
            )
        },
    },
    Claim {
        module: DATA_MODEL,
        says: "finds the bucket in which the 99th percentile falls and interpolates linearly inside it",
        check: || {
            let s = exposition(DATA_MODEL, "http_request_duration_seconds_sum")?;
            // The 9,900th of 10,000 observations falls between 9,480 (le 0.1) and 9,921 (le 0.25).
            let expected = 0.1 + (0.25 - 0.1) * (9_900.0 - 9_480.0) / (9_921.0 - 9_480.0);
            near(expected, promql(&s, "histogram_quantile(0.99, http_request_duration_seconds_bucket)", 0)?)
        },
    },
    Claim {
        module: DATA_MODEL,
        says: "If the quantile falls in the `+Inf` bucket, it returns the highest finite boundary",
        check: || {
            let s = exposition(DATA_MODEL, "http_request_duration_seconds_sum")?;
            // 9,990 of 10,000 are under 0.5 s: the 99.95th percentile is in the +Inf bucket.
            near(0.5, promql(&s, "histogram_quantile(0.9995, http_request_duration_seconds_bucket)", 0)?)
        },
    },
    Claim {
        module: DATA_MODEL,
        says: "`histogram_quantile(0.99, ...)` returns exactly 10 for a histogram whose largest finite bucket is `le=\"10\"`",
        check: || {
            let s = store("load 1m\n  b{le=\"1\"} 50\n  b{le=\"10\"} 98\n  b{le=\"+Inf\"} 100\n")?;
            near(10.0, promql(&s, "histogram_quantile(0.99, b)", 0)?)
        },
    },
    Claim {
        module: DATA_MODEL,
        says: "`increase(x[1m])` = 90 × 60 / 45 = 120, and `rate(x[1m])` = 120 / 60 = 2 per second",
        check: || {
            // Samples at 0, 15, 30 and 45 s; evaluated at 53 s, the window starts at -7 s:
            // the first sample is 7 s into it and the last 8 s before its end.
            let s = store("load 15s\n  x 100+30x3\n")?;
            near(120.0, promql(&s, "increase(x[1m])", 53_000)?)?;
            near(2.0, promql(&s, "rate(x[1m])", 53_000)?)
        },
    },
    Claim {
        module: DATA_MODEL,
        says: "(190 − 160) / 15 s = 2 per second here",
        check: || near(2.0, promql(&store("load 15s\n  x 100+30x3\n")?, "irate(x[1m])", 53_000)?),
    },
    Claim {
        module: DATA_MODEL,
        says: "all the way when the gap to the edge is small compared with the average scrape interval, otherwise by only half an interval",
        check: || {
            // Samples at 30 and 45 s in the window (20 s, 80 s]: 10 s to its start (extrapolated
            // all the way), 35 s to its end (only half the 15 s interval).
            let s = store("load 15s\n  x 100+30x3\n")?;
            near(30.0 * (15.0 + 10.0 + 7.5) / 15.0, promql(&s, "increase(x[1m])", 80_000)?)
        },
    },
    Claim {
        module: DATA_MODEL,
        says: "and never back past the point where a counter would have been zero",
        check: || {
            // 10, 40, 70, 100: the counter was zero 5 s before the first sample, which is 7 s
            // into the window, so the extrapolation stops after 5 s.
            let s = store("load 15s\n  x 10+30x3\n")?;
            near(90.0 * (45.0 + 5.0 + 8.0) / 45.0, promql(&s, "increase(x[1m])", 53_000)?)
        },
    },
    Claim {
        module: DATA_MODEL,
        says: "If a sample is lower than the one before it, Prometheus assumes the process restarted and the counter began again at zero, and it adds the value before the reset to the total.",
        check: || {
            let reset = store("load 15s\n  x 10 20 5 15\n")?;
            let steady = store("load 15s\n  x 10 20 25 35\n")?;
            near(
                promql(&steady, "increase(x[1m])", 53_000)?,
                promql(&reset, "increase(x[1m])", 53_000)?,
            )
        },
    },
    Claim {
        module: DATA_MODEL,
        says: "`increase(x[5m])` is exactly `rate(x[5m])` multiplied by 300",
        check: || {
            let s = store("load 15s\n  x 3 9 14 14 30 2 8 19 40 41 50 77 90 93 95 120 130 131 150 171 180 199\n")?;
            about(
                promql(&s, "rate(x[5m]) * 300", 313_000)?,
                promql(&s, "increase(x[5m])", 313_000)?,
                1e-12,
            )
        },
    },
    Claim {
        module: DATA_MODEL,
        says: "`rate` takes the drop for a reset of the *sum*, and adds the whole previous total back — a huge false spike",
        check: || {
            let s = store("load 15s\n  x{i=\"a\"} 1000+10x40\n  x{i=\"b\"} 1000+10x40\n  x{i=\"c\"} 1000+10x20 0+10x19\n")?;
            let right = promql(&s, "sum(rate(x[5m]))", 600_000)?;
            let wrong = promql(&s, "rate(sum(x)[5m:15s])", 600_000)?;
            about(2.0, right, 0.02)?;
            if wrong > 3.0 * right {
                Ok(())
            } else {
                Err(format!("rate of the sum {wrong} is no spike next to {right}"))
            }
        },
    },
    Claim {
        module: BURN,
        says: "For a 99.9% objective the budget is 0.001, so an error ratio of 0.5% is a burn rate of 5",
        check: || {
            let b = sloth(BURN)?[0].error_budget();
            near(0.001, b)?;
            about(5.0, 0.005 / b, 1e-12)
        },
    },
    Claim {
        module: BURN,
        says: "a burn rate of 1 lasts 30 days, 3 lasts 10 days, 6 lasts 5 days, 14.4 about 50 hours",
        check: || {
            near(30.0, 30.0 / window(30, "3d")?.factor)?;
            near(10.0, 30.0 / window(30, "1d")?.factor)?;
            near(5.0, 30.0 / window(30, "6h")?.factor)?;
            near(50.0, 720.0 / window(30, "1h")?.factor)
        },
    },
    Claim { module: BURN, says: "| page | 2% | 1 hour | 0.02 × 720 h ÷ 1 h = **14.4** | 5 minutes |", check: || share_row("1h", 0.02, 14.4, "5m") },
    Claim { module: BURN, says: "| page | 5% | 6 hours | 0.05 × 720 h ÷ 6 h = **6** | 30 minutes |", check: || share_row("6h", 0.05, 6.0, "30m") },
    Claim { module: BURN, says: "| ticket | 10% | 1 day | 0.10 × 720 h ÷ 24 h = **3** | 2 hours |", check: || share_row("1d", 0.10, 3.0, "2h") },
    Claim { module: BURN, says: "| ticket | 10% | 3 days | 0.10 × 720 h ÷ 72 h = **1** | 6 hours |", check: || share_row("3d", 0.10, 1.0, "6h") },
    Claim {
        module: BURN,
        says: "over 28 days the four become 13.44, 5.6, 2.8 and about 0.93",
        check: || {
            near(13.44, window(28, "1h")?.factor)?;
            near(5.6, window(28, "6h")?.factor)?;
            near(2.8, window(28, "1d")?.factor)?;
            about(0.93, window(28, "3d")?.factor, 0.01)
        },
    },
    Claim {
        module: BURN,
        says: "The long window's error ratio must exceed 14.4 × 0.001 = 1.44%.",
        check: || {
            let rules = page_rule(&sloth(BURN)?)?;
            for (w, threshold) in [("5m", "14.4 * 0.001"), ("1h", "14.4 * 0.001"), ("30m", "6 * 0.001"), ("6h", "6 * 0.001")] {
                let line = rules
                    .lines()
                    .find(|l| l.contains(&format!("ratio_rate{w}{{")))
                    .ok_or(format!("no {w} window in the page alert"))?;
                if !line.ends_with(&format!("> ({threshold})) without (sloth_window)")) {
                    return Err(format!("the page alert's {w} line is {line:?}"));
                }
            }
            near(0.0144, window(30, "1h")?.factor * 0.001)
        },
    },
    Claim {
        module: BURN,
        says: "the one-hour ratio passes 1.44% after 1.44% of an hour: about 52 seconds",
        check: || about(52.0, window(30, "1h")?.factor * 0.001 * 3600.0, 0.01),
    },
    Claim {
        module: BURN,
        says: "If 6% of requests fail, it takes 0.0144 ÷ 0.06 of an hour, 14.4 minutes, and the six-hour pair (ratio above 0.6%) would need 36 minutes",
        check: || {
            near(14.4, 60.0 * window(30, "1h")?.factor * 0.001 / 0.06)?;
            near(36.0, 360.0 * window(30, "6h")?.factor * 0.001 / 0.06)
        },
    },
    Claim {
        module: BURN,
        says: "The **short window**, a twelfth of the long one",
        check: || {
            for w in burn_windows(30) {
                near(12.0, minutes(w.long)? / minutes(w.short)?)?;
            }
            Ok(())
        },
    },
    Claim {
        module: BURN,
        says: "puts the five-minute burn rate at 0.1 × 2/5 ÷ 0.001 = 40, far above 14.4 — but the one-hour burn rate is 0.1 × 2/60 ÷ 0.001 ≈ 3.3, so the page stays quiet",
        check: || {
            let b = budget(99.9)?;
            near(40.0, 0.1 * 2.0 / 5.0 / b)?;
            about(3.3, 0.1 * 2.0 / 60.0 / b, 0.02)?;
            let r = blip_replay()?;
            // Over samples 15 s apart, the five-minute window spans 4 min 45 s of increases.
            about(40.0, r.max_burn_5m, 0.06)?;
            about(3.3, r.max_burn_1h, 0.02)?;
            if r.pages {
                return Err("the generated page fired on the blip".into());
            }
            Ok(())
        },
    },
    Claim {
        module: BURN,
        says: "the two-hour window of the first ticket pair burns at about 1.7, under 3, so in production the blip raises nothing at all",
        check: || {
            about(1.7, 0.1 * 2.0 / 120.0 / budget(99.9)?, 0.02)?;
            near(3.0, window(30, "1d")?.factor)?;
            same("2h", window(30, "1d")?.short)?;
            if blip_replay()?.tickets {
                return Err("the generated ticket fired on the blip".into());
            }
            Ok(())
        },
    },
    Claim {
        module: BURN,
        says: "An error ratio over a window that reaches back before the data begins averages over the data that exists",
        check: || {
            // 75 minutes of traffic, 1% of it failing.
            let s = store("load 15s\n  ok 0+99x300\n  bad 0+1x300\n")?;
            let ratio = |w: &str| promql(&s, &format!("sum(rate(bad[{w}])) / (sum(rate(bad[{w}])) + sum(rate(ok[{w}])))"), 4_500_000);
            about(0.01, ratio("5m")?, 1e-9)?;
            about(0.01, ratio("1d")?, 1e-9)?;
            about(0.01, ratio("3d")?, 1e-9)
        },
    },
    Claim {
        module: BURN,
        says: "the error ratio over each window as `slo:sli_error:ratio_rate5m`, `…ratio_rate30m`, `…1h`, `…2h`, `…6h`, `…1d`, `…3d` — and into one alert per severity that ORs its two window pairs",
        check: || {
            let file = generate_rule_file(&sloth(BURN)?);
            let records: Vec<String> = file.groups.iter().flat_map(|g| g.rules.iter().filter_map(|r| r.record.clone())).collect();
            for w in ["5m", "30m", "1h", "2h", "6h", "1d", "3d"] {
                if !records.contains(&format!("slo:sli_error:ratio_rate{w}")) {
                    return Err(format!("no slo:sli_error:ratio_rate{w}"));
                }
            }
            let alerts: Vec<_> = file.groups.iter().flat_map(|g| g.rules.iter().filter(|r| r.alert.is_some())).collect();
            near(2.0, alerts.len() as f64)?;
            for a in alerts {
                near(1.0, a.expr.lines().filter(|l| l.trim() == "or").count() as f64)?;
                near(2.0, a.expr.lines().filter(|l| l.trim() == "and").count() as f64)?;
            }
            Ok(())
        },
    },
    Claim {
        module: BURN,
        says: "which takes 1.44 ÷ 2.88 of an hour — 30 minutes. (The six-hour pair would need 6 × 0.6 ÷ 2.88 = 1.25 hours.)",
        check: || {
            let r = incident_replay()?;
            about(30.0, r.first_page_min, 0.04)?;
            about(30.0, r.long_1h_over_min, 0.04)?;
            about(75.0, r.long_6h_over_min, 0.02)
        },
    },
    Claim {
        module: BURN,
        says: "The budget is 1%, so a burn rate of 6 is an error ratio of 6%",
        check: || {
            let yaml = block(BURN, "yaml", "PizzaRecommendationsFailing").replace("objective: 99.9", "objective: 99");
            let slos = parse_slo_str("slo.yaml", &yaml).map_err(|e| e.to_string())?;
            near(0.01, slos[0].error_budget())?;
            let page = page_rule(&slos)?;
            if page.contains("> (6 * 0.01))") {
                Ok(())
            } else {
                Err(format!("the page alert is {page}"))
            }
        },
    },
    Claim {
        module: BURN,
        says: "with 20 requests an hour, one failure is a 5% error ratio",
        check: || near(0.05, 1.0 / 20.0),
    },
    Claim {
        module: GATES,
        says: "| A | 420 ms | 0.4% | pass (2) | pass (1) | 3/3 = 100% | pass |",
        check: || build_row(420.0, 0.004, ["pass", "pass"], 100.0, "pass"),
    },
    Claim {
        module: GATES,
        says: "| B | 470 ms | 0.4% | warning: 470 > 440 but < 800 (1) | pass (1) | 2/3 ≈ 67% | fail |",
        check: || {
            let base = module_gate()?.baseline("response_time_p95", &gate_history()?);
            near(440.0, Criterion::parse("<=+10%")?.target(base).unwrap_or(f64::NAN))?;
            build_row(470.0, 0.004, ["warning", "pass"], 200.0 / 3.0, "fail")
        },
    },
    Claim {
        module: GATES,
        says: "| C | 380 ms | 3% | pass (2) | fail, key SLI (0) | 2/3 ≈ 67% | fail (key SLI) |",
        check: || build_row(380.0, 0.03, ["pass", "fail"], 200.0 / 3.0, "fail"),
    },
    Claim {
        module: GATES,
        says: "| D | 700 ms | 0.1% | warning (1) | pass (1) | 67% | fail |",
        check: || build_row(700.0, 0.001, ["warning", "pass"], 200.0 / 3.0, "fail"),
    },
    Claim {
        module: GATES,
        says: "because it is 17.5% slower than the builds before it",
        check: || {
            let base = module_gate()?.baseline("response_time_p95", &gate_history()?).ok_or("no baseline")?;
            near(17.5, (470.0 - base) / base * 100.0)
        },
    },
    Claim {
        module: GATES,
        says: "`<+50` \"less than 50 above it\", `>-5%` \"no more than 5% below it\"",
        check: || {
            near(450.0, Criterion::parse("<+50")?.target(Some(400.0)).unwrap_or(f64::NAN))?;
            near(380.0, Criterion::parse(">-5%")?.target(Some(400.0)).unwrap_or(f64::NAN))
        },
    },
    Claim {
        module: GATES,
        says: "With no earlier result to compare with, relative criteria pass — the first build sets the baseline.",
        check: || {
            let r = gate(&module_gate()?, 590.0, 0.0, &[]);
            same("pass", &r.objectives[0].status)?;
            same("pass", &r.result)
        },
    },
    Claim {
        module: GATES,
        says: "An objective that meets a pass list earns its `weight` (1 unless given). Otherwise, one that meets a warning list earns half its weight.",
        check: || {
            let r = gate(&module_gate()?, 700.0, 0.0, &gate_history()?);
            let o = |sli: &str| r.objectives.iter().find(|o| o.sli == sli).ok_or(format!("no {sli}"));
            near(1.0, o("error_rate")?.weight)?;
            near(1.0, o("error_rate")?.score)?;
            same("warning", &o("response_time_p95")?.status)?;
            near(2.0 / 2.0, o("response_time_p95")?.score)
        },
    },
    Claim {
        module: GATES,
        says: "An objective without `pass` criteria is reported but counts neither way",
        check: || {
            let r = gate(&module_gate()?, 420.0, 0.004, &gate_history()?);
            let t = r.objectives.iter().find(|o| o.sli == "throughput").ok_or("no throughput")?;
            same("info", &t.status)?;
            near(0.0, t.score)?;
            near(100.0, r.score)
        },
    },
    Claim {
        module: GATES,
        says: "1 + 0.5 = 1.5 of 2 points, 75%: a warning.",
        check: || {
            let slo = SloFile::parse(
                "slo.yaml",
                "objectives:\n  - sli: a\n    pass: [{ criteria: [\"<1\"] }]\n    warning: [{ criteria: [\"<10\"] }]\n  \
                 - sli: b\n    pass: [{ criteria: [\"<1\"] }]\n    warning: [{ criteria: [\"<10\"] }]\n\
                 total_score:\n  pass: \"90%\"\n  warning: \"75%\"\n",
            )
            .map_err(|e| e.to_string())?;
            let values = BTreeMap::from([("a".to_string(), Ok(0.0)), ("b".to_string(), Ok(5.0))]);
            let r = slo.evaluate(&values, &[]);
            near(75.0, r.score)?;
            same("warning", &r.result)
        },
    },
    Claim {
        module: GATES,
        says: "An objective marked `key_sli: true` that fails fails the whole gate, whatever the total.",
        check: || {
            let r = gate(&module_gate()?, 380.0, 0.03, &gate_history()?);
            same("fail", &r.result)?;
            let lenient = SloFile::parse(
                "slo.yaml",
                &block(GATES, "yaml", "total_score").replace("pass: \"90%\"", "pass: \"60%\""),
            )
            .map_err(|e| e.to_string())?;
            same("fail", &gate(&lenient, 380.0, 0.03, &gate_history()?).result)
        },
    },
    Claim {
        module: GATES,
        says: "`compare_with: single_result` uses the most recent eligible result; `several_results` aggregates the last `number_of_comparison_results` of them with `aggregate_function` (`avg` by default; `p50`, `p90` and `p95` are Keptn's too)",
        check: || {
            let gate_text = block(GATES, "yaml", "total_score");
            let history = past_results(&[100.0, 400.0, 500.0, 540.0])?;
            let several = module_gate()?.baseline("response_time_p95", &history);
            near(480.0, several.unwrap_or(f64::NAN))?;
            let single = SloFile::parse("slo.yaml", &gate_text.replace("\"several_results\"", "\"single_result\"")).map_err(|e| e.to_string())?;
            near(540.0, single.baseline("response_time_p95", &history).unwrap_or(f64::NAN))?;
            let default = SloFile::parse("slo.yaml", &gate_text.replace("  aggregate_function: \"avg\"\n", "")).map_err(|e| e.to_string())?;
            same("avg", &default.comparison.aggregate_function)?;
            for f in ["p50", "p90", "p95"] {
                SloFile::parse("slo.yaml", &gate_text.replace("\"avg\"", &format!("\"{f}\""))).map_err(|e| e.to_string())?;
            }
            match SloFile::parse("slo.yaml", &gate_text.replace("\"avg\"", "\"p99\"")) {
                Err(_) => Ok(()),
                Ok(_) => Err("p99 is accepted".into()),
            }
        },
    },
    Claim {
        module: GATES,
        says: "`all` of them (the default), passes and warnings (`pass_or_warn`), or only passes (`pass`)",
        check: || {
            let gate_text = block(GATES, "yaml", "total_score");
            let default = SloFile::parse("slo.yaml", &gate_text.replace("  include_result_with_score: \"pass\"\n", "")).map_err(|e| e.to_string())?;
            same("all", &default.comparison.include_result_with_score)?;
            // The module's gate says `pass`, so a failing build stays out of its baseline.
            let slo = SloFile::parse("slo.yaml", &gate_text).map_err(|e| e.to_string())?;
            same("pass", &slo.comparison.include_result_with_score)?;
            let mut history = past_results(&[400.0, 400.0, 400.0])?;
            // A failing build with a slow p95 does not join the baseline.
            history.push(gate(&slo, 900.0, 0.0, &history));
            same("fail", &history[3].result)?;
            near(400.0, slo.baseline("response_time_p95", &history).unwrap_or(f64::NAN))
        },
    },
    Claim {
        module: GATES,
        says: "`$DURATION_SECONDS` becomes the length of the evaluation window",
        check: || {
            let sli = SliFile::parse("sli.yaml", &block(GATES, "yaml", "indicators:")).map_err(|e| e.to_string())?;
            let q = sli.queries(60, &BTreeMap::new());
            let throughput = q.get("throughput").ok_or("no throughput")?;
            same("sum(rate(http_requests_total{path=\"/api/pizza\"}[60s]))", throughput.trim())
        },
    },
    Claim {
        module: GATES,
        says: "The `or vector(0)` keeps the error rate at zero instead of empty when no 5xx series exists yet.",
        check: || {
            let sli = SliFile::parse("sli.yaml", &block(GATES, "yaml", "indicators:")).map_err(|e| e.to_string())?;
            let q = sli.queries(60, &BTreeMap::new());
            let s = store("load 15s\n  http_requests_total{path=\"/api/pizza\", status=\"200\"} 0+100x8\n")?;
            near(0.0, promql(&s, q.get("error_rate").ok_or("no error_rate")?, 120_000)?)
        },
    },
    Claim {
        module: GATES,
        says: "appends it to the history file (which is the baseline of the next run), and exits with `1` when the result is `fail`, `0` for pass or warning",
        check: || {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let slo_path = dir.path().join("slo.yaml");
            // A warning band the module's weights can reach: 2 of 3 points is 67%.
            let lenient = block(GATES, "yaml", "total_score").replace("warning: \"75%\"", "warning: \"60%\"");
            std::fs::write(&slo_path, lenient).map_err(|e| e.to_string())?;
            let history = dir.path().join("gate-history.json");
            let run = |p95: f64, errors: f64| {
                slo_toolkit::cli::run_slo_command(slo_toolkit::cli::SloCommand::Gate {
                    slo: slo_path.clone(),
                    sli: None,
                    data: vec![],
                    values: vec![format!("response_time_p95={p95}"), format!("error_rate={errors}"), "throughput=50".into()],
                    at: None,
                    duration: "1m".into(),
                    history: Some(history.clone()),
                })
            };
            near(0.0, run(400.0, 0.001).into())?; // pass
            near(0.0, run(700.0, 0.001).into())?; // warning: 2 of 3 points
            near(1.0, run(400.0, 0.05).into())?; // the key SLI failed
            let saved: Vec<EvaluationResult> = serde_json::from_str(&std::fs::read_to_string(&history).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
            let results: Vec<&str> = saved.iter().map(|r| r.result.as_str()).collect();
            same("[\"pass\", \"warning\", \"fail\"]", &format!("{results:?}"))
        },
    },
    Claim {
        module: SLOS_AS_CODE,
        says: "| `slos[].objective` | the target **as a percentage**: `99.9`, not `0.999` |",
        check: || {
            let slos = sloth(SLOS_AS_CODE)?;
            near(0.99, slos[0].objective)?;
            near(0.01, slos[0].error_budget())
        },
    },
    Claim {
        module: SLOS_AS_CODE,
        says: "so they got an objective of 0.999%, an error budget of about 99%",
        check: || {
            let yaml = block(SLOS_AS_CODE, "yaml", "prometheus/v1").replace("objective: 99\n", "objective: 0.999\n");
            let slos = parse_slo_str("slo.yaml", &yaml).map_err(|e| e.to_string())?;
            near(0.00999, slos[0].objective)?;
            about(0.99, slos[0].error_budget(), 0.001)
        },
    },
    Claim {
        module: SLOS_AS_CODE,
        says: "For each SLO the generator writes three rule groups",
        check: || near(3.0, generate_rule_file(&sloth(SLOS_AS_CODE)?).groups.len() as f64),
    },
    Claim {
        module: SLOS_AS_CODE,
        says: "`slo:sli_error:ratio_rate5m`, `…30m`, `…1h`, `…2h`, `…6h`, `…1d`, `…3d`, and one over the whole period, `slo:sli_error:ratio_rate30d`",
        check: || {
            let slos = sloth(SLOS_AS_CODE)?;
            near(30.0, slos[0].period_days.into())?;
            let file = generate_rule_file(&slos);
            let names: Vec<String> = file.groups[0].rules.iter().filter_map(|r| r.record.clone()).collect();
            same(
                "slo:sli_error:ratio_rate5m slo:sli_error:ratio_rate30m slo:sli_error:ratio_rate1h slo:sli_error:ratio_rate2h slo:sli_error:ratio_rate6h slo:sli_error:ratio_rate1d slo:sli_error:ratio_rate3d slo:sli_error:ratio_rate30d",
                &names.join(" "),
            )
        },
    },
    Claim {
        module: SLOS_AS_CODE,
        says: "`slo:objective:ratio`, `slo:error_budget:ratio`, `slo:time_period:days`, `slo:current_burn_rate:ratio`, `slo:period_burn_rate:ratio` and `slo:period_error_budget_remaining:ratio`",
        check: || {
            let file = generate_rule_file(&sloth(SLOS_AS_CODE)?);
            let names: Vec<String> = file.groups[1].rules.iter().filter_map(|r| r.record.clone()).collect();
            for want in ["slo:objective:ratio", "slo:error_budget:ratio", "slo:time_period:days", "slo:current_burn_rate:ratio", "slo:period_burn_rate:ratio", "slo:period_error_budget_remaining:ratio"] {
                if !names.iter().any(|n| n == want) {
                    return Err(format!("no {want} among {names:?}"));
                }
            }
            Ok(())
        },
    },
    Claim {
        module: SLOS_AS_CODE,
        says: "Every series carries `sloth_service`, `sloth_slo` and `sloth_id`",
        check: || {
            let file = generate_rule_file(&sloth(SLOS_AS_CODE)?);
            for r in file.groups.iter().flat_map(|g| &g.rules).filter(|r| r.record.is_some()) {
                for l in ["sloth_service", "sloth_slo", "sloth_id"] {
                    if !r.labels.contains_key(l) {
                        return Err(format!("{:?} has no {l}", r.record));
                    }
                }
            }
            Ok(())
        },
    },
    Claim {
        module: SLOS_AS_CODE,
        says: "the target is a **ratio** (`0.999`)",
        check: || {
            let slos = parse_slo_str("openslo.yaml", &block(SLOS_AS_CODE, "yaml", "openslo/v1")).map_err(|e| e.to_string())?;
            near(0.999, slos[0].objective)?;
            near(0.001, slos[0].error_budget())?;
            near(30.0, slos[0].period_days.into())
        },
    },
    // ------------------------------------------------------------ database observability
    Claim {
        module: DASHBOARD,
        says: "One core at 100% beside three at 20% averages to 40% for the node",
        check: || near(40.0, (100.0 + 3.0 * 20.0) / 4.0),
    },
    Claim {
        module: LATENCY,
        says: "| five sequential database reads | 5 × 40 ms = 200 ms |",
        check: || {
            near(200.0, 5.0 * 40.0)?;
            near(500.0, 40.0 + 160.0 + 200.0 + 100.0)
        },
    },
    Claim { module: LATENCY, says: "1 − 0.99¹⁰ ≈ 9.6%", check: || about(0.096, 1.0 - 0.99f64.powi(10), 0.005) },
    Claim {
        module: LATENCY,
        says: "every read's p95 is 10 ms and the five add up to 50 ms, yet 1 − 0.96⁵ ≈ 18% of requests meet at least one slow read, so the request's p95 is over 300 ms",
        check: || {
            // One read in 25 takes 300 ms: k6's p95 of a read is still the fast value.
            let mut read = vec![10.0; 96];
            read.extend([300.0; 4]);
            let read_p95 = k6_trend(&read, "p(95)")?;
            near(10.0, read_p95)?;
            near(50.0, 5.0 * read_p95)?;
            let slow_share = 1.0 - 0.96f64.powi(5);
            about(0.18, slow_share, 0.03)?;
            // Requests as sums of five reads, in the proportions the probabilities give.
            let mut requests = Vec::new();
            for slow in 0..=5u32 {
                let p = (1..=slow).fold(1.0, |acc, i| acc * f64::from(6 - i) / f64::from(i))
                    * 0.04f64.powi(slow as i32)
                    * 0.96f64.powi(5 - slow as i32);
                let ms = f64::from(slow) * 300.0 + f64::from(5 - slow) * 10.0;
                requests.extend(std::iter::repeat_n(ms, (p * 10_000.0).round() as usize));
            }
            let request_p95 = k6_trend(&requests, "p(95)")?;
            if request_p95 > 300.0 {
                Ok(())
            } else {
                Err(format!("the request p95 is {request_p95} ms"))
            }
        },
    },
    Claim { module: LATENCY, says: "With a hundred parallel reads it is 63%", check: || about(0.63, 1.0 - 0.99f64.powi(100), 0.01) },
    Claim { module: LATENCY, says: "Three attempts at each of three layers is up to 27 requests for one click", check: || near(27.0, 3f64.powi(3)) },
    Claim { module: LATENCY, says: "1 − 0.99²⁰ ≈ 18%", check: || about(0.18, 1.0 - 0.99f64.powi(20), 0.02) },
    Claim {
        module: LATENCY,
        says: "With microsecond buckets, `le=\"50000\"` is 50 ms; as always, the boundary must exist in the histogram.",
        check: || {
            near(50.0, 50_000.0 / 1000.0)?;
            // The lab's storage tier exports that boundary.
            let s = k6("import http from 'k6/http';\nexport const options = { vus: 2, duration: '12s' };\nexport default function () { http.get(`${__ENV.BASE_URL}/api/doughs`); }\n")?;
            let last = s.scrapes.last().ok_or("no scrapes")?;
            let mut st = Storage::new();
            st.load_exposition(&last.text, 0).map_err(|e| format!("{e:?}"))?;
            let n = promql(&st, "count(scylla_storage_proxy_coordinator_read_latency_bucket{le=\"50000\"})", 0)?;
            if n >= 1.0 {
                Ok(())
            } else {
                Err("no le=\"50000\" bucket".into())
            }
        },
    },
    Claim { module: QUEUES, says: "2,000 × 0.004 = **8 reads in flight**", check: || near(8.0, 2_000.0 * 0.004) },
    Claim { module: QUEUES, says: "W = 80 ÷ 2,000 = **40 ms**", check: || near(0.040, 80.0 / 2_000.0) },
    Claim { module: QUEUES, says: "each holds a connection for 4 ÷ 400 = **10 ms**", check: || near(0.010, 4.0 / 400.0) },
    Claim { module: QUEUES, says: "At 500 reads per second needing 1.6 ms each, one core is 0.8 = 80% busy.", check: || near(0.8, 500.0 * 0.0016) },
    Claim {
        module: QUEUES,
        says: "At 50% busy, a 10 ms job takes 20 ms on average; at 80%, 50 ms; at 90%, 100 ms; at 95%, 200 ms.",
        check: || {
            for (u, w) in [(0.5, 20.0), (0.8, 50.0), (0.9, 100.0), (0.95, 200.0)] {
                near(w, 10.0 / (1.0 - u))?;
            }
            Ok(())
        },
    },
    Claim {
        module: QUEUES,
        says: "Going from 85% to 95% utilization — a 12% rise in load — triples the mean time in the system.",
        check: || {
            about(0.12, 0.95 / 0.85 - 1.0, 0.05)?;
            near(3.0, (1.0 / (1.0 - 0.95)) / (1.0 / (1.0 - 0.85)))
        },
    },
    Claim {
        module: QUEUES,
        says: "with 10% more arrivals than the server can handle, every second of overload adds a tenth of a second of waiting",
        check: || near(0.1, (1.1 - 1.0) / 1.0),
    },
    Claim {
        module: QUEUES,
        says: "a service normally running at 95% drains at 5% of its throughput, so a backlog built in one minute of 10% overload takes two minutes to clear",
        check: || near(2.0, (0.10 * 1.0) / (1.0 - 0.95)),
    },
    Claim { module: QUEUES, says: "W = L ÷ λ = 30 ÷ 3,000 = 10 ms", check: || near(0.010, 30.0 / 3_000.0) },
    Claim {
        module: QUEUES,
        says: "2 ÷ (1 − 0.6) = 5 ms at 60%; 2 ÷ (1 − 0.9) = 20 ms at 90%",
        check: || {
            near(5.0, 2.0 / (1.0 - 0.6))?;
            near(20.0, 2.0 / (1.0 - 0.9))
        },
    },
    Claim { module: QUEUES, says: "λ = L ÷ W = 10 ÷ 0.025 = 400 queries per second", check: || near(400.0, 10.0 / 0.025) },
    Claim {
        module: NOW_BEFORE,
        says: "Dividing now by then gives a ratio that is 1 when the service behaves as it did a week ago",
        check: || {
            let s = three_weeks()?;
            let at = (21 * 24 * 60 + 5) * 60_000;
            about(1.0, promql(&s, &block(NOW_BEFORE, "promql", "relative to the same five minutes"), at)?, 1e-9)?;
            // "average several": the three-week mean of a steady 1/s is 1/s.
            about(1.0, promql(&s, &block(NOW_BEFORE, "promql", "offset 3w"), at)?, 1e-9)
        },
    },
    Claim {
        module: TRIAGE,
        says: "the disk at 81% rising half a percent an hour has about 38 hours to go — but 100% is the wrong deadline. Size-tiered compaction may need up to half the disk free for its next large merge, and this one has 19%.",
        check: || {
            near(38.0, (100.0 - 81.0) / 0.5)?;
            near(19.0, 100.0 - 81.0)?;
            // Already less free space than a worst-case size-tiered merge needs.
            if 100.0 - 81.0 < 50.0 {
                Ok(())
            } else {
                Err("19% free is not short of half the disk".into())
            }
        },
    },
    Claim {
        module: TRIAGE,
        says: "Five timeouts a second among 20,000 reads is 0.025% of reads failing: a burn rate of 0.25 against a 99.9% availability objective, which would not even raise a ticket.",
        check: || {
            near(0.00025, 5.0 / 20_000.0)?;
            near(0.25, 5.0 / 20_000.0 / budget(99.9)?)?;
            // Below the slowest ticket's factor.
            if 0.25 < window(30, "3d")?.factor {
                Ok(())
            } else {
                Err("a burn rate of 0.25 would raise a ticket".into())
            }
        },
    },
    Claim {
        module: TRIAGE,
        says: "8% of reads are slower than the latency objective's line and that objective is 99%, the latency budget burns at 8 — past the six-hour page's threshold of 6.",
        check: || {
            near(8.0, 0.08 / budget(99.0)?)?;
            near(6.0, window(30, "6h")?.factor)?;
            same("page", window(30, "6h")?.severity)
        },
    },
    Claim {
        module: TRIAGE,
        says: "30 of 2,000 reads a second is 1.5% failing, a burn rate of 15 on a 0.1% budget — past the fast page's 14.4",
        check: || {
            near(0.015, 30.0 / 2_000.0)?;
            near(0.001, budget(99.9)?)?;
            near(15.0, 30.0 / 2_000.0 / budget(99.9)?)?;
            near(14.4, window(30, "1h")?.factor)
        },
    },
    Claim {
        module: TRIAGE,
        says: "The timeouts are 5 ÷ 10,000 = 0.05% of reads, a burn rate of 0.5 on a 0.1% budget: not even a ticket. Seven percent of reads over the line against a 1% budget is a burn rate of 7, past the six-hour page's 6.",
        check: || {
            near(0.5, 5.0 / 10_000.0 / budget(99.9)?)?;
            near(7.0, 0.07 / budget(99.0)?)?;
            if 0.5 >= window(30, "3d")?.factor {
                return Err("a burn rate of 0.5 would raise a ticket".into());
            }
            near(6.0, window(30, "6h")?.factor)
        },
    },
    Claim {
        module: KPIS,
        says: "60 ms in eight weeks is 7.5 ms a week; the remaining 40 ms lasts about five weeks.",
        check: || {
            near(7.5, 60.0 / 8.0)?;
            about(5.0, 40.0 / 7.5, 0.1)
        },
    },
];

// ------------------------------------------------------------------ the course text

fn module_path(module: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../content")
        .join(COURSE)
        .join("modules")
        .join(format!("{module}.md"))
}

fn raw(module: &str) -> String {
    std::fs::read_to_string(module_path(module)).unwrap_or_else(|e| panic!("{module}: {e}"))
}

fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The module's text with every run of whitespace turned into one space and the markers of
/// block quotes (`> `) removed, so a fragment may span lines.
fn normalized(module: &str) -> String {
    let raw = raw(module);
    let text: Vec<&str> = raw
        .lines()
        .map(|l| l.trim_start().strip_prefix('>').unwrap_or(l))
        .collect();
    normalize(&text.join("\n"))
}

/// The first fenced code block of `lang` in the module that contains `containing`.
fn block(module: &str, lang: &str, containing: &str) -> String {
    let text = raw(module);
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim_start().strip_prefix("```") == Some(lang) => {
                current = Some(String::new())
            }
            Some(b) if line.trim_start() == "```" => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    blocks
        .into_iter()
        .find(|b| b.contains(containing))
        .unwrap_or_else(|| panic!("{module} has no ```{lang} block with {containing:?}"))
}

// ------------------------------------------------------------------ comparing

/// `computed` equals `stated` up to rounding.
fn near(stated: f64, computed: f64) -> Check {
    about(stated, computed, 1e-9)
}

/// `computed` is within `fraction` of `stated` (absolutely, when `stated` is 0).
fn about(stated: f64, computed: f64, fraction: f64) -> Check {
    let tolerance = if stated == 0.0 {
        fraction
    } else {
        stated.abs() * fraction
    };
    if (stated - computed).abs() <= tolerance + 1e-12 {
        Ok(())
    } else {
        Err(format!(
            "the text says {stated}, the engine gives {computed}"
        ))
    }
}

fn same(stated: &str, computed: &str) -> Check {
    if stated == computed {
        Ok(())
    } else {
        Err(format!(
            "the text says {stated:?}, the engine gives {computed:?}"
        ))
    }
}

// ------------------------------------------------------------------ k6

fn config() -> RunConfig {
    RunConfig {
        seed: 1,
        scenario: Scenario::builtin("baseline").expect("the baseline scenario"),
        limits: Limits {
            max_vus: 10_000,
            ..Limits::default()
        },
        ..RunConfig::default()
    }
}

/// Runs a k6 script on the simulated clock against the baseline toy service.
fn k6(script: &str) -> Result<RunSummary, String> {
    run_sim_blocking(script, &config(), |_| {}).map_err(|e| format!("the script does not run: {e}"))
}

/// The exit code of a script, whether or not it produced a summary.
fn k6_exit(script: &str) -> Result<i32, String> {
    Ok(match run_sim_blocking(script, &config(), |_| {}) {
        Ok(s) => s.exit_code,
        Err(e) => e.exit_code(),
    })
}

/// The exit code of a script that must fail before running.
fn k6_error(script: &str) -> Result<i32, String> {
    match run_sim_blocking(script, &config(), |_| {}) {
        Ok(s) => Err(format!("the script ran (exit {})", s.exit_code)),
        Err(e) => Ok(e.exit_code()),
    }
}

/// The plan k6 would follow (options validated, nothing run).
fn k6_plan(script: &str) -> Result<Plan, String> {
    inspect(script, &config()).map_err(|e| e.to_string())
}

/// An options-only example made runnable.
fn with_default(options: &str) -> String {
    format!("{options}\nexport default function () {{}}\n")
}

/// A value of the end-of-test summary (`handleSummary` data).
fn stat(s: &RunSummary, metric: &str, field: &str) -> Result<f64, String> {
    s.data["metrics"][metric]["values"][field]
        .as_f64()
        .ok_or_else(|| format!("the summary has no {metric} {field}"))
}

/// `stat` of a k6 Trend holding `values`, as k6's summary computes it.
fn k6_trend(values: &[f64], stat_name: &str) -> Result<f64, String> {
    let list = values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let script = format!(
        "import {{ Trend }} from 'k6/metrics';\nconst sample = new Trend('sample');\n\
         export const options = {{ vus: 1, iterations: 1, summaryTrendStats: ['{stat_name}'] }};\n\
         export default function () {{ for (const v of [{list}]) sample.add(v); }}\n"
    );
    stat(&k6(&script)?, "sample", stat_name)
}

/// Whether thresholds on `metric` with each expression are accepted.
fn accepts(metric: &str, exprs: &[&str]) -> Check {
    let list = exprs
        .iter()
        .map(|e| format!("'{e}'"))
        .collect::<Vec<_>>()
        .join(", ");
    k6_plan(&format!("export const options = {{ thresholds: {{ {metric}: [{list}] }} }};\nexport default function () {{}}\n"))
        .map(|_| ())
}

fn refuses(metric: &str, expr: &str) -> Check {
    match accepts(metric, &[expr]) {
        Ok(()) => Err(format!(
            "k6 would refuse {metric}: {expr}, the engine accepts it"
        )),
        Err(_) => Ok(()),
    }
}

/// One request that answers 200 and one that answers 404.
const HALF_FAILED: &str = "import http from 'k6/http';\n// callback\n\
    export const options = { vus: 1, iterations: 1 };\n\
    export default function () { http.get(`${__ENV.BASE_URL}/`); http.get(`${__ENV.BASE_URL}/no-such-page`); }\n";

fn thresholds_run() -> &'static RunSummary {
    static RUN: OnceLock<RunSummary> = OnceLock::new();
    RUN.get_or_init(|| {
        k6(&block(THRESHOLDS, "javascript", "http_req_failed"))
            .expect("the thresholds module's script")
    })
}

fn checks_run() -> Result<RunSummary, String> {
    k6("import { check } from 'k6';\nimport { Counter } from 'k6/metrics';\nconst after = new Counter('after_check');\n\
        export const options = { iterations: 10 };\n\
        export default function () { if (!check(1, { yes: () => true, no: () => false })) after.add(1); }\n")
}

fn lifecycle_run() -> Result<RunSummary, String> {
    k6("import { check } from 'k6';\n\
        export const options = { vus: 2, iterations: 4 };\n\
        export function setup() { console.log('marker-setup'); return { n: 42 }; }\n\
        export default function (data) { check(data, { 'setup data': (d) => d.n === 42 }); }\n\
        export function teardown(data) { console.log('marker-teardown'); }\n")
}

fn count_logs(s: &RunSummary, marker: &str) -> f64 {
    s.logs.iter().filter(|l| l.contains(marker)).count() as f64
}

/// 98 requests of 100 ms and 2 of 5 s.
fn tail_sample() -> Vec<f64> {
    let mut v = vec![100.0; 98];
    v.extend([5_000.0; 2]);
    v
}

/// The ten samples of the percentile example, read from the text.
fn ten_samples() -> Result<Vec<f64>, String> {
    let text = normalized(OMISSION);
    let start =
        text.find("With ten samples `[").ok_or("no ten samples")? + "With ten samples `[".len();
    let end = start + text[start..].find(']').ok_or("no ]")?;
    text[start..end]
        .split(',')
        .map(|v| v.trim().parse::<f64>().map_err(|e| e.to_string()))
        .collect()
}

// ------------------------------------------------------------------ PromQL

/// A store loaded from promqltest `load` lines.
fn store(load: &str) -> Result<Storage, String> {
    let mut s = Storage::new();
    load_script_data(load, &mut s)?;
    Ok(s)
}

/// A store holding the module's exposition example that contains `containing`, scraped at 0.
fn exposition(module: &str, containing: &str) -> Result<Storage, String> {
    let mut s = Storage::new();
    s.load_exposition(&block(module, "text", containing), 0)
        .map_err(|e| format!("{e:?}"))?;
    Ok(s)
}

/// The single value of `query` at `at_ms`.
fn promql(s: &Storage, query: &str, at_ms: i64) -> Result<f64, String> {
    match instant_query(s, query, at_ms).map_err(|e| format!("{query}: {e}"))? {
        Value::Vector(v) if v.len() == 1 => Ok(v[0].value),
        Value::Scalar(v) => Ok(v),
        other => Err(format!("{query} returned {other:?}")),
    }
}

fn empty(s: &Storage, query: &str) -> Check {
    match instant_query(s, query, 0).map_err(|e| e.to_string())? {
        Value::Vector(v) if v.is_empty() => Ok(()),
        other => Err(format!("{query} returned {other:?}")),
    }
}

/// The module's histogram example as promqltest data.
const HISTOGRAM_LOAD: &str = "load 1m\n  http_request_duration_seconds_bucket{le=\"0.05\"} 7012\n  http_request_duration_seconds_bucket{le=\"0.1\"} 9480\n  http_request_duration_seconds_bucket{le=\"0.25\"} 9921\n  http_request_duration_seconds_bucket{le=\"0.5\"} 9990\n  http_request_duration_seconds_bucket{le=\"+Inf\"} 10000\n";

/// Three weeks and ten minutes of a steady 1 request per second, a sample a minute.
fn three_weeks() -> Result<Storage, String> {
    store("load 1m\n  http_requests_total{path=\"/api/pizza\"} 0+60x30250\n")
}

// ------------------------------------------------------------------ SLOs and burn rates

fn window(period_days: u32, long: &str) -> Result<BurnWindow, String> {
    burn_windows(period_days)
        .into_iter()
        .find(|w| w.long == long)
        .ok_or_else(|| format!("no {long} window"))
}

/// A row of the SLI module's table: factor, long and short window, severity.
fn table_row(period: u32, long: &str, factor: f64, short: &str, severity: &str) -> Check {
    let w = window(period, long)?;
    near(factor, w.factor)?;
    same(short, w.short)?;
    same(severity, w.severity)
}

/// A row of the burn-rate module's table: budget share, factor over 30 days, short window.
fn share_row(long: &str, share: f64, factor: f64, short: &str) -> Check {
    let w = window(30, long)?;
    near(share, w.budget_share)?;
    near(factor, w.factor)?;
    near(factor, share * 720.0 / (minutes(long)? / 60.0))?;
    same(short, w.short)
}

fn minutes(d: &str) -> Result<f64, String> {
    let (n, unit) = d.split_at(d.len() - 1);
    let n: f64 = n.parse().map_err(|_| format!("{d}?"))?;
    Ok(n * match unit {
        "m" => 1.0,
        "h" => 60.0,
        "d" => 1440.0,
        _ => return Err(format!("{d}?")),
    })
}

/// The error budget the SLO toolkit gives an objective (in percent).
fn budget(objective: f64) -> Result<f64, String> {
    let yaml = format!(
        "version: \"prometheus/v1\"\nservice: s\nslos:\n  - name: n\n    objective: {objective}\n    sli:\n      events:\n        error_query: sum(rate(e[{{{{.window}}}}]))\n        total_query: sum(rate(t[{{{{.window}}}}]))\n"
    );
    Ok(parse_slo_str("slo.yaml", &yaml).map_err(|e| e.to_string())?[0].error_budget())
}

/// The module's Sloth spec.
fn sloth(module: &str) -> Result<Vec<SloSpec>, String> {
    parse_slo_str("slo.yaml", &block(module, "yaml", "prometheus/v1")).map_err(|e| e.to_string())
}

fn page_rule(slos: &[SloSpec]) -> Result<String, String> {
    generate_rule_file(slos)
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .find(|r| {
            r.alert.is_some() && r.labels.get("sloth_severity").map(String::as_str) == Some("page")
        })
        .map(|r| r.expr.clone())
        .ok_or_else(|| "no page alert".into())
}

fn requests(status: &str) -> Labels {
    Labels::new([
        ("__name__", "http_requests_total"),
        ("path", "/api/pizza"),
        ("status", status),
    ])
}

/// Scrapes every 15 s of 10,000 requests; `errors(step)` of them fail.
fn traffic(steps: i64, errors: impl Fn(i64) -> f64) -> Storage {
    let mut s = Storage::new();
    let (mut ok, mut bad) = (0.0, 0.0);
    for i in 0..=steps {
        if i > 0 {
            bad += errors(i);
            ok += 10_000.0 - errors(i);
        }
        s.append(&requests("200"), i * 15_000, ok);
        s.append(&requests("500"), i * 15_000, bad);
    }
    s
}

const MINUTE: i64 = 60_000;

struct Replay {
    pages: bool,
    tickets: bool,
    max_burn_5m: f64,
    max_burn_1h: f64,
    first_page_min: f64,
    long_1h_over_min: f64,
    long_6h_over_min: f64,
}

/// Replays the burn-rate module's generated rules minute by minute from `from` to `to`
/// (minutes since `t0`).
fn replay(mut s: Storage, t0: i64, from: i64, to: i64) -> Result<Replay, String> {
    let slos = sloth(BURN)?;
    let rows = slo_toolkit::slo::timeline::replay(
        &slos,
        &mut s,
        t0 + from * MINUTE,
        t0 + to * MINUTE,
        MINUTE,
    )?;
    let minute = |r: &slo_toolkit::slo::timeline::TimelineRow| (r.t - t0) as f64 / MINUTE as f64;
    let first = |f: &dyn Fn(&slo_toolkit::slo::timeline::SloState) -> bool| {
        rows.iter()
            .find(|r| f(&r.slos[0]))
            .map_or(f64::INFINITY, minute)
    };
    let max = |i: usize| {
        rows.iter()
            .filter_map(|r| r.slos[0].burn[i])
            .fold(0.0, f64::max)
    };
    Ok(Replay {
        pages: rows
            .iter()
            .any(|r| r.slos[0].firing.iter().any(|f| f == "page")),
        tickets: rows
            .iter()
            .any(|r| r.slos[0].firing.iter().any(|f| f == "ticket")),
        max_burn_5m: max(0),
        max_burn_1h: max(1),
        first_page_min: first(&|st| st.firing.iter().any(|f| f == "page")),
        long_1h_over_min: first(&|st| st.burn[1].is_some_and(|b| b > 14.4)),
        long_6h_over_min: first(&|st| st.burn[2].is_some_and(|b| b > 6.0)),
    })
}

/// A day of clean traffic, then 10% errors for two minutes.
fn blip_replay() -> Result<&'static Replay, String> {
    static R: OnceLock<Result<Replay, String>> = OnceLock::new();
    R.get_or_init(|| {
        let start = 24 * 60 * 4; // steps of 15 s
        let s = traffic(start + 30 * 4, |i| {
            if i > start && i <= start + 8 {
                1_000.0
            } else {
                0.0
            }
        });
        replay(s, start * 15_000, 0, 30)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Seven hours of clean traffic, then 2.88% errors.
fn incident_replay() -> Result<Replay, String> {
    let start = 7 * 60 * 4;
    let s = traffic(start + 80 * 4, |i| if i > start { 288.0 } else { 0.0 });
    replay(s, start * 15_000, 0, 80)
}

// ------------------------------------------------------------------ quality gates

/// The quality-gate module's `slo.yaml`.
fn module_gate() -> Result<SloFile, String> {
    SloFile::parse("slo.yaml", &block(GATES, "yaml", "total_score")).map_err(|e| e.to_string())
}

fn gate(slo: &SloFile, p95: f64, errors: f64, history: &[EvaluationResult]) -> EvaluationResult {
    let values = BTreeMap::from([
        ("response_time_p95".to_string(), Ok(p95)),
        ("error_rate".to_string(), Ok(errors)),
        ("throughput".to_string(), Ok(50.0)),
    ]);
    slo.evaluate(&values, history)
}

/// Passing builds with these p95s, oldest first.
fn past_results(p95s: &[f64]) -> Result<Vec<EvaluationResult>, String> {
    let slo = module_gate()?;
    let mut history = Vec::new();
    for p in p95s {
        let r = gate(&slo, *p, 0.001, &[]);
        same("pass", &r.result)?;
        history.push(r);
    }
    Ok(history)
}

/// The module's scoring table's baseline: earlier builds at 400 ms.
fn gate_history() -> Result<Vec<EvaluationResult>, String> {
    let h = past_results(&[400.0, 400.0, 400.0])?;
    near(
        400.0,
        module_gate()?
            .baseline("response_time_p95", &h)
            .unwrap_or(f64::NAN),
    )?;
    Ok(h)
}

fn build_row(p95: f64, errors: f64, statuses: [&str; 2], score: f64, result: &str) -> Check {
    let r = gate(&module_gate()?, p95, errors, &gate_history()?);
    same(statuses[0], &r.objectives[0].status)?;
    same(statuses[1], &r.objectives[1].status)?;
    about(score, r.score, 1e-9)?;
    same(result, &r.result)
}

// ------------------------------------------------------------------ the tests

#[test]
fn every_claim_in_the_course_text_is_what_the_engines_compute() {
    let mut problems = Vec::new();
    let mut per_module: BTreeMap<&str, usize> = BTreeMap::new();
    for c in CLAIMS {
        *per_module.entry(c.module).or_default() += 1;
        if !normalized(c.module).contains(&normalize(c.says)) {
            problems.push(format!(
                "{}: the text no longer says {:?}; re-check the claim and update its row",
                c.module, c.says
            ));
            continue;
        }
        if let Err(e) = (c.check)() {
            problems.push(format!("{}: {:?}: {e}", c.module, c.says));
        }
    }
    eprintln!("claims checked per module: {per_module:#?}");
    assert!(
        problems.is_empty(),
        "{} of {} claims fail:\n{}",
        problems.len(),
        CLAIMS.len(),
        problems.join("\n")
    );
}

#[test]
fn the_checks_can_fail() {
    // A wrong number is caught, whichever engine computes it.
    assert!(near(37.0, 36.5).is_err());
    assert!(k6_trend(&[1.0, 2.0, 3.0], "p(50)").is_ok_and(|v| near(2.5, v).is_err()));
    assert!(table_row(30, "1h", 14.0, "5m", "page").is_err());
    assert!(!normalized(OMISSION).contains("p90 = 25 + 0.1 × (140 − 25) = 36.6 ms"));
}
