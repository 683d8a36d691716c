//! Splitting a YAML file into its documents (and a YAML list into its items)
//! while keeping each piece's first line, so errors can name the line in the
//! whole file and not in the piece.
//!
//! Sloth reads a file as several specs separated by `---`, and OpenSLO's SDK
//! writes several objects as one YAML list; both are split here.

/// One piece of a file: a whole document or one item of a top-level list.
#[derive(Clone, Debug)]
pub(crate) struct Piece {
    /// The text of the piece, parseable on its own.
    pub text: String,
    /// 1-based line of the file where `text` starts.
    pub first_line: usize,
    /// 1-based number of the document the piece belongs to.
    pub document: usize,
}

impl Piece {
    /// The file line of `line` (1-based within the piece).
    pub fn file_line(&self, line: usize) -> usize {
        self.first_line + line.max(1) - 1
    }

    /// The file line of the `n`th line that starts with `key:` (the piece's
    /// first line if there is none): a good enough pointer for errors found
    /// after serde has thrown positions away.
    pub fn line_of(&self, key: &str, n: usize) -> usize {
        let pat = format!("{key}:");
        let found = self
            .text
            .lines()
            .enumerate()
            .filter(|(_, l)| {
                let t = l.trim_start().trim_start_matches("- ");
                t.starts_with(&pat)
            })
            .nth(n)
            .map(|(i, _)| i + 1)
            .unwrap_or(1);
        self.file_line(found)
    }
}

/// A `---` or `...` marker line: returns what follows the marker on the line.
fn marker_rest(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("---")
        .or_else(|| line.strip_prefix("..."))?;
    (rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n'])).then_some(rest)
}

/// The documents of `src` that hold anything but blanks and comments,
/// numbered from 1.
pub(crate) fn split_documents(src: &str) -> Vec<Piece> {
    let mut docs: Vec<Piece> = Vec::new();
    let mut text = String::new();
    let mut first_line = 1;
    fn flush(text: &mut String, first_line: usize, docs: &mut Vec<Piece>) {
        let has_content = text.lines().any(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        });
        if has_content {
            let document = docs.len() + 1;
            docs.push(Piece {
                text: std::mem::take(text),
                first_line,
                document,
            });
        }
        text.clear();
    }
    for (i, line) in src.split_inclusive('\n').enumerate() {
        match marker_rest(line) {
            Some(rest) => {
                flush(&mut text, first_line, &mut docs);
                let rest_is_content = {
                    let t = rest.trim();
                    !t.is_empty() && !t.starts_with('#')
                };
                if rest_is_content && line.starts_with("---") {
                    // `--- key: value`: the document starts on the marker's
                    // line; blanking the marker keeps the columns.
                    text.push_str("   ");
                    text.push_str(rest);
                    first_line = i + 1;
                } else {
                    first_line = i + 2;
                }
            }
            None => text.push_str(line),
        }
    }
    flush(&mut text, first_line, &mut docs);
    docs
}

/// The items of a document whose top level is a block list (`- a: 1`), each
/// as its own piece, when the list can be cut at its dashes; `None` for a
/// flow list (`[...]`) or anything the cut gets wrong, so the caller falls
/// back to the whole document.
pub(crate) fn split_list_items(doc: &Piece, expected: &[serde_yaml::Value]) -> Option<Vec<Piece>> {
    let lines: Vec<&str> = doc.text.split_inclusive('\n').collect();
    let dash_indent = lines.iter().find_map(|l| {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            None
        } else {
            Some((l.len() - t.len(), t.starts_with('-')))
        }
    });
    let indent = match dash_indent {
        Some((indent, true)) => indent,
        _ => return None,
    };
    let is_item_start = |l: &str| {
        let Some((head, tail)) = l.split_at_checked(indent) else {
            return false;
        };
        head.chars().all(|c| c == ' ')
            && (tail.starts_with("- ") || tail.starts_with("-\t") || tail.trim_end() == "-")
    };
    let mut items: Vec<Piece> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if is_item_start(line) {
            let mut blanked = String::with_capacity(line.len());
            blanked.push_str(&line[..indent]);
            blanked.push(' ');
            blanked.push_str(&line[indent + 1..]);
            items.push(Piece {
                text: blanked,
                first_line: doc.first_line + i,
                document: doc.document,
            });
        } else if let Some(item) = items.last_mut() {
            item.text.push_str(line);
        }
    }
    if items.len() != expected.len() {
        return None;
    }
    for (item, want) in items.iter().zip(expected) {
        let got: serde_yaml::Value = serde_yaml::from_str(&item.text).ok()?;
        if &got != want {
            return None;
        }
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_lines() {
        let src = "# header\n---\na: 1\n---\n# only a comment\n---\nb: 2\nc: 3\n...\n";
        let docs = split_documents(src);
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[0].first_line, docs[0].document), (3, 1));
        assert_eq!((docs[1].first_line, docs[1].document), (7, 2));
        assert_eq!(docs[1].line_of("c", 0), 8);
    }

    #[test]
    fn content_on_the_marker_line() {
        let docs = split_documents("a: 1\n--- b: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].first_line, 2);
        let v: serde_yaml::Value = serde_yaml::from_str(&docs[1].text).expect("yaml");
        assert_eq!(v.get("b").and_then(|b| b.as_i64()), Some(2));
    }

    #[test]
    fn list_items_are_cut_at_their_dashes() {
        let src = "- kind: A\n  x: 1\n# between\n- kind: B\n  y:\n    - 2\n";
        let doc = &split_documents(src)[0];
        let v: serde_yaml::Value = serde_yaml::from_str(&doc.text).expect("yaml");
        let seq = v.as_sequence().expect("list");
        let items = split_list_items(doc, seq).expect("cut");
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].first_line, 4);
        assert_eq!(items[1].line_of("y", 0), 5);
        let flow = &split_documents("[{kind: A}, {kind: B}]\n")[0];
        let v: serde_yaml::Value = serde_yaml::from_str(&flow.text).expect("yaml");
        assert!(split_list_items(flow, v.as_sequence().expect("list")).is_none());
    }
}
