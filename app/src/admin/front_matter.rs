//! Changing one key of a module's front matter without touching the rest of the
//! file, so a publish or a move shows in a diff as the one line it changed.

/// `text` with front matter key `key` set to `value` (replaced in place, or added
/// at the end of the front matter), or removed when `value` is `None`. `None` when
/// the text has no front matter.
pub fn set_key(text: &str, key: &str, value: Option<&str>) -> Option<String> {
    let (open, rest) = if let Some(r) = text.strip_prefix("---\n") {
        ("---\n", r)
    } else {
        ("---\r\n", text.strip_prefix("---\r\n")?)
    };
    let mut close = None;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            close = Some(offset);
            break;
        }
        offset += line.len();
    }
    let close = close?;
    let mut lines: Vec<String> = rest[..close]
        .split_inclusive('\n')
        .map(str::to_string)
        .collect();
    let prefix = format!("{key}:");
    let at = lines.iter().position(|l| l.starts_with(&prefix));
    match (at, value) {
        (Some(i), Some(v)) => lines[i] = format!("{key}: {v}\n"),
        (Some(i), None) => {
            lines.remove(i);
        }
        (None, Some(v)) => lines.push(format!("{key}: {v}\n")),
        (None, None) => {}
    }
    Some(format!("{open}{}{}", lines.concat(), &rest[close..]))
}

#[cfg(test)]
mod tests {
    use super::set_key;

    #[test]
    fn one_line_changes() {
        let t = "---\ntitle: A\norder: 2\n---\n# Body\norder: 9\n";
        assert_eq!(
            set_key(t, "order", Some("5")).as_deref(),
            Some("---\ntitle: A\norder: 5\n---\n# Body\norder: 9\n")
        );
        assert_eq!(
            set_key(t, "draft", Some("true")).as_deref(),
            Some("---\ntitle: A\norder: 2\ndraft: true\n---\n# Body\norder: 9\n")
        );
        let drafted = set_key(t, "draft", Some("true")).expect("set");
        assert_eq!(set_key(&drafted, "draft", None).as_deref(), Some(t));
        assert_eq!(set_key(t, "draft", None).as_deref(), Some(t));
        assert!(set_key("# no front matter", "order", Some("1")).is_none());
        assert!(set_key("---\nnever closed\n", "order", Some("1")).is_none());
    }
}
