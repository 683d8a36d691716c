//! The catalog, a course's overview (its about page and outline), a module
//! page, and the way from one stop of a course to the next that lab pages share.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_location, use_params_map};

use super::{
    get_course_overview, get_lab_way, get_module_page, list_courses, Activity, CourseAbout,
    CourseCard, CourseOverview, ExamRules, ModuleItem, ModulePage, PageWithoutBody, SectionView,
    SetModuleComplete, StepLink,
};
use crate::error::AppError;
use crate::layout::{form_error, ErrorView};

fn hours(minutes: i64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// A time limit in words: "60 minutes", "2 hours", or seconds for a short quiz.
fn limit(secs: i64) -> String {
    match (secs % 60, secs / 60) {
        (0, m) if m >= 120 && m % 60 == 0 => format!("{} hours", m / 60),
        (0, m) => count(m, "minute", "minutes"),
        _ => count(secs, "second", "seconds"),
    }
}

fn count(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "A, B and C".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// What a course holds, in the one wording the catalog and the course page
/// share: modules and labs are counted apart, so the two pages never disagree.
fn facts(sections: i64, modules: i64, labs: i64, exam: bool, minutes: i64) -> String {
    let mut parts = vec![
        count(sections, "section", "sections"),
        count(modules, "module", "modules"),
    ];
    if labs > 0 {
        parts.push(count(labs, "lab", "labs"));
    }
    if exam {
        parts.push("certification exam".into());
    }
    parts.push(format!("about {}", hours(minutes)));
    parts.join(" · ")
}

/// Progress in words, modules and labs apart ("3 of 21 modules · 1 of 6 labs").
fn progress_text(done: i64, total: i64, labs_done: i64, labs_total: i64) -> String {
    let pct = if total > 0 { done * 100 / total } else { 0 };
    let (modules_done, modules_total) = (done - labs_done, total - labs_total);
    let mut parts = Vec::new();
    if modules_total > 0 {
        parts.push(format!(
            "{modules_done} of {}",
            count(modules_total, "module", "modules")
        ));
    }
    if labs_total > 0 {
        parts.push(format!(
            "{labs_done} of {}",
            count(labs_total, "lab", "labs")
        ));
    }
    format!("{} done ({pct}%)", parts.join(" · "))
}

/// A labelled progress bar; the label is what screen readers announce.
#[component]
fn ProgressBar(
    #[prop(into)] done: Signal<i64>,
    total: i64,
    #[prop(into)] labs_done: Signal<i64>,
    labs_total: i64,
    label: String,
) -> impl IntoView {
    let pct = move || {
        if total > 0 {
            done.get() * 100 / total
        } else {
            0
        }
    };
    view! {
        <div class="progress">
            <progress value=move || done.get() max=total.max(1) aria-label=label>{move || format!("{}%", pct())}</progress>
            <span class="progress-text">{move || progress_text(done.get(), total, labs_done.get(), labs_total)}</span>
        </div>
    }
}

/// A "Previous" or "Next" link to a stop of the course; module pages (prebuilt)
/// and lab pages show the same.
pub fn step_link(rel: &'static str, link: Option<StepLink>) -> impl IntoView {
    link.map(|l| {
        let label = if rel == "prev" { "← Previous" } else { "Next →" };
        let title = l.label();
        view! { <a rel=rel href=l.href><span class="dir">{label}</span><span class="t">{title}</span></a> }
    })
}

/// "Taught by …", with the host, for the catalog's card.
fn taught_by(about: &CourseAbout) -> Option<String> {
    let speakers: Vec<String> = about.speakers.iter().map(|p| p.credit()).collect();
    let host = about.host.as_ref().map(|h| h.credit());
    match (speakers.is_empty(), host) {
        (true, None) => None,
        (true, Some(h)) => Some(format!("Hosted by {h}")),
        (false, None) => Some(format!("Taught by {}", and_list(&speakers))),
        (false, Some(h)) => Some(format!("Taught by {} · hosted by {h}", and_list(&speakers))),
    }
}

/// `/`: every course, each with what it teaches and who teaches it.
#[component]
pub fn Catalog() -> impl IntoView {
    let courses = Resource::new(|| (), |_| list_courses());
    view! {
        <Title text="Courses" />
        <h1>"Courses"</h1>
        <p class="lead">"Read and watch each module, practise in labs that run real load against a real service, then sit a timed exam for a certificate anyone can verify."</p>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match courses.await {
                    Ok(list) if list.is_empty() => view! { <p>"No courses are published yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="cards">
                            {list.into_iter().map(|c| view! { <CourseCardView c /> }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <ErrorView error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn CourseCardView(c: CourseCard) -> impl IntoView {
    let href = format!("/courses/{}", c.slug);
    // A course that says what it teaches gets the whole row: it has more to say.
    let featured = !c.about.outcomes.is_empty();
    let level = (!c.about.level.is_empty()).then(|| format!("{} · ", c.about.level));
    let heading = format!("course-{}", c.slug);
    view! {
        <li class="card" class:featured=featured>
            <h2 id=heading.clone()><a href=href.clone()>{c.title}</a></h2>
            <p>{c.summary}</p>
            {taught_by(&c.about).map(|t| view! { <p class="taught-by">{t}</p> })}
            <p class="meta">{level}{facts(c.sections, c.modules, c.labs, c.has_exam, c.minutes)}</p>
            {featured.then(|| view! {
                <h3 class="card-sub">"You will be able to"</h3>
                <ul class="outcomes">{c.about.outcomes.into_iter().map(|o| view! { <li>{o}</li> }).collect_view()}</ul>
            })}
            <p><a class="button" href=href aria-describedby=heading>"View the course"</a></p>
        </li>
    }
}

/// `/courses/:course`: what the course is (outcomes, speakers, level, what is
/// inside, the exam's rules), then its outline with the learner's progress.
#[component]
pub fn Overview() -> impl IntoView {
    let params = use_params_map();
    let course = move || params.read().get("course").unwrap_or_default();
    let data = Resource::new(course, get_course_overview);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(c) => view! { <OverviewBody c /> }.into_any(),
                    Err(e) => view! { <ErrorView error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn OverviewBody(c: CourseOverview) -> impl IntoView {
    let slug = c.slug.clone();
    let modules = c.total - c.labs_total;
    // A learner who has begun comes for the outline: the about part follows it.
    let started = c.signed_in && c.completed > 0;
    let start = if c.signed_in {
        match &c.continue_to {
            Some(next) => view! {
                <div class="next-up">
                    <a class="button primary" href=next.href.clone()>
                        {if c.completed == 0 { "Start: " } else { "Continue where you left off: " }}{next.label()}
                    </a>
                </div>
            }.into_any(),
            None if c.total > 0 && c.completed == c.total => view! { <p class="done">"You have completed every module and lab. Well done."</p> }.into_any(),
            None => ().into_any(),
        }
    } else {
        view! {
            <div class="next-up">
                <a class="button primary" href=format!("/register?next=/courses/{slug}")>"Sign up to start"</a>
                <span>" or "<a href=format!("/login?next=/courses/{slug}")>"log in"</a>"."</span>
            </div>
        }.into_any()
    };
    let about = AboutParts {
        about: c.about.clone(),
        sections: c.sections.len() as i64,
        modules,
        labs: c.labs_total,
        module_minutes: c.module_minutes,
        lab_minutes: c.lab_minutes,
        minutes: c.minutes,
        exam: c.exam.clone(),
        rules: c.exam_rules.clone(),
    };
    let level = (!c.about.level.is_empty()).then(|| format!("{} · ", c.about.level));
    let next_up = c.continue_to.clone();
    let signed_in = c.signed_in;
    view! {
        <Title text=c.title.clone() />
        <nav aria-label="Breadcrumb" class="breadcrumb"><a href="/">"Courses"</a></nav>
        <div class="course-hero">
            <h1>{c.title.clone()}</h1>
            <p class="lead">{c.summary.clone()}</p>
            <p class="meta">{level}{facts(c.sections.len() as i64, modules, c.labs_total, c.exam.is_some(), c.minutes)}</p>
            {signed_in.then(|| view! { <ProgressBar done=c.completed total=c.total labs_done=c.labs_completed labs_total=c.labs_total label="Course progress".to_string() /> })}
            {start}
        </div>
        {(!started).then(|| view! { <About a=about.clone() /> })}
        <h2 class="outline-title" id="outline">"Course outline"</h2>
        {c.sections.into_iter().enumerate().map(|(i, s)| view! {
            <SectionBlock number={i + 1} s signed_in next_up=next_up.clone() />
        }).collect_view()}
        {c.exam.clone().map(|e| view! { <ExamBlock e rules=c.exam_rules.clone() course=slug.clone() signed_in /> })}
        {started.then(|| view! { <About a=about /> })}
        {(!signed_in).then(|| view! {
            <p class="closing"><a class="button primary" href=format!("/register?next=/courses/{}", c.slug)>"Sign up to start"</a></p>
        })}
    }
}

/// What the about part of a course page is built from.
#[derive(Clone)]
struct AboutParts {
    about: CourseAbout,
    sections: i64,
    modules: i64,
    labs: i64,
    module_minutes: i64,
    lab_minutes: i64,
    minutes: i64,
    exam: Option<Activity>,
    rules: Option<ExamRules>,
}

/// Outcomes, who teaches it, level and prerequisites, and what is inside:
/// what a visitor reads before signing up.
#[component]
fn About(a: AboutParts) -> impl IntoView {
    let AboutParts {
        about,
        sections,
        modules,
        labs,
        module_minutes,
        lab_minutes,
        minutes,
        exam,
        rules,
    } = a;
    let outcomes = (!about.outcomes.is_empty()).then(|| view! {
        <section class="about-part" aria-labelledby="outcomes-h">
            <h2 id="outcomes-h">"What you will be able to do"</h2>
            <ul class="outcomes">{about.outcomes.into_iter().map(|o| view! { <li>{o}</li> }).collect_view()}</ul>
        </section>
    });
    let people = (!about.speakers.is_empty() || about.host.is_some()).then(|| view! {
        <section class="about-part" aria-labelledby="speakers-h">
            <h2 id="speakers-h">"Who teaches it"</h2>
            <ul class="people">
                {about.speakers.into_iter().map(|p| view! {
                    <li>
                        <strong>{p.name}</strong>
                        {(!p.affiliation.is_empty()).then(|| view! { <span class="affiliation">{p.affiliation}</span> })}
                        {(!p.role.is_empty()).then(|| view! { <span class="role">{p.role}</span> })}
                    </li>
                }).collect_view()}
            </ul>
            {about.host.map(|h| view! {
                <p class="host">"Host: "<strong>{h.credit()}</strong>{(!h.role.is_empty()).then(|| format!(" — {}", h.role))}</p>
            })}
        </section>
    });
    let level = (!about.level.is_empty() || !about.prerequisites.is_empty()).then(|| view! {
        <section class="about-part" aria-labelledby="level-h">
            <h2 id="level-h">"Level and prerequisites"</h2>
            {(!about.level.is_empty()).then(|| view! { <p>"Level: "<strong>{about.level}</strong></p> })}
            {(!about.prerequisites.is_empty()).then(|| view! {
                <ul>{about.prerequisites.into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}</ul>
            })}
        </section>
    });
    let exam_line = exam.map(|e| match &rules {
        Some(r) => format!(
            "{}, {} — pass mark {}%. ",
            count(r.questions, "question", "questions"),
            limit(r.time_limit_seconds),
            r.pass_mark_percent
        ),
        None => format!("{}. ", hours(e.minutes)),
    });
    view! {
        <div class="about">
            {outcomes}
            {people}
            {level}
            <section class="about-part" aria-labelledby="inside-h">
                <h2 id="inside-h">"What is inside"</h2>
                <dl class="inside">
                    <div><dt>"Modules"</dt><dd>{format!("{} in {}, about {} of reading and video", count(modules, "module", "modules"), count(sections, "section", "sections"), hours(module_minutes))}</dd></div>
                    {(labs > 0).then(|| view! {
                        <div><dt>"Labs"</dt><dd>{format!("{}, graded as you run them, about {}", count(labs, "hands-on lab", "hands-on labs"), hours(lab_minutes))}</dd></div>
                    })}
                    {exam_line.map(|l| view! {
                        <div><dt>"Exam"</dt><dd>{l}<a href="#exam">"The exam's rules"</a></dd></div>
                    })}
                    {rules.as_ref().map(|r| view! {
                        <div><dt>"Certificate"</dt><dd>{certificate_text(r)}</dd></div>
                    })}
                    <div><dt>"In all"</dt><dd>{format!("about {}", hours(minutes))}</dd></div>
                </dl>
            </section>
        </div>
    }
}

fn certificate_text(r: &ExamRules) -> String {
    let validity = match r.certificate_valid_months {
        Some(1) => "valid for one month".to_string(),
        Some(m) => format!("valid for {m} months"),
        None => "it does not expire".to_string(),
    };
    format!(
        "Pass the exam to receive a signed certificate that anyone can verify online; {validity}."
    )
}

/// One section of the outline: what to do next leads, what is locked is muted.
#[component]
fn SectionBlock(
    number: usize,
    s: SectionView,
    signed_in: bool,
    next_up: Option<StepLink>,
) -> impl IntoView {
    let id = format!("section-{}", s.slug);
    let labelled_by = id.clone();
    view! {
        <section class="course-section" aria-labelledby=labelled_by>
            <h3 id=id>{format!("{number}. {}", s.title)}</h3>
            <p>{s.summary.clone()}</p>
            {(!s.speakers.is_empty()).then(|| view! { <p class="taught-by">"With "{and_list(&s.speakers)}</p> })}
            {signed_in.then(|| view! { <ProgressBar done=s.completed total=s.total labs_done=s.labs_completed labs_total=s.labs_total label=format!("Progress in {}", s.title) /> })}
            <ol class="modules">
                {s.modules.into_iter().map(|m| {
                    let next = next_up.as_ref().is_some_and(|n| n.kind == m.kind && n.slug == m.slug);
                    view! { <OutlineItem m signed_in next /> }
                }).collect_view()}
            </ol>
        </section>
    }
}

#[component]
fn OutlineItem(m: ModuleItem, signed_in: bool, next: bool) -> impl IntoView {
    let lab = m.kind == "lab";
    let title = if lab {
        format!("Lab: {}", m.title)
    } else {
        m.title.clone()
    };
    let locked = signed_in && m.locked.is_some() && !m.completed;
    let (state, status) = match (signed_in, lab, m.completed, locked, next) {
        (false, ..) => ("", ""),
        (_, true, true, ..) => ("done", "✓ Passed"),
        (_, false, true, ..) => ("done", "✓ Complete"),
        (_, _, _, true, _) => ("locked", "Locked"),
        (_, _, _, _, true) => ("next", "Next up"),
        _ => ("", ""),
    };
    let class = format!(
        "module{}{}",
        if lab { " lab" } else { "" },
        if state.is_empty() {
            String::new()
        } else {
            format!(" {state}")
        }
    );
    let meta = if lab {
        format!("Lab · {}", hours(m.minutes))
    } else {
        hours(m.minutes)
    };
    // A visitor cannot open a module or a lab yet: the outline is a syllabus
    // for them, and the way in is "Sign up to start".
    let link = signed_in && !locked;
    view! {
        <li class=class>
            {if link {
                view! { <a class="title" href=m.href>{title}</a> }.into_any()
            } else {
                view! { <span class="title">{title}</span> }.into_any()
            }}
            <span class="meta">{meta}</span>
            {(!status.is_empty()).then(|| view! { <span class="status">{status}</span> })}
            {m.locked.filter(|_| locked).map(|why| view! { <span class="lock-reason">{why}</span> })}
            {(!m.summary.is_empty()).then(|| view! { <span class="item-summary">{m.summary}</span> })}
        </li>
    }
}

/// The exam at the end of the outline, with its rules for everyone to read.
#[component]
fn ExamBlock(
    e: Activity,
    rules: Option<ExamRules>,
    course: String,
    signed_in: bool,
) -> impl IntoView {
    let rules = rules.map(|r| {
        let eligible = match (r.required_modules, r.required_labs) {
            (0, 0) => "Nothing: any signed-in learner can sit it.".into_any(),
            _ if (r.every_module || r.required_modules == 0) && (r.every_lab || r.required_labs == 0) => {
                let mut parts = Vec::new();
                if r.required_modules > 0 {
                    parts.push(format!("complete all {}", count(r.required_modules, "module", "modules")));
                }
                if r.required_labs > 0 {
                    parts.push(format!("pass all {}", count(r.required_labs, "lab", "labs")));
                }
                format!("First {}.", and_list(&parts)).into_any()
            }
            _ => {
                let mut parts = Vec::new();
                if r.required_modules > 0 {
                    parts.push(format!("complete {}", count(r.required_modules, "module", "modules")));
                }
                if r.required_labs > 0 {
                    parts.push(format!("pass {}", count(r.required_labs, "lab", "labs")));
                }
                view! {
                    <details class="required">
                        <summary>{format!("First {}:", and_list(&parts))}</summary>
                        <ul>{r.required.into_iter().map(|t| view! { <li>{t}</li> }).collect_view()}</ul>
                    </details>
                }.into_any()
            }
        };
        let attempts = match (r.attempts_allowed, r.cooldown_minutes) {
            (1, _) => "1 attempt.".to_string(),
            (n, 0) => format!("{n} attempts."),
            (n, c) => format!("{n} attempts, at least {} apart.", limit(c * 60)),
        };
        let window = match (r.opens_at, r.closes_at) {
            (None, None) => None,
            (Some(o), None) => Some(format!("Opens {o}.")),
            (None, Some(c)) => Some(format!("Closes {c}.")),
            (Some(o), Some(c)) => Some(format!("Open from {o} to {c}.")),
        };
        view! {
            <dl class="exam-rules">
                <div><dt>"Time"</dt><dd>{format!("{} in {}. The clock starts when you start and keeps running if you leave.", count(r.questions, "question", "questions"), limit(r.time_limit_seconds))}</dd></div>
                <div><dt>"Pass mark"</dt><dd>{format!("{}%", r.pass_mark_percent)}</dd></div>
                <div><dt>"Attempts"</dt><dd>{attempts}</dd></div>
                <div><dt>"To be eligible"</dt><dd>{eligible}</dd></div>
                {window.map(|w| view! { <div><dt>"When"</dt><dd>{w}</dd></div> })}
            </dl>
        }
    });
    let time = rules
        .is_none()
        .then(|| view! { <p class="meta">{format!("Time limit: {}", hours(e.minutes))}</p> });
    view! {
        <section class="course-section exam" aria-labelledby="exam">
            <h3 id="exam">{e.title}</h3>
            <p>{e.summary}</p>
            {rules}
            {time}
            {signed_in.then(|| view! {
                <p><a class="button" href=format!("/courses/{course}/exam")>"About the exam and your attempts"</a></p>
            })}
        </section>
    }
}

/// `/courses/:course/:module`: the module itself; signed-in learners only.
#[component]
pub fn Module() -> impl IntoView {
    let params = use_params_map();
    let location = use_location();
    let key = move || {
        let p = params.read();
        (
            p.get("course").unwrap_or_default(),
            p.get("module").unwrap_or_default(),
        )
    };
    // Marking a module complete does not read the page again: the answer
    // updates it in place, so nothing reloads and the page does not move.
    let data = Resource::<_, PageWithoutBody>::new_with_options(
        key,
        |(c, m)| get_module_page(c, m),
        false,
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => view! { <ModuleBody page /> }.into_any(),
                    Err(AppError::Unauthorized) => {
                        let next = location.pathname.get_untracked();
                        view! { <Redirect path=format!("/login?next={next}") /> }.into_any()
                    }
                    Err(e) => view! { <ErrorView error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ModuleBody(page: ModulePage) -> impl IntoView {
    let ModulePage {
        course_slug,
        slug,
        title,
        minutes,
        completed,
        locked,
        course_completed,
        course_total,
        labs_completed,
        labs_total,
        next,
        crumbs_html,
        body_html,
        practice_html,
        links_html,
    } = page;
    // One action per page: a new module starts from its own state.
    let mark = ServerAction::<SetModuleComplete>::new();
    let answer = move || mark.value().get().and_then(Result::ok);
    let completed = Signal::derive(move || answer().map_or(completed, |c| c.completed));
    let done = Signal::derive(move || answer().map_or(course_completed, |c| c.course_completed));
    let labs_done = Signal::derive(move || answer().map_or(labs_completed, |c| c.labs_completed));
    let body = match locked {
        Some(why) => view! {
            <div class="locked" role="status">
                <p><strong>"This module is locked."</strong>" "{why}</p>
                <p><a href=format!("/courses/{course_slug}")>"Back to the course"</a></p>
            </div>
        }.into_any(),
        None => view! {
            <div class="module-content" inner_html=crate::shared_html::by_reference(body_html)></div>
            // Without JavaScript the answer comes back to this form (`#complete`).
            <ActionForm action=mark attr:class="complete-form" attr:id="complete">
                <input type="hidden" name="course" value=course_slug />
                <input type="hidden" name="module" value=slug />
                <input type="hidden" name="complete" value=move || if completed.get() { "false" } else { "true" } />
                <button type="submit" class=move || if completed.get() { "button" } else { "button primary" }>
                    {move || if completed.get() { "Mark as not complete" } else { "Mark complete" }}
                </button>
                <span class="status done" role="status">{move || completed.get().then_some("✓ You completed this module.")}</span>
                {move || completed.get().then(|| next.clone()).flatten().map(|n| view! {
                    <a class="button primary next-step" href=n.href.clone()>{format!("Next: {} →", n.label())}</a>
                })}
            </ActionForm>
            {form_error(mark.value())}
            {practice_html.map(|practice_html| view! {
                <aside class="practice" aria-label="Practise it" inner_html=practice_html></aside>
            })}
        }.into_any(),
    };
    view! {
        <Title text=title.clone() />
        <nav aria-label="Breadcrumb" class="breadcrumb" inner_html=crumbs_html></nav>
        <article class="module">
            <header>
                <h1>{title}</h1>
                <p class="meta">{format!("Reading time: about {}", hours(minutes))}</p>
                <ProgressBar done total=course_total labs_done labs_total label="Course progress".to_string() />
            </header>
            {body}
        </article>
        <nav class="prev-next" aria-label="Previous and next" inner_html=links_html></nav>
    }
}

/// The stops before and after a lab, for the foot of its page.
#[component]
pub fn LabSteps(course: String, lab: String) -> impl IntoView {
    let way = Resource::new(
        move || (course.clone(), lab.clone()),
        |(c, l)| get_lab_way(c, l),
    );
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                way.await.ok().map(|w| view! {
                    <nav class="prev-next" aria-label="Previous and next">
                        {step_link("prev", w.prev)}
                        {step_link("next", w.next)}
                    </nav>
                })
            })}
        </Suspense>
    }
}

/// The way on from a passed lab: the next stop of the course, offered at once.
#[component]
pub fn LabWayOn(course: String, lab: String) -> impl IntoView {
    let way = Resource::new(
        move || (course.clone(), lab.clone()),
        |(c, l)| get_lab_way(c, l),
    );
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                way.await.ok().and_then(|w| w.next).map(|n| view! {
                    <p class="way-on">
                        <a class="button primary" href=n.href.clone()>{format!("Next: {} →", n.label())}</a>
                    </p>
                })
            })}
        </Suspense>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_and_the_course_page_count_alike() {
        assert_eq!(
            facts(4, 21, 6, true, 627),
            "4 sections · 21 modules · 6 labs · certification exam · about 10 h 27 min"
        );
        assert_eq!(
            facts(1, 1, 0, false, 5),
            "1 section · 1 module · about 5 min"
        );
    }

    #[test]
    fn progress_counts_modules_and_labs_apart() {
        assert_eq!(
            progress_text(4, 27, 1, 6),
            "3 of 21 modules · 1 of 6 labs done (14%)"
        );
        assert_eq!(progress_text(1, 2, 0, 0), "1 of 2 modules done (50%)");
        assert_eq!(progress_text(0, 1, 0, 1), "0 of 1 lab done (0%)");
    }

    #[test]
    fn lists_read_as_prose() {
        let l = |v: &[&str]| and_list(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(l(&[]), "");
        assert_eq!(l(&["A"]), "A");
        assert_eq!(l(&["A", "B", "C"]), "A, B and C");
        assert_eq!(limit(3600), "60 minutes");
        assert_eq!(limit(7200), "2 hours");
        assert_eq!(limit(8), "8 seconds");
    }
}
