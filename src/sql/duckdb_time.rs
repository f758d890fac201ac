//! Reading TIMESTAMPTZ and INTERVAL arguments of table functions.
//!
//! duckdb-rs' `Value` has no timestamp or interval getters, only DuckDB's own
//! text form (`duckdb_get_varchar`), so we parse that text: a TIMESTAMPTZ
//! prints as `2024-01-02 03:04:05.123456+00` (UTC offset, optional fraction,
//! possibly `+05:30`) and an INTERVAL as `1 day 02:03:04.5` (`N year(s)`,
//! `N month(s)`, `N day(s)`, then an optional `[-]HH:MM:SS[.ffffff]`).

use super::args::named;
use crate::query::civil::days_from_civil;
use duckdb::vtab::BindInfo;

/// A named TIMESTAMPTZ parameter as nanoseconds since the epoch, if given and not NULL.
pub fn named_timestamp_ns(bind: &BindInfo, name: &str) -> Result<Option<i64>, TimeArgError> {
    named(bind, name).map(|value| parse_timestamp_text(name, &value.to_string())).transpose()
}

/// A named INTERVAL parameter as nanoseconds, if given and not NULL.
pub fn named_interval_ns(bind: &BindInfo, name: &str) -> Result<Option<i64>, TimeArgError> {
    named(bind, name).map(|value| parse_interval_text(name, &value.to_string())).transpose()
}

/// A named INTERVAL parameter that must not be negative, if given and not NULL.
pub fn named_duration(bind: &BindInfo, name: &str) -> Result<Option<std::time::Duration>, TimeArgError> {
    match named_interval_ns(bind, name)? {
        Some(ns) if ns < 0 => Err(TimeArgError::Negative { name: name.to_string() }),
        Some(ns) => Ok(Some(std::time::Duration::from_nanos(ns as u64))),
        None => Ok(None),
    }
}

/// Milliseconds (PromQL's resolution) from nanoseconds, rounding toward the past.
pub fn ns_to_ms(ns: i64) -> i64 {
    ns.div_euclid(1_000_000)
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TimeArgError {
    #[error("{name}: cannot read {text:?} as a timestamp")]
    Timestamp { name: String, text: String },
    #[error("{name}: cannot read {text:?} as an interval")]
    Interval { name: String, text: String },
    #[error("{name}: months and years have no fixed length; give the interval in days, hours, minutes or seconds")]
    CalendarInterval { name: String },
    #[error("{name} must not be negative")]
    Negative { name: String },
}

/// Nanoseconds since the epoch of DuckDB's text form of a TIMESTAMPTZ (or TIMESTAMP, read as UTC).
pub fn parse_timestamp_text(name: &str, text: &str) -> Result<i64, TimeArgError> {
    let bad = || TimeArgError::Timestamp { name: name.to_string(), text: text.to_string() };
    let (date, rest) = text.trim().split_once([' ', 'T']).ok_or_else(bad)?;
    let (clock, offset_seconds) = match rest.rfind(['+', '-']) {
        Some(i) => (&rest[..i], parse_offset(&rest[i..]).ok_or_else(bad)?),
        None => (rest.trim_end_matches('Z'), 0),
    };
    let mut date_parts = date.splitn(3, '-').map(|p| p.parse::<i64>());
    let (year, month, day) = match (date_parts.next(), date_parts.next(), date_parts.next()) {
        (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) if (1..=12).contains(&m) && (1..=31).contains(&d) => (y, m, d),
        _ => return Err(bad()),
    };
    let clock_ns = parse_clock(clock).ok_or_else(bad)?;
    let days = days_from_civil(year, month, day);
    // DuckDB's timestamps reach the year 294247, beyond what nanoseconds in an i64 hold
    days.checked_mul(86_400)
        .and_then(|s| s.checked_sub(offset_seconds))
        .and_then(|s| s.checked_mul(1_000_000_000))
        .and_then(|ns| ns.checked_add(clock_ns))
        .ok_or_else(bad)
}

/// `+00`, `-05`, `+05:30`, `+0530` in seconds east of UTC.
fn parse_offset(text: &str) -> Option<i64> {
    let sign = if text.starts_with('-') { -1 } else { 1 };
    let digits: String = text[1..].chars().filter(|c| *c != ':').collect();
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (digits[..2].parse::<i64>().ok()?, digits[2..].parse::<i64>().ok()?),
        6 => (digits[..2].parse::<i64>().ok()?, digits[2..4].parse::<i64>().ok()?),
        _ => return None,
    };
    Some(sign * (hours * 3600 + minutes * 60))
}

/// `HH:MM:SS[.fraction]` in nanoseconds (hours may exceed 24 in intervals).
fn parse_clock(text: &str) -> Option<i64> {
    let mut parts = text.split(':');
    let hours: i64 = parts.next()?.parse().ok()?;
    let minutes: i64 = parts.next()?.parse().ok()?;
    let seconds_text = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let (whole, fraction) = seconds_text.split_once('.').unwrap_or((seconds_text, ""));
    let seconds: i64 = whole.parse().ok()?;
    if fraction.len() > 9 || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().ok()? };
    // interval clocks reach 2,562,047,788 hours: checked, so a huge one is refused, never wrapped
    hours
        .checked_mul(3600)?
        .checked_add(minutes.checked_mul(60)?)?
        .checked_add(seconds)?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)
}

/// Nanoseconds of DuckDB's text form of an INTERVAL without months.
pub fn parse_interval_text(name: &str, text: &str) -> Result<i64, TimeArgError> {
    let bad = || TimeArgError::Interval { name: name.to_string(), text: text.to_string() };
    let mut total: i64 = 0;
    let mut words = text.split_whitespace().peekable();
    while let Some(word) = words.next() {
        if word.contains(':') {
            let (negative, clock) = match word.strip_prefix('-') {
                Some(clock) => (true, clock),
                None => (false, word),
            };
            let ns = parse_clock(clock).ok_or_else(bad)?;
            total = total.checked_add(if negative { -ns } else { ns }).ok_or_else(bad)?;
            continue;
        }
        let count: i64 = word.parse().map_err(|_| bad())?;
        match words.next().map(|unit| unit.trim_end_matches('s')) {
            Some("day") => {
                total = count.checked_mul(86_400_000_000_000).and_then(|ns| total.checked_add(ns)).ok_or_else(bad)?
            }
            Some("month" | "year" | "mon") => return Err(TimeArgError::CalendarInterval { name: name.to_string() }),
            _ => return Err(bad()),
        }
    }
    if text.trim().is_empty() {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_duckdb_text_form() {
        assert_eq!(parse_timestamp_text("start", "1970-01-01 00:00:00+00"), Ok(0));
        assert_eq!(parse_timestamp_text("start", "2023-11-14 22:13:20.123456+00"), Ok(1_700_000_000_123_456_000));
        assert_eq!(parse_timestamp_text("start", "2023-11-15 03:43:20+05:30"), Ok(1_700_000_000_000_000_000));
        assert_eq!(parse_timestamp_text("start", "2000-02-29 00:00:00"), Ok(951_782_400_000_000_000));
        assert_eq!(parse_timestamp_text("start", "1969-12-31 23:59:59-01"), Ok(3_599_000_000_000));
        assert_eq!(
            parse_timestamp_text("end", "infinity").unwrap_err().to_string(),
            "end: cannot read \"infinity\" as a timestamp"
        );
    }

    #[test]
    fn milliseconds_round_toward_the_past() {
        assert_eq!(ns_to_ms(1_795_697_467_514_080_000), 1_795_697_467_514);
        assert_eq!(ns_to_ms(-1), -1);
    }

    #[test]
    fn intervals_in_duckdb_text_form() {
        assert_eq!(parse_interval_text("step", "00:01:00"), Ok(60_000_000_000));
        assert_eq!(parse_interval_text("step", "00:00:00.5"), Ok(500_000_000));
        assert_eq!(parse_interval_text("step", "1 day 02:00:00"), Ok(93_600_000_000_000));
        assert_eq!(parse_interval_text("step", "2 days"), Ok(172_800_000_000_000));
        assert_eq!(parse_interval_text("step", "-00:01:00"), Ok(-60_000_000_000));
        assert!(matches!(parse_interval_text("step", "1 month"), Err(TimeArgError::CalendarInterval { .. })));
        assert!(parse_interval_text("step", "soon").is_err());
    }

    #[test]
    fn extremes_are_errors_not_wraps() {
        // DuckDB's largest timestamp and interval do not fit nanoseconds in an i64
        assert_eq!(
            parse_timestamp_text("start", "294247-01-10 04:00:54.775806+00").unwrap_err().to_string(),
            "start: cannot read \"294247-01-10 04:00:54.775806+00\" as a timestamp"
        );
        assert_eq!(
            parse_interval_text("step", "2562047788:00:54.775807").unwrap_err().to_string(),
            "step: cannot read \"2562047788:00:54.775807\" as an interval"
        );
        assert!(parse_interval_text("step", "2147483647 days").is_err());
        assert!(parse_interval_text("step", "106751 days 23:59:59 106751 days").is_err());
        assert_eq!(parse_interval_text("step", "106751 days"), Ok(106_751 * 86_400_000_000_000));
    }
}
