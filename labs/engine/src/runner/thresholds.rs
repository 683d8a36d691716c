//! k6 threshold expressions (`p(95)<500`, `rate<0.01`, `count>=10`) and
//! metric selectors with tag filters (`http_req_duration{name:checkout}`).

use thiserror::Error;

/// A threshold or selector k6 would reject.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum ThresholdError {
    /// The expression does not parse.
    #[error("failed parsing threshold expression {expr:?}: {reason}")]
    Expression {
        /// The expression as written.
        expr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The metric selector does not parse.
    #[error("invalid metric selector {0:?}: expected name or name{{tag:value,...}}")]
    Selector(String),
    /// The aggregation does not apply to the metric's type.
    #[error("invalid threshold {expr:?} on metric {metric:?}: {kind} metrics support {supported}")]
    Unsupported {
        /// The expression.
        expr: String,
        /// The metric.
        metric: String,
        /// The metric's type.
        kind: &'static str,
        /// Aggregations it supports.
        supported: &'static str,
    },
}

/// What a threshold aggregates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    /// Mean.
    Avg,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
    /// Median.
    Med,
    /// Percentile, 0..=100.
    Percentile(f64),
    /// Rate (per second for counters, share of true for rates).
    Rate,
    /// Count (sum for counters).
    Count,
    /// Last value (gauges).
    Value,
}

impl Aggregation {
    /// The name k6 uses in summaries: `avg`, `p(95)`, ...
    pub fn name(&self) -> String {
        match self {
            Self::Avg => "avg".into(),
            Self::Min => "min".into(),
            Self::Max => "max".into(),
            Self::Med => "med".into(),
            Self::Percentile(p) => format!("p({})", crate::runner::metrics::fmt_num(*p)),
            Self::Rate => "rate".into(),
            Self::Count => "count".into(),
            Self::Value => "value".into(),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==` or `===`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// Whether `lhs op rhs` holds.
    pub fn holds(self, lhs: f64, rhs: f64) -> bool {
        match self {
            Self::Lt => lhs < rhs,
            Self::Le => lhs <= rhs,
            Self::Gt => lhs > rhs,
            Self::Ge => lhs >= rhs,
            Self::Eq => lhs == rhs,
            Self::Ne => lhs != rhs,
        }
    }
}

/// A parsed threshold expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    /// The source text, as the learner wrote it (the key in summaries).
    pub source: String,
    /// Aggregation on the left.
    pub agg: Aggregation,
    /// Operator.
    pub op: Op,
    /// Value on the right.
    pub value: f64,
}

/// Parses a threshold expression the way k6 does.
pub fn parse_expression(src: &str) -> Result<Expression, ThresholdError> {
    let err = |reason: &str| ThresholdError::Expression {
        expr: src.to_owned(),
        reason: reason.to_owned(),
    };
    let s = src.trim();
    let op_pos = s
        .find(['<', '>', '=', '!'])
        .ok_or_else(|| err("no operator found; expected one of <, <=, >, >=, ==, ===, !="))?;
    let (lhs, rest) = s.split_at(op_pos);
    let (op, rhs) = if let Some(r) = rest.strip_prefix("===") {
        (Op::Eq, r)
    } else if let Some(r) = rest.strip_prefix("==") {
        (Op::Eq, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (Op::Ne, r)
    } else if let Some(r) = rest.strip_prefix("<=") {
        (Op::Le, r)
    } else if let Some(r) = rest.strip_prefix(">=") {
        (Op::Ge, r)
    } else if let Some(r) = rest.strip_prefix('<') {
        (Op::Lt, r)
    } else if let Some(r) = rest.strip_prefix('>') {
        (Op::Gt, r)
    } else {
        return Err(err(
            "malformed operator; expected one of <, <=, >, >=, ==, ===, !=",
        ));
    };
    let lhs = lhs.trim();
    let agg = match lhs {
        "avg" => Aggregation::Avg,
        "min" => Aggregation::Min,
        "max" => Aggregation::Max,
        "med" => Aggregation::Med,
        "rate" => Aggregation::Rate,
        "count" => Aggregation::Count,
        "value" => Aggregation::Value,
        "" => return Err(err("missing aggregation method before the operator")),
        other => {
            let inner = other
                .strip_prefix("p(")
                .and_then(|x| x.strip_suffix(')'))
                .ok_or_else(|| err(&format!("unknown aggregation method {other:?}; expected avg, min, max, med, p(N), rate, count or value")))?;
            let p: f64 = inner
                .trim()
                .parse()
                .map_err(|_| err(&format!("invalid percentile {inner:?}")))?;
            if !(0.0..=100.0).contains(&p) {
                return Err(err("percentile must be between 0 and 100"));
            }
            Aggregation::Percentile(p)
        }
    };
    let rhs = rhs.trim();
    if rhs.is_empty() {
        return Err(err("missing value after the operator"));
    }
    let value: f64 = rhs
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| err(&format!("invalid value {rhs:?}; expected a number")))?;
    Ok(Expression {
        source: src.to_owned(),
        agg,
        op,
        value,
    })
}

/// A metric selector: a name and optional tag filters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Selector {
    /// The metric name.
    pub metric: String,
    /// Tag filters, all of which a sample must match.
    pub tags: Vec<(String, String)>,
}

/// Parses `name` or `name{tag:value,...}`.
pub fn parse_selector(src: &str) -> Result<Selector, ThresholdError> {
    let s = src.trim();
    let bad = || ThresholdError::Selector(src.to_owned());
    let Some(open) = s.find('{') else {
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad());
        }
        return Ok(Selector {
            metric: s.to_owned(),
            tags: Vec::new(),
        });
    };
    let metric = s[..open].trim();
    let inner = s[open + 1..].strip_suffix('}').ok_or_else(bad)?;
    if metric.is_empty()
        || !metric
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(bad());
    }
    let mut tags = Vec::new();
    for part in inner.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        let (k, v) = part.split_once(':').ok_or_else(bad)?;
        let k = k.trim();
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            .unwrap_or(v);
        if k.is_empty() {
            return Err(bad());
        }
        tags.push((k.to_owned(), v.to_owned()));
    }
    if tags.is_empty() {
        return Err(bad());
    }
    Ok(Selector {
        metric: metric.to_owned(),
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_expressions() {
        let table: &[(&str, Aggregation, Op, f64)] = &[
            ("p(95)<500", Aggregation::Percentile(95.0), Op::Lt, 500.0),
            (
                "p(99.9) <= 1000",
                Aggregation::Percentile(99.9),
                Op::Le,
                1000.0,
            ),
            ("avg<200", Aggregation::Avg, Op::Lt, 200.0),
            ("med>=1", Aggregation::Med, Op::Ge, 1.0),
            ("max<0", Aggregation::Max, Op::Lt, 0.0),
            ("min > 0.5", Aggregation::Min, Op::Gt, 0.5),
            ("rate<0.01", Aggregation::Rate, Op::Lt, 0.01),
            ("count==0", Aggregation::Count, Op::Eq, 0.0),
            ("count===10", Aggregation::Count, Op::Eq, 10.0),
            ("value!=3", Aggregation::Value, Op::Ne, 3.0),
            ("  rate > 0.9 ", Aggregation::Rate, Op::Gt, 0.9),
        ];
        for (src, agg, op, v) in table {
            let e = parse_expression(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert_eq!((e.agg, e.op, e.value), (*agg, *op, *v), "{src}");
        }
    }

    #[test]
    fn invalid_expressions_say_why() {
        let table: &[(&str, &str)] = &[
            ("p95<500", "unknown aggregation method"),
            ("p(95)", "no operator"),
            ("p(95)<", "missing value"),
            ("<5", "missing aggregation"),
            ("avg<abc", "invalid value"),
            ("p(120)<5", "between 0 and 100"),
            ("p(x)<5", "invalid percentile"),
            ("avg=<5", "malformed operator"),
            ("mean<5", "unknown aggregation method"),
        ];
        for (src, needle) in table {
            let e = parse_expression(src).expect_err(src).to_string();
            assert!(e.contains(needle), "{src}: {e}");
            assert!(e.contains(src), "{src}: {e}");
        }
    }

    #[test]
    fn selectors() {
        assert_eq!(parse_selector("http_reqs").map(|s| s.tags.len()), Ok(0));
        let s = parse_selector("http_req_duration{name:checkout}").expect("ok");
        assert_eq!(s.tags, vec![("name".into(), "checkout".into())]);
        let s = parse_selector("http_req_duration{ group : ::login , status:200 }").expect("ok");
        assert_eq!(
            s.tags,
            vec![
                ("group".into(), "::login".into()),
                ("status".into(), "200".into())
            ]
        );
        let s = parse_selector("http_reqs{expected_response:true}").expect("ok");
        assert_eq!(s.metric, "http_reqs");
        assert!(parse_selector("bad name").is_err());
        assert!(parse_selector("x{nocolon}").is_err());
        assert!(parse_selector("x{a:b").is_err());
    }
}
