//! Query results and Prometheus's float formatting.

use std::fmt;

use super::labels::Labels;

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Element {
    /// The element's labels.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// The timestamp of the underlying sample, when it came straight from a
    /// selector (used by `timestamp()`); otherwise `None`.
    pub sample_t: Option<i64>,
}

/// One series of a range vector or of a range query's result.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// `(timestamp_ms, value)` points in time order.
    pub points: Vec<(i64, f64)>,
}

/// The result of evaluating an expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A single number.
    Scalar(f64),
    /// A string literal.
    String(String),
    /// An instant vector.
    Vector(Vec<Element>),
    /// A range vector (or a range query's result).
    Matrix(Vec<RangeSeries>),
}

impl Value {
    /// The type name Prometheus uses in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "instant vector",
            Value::Matrix(_) => "range vector",
        }
    }
}

/// Formats a float as Prometheus does in its API and test output: the
/// shortest decimal that round-trips, no exponent, and `NaN`, `+Inf`, `-Inf`.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{v}")
    }
}

/// Formats a float as Prometheus's HTTP API writes sample values in JSON:
/// like [`format_float`], except that magnitudes below 1e-6 or from 1e21 up
/// use Go's shortest exponent form (`1e-07`, `1.5e+21`).
pub fn format_api_float(v: f64) -> String {
    let abs = v.abs();
    if !v.is_finite() || abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return format_float(v);
    }
    // Rust writes `1.5e-7`; Go writes the exponent signed, at least two digits.
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// Formats a millisecond timestamp as seconds, e.g. `600` or `1.5`.
pub fn format_timestamp(t: i64) -> String {
    if t % 1000 == 0 {
        format!("{}", t / 1000)
    } else {
        format!("{}", t as f64 / 1000.0)
    }
}

impl fmt::Display for Value {
    /// One line per element: `labels => value` for vectors, `labels =>` then
    /// `value @[t]` points for matrices.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar(v) => writeln!(f, "scalar: {}", format_float(*v)),
            Value::String(s) => writeln!(f, "string: {s}"),
            Value::Vector(elems) => {
                for e in elems {
                    writeln!(f, "{} => {}", e.labels, format_float(e.value))?;
                }
                Ok(())
            }
            Value::Matrix(series) => {
                for s in series {
                    write!(f, "{} =>", s.labels)?;
                    for (t, v) in &s.points {
                        write!(f, " {} @[{}]", format_float(*v), format_timestamp(*t))?;
                    }
                    writeln!(f)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_formatting_matches_go() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(-0.5), "-0.5");
        assert_eq!(format_timestamp(1500), "1.5");
        assert_eq!(format_api_float(1e21), "1e+21");
        assert_eq!(format_api_float(-1.5e-7), "-1.5e-07");
        assert_eq!(format_api_float(1.25e300), "1.25e+300");
        assert_eq!(format_api_float(0.000001), "0.000001");
        assert_eq!(format_api_float(0.0), "0");
        assert_eq!(format_api_float(f64::NAN), "NaN");
    }
}
