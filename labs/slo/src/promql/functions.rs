//! The numeric cores of PromQL functions, following Prometheus's algorithms.

use super::store::{Reset, Sample};

/// `rate`, `increase` and `delta`: the difference over the samples in the
/// range, with counter resets corrected (counters only) and extrapolated to
/// the range edges the way Prometheus does. `None` when fewer than two samples.
/// `resets`, when given, are the counter resets among `points` (from the
/// store's index), which saves scanning them.
pub fn extrapolated_rate(
    points: &[Sample],
    resets: Option<&[Reset]>,
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let Sample {
        t: first_t,
        v: first_v,
    } = points[0];
    let Sample {
        t: last_t,
        v: last_v,
    } = points[points.len() - 1];
    let mut result = last_v - first_v;
    if is_counter {
        // Each reset adds the value before the drop straight onto the
        // result, in order, as Prometheus 2.42 does (an older separate
        // correction sum rounds differently on counters with many resets).
        match resets {
            // The store's index holds exactly the drops the scan below finds.
            Some(resets) => {
                for r in resets {
                    result += r.prev;
                }
            }
            None => {
                for w in points.windows(2) {
                    if w[1].v < w[0].v {
                        result += w[0].v;
                    }
                }
            }
        }
    }
    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average_between = sampled_interval / (points.len() - 1) as f64;
    if is_counter && result > 0.0 && first_v >= 0.0 {
        // A counter cannot have been below zero: don't extrapolate past the
        // point where it would have started from zero.
        let duration_to_zero = sampled_interval * (first_v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    let threshold = average_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold {
        duration_to_start
    } else {
        average_between / 2.0
    };
    extrapolate_to += if duration_to_end < threshold {
        duration_to_end
    } else {
        average_between / 2.0
    };
    // The factor is formed first, as Prometheus 2.x does, so the rounding matches.
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= (range_end - range_start) as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` and `idelta`: from the last two samples only.
pub fn instant_value(points: &[Sample], is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let Sample {
        t: prev_t,
        v: prev_v,
    } = points[points.len() - 2];
    let Sample {
        t: last_t,
        v: last_v,
    } = points[points.len() - 1];
    let mut result = if is_rate && last_v < prev_v {
        // A counter reset: the counter restarted from zero.
        last_v
    } else {
        last_v - prev_v
    };
    let dt = last_t - prev_t;
    if dt == 0 {
        return None;
    }
    if is_rate {
        result /= dt as f64 / 1000.0;
    }
    Some(result)
}

/// Double exponential smoothing (Prometheus 2's `holt_winters`, called
/// `double_exponential_smoothing` since Prometheus 3): the smoothed value at
/// the last point, with smoothing factor `sf` and trend factor `tf`, both
/// already checked to lie strictly between 0 and 1. `None` below two points.
pub fn double_exponential_smoothing(points: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let mut smoothed_prev = 0.0;
    let mut smoothed = points[0].v;
    let mut trend = points[1].v - points[0].v;
    for (i, p) in points.iter().enumerate().skip(1) {
        // The first step keeps the initial trend; later ones blend the last
        // change of the smoothed value into it.
        if i > 1 {
            trend = tf * (smoothed - smoothed_prev) + (1.0 - tf) * trend;
        }
        let next = sf * p.v + (1.0 - sf) * (smoothed + trend);
        smoothed_prev = smoothed;
        smoothed = next;
    }
    Some(smoothed)
}

/// One step of Kahan–Neumaier compensated summation: returns `(sum, compensation)`.
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Compensated sum, as `sum_over_time` computes it.
pub fn kahan_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for v in values {
        (sum, c) = kahan_inc(v, sum, c);
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

/// Compensated incremental mean, as `avg_over_time` computes it.
pub fn kahan_mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut mean, mut c, mut count): (f64, f64, f64) = (0.0, 0.0, 0.0);
    for v in values {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

/// Compensated population variance, as `stdvar_over_time` computes it.
pub fn kahan_variance(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for v in values {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Least-squares fit of value against time (seconds relative to `intercept_t`):
/// returns `(slope, intercept)`.
pub fn linear_regression(points: &[Sample], intercept_t: i64) -> (f64, f64) {
    let n = points.len() as f64;
    let init = points.first().map(|p| p.v).unwrap_or(0.0);
    let const_y = points.iter().all(|p| p.v == init);
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    let (mut sx, mut sy, mut sxy, mut sx2) = (0.0, 0.0, 0.0, 0.0);
    let (mut cx, mut cy, mut cxy, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    for &Sample { t, v } in points {
        let x = (t - intercept_t) as f64 / 1000.0;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(v, sy, cy);
        (sxy, cxy) = kahan_inc(x * v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

/// The φ-quantile of `values` with linear interpolation between ranks
/// (Prometheus's `quantile` and `quantile_over_time`).
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Prometheus orders NaN below every number (whatever its sign bit), so
    // a NaN input shifts the ranks instead of ending up at the top.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Mean computed incrementally, as Prometheus's `avg` and `avg_over_time` do
/// (this avoids overflow for huge values).
pub fn incremental_mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut mean: f64 = 0.0;
    let mut count: f64 = 0.0;
    for v in values {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        mean += v / count - mean / count;
    }
    mean
}

/// Population variance (Welford's method), as `stdvar`/`stdvar_over_time`.
pub fn variance(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut count = 0.0;
    let mut mean = 0.0;
    let mut aux = 0.0;
    for v in values {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        aux += delta * (v - mean);
    }
    aux / count
}

/// One classic histogram bucket.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    /// The `le` upper bound.
    pub upper: f64,
    /// The cumulative count.
    pub count: f64,
}

/// `histogram_quantile` over classic buckets, with Prometheus's handling of
/// the edge cases: no `+Inf` bucket gives NaN, a quantile in the `+Inf`
/// bucket gives the highest finite bound, the lowest bucket interpolates from
/// zero (unless its bound is not positive), non-monotonic counts are fixed up.
pub fn bucket_quantile(q: f64, buckets: &mut [Bucket]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.upper.total_cmp(&b.upper));
    match buckets.last() {
        Some(b) if b.upper == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Merge buckets with the same bound (e.g. from differently labelled series).
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => merged.push(*b),
        }
    }
    // Counts must be monotonic; scrape races can break that.
    let mut max = f64::NEG_INFINITY;
    for b in merged.iter_mut() {
        if b.count > max {
            max = b.count;
        } else if b.count < max {
            b.count = max;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].count;
    if observations == 0.0 || observations.is_nan() {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let last = merged.len() - 1;
    let b = merged[..last]
        .iter()
        .position(|bk| bk.count >= rank)
        .unwrap_or(last);
    if b == last {
        return merged[last - 1].upper;
    }
    if b == 0 && merged[0].upper <= 0.0 {
        return merged[0].upper;
    }
    let mut start = 0.0;
    let end = merged[b].upper;
    let mut count = merged[b].count;
    if b > 0 {
        start = merged[b - 1].upper;
        count -= merged[b - 1].count;
        rank -= merged[b - 1].count;
    }
    start + (end - start) * (rank / count)
}

/// Go's `math.Max`: NaN wins.
pub fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
pub fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) in the proleptic Gregorian calendar.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// True for Gregorian leap years.
pub fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates() {
        let mut v = vec![1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(2.0, &mut v), f64::INFINITY);
    }

    #[test]
    fn histogram_edges() {
        let mut b = vec![
            Bucket {
                upper: 0.1,
                count: 50.0,
            },
            Bucket {
                upper: f64::INFINITY,
                count: 100.0,
            },
        ];
        assert_eq!(bucket_quantile(0.99, &mut b), 0.1);
        assert!((bucket_quantile(0.25, &mut b) - 0.05).abs() < 1e-12);
        let mut no_inf = vec![Bucket {
            upper: 1.0,
            count: 1.0,
        }];
        assert!(bucket_quantile(0.5, &mut no_inf).is_nan());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
