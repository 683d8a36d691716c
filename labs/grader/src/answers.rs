//! Answer files: one `field: value` per line, `#` comments.
//!
//! Read line by line rather than as YAML so that one odd line (an unquoted
//! colon, a stray tab) costs the learner that answer only, not all of them.

use std::collections::BTreeMap;

/// The fields of an answer file, in file order; empty values are kept (a
/// field left blank is unanswered, which messages say).
pub fn parse_answers(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        if key.is_empty() {
            continue;
        }
        out.insert(key.to_owned(), clean_value(value));
    }
    out
}

fn clean_value(v: &str) -> String {
    let v = v.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q) {
            if let Some(end) = inner.find(q) {
                return inner[..end].trim().to_owned();
            }
        }
    }
    let v = if v.starts_with('#') {
        ""
    } else {
        v.find(" #").map_or(v, |i| &v[..i])
    };
    v.trim().to_owned()
}

/// The number at the start of an answer (`180`, `62.5%`, `180 req/s`,
/// `1,200`); `None` when there is none.
pub fn parse_number(answer: &str) -> Option<f64> {
    let s: String = answer
        .trim()
        .chars()
        .filter(|c| *c != '_' && *c != ',' && *c != '\u{a0}')
        .collect();
    let bytes = s.as_bytes();
    let mut end = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    let digits_start = end;
    while end < bytes.len() && (bytes[end].is_ascii_digit() || bytes[end] == b'.') {
        end += 1;
    }
    if end == digits_start {
        return None;
    }
    // An exponent only counts when digits follow it (`1e3`, not `12 errors`).
    if end < bytes.len() && matches!(bytes[end], b'e' | b'E') {
        let mut e = end + 1;
        if e < bytes.len() && matches!(bytes[e], b'+' | b'-') {
            e += 1;
        }
        let exp_digits = bytes[e..].iter().take_while(|b| b.is_ascii_digit()).count();
        if exp_digits > 0 {
            end = e + exp_digits;
        }
    }
    s[..end].parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A choice answer reduced for comparison: lower case, letters and digits
/// only (`Hot partition`, `hot-partition` and `hot_partition` are equal).
pub fn normalize_choice(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_values_and_comments() {
        let a = parse_answers(
            "# comment\nknee_vus: 4   # about there\nmodel: \"closed\"\nblank:\nurl: http://x:1\n",
        );
        assert_eq!(a["knee_vus"], "4");
        assert_eq!(a["model"], "closed");
        assert_eq!(a["blank"], "");
        assert_eq!(a["url"], "http://x:1");
    }

    #[test]
    fn numbers_with_units() {
        assert_eq!(parse_number("180"), Some(180.0));
        assert_eq!(parse_number(" 62.5% "), Some(62.5));
        assert_eq!(parse_number("180 req/s"), Some(180.0));
        assert_eq!(parse_number("1,200"), Some(1200.0));
        assert_eq!(parse_number("-3e2"), Some(-300.0));
        assert_eq!(parse_number("12 errors"), Some(12.0));
        assert_eq!(parse_number("about 12"), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("."), None);
    }

    #[test]
    fn choices_ignore_case_and_punctuation() {
        assert_eq!(normalize_choice("Hot partition"), "hotpartition");
        assert_eq!(normalize_choice("hot_partition"), "hotpartition");
    }
}
