//! Label sets: sorted, de-duplicated name/value pairs, as Prometheus keeps them.

use std::fmt;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// A set of labels, sorted by name. Empty values are never stored: in
/// Prometheus a label with an empty value is the same as no label at all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Builds a label set from pairs in any order; later duplicates win and
    /// empty values are dropped.
    pub fn new<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut out = Labels::default();
        for (k, v) in pairs {
            out.set(k.into(), v.into());
        }
        out
    }

    /// The value of `name`, if the label is present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// The value of `name`, or `""` when absent (what matchers compare with).
    pub fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// Sets `name` to `value`; an empty value removes the label.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].1 = value,
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    /// Removes `name` if present.
    pub fn remove(&mut self, name: &str) {
        if let Ok(i) = self.0.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            self.0.remove(i);
        }
    }

    /// The metric name, if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// A copy without the metric name.
    pub fn without_metric_name(&self) -> Labels {
        let mut out = self.clone();
        out.remove(METRIC_NAME);
        out
    }

    /// A copy that keeps only the labels in `names`.
    pub fn keep_only(&self, names: &[String]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|(k, _)| names.iter().any(|n| n == k))
                .cloned()
                .collect(),
        )
    }

    /// A copy without the labels in `names` (and, if `drop_name`, without `__name__`).
    pub fn without(&self, names: &[String], drop_name: bool) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|(k, _)| !(names.iter().any(|n| n == k) || (drop_name && k == METRIC_NAME)))
                .cloned()
                .collect(),
        )
    }

    /// Iterates over `(name, value)` pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Quotes a label value the way Go's `strconv.Quote` does for printable text.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl fmt::Display for Labels {
    /// Formats as `name{a="1", b="2"}`, or `{a="1"}` without a metric name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (k, v) in self.iter().filter(|(k, _)| *k != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{k}={}", quote(v))?;
        }
        f.write_str("}")
    }
}

/// Parses a series descriptor such as `http_requests_total{code="200"}`,
/// `{__name__="up"}` or `up`. Returns the labels and the rest of the input.
pub fn parse_series_descriptor(input: &str) -> Result<(Labels, &str), String> {
    let s = input.trim_start();
    let name_end = s
        .char_indices()
        .find(|(i, c)| {
            !(c.is_ascii_alphabetic() || *c == '_' || *c == ':' || (*i > 0 && c.is_ascii_digit()))
        })
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let mut labels = Labels::default();
    if name_end > 0 {
        labels.set(METRIC_NAME, &s[..name_end]);
    }
    let mut rest = &s[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let key_end = rest
                .char_indices()
                .find(|(i, c)| {
                    !(c.is_ascii_alphabetic() || *c == '_' || (*i > 0 && c.is_ascii_digit()))
                })
                .map(|(i, _)| i)
                .unwrap_or(rest.len());
            if key_end == 0 {
                return Err(format!("expected a label name at {:?}", truncate(rest)));
            }
            let key = &rest[..key_end];
            rest = rest[key_end..].trim_start();
            rest = rest
                .strip_prefix('=')
                .ok_or_else(|| format!("expected '=' after label {key}"))?
                .trim_start();
            let (value, after) = parse_quoted(rest)?;
            labels.set(key, value);
            rest = after.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with('}') {
                return Err(format!("expected ',' or '}}' at {:?}", truncate(rest)));
            }
        }
    } else if name_end == 0 {
        return Err(format!("expected a series at {:?}", truncate(s)));
    }
    Ok((labels, rest))
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(20) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Parses a double-quoted string with Go-style escapes; returns it and the rest.
pub fn parse_quoted(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, '"')) => {}
        _ => return Err(format!("expected a quoted string at {:?}", truncate(s))),
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, other)) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keeps_order_and_drops_empty() {
        let mut l = Labels::new([("b", "2"), ("a", "1")]);
        l.set("c", "");
        assert_eq!(l.to_string(), r#"{a="1", b="2"}"#);
        l.set("a", "");
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn parses_descriptors() {
        let (l, rest) = parse_series_descriptor(r#"up{job="a\"b", x="y"} 1 2"#).expect("parses");
        assert_eq!(l.metric_name(), Some("up"));
        assert_eq!(l.get("job"), Some("a\"b"));
        assert_eq!(rest.trim(), "1 2");
        let (l, _) = parse_series_descriptor(r#"{__name__="x"}"#).expect("parses");
        assert_eq!(l.metric_name(), Some("x"));
        assert!(parse_series_descriptor("{a=b}").is_err());
    }
}
