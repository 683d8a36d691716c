//! Text into HTML where the renderer does not escape it.
//!
//! Leptos escapes text children and attribute values, with two exceptions that
//! matter here: the children of raw-text elements (`<textarea>`, like `<script>`
//! and `<style>`, is rendered with `escape: false` by tachys) and the page's
//! `<title>`, which leptos_meta writes into the head as it is. Anything a person
//! typed that ends up in either goes through this module.

use std::borrow::Cow;

/// `s` with `&`, `<`, `>`, `"` and `'` as character references: safe as the
/// text of any element (including `<textarea>` and `<title>`, whose contents
/// the browser decodes back) and inside a quoted attribute.
pub fn escape_html(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A `<textarea>`'s initial text as its `inner_html`. Given as markup, not as
/// a text child, so that server and browser agree: the server sends the
/// escaped text, and in the browser `innerHTML` on a textarea parses the same
/// references back (its contents are RCDATA), so the two never differ.
pub fn textarea_html(text: &str) -> String {
    escape_html(text).into_owned()
}

/// The page title as leptos_meta should write it. On the server the text goes
/// into `<title>…</title>` unescaped, so it is escaped here; in the browser it
/// becomes `document.title`, which is plain text and must stay as typed.
pub fn title_text(title: String) -> String {
    #[cfg(feature = "ssr")]
    {
        escape_html(&title).into_owned()
    }
    #[cfg(not(feature = "ssr"))]
    {
        title
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(escape_html("plain text"), "plain text");
        assert_eq!(
            escape_html(r#"</textarea><a href="x" title='y'>&amp;"#),
            "&lt;/textarea&gt;&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;"
        );
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn titles_are_escaped_on_the_server() {
        assert_eq!(
            title_text("</title><meta http-equiv=refresh>".into()),
            "&lt;/title&gt;&lt;meta http-equiv=refresh&gt;"
        );
    }
}
