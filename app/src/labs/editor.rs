//! The code editor: a plain, named textarea that every form posts as it is.
//! Once hydrated it gains line numbers, syntax highlighting (JavaScript, YAML,
//! PromQL: the course's highlighter, drawn under a transparent textarea), tab
//! indentation, bracket-aware typing and saving a draft shortly after every change.

use leptos::prelude::*;

use super::LabFileView;
use crate::course::highlight::{highlight, Lang};

/// The language a lab file is written in, from its kind (or, failing that, its name).
pub fn file_lang(kind: &str, name: &str) -> Option<Lang> {
    match kind {
        "k6" => Some(Lang::JavaScript),
        "promql" => Some(Lang::PromQl),
        "sloth" | "openslo" | "keptn" => Some(Lang::Yaml),
        _ => Lang::from_info(name.rsplit('.').next().unwrap_or_default()),
    }
}

/// How long typing must pause before the draft is saved.
const SAVE_AFTER_MS: u64 = 600;

/// The closing partner of an opening bracket or quote.
fn closer(c: char) -> Option<char> {
    match c {
        '(' => Some(')'),
        '[' => Some(']'),
        '{' => Some('}'),
        '"' => Some('"'),
        '\'' => Some('\''),
        '`' => Some('`'),
        _ => None,
    }
}

/// An edit the editor makes for a key: the text around the selection becomes
/// `before + insert + after`, and the caret lands after `insert`'s first part.
#[derive(Debug, PartialEq)]
pub struct Edit {
    pub text: String,
    pub caret: usize,
}

/// Works out what a key does at the selection `[start, end)` (byte offsets),
/// or `None` to let the browser handle it.
pub fn key_edit(text: &str, start: usize, end: usize, key: &str, shift: bool) -> Option<Edit> {
    if start > end
        || end > text.len()
        || !text.is_char_boundary(start)
        || !text.is_char_boundary(end)
    {
        return None;
    }
    let (before, selected, after) = (&text[..start], &text[start..end], &text[end..]);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let indent: String = before[line_start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    let next = after.chars().next();
    let edit = |insert: &str, caret_in: usize, tail: &str| Edit {
        text: format!("{before}{insert}{tail}"),
        caret: start + caret_in,
    };
    match key {
        "Tab" if shift => {
            // Outdent the current line by up to two spaces.
            let line = &text[line_start..];
            let n = line.chars().take(2).take_while(|c| *c == ' ').count();
            if n == 0 {
                return None;
            }
            Some(Edit {
                text: format!("{}{}", &text[..line_start], &text[line_start + n..]),
                caret: start.saturating_sub(n).max(line_start),
            })
        }
        "Tab" => Some(edit("  ", 2, &format!("{selected}{after}"))),
        "Enter" => {
            let prev = before.chars().last();
            let opens = prev.is_some_and(|c| matches!(c, '(' | '[' | '{'));
            if opens && next.is_some_and(|n| Some(n) == prev.and_then(closer)) {
                // Between a pair: open a new indented line and keep the closer below.
                let inner = format!("\n{indent}  ");
                Some(edit(&format!("{inner}\n{indent}"), inner.len(), after))
            } else if opens {
                let inner = format!("\n{indent}  ");
                Some(edit(&inner, inner.len(), after))
            } else {
                let inner = format!("\n{indent}");
                Some(edit(&inner, inner.len(), after))
            }
        }
        k if k.chars().count() == 1 => {
            let c = k.chars().next()?;
            if matches!(c, ')' | ']' | '}' | '"' | '\'' | '`')
                && selected.is_empty()
                && next == Some(c)
            {
                // Typing the closer that is already there steps over it.
                return Some(Edit {
                    text: text.to_owned(),
                    caret: end + c.len_utf8(),
                });
            }
            let close = closer(c)?;
            let is_quote = c == close;
            // A quote inside a word is an apostrophe, not a string.
            if is_quote
                && selected.is_empty()
                && before.chars().last().is_some_and(char::is_alphanumeric)
            {
                return None;
            }
            if !selected.is_empty() {
                return Some(edit(
                    &format!("{c}{selected}{close}"),
                    selected.len() + 2,
                    after,
                ));
            }
            if next.is_some_and(char::is_alphanumeric) {
                return None;
            }
            Some(edit(&format!("{c}{close}"), c.len_utf8(), after))
        }
        _ => None,
    }
}

/// Converts a UTF-16 offset (what the DOM counts) to a byte offset.
fn byte_offset(text: &str, utf16: u32) -> usize {
    let mut units = 0u32;
    for (i, c) in text.char_indices() {
        if units >= utf16 {
            return i;
        }
        units += c.len_utf16() as u32;
    }
    text.len()
}

fn utf16_offset(text: &str, byte: usize) -> u32 {
    text[..byte.min(text.len())].encode_utf16().count() as u32
}

/// One file's editor. `on_change` receives the new text after every edit.
#[component]
pub fn CodeEditor(
    file: LabFileView,
    /// Whether the editor is read-only (a past run, the solution).
    #[prop(optional)]
    readonly: bool,
    /// The textarea's `name`; `None` leaves it out of forms.
    #[prop(optional)]
    name: Option<String>,
    #[prop(optional, into)] on_change: Option<Callback<(String, String)>>,
) -> impl IntoView {
    let id = format!(
        "editor-{}{}",
        if readonly { "ro-" } else { "" },
        file.name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    );
    let lines = RwSignal::new(file.body.lines().count().max(1));
    let lang = file_lang(&file.kind, &file.name);
    // The text as typed, for the highlighting drawn under the textarea.
    let text = RwSignal::new(file.body.clone());
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let area = NodeRef::<leptos::html::Textarea>::new();
    let gutter = NodeRef::<leptos::html::Div>::new();
    let shade = NodeRef::<leptos::html::Pre>::new();
    let file_name = file.name.clone();
    let changed = move |body: String| {
        lines.set(body.lines().count().max(1) + usize::from(body.ends_with('\n')));
        if lang.is_some() {
            text.set(body.clone());
        }
        if let Some(cb) = on_change {
            cb.run((file_name.clone(), body));
        }
    };
    let changed_input = changed.clone();
    let on_input = move |_| {
        if let Some(a) = area.get() {
            changed_input(a.value());
        }
    };
    // Escape then Tab leaves the editor, so keyboard users are never trapped.
    let escaped = RwSignal::new(false);
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        let key = ev.key();
        if key == "Escape" {
            escaped.set(true);
            return;
        }
        if key == "Tab" && escaped.get_untracked() {
            escaped.set(false);
            return;
        }
        escaped.set(false);
        if readonly || ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
            return;
        }
        let Some(a) = area.get() else { return };
        let text = a.value();
        let start = byte_offset(&text, a.selection_start().ok().flatten().unwrap_or(0));
        let end = byte_offset(&text, a.selection_end().ok().flatten().unwrap_or(0));
        if let Some(e) = key_edit(&text, start, end, &key, ev.shift_key()) {
            ev.prevent_default();
            a.set_value(&e.text);
            let caret = utf16_offset(&e.text, e.caret);
            let _ = a.set_selection_range(caret, caret);
            changed(e.text);
        }
    };
    let on_scroll = move |_| {
        let Some(a) = area.get() else { return };
        if let Some(g) = gutter.get() {
            g.set_scroll_top(a.scroll_top());
        }
        if let Some(p) = shade.get() {
            p.set_scroll_top(a.scroll_top());
            p.set_scroll_left(a.scroll_left());
        }
    };
    // The highlighted copy ends with a spare line, so it can scroll as far as the textarea.
    let painted = move || {
        let mut html = lang.map_or_else(String::new, |l| text.with(|t| highlight(t, l)));
        html.push_str("\n ");
        html
    };
    let rows = file.body.lines().count().clamp(8, 30);
    view! {
        <div class="editor" class:readonly=readonly>
            <label for=id.clone() class="editor-label">{file.title.clone()}" "<code>{file.name.clone()}</code></label>
            <div class="editor-frame">
                {move || hydrated.get().then(|| view! {
                    <div class="gutter" aria-hidden="true" node_ref=gutter>
                        {move || (1..=lines.get()).map(|n| view! { <span>{n}</span> }).collect_view()}
                    </div>
                })}
                // Leptos does not escape a textarea's text child, and a learner's
                // file may hold `</textarea>`: it goes in escaped, as markup.
                <div class="editor-code" class:highlighted=move || hydrated.get() && lang.is_some()>
                    {move || (hydrated.get() && lang.is_some()).then(|| view! {
                        <pre class="editor-shade" aria-hidden="true" node_ref=shade inner_html=painted></pre>
                    })}
                    <textarea id=id name=name node_ref=area rows=rows spellcheck="false" autocapitalize="off"
                        autocomplete="off" wrap="off" readonly=readonly data-kind=file.kind.clone()
                        on:input=on_input on:keydown=on_keydown on:scroll=on_scroll
                        prop:value=file.body.clone() inner_html=crate::escape::textarea_html(&file.body)></textarea>
                </div>
            </div>
        </div>
    }
}

/// Saves drafts a moment after the last change, one save at a time.
pub fn autosave(course: String, lab: String) -> (Callback<(String, String)>, RwSignal<String>) {
    let status = RwSignal::new(String::new());
    let pending: StoredValue<std::collections::BTreeMap<String, String>> =
        StoredValue::new(Default::default());
    let generation = StoredValue::new(0u64);
    let cb = Callback::new(move |(name, text): (String, String)| {
        pending.update_value(|p| {
            p.insert(name, text);
        });
        let gen = generation.with_value(|g| g + 1);
        generation.set_value(gen);
        status.set("Unsaved changes".into());
        let (course, lab) = (course.clone(), lab.clone());
        set_timeout(
            move || {
                if generation.get_value() != gen {
                    return;
                }
                let files = pending.get_value();
                status.set("Saving…".into());
                leptos::task::spawn_local(async move {
                    match super::save_draft(course, lab, files.clone(), None).await {
                        Ok(_) => {
                            if generation.get_value() == gen {
                                pending.update_value(|p| p.retain(|k, v| files.get(k) != Some(v)));
                                status.set("Draft saved".into());
                            }
                        }
                        Err(e) => status.set(format!("Not saved: {e}")),
                    }
                });
            },
            std::time::Duration::from_millis(SAVE_AFTER_MS),
        );
    });
    (cb, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_pair_and_step_over() {
        let e = key_edit("x = ", 4, 4, "{", false).expect("pair");
        assert_eq!((e.text.as_str(), e.caret), ("x = {}", 5));
        let e = key_edit("f()", 2, 2, ")", false).expect("step");
        assert_eq!((e.text.as_str(), e.caret), ("f()", 3));
        assert!(key_edit("don", 3, 3, "'", false).is_none(), "apostrophe");
        let e = key_edit("a b", 2, 3, "\"", false).expect("wrap");
        assert_eq!(e.text, "a \"b\"");
    }

    #[test]
    fn enter_keeps_and_adds_indentation() {
        let e = key_edit("  f({})", 5, 5, "Enter", false).expect("enter");
        assert_eq!(e.text, "  f({\n    \n  })");
        assert_eq!(e.caret, 10);
        let e = key_edit("    x", 5, 5, "Enter", false).expect("enter");
        assert_eq!(e.text, "    x\n    ");
    }

    #[test]
    fn tab_indents_and_shift_tab_outdents() {
        let e = key_edit("x", 0, 0, "Tab", false).expect("tab");
        assert_eq!((e.text.as_str(), e.caret), ("  x", 2));
        let e = key_edit("  x", 3, 3, "Tab", true).expect("outdent");
        assert_eq!((e.text.as_str(), e.caret), ("x", 1));
        assert!(key_edit("x", 0, 0, "a", false).is_none());
    }

    #[test]
    fn a_file_is_highlighted_in_its_language() {
        assert_eq!(file_lang("k6", "load.js"), Some(Lang::JavaScript));
        assert_eq!(file_lang("sloth", "slo.yaml"), Some(Lang::Yaml));
        assert_eq!(file_lang("keptn", "gate.yaml"), Some(Lang::Yaml));
        assert_eq!(file_lang("promql", "query.promql"), Some(Lang::PromQl));
        assert_eq!(file_lang("answer", "notes.yml"), Some(Lang::Yaml));
        assert_eq!(file_lang("answer", "answer.txt"), None);
    }

    #[test]
    fn offsets_convert_between_utf16_and_bytes() {
        let t = "é😀x";
        assert_eq!(byte_offset(t, 1), 2);
        assert_eq!(byte_offset(t, 3), 6);
        assert_eq!(utf16_offset(t, 6), 3);
    }
}
