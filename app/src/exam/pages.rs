//! The exam pages. Every one works with JavaScript off: one question per page, its
//! form saves on submit; with JavaScript on the same forms post in place and the
//! countdown ticks. The countdown always starts from the server's remaining seconds.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::{
    get_attempt_summary, get_exam_overview, get_exam_question, get_exam_result, Answer,
    AttemptSummary, ExamOverview, ExamResult, ItemStatus, QuestionPage, SaveAck, SaveAnswer,
    StartExam, SubmitExam, ViewKind,
};
use crate::error::AppError;
use crate::layout::{form_error, load_error};

fn clock(secs: i64) -> String {
    let s = secs.max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A time limit in words: whole minutes as minutes, anything else as seconds.
fn duration(secs: i64) -> String {
    match secs {
        60 => "1 minute".into(),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

/// Time left, from the server's count; ticks each second in the browser. `left` is
/// also set from every save's acknowledgement, and every 30 seconds the page asks the
/// server again, so extra time granted by an administrator shows without a reload.
#[component]
fn Countdown(left: RwSignal<i64>, attempt: i64) -> impl IntoView {
    // Effects run only in the browser: without JavaScript the server's figure stays.
    Effect::new(move |_| {
        let ticks = StoredValue::new(0u32);
        let handle = set_interval_with_handle(
            move || {
                left.try_update(|s| *s = (*s - 1).max(0));
                let n = ticks.try_update_value(|t| {
                    *t += 1;
                    *t
                });
                if n.is_some_and(|n| n % 30 == 0) {
                    leptos::task::spawn_local(async move {
                        if let Ok(s) = get_attempt_summary(attempt).await {
                            if s.status == "active" {
                                left.try_set(s.remaining_seconds);
                            }
                        }
                    });
                }
            },
            std::time::Duration::from_secs(1),
        );
        on_cleanup(move || {
            if let Ok(h) = handle {
                h.clear();
            }
        });
    });
    let warning = move || match left.try_get().unwrap_or(0) {
        0 => Some("Time is up. Your saved answers are being submitted."),
        s if s <= 60 => Some("Less than 1 minute left."),
        s if s <= 300 => Some("Less than 5 minutes left."),
        _ => None,
    };
    view! {
        <div class="countdown">
            <p class="time-left" role="timer" aria-live="off">"Time left: "<strong>{move || clock(left.try_get().unwrap_or(0))}</strong></p>
            <p class="time-warning" role="status" aria-live="polite">{warning}</p>
        </div>
    }
}

/// `/courses/:course/exam`: the rules, the learner's attempts, start or resume.
#[component]
pub fn ExamHome() -> impl IntoView {
    let params = use_params_map();
    let course = move || params.read().get("course").unwrap_or_default();
    let start = ServerAction::<StartExam>::new();
    let data = Resource::new(course, get_exam_overview);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => view! { <ExamHomeBody o start /> }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ExamHomeBody(o: ExamOverview, start: ServerAction<StartExam>) -> impl IntoView {
    let course_href = format!("/courses/{}", o.course_slug);
    let action = match (o.active, o.blocked.clone()) {
        (Some(id), _) => view! { <p><a class="button primary" href=format!("/exam/{id}/q/1")>"Resume your attempt"</a></p> }.into_any(),
        (None, Some(why)) => view! { <p class="locked" role="status">{why}</p> }.into_any(),
        (None, None) => view! {
            <ActionForm action=start>
                <input type="hidden" name="course" value=o.course_slug.clone() />
                <button type="submit" class="button primary">"Start the exam"</button>
            </ActionForm>
            {form_error(start.value())}
        }.into_any(),
    };
    // The newest certificate still standing, shown above everything else.
    let certified = o
        .attempts
        .iter()
        .rev()
        .find_map(|a| a.certificate.as_ref().filter(|c| !c.revoked))
        .map(|c| view! {
            <p class="certified" role="status">
                "You are certified. "<a class="button primary" href=format!("/certificates/{}", c.id)>"View your certificate"</a>
            </p>
        });
    view! {
        <Title text="Certification exam" />
        <nav aria-label="Breadcrumb" class="breadcrumb"><a href="/">"Courses"</a>" / "<a href=course_href>{o.course_title.clone()}</a></nav>
        <h1>"Certification exam"</h1>
        {certified}
        <ul class="exam-rules">
            <li>{format!("{} questions, {}. The clock starts when you start and keeps running if you leave.", o.questions, duration(o.time_limit_seconds))}</li>
            <li>{format!("Pass mark: {}%.", o.pass_mark_percent)}</li>
            <li>{format!("Attempts: {} of {} used.", o.attempts_used, o.attempts_allowed)}</li>
            <li>"Every answer is saved as you go; you can move between questions, flag them, and review them before submitting."</li>
        </ul>
        {action}
        {(!o.attempts.is_empty()).then(|| view! {
            <h2>"Your attempts"</h2>
            <table class="attempts">
                <thead><tr><th scope="col">"Attempt"</th><th scope="col">"Status"</th><th scope="col">"Score"</th><th scope="col">"Certificate"</th></tr></thead>
                <tbody>
                    {o.attempts.iter().enumerate().map(|(i, a)| {
                        let status = match (a.status.as_str(), a.passed) {
                            ("active", _) => "In progress".to_string(),
                            ("voided", _) => "Voided".to_string(),
                            (_, Some(true)) => "Passed".to_string(),
                            _ => "Not passed".to_string(),
                        };
                        let score = a.score_percent.map(|s| format!("{s}%")).unwrap_or_default();
                        let link = if a.status == "active" { format!("/exam/{}", a.id) } else { format!("/exam/{}/result", a.id) };
                        let certificate = match (&a.certificate, a.passed == Some(true) && a.status != "voided") {
                            (Some(c), _) if c.revoked => "Revoked".into_any(),
                            (Some(c), _) => view! { <a href=format!("/certificates/{}", c.id)>"View"</a> }.into_any(),
                            (None, true) => view! { <a href=format!("/exam/{}/certificate", a.id)>"Claim"</a> }.into_any(),
                            (None, false) => ().into_any(),
                        };
                        view! { <tr><td><a href=link>{format!("Attempt {}", i + 1)}</a></td><td>{status}</td><td>{score}</td><td>{certificate}</td></tr> }
                    }).collect_view()}
                </tbody>
            </table>
        })}
    }
}

fn attempt_param() -> impl Fn() -> i64 + Copy + Send + Sync + 'static {
    let params = use_params_map();
    move || {
        params
            .read()
            .get("attempt")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0)
    }
}

/// The question list. `answered` is the live state of the current question: with
/// JavaScript its saves happen in place, and the list follows them.
#[component]
fn QuestionNav(
    attempt: i64,
    items: Vec<ItemStatus>,
    current: Option<i32>,
    #[prop(optional)] answered: Option<RwSignal<bool>>,
) -> impl IntoView {
    view! {
        <nav class="question-nav" aria-label="Questions">
            <ol>
                {items.into_iter().map(|it| {
                    let here = current == Some(it.position);
                    let live = answered.filter(|_| here);
                    let is_answered = move || live.and_then(|s| s.try_get()).unwrap_or(it.answered);
                    let label = move || {
                        let mut label = format!("Question {}", it.position);
                        label.push_str(if is_answered() { ", answered" } else { ", not answered" });
                        if it.flagged { label.push_str(", flagged"); }
                        label
                    };
                    let class = move || format!("q{}{}", if is_answered() { " answered" } else { "" }, if it.flagged { " flagged" } else { "" });
                    view! {
                        <li class=class>
                            <a href=format!("/exam/{attempt}/q/{}", it.position) aria-label=label aria-current=here.then_some("page")>
                                {it.position}{it.flagged.then_some(" ⚑")}
                            </a>
                        </li>
                    }
                }).collect_view()}
            </ol>
            <p class="nav-key" aria-hidden="true">"Filled: answered · ⚑ flagged for review · outlined: this question"</p>
            <p><a href=format!("/exam/{attempt}")>"Review and submit"</a></p>
        </nav>
    }
}

/// `/exam/:attempt/q/:position`: one question and its form.
#[component]
pub fn ExamQuestion() -> impl IntoView {
    let params = use_params_map();
    let attempt = attempt_param();
    let save = ServerAction::<SaveAnswer>::new();
    // A save sent by the form's buttons may have changed the review flag: the
    // question is read again after it (typing saves on its own, without this).
    let key = move || {
        let pos = params
            .read()
            .get("position")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        (attempt(), pos, save.version().get())
    };
    let data = Resource::new(key, |(a, p, _)| get_exam_question(a, p));
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => view! { <QuestionBody page save /> }.into_any(),
                    Err(AppError::Conflict(msg)) => {
                        let a = attempt();
                        view! {
                            <Title text="Exam over" />
                            <h1>"This attempt is over"</h1>
                            <p role="alert">{msg}</p>
                            <p><a class="button primary" href=format!("/exam/{a}/result")>"See your result"</a></p>
                        }.into_any()
                    }
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

fn chosen(answer: &Option<Answer>) -> (Vec<i32>, String) {
    match answer {
        Some(Answer::Choice(i)) => (vec![*i], String::new()),
        Some(Answer::Choices(l) | Answer::Order(l) | Answer::Match(l)) => {
            (l.clone(), String::new())
        }
        Some(Answer::Bool(b)) => (vec![], b.to_string()),
        Some(Answer::Number(s) | Answer::Text(s)) => (vec![], s.clone()),
        None => (vec![], String::new()),
    }
}

#[component]
fn QuestionBody(page: QuestionPage, save: ServerAction<SaveAnswer>) -> impl IntoView {
    let QuestionPage {
        attempt,
        course_title,
        position,
        total,
        remaining_seconds,
        view: q,
        answer,
        seq,
        flagged,
        items,
        ..
    } = page;
    let (picked, text) = chosen(&answer);
    // Whether this question has an answer, as the question list shows it: what the form
    // held when it was last sent, once the server has acknowledged that save.
    let answered = RwSignal::new(answer.is_some());
    let sent = StoredValue::new(answer.is_some());
    let left = RwSignal::new(remaining_seconds);
    let fields = match &q.kind {
        ViewKind::SingleChoice { .. }
        | ViewKind::TrueFalse
        | ViewKind::Numeric
        | ViewKind::ShortAnswer => 1,
        ViewKind::MultipleResponse { options } => options.len(),
        ViewKind::Ordering { items } => items.len(),
        ViewKind::Matching { lefts, .. } => lefts.len(),
    };
    let ordering = matches!(q.kind, ViewKind::Ordering { .. });
    let auto = Autosave::new(attempt, position, seq, fields, ordering, left, answered);
    Effect::new(move |_| {
        if let Some(Ok(ack)) = save.value().get() {
            answered.try_set(sent.try_get_value().unwrap_or(false));
            auto.button_acked(&ack);
        }
    });
    // The hidden `seq` exists only once JavaScript runs: a plain form post (JavaScript
    // off) carries none, and the server takes it as the newest save.
    let js = RwSignal::new(false);
    Effect::new(move |_| {
        js.try_set(true);
    });
    let note_answer = move |ev: leptos::ev::SubmitEvent| {
        use leptos::wasm_bindgen::JsCast;
        // A button's save carries the whole form: nothing is left for the autosave to send.
        auto.button_sent();
        if let Some(form) = ev
            .current_target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
        {
            let picked = form
                .query_selector("input:checked, option:checked:not([value=''])")
                .ok()
                .flatten()
                .is_some();
            let typed = form
                .query_selector("input[type=text]")
                .ok()
                .flatten()
                .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlInputElement>().ok())
                .is_some_and(|i| !i.value().trim().is_empty());
            // An ordering always holds an order: the one shown.
            let ordered = form
                .query_selector("li.order-item")
                .ok()
                .flatten()
                .is_some();
            sent.set_value(picked || typed || ordered);
        }
    };
    // With JavaScript, a choice is saved the moment it changes, typing a second after
    // the last key, and anything unsaved when the learner leaves the question or the page.
    let form_of = |ev: &leptos::ev::Event| {
        use leptos::wasm_bindgen::JsCast;
        ev.current_target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::HtmlFormElement>().ok())
    };
    let on_change = move |ev: leptos::ev::Event| {
        if let Some(form) = form_of(&ev) {
            auto.capture(&form);
            auto.save_now();
        }
    };
    let on_input = move |ev: leptos::ev::Event| {
        use leptos::wasm_bindgen::JsCast;
        let typing = ev
            .target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::HtmlInputElement>().ok())
            .is_some_and(|i| i.type_() == "text");
        if let (true, Some(form)) = (typing, form_of(&ev)) {
            auto.capture(&form);
            auto.save_soon();
        }
    };
    Effect::new(move |_| {
        let hide = window_event_listener_untyped("pagehide", move |_| auto.flush_beacon());
        let vis = window_event_listener_untyped("visibilitychange", move |_| {
            if document().hidden() {
                auto.flush_beacon();
            }
        });
        on_cleanup(move || {
            hide.remove();
            vis.remove();
        });
    });
    // Leaving the question inside the app unmounts this page: what is unsaved goes now.
    on_cleanup(move || auto.flush_beacon());
    // Moving between two questions of the same type reuses the inputs on the page, and
    // an input the learner touched no longer follows its `checked`/`value`/`selected`
    // attributes: the `prop:` twins set what is shown (the attributes serve the HTML).
    let name = |i: usize| format!("answer[{i}]");
    let input = match q.kind.clone() {
        ViewKind::SingleChoice { options } => view! {
            <fieldset><legend>"Choose one answer"</legend>
                {options.into_iter().enumerate().map(|(i, o)| view! {
                    <label class="option"><input type="radio" name=name(0) value=i.to_string() checked=picked.contains(&(i as i32)) prop:checked=picked.contains(&(i as i32)) />" "{o}</label>
                }).collect_view()}
            </fieldset>
        }.into_any(),
        ViewKind::MultipleResponse { options } => view! {
            <fieldset><legend>"Choose every answer that applies"</legend>
                {options.into_iter().enumerate().map(|(i, o)| view! {
                    <label class="option"><input type="checkbox" name=name(i) value=i.to_string() checked=picked.contains(&(i as i32)) prop:checked=picked.contains(&(i as i32)) />" "{o}</label>
                }).collect_view()}
            </fieldset>
        }.into_any(),
        ViewKind::TrueFalse => view! {
            <fieldset><legend>"True or false?"</legend>
                <label class="option"><input type="radio" name=name(0) value="true" checked=text == "true" prop:checked=text == "true" />" True"</label>
                <label class="option"><input type="radio" name=name(0) value="false" checked=text == "false" prop:checked=text == "false" />" False"</label>
            </fieldset>
        }.into_any(),
        ViewKind::Numeric => view! {
            <label class="field">"Your answer (a number)"<input type="text" inputmode="decimal" name=name(0) value=text.clone() prop:value=text.clone() autocomplete="off" /></label>
        }.into_any(),
        ViewKind::ShortAnswer => view! {
            <label class="field">"Your answer"<input type="text" name=name(0) value=text.clone() prop:value=text.clone() autocomplete="off" /></label>
        }.into_any(),
        ViewKind::Ordering { items } => {
            let n = items.len();
            // The learner's order of display indices, or the order shown when there is
            // none yet: what is on the screen is what a save records.
            let start: Vec<usize> = if picked.len() == n {
                picked.iter().filter_map(|p| usize::try_from(*p).ok()).collect()
            } else {
                (0..n).collect()
            };
            let order = RwSignal::new(start);
            let rank = move |item: usize| {
                order
                    .try_with(|o| o.iter().position(|x| *x == item).map_or(0, |r| r + 1))
                    .unwrap_or(0)
            };
            // With JavaScript a move happens in place and is saved at once; the button
            // keeps the focus, so a keyboard user can press it again. Without, the
            // button posts the form and the server makes the move.
            let shift = move |ev: leptos::ev::MouseEvent, item: usize, up: bool| {
                ev.prevent_default();
                let mut moved = false;
                order.update(|o| {
                    let Some(k) = o.iter().position(|x| *x == item) else { return };
                    let to = if up { k.checked_sub(1) } else { (k + 1 < o.len()).then_some(k + 1) };
                    if let Some(to) = to {
                        o.swap(k, to);
                        moved = true;
                    }
                });
                if moved {
                    let ranks = order.with_untracked(|o| {
                        o.iter().enumerate().map(|(r, i)| (i.to_string(), (r + 1).to_string())).collect()
                    });
                    auto.set_answer(ranks);
                    auto.save_now();
                    let id = format!("order-{item}-{}", if up { "up" } else { "down" });
                    request_animation_frame(move || {
                        if let Some(b) = document()
                            .get_element_by_id(&id)
                            .and_then(|e| leptos::wasm_bindgen::JsCast::dyn_into::<leptos::web_sys::HtmlElement>(e).ok())
                        {
                            let _ = b.focus();
                        }
                    });
                }
            };
            let items = StoredValue::new(items);
            view! {
                <fieldset class="ordering"><legend>"Put the items in order, first at the top"</legend>
                    <p class="hint">"Move an item with its ↑ and ↓ buttons. The order shown is your answer when it is saved."</p>
                    <ol class="order-list">
                        <For each=move || order.get() key=|i| *i children=move |item: usize| {
                            let text = items.with_value(|it| it.get(item).cloned().unwrap_or_default());
                            view! {
                                <li class="order-item" id=format!("order-{item}")>
                                    <input type="hidden" name=name(item) value=rank(item).to_string() prop:value=move || rank(item).to_string() />
                                    <span class="order-text">{text.clone()}</span>
                                    <span class="order-buttons">
                                        <button type="submit" name="reorder" value=format!("{item}:up") id=format!("order-{item}-up")
                                            class="move" aria-label=format!("Move up: {text}") aria-disabled=move || (rank(item) == 1).to_string()
                                            on:click=move |ev| shift(ev, item, true)>"↑"</button>
                                        <button type="submit" name="reorder" value=format!("{item}:down") id=format!("order-{item}-down")
                                            class="move" aria-label=format!("Move down: {text}") aria-disabled=move || (rank(item) == n).to_string()
                                            on:click=move |ev| shift(ev, item, false)>"↓"</button>
                                    </span>
                                </li>
                            }
                        } />
                    </ol>
                </fieldset>
            }.into_any()
        }
        ViewKind::Matching { lefts, rights } => view! {
            <fieldset><legend>"Match each item on the left with one on the right"</legend>
                {lefts.into_iter().enumerate().map(|(i, l)| {
                    let current = picked.get(i).copied().unwrap_or(-1);
                    view! {
                        <label class="field match">{l}" "
                            <select name=name(i)>
                                <option value="" selected=current < 0 prop:selected=current < 0>"Choose…"</option>
                                {rights.iter().enumerate().map(|(r, t)| view! { <option value=r.to_string() selected=current == r as i32 prop:selected=current == r as i32>{t.clone()}</option> }).collect_view()}
                            </select>
                        </label>
                    }
                }).collect_view()}
            </fieldset>
        }.into_any(),
    };
    view! {
        <Title text=format!("Question {position} of {total}") />
        <p class="breadcrumb">{course_title}" · Certification exam"</p>
        <Countdown left attempt />
        <article class="exam-question">
            <h1>{format!("Question {position} of {total}")}</h1>
            <p class="question-text">{q.text.clone()}{(!q.text_after.is_empty()).then_some(" ____ ")}{q.text_after.clone()}</p>
            <ActionForm action=save attr:class="answer-form" on:change=on_change on:input=on_input on:submit=note_answer>
                <input type="hidden" name="attempt" value=attempt.to_string() />
                <input type="hidden" name="position" value=position.to_string() />
                {move || js.try_get().unwrap_or(false).then(|| view! { <input type="hidden" name="seq" prop:value=move || (auto.seq.try_get().unwrap_or(0) + 1).to_string() /> })}
                {input}
                <div class="buttons">
                    {(position > 1).then(|| view! { <button type="submit" name="go" value="prev" class="button">"← Previous"</button> })}
                    <button type="submit" name="go" value="stay" class="button">"Save"</button>
                    // One element either way: a branch between two elements here
                    // hydrated wrongly once a sibling followed it.
                    <button type="submit" name="go" value=if position < total { "next" } else { "summary" } class="button primary">
                        {if position < total { "Save and next →" } else { "Save and review" }}
                    </button>
                    <button type="submit" name="flag" value=(!flagged).to_string() class="link-button flag">
                        {if flagged { "Remove the review flag" } else { "Flag for review" }}
                    </button>
                </div>
            </ActionForm>
            {form_error(save.value())}
            <p class="save-status" role="status" aria-live="polite">{move || auto.status_text()}</p>
        </article>
        <QuestionNav attempt items current=Some(position) answered />
    }
}

/// `/exam/:attempt`: every question's state, then submit.
#[component]
pub fn ExamSummary() -> impl IntoView {
    let attempt = attempt_param();
    let submit = ServerAction::<SubmitExam>::new();
    let data = Resource::new(attempt, get_attempt_summary);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(s) => view! { <SummaryBody s submit /> }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SummaryBody(s: AttemptSummary, submit: ServerAction<SubmitExam>) -> impl IntoView {
    let AttemptSummary {
        id,
        course_title,
        status,
        remaining_seconds,
        items,
        ..
    } = s;
    if status != "active" {
        return view! {
            <Title text="Exam over" />
            <h1>"This attempt is over"</h1>
            <p><a class="button primary" href=format!("/exam/{id}/result")>"See your result"</a></p>
        }
        .into_any();
    }
    let unanswered = items.iter().filter(|i| !i.answered).count();
    let flagged = items.iter().filter(|i| i.flagged).count();
    view! {
        <Title text="Review your answers" />
        <p class="breadcrumb">{course_title}" · Certification exam"</p>
        <Countdown left=RwSignal::new(remaining_seconds) attempt=id />
        <h1>"Review your answers"</h1>
        <p>{format!("{} of {} answered; {} flagged for review.", items.len() - unanswered, items.len(), flagged)}</p>
        {still_open(id, "Not answered yet", items.iter().filter(|i| !i.answered).map(|i| i.position).collect())}
        {still_open(id, "Flagged for review", items.iter().filter(|i| i.flagged).map(|i| i.position).collect())}
        <QuestionNav attempt=id items current=None />
        <ActionForm action=submit>
            <input type="hidden" name="attempt" value=id.to_string() />
            {(unanswered > 0).then(|| view! { <p class="warning">{format!("{unanswered} questions have no answer yet.")}</p> })}
            <button type="submit" class="button primary">"Submit the exam"</button>
        </ActionForm>
        {form_error(submit.value())}
    }.into_any()
}

/// The questions of one kind the review page lists, as links (nothing when none).
fn still_open(attempt: i64, heading: &'static str, positions: Vec<i32>) -> Option<impl IntoView> {
    (!positions.is_empty()).then(|| view! {
        <section class="still-open" aria-label=heading>
            <h2>{heading}</h2>
            <ul>
                {positions.into_iter().map(|p| view! {
                    <li><a href=format!("/exam/{attempt}/q/{p}")>{format!("Question {p}")}</a></li>
                }).collect_view()}
            </ul>
        </section>
    })
}

/// `/exam/:attempt/result`: score, categories, and the review.
#[component]
pub fn ExamResultPage() -> impl IntoView {
    let attempt = attempt_param();
    let data = Resource::new(attempt, get_exam_result);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(r) => view! { <ResultBody r /> }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ResultBody(r: ExamResult) -> impl IntoView {
    let verdict = if r.status == "voided" {
        "This attempt was voided."
    } else if r.passed {
        "You passed."
    } else {
        "You did not pass this time."
    };
    let verdict_class = if r.passed {
        "verdict pass"
    } else {
        "verdict fail"
    };
    // The modules that teach what was missed, each once, in the order first met.
    let mut to_review: Vec<(super::ModuleLink, usize)> = Vec::new();
    for m in r
        .review
        .iter()
        .filter(|it| it.score_percent < 100.0)
        .filter_map(|it| it.module.as_ref())
    {
        match to_review.iter_mut().find(|(seen, _)| seen.href == m.href) {
            Some((_, n)) => *n += 1,
            None => to_review.push((m.clone(), 1)),
        }
    }
    view! {
        <Title text="Exam result" />
        <nav aria-label="Breadcrumb" class="breadcrumb"><a href=format!("/courses/{}", r.course_slug)>{r.course_title.clone()}</a>" / "<a href=format!("/courses/{}/exam", r.course_slug)>"Certification exam"</a></nav>
        <h1>"Your result"</h1>
        <p class=verdict_class role="status">
            <strong>{verdict}</strong>{format!(" Score: {}% (pass mark {}%).", r.score_percent, r.pass_mark_percent)}
        </p>
        {r.submitted_by_server.then(|| view! { <p>"Time ran out: the server submitted your saved answers at the deadline."</p> })}
        {(r.passed && r.status != "voided").then(|| view! {
            <p><a class="button primary" href=format!("/exam/{}/certificate", r.attempt)>"Get your certificate"</a></p>
        })}
        <h2>"By category"</h2>
        <table class="categories">
            <thead><tr><th scope="col">"Category"</th><th scope="col">"Questions"</th><th scope="col">"Score"</th></tr></thead>
            <tbody>
                {r.categories.into_iter().map(|c| view! { <tr><td>{c.category}</td><td>{c.questions}</td><td>{format!("{}%", c.score_percent)}</td></tr> }).collect_view()}
            </tbody>
        </table>
        {(!to_review.is_empty()).then(|| view! {
            <h2>"What to review"</h2>
            <ul class="to-review">
                {to_review.into_iter().map(|(m, n)| view! {
                    <li><a href=m.href>{m.title}</a>{format!(" ({n} {} missed)", if n == 1 { "question" } else { "questions" })}</li>
                }).collect_view()}
            </ul>
        })}
        <h2>"Review"</h2>
        {r.keys_note.map(|note| view! { <p class="notice">{note}</p> })}
        <ol class="review">
            {r.review.into_iter().map(|it| {
                let (class, mark) = if it.score_percent >= 100.0 {
                    ("right", "Right")
                } else if it.score_percent > 0.0 {
                    ("partial", "Partly right")
                } else {
                    ("wrong", "Not right")
                };
                let missed = it.score_percent < 100.0;
                view! {
                <li class=class>
                    <p class="question-text">{it.text}</p>
                    <p>"Your answer: "{it.your_answer}</p>
                    <p class="meta">{format!("{mark}: {}% of the marks · {}", it.score_percent, it.category)}</p>
                    {missed.then(|| it.module.map(|m| view! {
                        <p class="review-module">"To review: "<a href=m.href>{m.title}</a></p>
                    }))}
                    {it.key.map(|k| view! {
                        <p>"Right answer: "{k.correct_answer}</p>
                        {k.feedback.into_iter().map(|f| view! { <p class="feedback">{f}</p> }).collect_view()}
                    })}
                </li>
                }
            }).collect_view()}
        </ol>
    }
}

/// Where the autosave stands, as the page says it.
#[derive(Debug, Clone, PartialEq)]
enum SaveState {
    Idle,
    Saving,
    Saved,
    Retrying,
    Failed(String),
}

/// The browser side of autosave for one question page.
///
/// Every save carries a sequence number larger than any this page has sent or seen
/// (starting above the one the page was loaded with), so the server keeps the newest
/// answer whatever order saves arrive in; a retry reuses its number, so a save that
/// was stored but whose answer got lost is not stored twice.
#[derive(Clone, Copy)]
struct Autosave {
    attempt: i64,
    position: i32,
    fields: usize,
    ordering: bool,
    /// The largest sequence number sent or acknowledged so far.
    seq: RwSignal<i64>,
    /// The largest sequence number acknowledged.
    acked: StoredValue<i64>,
    /// A change not sent yet (typing, waiting for the pause).
    dirty: StoredValue<bool>,
    timer: StoredValue<Option<TimeoutHandle>>,
    /// The answer as last read from the form.
    latest: StoredValue<Option<Vec<(String, String)>>>,
    state: RwSignal<SaveState>,
    left: RwSignal<i64>,
    answered: RwSignal<bool>,
}

/// What the page may say about a failed save, and whether trying again can help.
fn retryable(e: &AppError) -> bool {
    match e {
        AppError::Internal => true,
        AppError::Validation(m) => m.starts_with("The server could not be reached"),
        _ => false,
    }
}

impl Autosave {
    fn new(
        attempt: i64,
        position: i32,
        seq: i64,
        fields: usize,
        ordering: bool,
        left: RwSignal<i64>,
        answered: RwSignal<bool>,
    ) -> Autosave {
        Autosave {
            attempt,
            position,
            fields,
            ordering,
            seq: RwSignal::new(seq),
            acked: StoredValue::new(seq),
            dirty: StoredValue::new(false),
            timer: StoredValue::new(None),
            latest: StoredValue::new(None),
            state: RwSignal::new(SaveState::Idle),
            left,
            answered,
        }
    }

    fn status_text(&self) -> String {
        match self.state.try_get().unwrap_or(SaveState::Idle) {
            SaveState::Idle => String::new(),
            SaveState::Saving => "Saving…".into(),
            SaveState::Saved => "Saved".into(),
            SaveState::Retrying => "Not saved — retrying".into(),
            SaveState::Failed(m) => format!("Not saved: {m}"),
        }
    }

    fn cancel_pending(&self) {
        if let Some(Some(h)) = self.timer.try_update_value(Option::take) {
            h.clear();
        }
        self.dirty.try_set_value(false);
    }

    /// Reads the answer fields as `form` holds them now into the snapshot that saves
    /// send. `None` while an order is incomplete: saving it would only be refused, so it
    /// is saved once every item has its place. The snapshot (rather than the page) is
    /// what a save sends, so a save made while leaving can never pick up the inputs of
    /// the next question.
    fn capture(&self, form: &leptos::web_sys::HtmlFormElement) {
        let Ok(data) = leptos::web_sys::FormData::new_with_form(form) else {
            return;
        };
        let mut out = Vec::new();
        let mut incomplete = false;
        for i in 0..self.fields {
            match data.get(&format!("answer[{i}]")).as_string() {
                Some(v) if !v.is_empty() => out.push((i.to_string(), v)),
                _ if self.ordering => incomplete = true,
                _ => {}
            }
        }
        if self.ordering && out.is_empty() {
            incomplete = false;
        }
        self.latest
            .try_set_value(if incomplete { None } else { Some(out) });
    }

    /// Sets the answer a save sends directly (an ordering's move, made in place).
    fn set_answer(&self, fields: Vec<(String, String)>) {
        self.latest.try_set_value(Some(fields));
    }

    fn snapshot(&self) -> Option<Vec<(String, String)>> {
        self.latest.try_get_value().flatten()
    }

    fn next_seq(&self) -> i64 {
        self.seq
            .try_update(|s| {
                *s += 1;
                *s
            })
            .unwrap_or(1)
    }

    /// A button posts the form with the hidden `seq` (one above the last); whichever
    /// order the browser runs the submit handlers in, it sent at most two above, so
    /// later autosaves start above that.
    fn button_sent(&self) {
        self.cancel_pending();
        self.seq.try_update(|s| *s += 2);
    }

    /// A button's save was answered: nothing older may overwrite it.
    fn button_acked(&self, ack: &SaveAck) {
        self.seq.try_update(|s| *s = (*s).max(ack.seq));
        self.acked.try_update_value(|a| *a = (*a).max(ack.seq));
        self.left.try_set(ack.remaining_seconds);
    }

    /// Typing: save a second after the last change.
    fn save_soon(&self) {
        let me = *self;
        if let Some(Some(h)) = self.timer.try_update_value(Option::take) {
            h.clear();
        }
        self.dirty.try_set_value(true);
        if let Ok(h) = set_timeout_with_handle(
            move || me.save_now(),
            std::time::Duration::from_millis(1000),
        ) {
            self.timer.try_set_value(Some(h));
        }
    }

    /// A choice, or the end of typing: save at once.
    fn save_now(&self) {
        self.cancel_pending();
        let Some(fields) = self.snapshot() else {
            return;
        };
        let seq = self.next_seq();
        self.post(seq, fields);
    }

    fn post(&self, seq: i64, fields: Vec<(String, String)>) {
        let me = *self;
        me.state.try_set(SaveState::Saving);
        leptos::task::spawn_local(async move {
            let answer = fields.iter().cloned().collect();
            let result =
                super::save_answer(me.attempt, me.position, Some(seq), answer, None, None, None)
                    .await;
            let newest = me.seq.try_get_untracked().unwrap_or(seq);
            match result {
                Ok(ack) => {
                    me.left.try_set(ack.remaining_seconds);
                    // A newer save from elsewhere (another tab or device) raises the bar.
                    me.seq.try_update(|s| *s = (*s).max(ack.seq));
                    me.acked
                        .try_update_value(|a| *a = (*a).max(seq).max(ack.seq));
                    if seq >= newest {
                        if ack.seq == seq {
                            me.answered.try_set(!fields.is_empty());
                        }
                        me.state.try_set(SaveState::Saved);
                    }
                }
                Err(e) if retryable(&e) => {
                    if seq >= newest {
                        me.state.try_set(SaveState::Retrying);
                        set_timeout(
                            move || {
                                if me.seq.try_get_untracked() == Some(seq) {
                                    me.post(seq, fields);
                                }
                            },
                            std::time::Duration::from_secs(2),
                        );
                    }
                }
                Err(e) => {
                    if seq >= newest {
                        me.state.try_set(SaveState::Failed(e.to_string()));
                    }
                }
            }
        });
    }

    /// Leaving the question or the page: whatever is not saved goes by `sendBeacon`,
    /// which the browser delivers even after the page is gone. It is an ordinary
    /// same-origin form post, so it carries the Origin header the server checks.
    fn flush_beacon(&self) {
        let unsent = self.dirty.try_get_value().unwrap_or(false);
        let unacked = self.acked.try_get_value() < self.seq.try_get_untracked();
        if !unsent && !unacked {
            return;
        }
        self.cancel_pending();
        let Some(fields) = self.snapshot() else {
            return;
        };
        let seq = self.next_seq();
        let Ok(params) = leptos::web_sys::UrlSearchParams::new() else {
            return;
        };
        params.append("attempt", &self.attempt.to_string());
        params.append("position", &self.position.to_string());
        params.append("seq", &seq.to_string());
        for (k, v) in &fields {
            params.append(&format!("answer[{k}]"), v);
        }
        send_beacon(
            <super::SaveAnswer as leptos::server_fn::ServerFn>::PATH,
            &params,
        );
    }
}

/// `navigator.sendBeacon(url, params)`; false if the browser would not queue it.
fn send_beacon(url: &str, params: &leptos::web_sys::UrlSearchParams) -> bool {
    use leptos::__reexports::wasm_bindgen_futures::js_sys::{Function, Reflect};
    use leptos::wasm_bindgen::{JsCast, JsValue};
    let w: JsValue = window().into();
    let Ok(nav) = Reflect::get(&w, &JsValue::from_str("navigator")) else {
        return false;
    };
    let Some(f) = Reflect::get(&nav, &JsValue::from_str("sendBeacon"))
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
    else {
        return false;
    };
    f.call2(&nav, &JsValue::from_str(url), params)
        .ok()
        .and_then(|r| r.as_bool())
        .unwrap_or(false)
}
