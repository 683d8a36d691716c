//! Syntax highlighting for the languages the course uses: JavaScript (k6),
//! YAML (SLO specs), PromQL, Rust and shell. A small lexer per language is
//! enough for reading code; it never executes or trusts the input.

/// A language the highlighter knows, from a fenced block's info string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    JavaScript,
    Yaml,
    PromQl,
    Rust,
    Shell,
}

impl Lang {
    /// Recognises the common names and aliases of each language.
    pub fn from_info(info: &str) -> Option<Lang> {
        let name = info
            .split(|c: char| c.is_whitespace() || c == ',' || c == '{')
            .next()?
            .to_ascii_lowercase();
        Some(match name.as_str() {
            "js" | "javascript" | "k6" | "mjs" | "ts" | "typescript" => Lang::JavaScript,
            "yaml" | "yml" => Lang::Yaml,
            "promql" => Lang::PromQl,
            "rust" | "rs" => Lang::Rust,
            "sh" | "shell" | "bash" | "console" | "zsh" => Lang::Shell,
            _ => return None,
        })
    }

    fn keywords(self) -> &'static [&'static str] {
        match self {
            Lang::JavaScript => &[
                "import",
                "export",
                "from",
                "default",
                "function",
                "const",
                "let",
                "var",
                "return",
                "if",
                "else",
                "for",
                "while",
                "of",
                "in",
                "new",
                "true",
                "false",
                "null",
                "undefined",
                "async",
                "await",
                "class",
                "try",
                "catch",
                "throw",
                "typeof",
            ],
            Lang::Yaml => &["true", "false", "null", "yes", "no"],
            Lang::PromQl => &[
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
                "offset",
                "bool",
                "and",
                "or",
                "unless",
                "sum",
                "avg",
                "min",
                "max",
                "count",
                "quantile",
                "topk",
                "bottomk",
                "stddev",
                "stdvar",
                "count_values",
            ],
            Lang::Rust => &[
                "fn", "let", "mut", "pub", "use", "mod", "struct", "enum", "impl", "trait", "for",
                "in", "if", "else", "match", "return", "async", "await", "move", "where", "self",
                "Self", "true", "false", "const", "static", "loop", "while", "crate", "super",
                "as", "dyn", "ref",
            ],
            Lang::Shell => &[
                "if", "then", "else", "fi", "for", "do", "done", "while", "case", "esac", "export",
                "cd", "echo", "sudo",
            ],
        }
    }

    fn line_comment(self) -> &'static str {
        match self {
            Lang::JavaScript | Lang::Rust => "//",
            Lang::Yaml | Lang::PromQl | Lang::Shell => "#",
        }
    }
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

fn span(out: &mut String, class: &str, text: &str) {
    out.push_str("<span class=\"tok-");
    out.push_str(class);
    out.push_str("\">");
    escape_into(out, text);
    out.push_str("</span>");
}

/// Escapes `code` and wraps its tokens in `<span class="tok-…">`.
pub fn highlight(code: &str, lang: Lang) -> String {
    let mut out = String::with_capacity(code.len() * 2);
    let chars: Vec<char> = code.chars().collect();
    let comment: Vec<char> = lang.line_comment().chars().collect();
    let mut i = 0;
    let mut line_start = true;
    while i < chars.len() {
        let c = chars[i];
        // Line comments (a `#` inside a shell word is not one, but that is rare in course code).
        if chars[i..].starts_with(&comment)
            && (lang != Lang::Shell
                || line_start
                || chars
                    .get(i.wrapping_sub(1))
                    .is_some_and(|p| p.is_whitespace()))
        {
            let end = chars[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(chars.len(), |p| i + p);
            span(&mut out, "com", &chars[i..end].iter().collect::<String>());
            i = end;
            continue;
        }
        if lang != Lang::Yaml && lang != Lang::Shell && c == '/' && chars.get(i + 1) == Some(&'*') {
            let end = (i + 2..chars.len().saturating_sub(1))
                .find(|&j| chars[j] == '*' && chars[j + 1] == '/')
                .map_or(chars.len(), |j| j + 2);
            span(&mut out, "com", &chars[i..end].iter().collect::<String>());
            i = end;
            continue;
        }
        if c == '"' || c == '\'' || (c == '`' && matches!(lang, Lang::JavaScript | Lang::PromQl)) {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != c && !(chars[j] == '\n' && c != '`') {
                if chars[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            let end = (j + 1).min(chars.len());
            span(&mut out, "str", &chars[i..end].iter().collect::<String>());
            i = end;
            line_start = false;
            continue;
        }
        if c.is_ascii_digit()
            && !chars
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            let end = (i..chars.len())
                .find(|&j| {
                    !(chars[j].is_ascii_alphanumeric() || chars[j] == '.' || chars[j] == '_')
                })
                .unwrap_or(chars.len());
            span(&mut out, "num", &chars[i..end].iter().collect::<String>());
            i = end;
            line_start = false;
            continue;
        }
        if c.is_alphabetic() || c == '_' || (lang == Lang::Shell && c == '$') {
            let end = (i + 1..chars.len())
                .find(|&j| {
                    !(chars[j].is_alphanumeric()
                        || chars[j] == '_'
                        || (lang == Lang::Yaml && chars[j] == '-'))
                })
                .unwrap_or(chars.len());
            let word: String = chars[i..end].iter().collect();
            let next = chars[end..].iter().find(|c| **c != ' ').copied();
            if lang == Lang::Yaml && next == Some(':') {
                span(&mut out, "key", &word);
            } else if lang.keywords().contains(&word.as_str()) {
                span(&mut out, "kw", &word);
            } else if next == Some('(') || (lang == Lang::Shell && line_start) {
                span(&mut out, "fn", &word);
            } else if lang == Lang::Shell && word.starts_with('$') {
                span(&mut out, "var", &word);
            } else {
                escape_into(&mut out, &word);
            }
            i = end;
            line_start = false;
            continue;
        }
        if c == '\n' {
            line_start = true;
        } else if !c.is_whitespace() {
            line_start = false;
        }
        escape_into(&mut out, &c.to_string());
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_languages() {
        assert_eq!(Lang::from_info("javascript"), Some(Lang::JavaScript));
        assert_eq!(Lang::from_info("yml title=x"), Some(Lang::Yaml));
        assert_eq!(Lang::from_info("PromQL"), Some(Lang::PromQl));
        assert_eq!(Lang::from_info("cobol"), None);
    }

    #[test]
    fn highlights_and_escapes() {
        let h = highlight(
            "import http from 'k6/http'; // <b>\nconst n = 42;",
            Lang::JavaScript,
        );
        assert!(h.contains(r#"<span class="tok-kw">import</span>"#), "{h}");
        assert!(
            h.contains(r#"<span class="tok-str">&#39;k6/http&#39;</span>"#),
            "{h}"
        );
        assert!(
            h.contains(r#"<span class="tok-com">// &lt;b&gt;</span>"#),
            "{h}"
        );
        assert!(h.contains(r#"<span class="tok-num">42</span>"#), "{h}");
        let y = highlight("objective: 99.9 # three nines", Lang::Yaml);
        assert!(
            y.contains(r#"<span class="tok-key">objective</span>"#),
            "{y}"
        );
        let p = highlight(r#"sum by (le) (rate(x{a="b"}[5m]))"#, Lang::PromQl);
        assert!(
            p.contains(r#"<span class="tok-kw">sum</span>"#)
                && p.contains(r#"<span class="tok-fn">rate</span>"#),
            "{p}"
        );
        assert!(
            !highlight("<script>", Lang::Rust).contains('<')
                || highlight("<script>", Lang::Rust) == "&lt;script&gt;"
        );
    }
}
