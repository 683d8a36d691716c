//! The lab pages. Without JavaScript: plain forms, and a run's page reloads
//! itself every two seconds until the run has finished. With JavaScript: drafts
//! save as you type, and progress streams in as Server-Sent Events.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::chart::{fmt_value, LineChart};
use super::editor::{autosave, CodeEditor};
use super::{
    get_lab, get_run, query_run, CancelRun, LabReport, LabView, ResetLab, RevealSolution,
    RunProgress, RunReport, RunView, StartRun, Table,
};
use crate::error::AppError;
use crate::layout::{form_error, load_error};

fn param(name: &'static str) -> impl Fn() -> String + Copy + Send + Sync + 'static {
    let params = use_params_map();
    move || params.read().get(name).unwrap_or_default()
}

fn status_label(status: &str, passed: bool) -> &'static str {
    match (status, passed) {
        ("queued", _) => "Queued",
        ("running", _) => "Running",
        ("cancelled", _) => "Cancelled",
        ("failed", _) => "Engine error",
        (_, true) => "Passed",
        _ => "Not passed yet",
    }
}

/// `/courses/:course/labs/:lab`: instructions, steps, editors, run history.
#[component]
pub fn LabPage() -> impl IntoView {
    let course = param("course");
    let lab = param("lab");
    // Revealing the solution or resetting the files changes the page: it is
    // read again after either, so the solution shows at once.
    let reset = ServerAction::<ResetLab>::new();
    let reveal = ServerAction::<RevealSolution>::new();
    let data = Resource::new(
        move || {
            (
                course(),
                lab(),
                reset.version().get(),
                reveal.version().get(),
            )
        },
        |(c, l, _, _)| get_lab(c, l),
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <LabBody v reset reveal /> }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn LabBody(
    v: LabView,
    reset: ServerAction<ResetLab>,
    reveal: ServerAction<RevealSolution>,
) -> impl IntoView {
    let start = ServerAction::<StartRun>::new();
    let (on_change, save_status) = autosave(v.course_slug.clone(), v.slug.clone());
    let query = use_query_map();
    let saved_note = move || {
        query
            .read()
            .get("saved")
            .map(|_| "Draft saved.".to_string())
    };
    let course_href = format!("/courses/{}", v.course_slug);
    let can_reveal = v.solution.is_none() && v.attempts >= v.reveal_after;
    // Each form's children are a closure of their own: each gets its own copies.
    let (course_run, lab_run) = (v.course_slug.clone(), v.slug.clone());
    let (course_reset, lab_reset) = (v.course_slug.clone(), v.slug.clone());
    let (course_reveal, lab_reveal) = (v.course_slug.clone(), v.slug.clone());
    let runs_base = format!("/courses/{}/labs/{}/runs", v.course_slug, v.slug);
    // The way through the course goes on from here: after a pass at once, and
    // at the foot of the page always (issue 20).
    let (course_way, lab_way) = (v.course_slug.clone(), v.slug.clone());
    let way_on = v.passed.then(|| {
        view! { <crate::course::pages::LabWayOn course=v.course_slug.clone() lab=v.slug.clone() /> }
    });
    view! {
        <Title text=v.title.clone() />
        <nav aria-label="Breadcrumb" class="breadcrumb">
            <a href="/">"Courses"</a>" / "<a href=course_href.clone()>{v.course_title.clone()}</a>" / "{v.section_title.clone()}
        </nav>
        <article class="lab">
            <header class="lab-header">
                <h1>{v.title.clone()}</h1>
                <p class="lab-meta">{format!("Lab · about {} minutes", v.minutes)}
                    {v.passed.then(|| view! { " · " <strong class="badge passed">"Passed"</strong> })}
                </p>
                <p class="summary">{v.summary.clone()}</p>
                <p class="jump-to-work"><a href="#work-h">"Go to your files and Run"</a></p>
                {way_on}
            </header>
            // Instructions beside the files at desktop width, stacked on a phone.
            <div class="lab-workspace">
            <div class="lab-brief" role="region" aria-label="Steps and instructions" tabindex="0">
            <section aria-labelledby="steps-h" class="lab-steps">
                <h2 id="steps-h">"Steps"</h2>
                <ol>
                    {v.steps.iter().map(|s| {
                        let (class, label) = match s.passed {
                            Some(true) => ("step passed", "passed"),
                            Some(false) => ("step failed", "not passed yet"),
                            None => ("step", "not run yet"),
                        };
                        view! { <li class=class>{s.title.clone()}" "<span class="step-status">{format!("({label})")}</span></li> }
                    }).collect_view()}
                </ol>
            </section>
            <section class="instructions" aria-label="Instructions" inner_html=v.instructions_html.clone() />
            </div>
            <section aria-labelledby="work-h" class="lab-work">
                <h2 id="work-h">"Your files"</h2>
                {v.active_run.map(|id| view! {
                    <p class="notice" role="status">"A run of yours is in progress. "
                        <a href=format!("{runs_base}/{id}")>"Watch it"</a></p>
                })}
                <p class="hint">"Tab indents; press Escape, then Tab, to leave an editor. Your work is saved as a draft."</p>
                <ActionForm action=start attr:class="lab-form">
                    <input type="hidden" name="course" value=course_run />
                    <input type="hidden" name="lab" value=lab_run />
                    // Run and Save stay in reach while the files scroll by.
                    <div class="form-actions lab-toolbar">
                        <button type="submit" class="button primary">"Run"</button>
                        <button type="submit" class="button" formaction="/api/labs/save" name="back" value="1">"Save draft"</button>
                        <span class="save-status" role="status" aria-live="polite">{move || { let s = save_status.get(); if s.is_empty() { saved_note().unwrap_or_default() } else { s } }}</span>
                    </div>
                    {v.files.iter().map(|f| view! {
                        <CodeEditor file=f.clone() name=format!("files[{}]", f.name) on_change=on_change />
                    }).collect_view()}
                </ActionForm>
                {form_error(start.value())}
                <ActionForm action=reset attr:class="inline-form">
                    <input type="hidden" name="course" value=course_reset />
                    <input type="hidden" name="lab" value=lab_reset />
                    <button type="submit" class="button link">"Reset to the starter files"</button>
                </ActionForm>
            </section>
            </div>
            {(!v.runs.is_empty()).then(|| view! {
                <section aria-labelledby="runs-h">
                    <h2 id="runs-h">"Your runs"</h2>
                    <table class="runs">
                        <thead><tr><th scope="col">"Run"</th><th scope="col">"Result"</th><th scope="col">"Checks passed"</th></tr></thead>
                        <tbody>
                            {v.runs.iter().map(|r| view! {
                                <tr>
                                    <td><a href=format!("{runs_base}/{}", r.id)>{format!("Run {}", r.number)}</a></td>
                                    <td>{status_label(&r.status, r.passed)}</td>
                                    <td>{(r.status == "done").then(|| format!("{} of {}", r.score, r.max_score))}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </section>
            })}
            <section aria-labelledby="solution-h" id="solution">
                <h2 id="solution-h">"Solution"</h2>
                {match v.solution.clone() {
                    Some(files) => view! {
                        <p>{if v.is_admin { "Visible to you as an administrator." } else { "The reference solution. Compare it with yours." }}</p>
                        {files.into_iter().map(|f| view! { <CodeEditor file=f readonly=true /> }).collect_view()}
                    }.into_any(),
                    None if can_reveal => view! {
                        <ActionForm action=reveal>
                            <input type="hidden" name="course" value=course_reveal />
                            <input type="hidden" name="lab" value=lab_reveal />
                            <button type="submit" class="button">"Reveal the solution"</button>
                        </ActionForm>
                        {form_error(reveal.value())}
                    }.into_any(),
                    None => view! {
                        <p>{format!("The solution can be revealed after {} graded runs ({} so far).", v.reveal_after, v.attempts)}</p>
                    }.into_any(),
                }}
            </section>
            <p><a href=course_href>"Back to the course"</a></p>
        </article>
        <crate::course::pages::LabSteps course=course_way lab=lab_way />
    }
}

/// `/courses/:course/labs/:lab/runs/:run`: progress, then the graded result.
#[component]
pub fn RunPage() -> impl IntoView {
    let run = move || param("run")().parse::<i64>().unwrap_or(0);
    let data = Resource::new(run, get_run);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <RunBody v data /> }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RunBody(v: RunView, data: Resource<Result<RunView, AppError>>) -> impl IntoView {
    let lab_href = format!("/courses/{}/labs/{}", v.course_slug, v.lab_slug);
    let active = v.status == "queued" || v.status == "running";
    view! {
        <Title text=format!("Run {} · {}", v.number, v.lab_title) />
        <nav aria-label="Breadcrumb" class="breadcrumb">
            <a href=format!("/courses/{}", v.course_slug)>"Course"</a>" / "<a href=lab_href.clone()>{v.lab_title.clone()}</a>
        </nav>
        <h1>{format!("{} — run {}", v.lab_title, v.number)}</h1>
        {if active {
            view! { <Live run=v.id initial=v.progress.clone() data /> }.into_any()
        } else {
            match v.report.clone() {
                Some(r) => view! { <Report r v=v.clone() /> }.into_any(),
                None => view! { <p role="status">{status_label(&v.status, false)}</p> }.into_any(),
            }
        }}
        <details class="run-files">
            <summary>"The files of this run"</summary>
            {v.files.iter().map(|f| view! { <CodeEditor file=f.clone() readonly=true /> }).collect_view()}
        </details>
        <p><a class="button" href=lab_href>"Back to the lab"</a></p>
    }
}

/// Progress of a queued or running run: streamed with JavaScript, and a page
/// that refreshes itself without.
#[component]
fn Live(
    run: i64,
    initial: Option<RunProgress>,
    data: Resource<Result<RunView, AppError>>,
) -> impl IntoView {
    let progress = RwSignal::new(initial);
    let cancel = ServerAction::<CancelRun>::new();
    Effect::new(move |_| stream_progress(run, progress, data));
    let bar = move || {
        progress.get().map(|p| {
            let label = match (p.status.as_str(), p.position) {
                ("queued", Some(n)) => format!("Queued: {n} in line. It starts as soon as a runner is free."),
                ("queued", None) => "Queued.".to_string(),
                _ if p.runs > 0 => format!("Running {} ({} of {})", p.run_title, p.index + 1, p.runs),
                _ => "Starting…".to_string(),
            };
            let (value, max) = if p.total > 0.0 { (p.elapsed.min(p.total), p.total) } else { (0.0, 1.0) };
            view! {
                <p class="run-status">{label}</p>
                <progress max=max value=value aria-label="Elapsed test time">{format!("{:.0}%", value / max * 100.0)}</progress>
                <dl class="live-stats">
                    <div><dt>"Elapsed"</dt><dd>{format!("{:.0} s of {:.0} s", p.elapsed, p.total)}</dd></div>
                    <div><dt>"VUs"</dt><dd>{p.vus}</dd></div>
                    <div><dt>"Requests/s"</dt><dd>{fmt_value(p.rps)}</dd></div>
                    <div><dt>"p95"</dt><dd>{format!("{} ms", fmt_value(p.p95_ms))}</dd></div>
                    <div><dt>"Errors"</dt><dd>{p.errors}</dd></div>
                </dl>
            }
        })
    };
    view! {
        // Without JavaScript the page reloads itself; with it, `noscript` stays inert.
        <noscript inner_html=r#"<meta http-equiv="refresh" content="2">"# />
        <section class="live" aria-live="polite" aria-busy="true">{bar}</section>
        <ActionForm action=cancel>
            <input type="hidden" name="run" value=run />
            <button type="submit" class="button">"Cancel"</button>
        </ActionForm>
        {form_error(cancel.value())}
    }
}

/// Follows `/labs/runs/{run}/events` and reloads the run once it is done.
fn stream_progress(
    run: i64,
    progress: RwSignal<Option<RunProgress>>,
    data: Resource<Result<RunView, AppError>>,
) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;
        let Ok(source) = web_sys::EventSource::new(&format!("/labs/runs/{run}/events")) else {
            return;
        };
        let on_progress =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
                if let Some(text) = ev.data().as_string() {
                    if let Ok(p) = serde_json::from_str::<RunProgress>(&text) {
                        progress.try_set(Some(p));
                    }
                }
            });
        let closer = source.clone();
        let on_done =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_ev: web_sys::MessageEvent| {
                closer.close();
                data.refetch();
            });
        let _ = source
            .add_event_listener_with_callback("progress", on_progress.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("done", on_done.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("error", on_done.as_ref().unchecked_ref());
        on_progress.forget();
        on_done.forget();
        let source = send_wrapper::SendWrapper::new(source);
        on_cleanup(move || source.close());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (run, progress, data);
}

fn table_view(t: &Table) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data">
                {(!t.title.is_empty()).then(|| view! { <caption>{t.title.clone()}</caption> })}
                <thead><tr>{t.columns.iter().map(|c| view! { <th scope="col">{c.clone()}</th> }).collect_view()}</tr></thead>
                <tbody>
                    {t.rows.iter().map(|r| view! {
                        <tr>{r.iter().map(|c| view! { <td>{c.clone()}</td> }).collect_view()}</tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// A hint's text with its `code` spans as code (hints are written in markdown,
/// and inline code is the markdown they use); everything stays escaped text.
fn inline_code(text: &str) -> impl IntoView {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            let part = part.to_string();
            if i % 2 == 1 {
                view! { <code>{part}</code> }.into_any()
            } else {
                part.into_any()
            }
        })
        .collect_view()
}

#[component]
fn Report(r: LabReport, v: RunView) -> impl IntoView {
    let verdict = if r.cancelled {
        "Cancelled before every check ran.".to_string()
    } else if r.passed {
        format!("Passed: all {} checks hold.", r.max_score)
    } else {
        format!("{} of {} checks pass.", r.score, r.max_score)
    };
    view! {
        <section class="verdict" class:passed=r.passed role="status">
            <h2>{if r.passed { "Lab passed" } else { "Not passed yet" }}</h2>
            <p>{verdict}</p>
            {r.error.clone().map(|e| view! { <pre class="run-error" role="alert">{e}</pre> })}
            {r.passed.then(|| view! { <crate::course::pages::LabWayOn course=v.course_slug.clone() lab=v.lab_slug.clone() /> })}
        </section>
        <section aria-labelledby="checks-h" class="checks">
            <h2 id="checks-h">"Checks"</h2>
            {r.steps.iter().map(|s| view! {
                <h3 class=if s.passed { "step passed" } else { "step failed" }>{s.title.clone()}</h3>
                <ul class="check-list">
                    {s.checks.iter().map(|c| {
                        // A run cancelled before a check could hold leaves it
                        // unjudged: neither failed nor worth a hint.
                        let (class, mark, said) = match (c.passed, r.cancelled) {
                            (true, _) => ("check passed", "✓", " (passed)"),
                            (false, true) => ("check cancelled", "–", " (cancelled)"),
                            (false, false) => ("check failed", "✗", " (failed)"),
                        };
                        let judged = !c.passed && !r.cancelled;
                        view! {
                            <li class=class>
                                <span class="check-mark" aria-hidden="true">{mark}</span>
                                <strong>{c.title.clone()}</strong>
                                <span class="visually-hidden">{said}</span>
                                <p>{c.message.clone()}</p>
                                {judged.then(|| c.expected.clone()).flatten().map(|e| view! { <p class="expected">"Expected: "{e}</p> })}
                                {judged.then(|| c.hint.clone()).flatten().map(|h| view! { <p class="hint">"Hint: "{inline_code(&h)}</p> })}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }).collect_view()}
        </section>
        {(!r.charts.is_empty() || !r.tables.is_empty()).then(|| view! {
            <section aria-labelledby="lab-charts-h">
                <h2 id="lab-charts-h">"Results"</h2>
                {r.tables.iter().map(table_view).collect_view()}
                <div class="charts">{r.charts.iter().map(|c| view! { <LineChart chart=c.clone() /> }).collect_view()}</div>
            </section>
        })}
        {r.runs.iter().map(|run| view! { <RunSection run=run.clone() /> }).collect_view()}
        {(!v.data_runs.is_empty()).then(|| view! { <QueryBox v=v.clone() /> })}
    }
}

#[component]
fn RunSection(run: RunReport) -> impl IntoView {
    let h = format!("run-{}-h", run.id);
    let labelled_by = h.clone();
    view! {
        <section aria-labelledby=labelled_by class="load-test">
            <h2 id=h>{format!("Load test: {}", run.title)}</h2>
            <p class="run-meta">{format!("Scenario {} · {:.0} s · exit code {}", run.scenario, run.duration, run.exit_code)}</p>
            {run.error.clone().map(|e| view! { <pre class="run-error" role="alert">{e}</pre> })}
            {run.aborted.clone().map(|a| view! { <p class="notice">"Stopped early: "{a}</p> })}
            {(!run.thresholds.is_empty()).then(|| view! {
                <table class="data thresholds">
                    <caption>"Thresholds"</caption>
                    <thead><tr><th scope="col">"Metric"</th><th scope="col">"Threshold"</th><th scope="col">"Result"</th></tr></thead>
                    <tbody>
                        {run.thresholds.iter().map(|t| view! {
                            <tr class=if t.ok { "ok" } else { "crossed" }><td><code>{t.metric.clone()}</code></td><td><code>{t.expression.clone()}</code></td>
                                <td>{if t.ok { "✓ passed" } else { "✗ crossed" }}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            {(!run.checks.is_empty()).then(|| view! {
                <table class="data k6-checks">
                    <caption>"k6 checks"</caption>
                    <thead><tr><th scope="col">"Check"</th><th scope="col">"Passed"</th><th scope="col">"Failed"</th></tr></thead>
                    <tbody>
                        {run.checks.iter().map(|c| view! { <tr><td>{c.name.clone()}</td><td>{c.passes}</td><td>{c.fails}</td></tr> }).collect_view()}
                    </tbody>
                </table>
            })}
            {(!run.metrics.rows.is_empty()).then(|| table_view(&run.metrics))}
            <div class="charts">{run.charts.iter().map(|c| view! { <LineChart chart=c.clone() /> }).collect_view()}</div>
            <details><summary>"k6 end-of-test summary"</summary><pre class="k6-text">{run.text.clone()}</pre></details>
            {(!run.logs.is_empty()).then(|| view! {
                <details><summary>{format!("Console output ({} lines)", run.logs.len())}</summary><pre class="k6-text">{run.logs.join("\n")}</pre></details>
            })}
        </section>
    }
}

/// Query a run's scraped metrics with PromQL: a GET form, so the answer is a
/// page of its own with or without JavaScript.
#[component]
fn QueryBox(v: RunView) -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let first = StoredValue::new(v.data_runs.first().map(|d| d.0.clone()).unwrap_or_default());
    let which = move || {
        query
            .read()
            .get("data")
            .unwrap_or_else(|| first.get_value())
    };
    let run = v.id;
    let answer = Resource::new(
        move || (q(), which()),
        move |(q, d)| async move {
            if q.trim().is_empty() {
                None
            } else {
                Some(query_run(run, d, q).await)
            }
        },
    );
    let which_now = which;
    view! {
        <section aria-labelledby="query-h" class="query-box">
            <h2 id="query-h">"Query this run's metrics"</h2>
            <p>"PromQL over what the toy service's "<code>"/metrics"</code>" exposed during the run, as a range query across it."</p>
            <Form method="GET" action="">
                <label for="q-data">"Load test"</label>
                <select id="q-data" name="data">
                    {v.data_runs.iter().map(|(id, title)| {
                        let selected = which_now() == *id;
                        view! { <option value=id.clone() selected=selected>{title.clone()}</option> }
                    }).collect_view()}
                </select>
                <label for="q">"PromQL"</label>
                <input id="q" name="q" class="promql" value=q() spellcheck="false" autocomplete="off"
                    placeholder="sum(rate(http_requests_total[1m])) by (status)" />
                <button type="submit" class="button">"Query"</button>
            </Form>
            <Suspense fallback=|| view! { <p>"Querying…"</p> }>
                {move || Suspend::new(async move {
                    match answer.await {
                        None => ().into_any(),
                        Some(Ok(chart)) if chart.lines.is_empty() => view! { <p role="status">"The query returned no series."</p> }.into_any(),
                        Some(Ok(chart)) => view! { <LineChart chart /> }.into_any(),
                        Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
