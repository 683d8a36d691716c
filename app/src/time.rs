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
}
