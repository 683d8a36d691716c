//! Line numbers for paths in a YAML document.
//!
//! `serde_yaml` reports where the text stops parsing, but once a document has
//! parsed, a value no longer knows its line. Authors still deserve
//! `lab.yaml:42: run "lod" is not defined` rather than a path expression, so
//! this indexes block-style YAML (the style lab files are written in) by
//! indentation: every `key:` and `- ` item gets its path. Flow collections
//! (`{ kind: x, run: y }`) stay opaque: their keys resolve to the line of the
//! collection, which is where an author would look anyway.

use std::collections::HashMap;

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// Builds a path from keys (`&str`) and indexes (`usize`).
macro_rules! at_path {
    ($($seg:expr),* $(,)?) => { [$($crate::locate::IntoSeg::into_seg($seg)),*] };
}
pub(crate) use at_path;

/// Conversion for the `at_path!` macro.
pub(crate) trait IntoSeg {
    /// The segment.
    fn into_seg(self) -> Seg;
}

impl IntoSeg for &str {
    fn into_seg(self) -> Seg {
        Seg::Key(self.to_owned())
    }
}

impl IntoSeg for &String {
    fn into_seg(self) -> Seg {
        Seg::Key(self.clone())
    }
}

impl IntoSeg for usize {
    fn into_seg(self) -> Seg {
        Seg::Index(self)
    }
}

/// Where each path of a document starts.
#[derive(Debug, Default)]
pub struct LineIndex {
    lines: HashMap<Vec<Seg>, usize>,
}

struct Open {
    col: usize,
    seg: Seg,
    /// A key whose value follows on the next lines (`key:` alone).
    block_key: bool,
}

impl LineIndex {
    /// Indexes `src`.
    pub fn new(src: &str) -> Self {
        let mut lines = HashMap::new();
        let mut stack: Vec<Open> = Vec::new();
        let mut counters: HashMap<Vec<Seg>, usize> = HashMap::new();
        // Lines of a block scalar (`key: |`) belong to its key: skip them.
        let mut scalar_above: Option<usize> = None;
        for (n, raw) in src.lines().enumerate() {
            let line_no = n + 1;
            let indent = raw.len() - raw.trim_start_matches(' ').len();
            let text = raw.trim();
            if let Some(col) = scalar_above {
                if text.is_empty() || indent > col {
                    continue;
                }
                scalar_above = None;
            }
            if text.is_empty() || text.starts_with('#') || text == "---" || text == "..." {
                continue;
            }
            let mut col = indent;
            let mut rest = text;
            // `- ` items, possibly several on one line (`- - a`).
            while rest == "-" || rest.starts_with("- ") {
                while stack
                    .last()
                    .is_some_and(|o| o.col > col || (o.col == col && !o.block_key))
                {
                    stack.pop();
                }
                let parent: Vec<Seg> = stack.iter().map(|o| o.seg.clone()).collect();
                let counter = counters.entry(parent.clone()).or_insert(0);
                let seg = Seg::Index(*counter);
                *counter += 1;
                let mut path = parent;
                path.push(seg.clone());
                lines.entry(path).or_insert(line_no);
                stack.push(Open {
                    col,
                    seg,
                    block_key: false,
                });
                let after = rest[1..].trim_start_matches(' ');
                col += rest.len() - after.len();
                rest = after;
            }
            let Some((key, value)) = split_key(rest) else {
                continue;
            };
            while stack.last().is_some_and(|o| o.col >= col) {
                stack.pop();
            }
            let mut path: Vec<Seg> = stack.iter().map(|o| o.seg.clone()).collect();
            let seg = Seg::Key(key);
            path.push(seg.clone());
            // A key seen again (a new sequence item's fields) starts a new count.
            counters.remove(&path);
            lines.entry(path).or_insert(line_no);
            let value = value.trim();
            let value = strip_comment(value);
            if value.starts_with('|') || value.starts_with('>') {
                scalar_above = Some(col);
            }
            stack.push(Open {
                col,
                seg,
                block_key: value.is_empty(),
            });
        }
        Self { lines }
    }

    /// The line of `path`, or of its longest indexed prefix (1 when none is).
    pub fn line(&self, path: &[Seg]) -> usize {
        (0..=path.len())
            .rev()
            .find_map(|n| self.lines.get(&path[..n]).copied())
            .unwrap_or(1)
    }
}

/// `key: value` → (key, value); `None` when the line is not a mapping entry.
fn split_key(s: &str) -> Option<(String, &str)> {
    if s.starts_with('{') || s.starts_with('[') {
        return None;
    }
    let bytes = s.as_bytes();
    let (key, after) = if let Some(q @ (b'"' | b'\'')) = bytes.first().copied() {
        let end = s[1..].find(q as char)? + 1;
        (s[1..end].to_owned(), &s[end + 1..])
    } else {
        let i = s
            .char_indices()
            .find(|&(i, c)| c == ':' && (i + 1 == s.len() || bytes[i + 1] == b' '))
            .map(|(i, _)| i)?;
        (s[..i].trim().to_owned(), &s[i..])
    };
    let value = after.strip_prefix(':')?;
    if !(value.is_empty() || value.starts_with(' ')) {
        return None;
    }
    Some((key, value))
}

fn strip_comment(v: &str) -> &str {
    if v.starts_with('#') {
        return "";
    }
    match v.find(" #") {
        Some(i) if !v.starts_with('"') && !v.starts_with('\'') => v[..i].trim_end(),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "title: x
files:
  - name: a.js
    kind: k6
runs:
- id: one
  script: a.js
- id: two
  script: fixtures/d.js
steps:
  - id: s
    title: |
      kind: not a key
      - nor an item
    checks:
      - id: c1
        kind: run_ok
        run: one
      - { id: c2, kind: run_ok, run: two }
      - id: c3
        kind: valid
        file: a.js
";

    #[test]
    fn paths_resolve_to_their_lines() {
        let ix = LineIndex::new(DOC);
        assert_eq!(ix.line(&at_path!["title"]), 1);
        assert_eq!(ix.line(&at_path!["files", 0, "kind"]), 4);
        assert_eq!(ix.line(&at_path!["runs", 1, "script"]), 9);
        assert_eq!(ix.line(&at_path!["runs", 1]), 8);
        assert_eq!(ix.line(&at_path!["steps", 0, "checks", 0, "run"]), 18);
        // Flow mappings resolve to their item's line.
        assert_eq!(ix.line(&at_path!["steps", 0, "checks", 1, "run"]), 19);
        assert_eq!(ix.line(&at_path!["steps", 0, "checks", 2, "file"]), 22);
        // Unknown paths fall back to the nearest known ancestor.
        assert_eq!(ix.line(&at_path!["steps", 0, "nope"]), 11);
        assert_eq!(ix.line(&at_path!["nothing"]), 1);
    }
}
