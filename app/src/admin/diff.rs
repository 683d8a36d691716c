//! A line diff between two revisions: the longest common subsequence of lines,
//! with long unchanged stretches folded so the changes stand out.

use super::{Diff, DiffLine};

/// Unchanged lines kept around each change.
const CONTEXT: usize = 3;
/// Above this many line pairs the table would be too large; the diff then shows
/// the whole old text removed and the new one added.
const MAX_CELLS: usize = 4_000_000;

pub fn diff(from: i64, to: i64, old: &str, new: &str) -> Diff {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut ops: Vec<(char, Option<usize>, Option<usize>)> = Vec::new();
    if a.len().saturating_mul(b.len()) <= MAX_CELLS {
        // lcs[i][j]: the common subsequence length of a[i..] and b[j..].
        let w = b.len() + 1;
        let mut lcs = vec![0u32; (a.len() + 1) * w];
        for i in (0..a.len()).rev() {
            for j in (0..b.len()).rev() {
                lcs[i * w + j] = if a[i] == b[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            if i < a.len() && j < b.len() && a[i] == b[j] {
                ops.push((' ', Some(i), Some(j)));
                i += 1;
                j += 1;
            } else if i < a.len() && (j == b.len() || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) {
                // Removals first, then additions, as readers of unified diffs expect.
                ops.push(('-', Some(i), None));
                i += 1;
            } else {
                ops.push(('+', None, Some(j)));
                j += 1;
            }
        }
    } else {
        ops.extend((0..a.len()).map(|i| ('-', Some(i), None)));
        ops.extend((0..b.len()).map(|j| ('+', None, Some(j))));
    }
    let changed: Vec<bool> = ops.iter().map(|(k, _, _)| *k != ' ').collect();
    let near_change = |at: usize| {
        let lo = at.saturating_sub(CONTEXT);
        let hi = (at + CONTEXT + 1).min(changed.len());
        changed[lo..hi].iter().any(|c| *c)
    };
    let mut lines = Vec::new();
    let mut folded = 0usize;
    // A run of unchanged lines too far from any change, as one line.
    let flush = |lines: &mut Vec<DiffLine>, folded: &mut usize| {
        if *folded > 0 {
            lines.push(DiffLine {
                kind: '…',
                old: None,
                new: None,
                text: format!("{folded} unchanged lines"),
            });
            *folded = 0;
        }
    };
    let as_i64 = |n: Option<usize>| n.map(|n| n as i64 + 1);
    for (at, (kind, i, j)) in ops.iter().enumerate() {
        if *kind == ' ' && !near_change(at) {
            folded += 1;
            continue;
        }
        flush(&mut lines, &mut folded);
        let text = match (kind, i, j) {
            ('+', _, Some(j)) => b[*j],
            (_, Some(i), _) => a[*i],
            _ => "",
        };
        lines.push(DiffLine {
            kind: *kind,
            old: as_i64(*i),
            new: as_i64(*j),
            text: text.to_string(),
        });
    }
    flush(&mut lines, &mut folded);
    Diff {
        from,
        to,
        added: changed
            .iter()
            .zip(&ops)
            .filter(|(c, o)| **c && o.0 == '+')
            .count() as i64,
        removed: changed
            .iter()
            .zip(&ops)
            .filter(|(c, o)| **c && o.0 == '-')
            .count() as i64,
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::diff;

    fn shown(d: &super::Diff) -> Vec<String> {
        d.lines
            .iter()
            .map(|l| format!("{}{}", l.kind, l.text))
            .collect()
    }

    #[test]
    fn changed_lines_with_context() {
        let d = diff(1, 2, "a\nb\nc\n", "a\nB\nc\nd\n");
        assert_eq!(shown(&d), vec![" a", "-b", "+B", " c", "+d"]);
        assert_eq!((d.added, d.removed), (2, 1));
        assert_eq!(d.lines[2].new, Some(2));
        assert_eq!(d.lines[1].old, Some(2));
    }

    #[test]
    fn long_unchanged_runs_fold() {
        let old: String = (0..20).map(|i| format!("line {i}\n")).collect();
        let new = old.replace("line 10\n", "line ten\n");
        let d = diff(1, 2, &old, &new);
        assert_eq!(d.lines.first().map(|l| l.kind), Some('…'));
        assert_eq!(
            d.lines.first().map(|l| l.text.as_str()),
            Some("7 unchanged lines")
        );
        assert_eq!((d.added, d.removed), (1, 1));
        assert_eq!(d.lines.len(), 1 + 3 + 2 + 3 + 1);
    }

    #[test]
    fn identical_texts_have_no_changes() {
        let d = diff(3, 3, "same\n", "same\n");
        assert_eq!((d.added, d.removed), (0, 0));
    }
}
