//! What one query may use: its size, how deep it nests, the samples it holds,
//! the points per series it computes, and the time it runs.
//!
//! Learners type PromQL into lab files and into the "query the run's series"
//! box, so every query is hostile input. Prometheus guards its engine with
//! `--query.max-samples`, `--query.timeout` and an 11,000-points-per-series
//! cap on range queries; this engine has the same guards plus two that Go's
//! growable stacks make unnecessary there: a size limit and a nesting limit
//! checked on the text *before* the parser (whose tree code recurses) sees it.
//!
//! [`QueryLimits`] holds the numbers; [`QueryContext`] adds what can stop a
//! query from outside (an absolute deadline and a cancellation check). Every
//! entry point takes a context; the ones without one use
//! [`QueryContext::default`], i.e. [`QueryLimits::default`].

use std::cell::Cell;
use std::fmt;
use std::time::{Duration, Instant};

use promql_parser::parser::Expr;

use super::eval::QueryError;

/// Default [`QueryLimits::max_query_bytes`]: 16 KiB, far above any query a
/// person writes by hand.
pub const DEFAULT_MAX_QUERY_BYTES: usize = 16 * 1024;
/// Default [`QueryLimits::max_depth`].
pub const DEFAULT_MAX_DEPTH: usize = 200;
/// Default [`QueryLimits::max_samples`]: a tenth of Prometheus's default
/// (50,000,000), sized for a learner's sandbox rather than a server.
pub const DEFAULT_MAX_SAMPLES: usize = 5_000_000;
/// Default [`QueryLimits::max_points_per_series`]: Prometheus's fixed limit.
pub const DEFAULT_MAX_POINTS_PER_SERIES: usize = 11_000;
/// Default [`QueryLimits::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often (in evaluation steps) the deadline and the cancellation check are
/// looked at: often enough to stop within milliseconds, rarely enough that
/// reading the clock costs nothing measurable.
const CHECK_EVERY: u32 = 32;

/// The resource limits of one query. [`Default`] gives the values a learner's
/// query runs under; every field can be raised or lowered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// The longest query text accepted, in bytes (default 16 KiB).
    pub max_query_bytes: usize,
    /// How deeply expressions may nest: parentheses, function calls,
    /// aggregations, subqueries and every operator of a chain such as
    /// `a + b + c` count one level each (default 200). Checked on the text
    /// before parsing and on the syntax tree before evaluation, so neither the
    /// parser nor the evaluator recurses deeper than this.
    pub max_depth: usize,
    /// The most samples a query may hold in memory at once — points loaded by
    /// range selectors, points gathered by subqueries and range queries, and
    /// intermediate vectors (default 5,000,000). Prometheus's
    /// `--query.max-samples`.
    pub max_samples: usize,
    /// The most points one series may get from a range query or a subquery
    /// (default 11,000, Prometheus's limit). Checked before any work, so
    /// `[30d:1ms]` is refused at once.
    pub max_points_per_series: usize,
    /// How long one query may run (default 10 s); `None` for no limit.
    /// Prometheus's `--query.timeout`.
    pub timeout: Option<Duration>,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_query_bytes: DEFAULT_MAX_QUERY_BYTES,
            max_depth: DEFAULT_MAX_DEPTH,
            max_samples: DEFAULT_MAX_SAMPLES,
            max_points_per_series: DEFAULT_MAX_POINTS_PER_SERIES,
            timeout: Some(DEFAULT_TIMEOUT),
        }
    }
}

/// A cancellation check: returns `true` once the query should stop (e.g.
/// `&|| token.is_cancelled()` or `&|| flag.load(Ordering::Relaxed)`).
pub type CancelCheck<'a> = &'a (dyn Fn() -> bool + Send + Sync);

/// The limits of a query and what can stop it from outside.
#[derive(Clone, Copy, Default)]
pub struct QueryContext<'a> {
    /// Size, depth, samples, points and the per-query timeout.
    pub limits: QueryLimits,
    /// An absolute deadline, on top of [`QueryLimits::timeout`] (e.g. the end
    /// of a whole grading run); whichever comes first stops the query.
    pub deadline: Option<Instant>,
    /// Checked every few evaluation steps; the query fails with "query
    /// cancelled" once it returns `true`.
    pub cancelled: Option<CancelCheck<'a>>,
}

impl fmt::Debug for QueryContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryContext")
            .field("limits", &self.limits)
            .field("deadline", &self.deadline)
            .field("cancelled", &self.cancelled.map(|c| c()))
            .finish()
    }
}

impl<'a> QueryContext<'a> {
    /// A context with these limits, no deadline and no cancellation.
    pub fn new(limits: QueryLimits) -> Self {
        Self {
            limits,
            deadline: None,
            cancelled: None,
        }
    }

    /// The same context with an absolute deadline.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The same context with a cancellation check.
    #[must_use]
    pub fn with_cancel(mut self, cancelled: CancelCheck<'a>) -> Self {
        self.cancelled = Some(cancelled);
        self
    }

    /// Whether the cancellation check says stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.is_some_and(|c| c())
    }
}

/// `12345` → `12,345`.
pub(crate) fn grouped(n: u128) -> String {
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

/// `10 s`, `1.5 s`, `250 ms`.
pub(crate) fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        let ms = d.as_millis();
        if ms.is_multiple_of(1000) {
            format!("{} s", grouped(ms / 1000))
        } else {
            format!("{} s", super::value::format_float(d.as_secs_f64()))
        }
    }
}

/// Checks the text of a query against the size and nesting limits. Runs in
/// time linear in the text and without recursion, so it is safe on any input;
/// call it before handing the text to the parser.
pub fn check_query_text(query: &str, limits: &QueryLimits) -> Result<(), QueryError> {
    if query.len() > limits.max_query_bytes {
        return Err(QueryError::Limit(format!(
            "the query is {} bytes long; the limit is {} bytes",
            grouped(query.len() as u128),
            grouped(limits.max_query_bytes as u128)
        )));
    }
    let depth = nesting_bound(query);
    if depth > limits.max_depth {
        return Err(too_deep(depth, limits.max_depth));
    }
    Ok(())
}

fn too_deep(depth: usize, limit: usize) -> QueryError {
    QueryError::Limit(format!(
        "the query nests {} levels deep; the limit is {}",
        grouped(depth as u128),
        grouped(limit as u128)
    ))
}

/// An upper bound on the depth of the syntax tree the parser would build
/// from `q`, computed from its tokens alone.
///
/// Every node of the tree comes from one token: binary and unary operators
/// from their operator, subqueries (and matrix selectors) from `[`, and
/// parentheses, calls and aggregations from `(`. Within one pair of
/// parentheses the path from the root down can pass each operator at most
/// once and enter at most one inner pair, so the depth of a group is at most
/// its operator count plus the deepest inner group plus one. Where this scan
/// and the parser's lexer could disagree (`1e+5`, `=` inside braces), the
/// scan counts more, never less; text the lexer rejects never reaches the
/// parser at all.
pub(crate) fn nesting_bound(q: &str) -> usize {
    // (operators directly inside, deepest inner group + 1)
    let mut stack: Vec<(usize, usize)> = vec![(0, 0)];
    fn close(stack: &mut Vec<(usize, usize)>) {
        if stack.len() < 2 {
            return; // an unbalanced `)`: the parser reports it
        }
        let (ops, inner) = stack.pop().unwrap_or_default();
        let depth = ops.saturating_add(inner.max(1));
        if let Some(top) = stack.last_mut() {
            top.1 = top.1.max(depth.saturating_add(1));
        }
    }
    let b = q.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'#' => i = skip_comment(b, i),
            b'"' | b'\'' | b'`' => i = skip_string(b, i),
            b'{' => {
                // Label matchers: strings, names and `=`/`=~`/`!=`/`!~`, no
                // expressions.
                i += 1;
                while i < b.len() && b[i] != b'}' {
                    i = match b[i] {
                        b'"' | b'\'' | b'`' => skip_string(b, i),
                        b'#' => skip_comment(b, i),
                        _ => i + 1,
                    };
                }
                i += 1;
            }
            b'[' => {
                // A range or a subquery: durations and a colon only.
                if let Some(top) = stack.last_mut() {
                    top.0 = top.0.saturating_add(1);
                }
                while i < b.len() && b[i] != b']' {
                    i += 1;
                }
                i += 1;
            }
            b'(' => {
                stack.push((0, 0));
                i += 1;
            }
            b')' => {
                close(&mut stack);
                i += 1;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' => {
                if let Some(top) = stack.last_mut() {
                    top.0 = top.0.saturating_add(1);
                }
                i += 1;
            }
            b'=' | b'!' | b'<' | b'>' => {
                // `==`, `!=`, `<=`, `>=`: one operator.
                if let Some(top) = stack.last_mut() {
                    top.0 = top.0.saturating_add(1);
                }
                i += 1;
                while i < b.len() && matches!(b[i], b'=' | b'!' | b'<' | b'>' | b'~') {
                    i += 1;
                }
            }
            b'0'..=b'9' | b'.' => {
                // Numbers and durations; the lexer rejects a number that runs
                // straight into a name, so none hides an `and` or `or`.
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &q[start..i];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                {
                    if let Some(top) = stack.last_mut() {
                        top.0 = top.0.saturating_add(1);
                    }
                }
            }
            _ => i += 1,
        }
    }
    while stack.len() > 1 {
        close(&mut stack);
    }
    let (ops, inner) = stack.pop().unwrap_or_default();
    ops.saturating_add(inner.max(1))
}

/// The index just past a quoted string starting at `i` (the lexer's rule: a
/// backslash always takes the next character, in every kind of quote).
fn skip_string(b: &[u8], i: usize) -> usize {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// The index of the line break ending a `#` comment (or the end).
fn skip_comment(b: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < b.len() && b[j] != b'\n' && b[j] != b'\r' {
        j += 1;
    }
    j
}

/// The depth of a syntax tree, walked with an explicit stack so that a tree
/// built some other way than from checked text cannot overflow the stack here.
pub fn expr_depth(expr: &Expr) -> usize {
    let mut deepest = 0;
    let mut todo: Vec<(&Expr, usize)> = vec![(expr, 1)];
    while let Some((e, d)) = todo.pop() {
        deepest = deepest.max(d);
        match e {
            Expr::Aggregate(a) => {
                todo.push((&a.expr, d + 1));
                if let Some(p) = &a.param {
                    todo.push((p, d + 1));
                }
            }
            Expr::Unary(u) => todo.push((&u.expr, d + 1)),
            Expr::Binary(b) => {
                todo.push((&b.lhs, d + 1));
                todo.push((&b.rhs, d + 1));
            }
            Expr::Paren(p) => todo.push((&p.expr, d + 1)),
            Expr::Subquery(s) => todo.push((&s.expr, d + 1)),
            Expr::Call(c) => todo.extend(c.args.args.iter().map(|a| (a.as_ref(), d + 1))),
            Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::VectorSelector(_)
            | Expr::MatrixSelector(_)
            | Expr::Extension(_) => {}
        }
    }
    deepest
}

/// Checks a syntax tree against the depth limit.
pub fn check_expr_depth(expr: &Expr, limits: &QueryLimits) -> Result<(), QueryError> {
    let depth = expr_depth(expr);
    if depth > limits.max_depth {
        return Err(too_deep(depth, limits.max_depth));
    }
    Ok(())
}

/// The message of [`QueryLimits::max_points_per_series`] for a range query,
/// as Prometheus words it.
pub(crate) fn too_many_points(limit: usize) -> QueryError {
    QueryError::Limit(format!(
        "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
        grouped(limit as u128)
    ))
}

/// The running account of one query: samples held, recursion depth, and the
/// clock and cancellation checks.
pub(crate) struct Budget<'a> {
    limits: QueryLimits,
    /// When the query must stop and how long it had (for the message).
    deadline: Cell<Option<(Instant, Duration)>>,
    absolute: Option<Instant>,
    cancelled: Option<CancelCheck<'a>>,
    samples: Cell<usize>,
    depth: Cell<usize>,
    ticks: Cell<u32>,
}

impl<'a> Budget<'a> {
    pub(crate) fn new(ctx: &QueryContext<'a>) -> Self {
        let b = Self {
            limits: ctx.limits,
            deadline: Cell::new(None),
            absolute: ctx.deadline,
            cancelled: ctx.cancelled,
            samples: Cell::new(0),
            depth: Cell::new(0),
            ticks: Cell::new(0),
        };
        b.start();
        b
    }

    pub(crate) fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// Starts a new query on this account: nothing held, the timeout's clock
    /// restarted.
    pub(crate) fn start(&self) {
        let now = Instant::now();
        let by_timeout = self
            .limits
            .timeout
            .and_then(|d| now.checked_add(d).map(|at| (at, d)));
        let by_deadline = self
            .absolute
            .map(|at| (at, at.saturating_duration_since(now)));
        self.deadline.set(match (by_timeout, by_deadline) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        });
        self.samples.set(0);
        self.depth.set(0);
        self.ticks.set(0);
    }

    /// Fails if the query was cancelled or its time is up.
    pub(crate) fn check_now(&self) -> Result<(), QueryError> {
        if self.cancelled.is_some_and(|c| c()) {
            return Err(QueryError::Cancelled);
        }
        if let Some((at, budget)) = self.deadline.get() {
            if Instant::now() >= at {
                return Err(QueryError::Timeout(budget));
            }
        }
        Ok(())
    }

    /// One step of work: every [`CHECK_EVERY`] steps, [`Self::check_now`].
    pub(crate) fn tick(&self) -> Result<(), QueryError> {
        let n = self.ticks.get().wrapping_add(1);
        self.ticks.set(n);
        if n.is_multiple_of(CHECK_EVERY) {
            self.check_now()
        } else {
            Ok(())
        }
    }

    /// Entering one level of the evaluator's recursion.
    pub(crate) fn enter(&self) -> Result<(), QueryError> {
        let d = self.depth.get() + 1;
        if d > self.limits.max_depth {
            return Err(too_deep(d, self.limits.max_depth));
        }
        self.depth.set(d);
        self.tick()
    }

    /// Leaving it.
    pub(crate) fn leave(&self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }

    /// The samples held now (to hand to [`Self::settle`]).
    pub(crate) fn held(&self) -> usize {
        self.samples.get()
    }

    /// `n` more samples are held.
    pub(crate) fn hold(&self, n: usize) -> Result<(), QueryError> {
        let now = self.samples.get().saturating_add(n);
        if now > self.limits.max_samples {
            return Err(self.too_many_samples());
        }
        self.samples.set(now);
        Ok(())
    }

    /// An expression finished with a result of `n` samples: everything its
    /// operands held since `mark` is let go, and the result is held instead.
    /// The operands and the result exist together for a moment, so that is
    /// what is checked.
    pub(crate) fn settle(&self, mark: usize, n: usize) -> Result<(), QueryError> {
        if self.samples.get().saturating_add(n) > self.limits.max_samples {
            return Err(self.too_many_samples());
        }
        self.samples.set(mark.saturating_add(n));
        Ok(())
    }

    fn too_many_samples(&self) -> QueryError {
        QueryError::Limit(format!(
            "query processing would load too many samples into memory in query execution (the limit is {} samples)",
            grouped(self.limits.max_samples as u128)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_of(q: &str) -> usize {
        expr_depth(&promql_parser::parser::parse(q).expect("valid"))
    }

    #[test]
    fn the_text_bound_is_never_below_the_tree_depth() {
        for q in [
            "1",
            "1 + 2 * 3 ^ 4",
            "-(-(1))",
            "sum by (job) (rate(x{a=\"(\"}[5m]))",
            "max_over_time(rate(x[1m])[10m:1m]) / on (a) group_left (b) y",
            "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
            "a and b or c unless d atan2 e",
            "1e+5 + 0x1F - .5",
            "x @ start() offset 5m > bool 3",
            "label_replace(x, \"dst\", \"$1\", \"src\", \"(.*)\\\\\\\"\")",
            "# a comment (((\nx",
            "count_values(\"v\", x) == ignoring(a) y",
        ] {
            assert!(
                nesting_bound(q) >= depth_of(q),
                "{q}: bound {} < depth {}",
                nesting_bound(q),
                depth_of(q)
            );
        }
    }

    #[test]
    fn chains_and_parentheses_count_their_length() {
        let chain = vec!["1"; 1000].join("+");
        assert_eq!(nesting_bound(&chain), 1000);
        let parens = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert_eq!(nesting_bound(&parens), 501);
        // Unbalanced text still gets a bound; the parser reports the error.
        assert!(nesting_bound(&"(".repeat(300)) >= 300);
        assert_eq!(nesting_bound("x{a=~\"((((((\"}"), 1);
    }

    #[test]
    fn numbers_group_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(5000), "5,000");
        assert_eq!(grouped(50_000_000), "50,000,000");
        assert_eq!(human_duration(Duration::from_secs(10)), "10 s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human_duration(Duration::from_millis(250)), "250 ms");
    }
}
