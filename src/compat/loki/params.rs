//! Loki's query parameters, parsed the way Loki's `loghttp` package parses
//! them, error messages included, because Grafana and logcli send every form
//! Loki accepts: nanosecond integers, unix seconds with a fraction (rounded to
//! milliseconds), integers of at most ten digits as seconds, and RFC 3339;
//! steps as float seconds or Prometheus durations. Times are nanoseconds
//! since the epoch throughout.

use crate::query::logql::plan::Direction;
use std::time::{SystemTime, UNIX_EPOCH};

const SECOND: i64 = 1_000_000_000;
pub const DEFAULT_LIMIT: u64 = 100;
const DEFAULT_SINCE_NS: i64 = 3600 * SECOND;
/// Loki refuses range queries with more points per series than this.
const MAX_POINTS: i64 = 11_000;

pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// A timestamp parameter; the error is Loki's (Go's strconv message).
pub fn parse_timestamp(value: &str) -> Result<i64, String> {
    if value.contains('.') {
        if let Ok(seconds) = value.parse::<f64>() {
            let (whole, fraction) = (seconds.trunc(), seconds.fract());
            let fraction = (fraction * 1000.0).round() / 1000.0;
            return Ok(whole as i64 * SECOND + (fraction * SECOND as f64) as i64);
        }
    }
    match value.parse::<i64>() {
        Ok(number) if value.len() <= 10 => Ok(number.saturating_mul(SECOND)),
        Ok(nanos) => Ok(nanos),
        Err(error) => parse_rfc3339(value).ok_or_else(|| {
            let reason =
                if matches!(error.kind(), std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow) {
                    "value out of range"
                } else {
                    "invalid syntax"
                };
            format!("strconv.ParseInt: parsing {}: {reason}", go_quote(value))
        }),
    }
}

/// Go's `%q` for the ASCII texts these messages carry.
fn go_quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// `2006-01-02T15:04:05.999999999Z07:00`, as Go's `time.RFC3339Nano` layout reads it.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        (!part.is_empty() && part.bytes().all(|c| c.is_ascii_digit())).then(|| part.parse().ok()).flatten()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0i64;
    if let Some(after) = rest.strip_prefix('.') {
        let len = after.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 || len > 9 {
            return None;
        }
        nanos = after[..len].parse::<i64>().ok()? * 10i64.pow(9 - len as u32);
        rest = &after[len..];
    }
    let offset = match rest {
        "Z" => 0,
        zone if zone.len() == 6 && (zone.starts_with('+') || zone.starts_with('-')) && &zone[3..4] == ":" => {
            let (h, m) = (zone[1..3].parse::<i64>().ok()?, zone[4..6].parse::<i64>().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(seconds * SECOND + nanos)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A Prometheus duration (`1h30m`, `90s`, `500ms`, `2d`), in nanoseconds.
pub fn parse_prometheus_duration(text: &str) -> Option<i64> {
    if text == "0" {
        return Some(0);
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400 * SECOND),
        ("w", 7 * 86_400 * SECOND),
        ("d", 86_400 * SECOND),
        ("h", 3600 * SECOND),
        ("m", 60 * SECOND),
        ("s", SECOND),
        ("ms", 1_000_000),
    ];
    let mut rest = text;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        let number: i64 = rest[..len].parse().ok()?;
        rest = &rest[len..];
        let unit_len = rest.bytes().take_while(|c| c.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        let index = UNITS.iter().position(|(name, _)| *name == unit)?;
        // units appear at most once, largest first
        if index < next_unit {
            return None;
        }
        next_unit = index + 1;
        total = total.checked_add(number.checked_mul(UNITS[index].1)?)?;
        rest = &rest[unit_len..];
    }
    (!text.is_empty()).then_some(total)
}

/// `step` / `interval`: float seconds, else a Prometheus duration.
pub fn parse_seconds_or_duration(value: &str) -> Result<i64, String> {
    if let Ok(seconds) = value.parse::<f64>() {
        let ns = seconds * SECOND as f64;
        if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!("cannot parse {} to a valid duration. It overflows int64", go_quote(value)));
        }
        return Ok(ns as i64);
    }
    parse_prometheus_duration(value).ok_or_else(|| format!("cannot parse {} to a valid duration", go_quote(value)))
}

/// `limit`: absent means 100; it must be positive.
pub fn parse_limit(value: Option<&str>) -> Result<u64, String> {
    let Some(text) = value else { return Ok(DEFAULT_LIMIT) };
    let limit: i64 = text.parse().map_err(|_| format!("strconv.Atoi: parsing {}: invalid syntax", go_quote(text)))?;
    if limit <= 0 {
        return Err("limit must be a positive value".into());
    }
    if limit > u32::MAX as i64 {
        return Err(format!("limit value {limit} is out of range [0, {}]", u32::MAX));
    }
    Ok(limit as u64)
}

pub fn parse_direction(value: Option<&str>) -> Result<Direction, String> {
    match value.map(str::to_ascii_uppercase).as_deref() {
        None | Some("BACKWARD") => Ok(Direction::Backward),
        Some("FORWARD") => Ok(Direction::Forward),
        Some(_) => Err(format!("invalid direction '{}'", value.unwrap_or_default())),
    }
}

/// `start`/`end` (and `since`): end defaults to now, start to end (or now, when
/// end is in the future) minus `since`, one hour by default.
pub fn bounds(start: Option<&str>, end: Option<&str>, since: Option<&str>, now: i64) -> Result<(i64, i64), String> {
    let since = match since {
        Some(text) => parse_prometheus_duration(text).ok_or_else(|| {
            format!("could not parse 'since' parameter: not a valid duration string: {}", go_quote(text))
        })?,
        None => DEFAULT_SINCE_NS,
    };
    let end = match end {
        Some(text) => parse_timestamp(text).map_err(|e| format!("could not parse 'end' parameter: {e}"))?,
        None => now,
    };
    let start = match start {
        Some(text) => parse_timestamp(text).map_err(|e| format!("could not parse 'start' parameter: {e}"))?,
        None => end.min(now) - since,
    };
    Ok((start, end))
}

/// Loki's default step: the range split in 250 points, rounded down to whole seconds, at least one.
pub fn default_step_ns(start: i64, end: i64) -> i64 {
    (((end - start) as f64 / SECOND as f64 / 250.0).floor().max(1.0)) as i64 * SECOND
}

/// The parameters of `query_range` (and of the routes that reuse its parsing).
#[derive(Clone, Debug, PartialEq)]
pub struct RangeParams {
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub interval: i64,
    pub limit: u64,
    pub direction: Direction,
}

/// Loki's `ParseRangeQuery`, checks in Loki's order.
pub fn range_params(get: impl Fn(&str) -> Option<String>, now: i64) -> Result<RangeParams, String> {
    let (start, end) = bounds(get("start").as_deref(), get("end").as_deref(), get("since").as_deref(), now)?;
    if end < start {
        return Err("end timestamp must not be before or equal to start time".into());
    }
    let limit = parse_limit(get("limit").as_deref())?;
    let direction = parse_direction(get("direction").as_deref())?;
    let step = match get("step") {
        Some(text) => parse_seconds_or_duration(&text)?,
        None => default_step_ns(start, end),
    };
    if step <= 0 {
        return Err("zero or negative query resolution step widths are not accepted. Try a positive integer".into());
    }
    if (end - start) / step > MAX_POINTS {
        return Err("exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter".into());
    }
    let interval = match get("interval") {
        Some(text) => parse_seconds_or_duration(&text)?,
        None => 0,
    };
    if interval < 0 {
        return Err("interval must be >= 0".into());
    }
    Ok(RangeParams { start, end, step, interval, limit, direction })
}

/// Go's `time.Duration.String()` for whole seconds (`768h0m0s`), as Loki's limit messages print them.
pub fn go_duration(ns: i64) -> String {
    let seconds = ns / SECOND;
    let fraction = ns % SECOND;
    let body = if seconds >= 3600 {
        format!("{}h{}m{}", seconds / 3600, seconds / 60 % 60, seconds % 60)
    } else if seconds >= 60 {
        format!("{}m{}", seconds / 60, seconds % 60)
    } else {
        format!("{seconds}")
    };
    if fraction == 0 {
        format!("{body}s")
    } else {
        let digits = format!("{fraction:09}");
        format!("{body}.{}s", digits.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_form_loki_accepts() {
        assert_eq!(parse_timestamp("4000000000"), Ok(4_000_000_000 * SECOND));
        assert_eq!(parse_timestamp("1700000000"), Ok(1_700_000_000 * SECOND));
        assert_eq!(parse_timestamp("17000000001"), Ok(17_000_000_001));
        assert_eq!(parse_timestamp("1700000000123456789"), Ok(1_700_000_000_123_456_789));
        assert_eq!(parse_timestamp("1700000000.1234"), Ok(1_700_000_000_123_000_000));
        assert_eq!(parse_timestamp("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_timestamp("2023-11-14T22:13:20Z"), Ok(1_700_000_000 * SECOND));
        assert_eq!(parse_timestamp("2023-11-14T23:13:20.5+01:00"), Ok(1_700_000_000_500_000_000));
        assert_eq!(parse_timestamp("2000-02-29T00:00:00Z"), Ok(951_782_400 * SECOND));
        assert_eq!(parse_timestamp("abc"), Err("strconv.ParseInt: parsing \"abc\": invalid syntax".into()));
        assert_eq!(
            parse_timestamp("99999999999999999999"),
            Err("strconv.ParseInt: parsing \"99999999999999999999\": value out of range".into())
        );
        assert!(parse_timestamp("2023-02-30T00:00:00Z").is_err());
    }

    #[test]
    fn durations_and_steps() {
        assert_eq!(parse_prometheus_duration("1h30m"), Some(5400 * SECOND));
        assert_eq!(parse_prometheus_duration("60000ms"), Some(60 * SECOND));
        assert_eq!(parse_prometheus_duration("1d"), Some(86_400 * SECOND));
        assert_eq!(parse_prometheus_duration("30m1h"), None);
        assert_eq!(parse_prometheus_duration("1.5s"), None);
        assert_eq!(parse_seconds_or_duration("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_seconds_or_duration("15s"), Ok(15 * SECOND));
        assert_eq!(parse_seconds_or_duration("x"), Err("cannot parse \"x\" to a valid duration".into()));
        assert_eq!(default_step_ns(0, 3600 * SECOND), 14 * SECOND);
        assert_eq!(default_step_ns(0, 100 * SECOND), SECOND);
    }

    #[test]
    fn defaults_follow_loki() {
        let now = 10_000 * SECOND;
        let get = |_: &str| None;
        let params = range_params(get, now).unwrap();
        assert_eq!(
            params,
            RangeParams {
                start: now - 3600 * SECOND,
                end: now,
                step: 14 * SECOND,
                interval: 0,
                limit: 100,
                direction: Direction::Backward
            }
        );
        // an end in the future: start is an hour before now
        assert_eq!(bounds(None, Some("20000"), None, now), Ok((now - 3600 * SECOND, 20_000 * SECOND)));
        assert_eq!(bounds(None, None, Some("5m"), now), Ok((now - 300 * SECOND, now)));
    }

    #[test]
    fn errors_are_lokis() {
        let params = |pairs: &'static [(&'static str, &'static str)]| {
            range_params(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()), 10_000 * SECOND)
        };
        assert_eq!(params(&[("limit", "0")]).unwrap_err(), "limit must be a positive value");
        assert_eq!(params(&[("limit", "x")]).unwrap_err(), "strconv.Atoi: parsing \"x\": invalid syntax");
        assert_eq!(params(&[("direction", "up")]).unwrap_err(), "invalid direction 'up'");
        assert_eq!(params(&[("direction", "Forward")]).unwrap().direction, Direction::Forward);
        assert_eq!(
            params(&[("start", "20"), ("end", "10")]).unwrap_err(),
            "end timestamp must not be before or equal to start time"
        );
        assert_eq!(
            params(&[("step", "0")]).unwrap_err(),
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        );
        assert_eq!(
            params(&[("start", "0"), ("end", "100000"), ("step", "1")]).unwrap_err(),
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter"
        );
        assert_eq!(params(&[("interval", "-1")]).unwrap_err(), "interval must be >= 0");
        assert_eq!(
            params(&[("start", "yesterday")]).unwrap_err(),
            "could not parse 'start' parameter: strconv.ParseInt: parsing \"yesterday\": invalid syntax"
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(768 * 3600 * SECOND), "768h0m0s");
        assert_eq!(go_duration(90 * SECOND), "1m30s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
    }
}
