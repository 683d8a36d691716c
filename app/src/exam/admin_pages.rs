//! The exam administration's pages, under `/admin/exam`. Every form is an `ActionForm`
//! that works with JavaScript off (the post redirects back to the page).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::admin::{
    admin_exam_attempts, admin_exam_courses, get_exam_blueprint, get_exam_statistics, AdminAttempt,
    AdminAttempts, BlueprintForm, ExamStatistics, GrantExtraAttempt, GrantExtraTime,
    LearnerAttempts, SaveExamBlueprint, VoidAttempt,
};
use crate::layout::{form_error, load_error};

use crate::time::utc;

fn course_param() -> impl Fn() -> String + Copy + Send + Sync + 'static {
    let params = use_params_map();
    move || params.read().get("course").unwrap_or_default()
}

/// The tabs of one course's exam administration.
#[component]
fn AdminTabs(slug: String, current: &'static str) -> impl IntoView {
    let tabs = [
        ("blueprint", "Blueprint", format!("/admin/exam/{slug}")),
        (
            "attempts",
            "Attempts",
            format!("/admin/exam/{slug}/attempts"),
        ),
        (
            "statistics",
            "Item statistics",
            format!("/admin/exam/{slug}/statistics"),
        ),
    ];
    view! {
        <nav class="admin-tabs" aria-label="Exam administration">
            <a href="/admin/exam">"All exams"</a>
            {tabs.into_iter().map(|(key, label, href)| view! {
                <a href=href aria-current=(key == current).then_some("page")>{label}</a>
            }).collect_view()}
        </nav>
    }
}

/// `/admin/exam`: every course, and the way to its exam's administration.
#[component]
pub fn AdminExamIndex() -> impl IntoView {
    let data = Resource::new(|| (), |_| admin_exam_courses());
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(courses) => view! {
                        <Title text="Exam administration" />
                        <h1>"Exam administration"</h1>
                        <table class="admin-table">
                            <thead><tr><th scope="col">"Course"</th><th scope="col">"In progress"</th><th scope="col">"Submitted"</th><th scope="col">"Manage"</th></tr></thead>
                            <tbody>
                                {courses.into_iter().map(|c| {
                                    let manage = if c.has_exam {
                                        view! {
                                            <a href=format!("/admin/exam/{}", c.slug)>"Blueprint"</a>" · "
                                            <a href=format!("/admin/exam/{}/attempts", c.slug)>"Attempts"</a>" · "
                                            <a href=format!("/admin/exam/{}/statistics", c.slug)>"Item statistics"</a>
                                        }.into_any()
                                    } else {
                                        view! { <span class="muted">"No exam"</span> }.into_any()
                                    };
                                    view! { <tr><td>{c.title}</td><td>{c.active}</td><td>{c.submitted}</td><td>{manage}</td></tr> }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

/// `/admin/exam/:course`: edit the blueprint.
#[component]
pub fn AdminBlueprintPage() -> impl IntoView {
    let course = course_param();
    let save = ServerAction::<SaveExamBlueprint>::new();
    let data = Resource::new(
        move || (course(), save.version().get()),
        |(c, _)| get_exam_blueprint(c),
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(b) => view! { <BlueprintBody b save /> }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn BlueprintBody(b: BlueprintForm, save: ServerAction<SaveExamBlueprint>) -> impl IntoView {
    let saved = move || match save.value().get() {
        Some(Ok(revision)) => Some(view! {
            <p class="notice" role="status">{format!("Blueprint saved as revision {revision} of exam/blueprint.yaml.")}</p>
        }),
        _ => None,
    };
    let history = crate::admin::pages::history_href(&b.course_slug, &b.path);
    let editor = crate::admin::pages::editor_href(&b.course_slug, &b.path);
    let minutes = b.time_unit == "minutes";
    view! {
        <Title text=format!("Exam blueprint · {}", b.course_title) />
        <AdminTabs slug=b.course_slug.clone() current="blueprint" />
        <h1>{format!("Exam blueprint: {}", b.course_title)}</h1>
        <p class="muted">
            "Saving writes the course file "<code>{b.path.clone()}</code>" as a new revision (see its "
            <a href=history>"history"</a>", or edit it "<a href=editor>"as text"</a>
            "); "<code>"masterclass content export"</code>" writes it back to "<code>"content/"</code>"."
        </p>
        {saved}
        {form_error(save.value())}
        <ActionForm action=save attr:class="admin-form blueprint-form">
            <input type="hidden" name="course" value=b.course_slug.clone() />
            <input type="hidden" name="revision" value=b.revision.to_string() />
            <fieldset>
                <legend>"Timing and marks"</legend>
                <div class="field-row">
                    <label class="field">"Time limit"<input type="number" name="time_limit" value=b.time_limit.to_string() required /></label>
                    <label class="field">"Unit"
                        <select name="time_unit">
                            <option value="minutes" selected=minutes>"minutes"</option>
                            <option value="seconds" selected=!minutes>"seconds"</option>
                        </select>
                    </label>
                </div>
                <label class="field">"Pass mark (%)"<input type="number" step="any" name="pass_mark_percent" value=b.pass_mark_percent.to_string() required /></label>
                <label class="field">"Attempts allowed"<input type="number" name="attempts_allowed" value=b.attempts_allowed.to_string() required /></label>
                <label class="field">"Cooldown between attempts (minutes)"<input type="number" name="cooldown_minutes" value=b.cooldown_minutes.to_string() required /></label>
            </fieldset>
            <fieldset>
                <legend>"When the exam is open (UTC; empty: always)"</legend>
                <label class="field">"Opens"<input type="text" name="opens_at" value=b.opens_at.clone() placeholder="2025-06-01T09:00:00Z" /></label>
                <label class="field">"Closes"<input type="text" name="closes_at" value=b.closes_at.clone() placeholder="2025-06-30" /></label>
            </fieldset>
            <fieldset>
                <legend>"Taking the exam"</legend>
                <label class="option"><input type="checkbox" name="shuffle_questions" value="on" checked=b.shuffle_questions />" Shuffle the order of questions"</label>
                <label class="option"><input type="checkbox" name="shuffle_options" value="on" checked=b.shuffle_options />" Shuffle options (unless a question fixes them)"</label>
            </fieldset>
            <fieldset>
                <legend>"Review after an attempt"</legend>
                <p class="muted">"Learners always see which questions they missed and the module to read again. The right answers and feedback give the keys away, so they wait until the learner can no longer use them."</p>
                <label class="field">"Show the right answers and feedback"
                    <select name="show_answers">
                        {crate::exam::ShowAnswers::ALL.into_iter().map(|p| view! {
                            <option value=p.as_str() selected=b.show_answers == p>{p.label()}</option>
                        }).collect_view()}
                    </select>
                </label>
            </fieldset>
            <fieldset>
                <legend>"Certificates"</legend>
                <label class="field">"Valid for (months; empty: never expire)"
                    <input type="number" name="certificate_valid_months" min="1" max="120" value=b.certificate_valid_months.map(|m| m.to_string()).unwrap_or_default() />
                </label>
            </fieldset>
            <fieldset>
                <legend>"Questions drawn per category"</legend>
                {b.draw.iter().enumerate().map(|(i, d)| view! {
                    <input type="hidden" name=format!("category[{i}]") value=d.category.clone() />
                    <label class="field">{format!("{} ({} in the bank)", d.category, d.available)}
                        <input type="number" name=format!("count[{i}]") value=d.count.to_string() />
                    </label>
                }).collect_view()}
            </fieldset>
            <fieldset>
                <legend>"Modules a learner must complete first"</legend>
                {b.modules.iter().enumerate().map(|(i, m)| view! {
                    <label class="option"><input type="checkbox" name=format!("module[{i}]") value=m.slug.clone() checked=m.required />" "{m.title.clone()}</label>
                }).collect_view()}
            </fieldset>
            <button type="submit" class="button primary">"Save the blueprint"</button>
        </ActionForm>
    }
}

/// `/admin/exam/:course/attempts`: attempts per learner, extra time and attempts, voiding.
#[component]
pub fn AdminAttemptsPage() -> impl IntoView {
    let course = course_param();
    let time = ServerAction::<GrantExtraTime>::new();
    let again = ServerAction::<GrantExtraAttempt>::new();
    let void = ServerAction::<VoidAttempt>::new();
    let data = Resource::new(
        move || {
            (
                course(),
                time.version().get(),
                again.version().get(),
                void.version().get(),
            )
        },
        |(c, ..)| admin_exam_attempts(c),
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(a) => view! { <AttemptsBody a time again void /> }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AttemptsBody(
    a: AdminAttempts,
    time: ServerAction<GrantExtraTime>,
    again: ServerAction<GrantExtraAttempt>,
    void: ServerAction<VoidAttempt>,
) -> impl IntoView {
    let AdminAttempts {
        course_slug,
        course_title,
        learners,
        log,
    } = a;
    let done = move || {
        let msg = if let Some(Ok(secs)) = time.value().get() {
            Some(format!(
                "Extra time granted: {} minutes left now.",
                (secs + 59) / 60
            ))
        } else if let Some(Ok(n)) = again.value().get() {
            Some(format!("Extra attempt granted: {n} attempts allowed now."))
        } else if let Some(Ok(())) = void.value().get() {
            Some("Attempt voided.".to_string())
        } else {
            None
        };
        msg.map(|m| view! { <p class="notice" role="status">{m}</p> })
    };
    view! {
        <Title text=format!("Exam attempts · {course_title}") />
        <AdminTabs slug=course_slug.clone() current="attempts" />
        <h1>{format!("Exam attempts: {course_title}")}</h1>
        {done}
        {form_error(time.value())}
        {form_error(again.value())}
        {form_error(void.value())}
        {learners.is_empty().then(|| view! { <p>"Nobody has taken this exam yet."</p> })}
        {learners.into_iter().map(|l| view! { <LearnerBlock l course=course_slug.clone() time again void /> }).collect_view()}
        {(!log.is_empty()).then(|| view! {
            <h2>"What administrators did"</h2>
            <table class="admin-table">
                <thead><tr><th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"Learner"</th><th scope="col">"Action"</th><th scope="col">"Detail"</th></tr></thead>
                <tbody>
                    {log.into_iter().map(|e| view! {
                        <tr><td>{utc(e.at)}</td><td>{e.admin}</td><td>{e.learner.unwrap_or_default()}</td><td>{e.action}</td><td>{e.detail}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        })}
    }
}

fn status_text(a: &AdminAttempt) -> String {
    match (a.status.as_str(), a.passed) {
        ("active", _) => format!("In progress ({} left)", clock(a.remaining_seconds)),
        ("voided", _) => format!("Voided: {}", a.void_reason.clone().unwrap_or_default()),
        (_, Some(true)) => "Passed".into(),
        _ => "Not passed".into(),
    }
}

fn clock(secs: i64) -> String {
    let s = secs.max(0);
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

#[component]
fn LearnerBlock(
    l: LearnerAttempts,
    course: String,
    time: ServerAction<GrantExtraTime>,
    again: ServerAction<GrantExtraAttempt>,
    void: ServerAction<VoidAttempt>,
) -> impl IntoView {
    let who = format!("{} <{}>", l.name, l.email);
    view! {
        <section class="learner-attempts">
            <h2>{who.clone()}</h2>
            <p>
                {format!("Attempts used: {} of {}", l.used, l.allowed)}
                {(l.extra_attempts > 0).then(|| format!(" ({} granted by an administrator)", l.extra_attempts))}
                "."
            </p>
            <ActionForm action=again attr:class="inline-form">
                <input type="hidden" name="course" value=course />
                <input type="hidden" name="user" value=l.user_id.to_string() />
                <button type="submit" class="button" aria-label=format!("Grant {} an extra attempt", l.email)>"Grant an extra attempt"</button>
            </ActionForm>
            {(!l.attempts.is_empty()).then(|| view! {
                <table class="admin-table">
                    <thead><tr>
                        <th scope="col">"Attempt"</th><th scope="col">"Status"</th><th scope="col">"Score"</th>
                        <th scope="col">"Started"</th><th scope="col">"Submitted"</th><th scope="col">"Submitted by"</th><th scope="col">"Actions"</th>
                    </tr></thead>
                    <tbody>
                        {l.attempts.into_iter().map(|a| {
                            let id = a.id;
                            let by = match a.submitted_by.as_deref() {
                                Some("server") => "the server, at the deadline",
                                Some("learner") => "the learner",
                                _ => "",
                            };
                            let submitted = a.submitted_at.map(utc).unwrap_or_else(|| {
                                if a.status == "active" { format!("due {}", utc(a.deadline_at)) } else { String::new() }
                            });
                            let extra = (a.extra_minutes > 0).then(|| format!(" (+{} min granted)", a.extra_minutes));
                            let link = if a.status != "active" { view! { <a href=format!("/exam/{id}/result")>{format!("#{id}")}</a> }.into_any() } else { view! { <span>{format!("#{id}")}</span> }.into_any() };
                            view! {
                                <tr class=format!("attempt-{}", a.status)>
                                    <td>{link}</td>
                                    <td>{status_text(&a)}{extra}</td>
                                    <td>{a.score_percent.map(|s| format!("{s}%")).unwrap_or_default()}</td>
                                    <td>{utc(a.started_at)}</td>
                                    <td>{submitted}</td>
                                    <td>{by}</td>
                                    <td class="actions">
                                        {(a.status == "active").then(|| view! {
                                            <ActionForm action=time attr:class="inline-form">
                                                <input type="hidden" name="attempt" value=id.to_string() />
                                                <label>{format!("Extra minutes for attempt #{id}")}" "
                                                    <input type="number" name="minutes" value="10" class="short" />
                                                </label>
                                                " "<button type="submit" class="button">"Add time"</button>
                                            </ActionForm>
                                        })}
                                        {(a.status != "voided").then(|| view! {
                                            <ActionForm action=void attr:class="inline-form">
                                                <input type="hidden" name="attempt" value=id.to_string() />
                                                <label>{format!("Reason to void attempt #{id}")}" "
                                                    <input type="text" name="reason" />
                                                </label>
                                                " "<button type="submit" class="button danger">"Void"</button>
                                            </ActionForm>
                                        })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </section>
    }
}

/// `/admin/exam/:course/statistics`: facility, discrimination and answer frequencies.
#[component]
pub fn AdminStatisticsPage() -> impl IntoView {
    let course = course_param();
    let data = Resource::new(course, get_exam_statistics);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(s) => view! { <StatisticsBody s /> }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn StatisticsBody(s: ExamStatistics) -> impl IntoView {
    let ExamStatistics {
        course_slug,
        course_title,
        submitted,
        min_attempts,
        items,
    } = s;
    let body = if submitted < min_attempts {
        view! {
            <p role="status">{format!(
                "Item statistics appear once {min_attempts} attempts have been submitted; {submitted} so far."
            )}</p>
        }
        .into_any()
    } else {
        view! {
            <p>{format!("Over {submitted} submitted attempts (voided and unfinished ones are left out).")}</p>
            <dl class="stat-help">
                <dt>"Facility index"</dt>
                <dd>"The mean score on the question, in percent of its marks: high is easy, low is hard."</dd>
                <dt>"Discrimination index"</dt>
                <dd>"As in Moodle: the correlation (Pearson) between the score on the question and the mean score on the rest of the same attempt, from −1 to 1. Above 0.3 the question separates strong from weak takers well; near 0 or negative it deserves a look. Empty when the scores do not vary."</dd>
            </dl>
            <table class="admin-table stats">
                <thead><tr>
                    <th scope="col">"Question"</th><th scope="col">"Type"</th><th scope="col">"Attempts"</th>
                    <th scope="col">"Facility"</th><th scope="col">"SD"</th><th scope="col">"Discrimination"</th><th scope="col">"Answers given"</th>
                </tr></thead>
                <tbody>
                    {items.into_iter().map(|it| {
                        let low = it.discrimination.is_some_and(|d| d < 0.0);
                        view! {
                            <tr class=if low { "flag-low" } else { "" }>
                                <td>
                                    <strong>{it.question.clone()}</strong>{format!(" (version {})", it.version)}
                                    {it.retired.then_some(" — retired")}
                                    <br /><span class="muted">{it.text.clone()}</span>
                                </td>
                                <td>{it.kind.clone()}</td>
                                <td>{it.attempts}</td>
                                <td>{format!("{}%", it.facility_percent)}</td>
                                <td>{format!("{}%", it.sd_percent)}</td>
                                <td>{it.discrimination.map(|d| format!("{d:.2}")).unwrap_or_else(|| "—".into())}</td>
                                <td>
                                    <ul class="option-stats">
                                        {it.options.into_iter().map(|o| view! {
                                            <li class=if o.right { "right" } else { "" }>
                                                {o.text}{o.right.then_some(" (right)")}{format!(": {} ({}%)", o.count, o.percent)}
                                            </li>
                                        }).collect_view()}
                                        {(it.unanswered > 0).then(|| view! { <li>{format!("No answer: {}", it.unanswered)}</li> })}
                                    </ul>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <Title text=format!("Item statistics · {course_title}") />
        <AdminTabs slug=course_slug current="statistics" />
        <h1>{format!("Item statistics: {course_title}")}</h1>
        {body}
    }
}
