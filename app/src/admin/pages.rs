//! The authoring pages, under `/admin`: the course's files, the editor with its
//! live preview, a file's history with diffs, and the audit log. Every form works
//! with JavaScript off; with it, the preview follows the typing.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::{
    audit_log, content_file, content_history, content_index, draft_content, CourseContent,
    DiscardDraft, EditorData, FileItem, History, MoveModule, NewModule, Preview, PublishModule,
    RestoreRevision, SaveContent,
};
use crate::labs::editor::CodeEditor;
use crate::labs::LabFileView;
use crate::layout::{form_error, load_error};
use crate::time::utc;

/// Where a file's editor is.
pub fn editor_href(course: &str, path: &str) -> String {
    format!("/admin/content/{course}/edit?path={}", query_escape(path))
}

/// Where a file's history and diffs are.
pub fn history_href(course: &str, path: &str) -> String {
    format!(
        "/admin/content/{course}/history?path={}",
        query_escape(path)
    )
}

/// Paths are plain (letters, digits, `-_./`), so only `/` needs no escaping.
fn query_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_./".contains(c) {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32 & 0xff)
            }
        })
        .collect()
}

fn when(ms: i64) -> String {
    utc(ms)[..16].replace('T', " ")
}

/// `/admin`: where an administrator starts.
#[component]
pub fn AdminHome() -> impl IntoView {
    let courses = Resource::new(|| (), |_| crate::course::list_courses());
    view! {
        <Title text="Administration" />
        <h1>"Administration"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match courses.await {
                    Ok(list) => view! {
                        <section aria-labelledby="authoring-h">
                            <h2 id="authoring-h">"Course content"</h2>
                            <ul>
                                {list.into_iter().map(|c| view! {
                                    <li><a href=format!("/admin/content/{}", c.slug)>{c.title.clone()}</a>" · "
                                        <a href=format!("/admin/analytics/{}", c.slug)>{format!("Analytics of {}", c.title)}</a></li>
                                }).collect_view()}
                            </ul>
                        </section>
                    }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
        <section aria-labelledby="running-h">
            <h2 id="running-h">"Running the course"</h2>
            <ul>
                <li><a href="/admin/learners">"Learners: progress, roles, resetting progress"</a></li>
                <li><a href="/admin/exam">"Exams: blueprints, attempts (extra time), item statistics"</a></li>
                <li><a href="/admin/certificates">"Certificates and revocation"</a></li>
                <li><a href="/admin/audit">"Audit log"</a></li>
            </ul>
        </section>
    }
}

/// `/admin/content/:course`: every file of the course, modules by section.
#[component]
pub fn ContentPage() -> impl IntoView {
    let params = use_params_map();
    let course = move || params.read().get("course").unwrap_or_default();
    let data = Resource::new(course, content_index);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(index) => view! { <ContentBody index /> }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ContentBody(index: CourseContent) -> impl IntoView {
    let query = use_query_map();
    let upload_error = move || query.read().get("error");
    let uploaded = move || query.read().get("uploaded");
    let create = ServerAction::<NewModule>::new();
    let course = index.course.clone();
    let sections = index.sections.clone();
    let modules_by_section = sections
        .iter()
        .map(|(slug, title)| {
            let mut modules: Vec<FileItem> = index
                .files
                .iter()
                .filter(|f| f.kind == "module" && &f.section == slug)
                .cloned()
                .collect();
            modules.sort_by_key(|m| (m.order, m.path.clone()));
            (slug.clone(), title.clone(), modules)
        })
        .collect::<Vec<_>>();
    let others = |kind: &'static str| {
        index
            .files
            .iter()
            .filter(move |f| f.kind == kind)
            .cloned()
            .collect::<Vec<_>>()
    };
    let (labs, exam, media) = (others("lab"), others("exam"), others("media"));
    let course_files = others("course");
    let course_new = course.clone();
    let mut lab_folders: Vec<String> = labs
        .iter()
        .filter(|f| f.path.ends_with("/lab.yaml"))
        .filter_map(|f| f.path.split('/').nth(1).map(str::to_string))
        .collect();
    lab_folders.dedup();
    view! {
        <Title text=format!("Content · {}", index.title) />
        <nav aria-label="Breadcrumb" class="breadcrumb"><a href="/admin">"Administration"</a>" / "{index.title.clone()}</nav>
        <h1>{format!("Content of {}", index.title)}</h1>
        <p class="hint">"Every save is a revision, checked by the same importer as "<code>"content/"</code>
            ". Files marked “not exported” differ from the content folder until "<code>"masterclass content export"</code>" runs."</p>
        {(!index.problems.is_empty()).then(|| view! {
            <section class="notice error" aria-labelledby="problems-h">
                <h2 id="problems-h">"Problems in the published files"</h2>
                <ul>{index.problems.iter().map(|p| view! { <li>{p.clone()}</li> }).collect_view()}</ul>
            </section>
        })}
        <section aria-labelledby="modules-h">
            <h2 id="modules-h">"Modules"</h2>
            {modules_by_section.into_iter().map(|(slug, title, modules)| {
                let course = course.clone();
                let sections = sections.clone();
                view! {
                    <h3>{title}</h3>
                    <table class="admin-table">
                        <thead><tr><th scope="col">"Module"</th><th scope="col">"Status"</th><th scope="col">"Place"</th><th scope="col">"Publish"</th></tr></thead>
                        <tbody>
                            {modules.into_iter().map(|m| view! {
                                <ModuleRow course=course.clone() m sections=sections.clone() current_section=slug.clone() />
                            }).collect_view()}
                        </tbody>
                    </table>
                }
            }).collect_view()}
            <h3>"New module"</h3>
            <ActionForm action=create attr:class="inline-form">
                <input type="hidden" name="course" value=course_new />
                <label>"Title "<input type="text" name="title" required maxlength="200" /></label>
                <label>" in "<select name="section">
                    {sections.iter().map(|(s, t)| view! { <option value=s.clone()>{t.clone()}</option> }).collect_view()}
                </select></label>
                <button type="submit" class="button">"Create (unpublished)"</button>
            </ActionForm>
            {form_error(create.value())}
        </section>
        <section aria-labelledby="lab-tests-h">
            <h2 id="lab-tests-h">"Lab tests"</h2>
            <p class="hint">"Runs a lab's solution and its starter files through its checks, as saved: a good lab passes with the solution and fails with the starter."</p>
            <ul>
                {lab_folders.into_iter().map(|l| view! {
                    <li><a href=format!("/admin/content/{}/test-lab?lab={}", course, query_escape(&l))>{format!("Test {l}")}</a></li>
                }).collect_view()}
            </ul>
        </section>
        <FileTable title="Labs" course=course.clone() files=labs />
        <FileTable title="Exam: question bank and blueprint" course=course.clone() files=exam />
        <FileTable title="Course outline" course=course.clone() files=course_files />
        <section aria-labelledby="media-h">
            <h2 id="media-h">"Media"</h2>
            <p class="hint">"Videos (WebM, MP4, up to 100 MB), captions (WebVTT, 1 MB) and images (PNG, JPEG, SVG, 5 MB); a Moodle GIFT file goes into the exam's question bank. A module shows a video with "
                <code>"video: { file: media/NAME.webm, captions: media/NAME.vtt }"</code>" in its front matter."</p>
            {move || upload_error().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
            {move || uploaded().map(|n| view! { <p class="notice" role="status">{format!("Uploaded {n}.")}</p> })}
            <ul class="media-list">
                {media.into_iter().map(|f| {
                    let name = f.path.trim_start_matches("media/").to_string();
                    let href = format!("/media/{}/{}", course, name);
                    view! { <li><a href=href>{name}</a>{format!(" · {} KB · revision {}", (f.size + 1023) / 1024, f.revision)}</li> }
                }).collect_view()}
            </ul>
            <form method="post" action=format!("/admin/media/{course}") enctype="multipart/form-data" class="inline-form">
                <label>"File "<input type="file" name="file" required accept=".webm,.mp4,.vtt,.png,.jpg,.jpeg,.svg,.gift" /></label>
                <button type="submit" class="button">"Upload"</button>
            </form>
        </section>
    }
}

#[component]
fn ModuleRow(
    course: String,
    m: FileItem,
    sections: Vec<(String, String)>,
    current_section: String,
) -> impl IntoView {
    let publish = ServerAction::<PublishModule>::new();
    let moving = ServerAction::<MoveModule>::new();
    let status = if m.published {
        "Published"
    } else {
        "Unpublished"
    };
    let (course_move, path_move) = (course.clone(), m.path.clone());
    let (course_pub, path_pub) = (course.clone(), m.path.clone());
    view! {
        <tr>
            <td>
                <a href=editor_href(&course, &m.path)>{m.title.clone()}</a>
                <br /><span class="muted">{m.path.clone()}{format!(" · revision {}", m.revision)}{m.unexported.then_some(" · not exported")}</span>
            </td>
            <td>{status}</td>
            <td>
                <ActionForm action=moving attr:class="inline-form">
                    <input type="hidden" name="course" value=course_move />
                    <input type="hidden" name="path" value=path_move />
                    <label class="visually-hidden" for=format!("sec-{}", m.path)>"Section"</label>
                    <select name="section" id=format!("sec-{}", m.path)>
                        {sections.iter().map(|(s, t)| view! {
                            <option value=s.clone() selected=*s == current_section>{t.clone()}</option>
                        }).collect_view()}
                    </select>
                    <label class="visually-hidden" for=format!("ord-{}", m.path)>"Order"</label>
                    <input type="number" name="order" min="0" max="100000" value=m.order.to_string() id=format!("ord-{}", m.path) class="narrow" />
                    <button type="submit" class="button link">"Move"</button>
                </ActionForm>
                {form_error(moving.value())}
            </td>
            <td>
                <ActionForm action=publish attr:class="inline-form">
                    <input type="hidden" name="course" value=course_pub />
                    <input type="hidden" name="path" value=path_pub />
                    <input type="hidden" name="publish" value=(!m.published).to_string() />
                    <button type="submit" class="button">{if m.published { "Unpublish" } else { "Publish" }}</button>
                </ActionForm>
                {form_error(publish.value())}
            </td>
        </tr>
    }
}

#[component]
fn FileTable(title: &'static str, course: String, files: Vec<FileItem>) -> impl IntoView {
    view! {
        <section>
            <h2>{title}</h2>
            <ul class="file-list">
                {files.into_iter().map(|f| view! {
                    <li>
                        <a href=editor_href(&course, &f.path)>{f.path.clone()}</a>" · "
                        <a href=format!("/admin/files/{course}/{}", f.path) download>"Download"</a>
                        <span class="muted">{format!(" · revision {}", f.revision)}{f.unexported.then_some(" · not exported")}</span>
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
}

/// `/admin/content/:course/edit?path=…`: one file, with a live preview.
#[component]
pub fn EditorPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || {
        (
            params.read().get("course").unwrap_or_default(),
            query.read().get("path").unwrap_or_default(),
        )
    };
    let data = Resource::new(key, |(course, path)| content_file(course, path));
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! { <EditorBody d /> }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

const PREVIEW_AFTER_MS: u64 = 400;

#[component]
fn EditorBody(d: EditorData) -> impl IntoView {
    let save = ServerAction::<SaveContent>::new();
    let discard = ServerAction::<DiscardDraft>::new();
    let base = RwSignal::new(d.revision);
    let preview = RwSignal::new(d.preview.clone());
    let status = RwSignal::new(match (d.draft_at, d.draft_behind) {
        (Some(_), Some(b)) => format!(
            "This is your unsaved draft, started from revision {b}; the file is now at revision {}. Compare in the history before saving.",
            d.revision
        ),
        (Some(at), None) => format!("This is your unsaved draft from {} UTC.", when(at)),
        _ => String::new(),
    });
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    Effect::new(move |_| {
        if let Some(Ok(revision)) = save.value().get() {
            base.set(revision);
            status.set(format!("Saved and published as revision {revision}."));
        }
    });
    let generation = StoredValue::new(0u64);
    let (course, path) = (d.course.clone(), d.path.clone());
    let on_change = Callback::new(move |(_, text): (String, String)| {
        let gen = generation.with_value(|g| g + 1);
        generation.set_value(gen);
        status.set("Unsaved changes".into());
        let (course, path) = (course.clone(), path.clone());
        set_timeout(
            move || {
                if generation.get_value() != gen {
                    return;
                }
                leptos::task::spawn_local(async move {
                    match draft_content(course, path, text, base.get_untracked()).await {
                        Ok(p) if generation.get_value() == gen => {
                            preview.set(p);
                            status.set("Draft kept · preview updated".into());
                        }
                        Ok(_) => {}
                        Err(e) => status.set(format!("Draft not kept: {e}")),
                    }
                });
            },
            std::time::Duration::from_millis(PREVIEW_AFTER_MS),
        );
    });
    let file = LabFileView {
        name: "text".into(),
        kind: d.kind.clone(),
        title: d.path.clone(),
        body: d.text.clone(),
        edited: d.draft_at.is_some(),
    };
    let content_href = format!("/admin/content/{}", d.course);
    let (course_save, path_save) = (d.course.clone(), d.path.clone());
    let (course_discard, path_discard) = (d.course.clone(), d.path.clone());
    let module_page = (d.kind == "module").then(|| {
        let slug = d
            .path
            .trim_start_matches("modules/")
            .trim_end_matches(".md")
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '-')
            .to_string();
        format!("/courses/{}/{}", d.course, slug)
    });
    view! {
        <Title text=format!("Edit {}", d.path) />
        <nav aria-label="Breadcrumb" class="breadcrumb">
            <a href="/admin">"Administration"</a>" / "<a href=content_href>{d.course.clone()}</a>" / "{d.path.clone()}
        </nav>
        <h1>{format!("Edit {}", d.path)}</h1>
        <p class="muted">
            {move || format!("Revision {}", base.get())}" · "
            <a href=history_href(&d.course, &d.path)>"History and diffs"</a>
            {module_page.map(|href| view! { " · "<a href=href>"Open as a learner"</a> })}
        </p>
        <div class="authoring">
            <div class="authoring-editor">
                <ActionForm action=save attr:class="editor-form">
                    <input type="hidden" name="course" value=course_save />
                    <input type="hidden" name="path" value=path_save />
                    <input type="hidden" name="base_revision" prop:value=move || base.get().to_string() value=d.revision.to_string() />
                    <CodeEditor file name="text".to_string() on_change />
                    <label class="block">"What changed (optional) "<input type="text" name="note" maxlength="200" /></label>
                    <div class="form-actions">
                        <button type="submit" class="button primary">"Save and publish"</button>
                        <button type="submit" class="button" name="intent" value="preview" hidden=move || hydrated.get()>"Preview"</button>
                        <span class="save-status" role="status" aria-live="polite">{move || status.get()}</span>
                    </div>
                </ActionForm>
                {form_error(save.value())}
                {d.draft_at.is_some().then(|| view! {
                    <ActionForm action=discard attr:class="inline-form">
                        <input type="hidden" name="course" value=course_discard />
                        <input type="hidden" name="path" value=path_discard />
                        <button type="submit" class="button link">"Discard my draft"</button>
                    </ActionForm>
                })}
                {(!d.media.is_empty()).then(|| view! {
                    <details class="media-picker">
                        <summary>"Media library"</summary>
                        <p class="hint">"Refer to a file from front matter ("<code>"video: { file: media/NAME.webm }"</code>") or markdown ("<code>"![alt](../media/NAME.svg)"</code>")."</p>
                        <ul>{d.media.iter().map(|m| view! { <li><code>{m.clone()}</code></li> }).collect_view()}</ul>
                    </details>
                })}
            </div>
            <PreviewPane preview />
        </div>
    }
}

#[component]
fn PreviewPane(preview: RwSignal<Preview>) -> impl IntoView {
    view! {
        <section class="authoring-preview" aria-labelledby="preview-h">
            <h2 id="preview-h">"Preview"</h2>
            {move || {
                let p = preview.get();
                (!p.problems.is_empty()).then(|| view! {
                    <div class="notice error" role="alert">
                        <p>"The importer would refuse this text:"</p>
                        <ul>{p.problems.into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
                    </div>
                })
            }}
            <div class="module-body preview-body" inner_html=move || preview.get().html></div>
        </section>
    }
}

/// `/admin/content/:course/history?path=…[&from=&to=]`: revisions, a diff, restore.
#[component]
pub fn HistoryPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || {
        let q = query.read();
        let num = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
        (
            params.read().get("course").unwrap_or_default(),
            q.get("path").unwrap_or_default(),
            num("from"),
            num("to"),
        )
    };
    let data = Resource::new(key, |(course, path, from, to)| {
        content_history(course, path, from, to)
    });
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(h) => view! { <HistoryBody h /> }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn HistoryBody(h: History) -> impl IntoView {
    let restore = ServerAction::<RestoreRevision>::new();
    let latest = h.revisions.first().map_or(0, |r| r.revision);
    let previous = h.revisions.get(1).map_or(latest, |r| r.revision);
    let (from, to) = h
        .diff
        .as_ref()
        .map_or((previous, latest), |d| (d.from, d.to));
    view! {
        <Title text=format!("History of {}", h.path) />
        <nav aria-label="Breadcrumb" class="breadcrumb">
            <a href="/admin">"Administration"</a>" / "<a href=format!("/admin/content/{}", h.course)>{h.course.clone()}</a>" / "
            <a href=editor_href(&h.course, &h.path)>{h.path.clone()}</a>
        </nav>
        <h1>{format!("History of {}", h.path)}</h1>
        <form method="get" class="diff-form">
            <input type="hidden" name="path" value=h.path.clone() />
            <table class="admin-table">
                <thead><tr><th scope="col">"Revision"</th><th scope="col">"Who"</th><th scope="col">"When (UTC)"</th><th scope="col">"What"</th>
                    <th scope="col">"From"</th><th scope="col">"To"</th><th scope="col">"Restore"</th></tr></thead>
                <tbody>
                    {h.revisions.iter().map(|r| {
                        let current = r.revision == h.current;
                        let (course, path) = (h.course.clone(), h.path.clone());
                        view! {
                            <tr>
                                <td>{r.revision}{current.then_some(" (current)")}</td>
                                <td>{r.author.clone()}</td>
                                <td>{when(r.created_at)}</td>
                                <td>{r.note.clone()}</td>
                                <td><input type="radio" name="from" value=r.revision.to_string() checked=r.revision == from aria-label=format!("Compare from revision {}", r.revision) /></td>
                                <td><input type="radio" name="to" value=r.revision.to_string() checked=r.revision == to aria-label=format!("Compare to revision {}", r.revision) /></td>
                                <td>{(!current).then(|| view! {
                                    <button type="submit" class="button link" form=format!("restore-{}", r.revision)>{format!("Restore revision {}", r.revision)}</button>
                                    <input type="hidden" form=format!("restore-{}", r.revision) name="course" value=course.clone() />
                                    <input type="hidden" form=format!("restore-{}", r.revision) name="path" value=path.clone() />
                                    <input type="hidden" form=format!("restore-{}", r.revision) name="revision" value=r.revision.to_string() />
                                })}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            <button type="submit" class="button">"Compare"</button>
        </form>
        {h.revisions.iter().filter(|r| r.revision != h.current).map(|r| view! {
            <ActionForm action=restore attr:id=format!("restore-{}", r.revision) attr:class="hidden-form"><span></span></ActionForm>
        }).collect_view()}
        {form_error(restore.value())}
        {move || restore.value().get().and_then(Result::ok).map(|r| view! {
            <p class="notice" role="status">{format!("Restored as revision {r}. Reload to see it in the list.")}</p>
        })}
        {h.diff.map(|d| view! {
            <section aria-labelledby="diff-h">
                <h2 id="diff-h">{format!("Revision {} → {}: {} lines added, {} removed", d.from, d.to, d.added, d.removed)}</h2>
                <pre class="diff">{d.lines.into_iter().map(|l| {
                    let class = match l.kind { '+' => "diff-add", '-' => "diff-del", '…' => "diff-fold", _ => "diff-same" };
                    let sign = match l.kind { '+' => "+ ", '-' => "- ", '…' => "… ", _ => "  " };
                    view! { <span class=class>{sign}{l.text}"\n"</span> }
                }).collect_view()}</pre>
            </section>
        })}
    }
}

/// `/admin/audit`: who did what, when.
#[component]
pub fn AuditPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| audit_log());
    view! {
        <Title text="Audit log" />
        <nav aria-label="Breadcrumb" class="breadcrumb"><a href="/admin">"Administration"</a>" / Audit log"</nav>
        <h1>"Audit log"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(items) if items.is_empty() => view! { <p>"No administrator action yet."</p> }.into_any(),
                    Ok(items) => view! {
                        <table class="admin-table">
                            <thead><tr><th scope="col">"When (UTC)"</th><th scope="col">"Who"</th><th scope="col">"What"</th><th scope="col">"On"</th><th scope="col">"Before"</th><th scope="col">"After"</th></tr></thead>
                            <tbody>
                                {items.into_iter().map(|a| view! {
                                    <tr><td>{when(a.created_at)}</td><td>{a.actor}</td><td>{a.action}</td><td>{a.target}</td>
                                        <td>{a.before.unwrap_or_default()}</td><td>{a.after.unwrap_or_default()}</td></tr>
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

/// `/admin/learners?q=…`: find a learner, see their progress, change their role or reset their progress.
#[component]
pub fn LearnersPage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    // One action of each kind for the whole table: after any of them the table is
    // read again, so its counts are never stale, and the outcome is said above it.
    let role = ServerAction::<super::learners::SetRole>::new();
    let reset = ServerAction::<super::learners::ResetProgress>::new();
    let data = Resource::new(
        move || (q(), role.version().get(), reset.version().get()),
        |(q, _, _)| super::learners::learners(q),
    );
    let courses = Resource::new(|| (), |_| crate::course::list_courses());
    view! {
        <Title text="Learners" />
        <nav aria-label="Breadcrumb" class="breadcrumb"><a href="/admin">"Administration"</a>" / Learners"</nav>
        <h1>"Learners"</h1>
        <form method="get" class="inline-form" role="search">
            <label>"Email or name "<input type="search" name="q" value=q /></label>
            <button type="submit" class="button">"Search"</button>
        </form>
        <p class="hint">"Extra exam time is given on the exam's attempts page; certificates are revoked on the certificates page."</p>
        {form_error(role.value())}
        {form_error(reset.value())}
        {move || reset.value().get().and_then(Result::ok).map(|n| view! {
            <p class="notice" role="status">{format!("Progress reset: {n} records cleared. The table shows the counts as they are now.")}</p>
        })}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let courses = courses.await.unwrap_or_default();
                match data.await {
                    Ok(rows) if rows.is_empty() => view! { <p>"Nobody matches."</p> }.into_any(),
                    Ok(rows) => view! {
                        <div class="table-scroll" role="region" aria-label="Learners" tabindex="0">
                            <table class="admin-table learners">
                                <thead><tr><th scope="col">"Learner"</th><th scope="col">"Joined"</th><th scope="col">"Modules"</th><th scope="col">"Labs passed"</th>
                                    <th scope="col">"Exam"</th><th scope="col">"Certificates"</th><th scope="col">"Role"</th><th scope="col">"Reset progress"</th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|r| view! { <LearnerRowView r courses=courses.clone() role reset /> }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn LearnerRowView(
    r: super::learners::LearnerRow,
    courses: Vec<crate::course::CourseCard>,
    role: ServerAction<super::learners::SetRole>,
    reset: ServerAction<super::learners::ResetProgress>,
) -> impl IntoView {
    let (id_role, id_reset) = (r.id.to_string(), r.id.to_string());
    let exam = match (r.exam_attempts, r.best_score_bp) {
        (0, _) => "not taken".to_string(),
        (n, Some(bp)) => format!("{n} attempts, best {}%", bp / 100),
        (n, None) => format!("{n} attempts"),
    };
    view! {
        <tr>
            <td>{r.name.clone()}<br /><span class="muted">{r.email.clone()}</span></td>
            <td class="nowrap">{utc(r.joined_at)[..10].to_string()}</td>
            <td>{r.modules_completed}</td>
            <td>{r.labs_passed}</td>
            <td>{exam}</td>
            <td>{r.certificates}</td>
            <td>
                {if r.is_admin { "Administrator" } else { "Learner" }}
                <ActionForm action=role attr:class="inline-form">
                    <input type="hidden" name="user" value=id_role />
                    <input type="hidden" name="admin" value=(!r.is_admin).to_string() />
                    <button type="submit" class="button link">{if r.is_admin { "Make learner" } else { "Make administrator" }}</button>
                </ActionForm>
            </td>
            <td>
                // Clearing progress cannot be undone: a box to tick, which works without JavaScript.
                <ActionForm action=reset attr:class="reset-form">
                    <input type="hidden" name="user" value=id_reset />
                    <label class="visually-hidden" for=format!("reset-{}", r.id)>{format!("Course to reset for {}", r.name)}</label>
                    <select name="course" id=format!("reset-{}", r.id)>
                        {courses.iter().map(|c| view! { <option value=c.slug.clone()>{c.title.clone()}</option> }).collect_view()}
                    </select>
                    <label class="confirm"><input type="checkbox" name="confirm" value="yes" required />
                        {format!(" Clear {}'s completed modules and passed labs", r.name)}</label>
                    <button type="submit" class="button danger">"Reset progress"</button>
                </ActionForm>
            </td>
        </tr>
    }
}

/// A horizontal bar chart as an HTML list: readable without CSS, script or colour.
#[component]
fn Bars(title: &'static str, unit: &'static str, bars: Vec<super::learners::Bar>) -> impl IntoView {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    view! {
        <section class="bars">
            <h2>{title}</h2>
            {if bars.is_empty() {
                view! { <p class="muted">"No data yet."</p> }.into_any()
            } else {
                view! {
                    <ul>
                        {bars.into_iter().map(|b| {
                            // A progress element draws the bar: inline styles are refused by the CSP.
                            view! {
                                <li>
                                    <span class="bar-label">{b.label.clone()}</span>
                                    <progress max=max.to_string() value=b.value.to_string() aria-label=b.label.clone()></progress>
                                    <span class="bar-value">{format!("{} {unit}", b.value)}{(!b.note.is_empty()).then(|| format!(" · {}", b.note))}</span>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

/// `/admin/analytics/:course`: how learners move through the course.
#[component]
pub fn AnalyticsPage() -> impl IntoView {
    let params = use_params_map();
    let course = move || params.read().get("course").unwrap_or_default();
    let data = Resource::new(course, super::learners::course_analytics);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(a) => view! {
                        <Title text=format!("Analytics · {}", a.title) />
                        <nav aria-label="Breadcrumb" class="breadcrumb"><a href="/admin">"Administration"</a>" / "{a.title.clone()}</nav>
                        <h1>{format!("Analytics of {}", a.title)}</h1>
                        <p>{format!("{} learners enrolled (any module completed, lab run or exam attempt).", a.enrolled)}</p>
                        <p><a href=format!("/admin/exam/{}/statistics", a.course)>"Exam item statistics"</a></p>
                        <Bars title="Completion funnel" unit="completed" bars=a.funnel />
                        <Bars title="Median time per module (since the learner's previous completion)" unit="min" bars=a.median_minutes />
                        <Bars title="Lab pass rates" unit="learners" bars=a.labs />
                        <Bars title="The checks learners fail most" unit="×" bars=a.failed_checks />
                        <Bars title="Exam score distribution" unit="attempts" bars=a.scores />
                    }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

/// `/admin/content/:course/test-lab?lab=…`: the lab run with its solution and its starter.
#[component]
pub fn LabTestPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || {
        (
            params.read().get("course").unwrap_or_default(),
            query.read().get("lab").unwrap_or_default(),
        )
    };
    let data = Resource::new(key, |(course, lab)| super::lab_test::test_lab(course, lab));
    let verdict = |name: &'static str, v: super::lab_test::Verdict, want_pass: bool| {
        let good = v.passed == want_pass;
        view! {
            <section class=if good { "notice" } else { "notice error" }>
                <h2>{format!("With the {name}: {} ({} of {})", if v.passed { "passes" } else { "fails" }, v.score, v.max_score)}</h2>
                <p>{if good { "As it should." } else if want_pass { "The solution should pass: learners could not finish this lab." } else { "The starter should fail: learners would pass without doing anything." }}</p>
                {v.error.map(|e| view! { <p class="form-error">{e}</p> })}
                {(!v.failed.is_empty()).then(|| view! {
                    <ul>{v.failed.into_iter().map(|f| view! { <li>{f}</li> }).collect_view()}</ul>
                })}
            </section>
        }
    };
    view! {
        <Suspense fallback=|| view! { <p>"Running the lab twice; this takes as long as its runs…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(t) => view! {
                        <Title text=format!("Test of {}", t.title) />
                        <nav aria-label="Breadcrumb" class="breadcrumb"><a href="/admin">"Administration"</a>" / "
                            <a href=format!("/admin/content/{}", t.course)>{t.course.clone()}</a>" / "{t.lab.clone()}</nav>
                        <h1>{format!("Test of {}", t.title)}</h1>
                        {verdict("solution", t.solution, true)}
                        {verdict("starter files", t.starter, false)}
                    }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}
