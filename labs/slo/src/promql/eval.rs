//! The PromQL evaluator, on the AST of the `promql-parser` crate.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promql_parser::label::Matcher;
use promql_parser::parser::{
    AggregateExpr, AtModifier, BinaryExpr, Call, Expr, LabelModifier, Offset,
    VectorMatchCardinality, VectorSelector,
};

use super::functions::{self as f, Bucket};
use super::labels::{Labels, METRIC_NAME};
use super::limits::{
    check_expr_depth, check_query_text, grouped, human_duration, too_many_points, Budget,
    QueryContext, QueryLimits,
};
use super::store::{is_stale_nan, Reset, Sample, Storage};
use super::value::{format_float, Element, RangeSeries, Value};

/// Prometheus's default lookback for instant selectors: 5 minutes.
pub const DEFAULT_LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// Why a query could not be answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The query text is not valid PromQL.
    #[error("parse error: {0}")]
    Parse(String),
    /// The query is valid but cannot be evaluated (e.g. many-to-many matching).
    #[error("{0}")]
    Eval(String),
    /// The query is larger, deeper or heavier than its [`QueryLimits`] allow.
    #[error("{0}")]
    Limit(String),
    /// The query ran out of time (its timeout, or its context's deadline).
    #[error("query timed out after {}", human_duration(*.0))]
    Timeout(Duration),
    /// The query's cancellation check said stop.
    #[error("query cancelled")]
    Cancelled,
}

impl QueryError {
    /// Whether the query was stopped from outside or by a resource limit,
    /// rather than failing on its own terms.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            QueryError::Limit(_) | QueryError::Timeout(_) | QueryError::Cancelled
        )
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError::Eval(msg.into()))
}

/// Tunables of the engine.
#[derive(Clone, Copy, Debug)]
pub struct QueryOptions {
    /// How far back an instant selector looks for a sample (default 5m).
    pub lookback_ms: i64,
    /// The step of subqueries that don't name one (Prometheus uses the global
    /// evaluation interval, 1m by default).
    pub default_subquery_step_ms: i64,
}

impl Default for QueryOptions {
    fn default() -> Self {
        Self {
            lookback_ms: DEFAULT_LOOKBACK_MS,
            default_subquery_step_ms: 60_000,
        }
    }
}

/// Parses a PromQL expression under the default [`QueryLimits`].
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    parse_with(query, &QueryLimits::default())
}

/// Parses a PromQL expression, first checking its size and nesting against
/// `limits` (the parser's tree code recurses, so a deep query must never
/// reach it).
pub fn parse_with(query: &str, limits: &QueryLimits) -> Result<Expr, QueryError> {
    check_query_text(query, limits)?;
    let expr = promql_parser::parser::parse(query).map_err(QueryError::Parse)?;
    check_expr_depth(&expr, limits)?;
    Ok(expr)
}

/// Evaluates `query` at `t_ms` (an instant query) under the default limits.
pub fn instant_query(storage: &Storage, query: &str, t_ms: i64) -> Result<Value, QueryError> {
    instant_query_with(storage, query, t_ms, &QueryContext::default())
}

/// Evaluates `query` at `t_ms` (an instant query) under `ctx`'s limits,
/// deadline and cancellation.
pub fn instant_query_with(
    storage: &Storage,
    query: &str,
    t_ms: i64,
    ctx: &QueryContext<'_>,
) -> Result<Value, QueryError> {
    let expr = parse_with(query, &ctx.limits)?;
    Engine::with_context(storage, QueryOptions::default(), t_ms, t_ms, ctx)
        .eval_instant(&expr, t_ms)
}

/// Evaluates `query` at every step from `start_ms` to `end_ms` (a range
/// query) under the default limits; the result is a [`Value::Matrix`] sorted
/// by labels.
pub fn range_query(
    storage: &Storage,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> Result<Value, QueryError> {
    range_query_with(
        storage,
        query,
        start_ms,
        end_ms,
        step_ms,
        &QueryContext::default(),
    )
}

/// [`range_query`] under `ctx`'s limits, deadline and cancellation.
pub fn range_query_with(
    storage: &Storage,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    ctx: &QueryContext<'_>,
) -> Result<Value, QueryError> {
    let expr = parse_with(query, &ctx.limits)?;
    Engine::with_context(storage, QueryOptions::default(), start_ms, end_ms, ctx)
        .eval_range(&expr, start_ms, end_ms, step_ms)
}

/// An evaluator bound to a store and to a query's start and end (which
/// `@ start()` and `@ end()` refer to), and to a [`QueryContext`] whose
/// limits every evaluation runs under.
pub struct Engine<'s> {
    storage: &'s Storage,
    opts: QueryOptions,
    start: i64,
    end: i64,
    selections: RefCell<HashMap<usize, Rc<Vec<usize>>>>,
    budget: Budget<'s>,
}

/// How many samples a value holds (a scalar is one point).
fn sample_count(v: &Value) -> usize {
    match v {
        Value::Scalar(_) => 1,
        Value::String(_) => 0,
        Value::Vector(els) => els.len(),
        Value::Matrix(series) => series.iter().map(|s| s.points.len()).sum(),
    }
}

/// `5m`, `1h30m`, `250ms`: a duration as PromQL writes it, for messages.
fn promql_duration(ms: i64) -> String {
    if ms <= 0 {
        return format!("{ms}ms");
    }
    let mut rest = ms;
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

fn dur_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => dur_ms(&d),
        Err(e) => -dur_ms(&e.duration()),
    }
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => dur_ms(d),
        Some(Offset::Neg(d)) => -dur_ms(d),
    }
}

fn series_matches(vs: &VectorSelector, l: &Labels) -> bool {
    let ok = |m: &Matcher| m.is_match(l.value(&m.name));
    if let Some(name) = &vs.name {
        if l.metric_name() != Some(name.as_str()) {
            return false;
        }
    }
    vs.matchers.matchers.iter().all(ok)
        && (vs.matchers.or_matchers.is_empty()
            || vs.matchers.or_matchers.iter().any(|g| g.iter().all(ok)))
}

/// A function of a range vector's points, their counter resets when the
/// store knows them, and the range bounds.
type RangeFn<'a> = dyn Fn(&[Sample], Option<&[Reset]>, i64, i64) -> Option<f64> + 'a;

/// One series of a range-vector argument; borrowed from the store when possible.
struct RangeData<'s> {
    labels: Labels,
    points: Cow<'s, [Sample]>,
    /// The counter resets among `points`, from the store's index (`None` for
    /// subquery results, which are scanned instead).
    resets: Option<&'s [Reset]>,
}

fn to_output(series: Vec<RangeData<'_>>) -> Vec<RangeSeries> {
    series
        .into_iter()
        .map(|s| RangeSeries {
            labels: s.labels,
            points: s.points.iter().map(|p| (p.t, p.v)).collect(),
        })
        .collect()
}

/// The evaluated parameter of an aggregation.
#[derive(Clone)]
enum Param {
    Number(f64),
    Label(String),
}

enum Grouping<'a> {
    By(&'a [String]),
    Without(&'a [String]),
}

impl Grouping<'_> {
    fn key(&self, l: &Labels) -> Labels {
        match self {
            Grouping::By(names) => l.keep_only(names),
            Grouping::Without(names) => l.without(names, true),
        }
    }
}

fn check_unique(out: &[Element]) -> Result<(), QueryError> {
    if out.len() < 2 {
        return Ok(());
    }
    let mut seen = std::collections::HashSet::with_capacity(out.len());
    for e in out {
        if !seen.insert(&e.labels) {
            return err("vector cannot contain metrics with the same labelset");
        }
    }
    Ok(())
}

fn elem(labels: Labels, value: f64) -> Element {
    Element {
        labels,
        value,
        sample_t: None,
    }
}

/// Operators whose result loses the metric name. `atan2` is arithmetic but
/// keeps it, as in Prometheus (its `shouldDropMetricName` omits it).
fn drops_metric_name(op: &str) -> bool {
    matches!(op, "+" | "-" | "*" | "/" | "%" | "^")
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// Applies a binary operator to two floats: `(value, keep)`; `keep` is false
/// when a comparison filters the element out.
fn binop(op: &str, l: f64, r: f64) -> Result<(f64, bool), QueryError> {
    Ok(match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        other => return err(format!("operator {other:?} not allowed here")),
    })
}

impl<'s> Engine<'s> {
    /// An engine for a query running from `start_ms` to `end_ms`, under the
    /// default [`QueryLimits`].
    pub fn new(storage: &'s Storage, opts: QueryOptions, start_ms: i64, end_ms: i64) -> Self {
        Self::with_context(storage, opts, start_ms, end_ms, &QueryContext::default())
    }

    /// An engine whose evaluations run under `ctx`'s limits, deadline and
    /// cancellation. Each `eval_*` call is one query: its timeout and its
    /// sample count start afresh.
    pub fn with_context(
        storage: &'s Storage,
        opts: QueryOptions,
        start_ms: i64,
        end_ms: i64,
        ctx: &QueryContext<'s>,
    ) -> Self {
        Self {
            storage,
            opts,
            start: start_ms,
            end: end_ms,
            selections: RefCell::new(HashMap::new()),
            budget: Budget::new(ctx),
        }
    }

    /// Starts one query: a fresh account, the deadline and cancellation
    /// looked at before any work, and the tree's depth checked (without
    /// recursion) before the evaluator recurses into it.
    fn begin(&self, expr: &Expr) -> Result<(), QueryError> {
        self.budget.start();
        self.budget.check_now()?;
        check_expr_depth(expr, self.budget.limits())
    }

    /// Instant query at `t`.
    pub fn eval_instant(&self, expr: &Expr, t: i64) -> Result<Value, QueryError> {
        self.begin(expr)?;
        let v = self.eval(expr, t)?;
        Ok(match v {
            Value::Vector(mut els) => {
                for e in &mut els {
                    e.sample_t = None;
                }
                Value::Vector(els)
            }
            other => other,
        })
    }

    /// Range query: evaluates at each step and gathers the points per series.
    pub fn eval_range(
        &self,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Value, QueryError> {
        if step <= 0 {
            return err("zero or negative query resolution step widths are not accepted");
        }
        if end < start {
            return err("end timestamp must not be before start time");
        }
        // Prometheus's check, before anything is evaluated.
        let limit = self.budget.limits().max_points_per_series;
        if (i128::from(end) - i128::from(start)) / i128::from(step) > limit as i128 {
            return Err(too_many_points(limit));
        }
        self.begin(expr)?;
        let mut series: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
        let mut t = start;
        loop {
            match self.eval(expr, t)? {
                Value::Scalar(v) => series.entry(Labels::default()).or_default().push((t, v)),
                Value::Vector(els) => {
                    for e in els {
                        series.entry(e.labels).or_default().push((t, e.value));
                    }
                }
                other => {
                    return err(format!(
                        "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                        other.type_name()
                    ))
                }
            }
            match t.checked_add(step) {
                Some(next) if next <= end => t = next,
                _ => break,
            }
        }
        let mut out: Vec<RangeSeries> = series
            .into_iter()
            .map(|(labels, points)| RangeSeries { labels, points })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Value::Matrix(out))
    }

    fn selected(&self, vs: &VectorSelector) -> Rc<Vec<usize>> {
        let key = vs as *const VectorSelector as usize;
        if let Some(hit) = self.selections.borrow().get(&key) {
            return Rc::clone(hit);
        }
        // Prometheus's storage returns series sorted by labels; the order
        // decides float rounding in aggregations, so keep it.
        let mut sel = self.storage.select(|l| series_matches(vs, l));
        sel.sort_by(|a, b| {
            self.storage.series()[*a]
                .labels
                .cmp(&self.storage.series()[*b].labels)
        });
        let sel = Rc::new(sel);
        self.selections.borrow_mut().insert(key, Rc::clone(&sel));
        sel
    }

    fn ref_time(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t: i64) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.start,
            Some(AtModifier::End) => self.end,
            Some(AtModifier::At(st)) => system_time_ms(st),
        };
        base.saturating_sub(offset_ms(offset))
    }

    /// Evaluates one expression: the one place the evaluator recurses
    /// through, so the depth, the clock and the samples are accounted here.
    fn eval(&self, expr: &Expr, t: i64) -> Result<Value, QueryError> {
        self.budget.enter()?;
        let mark = self.budget.held();
        let v = self.eval_node(expr, t);
        self.budget.leave();
        let v = v?;
        self.budget.settle(mark, sample_count(&v))?;
        Ok(v)
    }

    fn eval_node(&self, expr: &Expr, t: i64) -> Result<Value, QueryError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => {
                let v = self.eval(&u.expr, t)?;
                negate(v)
            }
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.instant_selector(vs, t))),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => self.range_value(expr, t),
            Expr::Call(call) => self.eval_call(call, t),
            Expr::Aggregate(agg) => self.eval_aggregate(agg, t),
            Expr::Binary(b) => self.eval_binary(b, t),
            Expr::Extension(_) => err("extension expressions are not supported"),
        }
    }

    /// A range vector as a query's result.
    fn range_value(&self, expr: &Expr, t: i64) -> Result<Value, QueryError> {
        let (series, _, _) = self.range_arg(expr, t)?;
        Ok(Value::Matrix(to_output(series)))
    }

    fn instant_selector(&self, vs: &VectorSelector, t: i64) -> Vec<Element> {
        let r = self.ref_time(&vs.at, &vs.offset, t);
        let mut out = Vec::new();
        for &i in self.selected(vs).iter() {
            let s = &self.storage.series()[i];
            let idx = s.samples().partition_point(|p| p.t <= r);
            if idx == 0 {
                continue;
            }
            let p = s.samples()[idx - 1];
            if p.t < r - self.opts.lookback_ms || is_stale_nan(p.v) {
                continue;
            }
            out.push(Element {
                labels: s.labels.clone(),
                value: p.v,
                sample_t: Some(p.t),
            });
        }
        out
    }

    /// Samples in `[r - range, r]` per series, and the range bounds.
    fn range_selector(
        &self,
        vs: &VectorSelector,
        range: i64,
        t: i64,
    ) -> Result<(Vec<RangeData<'s>>, i64, i64), QueryError> {
        let r = self.ref_time(&vs.at, &vs.offset, t);
        let lo = r.saturating_sub(range);
        let mut out = Vec::new();
        let storage: &'s Storage = self.storage;
        for &i in self.selected(vs).iter() {
            self.budget.tick()?;
            let s = &storage.series()[i];
            let a = s.samples().partition_point(|p| p.t < lo);
            let b = s.samples().partition_point(|p| p.t <= r);
            let slice = &s.samples()[a..b];
            // Copy only when staleness markers have to be filtered out.
            let points = if s.stale_markers() > 0 && slice.iter().any(|p| is_stale_nan(p.v)) {
                Cow::Owned(
                    slice
                        .iter()
                        .filter(|p| !is_stale_nan(p.v))
                        .copied()
                        .collect(),
                )
            } else {
                Cow::Borrowed(slice)
            };
            if !points.is_empty() {
                self.budget.hold(points.len())?;
                out.push(RangeData {
                    labels: s.labels.clone(),
                    points,
                    resets: Some(s.resets_in(a, b)),
                });
            }
        }
        Ok((out, lo, r))
    }

    /// Evaluates a range-vector argument (a matrix selector or a subquery).
    fn range_arg(&self, expr: &Expr, t: i64) -> Result<(Vec<RangeData<'s>>, i64, i64), QueryError> {
        match expr {
            Expr::MatrixSelector(ms) => self.range_selector(&ms.vs, dur_ms(&ms.range), t),
            Expr::Paren(p) => self.range_arg(&p.expr, t),
            Expr::Subquery(sq) => {
                let r = self.ref_time(&sq.at, &sq.offset, t);
                let range = dur_ms(&sq.range);
                let step = sq
                    .step
                    .as_ref()
                    .map(dur_ms)
                    .filter(|s| *s > 0)
                    .unwrap_or(self.opts.default_subquery_step_ms);
                // Refused before any work: `[30d:1ms]` would take billions
                // of steps.
                let limit = self.budget.limits().max_points_per_series;
                let steps = i128::from(range) / i128::from(step);
                if steps > limit as i128 {
                    return Err(QueryError::Limit(format!(
                        "the subquery [{}:{}] exceeded maximum resolution of {} points per timeseries ({} steps). Try a larger subquery step",
                        promql_duration(range),
                        promql_duration(step),
                        grouped(limit as u128),
                        grouped(steps as u128)
                    )));
                }
                let lo = r.saturating_sub(range);
                let mut first = lo.div_euclid(step).saturating_mul(step);
                if first < lo {
                    first = first.saturating_add(step);
                }
                let mut series: HashMap<Labels, Vec<Sample>> = HashMap::new();
                let mut order: Vec<Labels> = Vec::new();
                let mut ts = first;
                while ts <= r {
                    let mut push = |labels: Labels, v: f64| {
                        let entry = series.entry(labels.clone()).or_insert_with(|| {
                            order.push(labels);
                            Vec::new()
                        });
                        entry.push(Sample { t: ts, v });
                    };
                    match self.eval(&sq.expr, ts)? {
                        Value::Scalar(v) => push(Labels::default(), v),
                        Value::Vector(els) => {
                            for e in els {
                                push(e.labels, e.value);
                            }
                        }
                        other => {
                            return err(format!(
                                "subquery is only allowed on instant vector, got {} instead",
                                other.type_name()
                            ))
                        }
                    }
                    match ts.checked_add(step) {
                        Some(next) => ts = next,
                        None => break,
                    }
                }
                let out = order
                    .into_iter()
                    .filter_map(|l| {
                        series.remove(&l).map(|points| RangeData {
                            labels: l,
                            points: Cow::Owned(points),
                            resets: None,
                        })
                    })
                    .collect();
                Ok((out, lo, r))
            }
            other => err(format!(
                "expected a range vector argument, got {}",
                match self.eval(other, t) {
                    Ok(v) => v.type_name(),
                    Err(_) => "an invalid expression",
                }
            )),
        }
    }

    fn scalar_arg(&self, expr: &Expr, t: i64) -> Result<f64, QueryError> {
        match self.eval(expr, t)? {
            Value::Scalar(v) => Ok(v),
            other => err(format!("expected scalar, got {}", other.type_name())),
        }
    }

    fn vector_arg(&self, expr: &Expr, t: i64) -> Result<Vec<Element>, QueryError> {
        match self.eval(expr, t)? {
            Value::Vector(v) => Ok(v),
            other => err(format!(
                "expected instant vector, got {}",
                other.type_name()
            )),
        }
    }

    fn string_arg(&self, expr: &Expr, t: i64) -> Result<String, QueryError> {
        match self.eval(expr, t)? {
            Value::String(s) => Ok(s),
            other => err(format!("expected string, got {}", other.type_name())),
        }
    }

    fn eval_call(&self, call: &Call, t: i64) -> Result<Value, QueryError> {
        let name = call.func.name;
        let args: Vec<&Expr> = call.args.args.iter().map(|b| b.as_ref()).collect();
        // One function per family rather than one giant match: the evaluator
        // recurses through here, and without optimisation every arm's locals
        // share one frame, which made each nesting level cost kilobytes of
        // stack in debug builds.
        match name {
            "rate"
            | "increase"
            | "delta"
            | "irate"
            | "idelta"
            | "deriv"
            | "predict_linear"
            | "changes"
            | "resets"
            | "avg_over_time"
            | "sum_over_time"
            | "count_over_time"
            | "min_over_time"
            | "max_over_time"
            | "last_over_time"
            | "present_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
            | "quantile_over_time"
            | "absent_over_time"
            | "double_exponential_smoothing" => self.call_over_range(name, &args, t),
            "histogram_quantile" => self.call_histogram_quantile(&args, t),
            "label_replace" => self.call_label_replace(&args, t),
            "label_join" => self.call_label_join(&args, t),
            "abs" | "ceil" | "floor" | "exp" | "ln" | "log2" | "log10" | "sqrt" | "sgn"
            | "round" | "clamp" | "clamp_min" | "clamp_max" | "minute" | "hour" | "day_of_week"
            | "day_of_month" | "day_of_year" | "days_in_month" | "month" | "year" | "sin"
            | "cos" | "tan" | "asin" | "acos" | "atan" | "sinh" | "cosh" | "tanh" | "asinh"
            | "acosh" | "atanh" | "deg" | "rad" => self.eval_elementwise(name, &args, t),
            _ => self.call_other(name, &args, t),
        }
    }

    fn call_over_range(&self, name: &str, args: &[&Expr], t: i64) -> Result<Value, QueryError> {
        // Scalar parameters first, as Prometheus evaluates them; the work
        // itself is in [`range_function`], off the recursion's path.
        let (matrix_idx, p1, p2) = match name {
            "predict_linear" => (0, Some(self.scalar_arg(nth_arg(name, args, 1)?, t)?), None),
            "quantile_over_time" => (1, Some(self.scalar_arg(nth_arg(name, args, 0)?, t)?), None),
            "double_exponential_smoothing" => (
                0,
                Some(self.scalar_arg(nth_arg(name, args, 1)?, t)?),
                Some(self.scalar_arg(nth_arg(name, args, 2)?, t)?),
            ),
            _ => (0, None, None),
        };
        if name == "double_exponential_smoothing" {
            check_smoothing(p1, p2)?;
        }
        let matrix = nth_arg(name, args, matrix_idx)?;
        let (series, lo, hi) = self.range_arg(matrix, t)?;
        range_function(name, matrix, series, lo, hi, t, p1, p2)
    }

    fn call_other(&self, name: &str, args: &[&Expr], t: i64) -> Result<Value, QueryError> {
        let first = match args.first() {
            Some(a) => Some(self.eval(a, t)?),
            None => None,
        };
        other_function(name, args.first().copied(), first, t)
    }

    fn call_histogram_quantile(&self, args: &[&Expr], t: i64) -> Result<Value, QueryError> {
        let name = "histogram_quantile";
        let q = self.scalar_arg(nth_arg(name, args, 0)?, t)?;
        let v = self.vector_arg(nth_arg(name, args, 1)?, t)?;
        Ok(histogram_quantile(q, v))
    }

    fn call_label_replace(&self, args: &[&Expr], t: i64) -> Result<Value, QueryError> {
        let name = "label_replace";
        let v = self.vector_arg(nth_arg(name, args, 0)?, t)?;
        let strings = self.string_args(name, args, 1, 5, t)?;
        label_replace(v, &strings)
    }

    fn call_label_join(&self, args: &[&Expr], t: i64) -> Result<Value, QueryError> {
        let name = "label_join";
        let v = self.vector_arg(nth_arg(name, args, 0)?, t)?;
        let strings = self.string_args(name, args, 1, args.len().max(3), t)?;
        label_join(v, &strings)
    }

    /// Arguments `from..to` as strings.
    fn string_args(
        &self,
        name: &str,
        args: &[&Expr],
        from: usize,
        to: usize,
        t: i64,
    ) -> Result<Vec<String>, QueryError> {
        let mut out = Vec::with_capacity(to.saturating_sub(from));
        for i in from..to {
            out.push(self.string_arg(nth_arg(name, args, i)?, t)?);
        }
        Ok(out)
    }

    fn eval_elementwise(&self, name: &str, args: &[&Expr], t: i64) -> Result<Value, QueryError> {
        let date_fn = matches!(
            name,
            "minute"
                | "hour"
                | "day_of_week"
                | "day_of_month"
                | "day_of_year"
                | "days_in_month"
                | "month"
                | "year"
        );
        let input = if date_fn && args.is_empty() {
            vec![elem(Labels::default(), t as f64 / 1000.0)]
        } else {
            let a = args
                .first()
                .ok_or_else(|| QueryError::Eval(format!("{name}: missing argument")))?;
            self.vector_arg(a, t)?
        };
        let s1 = match args.get(1) {
            Some(a) => Some(self.scalar_arg(a, t)?),
            None => None,
        };
        let s2 = match args.get(2) {
            Some(a) => Some(self.scalar_arg(a, t)?),
            None => None,
        };
        elementwise(name, input, s1, s2)
    }
}

/// The elementwise functions, applied to their evaluated arguments.
fn elementwise(
    name: &str,
    input: Vec<Element>,
    s1: Option<f64>,
    s2: Option<f64>,
) -> Result<Value, QueryError> {
    if name == "clamp" {
        if let (Some(lo), Some(hi)) = (s1, s2) {
            if hi < lo {
                return Ok(Value::Vector(vec![]));
            }
        }
    }
    let apply = |v: f64| -> f64 {
        match name {
            "abs" => v.abs(),
            "ceil" => v.ceil(),
            "floor" => v.floor(),
            "exp" => v.exp(),
            "ln" => v.ln(),
            "log2" => v.log2(),
            "log10" => v.log10(),
            "sqrt" => v.sqrt(),
            "sin" => v.sin(),
            "cos" => v.cos(),
            "tan" => v.tan(),
            "asin" => v.asin(),
            "acos" => v.acos(),
            "atan" => v.atan(),
            "sinh" => v.sinh(),
            "cosh" => v.cosh(),
            "tanh" => v.tanh(),
            "asinh" => v.asinh(),
            "acosh" => v.acosh(),
            "atanh" => v.atanh(),
            // Multiplied then divided, as Prometheus does: Rust's
            // to_degrees()/to_radians() multiply by a rounded ratio.
            "deg" => v * 180.0 / std::f64::consts::PI,
            "rad" => v * std::f64::consts::PI / 180.0,
            "sgn" => {
                if v > 0.0 {
                    1.0
                } else if v < 0.0 {
                    -1.0
                } else {
                    v
                }
            }
            "round" => {
                let inv = 1.0 / s1.unwrap_or(1.0);
                (v * inv + 0.5).floor() / inv
            }
            "clamp" => f::go_max(s1.unwrap_or(f64::NAN), f::go_min(s2.unwrap_or(f64::NAN), v)),
            "clamp_min" => f::go_max(s1.unwrap_or(f64::NAN), v),
            "clamp_max" => f::go_min(s1.unwrap_or(f64::NAN), v),
            _ => date_part(name, v),
        }
    };
    let out: Vec<Element> = input
        .into_iter()
        .map(|e| elem(e.labels.without_metric_name(), apply(e.value)))
        .collect();
    check_unique(&out)?;
    Ok(Value::Vector(out))
}

impl Engine<'_> {
    /// The operands are evaluated here and the aggregation done in
    /// [`Self::aggregate`], so that the recursion passes through a small frame.
    fn eval_aggregate(&self, agg: &AggregateExpr, t: i64) -> Result<Value, QueryError> {
        let op = agg.op.to_string();
        let input = self.vector_arg(&agg.expr, t)?;
        let param = match (&agg.param, op.as_str()) {
            (Some(p), "count_values") => Some(Param::Label(self.string_arg(p, t)?)),
            (Some(p), "topk" | "bottomk" | "quantile") => {
                Some(Param::Number(self.scalar_arg(p, t)?))
            }
            _ => None,
        };
        self.aggregate(agg, &op, input, param)
    }

    fn aggregate(
        &self,
        agg: &AggregateExpr,
        op: &str,
        input: Vec<Element>,
        param: Option<Param>,
    ) -> Result<Value, QueryError> {
        let empty: Vec<String> = Vec::new();
        let grouping = match &agg.modifier {
            None => Grouping::By(&empty),
            Some(LabelModifier::Include(l)) => Grouping::By(&l.labels),
            Some(LabelModifier::Exclude(l)) => Grouping::Without(&l.labels),
        };
        let mut groups: HashMap<Labels, Vec<Element>> = HashMap::new();
        let mut order: Vec<Labels> = Vec::new();
        let count_values_label = if op == "count_values" {
            let Some(Param::Label(l)) = param.clone() else {
                return err("count_values needs a label name");
            };
            if !is_valid_label_name(&l) {
                return err(format!("invalid label name {l:?}"));
            }
            Some(l)
        } else {
            None
        };
        for e in input {
            let mut key = grouping.key(&e.labels);
            if let Some(l) = &count_values_label {
                key.set(l.clone(), format_float(e.value));
            }
            groups
                .entry(key.clone())
                .or_insert_with(|| {
                    order.push(key);
                    Vec::new()
                })
                .push(e);
        }
        let param = match param {
            Some(Param::Number(v)) => Some(v),
            _ => None,
        };
        let mut out = Vec::new();
        for key in order {
            let Some(els) = groups.remove(&key) else {
                continue;
            };
            let vals = els.iter().map(|e| e.value);
            let v = match op {
                "sum" => vals.sum(),
                "avg" => f::incremental_mean(vals),
                "count" | "count_values" => els.len() as f64,
                "group" => 1.0,
                "min" => vals.fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m }),
                "max" => vals.fold(f64::NAN, |m, v| if m.is_nan() || v > m { v } else { m }),
                "stddev" => f::variance(vals).sqrt(),
                "stdvar" => f::variance(vals),
                "quantile" => f::quantile(param.unwrap_or(f64::NAN), &mut vals.collect::<Vec<_>>()),
                "topk" | "bottomk" => {
                    let k = param.unwrap_or(0.0);
                    if k.is_nan() {
                        return err("Parameter value is NaN");
                    }
                    if k < 1.0 {
                        continue;
                    }
                    let k = if k >= els.len() as f64 {
                        els.len()
                    } else {
                        k as usize
                    };
                    let top = op == "topk";
                    let mut sorted = els;
                    sorted.sort_by(|a, b| {
                        // NaN is the least wanted in both directions.
                        match (a.value.is_nan(), b.value.is_nan()) {
                            (true, true) => std::cmp::Ordering::Equal,
                            (true, false) => std::cmp::Ordering::Greater,
                            (false, true) => std::cmp::Ordering::Less,
                            _ if top => b.value.total_cmp(&a.value),
                            _ => a.value.total_cmp(&b.value),
                        }
                    });
                    for mut e in sorted.into_iter().take(k) {
                        e.sample_t = None;
                        out.push(e);
                    }
                    continue;
                }
                other => return err(format!("aggregation {other:?} is not supported")),
            };
            out.push(elem(key, v));
        }
        Ok(Value::Vector(out))
    }

    /// The operands are evaluated here and combined in [`Self::binary`], so
    /// that the recursion passes through a small frame.
    fn eval_binary(&self, b: &BinaryExpr, t: i64) -> Result<Value, QueryError> {
        let lhs = self.eval(&b.lhs, t)?;
        let rhs = self.eval(&b.rhs, t)?;
        self.binary(b, lhs, rhs)
    }

    fn binary(&self, b: &BinaryExpr, lhs: Value, rhs: Value) -> Result<Value, QueryError> {
        let op = b.op.to_string();
        let return_bool = b.return_bool();
        match (lhs, rhs) {
            (Value::Scalar(l), Value::Scalar(r)) => {
                let (v, keep) = binop(&op, l, r)?;
                if is_comparison(&op) {
                    Ok(Value::Scalar(if keep { 1.0 } else { 0.0 }))
                } else {
                    Ok(Value::Scalar(v))
                }
            }
            (Value::Vector(l), Value::Scalar(r)) => {
                self.vector_scalar(&op, l, r, false, return_bool)
            }
            (Value::Scalar(l), Value::Vector(r)) => {
                self.vector_scalar(&op, r, l, true, return_bool)
            }
            (Value::Vector(l), Value::Vector(r)) => {
                let matching = b.modifier.as_ref().and_then(|m| m.matching.clone());
                match op.as_str() {
                    "and" | "or" | "unless" => Ok(Value::Vector(set_op(&op, l, r, &matching))),
                    _ => {
                        let card = b
                            .modifier
                            .as_ref()
                            .map(|m| m.card.clone())
                            .unwrap_or(VectorMatchCardinality::OneToOne);
                        let out = vector_binop(&op, l, r, &matching, &card, return_bool)?;
                        Ok(Value::Vector(out))
                    }
                }
            }
            (l, r) => err(format!(
                "binary expression must contain only scalar and instant vector types, got {} {op} {}",
                l.type_name(),
                r.type_name()
            )),
        }
    }

    fn vector_scalar(
        &self,
        op: &str,
        vector: Vec<Element>,
        scalar: f64,
        swap: bool,
        return_bool: bool,
    ) -> Result<Value, QueryError> {
        let mut out = Vec::with_capacity(vector.len());
        for e in vector {
            let (lv, rv) = if swap {
                (scalar, e.value)
            } else {
                (e.value, scalar)
            };
            let (mut value, mut keep) = binop(op, lv, rv)?;
            if is_comparison(op) && swap {
                // The vector's value is kept even when it is on the right.
                value = rv;
            }
            if return_bool {
                value = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            if keep {
                let labels = if drops_metric_name(op) || return_bool {
                    e.labels.without_metric_name()
                } else {
                    e.labels
                };
                out.push(elem(labels, value));
            }
        }
        Ok(Value::Vector(out))
    }
}

fn negate(v: Value) -> Result<Value, QueryError> {
    match v {
        Value::Scalar(v) => Ok(Value::Scalar(-v)),
        Value::Vector(els) => Ok(Value::Vector(
            els.into_iter()
                .map(|e| elem(e.labels.without_metric_name(), -e.value))
                .collect(),
        )),
        other => err(format!(
            "unary expression only allowed on expressions of type scalar or instant vector, got {:?}",
            other.type_name()
        )),
    }
}

fn signature(l: &Labels, matching: &Option<LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(ls)) => l.keep_only(&ls.labels),
        Some(LabelModifier::Exclude(ls)) => l.without(&ls.labels, true),
        None => l.without(&[], true),
    }
}

fn set_op(
    op: &str,
    lhs: Vec<Element>,
    rhs: Vec<Element>,
    matching: &Option<LabelModifier>,
) -> Vec<Element> {
    let strip = |mut e: Element| {
        e.sample_t = None;
        e
    };
    match op {
        "and" => {
            let right: std::collections::HashSet<Labels> =
                rhs.iter().map(|e| signature(&e.labels, matching)).collect();
            lhs.into_iter()
                .filter(|e| right.contains(&signature(&e.labels, matching)))
                .map(strip)
                .collect()
        }
        "or" => {
            let left: std::collections::HashSet<Labels> =
                lhs.iter().map(|e| signature(&e.labels, matching)).collect();
            let mut out: Vec<Element> = lhs.into_iter().map(strip).collect();
            out.extend(
                rhs.into_iter()
                    .filter(|e| !left.contains(&signature(&e.labels, matching)))
                    .map(strip),
            );
            out
        }
        _ => {
            let right: std::collections::HashSet<Labels> =
                rhs.iter().map(|e| signature(&e.labels, matching)).collect();
            lhs.into_iter()
                .filter(|e| !right.contains(&signature(&e.labels, matching)))
                .map(strip)
                .collect()
        }
    }
}

fn vector_binop(
    op: &str,
    lhs: Vec<Element>,
    rhs: Vec<Element>,
    matching: &Option<LabelModifier>,
    card: &VectorMatchCardinality,
    return_bool: bool,
) -> Result<Vec<Element>, QueryError> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(vec![]);
    }
    let one_to_many = matches!(card, VectorMatchCardinality::OneToMany(_));
    let one_to_one = matches!(
        card,
        VectorMatchCardinality::OneToOne | VectorMatchCardinality::ManyToMany
    );
    // For group_right, the right side is the "many" side: swap and remember.
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_sigs: HashMap<Labels, &Element> = HashMap::with_capacity(one.len());
    for e in &one {
        let sig = signature(&e.labels, matching);
        if let Some(prev) = one_sigs.get(&sig) {
            let side = if one_to_many { "left" } else { "right" };
            return err(if one_to_one {
                format!(
                    "found duplicate series for the match group {sig} on the right hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    prev.labels, e.labels
                )
            } else {
                format!(
                    "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    prev.labels, e.labels
                )
            });
        }
        one_sigs.insert(sig, e);
    }
    let include: &[String] = match card {
        VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => &l.labels,
        _ => &[],
    };
    let mut matched: HashMap<Labels, std::collections::HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for m in &many {
        let sig = signature(&m.labels, matching);
        let Some(o) = one_sigs.get(&sig) else {
            continue;
        };
        let (lv, rv) = if one_to_many {
            (o.value, m.value)
        } else {
            (m.value, o.value)
        };
        let (mut value, keep) = binop(op, lv, rv)?;
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let mut metric = m.labels.clone();
        if drops_metric_name(op) || return_bool {
            metric.remove(METRIC_NAME);
        }
        if one_to_one {
            match matching {
                Some(LabelModifier::Include(ls)) => metric = metric.keep_only(&ls.labels),
                Some(LabelModifier::Exclude(ls)) => metric = metric.without(&ls.labels, false),
                None => {}
            }
        }
        for name in include {
            match o.labels.get(name) {
                Some(v) => metric.set(name.clone(), v),
                None => metric.remove(name),
            }
        }
        let seen = matched.entry(sig).or_default();
        if one_to_one {
            if !seen.is_empty() {
                return err("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
            }
        } else if seen.contains(&metric) {
            return err("multiple matches for labels: grouping labels must ensure unique matches");
        }
        seen.insert(metric.clone());
        out.push(elem(metric, value));
    }
    Ok(out)
}

/// Refuses smoothing and trend factors outside (0, 1).
fn check_smoothing(sf: Option<f64>, tf: Option<f64>) -> Result<(), QueryError> {
    let (sf, tf) = (sf.unwrap_or(f64::NAN), tf.unwrap_or(f64::NAN));
    // Negated comparisons so NaN factors are refused too.
    if !(sf > 0.0 && sf < 1.0) {
        return err(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf}"
        ));
    }
    if !(tf > 0.0 && tf < 1.0) {
        return err(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf}"
        ));
    }
    Ok(())
}

/// The functions over a range vector, applied to the evaluated range
/// (`matrix` is its expression, for `absent_over_time`'s labels): one output
/// per series.
#[expect(
    clippy::too_many_arguments,
    reason = "the evaluated arguments, passed through"
)]
fn range_function(
    name: &str,
    matrix: &Expr,
    series: Vec<RangeData<'_>>,
    lo: i64,
    hi: i64,
    t: i64,
    p1: Option<f64>,
    p2: Option<f64>,
) -> Result<Value, QueryError> {
    if name == "absent_over_time" {
        return Ok(Value::Vector(if series.is_empty() {
            vec![elem(absent_labels(matrix), 1.0)]
        } else {
            vec![]
        }));
    }
    let values = |p: &[Sample]| p.iter().map(|x| x.v).collect::<Vec<f64>>();
    let (secs, q) = (p1.unwrap_or(f64::NAN), p1.unwrap_or(f64::NAN));
    let (sf, tf) = (p1.unwrap_or(f64::NAN), p2.unwrap_or(f64::NAN));
    let fun: &RangeFn = match name {
        "rate" => &|p, r, lo, hi| f::extrapolated_rate(p, r, lo, hi, true, true),
        "increase" => &|p, r, lo, hi| f::extrapolated_rate(p, r, lo, hi, true, false),
        "delta" => &|p, r, lo, hi| f::extrapolated_rate(p, r, lo, hi, false, false),
        "irate" => &|p, _, _, _| f::instant_value(p, true),
        "idelta" => &|p, _, _, _| f::instant_value(p, false),
        "deriv" => &|p, _, _, _| (p.len() >= 2).then(|| f::linear_regression(p, p[0].t).0),
        "predict_linear" => &|p, _, _, _| {
            (p.len() >= 2).then(|| {
                let (slope, intercept) = f::linear_regression(p, t);
                slope * secs + intercept
            })
        },
        "changes" => &|p, _, _, _| {
            Some(
                p.windows(2)
                    .filter(|w| w[0].v != w[1].v && !(w[0].v.is_nan() && w[1].v.is_nan()))
                    .count() as f64,
            )
        },
        "resets" => &|p, r, _, _| {
            Some(match r {
                Some(r) => r.len() as f64,
                None => p.windows(2).filter(|w| w[1].v < w[0].v).count() as f64,
            })
        },
        "avg_over_time" => &|p, _, _, _| Some(f::kahan_mean(p.iter().map(|x| x.v))),
        "sum_over_time" => &|p, _, _, _| Some(f::kahan_sum(p.iter().map(|x| x.v))),
        "count_over_time" => &|p, _, _, _| Some(p.len() as f64),
        "min_over_time" => &|p, _, _, _| {
            Some(p.iter().map(|x| x.v).fold(
                f64::NAN,
                |m, v| {
                    if m.is_nan() || v < m {
                        v
                    } else {
                        m
                    }
                },
            ))
        },
        "max_over_time" => &|p, _, _, _| {
            Some(p.iter().map(|x| x.v).fold(
                f64::NAN,
                |m, v| {
                    if m.is_nan() || v > m {
                        v
                    } else {
                        m
                    }
                },
            ))
        },
        "last_over_time" => &|p, _, _, _| p.last().map(|x| x.v),
        "present_over_time" => &|_, _, _, _| Some(1.0),
        "stddev_over_time" => &|p, _, _, _| Some(f::kahan_variance(values(p)).sqrt()),
        "stdvar_over_time" => &|p, _, _, _| Some(f::kahan_variance(values(p))),
        "quantile_over_time" => &|p, _, _, _| Some(f::quantile(q, &mut values(p))),
        "double_exponential_smoothing" => &|p, _, _, _| f::double_exponential_smoothing(p, sf, tf),
        other => {
            return err(format!(
                "function {other:?} is not supported by this evaluator"
            ))
        }
    };
    let keep_name = name == "last_over_time";
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        if let Some(v) = fun(&s.points, s.resets, lo, hi) {
            let labels = if keep_name {
                s.labels
            } else {
                s.labels.without_metric_name()
            };
            out.push(elem(labels, v));
        }
    }
    check_unique(&out)?;
    Ok(Value::Vector(out))
}

fn want_vector(name: &str, v: Option<Value>) -> Result<Vec<Element>, QueryError> {
    match v {
        Some(Value::Vector(v)) => Ok(v),
        Some(other) => err(format!(
            "expected instant vector, got {}",
            other.type_name()
        )),
        None => err(format!("{name}: missing argument 1")),
    }
}

/// `absent`, `time`, `pi`, `vector`, `scalar`, `timestamp`, `sort` and
/// `sort_desc`, given their evaluated first argument (`first_expr` is its
/// expression, for `absent`'s labels).
fn other_function(
    name: &str,
    first_expr: Option<&Expr>,
    first: Option<Value>,
    t: i64,
) -> Result<Value, QueryError> {
    match name {
        "absent" => {
            let v = want_vector(name, first)?;
            Ok(Value::Vector(match (v.is_empty(), first_expr) {
                (true, Some(e)) => vec![elem(absent_labels(e), 1.0)],
                _ => vec![],
            }))
        }
        "time" => Ok(Value::Scalar(t as f64 / 1000.0)),
        "pi" => Ok(Value::Scalar(std::f64::consts::PI)),
        "vector" => match first {
            Some(Value::Scalar(v)) => Ok(Value::Vector(vec![elem(Labels::default(), v)])),
            Some(other) => err(format!("expected scalar, got {}", other.type_name())),
            None => err(format!("{name}: missing argument 1")),
        },
        "scalar" => {
            let v = want_vector(name, first)?;
            Ok(Value::Scalar(if v.len() == 1 {
                v[0].value
            } else {
                f64::NAN
            }))
        }
        "timestamp" => {
            let v = want_vector(name, first)?;
            let out: Vec<Element> = v
                .into_iter()
                .map(|e| {
                    let ts = e.sample_t.unwrap_or(t);
                    elem(e.labels.without_metric_name(), ts as f64 / 1000.0)
                })
                .collect();
            check_unique(&out)?;
            Ok(Value::Vector(out))
        }
        "sort" | "sort_desc" => {
            let mut v = want_vector(name, first)?;
            let desc = name == "sort_desc";
            v.sort_by(|a, b| {
                // NaN always sorts last.
                match (a.value.is_nan(), b.value.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if desc => b.value.total_cmp(&a.value),
                    _ => a.value.total_cmp(&b.value),
                }
            });
            Ok(Value::Vector(v))
        }
        other => err(format!(
            "function {other:?} is not supported by this evaluator"
        )),
    }
}

fn histogram_quantile(q: f64, v: Vec<Element>) -> Value {
    let mut groups: HashMap<Labels, Vec<Bucket>> = HashMap::new();
    let mut order = Vec::new();
    for e in v {
        let Some(upper) = e.labels.get("le").and_then(super::store::parse_float) else {
            continue;
        };
        // The metric name is part of the grouping (so two histograms
        // with equal labels are not merged) but is dropped from the output.
        let key = e.labels.without(&["le".to_string()], false);
        groups
            .entry(key.clone())
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push(Bucket {
                upper,
                count: e.value,
            });
    }
    let mut out = Vec::new();
    for key in order {
        if let Some(mut buckets) = groups.remove(&key) {
            let v = f::bucket_quantile(q, &mut buckets);
            out.push(elem(key.without_metric_name(), v));
        }
    }
    Value::Vector(out)
}

/// `label_replace(v, dst, replacement, src, regex)`, `strings` being the last four.
fn label_replace(v: Vec<Element>, strings: &[String]) -> Result<Value, QueryError> {
    let [dst, repl, src, re_src] = strings else {
        return err("label_replace: expected 5 arguments");
    };
    let re = regex::Regex::new(&format!("^(?:{re_src})$")).map_err(|e| {
        QueryError::Eval(format!(
            "invalid regular expression in label_replace(): {e}"
        ))
    })?;
    if !is_valid_label_name(dst) {
        return err(format!(
            "invalid destination label name in label_replace(): {dst}"
        ));
    }
    let template = go_template_to_rust(repl);
    let mut out = Vec::with_capacity(v.len());
    for mut e in v {
        let src_val = e.labels.value(src).to_string();
        if let Some(caps) = re.captures(&src_val) {
            let mut res = String::new();
            caps.expand(&template, &mut res);
            e.labels.set(dst.clone(), res);
        }
        e.sample_t = None;
        out.push(e);
    }
    check_unique(&out)?;
    Ok(Value::Vector(out))
}

/// `label_join(v, dst, separator, src...)`, `strings` being all but `v`.
fn label_join(v: Vec<Element>, strings: &[String]) -> Result<Value, QueryError> {
    let [dst, sep, srcs @ ..] = strings else {
        return err("label_join: expected at least 3 arguments");
    };
    if !is_valid_label_name(dst) {
        return err(format!(
            "invalid destination label name in label_join(): {dst}"
        ));
    }
    if let Some(src) = srcs.iter().find(|s| !is_valid_label_name(s)) {
        return err(format!("invalid source label name in label_join(): {src}"));
    }
    let mut out = Vec::with_capacity(v.len());
    for mut e in v {
        let joined = srcs
            .iter()
            .map(|s| e.labels.value(s).to_string())
            .collect::<Vec<_>>()
            .join(sep);
        e.labels.set(dst.clone(), joined);
        e.sample_t = None;
        out.push(e);
    }
    check_unique(&out)?;
    Ok(Value::Vector(out))
}

/// Argument `i` of the call to `name`.
fn nth_arg<'e>(name: &str, args: &[&'e Expr], i: usize) -> Result<&'e Expr, QueryError> {
    args.get(i)
        .copied()
        .ok_or_else(|| QueryError::Eval(format!("{name}: missing argument {}", i + 1)))
}

/// The labels `absent()` reports: the equality matchers of a plain selector.
fn absent_labels(expr: &Expr) -> Labels {
    let vs = match expr {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let mut out = Labels::default();
    let mut dup: Vec<String> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME || !matches!(m.op, promql_parser::label::MatchOp::Equal) {
            continue;
        }
        if out.get(&m.name).is_some() {
            dup.push(m.name.clone());
        }
        out.set(m.name.clone(), m.value.clone());
    }
    for d in dup {
        out.remove(&d);
    }
    out
}

fn is_valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Go's regexp templates use `$1`/`${1}`/`$name` like Rust's, but Rust reads
/// `$1x` as group "1x"; Go reads the longest name too, so they agree. Only
/// `$$` needs no change. Kept as a function in case of future divergences.
fn go_template_to_rust(s: &str) -> String {
    s.to_string()
}

fn date_part(name: &str, secs: f64) -> f64 {
    if !secs.is_finite() {
        return f64::NAN;
    }
    let total = secs.floor() as i64;
    let days = total.div_euclid(86_400);
    let sod = total.rem_euclid(86_400);
    let (y, m, d) = f::civil_from_days(days);
    match name {
        "minute" => ((sod / 60) % 60) as f64,
        "hour" => (sod / 3600) as f64,
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_month" => f64::from(d),
        "day_of_year" => {
            let cum = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
            let leap = i64::from(f::is_leap(y) && m > 2);
            (cum[(m - 1) as usize] + i64::from(d) + leap) as f64
        }
        "days_in_month" => match m {
            2 if f::is_leap(y) => 29.0,
            2 => 28.0,
            4 | 6 | 9 | 11 => 30.0,
            _ => 31.0,
        },
        "month" => f64::from(m),
        "year" => y as f64,
        _ => f64::NAN,
    }
}
