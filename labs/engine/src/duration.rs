//! Go/k6-style durations such as `1m30s`, `500ms`, `2h`, `1.5s`.

use thiserror::Error;

/// A duration string that k6 would not accept.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("invalid duration {0:?}: expected something like \"30s\", \"1m30s\" or \"500ms\"")]
pub struct DurationError(pub String);

/// Parses a k6 duration into seconds. A bare number means seconds here;
/// [`parse_option_duration`] applies k6's milliseconds rule for numeric options.
pub fn parse_duration(s: &str) -> Result<f64, DurationError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(DurationError(s.to_owned()));
    }
    if let Ok(v) = t.parse::<f64>() {
        if v.is_finite() && v >= 0.0 {
            return Ok(v);
        }
        return Err(DurationError(s.to_owned()));
    }
    let bytes = t.as_bytes();
    let mut i = 0;
    let mut total = 0.0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let num: f64 = t[start..i]
            .parse()
            .map_err(|_| DurationError(s.to_owned()))?;
        let ustart = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &t[ustart..i];
        let mult = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(DurationError(s.to_owned())),
        };
        total += num * mult;
    }
    Ok(total)
}

/// Parses a duration given in k6 options: a string like `"30s"`, or a number
/// of milliseconds.
pub fn parse_option_duration(v: &serde_json::Value) -> Result<f64, DurationError> {
    match v {
        serde_json::Value::Number(n) => n
            .as_f64()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .map(|ms| ms / 1000.0)
            .ok_or_else(|| DurationError(n.to_string())),
        serde_json::Value::String(s) => parse_duration(s),
        other => Err(DurationError(other.to_string())),
    }
}

/// Formats seconds like k6 does in its progress lines (`1m30.0s`, `10.5s`).
pub fn format_duration(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs >= 3600.0 {
        let h = (secs / 3600.0).floor();
        let m = ((secs - h * 3600.0) / 60.0).floor();
        let s = secs - h * 3600.0 - m * 60.0;
        format!("{h}h{m}m{s:.1}s")
    } else if secs >= 60.0 {
        let m = (secs / 60.0).floor();
        format!("{m}m{:.1}s", secs - m * 60.0)
    } else {
        format!("{secs:.1}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_durations() {
        assert_eq!(parse_duration("30s"), Ok(30.0));
        assert_eq!(parse_duration("1m30s"), Ok(90.0));
        assert_eq!(parse_duration("2h"), Ok(7200.0));
        assert_eq!(parse_duration("500ms"), Ok(0.5));
        assert_eq!(parse_duration("1.5s"), Ok(1.5));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5x").is_err());
        assert_eq!(parse_option_duration(&serde_json::json!(1500)), Ok(1.5));
    }

    #[test]
    fn formats_like_k6() {
        assert_eq!(format_duration(90.0), "1m30.0s");
        assert_eq!(format_duration(5.25), "5.2s");
    }
}
