//! Module text: CommonMark with tables, footnotes, task lists, admonitions,
//! highlighted code and heading anchors, rendered once at import and sanitized.

use pulldown_cmark::{
    html, BlockQuoteKind, CodeBlockKind, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd,
};
use std::collections::HashMap;
use std::sync::LazyLock;

use super::highlight::{highlight, Lang};
use super::TocEntry;

/// The result of rendering a module's markdown.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Safe HTML: anything a script could hide in is gone.
    pub html: String,
    /// The level-2 and level-3 headings, for the table of contents.
    pub toc: Vec<TocEntry>,
}

/// Lower-case, dash-separated anchor text.
pub fn slugify(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() {
        "section".into()
    } else {
        slug
    }
}

fn admonition(kind: BlockQuoteKind) -> (&'static str, &'static str) {
    match kind {
        BlockQuoteKind::Note => ("note", "Note"),
        BlockQuoteKind::Tip => ("tip", "Tip"),
        BlockQuoteKind::Important => ("important", "Important"),
        BlockQuoteKind::Warning => ("warning", "Warning"),
        BlockQuoteKind::Caution => ("caution", "Caution"),
    }
}

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.add_tags(["aside", "input", "section"])
        .add_generic_attributes(["class"])
        .add_tag_attributes("input", ["type", "checked", "disabled", "aria-label"])
        .add_tag_attributes("h1", ["id"])
        .add_tag_attributes("h2", ["id"])
        .add_tag_attributes("h3", ["id"])
        .add_tag_attributes("h4", ["id"])
        .add_tag_attributes("h5", ["id"])
        .add_tag_attributes("h6", ["id"])
        .add_tag_attributes("div", ["id"])
        .add_tag_attributes("aside", ["role"])
        .add_tag_attributes("li", ["id"])
        .add_tag_attribute_values("input", "type", ["checkbox"]);
    b
});

/// Renders module markdown to safe HTML and a table of contents.
pub fn render(markdown: &str) -> Rendered {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_GFM;
    let mut events: Vec<Event> = Parser::new_ext(markdown, options).collect();

    // Anchors: every heading gets a unique id from its text (or keeps an explicit `{#id}`).
    let mut toc = Vec::new();
    let mut used: HashMap<String, usize> = HashMap::new();
    let mut i = 0;
    while i < events.len() {
        if let Event::Start(Tag::Heading { level, id, .. }) = &events[i] {
            let level = *level;
            let explicit = id.as_ref().map(|s| s.to_string());
            let mut text = String::new();
            let mut j = i + 1;
            while j < events.len() && !matches!(events[j], Event::End(TagEnd::Heading(_))) {
                if let Event::Text(t) | Event::Code(t) = &events[j] {
                    text.push_str(t);
                }
                j += 1;
            }
            let base = explicit
                .map(|e| slugify(&e))
                .unwrap_or_else(|| slugify(&text));
            let n = used.entry(base.clone()).or_insert(0);
            *n += 1;
            let anchor = if *n == 1 { base } else { format!("{base}-{n}") };
            if let Event::Start(Tag::Heading { id, .. }) = &mut events[i] {
                *id = Some(CowStr::from(anchor.clone()));
            }
            if matches!(level, HeadingLevel::H2 | HeadingLevel::H3) {
                toc.push(TocEntry {
                    level: if level == HeadingLevel::H2 { 2 } else { 3 },
                    id: anchor.clone(),
                    text: text.clone(),
                });
            }
            // A visible "#" link after the heading text, for sharing a section.
            events.insert(j, Event::Html(CowStr::from(format!(" <a class=\"anchor\" href=\"#{anchor}\" aria-label=\"Link to this section\">#</a>"))));
            i = j + 1;
            continue;
        }
        i += 1;
    }

    // Code blocks become highlighted <pre>; GitHub-style alerts become admonitions.
    let mut out: Vec<Event> = Vec::with_capacity(events.len());
    let mut code: Option<(Option<Lang>, String, String)> = None;
    for ev in events {
        match (&mut code, ev) {
            (None, Event::Start(Tag::CodeBlock(kind))) => {
                let info = match kind {
                    CodeBlockKind::Fenced(info) => info.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                code = Some((Lang::from_info(&info), info, String::new()));
            }
            (Some((_, _, buf)), Event::Text(t)) => buf.push_str(&t),
            (Some((lang, info, buf)), Event::End(TagEnd::CodeBlock)) => {
                let label = info
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                let body = match lang {
                    Some(l) => highlight(buf, *l),
                    None => {
                        let mut s = String::new();
                        html::push_html(
                            &mut s,
                            std::iter::once(Event::Text(CowStr::from(buf.clone()))),
                        );
                        s
                    }
                };
                let class = if label.is_empty() {
                    String::new()
                } else {
                    format!(" class=\"language-{}\"", slugify(&label))
                };
                out.push(Event::Html(CowStr::from(format!(
                    "<pre><code{class}>{body}</code></pre>\n"
                ))));
                code = None;
            }
            (Some(_), _) => {}
            (None, Event::Start(Tag::BlockQuote(Some(kind)))) => {
                let (class, title) = admonition(kind);
                out.push(Event::Html(CowStr::from(format!(
                    "<aside class=\"admonition admonition-{class}\" role=\"note\"><p class=\"admonition-title\">{title}</p>\n"
                ))));
            }
            (None, Event::End(TagEnd::BlockQuote(Some(_)))) => {
                out.push(Event::Html(CowStr::from("</aside>\n")))
            }
            // Task-list boxes are read-only; the label says what the box shows.
            (None, Event::TaskListMarker(done)) => {
                out.push(Event::InlineHtml(CowStr::from(if done {
                    r#"<input type="checkbox" checked disabled aria-label="Done"> "#
                } else {
                    r#"<input type="checkbox" disabled aria-label="To do"> "#
                })))
            }
            (None, ev) => out.push(ev),
        }
    }
    let mut raw = String::with_capacity(markdown.len() * 2);
    html::push_html(&mut raw, out.into_iter());
    // Table alignment becomes a class: the Content-Security-Policy forbids style attributes.
    let raw = raw
        .replace(r#" style="text-align: left""#, r#" class="align-left""#)
        .replace(r#" style="text-align: center""#, r#" class="align-center""#)
        .replace(r#" style="text-align: right""#, r#" class="align-right""#);
    let html = SANITIZER.clean(&raw).to_string();
    Rendered { html, toc }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_get_unique_anchors_and_toc() {
        let r = render("# Title\n\n## Why p99?\n\ntext\n\n## Why p99?\n\n### Details `code`\n");
        assert!(r.html.contains(r#"<h2 id="why-p99">"#), "{}", r.html);
        assert!(r.html.contains(r#"<h2 id="why-p99-2">"#), "{}", r.html);
        assert_eq!(r.toc.len(), 3);
        assert_eq!(r.toc[2].id, "details-code");
        assert_eq!(r.toc[2].level, 3);
    }

    #[test]
    fn gfm_features_render() {
        let md = "| a | b |\n|:-|-:|\n| 1 | 2 |\n\n- [x] done\n- [ ] todo\n\nA note[^1].\n\n[^1]: The footnote.\n\n> [!WARNING]\n> Careful.\n\n```yaml\nobjective: 99.9\n```\n";
        let r = render(md);
        assert!(r.html.contains("<table>"), "{}", r.html);
        assert!(
            r.html.contains(r#"<th class="align-left">"#) && !r.html.contains("style="),
            "{}",
            r.html
        );
        assert!(
            r.html.contains(r#"type="checkbox""#) && r.html.contains("checked"),
            "{}",
            r.html
        );
        assert!(
            r.html.contains(r#"aria-label="Done""#) && r.html.contains(r#"aria-label="To do""#),
            "{}",
            r.html
        );
        assert!(r.html.contains("footnote-definition"), "{}", r.html);
        assert!(
            r.html.contains(r#"class="admonition admonition-warning""#),
            "{}",
            r.html
        );
        assert!(
            r.html.contains(r#"<span class="tok-key">objective</span>"#),
            "{}",
            r.html
        );
    }

    #[test]
    fn scripts_and_handlers_are_removed() {
        let md = "Hi <script>alert(1)</script>\n\n<img src=x onerror=\"alert(2)\">\n\n<a href=\"javascript:alert(3)\">x</a>\n\n<iframe src=\"https://evil.example\"></iframe>\n\n<div style=\"position:fixed\" onclick=\"x()\">y</div>";
        let r = render(md);
        for bad in [
            "<script",
            "onerror",
            "javascript:",
            "<iframe",
            "onclick",
            "position:fixed",
        ] {
            assert!(!r.html.contains(bad), "{bad} survived: {}", r.html);
        }
    }
}
