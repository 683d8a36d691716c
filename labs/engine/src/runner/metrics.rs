//! Metric samples and sinks with k6's semantics.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde::{Deserialize, Serialize};

use super::thresholds::{Aggregation, Selector};

/// k6's metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    /// A cumulative sum.
    Counter,
    /// The last value set.
    Gauge,
    /// Share of non-zero values.
    Rate,
    /// A distribution.
    Trend,
}

impl MetricType {
    /// Aggregations allowed in thresholds on this type, as k6 documents them.
    pub fn supports(self, agg: Aggregation) -> bool {
        match self {
            Self::Counter => matches!(agg, Aggregation::Count | Aggregation::Rate),
            Self::Gauge => matches!(agg, Aggregation::Value),
            Self::Rate => matches!(agg, Aggregation::Rate),
            Self::Trend => matches!(
                agg,
                Aggregation::Avg
                    | Aggregation::Min
                    | Aggregation::Max
                    | Aggregation::Med
                    | Aggregation::Percentile(_)
            ),
        }
    }

    /// Human list of supported aggregations.
    pub fn supported_list(self) -> &'static str {
        match self {
            Self::Counter => "count and rate",
            Self::Gauge => "value",
            Self::Rate => "rate",
            Self::Trend => "avg, min, max, med and p(N)",
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Rate => "rate",
            Self::Trend => "trend",
        }
    }
}

/// What a metric's values measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Contains {
    /// Plain numbers.
    Default,
    /// Milliseconds.
    Time,
    /// Bytes.
    Data,
}

/// Accumulated values of one metric (or sub-metric).
#[derive(Debug, Clone)]
pub enum Sink {
    /// Counter: sum.
    Counter {
        /// Sum of values.
        sum: f64,
    },
    /// Gauge: last, min, max.
    Gauge {
        /// Last value.
        last: f64,
        /// Smallest value.
        min: f64,
        /// Largest value.
        max: f64,
        /// Whether any value was recorded.
        set: bool,
    },
    /// Rate: non-zero count and total.
    Rate {
        /// Non-zero samples.
        trues: u64,
        /// All samples.
        total: u64,
    },
    /// Trend: every value (k6 keeps them all for exact percentiles).
    Trend(Trend),
}

/// How many distinct recurring values a trend counts instead of keeping.
const REPEATS: usize = 64;

/// A Trend's values, for exact percentiles. Values that recur (a simulated
/// connect time that is always 0, an empty iteration's 0.5 ms) are counted
/// rather than kept one by one, so a trend's memory, and the run's sample
/// budget, grow with what varies: a loop of empty iterations keeps a few
/// dozen numbers, not one per iteration.
#[derive(Debug, Clone)]
pub struct Trend {
    /// Values kept one by one, sorted lazily.
    values: Vec<f64>,
    /// Whether `values` is sorted.
    sorted: bool,
    /// Sum of all values, in the order they came.
    sum: f64,
    /// Recurring values and how often each came, in `total_cmp` order.
    repeats: Vec<(f64, u64)>,
    /// Values counted in `repeats`.
    repeated: u64,
}

/// Where a trend puts a value.
enum Slot {
    /// Counted with a recurring value (at this index).
    Repeat(usize),
    /// A new recurring value (inserted at this index).
    NewRepeat(usize),
    /// Kept one by one.
    Kept,
}

impl Default for Trend {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            sorted: true,
            sum: 0.0,
            repeats: Vec::new(),
            repeated: 0,
        }
    }
}

impl Trend {
    fn slot(&self, v: f64) -> Slot {
        // Counting pays while recurring values are at least as many as the
        // others; past that (a latency, all different) values are kept
        // without a search, which costs a comparison.
        if self.repeated < self.values.len() as u64 {
            return Slot::Kept;
        }
        match self.repeats.binary_search_by(|(c, _)| c.total_cmp(&v)) {
            Ok(i) => Slot::Repeat(i),
            Err(i) if self.repeats.len() < REPEATS => Slot::NewRepeat(i),
            Err(_) => Slot::Kept,
        }
    }

    /// Whether adding `v` keeps one more value (not a count).
    fn keeps(&self, v: f64) -> bool {
        matches!(self.slot(v), Slot::Kept)
    }

    fn add(&mut self, v: f64) {
        match self.slot(v) {
            Slot::Repeat(i) => {
                self.repeats[i].1 += 1;
                self.repeated += 1;
            }
            Slot::NewRepeat(i) => {
                self.repeats.insert(i, (v, 1));
                self.repeated += 1;
            }
            Slot::Kept => {
                if self.values.last().is_some_and(|last| v < *last) {
                    self.sorted = false;
                }
                self.values.push(v);
            }
        }
        self.sum += v;
    }

    /// Number of values.
    pub fn len(&self) -> u64 {
        self.values.len() as u64 + self.repeated
    }

    /// Whether the trend has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values kept one by one (what the run's sample budget counts).
    pub fn kept(&self) -> usize {
        self.values.len()
    }

    fn merge(&mut self, other: &Trend) {
        for &(c, n) in &other.repeats {
            match self.repeats.binary_search_by(|(x, _)| x.total_cmp(&c)) {
                Ok(i) => self.repeats[i].1 += n,
                // A merge may hold more recurring values than `add` counts.
                Err(i) => self.repeats.insert(i, (c, n)),
            }
        }
        self.repeated += other.repeated;
        let ov = &other.values;
        if !ov.is_empty() {
            let joined_in_order = self
                .values
                .last()
                .is_none_or(|l| ov.first().is_some_and(|f| l.total_cmp(f).is_le()));
            let other_sorted = ov.is_sorted_by(|a, b| a.total_cmp(b).is_le());
            self.sorted = self.sorted && joined_in_order && other_sorted;
            self.values.extend_from_slice(ov);
        }
        self.sum += other.sum;
    }

    fn sort(&mut self) {
        if !self.sorted {
            sort_f64(&mut self.values);
            self.sorted = true;
        }
    }

    /// The `k`-th smallest value (from 0) of the sorted trend: kept values
    /// and recurring ones interleave in `total_cmp` order.
    fn kth(&self, k: u64) -> f64 {
        debug_assert!(self.sorted);
        // Recurring values before the current one.
        let mut before = 0u64;
        for &(c, n) in &self.repeats {
            let kept_below = self.values.partition_point(|x| x.total_cmp(&c).is_lt()) as u64;
            if k < kept_below + before {
                break;
            }
            if k < kept_below + before + n {
                return c;
            }
            before += n;
        }
        usize::try_from(k - before)
            .ok()
            .and_then(|i| self.values.get(i))
            .copied()
            .unwrap_or(0.0)
    }

    /// [`percentile`] of the sorted trend: the same interpolation between
    /// the same two values as over all of them in one sorted list.
    fn percentile(&self, p: f64) -> f64 {
        match self.len() {
            0 => 0.0,
            1 => self.kth(0),
            n => {
                let i = (p / 100.0) * (n as f64 - 1.0);
                let lo = i.floor();
                // `summaryTrendStats` takes any p(N): out of 0..=100, the ends.
                let j = self.kth((lo.max(0.0) as u64).min(n - 1));
                let k = self.kth((i.ceil().max(0.0) as u64).min(n - 1));
                j + (k - j) * (i - lo)
            }
        }
    }
}

impl Sink {
    /// An empty sink for a type.
    pub fn new(t: MetricType) -> Self {
        match t {
            MetricType::Counter => Self::Counter { sum: 0.0 },
            MetricType::Gauge => Self::Gauge {
                last: 0.0,
                min: 0.0,
                max: 0.0,
                set: false,
            },
            MetricType::Rate => Self::Rate { trues: 0, total: 0 },
            MetricType::Trend => Self::Trend(Trend::default()),
        }
    }

    /// Adds one sample.
    pub fn add(&mut self, v: f64) {
        match self {
            Self::Counter { sum } => *sum += v,
            Self::Gauge {
                last,
                min,
                max,
                set,
            } => {
                if !*set || v < *min {
                    *min = v;
                }
                if !*set || v > *max {
                    *max = v;
                }
                *last = v;
                *set = true;
            }
            Self::Rate { trues, total } => {
                *total += 1;
                if v != 0.0 {
                    *trues += 1;
                }
            }
            Self::Trend(t) => t.add(v),
        }
    }

    /// Whether adding `v` keeps one more value one by one (a trend's value
    /// that is not counted with a recurring one); the others keep none.
    pub fn keeps(&self, v: f64) -> bool {
        match self {
            Self::Trend(t) => t.keeps(v),
            _ => false,
        }
    }

    /// Adds another sink's samples (same type; another lane's).
    pub fn merge(&mut self, other: &Sink) {
        match (self, other) {
            (Self::Counter { sum }, Self::Counter { sum: o }) => *sum += o,
            (
                Self::Gauge {
                    last,
                    min,
                    max,
                    set,
                },
                Self::Gauge {
                    last: ol,
                    min: omin,
                    max: omax,
                    set: true,
                },
            ) => {
                if !*set || omin < min {
                    *min = *omin;
                }
                if !*set || omax > max {
                    *max = *omax;
                }
                *last = *ol;
                *set = true;
            }
            (Self::Rate { trues, total }, Self::Rate { trues: t, total: n }) => {
                *trues += t;
                *total += n;
            }
            (Self::Trend(t), Self::Trend(o)) => t.merge(o),
            _ => {}
        }
    }

    fn sort(&mut self) {
        if let Self::Trend(t) = self {
            t.sort();
        }
    }

    /// Number of samples (counters: the sum).
    pub fn count(&self) -> f64 {
        match self {
            Self::Counter { sum } => *sum,
            Self::Gauge { set, .. } => f64::from(u8::from(*set)),
            Self::Rate { total, .. } => *total as f64,
            Self::Trend(t) => t.len() as f64,
        }
    }

    /// Evaluates an aggregation; `duration` (seconds) turns counter sums into rates.
    pub fn aggregate(&mut self, agg: Aggregation, duration: f64) -> f64 {
        self.sort();
        match (&*self, agg) {
            (Self::Counter { sum }, Aggregation::Count) => *sum,
            (Self::Counter { sum }, Aggregation::Rate) if duration > 0.0 => sum / duration,
            (Self::Counter { .. }, Aggregation::Rate) => 0.0,
            (Self::Gauge { last, .. }, Aggregation::Value) => *last,
            (Self::Gauge { min, .. }, Aggregation::Min) => *min,
            (Self::Gauge { max, .. }, Aggregation::Max) => *max,
            (Self::Rate { trues, total }, Aggregation::Rate) => {
                if *total == 0 {
                    0.0
                } else {
                    *trues as f64 / *total as f64
                }
            }
            (Self::Rate { total, .. }, Aggregation::Count) => *total as f64,
            (Self::Trend(t), agg) => {
                let n = t.len();
                if n == 0 {
                    return 0.0;
                }
                match agg {
                    Aggregation::Avg => t.sum / n as f64,
                    Aggregation::Min => t.kth(0),
                    Aggregation::Max => t.kth(n - 1),
                    Aggregation::Med => t.percentile(50.0),
                    Aggregation::Percentile(p) => t.percentile(p),
                    Aggregation::Count => n as f64,
                    _ => 0.0,
                }
            }
            _ => 0.0,
        }
    }
}

/// k6's percentile on sorted values: linear interpolation between closest ranks.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let i = (p / 100.0) * (n as f64 - 1.0);
            let lo = i.floor();
            let j = sorted[lo as usize];
            let k = sorted[(i.ceil() as usize).min(n - 1)];
            j + (k - j) * (i - lo)
        }
    }
}

/// Sorts in `f64::total_cmp` order. Trends hold a value per request (a
/// million in a minute of simulated load): a radix sort on the bits takes
/// linear time where a comparison sort would dominate the end of a run.
pub fn sort_f64(values: &mut [f64]) {
    // Trends that never vary (simulated connect times) are sorted already.
    if values.is_sorted_by(|a, b| a.total_cmp(b).is_le()) {
        return;
    }
    if values.len() < 256 {
        values.sort_unstable_by(f64::total_cmp);
        return;
    }
    let key = order_key;
    let unkey = |k: u64| {
        if k >> 63 == 1 {
            f64::from_bits(k & !(1 << 63))
        } else {
            f64::from_bits(!k)
        }
    };
    // All eight byte histograms in one pass over the keys.
    let mut counts = vec![[0usize; 256]; 8];
    let mut a: Vec<u64> = values
        .iter()
        .map(|v| {
            let k = key(*v);
            for (pass, c) in counts.iter_mut().enumerate() {
                c[((k >> (pass * 8)) & 0xff) as usize] += 1;
            }
            k
        })
        .collect();
    let mut b = vec![0u64; a.len()];
    for (pass, counts) in counts.iter().enumerate() {
        // A byte every value shares needs no pass (common: values of one magnitude).
        if counts.contains(&a.len()) {
            continue;
        }
        let shift = pass * 8;
        let mut offsets = [0usize; 256];
        let mut sum = 0;
        for (o, c) in offsets.iter_mut().zip(counts) {
            *o = sum;
            sum += c;
        }
        for k in &a {
            let d = ((k >> shift) & 0xff) as usize;
            b[offsets[d]] = *k;
            offsets[d] += 1;
        }
        std::mem::swap(&mut a, &mut b);
    }
    for (v, k) in values.iter_mut().zip(a) {
        *v = unkey(k);
    }
}

/// [`percentile`] of unsorted values, reordering them (linear time: no full sort).
pub fn percentile_unsorted(values: &mut [f64], p: f64) -> f64 {
    match values.len() {
        0 => 0.0,
        1 => values[0],
        n => {
            let i = (p / 100.0) * (n as f64 - 1.0);
            let lo = (i.floor() as usize).min(n - 1);
            let (_, j, right) = values.select_nth_unstable_by(lo, f64::total_cmp);
            let j = *j;
            let k = if i.ceil() as usize > lo {
                right.iter().copied().min_by(f64::total_cmp).unwrap_or(j)
            } else {
                j
            };
            j + (k - j) * (i - lo as f64)
        }
    }
}

/// Formats a number like JavaScript would (`95`, `99.9`).
pub fn fmt_num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Tags of one sample.
pub type Tags = Vec<(String, String)>;

/// The samples of one HTTP request (see [`Store::add_request`]).
#[derive(Debug, Clone, Copy)]
pub struct RequestSample {
    /// Whether the status was expected (`http_req_failed` counts the others).
    pub ok: bool,
    /// Whether the request has timings (it reached the service).
    pub timed: bool,
    /// `http_req_duration`, ms.
    pub duration_ms: f64,
    /// Blocked, connecting, sending, waiting, receiving, ms.
    pub phases_ms: [f64; 5],
    /// Bytes sent.
    pub sent: f64,
    /// Bytes received.
    pub received: f64,
}

/// A registered metric with its sink and threshold sub-metrics.
#[derive(Debug, Clone)]
pub struct Metric {
    /// Name.
    pub name: String,
    /// Type.
    pub kind: MetricType,
    /// Unit.
    pub contains: Contains,
    /// Values of all samples.
    pub sink: Sink,
    /// Sub-metrics (tag-filtered), keyed by their full selector text.
    pub subs: Vec<(Selector, String, Sink)>,
}

/// One check's results, within its group.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckCount {
    /// Passed.
    pub passes: u64,
    /// Failed.
    pub fails: u64,
}

/// A group in the group tree, with its checks.
#[derive(Debug, Clone, Default)]
pub struct GroupNode {
    /// Sub-groups in order of first appearance.
    pub groups: Vec<(String, GroupNode)>,
    /// Checks in order of first appearance.
    pub checks: Vec<(String, CheckCount)>,
}

impl GroupNode {
    fn merge(&mut self, other: &GroupNode) {
        for (name, g) in &other.groups {
            self.child(name).merge(g);
        }
        for (name, c) in &other.checks {
            match self.checks.iter_mut().find(|(n, _)| n == name) {
                Some((_, mine)) => {
                    mine.passes += c.passes;
                    mine.fails += c.fails;
                }
                None => self.checks.push((name.clone(), c.clone())),
            }
        }
    }

    /// Sub-group `name`, made if it is new and `gate` admits it (its series
    /// key is `key`); `None` when the run has no room for another series.
    fn child_in(&mut self, name: &str, key: u64, gate: &mut Gate) -> Option<&mut GroupNode> {
        let i = match self.groups.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None if gate.admit(key) => {
                self.groups.push((name.to_owned(), GroupNode::default()));
                self.groups.len() - 1
            }
            None => return None,
        };
        Some(&mut self.groups[i].1)
    }

    fn child(&mut self, name: &str) -> &mut GroupNode {
        if let Some(i) = self.groups.iter().position(|(n, _)| n == name) {
            &mut self.groups[i].1
        } else {
            self.groups.push((name.to_owned(), GroupNode::default()));
            let last = self.groups.len() - 1;
            &mut self.groups[last].1
        }
    }
}

/// One second of the run, for charts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SecondPoint {
    /// Second since the start of the run.
    pub t: i64,
    /// Active VUs.
    pub vus: i64,
    /// Requests finished in this second.
    pub reqs: i64,
    /// Failed requests (http_req_failed) in this second.
    pub errors: i64,
    /// Checks passed.
    pub checks_ok: i64,
    /// Checks failed.
    pub checks_failed: i64,
    /// Median request duration, ms.
    pub p50_ms: f64,
    /// 95th percentile request duration, ms.
    pub p95_ms: f64,
    /// 99th percentile request duration, ms.
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Default)]
struct SecondAcc {
    vus: i64,
    reqs: i64,
    errors: i64,
    checks_ok: i64,
    checks_failed: i64,
    durations: Vec<f64>,
    /// Whether `durations` is in `total_cmp` order (see [`Store::seal_seconds`]).
    sorted: bool,
}

impl SecondAcc {
    fn push_duration(&mut self, v: f64) {
        self.sorted = false;
        self.durations.push(v);
    }

    /// The durations sorted: borrowed when they are, sorted in a copy otherwise.
    fn sorted_durations(&self) -> std::borrow::Cow<'_, [f64]> {
        if self.sorted {
            std::borrow::Cow::Borrowed(&self.durations)
        } else {
            let mut d = self.durations.clone();
            sort_f64(&mut d);
            std::borrow::Cow::Owned(d)
        }
    }
}

/// What one run may keep in metric state, shared by the stores of its lanes.
///
/// The engine keeps every Trend value that varies (k6's percentiles are
/// exact; values that recur are counted, see [`Trend`]), a node
/// per group and check name, and a sink per threshold sub-metric; without a
/// budget a script that feeds a Trend in a loop, or names checks after
/// request ids, grows the process until the operating system stops it, and
/// the learner reads "out of memory" instead of what to change. Series are
/// counted the way k6 keys its time series: a metric with one distinct set
/// of tags is one series, so a custom metric tagged with a new value per
/// sample makes a new series per sample, which k6 itself warns about.
///
/// The budget is the run's, not a lane's: lanes take samples from it in
/// batches (one atomic operation per batch, not per sample) and consult the
/// shared set only for series new to them. A run that stays within its
/// budget gives the same bytes on any number of threads; one that reaches
/// it may stop at a slightly different sample, as with `max_requests`.
#[derive(Debug)]
pub struct Budget {
    max_series: usize,
    max_samples: u64,
    max_scrape_bytes: u64,
    /// Samples taken by the lanes (kept, or reserved in a lane's batch).
    samples: AtomicU64,
    /// Keys of the series admitted so far.
    series: Mutex<HashSet<u64>>,
    scrape_bytes: AtomicU64,
    /// The first limit reached, as the learner reads it.
    exceeded: OnceLock<String>,
}

impl Default for Budget {
    /// No limits (tests, merged end-of-run stores).
    fn default() -> Self {
        Self::new(usize::MAX, u64::MAX, u64::MAX)
    }
}

/// How every message of a [`Budget`] limit begins.
pub const LIMIT_REACHED: &str = "the run reached its limit of";

/// Samples a lane takes from the run's budget at a time: small beside any
/// budget worth having, large enough that lanes rarely meet on the counter.
const SAMPLE_BATCH: u64 = 4096;

impl Budget {
    /// A budget of `max_series` series, `max_samples` kept samples and
    /// `max_scrape_bytes` bytes of scraped exposition text.
    pub fn new(max_series: usize, max_samples: u64, max_scrape_bytes: u64) -> Self {
        Self {
            max_series,
            max_samples,
            max_scrape_bytes,
            samples: AtomicU64::new(0),
            series: Mutex::new(HashSet::new()),
            scrape_bytes: AtomicU64::new(0),
            exceeded: OnceLock::new(),
        }
    }

    /// The budget `limits` give a run.
    pub fn for_limits(limits: &super::vu::Limits) -> Arc<Self> {
        Arc::new(Self::new(
            usize::try_from(limits.max_series).unwrap_or(usize::MAX),
            limits.max_samples,
            u64::try_from(limits.max_scrape_bytes).unwrap_or(u64::MAX),
        ))
    }

    /// Why the run must stop, once a limit has been reached.
    pub fn exceeded(&self) -> Option<&str> {
        self.exceeded.get().map(String::as_str)
    }

    /// Series admitted so far.
    pub fn series(&self) -> usize {
        self.series
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Samples taken so far (kept, or reserved by a lane and not used yet),
    /// never more than the limit.
    pub fn samples(&self) -> u64 {
        self.samples.load(Ordering::Relaxed).min(self.max_samples)
    }

    fn fail(&self, why: String) {
        let _ = self.exceeded.set(why);
    }

    /// Takes up to `want` samples (at least `least`) from the budget: what
    /// it grants, or 0 (and the run's reason to stop) when fewer than
    /// `least` are left.
    fn take_samples(&self, least: u64, want: u64) -> u64 {
        if self.max_samples == u64::MAX {
            return want;
        }
        // Once it is spent, the counter stays where it is.
        let spent = self.samples.load(Ordering::Relaxed) >= self.max_samples;
        let before = if spent {
            self.max_samples
        } else {
            self.samples.fetch_add(want, Ordering::Relaxed)
        };
        let left = self.max_samples.saturating_sub(before);
        if left < least {
            self.fail(format!(
                "{LIMIT_REACHED} {} kept metric samples (Trend values and request timings, kept for percentiles): a Trend fed in a loop, or far more requests than the lab needs, fills it; add fewer values or send fewer requests",
                grouped(self.max_samples)
            ));
            return 0;
        }
        want.min(left)
    }

    /// Admits series `key`; `false` (and the run's reason to stop) when the
    /// run already has as many series as it may.
    fn admit_series(&self, key: u64) -> bool {
        if self.max_series == usize::MAX {
            return true;
        }
        let mut set = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        if set.contains(&key) {
            return true;
        }
        if set.len() >= self.max_series {
            drop(set);
            self.fail(format!(
                "{LIMIT_REACHED} {} metric series (k6 tags make a new series per distinct value: tag by route, not by URL, and name checks and groups by what they test, not by a request's id)",
                grouped(self.max_series as u64)
            ));
            return false;
        }
        set.insert(key);
        true
    }

    /// Counts a scrape of `bytes` of exposition text against the budget;
    /// `false` (and the run's reason to stop) when it does not fit.
    pub fn keep_scrape(&self, bytes: usize) -> bool {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let before = self.scrape_bytes.fetch_add(bytes, Ordering::Relaxed);
        if before.saturating_add(bytes) > self.max_scrape_bytes {
            self.fail(format!(
                "{LIMIT_REACHED} {} of the toy service's /metrics scrapes: a shorter test or a longer scrape interval keeps less",
                bytes_text(self.max_scrape_bytes)
            ));
            return false;
        }
        true
    }
}

/// A size as a person reads it: `128 MB`, `50 kB`, `900 bytes`.
fn bytes_text(n: u64) -> String {
    match n {
        1_000_000.. => format!("{} MB", grouped(n / 1_000_000)),
        1_000.. => format!("{} kB", n / 1_000),
        _ => format!("{n} bytes"),
    }
}

/// `12345678` as `12,345,678`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A store's view of the run's [`Budget`]: the series it has admitted
/// already (so the shared set is consulted only for new ones) and the
/// samples it has taken and not used yet.
#[derive(Debug, Default)]
struct Gate {
    budget: Arc<Budget>,
    known: HashSet<u64>,
    reserved: u64,
}

impl Clone for Gate {
    /// The same budget and series; the samples reserved stay with the
    /// original (a copy spending them would keep more than the budget).
    fn clone(&self) -> Self {
        Self {
            budget: Arc::clone(&self.budget),
            known: self.known.clone(),
            reserved: 0,
        }
    }
}

impl Gate {
    fn admit(&mut self, key: u64) -> bool {
        if self.budget.max_series == usize::MAX || self.known.contains(&key) {
            return true;
        }
        if !self.budget.admit_series(key) {
            return false;
        }
        self.known.insert(key);
        true
    }

    /// Whether `n` more samples may be kept.
    fn keep(&mut self, n: u64) -> bool {
        if self.reserved < n {
            let got = self
                .budget
                .take_samples(n - self.reserved, SAMPLE_BATCH.max(n));
            if got == 0 {
                return false;
            }
            self.reserved += got;
        }
        self.reserved -= n;
        true
    }
}

/// A series key: the metric (or kind of node) and its tags, in any order
/// (k6 keys a time series by its tag set, not by the order tags were given).
fn series_key(kind: &str, id: usize, tags: &[(String, String)]) -> u64 {
    let mut set = 0u64;
    for (k, v) in tags {
        let mut h = DefaultHasher::new();
        (k, v).hash(&mut h);
        set = set.wrapping_add(h.finish());
    }
    let mut h = DefaultHasher::new();
    (kind, id, set).hash(&mut h);
    h.finish()
}

/// The key of a group or check node: its parent's key and its name.
fn node_key(kind: &str, parent: u64, name: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (kind, parent, name).hash(&mut h);
    h.finish()
}

/// All metrics of a run.
#[derive(Debug, Clone, Default)]
pub struct Store {
    metrics: Vec<Metric>,
    index: HashMap<String, usize>,
    /// The group tree (root group).
    pub root: GroupNode,
    seconds: Vec<SecondAcc>,
    max_series_seconds: usize,
    http_tagged: bool,
    /// The run's budget of series and kept samples.
    gate: Gate,
}

/// Well-known metric ids, registered first and in this order.
pub mod ids {
    /// `vus`
    pub const VUS: usize = 0;
    /// `vus_max`
    pub const VUS_MAX: usize = 1;
    /// `iterations`
    pub const ITERATIONS: usize = 2;
    /// `iteration_duration`
    pub const ITERATION_DURATION: usize = 3;
    /// `dropped_iterations`
    pub const DROPPED_ITERATIONS: usize = 4;
    /// `data_sent`
    pub const DATA_SENT: usize = 5;
    /// `data_received`
    pub const DATA_RECEIVED: usize = 6;
    /// `checks`
    pub const CHECKS: usize = 7;
    /// `group_duration`
    pub const GROUP_DURATION: usize = 8;
    /// `http_reqs`
    pub const HTTP_REQS: usize = 9;
    /// `http_req_duration`
    pub const HTTP_REQ_DURATION: usize = 10;
    /// `http_req_blocked`
    pub const HTTP_REQ_BLOCKED: usize = 11;
    /// `http_req_connecting`
    pub const HTTP_REQ_CONNECTING: usize = 12;
    /// `http_req_tls_handshaking`
    pub const HTTP_REQ_TLS: usize = 13;
    /// `http_req_sending`
    pub const HTTP_REQ_SENDING: usize = 14;
    /// `http_req_waiting`
    pub const HTTP_REQ_WAITING: usize = 15;
    /// `http_req_receiving`
    pub const HTTP_REQ_RECEIVING: usize = 16;
    /// `http_req_failed`
    pub const HTTP_REQ_FAILED: usize = 17;
}

const BUILTIN: &[(&str, MetricType, Contains)] = &[
    ("vus", MetricType::Gauge, Contains::Default),
    ("vus_max", MetricType::Gauge, Contains::Default),
    ("iterations", MetricType::Counter, Contains::Default),
    ("iteration_duration", MetricType::Trend, Contains::Time),
    ("dropped_iterations", MetricType::Counter, Contains::Default),
    ("data_sent", MetricType::Counter, Contains::Data),
    ("data_received", MetricType::Counter, Contains::Data),
    ("checks", MetricType::Rate, Contains::Default),
    ("group_duration", MetricType::Trend, Contains::Time),
    ("http_reqs", MetricType::Counter, Contains::Default),
    ("http_req_duration", MetricType::Trend, Contains::Time),
    ("http_req_blocked", MetricType::Trend, Contains::Time),
    ("http_req_connecting", MetricType::Trend, Contains::Time),
    (
        "http_req_tls_handshaking",
        MetricType::Trend,
        Contains::Time,
    ),
    ("http_req_sending", MetricType::Trend, Contains::Time),
    ("http_req_waiting", MetricType::Trend, Contains::Time),
    ("http_req_receiving", MetricType::Trend, Contains::Time),
    ("http_req_failed", MetricType::Rate, Contains::Default),
];

/// A metric name k6 would reject, or a re-registration with another type.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MetricError {
    /// Bad name.
    #[error("invalid metric name {0:?}: use 1 to 128 ASCII letters, digits and underscores, not starting with a digit")]
    Name(String),
    /// Already registered with another type.
    #[error("metric {0:?} already exists with another type")]
    Conflict(String),
    /// Too many custom metrics.
    #[error("too many custom metrics (limit {0})")]
    TooMany(usize),
}

const MAX_METRICS: usize = 500;

impl Store {
    /// A store with k6's built-in metrics registered and no budget.
    pub fn new(max_series_seconds: usize) -> Self {
        Self::with_budget(max_series_seconds, Arc::default())
    }

    /// A store with k6's built-in metrics registered that keeps series and
    /// samples within `budget` (shared with the run's other stores).
    pub fn with_budget(max_series_seconds: usize, budget: Arc<Budget>) -> Self {
        let mut s = Self {
            max_series_seconds,
            gate: Gate {
                budget,
                ..Gate::default()
            },
            ..Self::default()
        };
        for (name, kind, contains) in BUILTIN {
            let _ = s.register(name, *kind, *contains);
        }
        s
    }

    /// Registers (or finds) a metric and returns its id.
    pub fn register(
        &mut self,
        name: &str,
        kind: MetricType,
        contains: Contains,
    ) -> Result<usize, MetricError> {
        if let Some(&i) = self.index.get(name) {
            return if self.metrics[i].kind == kind {
                Ok(i)
            } else {
                Err(MetricError::Conflict(name.to_owned()))
            };
        }
        let valid = !name.is_empty()
            && name.len() <= 128
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(MetricError::Name(name.to_owned()));
        }
        if self.metrics.len() >= MAX_METRICS {
            return Err(MetricError::TooMany(MAX_METRICS));
        }
        self.metrics.push(Metric {
            name: name.to_owned(),
            kind,
            contains,
            sink: Sink::new(kind),
            subs: Vec::new(),
        });
        self.index.insert(name.to_owned(), self.metrics.len() - 1);
        Ok(self.metrics.len() - 1)
    }

    /// Looks a metric up by name.
    pub fn id(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The run's budget this store keeps within.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.gate.budget
    }

    /// Adds a tag-filtered sub-metric, tracked from now on: a series of its
    /// own (its sink keeps what its samples keep). `false` when the run has
    /// no room for another series.
    pub fn add_submetric(&mut self, id: usize, sel: Selector, key: String) -> bool {
        let m = &mut self.metrics[id];
        if !m.subs.iter().any(|(_, k, _)| *k == key) {
            if !self.gate.admit(node_key("submetric", id as u64, &key)) {
                return false;
            }
            let kind = m.kind;
            m.subs.push((sel, key, Sink::new(kind)));
        }
        self.http_tagged = [
            ids::HTTP_REQS,
            ids::HTTP_REQ_FAILED,
            ids::HTTP_REQ_DURATION,
            ids::HTTP_REQ_BLOCKED,
            ids::HTTP_REQ_CONNECTING,
            ids::HTTP_REQ_TLS,
            ids::HTTP_REQ_SENDING,
            ids::HTTP_REQ_WAITING,
            ids::HTTP_REQ_RECEIVING,
            ids::DATA_SENT,
            ids::DATA_RECEIVED,
        ]
        .iter()
        .any(|&i| self.tagged(i));
        true
    }

    /// Whether samples of metric `id` need their tags (it has sub-metrics).
    pub fn tagged(&self, id: usize) -> bool {
        self.metrics.get(id).is_some_and(|m| !m.subs.is_empty())
    }

    /// Whether any HTTP metric has sub-metrics (request tags are needed).
    pub fn http_tagged(&self) -> bool {
        self.http_tagged
    }

    /// Records a request's samples at `t` seconds into the run: what eleven
    /// calls of [`Store::add`] would record, in one go when no HTTP metric
    /// has sub-metrics (the usual case: then tags do not matter).
    pub fn add_request(&mut self, t: f64, r: &RequestSample, tags: &[(String, String)]) {
        let failed = if r.ok { 0.0 } else { 1.0 };
        let [blocked, connecting, sending, waiting, receiving] = r.phases_ms;
        let timed = [
            (ids::HTTP_REQ_DURATION, r.duration_ms),
            (ids::HTTP_REQ_BLOCKED, blocked),
            (ids::HTTP_REQ_CONNECTING, connecting),
            (ids::HTTP_REQ_TLS, 0.0),
            (ids::HTTP_REQ_SENDING, sending),
            (ids::HTTP_REQ_WAITING, waiting),
            (ids::HTTP_REQ_RECEIVING, receiving),
        ];
        let counted = [
            (ids::HTTP_REQS, 1.0),
            (ids::HTTP_REQ_FAILED, failed),
            (ids::DATA_SENT, r.sent),
            (ids::DATA_RECEIVED, r.received),
        ];
        let timed = if r.timed { &timed[..] } else { &[] };
        if self.http_tagged {
            for (id, v) in counted.iter().chain(timed) {
                self.add(*id, t, *v, tags);
            }
            return;
        }
        for (id, v) in &counted {
            self.metrics[*id].sink.add(*v);
        }
        // Seven trends (those that vary) and the second's copy of the
        // duration. Past the budget the request still counts; its timings
        // are not kept.
        let keep = r.timed && {
            let kept = timed
                .iter()
                .filter(|(id, v)| self.metrics[*id].sink.keeps(*v))
                .count();
            self.gate.keep(kept as u64 + 1)
        };
        if keep {
            for (id, v) in timed {
                self.metrics[*id].sink.add(*v);
            }
        }
        if let Some(acc) = self.second(t) {
            acc.reqs += 1;
            if !r.ok {
                acc.errors += 1;
            }
            if keep {
                acc.push_duration(r.duration_ms);
            }
        }
    }

    /// The per-second accumulator for `t` seconds into the run, if the
    /// series still reaches that far.
    fn second(&mut self, t: f64) -> Option<&mut SecondAcc> {
        let sec = t.max(0.0) as usize;
        if sec >= self.max_series_seconds {
            return None;
        }
        if self.seconds.len() <= sec {
            self.seconds.resize(sec + 1, SecondAcc::default());
        }
        Some(&mut self.seconds[sec])
    }

    /// Records a sample at `t` seconds into the run. A Trend's sample is
    /// kept (for percentiles) only while the run's budget allows; see
    /// [`Store::add_tagged`] for samples whose tags the script chose.
    pub fn add(&mut self, id: usize, t: f64, value: f64, tags: &[(String, String)]) {
        self.record(id, t, value, tags);
    }

    /// Records a sample whose tags the script chose (a custom metric's):
    /// its tag set is a series of its own, as k6 keys time series, and is
    /// admitted against the run's budget first. `false` when the budget
    /// refused the series or the sample ([`Budget::exceeded`] says why).
    pub fn add_tagged(&mut self, id: usize, t: f64, value: f64, tags: &[(String, String)]) -> bool {
        self.gate.admit(series_key("metric", id, tags)) && self.record(id, t, value, tags)
    }

    /// Counts the tag set a script gave a request as a series of the HTTP
    /// metrics (k6 makes one per distinct set); `false` when the budget
    /// refused it. The engine keeps nothing per request tag set, but a script
    /// that names each request differently is told here, as k6 would warn.
    pub fn admit_request_tags(&mut self, tags: &[(String, String)]) -> bool {
        tags.is_empty() || self.gate.admit(series_key("http", ids::HTTP_REQS, tags))
    }

    /// [`Store::add`], saying whether the sample was kept.
    fn record(&mut self, id: usize, t: f64, value: f64, tags: &[(String, String)]) -> bool {
        let Some(m) = self.metrics.get(id) else {
            return true;
        };
        let matches = |sel: &Selector| {
            sel.tags
                .iter()
                .all(|(k, v)| tags.iter().any(|(tk, tv)| tk == k && tv == v))
        };
        // A trend keeps the value in its sink and in each matching
        // sub-metric's, unless it counts it with a recurring one (and a
        // request's duration is kept once more in its second).
        let kept = if m.kind == MetricType::Trend {
            let subs = m
                .subs
                .iter()
                .filter(|(sel, _, sink)| matches(sel) && sink.keeps(value))
                .count();
            u64::from(m.sink.keeps(value)) + subs as u64 + u64::from(id == ids::HTTP_REQ_DURATION)
        } else {
            0
        };
        let keep = kept == 0 || self.gate.keep(kept);
        if keep {
            let m = &mut self.metrics[id];
            m.sink.add(value);
            for (sel, _, sink) in &mut m.subs {
                if matches(sel) {
                    sink.add(value);
                }
            }
        }
        if !matches!(
            id,
            ids::HTTP_REQS | ids::HTTP_REQ_FAILED | ids::CHECKS | ids::HTTP_REQ_DURATION
        ) {
            return keep;
        }
        if let Some(acc) = self.second(t) {
            match id {
                ids::HTTP_REQS => acc.reqs += 1,
                ids::HTTP_REQ_FAILED if value != 0.0 => acc.errors += 1,
                ids::CHECKS if value != 0.0 => acc.checks_ok += 1,
                ids::CHECKS => acc.checks_failed += 1,
                ids::HTTP_REQ_DURATION if keep => acc.push_duration(value),
                _ => {}
            }
        }
        keep
    }

    /// Records the VU count for second `sec`.
    pub fn set_vus(&mut self, t: f64, vus: i64) {
        self.add(ids::VUS, t, vus as f64, &[]);
        if let Some(acc) = self.second(t) {
            acc.vus = vus;
        }
    }

    /// Records a check result in the group tree. Each group and check name
    /// is a series (k6 tags samples with them): a new one is admitted
    /// against the run's budget, and past it the result is not kept.
    pub fn record_check<'a>(
        &mut self,
        group_path: impl IntoIterator<Item = &'a str>,
        name: &str,
        ok: bool,
    ) {
        let Some((node, key)) = Self::group_in(&mut self.root, &mut self.gate, group_path) else {
            return;
        };
        let i = match node.checks.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None if self.gate.admit(node_key("check", key, name)) => {
                node.checks.push((name.to_owned(), CheckCount::default()));
                node.checks.len() - 1
            }
            None => return,
        };
        if ok {
            node.checks[i].1.passes += 1;
        } else {
            node.checks[i].1.fails += 1;
        }
    }

    /// Makes sure a group exists in the tree (groups without checks still show).
    pub fn touch_group<'a>(&mut self, group_path: impl IntoIterator<Item = &'a str>) {
        let _ = Self::group_in(&mut self.root, &mut self.gate, group_path);
    }

    /// The node of `group_path` under `root` (made as needed, within the
    /// budget) and its series key.
    fn group_in<'n, 'a>(
        root: &'n mut GroupNode,
        gate: &mut Gate,
        group_path: impl IntoIterator<Item = &'a str>,
    ) -> Option<(&'n mut GroupNode, u64)> {
        let mut node = root;
        let mut key = 0;
        for g in group_path {
            key = node_key("group", key, g);
            node = node.child_in(g, key, gate)?;
        }
        Some((node, key))
    }

    /// All metrics, in registration order.
    pub fn metrics(&self) -> &[Metric] {
        &self.metrics
    }

    /// Mutable access for aggregation.
    pub fn metrics_mut(&mut self) -> &mut [Metric] {
        &mut self.metrics
    }

    /// Current value of an aggregation on a metric.
    pub fn aggregate(&mut self, id: usize, agg: Aggregation, duration: f64) -> f64 {
        self.metrics
            .get_mut(id)
            .map_or(0.0, |m| m.sink.aggregate(agg, duration))
    }

    /// The per-second series so far.
    pub fn series(&self) -> Vec<SecondPoint> {
        self.seconds
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let d = a.sorted_durations();
                SecondPoint {
                    t: i64::try_from(i).unwrap_or(i64::MAX),
                    vus: a.vus,
                    reqs: a.reqs,
                    errors: a.errors,
                    checks_ok: a.checks_ok,
                    checks_failed: a.checks_failed,
                    p50_ms: round3(percentile(&d, 50.0)),
                    p95_ms: round3(percentile(&d, 95.0)),
                    p99_ms: round3(percentile(&d, 99.0)),
                }
            })
            .collect()
    }

    /// p95 of request durations over the last `window` seconds before `now`.
    pub fn recent_p95(&self, now: f64, window: usize) -> f64 {
        Self::recent_p95_of(&[self], now, window)
    }

    /// Sorts the request durations of seconds before `upto`, which no
    /// request can join any more: each is sorted once, and the reports that
    /// look back over them (progress, series) need no copy or sort.
    pub fn seal_seconds(&mut self, upto: f64) {
        let end = (upto.max(0.0) as usize).min(self.seconds.len());
        for a in &mut self.seconds[..end] {
            if !a.sorted {
                sort_f64(&mut a.durations);
                a.sorted = true;
            }
        }
    }

    /// p95 of request durations over the last `window` seconds, over several
    /// stores: exact, by selection over each second's sorted durations
    /// (sealed seconds are sorted already, see [`Store::seal_seconds`]).
    pub fn recent_p95_of(stores: &[&Store], now: f64, window: usize) -> f64 {
        let runs: Vec<std::borrow::Cow<'_, [f64]>> = stores
            .iter()
            .flat_map(move |s| {
                let end = (now.max(0.0) as usize).min(s.seconds.len());
                let start = end.saturating_sub(window);
                s.seconds[start..end].iter()
            })
            .filter(|a| !a.durations.is_empty())
            .map(SecondAcc::sorted_durations)
            .collect();
        let runs: Vec<&[f64]> = runs.iter().map(|r| &**r).collect();
        percentile_of_sorted_runs(&runs, 95.0)
    }

    /// Adds `other`'s samples (another lane of the same run) to this store.
    /// Merging in a fixed order gives the same sums every time.
    pub fn merge(&mut self, other: &Store) {
        for m in &other.metrics {
            let id = match self.register(&m.name, m.kind, m.contains) {
                Ok(id) => id,
                Err(_) => continue,
            };
            let mine = &mut self.metrics[id];
            mine.sink.merge(&m.sink);
            for (sel, key, sink) in &m.subs {
                match mine.subs.iter_mut().find(|(_, k, _)| k == key) {
                    Some((_, _, s)) => s.merge(sink),
                    None => mine.subs.push((sel.clone(), key.clone(), sink.clone())),
                }
            }
        }
        if self.seconds.len() < other.seconds.len() {
            self.seconds
                .resize(other.seconds.len(), SecondAcc::default());
        }
        for (a, b) in self.seconds.iter_mut().zip(&other.seconds) {
            a.reqs += b.reqs;
            a.errors += b.errors;
            a.checks_ok += b.checks_ok;
            a.checks_failed += b.checks_failed;
            if a.sorted && b.sorted {
                a.durations = merge_sorted(&a.durations, &b.durations);
            } else {
                a.durations.extend_from_slice(&b.durations);
                a.sorted = false;
            }
        }
        self.root.merge(&other.root);
        self.http_tagged |= other.http_tagged;
    }

    /// Group-tree snapshot helper: (path, name, node) pairs are built by the summary.
    pub fn root(&self) -> &GroupNode {
        &self.root
    }
}

/// Two sorted runs as one (in `total_cmp` order).
fn merge_sorted(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if b[j].total_cmp(&a[i]).is_lt() {
            out.push(b[j]);
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Bits of a float that compare as unsigned integers in `total_cmp` order:
/// the sign bit of positives flipped, every bit of negatives.
fn order_key(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// The `k`-th smallest value (from 0) of several sorted runs together:
/// a binary search on the value's bits, counting what lies at or below.
fn kth_of_sorted_runs(runs: &[&[f64]], k: usize) -> f64 {
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for r in runs {
        if let (Some(f), Some(l)) = (r.first(), r.last()) {
            lo = lo.min(order_key(*f));
            hi = hi.max(order_key(*l));
        }
    }
    // The smallest key with more than k values at or below it is a value's.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at_or_below: usize = runs
            .iter()
            .map(|r| r.partition_point(|v| order_key(*v) <= mid))
            .sum();
        if at_or_below > k {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    runs.iter()
        .find_map(|r| {
            r.get(r.partition_point(|v| order_key(*v) < lo))
                .filter(|v| order_key(**v) == lo)
        })
        .copied()
        .unwrap_or(0.0)
}

/// [`percentile`] of several sorted runs taken together.
pub fn percentile_of_sorted_runs(runs: &[&[f64]], p: f64) -> f64 {
    let n: usize = runs.iter().map(|r| r.len()).sum();
    match n {
        0 => 0.0,
        1 => runs.iter().find_map(|r| r.first().copied()).unwrap_or(0.0),
        n => {
            let i = (p / 100.0) * (n as f64 - 1.0);
            let lo = (i.floor() as usize).min(n - 1);
            let j = kth_of_sorted_runs(runs, lo);
            let k = if i.ceil() as usize > lo {
                kth_of_sorted_runs(runs, (lo + 1).min(n - 1))
            } else {
                j
            };
            j + (k - j) * (i - lo as f64)
        }
    }
}

/// Rounds to 3 decimals (microsecond precision on milliseconds).
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_k6_interpolation() {
        // Independently computed: numpy.percentile(x, p, method="linear").
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&v, 50.0), 5.5);
        assert!((percentile(&v, 95.0) - 9.55).abs() < 1e-9);
        assert!((percentile(&v, 90.0) - 9.1).abs() < 1e-9);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 10.0);
        assert_eq!(percentile(&[42.0], 99.0), 42.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
        let w = [10.0, 20.0, 30.0, 40.0];
        assert!((percentile(&w, 75.0) - 32.5).abs() < 1e-9);
        let mut big: Vec<f64> = (0..5000u32)
            .map(|i| f64::from(i.wrapping_mul(2_654_435_761) % 1000) - 300.5)
            .chain([0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, 1e-300, -1e300])
            .collect();
        let mut expected = big.clone();
        expected.sort_by(f64::total_cmp);
        sort_f64(&mut big);
        assert_eq!(
            big.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        // Sorted runs taken together give the percentile of all their values.
        let runs: Vec<Vec<f64>> = [0usize, 1, 7, 300, 2]
            .iter()
            .enumerate()
            .map(|(r, len)| {
                let mut v: Vec<f64> = (0..*len)
                    .map(|i| {
                        f64::from((i as u32 + 31 * r as u32).wrapping_mul(2_654_435_761) % 997)
                            / 7.0
                            - 20.0
                    })
                    .collect();
                sort_f64(&mut v);
                v
            })
            .collect();
        let slices: Vec<&[f64]> = runs.iter().map(|r| &r[..]).collect();
        let mut all: Vec<f64> = runs.concat();
        sort_f64(&mut all);
        for p in [0.0, 1.0, 12.5, 50.0, 90.0, 95.0, 99.0, 100.0] {
            assert_eq!(
                percentile_of_sorted_runs(&slices, p),
                percentile(&all, p),
                "p{p}"
            );
            assert_eq!(
                percentile_of_sorted_runs(&slices[1..2], p),
                percentile(&runs[1], p)
            );
        }
        assert_eq!(percentile_of_sorted_runs(&[], 95.0), 0.0);
        assert_eq!(merge_sorted(&runs[2], &runs[3]), {
            let mut m = [runs[2].clone(), runs[3].clone()].concat();
            sort_f64(&mut m);
            m
        });
        for p in [0.0, 12.5, 50.0, 75.0, 95.0, 99.0, 100.0] {
            let mut shuffled = [40.0, 10.0, 30.0, 20.0, 20.0, 5.0];
            let mut sorted = shuffled;
            sorted.sort_by(f64::total_cmp);
            assert_eq!(
                percentile_unsorted(&mut shuffled, p),
                percentile(&sorted, p),
                "p{p}"
            );
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_series_is_its_metric_and_its_tag_set_in_any_order() {
        let ab = tags(&[("a", "1"), ("b", "2")]);
        let ba = tags(&[("b", "2"), ("a", "1")]);
        assert_eq!(series_key("metric", 20, &ab), series_key("metric", 20, &ba));
        assert_ne!(series_key("metric", 20, &ab), series_key("metric", 21, &ab));
        assert_ne!(
            series_key("metric", 20, &ab),
            series_key("metric", 20, &tags(&[("a", "2"), ("b", "1")]))
        );
        assert_ne!(series_key("metric", 20, &ab), series_key("metric", 20, &[]));
    }

    #[test]
    fn stores_of_one_run_share_its_budget() {
        let budget = Arc::new(Budget::new(3, 10_000, 1000));
        let mut a = Store::with_budget(10, Arc::clone(&budget));
        let id = a
            .register("t", MetricType::Trend, Contains::Default)
            .expect("registers");
        let mut b = a.clone();
        // A series both lanes see is one series of the run.
        for s in [&mut a, &mut b] {
            assert!(s.add_tagged(id, 0.5, 1.0, &tags(&[("route", "/a")])));
            assert!(s.add_tagged(id, 0.5, 1.0, &tags(&[("route", "/b")])));
        }
        assert!(a.add_tagged(id, 0.5, 1.0, &tags(&[("route", "/c")])));
        assert_eq!(budget.series(), 3);
        assert!(budget.exceeded().is_none());
        assert!(!b.add_tagged(id, 0.5, 1.0, &tags(&[("route", "/d")])));
        let why = budget.exceeded().expect("a reason");
        assert!(
            why.starts_with("the run reached its limit of 3 metric series"),
            "{why}"
        );
        assert!(why.contains("tag by route, not by URL"), "{why}");
        // Known series still take samples until the samples run out.
        // Distinct values (recurring ones would be counted, not kept); the
        // first few of each store are counted all the same, as they might
        // recur, so a few more than the budget are added.
        let mut added = 0u64;
        for i in 0.. {
            let v = f64::from(i) * 0.25;
            let x = a.add_tagged(id, 0.5, v, &tags(&[("route", "/a")]));
            let y = b.add_tagged(id, 0.5, v + 0.125, &tags(&[("route", "/b")]));
            if !x && !y {
                break;
            }
            added += u64::from(x) + u64::from(y);
            assert!(added <= 10_000 + 2 * 64, "{added}");
        }
        let count = a.metrics()[id].sink.count() + b.metrics()[id].sink.count();
        // The first few distinct values are counted, not kept: they may
        // recur. So the trends hold a few more than the budget.
        assert!(count <= 10_000.0 + 2.0 * 64.0 + 5.0, "{count}");
        assert!(count > 10_000.0 - 2.0 * 4096.0, "{count}");
        assert_eq!(budget.samples(), 10_000);
        // Counters keep no samples: they still count past the sample budget.
        a.add(ids::HTTP_REQS, 0.5, 1.0, &[]);
        assert_eq!(a.aggregate(ids::HTTP_REQS, Aggregation::Count, 1.0), 1.0);
        // The first limit reached is the reason given.
        assert!(budget
            .exceeded()
            .is_some_and(|w| w.contains("metric series")));
    }

    #[test]
    fn a_copied_store_does_not_spend_what_the_original_reserved() {
        let budget = Arc::new(Budget::new(100, 5000, 1000));
        let mut a = Store::with_budget(10, Arc::clone(&budget));
        // The first values are counted (they might recur); the rest are kept.
        let mut v = 0.0;
        for _ in 0..200 {
            v += 1.0;
            a.add(ids::HTTP_REQ_WAITING, 0.5, v, &[]);
        }
        let mut copies: Vec<Store> = (0..10).map(|_| a.clone()).collect();
        let mut kept = 0u64;
        for c in copies.iter_mut().chain([&mut a]) {
            loop {
                v += 1.0;
                if !c.record(ids::HTTP_REQ_WAITING, 0.5, v, &[]) {
                    break;
                }
                kept += 1;
                assert!(kept <= 5000, "{kept}");
            }
        }
        let why = budget.exceeded().expect("a reason");
        assert!(
            why.starts_with("the run reached its limit of 5,000 kept metric samples"),
            "{why}"
        );
    }

    #[test]
    fn scrapes_are_kept_up_to_their_budget() {
        let budget = Budget::new(10, 10, 2_500_000);
        assert!(budget.keep_scrape(1_000_000));
        assert!(budget.keep_scrape(1_500_000));
        assert!(!budget.keep_scrape(1));
        assert_eq!(
            budget.exceeded(),
            Some("the run reached its limit of 2 MB of the toy service's /metrics scrapes: a shorter test or a longer scrape interval keeps less")
        );
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(10_000_000), "10,000,000");
        assert_eq!(bytes_text(300_000), "300 kB");
        assert_eq!(bytes_text(12), "12 bytes");
    }

    #[test]
    fn trends_count_recurring_values_and_give_exact_percentiles() {
        // Deterministic pseudo-random values: a few recurring ones among many.
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (case, recurring) in [(0, 1.0), (1, 0.5), (2, 0.9), (3, 0.0), (4, 0.98)] {
            let mut lanes = [Sink::new(MetricType::Trend), Sink::new(MetricType::Trend)];
            let mut all = Vec::new();
            for i in 0..20_000u32 {
                let r = next();
                let v = if (r % 1000) as f64 / 1000.0 < recurring {
                    // 0, -0 and a handful of timings that recur.
                    [0.0, -0.0, 0.5, 0.500_000_000_000_1, 1.25, 3.0, 8.0][(r >> 20) as usize % 7]
                } else {
                    (r >> 11) as f64 / (1u64 << 53) as f64 * 900.0 - 100.0
                };
                lanes[usize::from(i % 3 == 0)].add(v);
                all.push(v);
            }
            let mut merged = lanes[0].clone();
            merged.merge(&lanes[1]);
            if let Sink::Trend(t) = &merged {
                assert_eq!(t.len(), 20_000);
                if recurring >= 0.9 {
                    assert!(t.kept() < 4_000, "case {case}: {} kept", t.kept());
                }
            }
            sort_f64(&mut all);
            for p in [0.0, 1.0, 25.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0] {
                assert_eq!(
                    merged.aggregate(Aggregation::Percentile(p), 1.0).to_bits(),
                    percentile(&all, p).to_bits(),
                    "case {case}, p({p})"
                );
            }
            assert_eq!(
                merged.aggregate(Aggregation::Min, 1.0).to_bits(),
                all[0].to_bits()
            );
            assert_eq!(
                merged.aggregate(Aggregation::Max, 1.0).to_bits(),
                all[all.len() - 1].to_bits()
            );
            assert_eq!(merged.aggregate(Aggregation::Count, 1.0), 20_000.0);
            // Out-of-range percentiles (summaryTrendStats takes any) are the ends.
            assert_eq!(
                merged.aggregate(Aggregation::Percentile(150.0), 1.0),
                all[all.len() - 1]
            );
            assert_eq!(merged.aggregate(Aggregation::Percentile(-5.0), 1.0), all[0]);
        }
        // A trend that never varies keeps nothing one by one.
        let mut t = Sink::new(MetricType::Trend);
        for _ in 0..1_000_000 {
            t.add(0.5);
        }
        assert!(!t.keeps(0.5));
        // A new value is counted too while there is room for it.
        assert!(!t.keeps(0.25));
        assert!(matches!(&t, Sink::Trend(t) if t.kept() == 0 && t.len() == 1_000_000));
        assert_eq!(t.aggregate(Aggregation::Percentile(95.0), 1.0), 0.5);
    }

    #[test]
    fn sinks_aggregate() {
        let mut s = Store::new(10);
        for v in [3.0, 1.0, 2.0] {
            s.add(ids::HTTP_REQ_DURATION, 0.5, v, &[]);
        }
        assert_eq!(
            s.aggregate(ids::HTTP_REQ_DURATION, Aggregation::Med, 1.0),
            2.0
        );
        assert_eq!(
            s.aggregate(ids::HTTP_REQ_DURATION, Aggregation::Avg, 1.0),
            2.0
        );
        assert_eq!(
            s.aggregate(ids::HTTP_REQ_DURATION, Aggregation::Max, 1.0),
            3.0
        );
        s.add(ids::HTTP_REQS, 0.5, 1.0, &[]);
        s.add(ids::HTTP_REQS, 0.5, 1.0, &[]);
        assert_eq!(s.aggregate(ids::HTTP_REQS, Aggregation::Rate, 4.0), 0.5);
        s.add(ids::CHECKS, 0.5, 1.0, &[]);
        s.add(ids::CHECKS, 0.5, 0.0, &[]);
        assert_eq!(s.aggregate(ids::CHECKS, Aggregation::Rate, 4.0), 0.5);
        assert!(s
            .register("bad name", MetricType::Counter, Contains::Default)
            .is_err());
        assert!(s
            .register("checks", MetricType::Counter, Contains::Default)
            .is_err());
    }
}
