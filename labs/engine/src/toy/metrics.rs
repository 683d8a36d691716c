//! A small Prometheus registry: counters, gauges and histograms with labels,
//! rendered in the text exposition format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Prometheus' default histogram buckets, in seconds.
pub const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Debug, Clone)]
enum Series {
    Counter(f64),
    Gauge(f64),
    Histogram(Histogram),
}

#[derive(Debug, Clone)]
struct Family {
    help: &'static str,
    kind: &'static str,
    label_names: &'static [&'static str],
    buckets: &'static [f64],
    /// Series, in creation order: a [`SeriesId`] indexes this and stays valid.
    series: Vec<Series>,
    /// Series index keyed by their label values joined with `\u{1f}`; the
    /// map's order is the render order.
    keys: BTreeMap<String, usize>,
}

/// A handle on one series, resolved once so hot paths skip the label lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesId {
    fam: u32,
    idx: u32,
}

/// Most series one registry holds. The toy service's labels are a fixed
/// set (routes by template, methods, statuses, shards), a few hundred
/// series; the cap only guarantees that no label value a request carries
/// can grow the registry, and every scrape of it, without bound.
pub const MAX_SERIES: usize = 10_000;

/// A registry of metric families, kept in name order so renders are stable.
#[derive(Debug, Clone)]
pub struct Registry {
    /// Families sorted by name.
    families: Vec<(&'static str, Family)>,
    /// Family index by the address of its (static) name: hot paths skip
    /// comparing long, common-prefixed names.
    by_ptr: std::collections::HashMap<usize, usize>,
    scratch: String,
    /// Series in all families.
    series: usize,
    /// Most series (see [`MAX_SERIES`]).
    limit: usize,
    /// New series refused at the limit (their samples are dropped).
    refused: u64,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            families: Vec::new(),
            by_ptr: std::collections::HashMap::new(),
            scratch: String::new(),
            series: 0,
            limit: MAX_SERIES,
            refused: 0,
        }
    }
}

const SEP: char = '\u{1f}';

fn key_into(buf: &mut String, values: &[&str]) {
    buf.clear();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            buf.push(SEP);
        }
        buf.push_str(v);
    }
}

impl Registry {
    /// An empty registry holding at most [`MAX_SERIES`] series.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry holding at most `limit` series.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// Series in all families.
    pub fn series_count(&self) -> usize {
        self.series
    }

    /// New series refused because the registry was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    fn family(
        &mut self,
        name: &'static str,
        help: &'static str,
        kind: &'static str,
        label_names: &'static [&'static str],
        buckets: &'static [f64],
    ) {
        if let Err(i) = self.families.binary_search_by(|(n, _)| (*n).cmp(name)) {
            self.families.insert(
                i,
                (
                    name,
                    Family {
                        help,
                        kind,
                        label_names,
                        buckets,
                        series: Vec::new(),
                        keys: BTreeMap::new(),
                    },
                ),
            );
            self.by_ptr.clear();
        }
    }

    fn index(&mut self, name: &'static str) -> Option<usize> {
        let key = name.as_ptr() as usize;
        if let Some(&i) = self.by_ptr.get(&key) {
            return Some(i);
        }
        let i = self
            .families
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()?;
        self.by_ptr.insert(key, i);
        Some(i)
    }

    /// Declares a counter family so it renders even before its first increment.
    pub fn declare_counter(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) {
        self.family(name, help, "counter", labels, &[]);
    }

    /// Declares a gauge family.
    pub fn declare_gauge(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) {
        self.family(name, help, "gauge", labels, &[]);
    }

    /// Declares a histogram family with its bucket upper bounds.
    pub fn declare_histogram(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        buckets: &'static [f64],
    ) {
        self.family(name, help, "histogram", labels, buckets);
    }

    /// Resolves (creating if needed) the series of `name` with these label
    /// values; `None` for an undeclared family, or for a new series when the
    /// registry is full.
    pub fn resolve(&mut self, name: &'static str, values: &[&str]) -> Option<SeriesId> {
        let fi = self.index(name)?;
        let fam = &mut self.families[fi].1;
        key_into(&mut self.scratch, values);
        // Look up without allocating; allocate the key only for a new series.
        let idx = match fam.keys.get(self.scratch.as_str()) {
            Some(&i) => i,
            None if self.series >= self.limit => {
                self.refused += 1;
                return None;
            }
            None => {
                self.series += 1;
                let fresh = match fam.kind {
                    "counter" => Series::Counter(0.0),
                    "gauge" => Series::Gauge(0.0),
                    _ => Series::Histogram(Histogram {
                        counts: vec![0; fam.buckets.len()],
                        sum: 0.0,
                        count: 0,
                    }),
                };
                fam.series.push(fresh);
                fam.keys.insert(self.scratch.clone(), fam.series.len() - 1);
                fam.series.len() - 1
            }
        };
        Some(SeriesId {
            fam: u32::try_from(fi).ok()?,
            idx: u32::try_from(idx).ok()?,
        })
    }

    fn get(&mut self, id: SeriesId) -> Option<(&mut Series, &'static [f64])> {
        let fam = &mut self.families.get_mut(id.fam as usize)?.1;
        let buckets = fam.buckets;
        Some((fam.series.get_mut(id.idx as usize)?, buckets))
    }

    fn series(
        &mut self,
        name: &'static str,
        values: &[&str],
    ) -> Option<(&mut Series, &'static [f64])> {
        let id = self.resolve(name, values)?;
        self.get(id)
    }

    /// Adds `v` to a resolved counter.
    pub fn inc_id(&mut self, id: SeriesId, v: f64) {
        if let Some((Series::Counter(c), _)) = self.get(id) {
            *c += v;
        }
    }

    /// Sets a resolved gauge.
    pub fn set_id(&mut self, id: SeriesId, v: f64) {
        if let Some((Series::Gauge(g), _)) = self.get(id) {
            *g = v;
        }
    }

    /// Records one observation in a resolved histogram.
    pub fn observe_id(&mut self, id: SeriesId, v: f64) {
        if let Some((Series::Histogram(h), buckets)) = self.get(id) {
            observe_into(h, buckets, v);
        }
    }

    /// Adds `other`'s counters and histograms into this registry (gauges are
    /// left alone: they are levels, not sums). Both must declare the same
    /// families, as two models of the same service do.
    pub fn add_counts(&mut self, other: &Registry) {
        self.refused += other.refused;
        for (name, fam) in &other.families {
            let Ok(fi) = self.families.binary_search_by(|(n, _)| (*n).cmp(name)) else {
                continue;
            };
            for (key, &oi) in &fam.keys {
                let values: Vec<&str> = if key.is_empty() && fam.label_names.is_empty() {
                    Vec::new()
                } else {
                    key.split(SEP).collect()
                };
                let Some(id) = self.resolve(self.families[fi].0, &values) else {
                    continue;
                };
                let Some((mine, _)) = self.get(id) else {
                    continue;
                };
                match (mine, &fam.series[oi]) {
                    (Series::Counter(a), Series::Counter(b)) => *a += b,
                    (Series::Histogram(a), Series::Histogram(b)) => {
                        for (x, y) in a.counts.iter_mut().zip(&b.counts) {
                            *x += y;
                        }
                        a.sum += b.sum;
                        a.count += b.count;
                    }
                    _ => {}
                }
            }
        }
    }

    /// Adds `v` to a counter (declared beforehand; unknown names are ignored).
    pub fn inc(&mut self, name: &'static str, labels: &[&str], v: f64) {
        if let Some((Series::Counter(c), _)) = self.series(name, labels) {
            *c += v;
        }
    }

    /// Sets a gauge.
    pub fn set(&mut self, name: &'static str, labels: &[&str], v: f64) {
        if let Some((Series::Gauge(g), _)) = self.series(name, labels) {
            *g = v;
        }
    }

    /// Records one observation in a histogram.
    pub fn observe(&mut self, name: &'static str, labels: &[&str], v: f64) {
        if let Some((Series::Histogram(h), buckets)) = self.series(name, labels) {
            observe_into(h, buckets, v);
        }
    }

    /// Current value of a counter or gauge series, if it exists.
    pub fn value(&self, name: &str, labels: &[&str]) -> Option<f64> {
        let i = self
            .families
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()?;
        let fam = &self.families[i].1;
        let mut key = String::new();
        key_into(&mut key, labels);
        match fam.series.get(*fam.keys.get(key.as_str())?)? {
            Series::Counter(v) | Series::Gauge(v) => Some(*v),
            Series::Histogram(h) => Some(h.count as f64),
        }
    }

    /// Renders every family in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        for (name, fam) in &self.families {
            let _ = writeln!(out, "# HELP {name} {}", fam.help);
            let _ = writeln!(out, "# TYPE {name} {}", fam.kind);
            for (key, &i) in &fam.keys {
                let series = &fam.series[i];
                let values: Vec<&str> = if fam.label_names.is_empty() {
                    Vec::new()
                } else {
                    key.split(SEP).collect()
                };
                let labels = label_text(fam.label_names, &values);
                match series {
                    Series::Counter(v) | Series::Gauge(v) => {
                        let _ = writeln!(out, "{name}{} {}", braces(&labels), fmt_f(*v));
                    }
                    Series::Histogram(h) => {
                        for (i, b) in fam.buckets.iter().enumerate() {
                            let le = format!("le=\"{}\"", fmt_f(*b));
                            let _ = writeln!(
                                out,
                                "{name}_bucket{} {}",
                                braces(&join(&labels, &le)),
                                h.counts[i]
                            );
                        }
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {}",
                            braces(&join(&labels, "le=\"+Inf\"")),
                            h.count
                        );
                        let _ = writeln!(out, "{name}_sum{} {}", braces(&labels), fmt_f(h.sum));
                        let _ = writeln!(out, "{name}_count{} {}", braces(&labels), h.count);
                    }
                }
            }
        }
        out
    }
}

fn observe_into(h: &mut Histogram, buckets: &[f64], v: f64) {
    for (c, b) in h.counts.iter_mut().zip(buckets) {
        if v <= *b {
            *c += 1;
        }
    }
    h.sum += v;
    h.count += 1;
}

fn label_text(names: &[&str], values: &[&str]) -> String {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_owned()
    } else {
        format!("{a},{b}")
    }
}

fn braces(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("{{{s}}}")
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Formats a float the way Prometheus clients do (shortest round-trip form).
pub fn fmt_f(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.is_nan() {
        "NaN".into()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_histogram_buckets_cumulatively() {
        let mut r = Registry::new();
        r.declare_histogram("h", "help", &["path"], &[0.1, 1.0]);
        r.observe("h", &["/"], 0.05);
        r.observe("h", &["/"], 0.5);
        r.observe("h", &["/"], 5.0);
        let text = r.render();
        assert!(
            text.contains("h_bucket{path=\"/\",le=\"0.1\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("h_bucket{path=\"/\",le=\"1\"} 2\n"));
        assert!(text.contains("h_bucket{path=\"/\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("h_count{path=\"/\"} 3\n"));
        assert!(text.contains("# TYPE h histogram\n"));
    }

    #[test]
    fn a_full_registry_refuses_new_series_and_keeps_the_old() {
        let mut r = Registry::with_limit(3);
        r.declare_counter("c_total", "help", &["path"]);
        for i in 0..100 {
            r.inc("c_total", &[&format!("/p/{i}")], 1.0);
        }
        r.inc("c_total", &["/p/0"], 1.0);
        assert_eq!(r.series_count(), 3);
        assert_eq!(r.refused(), 97);
        assert_eq!(r.value("c_total", &["/p/0"]), Some(2.0));
        assert_eq!(
            r.render()
                .lines()
                .filter(|l| l.starts_with("c_total{"))
                .count(),
            3
        );
    }

    #[test]
    fn counters_and_escaping() {
        let mut r = Registry::new();
        r.declare_counter("c_total", "help", &["a"]);
        r.inc("c_total", &["x\"y"], 2.0);
        assert!(r.render().contains("c_total{a=\"x\\\"y\"} 2\n"));
        assert_eq!(r.value("c_total", &["x\"y"]), Some(2.0));
    }
}
