//! TIMESTAMPTZ arguments as nanoseconds since the epoch.
//!
//! duckdb-rs' `Value` has no timestamp getter, only DuckDB's text form
//! (`duckdb_get_varchar`), which for TIMESTAMPTZ is UTC with an offset:
//! `2026-01-01 12:00:00.123456+00`. We parse that text rather than cast to
//! another type, so the named parameter keeps accepting `now() - INTERVAL 1
//! HOUR`. Scalars receive the raw microseconds and need none of this.

use super::args::named;
use crate::guard::BoxError;
use duckdb::vtab::BindInfo;

/// A named TIMESTAMPTZ parameter, if given and not NULL.
pub fn named_timestamp_ns(bind: &BindInfo, name: &str) -> Result<Option<i64>, BoxError> {
    named(bind, name)
        .map(|value| {
            let text = value.to_string();
            parse_timestamp_ns(&text).ok_or_else(|| format!("{name}: cannot read timestamp {text:?}").into())
        })
        .transpose()
}

/// Parses `YYYY-MM-DD[ T]HH:MM:SS[.fraction][Z|±HH[:MM]]` into nanoseconds since the epoch.
pub fn parse_timestamp_ns(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = text.split_at(text.find([' ', 'T'])?);
    let rest = &rest[1..];
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let offset_at = rest.find(['+', '-', 'Z']).unwrap_or(rest.len());
    let (clock, offset) = rest.split_at(offset_at);
    let clock_nanos = parse_clock(clock)?;
    let offset_seconds = parse_offset(offset)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 - offset_seconds;
    seconds.checked_mul(1_000_000_000)?.checked_add(clock_nanos)
}

fn parse_clock(clock: &str) -> Option<i64> {
    let (whole, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut parts = whole.splitn(3, ':');
    let hours: i64 = parts.next()?.parse().ok()?;
    let minutes: i64 = parts.next()?.parse().ok()?;
    let seconds: i64 = parts.next()?.parse().ok()?;
    if hours > 23 || minutes > 59 || seconds > 60 || fraction.len() > 9 || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().ok()? };
    Some(((hours * 60 + minutes) * 60 + seconds) * 1_000_000_000 + nanos)
}

fn parse_offset(offset: &str) -> Option<i64> {
    if offset.is_empty() || offset == "Z" {
        return Some(0);
    }
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let mut parts = offset[1..].split(':');
    let hours: i64 = parts.next()?.parse().ok()?;
    let minutes: i64 = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    let seconds: i64 = parts.next().map_or(Some(0), |s| s.parse().ok())?;
    Some(sign * (hours * 3600 + minutes * 60 + seconds))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_timestamp_ns;

    #[test]
    fn reads_duckdb_timestamptz_text() {
        assert_eq!(parse_timestamp_ns("1970-01-01 00:00:00+00"), Some(0));
        assert_eq!(parse_timestamp_ns("2026-01-01 00:00:00+00"), Some(1_767_225_600_000_000_000));
        assert_eq!(parse_timestamp_ns("2026-01-01 00:00:00.123456+00"), Some(1_767_225_600_123_456_000));
        assert_eq!(parse_timestamp_ns("2026-01-01 02:30:00+02:30"), Some(1_767_225_600_000_000_000));
        assert_eq!(parse_timestamp_ns("2025-12-31 23:00:00-01"), Some(1_767_225_600_000_000_000));
        assert_eq!(parse_timestamp_ns("2024-02-29T12:00:00Z"), Some(1_709_208_000_000_000_000));
        assert_eq!(parse_timestamp_ns("1969-12-31 23:59:59+00"), Some(-1_000_000_000));
    }

    #[test]
    fn rejects_other_text() {
        for text in ["infinity", "2026-13-01 00:00:00+00", "2026-01-01", "2026-01-01 25:00:00+00", "x y"] {
            assert_eq!(parse_timestamp_ns(text), None, "{text}");
        }
    }
}
