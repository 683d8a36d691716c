//! An in-memory time-series store fed by exposition text or promqltest `load` blocks.

use std::collections::{HashMap, HashSet};

use super::labels::{parse_series_descriptor, Labels};

/// The bit pattern Prometheus writes as a staleness marker (a special NaN).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True when `v` is exactly the staleness marker (not any other NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One stored sample: a millisecond timestamp and a float value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value (may be the staleness marker).
    pub v: f64,
}

/// A counter reset: a sample whose value is below the previous non-stale
/// sample's. `rate()` over a long window would otherwise scan every sample
/// of the window for these; the store keeps them as it appends, so a 30-day
/// window costs two binary searches instead of 170,000 comparisons.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reset {
    /// Index (in the series' samples) of the previous non-stale sample.
    pub prev_at: usize,
    /// Index of the sample that dropped.
    pub at: usize,
    /// The previous sample's value: what a counter reset adds back.
    pub prev: f64,
}

/// One series: its labels and its samples in time order.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// The series' labels, including `__name__`.
    pub labels: Labels,
    /// Samples sorted by timestamp, at most one per timestamp. Private so the
    /// reset index below can never disagree with them.
    samples: Vec<Sample>,
    /// How many staleness markers were ever written (0 lets range selectors
    /// borrow samples without scanning for markers).
    stale_markers: usize,
    /// Every counter reset, in sample order.
    resets: Vec<Reset>,
    /// Index of the last non-stale sample, to extend `resets` on append.
    last_value_at: Option<usize>,
}

impl Series {
    /// Samples sorted by timestamp, at most one per timestamp.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// How many staleness markers were written to this series.
    pub fn stale_markers(&self) -> usize {
        self.stale_markers
    }

    /// The counter resets between samples `a..b` (indexes into
    /// [`Series::samples`]), staleness markers skipped: the drops whose both
    /// samples lie in the range, in order.
    pub fn resets_in(&self, a: usize, b: usize) -> &[Reset] {
        // Both `prev_at` and `at` increase along `resets`.
        let lo = self.resets.partition_point(|r| r.prev_at < a);
        let hi = self.resets.partition_point(|r| r.at < b);
        &self.resets[lo..hi.max(lo)]
    }

    fn note_value(&mut self, at: usize) {
        let v = self.samples[at].v;
        if is_stale_nan(v) {
            return;
        }
        if let Some(prev_at) = self.last_value_at {
            let prev = self.samples[prev_at].v;
            if v < prev {
                self.resets.push(Reset { prev_at, at, prev });
            }
        }
        self.last_value_at = Some(at);
    }

    fn rebuild_resets(&mut self) {
        self.resets.clear();
        self.last_value_at = None;
        for i in 0..self.samples.len() {
            self.note_value(i);
        }
    }

    fn append(&mut self, t: i64, v: f64) {
        if is_stale_nan(v) {
            self.stale_markers += 1;
        }
        match self.samples.last() {
            Some(last) if last.t >= t => {
                // Out of order or overwritten (rare): rebuild the reset index.
                match self.samples.binary_search_by(|s| s.t.cmp(&t)) {
                    Ok(i) => self.samples[i].v = v,
                    Err(i) => self.samples.insert(i, Sample { t, v }),
                }
                self.rebuild_resets();
            }
            _ => {
                self.samples.push(Sample { t, v });
                self.note_value(self.samples.len() - 1);
            }
        }
    }
}

/// A bad line in exposition text or a load block.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct LoadError {
    /// 1-based line number in the input.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

/// The time-series store.
#[derive(Clone, Debug, Default)]
pub struct Storage {
    series: Vec<Series>,
    index: HashMap<Labels, usize>,
    /// Series seen in the latest scrape, to write staleness markers for the ones that vanish.
    last_scrape: HashSet<Labels>,
    /// The series appended to last: loaders write one series' samples in a
    /// row, and comparing a few labels is much cheaper than hashing them.
    last_appended: Option<usize>,
}

impl Storage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// All series, in insertion order.
    pub fn series(&self) -> &[Series] {
        &self.series
    }

    /// Total number of stored samples.
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Appends (or overwrites) one sample.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) {
        let last = self
            .last_appended
            .filter(|&i| self.series.get(i).is_some_and(|s| s.labels == *labels));
        let idx = match last.or_else(|| self.index.get(labels).copied()) {
            Some(i) => i,
            None => {
                self.series.push(Series {
                    labels: labels.clone(),
                    ..Series::default()
                });
                self.index.insert(labels.clone(), self.series.len() - 1);
                self.series.len() - 1
            }
        };
        self.last_appended = Some(idx);
        self.series[idx].append(t, v);
    }

    /// Loads one scrape of Prometheus exposition text (or OpenMetrics, detected
    /// by its `# EOF` line) taken at `scrape_ms`. Lines with their own
    /// timestamp keep it (milliseconds in the Prometheus format, seconds in
    /// OpenMetrics). Series that were in the previous scrape but not in this
    /// one get a staleness marker at `scrape_ms`, as Prometheus's scraper does.
    /// Returns the number of samples added.
    pub fn load_exposition(&mut self, text: &str, scrape_ms: i64) -> Result<usize, LoadError> {
        let samples = parse_exposition(text, scrape_ms)?;
        let mut seen = HashSet::new();
        for (labels, t, v) in &samples {
            self.append(labels, *t, *v);
            seen.insert(labels.clone());
        }
        let vanished: Vec<Labels> = self.last_scrape.difference(&seen).cloned().collect();
        for labels in vanished {
            self.append(&labels, scrape_ms, stale_nan());
        }
        self.last_scrape = seen;
        Ok(samples.len())
    }

    /// Loads a file of samples that carry their own timestamps (exposition
    /// text or OpenMetrics, possibly many scrapes concatenated); no staleness
    /// markers are inferred. Lines without a timestamp are stored at `default_ms`.
    pub fn load_timestamped(&mut self, text: &str, default_ms: i64) -> Result<usize, LoadError> {
        let samples = parse_exposition(text, default_ms)?;
        for (labels, t, v) in &samples {
            self.append(labels, *t, *v);
        }
        Ok(samples.len())
    }

    /// Loads the series lines of a promqltest `load <step>` block: sample `i`
    /// of each series is written at `i * step_ms`. `first_line` numbers errors.
    pub fn load_series_lines<'a>(
        &mut self,
        lines: impl IntoIterator<Item = &'a str>,
        step_ms: i64,
        first_line: usize,
    ) -> Result<(), LoadError> {
        for (n, line) in lines.into_iter().enumerate() {
            let line_no = first_line + n;
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (labels, rest) = parse_series_descriptor(trimmed).map_err(|reason| LoadError {
                line: line_no,
                reason,
            })?;
            let values = expand_series_values(rest).map_err(|reason| LoadError {
                line: line_no,
                reason,
            })?;
            for (i, v) in values.into_iter().enumerate() {
                if let Some(v) = v {
                    let i = i64::try_from(i).unwrap_or(i64::MAX);
                    self.append(&labels, i.saturating_mul(step_ms), v);
                }
            }
        }
        Ok(())
    }

    /// Indexes of series whose labels satisfy `pred`.
    pub fn select(&self, mut pred: impl FnMut(&Labels) -> bool) -> Vec<usize> {
        (0..self.series.len())
            .filter(|&i| pred(&self.series[i].labels))
            .collect()
    }
}

/// Parses exposition text into `(labels, timestamp_ms, value)` triples.
pub fn parse_exposition(text: &str, default_ms: i64) -> Result<Vec<(Labels, i64, f64)>, LoadError> {
    let openmetrics = text.lines().any(|l| l.trim() == "# EOF");
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |reason: String| LoadError {
            line: n + 1,
            reason,
        };
        let (labels, rest) = parse_series_descriptor(line).map_err(err)?;
        // OpenMetrics exemplars follow " # ".
        let rest = rest.split(" # ").next().unwrap_or("");
        let mut fields = rest.split_whitespace();
        let value = fields
            .next()
            .ok_or_else(|| err("missing sample value".into()))?;
        let v = parse_float(value).ok_or_else(|| err(format!("bad sample value {value:?}")))?;
        let t = match fields.next() {
            None => default_ms,
            Some(ts) if openmetrics => {
                let secs: f64 = ts
                    .parse()
                    .map_err(|_| err(format!("bad timestamp {ts:?}")))?;
                // Prometheus converts with Go's int64(ts * 1000), which
                // truncates: "1.001" is 1000 ms there (1.001 * 1000 is
                // 1000.9999…), and must be here too.
                (secs * 1000.0) as i64
            }
            Some(ts) => ts
                .parse::<i64>()
                .map_err(|_| err(format!("bad timestamp {ts:?} (milliseconds expected)")))?,
        };
        if let Some(extra) = fields.next() {
            return Err(err(format!("unexpected {extra:?} after the timestamp")));
        }
        out.push((labels, t, v));
    }
    Ok(out)
}

/// Parses a float the way Prometheus does: also `NaN`, `Inf`, `+Inf`, `-Inf` (any case).
pub fn parse_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => {
            if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                return i64::from_str_radix(hex, 16).ok().map(|v| v as f64);
            }
            s.parse::<f64>().ok()
        }
    }
}

/// Expands promqltest series notation (`1 2 _ 3`, `0+10x5`, `1-1x3`, `_x4`,
/// `stale`, `5x3`) into one optional value per step.
pub fn expand_series_values(s: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        if tok == "_" {
            out.push(None);
            continue;
        }
        if tok == "stale" {
            out.push(Some(stale_nan()));
            continue;
        }
        if let Some((head, times)) = split_times(tok) {
            let n: usize = times
                .parse()
                .map_err(|_| format!("bad repetition count in {tok:?}"))?;
            if head == "_" {
                out.extend(std::iter::repeat_n(None, n));
                continue;
            }
            let (start, delta) =
                split_delta(head).ok_or_else(|| format!("bad series value {tok:?}"))?;
            // `a+bxn` gives n+1 values: a, a+b, …, a+n*b.
            let mut cur = start;
            for _ in 0..=n {
                out.push(Some(cur));
                cur += delta;
            }
            continue;
        }
        let v = parse_float(tok).ok_or_else(|| format!("bad series value {tok:?}"))?;
        out.push(Some(v));
    }
    Ok(out)
}

fn split_times(tok: &str) -> Option<(&str, &str)> {
    let i = tok.rfind('x')?;
    let (head, times) = (&tok[..i], &tok[i + 1..]);
    if head.is_empty() || times.is_empty() || !times.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head, times))
}

fn split_delta(head: &str) -> Option<(f64, f64)> {
    // Find an operator that is not the leading sign nor part of an exponent.
    let bytes = head.as_bytes();
    for i in (1..bytes.len()).rev() {
        let c = bytes[i];
        if (c == b'+' || c == b'-') && !matches!(bytes[i - 1], b'e' | b'E') {
            let start = parse_float(&head[..i])?;
            let delta = parse_float(&head[i + 1..])?;
            return Some((start, if c == b'-' { -delta } else { delta }));
        }
    }
    Some((parse_float(head)?, 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_notation() {
        let v = expand_series_values("0+10x3 _ -1-1x1 _x2 5x1 stale").expect("valid");
        assert_eq!(v.len(), 4 + 1 + 2 + 2 + 2 + 1);
        assert_eq!(v[3], Some(30.0));
        assert_eq!(v[4], None);
        assert_eq!(v[5], Some(-1.0));
        assert_eq!(v[6], Some(-2.0));
        assert_eq!(v[9], Some(5.0));
        assert!(v[11].is_some_and(is_stale_nan));
        assert!(expand_series_values("1+x").is_err());
    }

    #[test]
    fn reset_index_follows_appends() {
        let mut s = Storage::new();
        let l = Labels::new([("__name__", "c")]);
        for (t, v) in [
            (0, 5.0),
            (1, 7.0),
            (2, 2.0),
            (3, stale_nan()),
            (4, 1.0),
            (6, 3.0),
        ] {
            s.append(&l, t, v);
        }
        let series = &s.series()[0];
        let at: Vec<(usize, usize)> = series
            .resets_in(0, 6)
            .iter()
            .map(|r| (r.prev_at, r.at))
            .collect();
        assert_eq!(at, vec![(1, 2), (2, 4)]);
        assert_eq!(series.resets_in(2, 6).len(), 1);
        assert_eq!(series.resets_in(3, 6).len(), 0);
        assert_eq!(series.resets_in(0, 4).len(), 1);
        // An out-of-order sample rebuilds the index.
        s.append(&l, 5, 0.5);
        let at: Vec<usize> = s.series()[0].resets_in(0, 7).iter().map(|r| r.at).collect();
        assert_eq!(at, vec![2, 4, 5]);
    }

    #[test]
    fn exposition_with_staleness() {
        let mut s = Storage::new();
        s.load_exposition("# HELP a x\na{x=\"1\"} 1\nb 2\n", 1000)
            .expect("valid");
        s.load_exposition("a{x=\"1\"} 3 1500\n", 2000)
            .expect("valid");
        assert_eq!(s.series().len(), 2);
        let b = &s.series()[1];
        assert!(is_stale_nan(b.samples()[1].v));
        assert_eq!(s.series()[0].samples()[1].t, 1500);
        let err = s.load_exposition("a 1\nb{ 2\n", 0).expect_err("bad line");
        let mut om = Storage::new();
        om.load_timestamped("c 1 1.001\nc 2 2.5\n# EOF\n", 0)
            .expect("valid");
        let ts: Vec<i64> = om.series()[0].samples().iter().map(|p| p.t).collect();
        assert_eq!(ts, vec![1000, 2500]);
        assert_eq!(err.line, 2);
    }
}
