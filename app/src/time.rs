//! Calendar arithmetic on Unix milliseconds, in UTC (Howard Hinnant's civil-date
//! algorithms), the same on the server and in the browser.

/// (year, month, day, seconds into the day) of Unix milliseconds.
pub fn civil(ms: i64) -> (i64, i64, i64, i64) {
    let s = ms.div_euclid(1000);
    let days = s.div_euclid(86_400);
    let rem = s.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d, rem)
}

/// Days since 1970-01-01 of a calendar date (month 1–12).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days in a month (1–12) of a year, leap years counted.
pub fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `months` calendar months after Unix milliseconds `ms`, at the same time of day (UTC).
/// A day the target month lacks becomes its last day (Jan 31 + 1 month = Feb 28 or 29),
/// as people and most date libraries count: the result never spills into the month after.
pub fn add_months(ms: i64, months: i64) -> i64 {
    let (y, m, d, _) = civil(ms);
    let index = y * 12 + (m - 1) + months;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    let day = d.min(days_in_month(year, month));
    let time_of_day = ms.rem_euclid(86_400_000);
    days_from_civil(year, month, day) * 86_400_000 + time_of_day
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM UTC`.
pub fn utc(ms: i64) -> String {
    let (y, m, d, rem) = civil(ms);
    format!(
        "{y}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem / 60) % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_across_eras_and_leap_days() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (2024, 12, 31),
            (1969, 12, 31),
            (2100, 3, 1),
        ] {
            let ms = days_from_civil(y, m, d) * 86_400_000 + 3_723_000;
            assert_eq!(civil(ms), (y, m, d, 3723), "{y}-{m}-{d}");
        }
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_748_768_400_000), "2025-06-01 09:00 UTC");
    }

    fn at(y: i64, m: i64, d: i64) -> i64 {
        // 09:30:15.250, so the time of day is seen to survive.
        days_from_civil(y, m, d) * 86_400_000 + 34_215_250
    }

    #[test]
    fn adding_months_clamps_to_the_last_day() {
        assert_eq!(add_months(at(2025, 1, 31), 1), at(2025, 2, 28));
        assert_eq!(add_months(at(2024, 1, 31), 1), at(2024, 2, 29));
        assert_eq!(add_months(at(2025, 3, 31), 1), at(2025, 4, 30));
        assert_eq!(add_months(at(2024, 2, 29), 12), at(2025, 2, 28));
        assert_eq!(add_months(at(2024, 2, 29), 48), at(2028, 2, 29));
        assert_eq!(add_months(at(2025, 1, 31), 12), at(2026, 1, 31));
        assert_eq!(add_months(at(2025, 12, 15), 1), at(2026, 1, 15));
        assert_eq!(add_months(at(2025, 11, 30), 3), at(2026, 2, 28));
        assert_eq!(add_months(at(2025, 6, 1), 120), at(2035, 6, 1));
        assert_eq!(add_months(at(2025, 3, 31), -1), at(2025, 2, 28));
        assert_eq!(add_months(at(1969, 12, 31), 2), at(1970, 2, 28));
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
    }
}
