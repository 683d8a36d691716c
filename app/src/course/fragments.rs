//! The parts of a module page that are the same for every learner — the
//! breadcrumb, the video, the table of contents with the body, the labs that
//! practise it, the links to the stops around it — rendered to HTML once,
//! when the catalog loads. A page view copies them in, as it already did the
//! markdown body, instead of building them element by element on every
//! request; only the learner's own parts (progress, the completion form) are
//! views. Leptos escapes what these views interpolate, as everywhere else.

use std::sync::Arc;

use leptos::prelude::*;
use leptos::tachys::view::RenderHtml;

use super::pages::step_link;
use super::published::{Course, LabItem, Stop};
use super::{TocEntry, Video};

/// One module's prebuilt HTML.
pub struct ModuleFragments {
    /// The breadcrumb's inside: catalog, course, section.
    pub crumbs: Arc<str>,
    /// Video, table of contents and body.
    pub content: Arc<str>,
    /// The labs that practise the module (empty when none do).
    pub practice: Arc<str>,
    /// The links to the stops before and after it, labs included.
    pub links: Arc<str>,
}

/// Renders every fragment of `course.modules[idx]`.
pub fn module(course: &Course, idx: usize) -> ModuleFragments {
    let m = &course.modules[idx];
    let section = course
        .sections
        .iter()
        .find(|s| s.id == m.section_id)
        .map(|s| s.title.clone())
        .unwrap_or_default();
    let labs = labs_after(course, idx);
    let (prev, next) = course.neighbours(Stop::Module(idx));
    let course_slug = course.slug.clone();
    let course_href = format!("/courses/{course_slug}");
    // Rendering needs a reactive owner; these views hold no signals, so a
    // throwaway one is enough.
    Owner::new().with(|| ModuleFragments {
        crumbs: html(view! {
            <a href="/">"Courses"</a>" / "<a href=course_href>{course.title.clone()}</a>" / "<span>{section}</span>
        }),
        content: html(view! {
            {m.video.clone().map(|v| video_player(v, m.title.clone()))}
            {toc(&m.toc)}
            <div class="prose" inner_html=m.body_html.clone()></div>
        }),
        practice: if labs.is_empty() {
            "".into()
        } else {
            let base = format!("/courses/{course_slug}/labs");
            html(view! {
                <h2>"Practise it"</h2>
                <ul>{labs.into_iter().map(|l| view! {
                    <li><a href=format!("{base}/{}", l.slug)>{format!("Lab: {}", l.title)}</a></li>
                }).collect_view()}</ul>
            })
        },
        links: html(view! {
            {step_link("prev", prev)}
            {step_link("next", next)}
        }),
    })
}

fn html(view: impl RenderHtml) -> Arc<str> {
    view.to_html().into()
}

/// The labs that follow `course.modules[idx]` in its section: a lab sits after
/// the last module of its section whose position is not past its own.
fn labs_after(course: &Course, idx: usize) -> Vec<&LabItem> {
    let m = &course.modules[idx];
    let next_in_section = course
        .modules
        .get(idx + 1)
        .filter(|n| n.section_id == m.section_id)
        .map(|n| n.position);
    course
        .labs
        .iter()
        .filter(|l| {
            l.section_id == m.section_id
                && l.position >= m.position
                && next_in_section.is_none_or(|n| l.position < n)
        })
        .collect()
}

fn toc(entries: &[TocEntry]) -> Option<impl IntoView> {
    (!entries.is_empty()).then(|| {
        let items = entries
            .iter()
            .map(|t| view! { <li class=format!("toc-{}", t.level)><a href=format!("#{}", t.id)>{t.text.clone()}</a></li> })
            .collect_view();
        view! {
            <nav class="toc" aria-label="On this page">
                <h2>"On this page"</h2>
                <ul>{items}</ul>
            </nav>
        }
    })
}

fn timestamp(ms: i64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn video_player(video: Video, title: String) -> AnyView {
    match video {
        Video::YouTube { id } => view! {
            <div class="video-frame">
                <iframe src=format!("https://www.youtube-nocookie.com/embed/{id}") title=format!("Video: {title}")
                    allow="accelerometer; encrypted-media; gyroscope; picture-in-picture; fullscreen" referrerpolicy="strict-origin-when-cross-origin"></iframe>
            </div>
        }.into_any(),
        Video::Vimeo { id } => view! {
            <div class="video-frame">
                <iframe src=format!("https://player.vimeo.com/video/{id}?dnt=1") title=format!("Video: {title}")
                    allow="fullscreen; picture-in-picture"></iframe>
            </div>
        }.into_any(),
        Video::File { src, captions, language, transcript } => view! {
            <figure class="video">
                <video controls preload="metadata" src=src aria-label=format!("Video: {title}")>
                    {captions.map(|c| view! { <track kind="captions" src=c srclang=language.clone() label="Captions" default /> })}
                </video>
                {(!transcript.is_empty()).then(|| view! {
                    <details class="transcript">
                        <summary>"Transcript"</summary>
                        <ol>
                            {transcript.into_iter().map(|c| view! { <li><span class="ts">{timestamp(c.start_ms)}</span>" "{c.text}</li> }).collect_view()}
                        </ol>
                    </details>
                })}
            </figure>
        }.into_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::published::{Module, Section};

    impl Course {
        fn walked(mut self) -> Self {
            self.walk = crate::course::published::walk(&self.sections, &self.modules, &self.labs);
            self
        }
    }

    fn module(id: i64, slug: &str, position: i64, video: Option<Video>) -> Module {
        Module {
            id,
            section_id: 1,
            position,
            slug: slug.into(),
            title: format!("Title <{slug}>"),
            minutes: 5,
            prerequisites: Vec::new(),
            body_html: "<p>Body &amp; more</p>".into(),
            toc: vec![TocEntry {
                level: 2,
                id: "first".into(),
                text: "First & foremost".into(),
            }],
            video,
        }
    }

    fn course() -> Course {
        Course {
            id: 1,
            slug: "c".into(),
            title: "Course <one>".into(),
            summary: String::new(),
            sections: vec![Section {
                id: 1,
                slug: "s".into(),
                title: "Section".into(),
                summary: String::new(),
            }],
            modules: vec![
                module(1, "a", 1, None),
                module(
                    2,
                    "b",
                    3,
                    Some(Video::File {
                        src: "/media/c/v.mp4".into(),
                        captions: Some("/media/c/v.vtt".into()),
                        language: "en".into(),
                        transcript: vec![super::super::Cue {
                            start_ms: 61_000,
                            text: "Hello <there>".into(),
                        }],
                    }),
                ),
            ],
            labs: vec![LabItem {
                id: 9,
                section_id: 1,
                position: 2,
                slug: "lab-one".into(),
                title: "Lab <one>".into(),
                summary: String::new(),
                minutes: 10,
            }],
            activities: Vec::new(),
            blueprint: None,
            about: Default::default(),
            walk: Vec::new(),
            fragments: Vec::new(),
        }
        .walked()
    }

    #[test]
    fn fragments_escape_what_they_interpolate_and_keep_the_body_as_is() {
        let c = course();
        let first = super::module(&c, 0);
        assert!(
            first
                .crumbs
                .contains(r#"<a href="/courses/c">Course &lt;one&gt;</a>"#),
            "{}",
            first.crumbs
        );
        assert!(
            first.content.contains("<p>Body &amp; more</p>"),
            "{}",
            first.content
        );
        assert!(
            first
                .content
                .contains(r##"<a href="#first">First &amp; foremost</a>"##),
            "{}",
            first.content
        );
        assert!(
            first.practice.contains(r#"href="/courses/c/labs/lab-one""#),
            "{}",
            first.practice
        );
        assert!(
            first.practice.contains("Lab: Lab &lt;one&gt;"),
            "{}",
            first.practice
        );
        // The lab between the two modules is the stop after the first.
        assert!(
            first
                .links
                .contains(r#"rel="next" href="/courses/c/labs/lab-one""#),
            "{}",
            first.links
        );
        assert!(
            first.links.contains("Lab: Lab &lt;one&gt;"),
            "{}",
            first.links
        );
        assert!(!first.links.contains(r#"rel="prev""#), "{}", first.links);

        let second = super::module(&c, 1);
        assert!(
            second.practice.is_empty(),
            "the lab sits between the two modules"
        );
        assert!(
            second
                .links
                .contains(r#"rel="prev" href="/courses/c/labs/lab-one""#),
            "{}",
            second.links
        );
        assert!(!second.links.contains(r#"rel="next""#), "{}", second.links);
        assert!(
            second
                .content
                .contains(r#"<track kind="captions" src="/media/c/v.vtt" srclang="en""#),
            "{}",
            second.content
        );
        assert!(second.content.contains("1:01"), "{}", second.content);
        assert!(
            second.content.contains("Hello &lt;there&gt;"),
            "{}",
            second.content
        );
    }
}
