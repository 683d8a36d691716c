//! The catalog, a course's overview, and a module page.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_location, use_params_map};

use super::{
    get_course_overview, get_module_page, list_courses, CourseOverview, ModulePage,
    PageWithoutBody, SetModuleComplete,
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

/// A labelled progress bar; the label is what screen readers announce.
#[component]
fn ProgressBar(done: i64, total: i64, label: String) -> impl IntoView {
    let pct = if total > 0 { done * 100 / total } else { 0 };
    view! {
        <div class="progress">
            <progress value=done max=total.max(1) aria-label=label.clone()>{format!("{pct}%")}</progress>
            <span class="progress-text">{format!("{done} of {total} complete ({pct}%)")}</span>
        </div>
    }
}

/// `/`: every course.
#[component]
pub fn Catalog() -> impl IntoView {
    let courses = Resource::new(|| (), |_| list_courses());
    view! {
        <Title text="Courses" />
        <h1>"Courses"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match courses.await {
                    Ok(list) if list.is_empty() => view! { <p>"No courses are published yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="cards">
                            {list.into_iter().map(|c| view! {
                                <li class="card">
                                    <h2><a href=format!("/courses/{}", c.slug)>{c.title}</a></h2>
                                    <p>{c.summary}</p>
                                    <p class="meta">{format!("{} sections · {} modules · {}", c.sections, c.modules, hours(c.minutes))}</p>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <ErrorView error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// `/courses/:course`: sections, modules, labs, exam and the learner's progress.
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
    let start = if c.signed_in {
        match &c.continue_to {
            Some(next) => view! {
                <p><a class="button primary" href=format!("/courses/{}/{}", slug, next.slug)>
                    {if c.completed == 0 { "Start: " } else { "Continue where you left off: " }}{next.title.clone()}
                </a></p>
            }.into_any(),
            None if c.total > 0 && c.completed == c.total => view! { <p class="done">"You have completed every module and lab. Well done."</p> }.into_any(),
            None => ().into_any(),
        }
    } else {
        view! {
            <p><a class="button primary" href=format!("/register?next=/courses/{slug}")>"Sign up to start"</a>
            " or "<a href=format!("/login?next=/courses/{slug}")>"log in"</a>"."</p>
        }.into_any()
    };
    view! {
        <Title text=c.title.clone() />
        <nav aria-label="Breadcrumb" class="breadcrumb"><a href="/">"Courses"</a></nav>
        <h1>{c.title.clone()}</h1>
        <p class="lead">{c.summary.clone()}</p>
        <p class="meta">{format!("{} sections · {} modules and labs · about {}", c.sections.len(), c.total, hours(c.minutes))}</p>
        {c.signed_in.then(|| view! { <ProgressBar done=c.completed total=c.total label="Course progress".to_string() /> })}
        {start}
        {c.sections.into_iter().enumerate().map(|(i, s)| {
            let slug = slug.clone();
            let signed_in = c.signed_in;
            view! {
                <section class="course-section" aria-labelledby=format!("section-{}", s.slug)>
                    <h2 id=format!("section-{}", s.slug)>{format!("{}. {}", i + 1, s.title)}</h2>
                    <p>{s.summary.clone()}</p>
                    {signed_in.then(|| view! { <ProgressBar done=s.completed total=s.total label=format!("Progress in {}", s.title) /> })}
                    <ol class="modules">
                        {s.modules.into_iter().map(|m| {
                            let lab = m.kind == "lab";
                            let href = if lab { format!("/courses/{}/labs/{}", slug, m.slug) } else { format!("/courses/{}/{}", slug, m.slug) };
                            let title = if lab { format!("Lab: {}", m.title) } else { m.title.clone() };
                            let (class, status) = match (lab, m.completed, m.locked.is_some()) {
                                (true, true, _) => ("module lab done", "✓ Passed"),
                                (false, true, _) => ("module done", "✓ Complete"),
                                (_, false, true) => ("module locked", "Locked"),
                                (true, false, false) => ("module lab", ""),
                                (false, false, false) => ("module", ""),
                            };
                            view! {
                                <li class=class>
                                    {match m.locked.clone() {
                                        Some(_) => view! { <span class="title">{title.clone()}</span> }.into_any(),
                                        None => view! { <a class="title" href=href>{title.clone()}</a> }.into_any(),
                                    }}
                                    <span class="meta">{hours(m.minutes)}</span>
                                    <span class="status">{status}</span>
                                    {m.locked.clone().map(|why| view! { <span class="lock-reason">{why}</span> })}
                                    {(!m.summary.is_empty()).then(|| view! { <span class="item-summary">{m.summary.clone()}</span> })}
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                </section>
            }
        }).collect_view()}
        {c.exam.map(|e| { let exam_slug = slug.clone(); view! {
            <section class="course-section exam" aria-labelledby="exam">
                <h2 id="exam">{e.title}</h2>
                <p>{e.summary}</p>
                <p class="meta">{format!("Time limit: {}", hours(e.minutes))}</p>
                <p><a class="button" href=format!("/courses/{}/exam", exam_slug)>"About the exam and your attempts"</a></p>
            </section>
        }})}
    }
}

/// `/courses/:course/:module`: the module itself; signed-in learners only.
#[component]
pub fn Module() -> impl IntoView {
    let params = use_params_map();
    let location = use_location();
    let mark = ServerAction::<SetModuleComplete>::new();
    let key = move || {
        let p = params.read();
        (
            p.get("course").unwrap_or_default(),
            p.get("module").unwrap_or_default(),
            mark.version().get(),
        )
    };
    let data = Resource::<_, PageWithoutBody>::new_with_options(
        key,
        |(c, m, _)| get_module_page(c, m),
        false,
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => view! { <ModuleBody page mark /> }.into_any(),
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
fn ModuleBody(page: ModulePage, mark: ServerAction<SetModuleComplete>) -> impl IntoView {
    let ModulePage {
        course_slug,
        slug,
        title,
        minutes,
        completed,
        locked,
        course_completed,
        course_total,
        crumbs_html,
        body_html,
        practice_html,
        links_html,
    } = page;
    let body = match locked {
        Some(why) => view! {
            <div class="locked" role="status">
                <p><strong>"This module is locked."</strong>" "{why}</p>
                <p><a href=format!("/courses/{course_slug}")>"Back to the course"</a></p>
            </div>
        }.into_any(),
        None => view! {
            <div class="module-content" inner_html=crate::shared_html::by_reference(body_html)></div>
            <ActionForm action=mark attr:class="complete-form">
                <input type="hidden" name="course" value=course_slug />
                <input type="hidden" name="module" value=slug />
                <input type="hidden" name="complete" value=if completed { "false" } else { "true" } />
                <button type="submit" class=if completed { "button" } else { "button primary" }>
                    {if completed { "Mark as not complete" } else { "Mark complete" }}
                </button>
                {completed.then(|| view! { <span class="status done">"✓ You completed this module."</span> })}
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
                <ProgressBar done=course_completed total=course_total label="Course progress".to_string() />
            </header>
            {body}
        </article>
        <nav class="prev-next" aria-label="Modules" inner_html=links_html></nav>
    }
}
