//! Loki's query parameters, parsed the way Loki's `loghttp` package parses
//! them, error messages included, because Grafana and logcli send every form
//! Loki accepts: nanosecond integers, unix seconds with a fraction (rounded to
//! milliseconds), integers of at most ten digits as seconds, and RFC 3339;
//! steps as float seconds or Prometheus durations. Times are nanoseconds
//! since the epoch throughout.

use canardstack_query::go_text::{parse_duration, parse_prometheus_duration_ms, parse_rfc3339_ns, quote as go_quote};
use canardstack_query::logql::eval::MAX_POINTS_PER_SERIES;
use canardstack_query::logql::plan::Direction;
use canardstack_query::logql::resolution::{default_step_ns, points};
use std::time::{SystemTime, UNIX_EPOCH};

const SECOND: i64 = 1_000_000_000;
pub const DEFAULT_LIMIT: u64 = 100;
const DEFAULT_SINCE_NS: i64 = 3600 * SECOND;

/// A time outside what an int64 of nanoseconds holds: Go would wrap it
/// silently, we answer 400.
fn out_of_range(value: &str) -> String {
    format!("{} {OUTSIDE_NANOSECONDS}", go_quote(value))
}

const OUTSIDE_NANOSECONDS: &str = "is outside the timestamps an int64 of nanoseconds holds (1677-09-21 to 2262-04-11)";

/// RFC 3339 times are read only for years wholly inside the nanosecond range,
/// so their arithmetic cannot overflow.
fn rfc3339_in_range(value: &str) -> bool {
    value.get(..4).and_then(|year| year.parse::<i64>().ok()).is_some_and(|year| (1678..=2261).contains(&year))
}

pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// A timestamp parameter; the error is Loki's (Go's strconv message).
pub fn parse_timestamp(value: &str) -> Result<i64, String> {
    if value.contains('.') {
        if let Ok(seconds) = value.parse::<f64>() {
            let (whole, fraction) = (seconds.trunc(), seconds.fract());
            let fraction = (fraction * 1000.0).round() / 1000.0;
            // (-2^63 / 1e9, 2^63 / 1e9) seconds, so the product below fits
            if !whole.is_finite() || whole.abs() >= 9_223_372_036.0 {
                return Err(out_of_range(value));
            }
            return (whole as i64 * SECOND)
                .checked_add((fraction * SECOND as f64) as i64)
                .ok_or_else(|| out_of_range(value));
        }
    }
    match value.parse::<i64>() {
        Ok(number) if value.len() <= 10 => number.checked_mul(SECOND).ok_or_else(|| out_of_range(value)),
        Ok(nanos) => Ok(nanos),
        Err(_) if value.len() >= 20 && value.as_bytes()[4] == b'-' && !rfc3339_in_range(value) => {
            Err(out_of_range(value))
        }
        Err(error) => parse_rfc3339_ns(value).ok_or_else(|| {
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

/// A Prometheus duration (`1h30m`, `90s`, `500ms`, `2d`), in nanoseconds.
pub fn parse_prometheus_duration(text: &str) -> Option<i64> {
    i64::try_from(parse_prometheus_duration_ms(text)? * 1_000_000).ok()
}

/// `step` / `interval`: float seconds, else a Prometheus duration.
pub fn parse_seconds_or_duration(value: &str) -> Result<i64, String> {
    let nanos = parse_duration(value)?;
    i64::try_from(nanos)
        .map_err(|_| format!("cannot parse {} to a valid duration. It overflows int64", go_quote(value)))
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
        None => end
            .min(now)
            .checked_sub(since)
            .ok_or_else(|| format!("could not parse 'start' parameter: end minus since {OUTSIDE_NANOSECONDS}"))?,
    };
    Ok((start, end))
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
    if points(start, end, step) > MAX_POINTS_PER_SERIES {
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

/// Go's `time.Duration.String()` for whole seconds (`768h0m0s`), as Loki's limit messages print them
/// (in i128, so a span between two extreme times prints rather than wraps).
pub fn go_duration(ns: impl Into<i128>) -> String {
    let ns = ns.into();
    let seconds = ns / SECOND as i128;
    let fraction = ns % SECOND as i128;
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
        // one reading with the Prometheus API: Go-style floats only, NaN refused
        assert_eq!(
            parse_seconds_or_duration("NaN"),
            Err("cannot parse \"NaN\" to a valid duration. It overflows int64".into())
        );
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
    fn extreme_times_are_errors_not_wrapped_values() {
        let outside = |text: &str| {
            format!(
                "{} is outside the timestamps an int64 of nanoseconds holds (1677-09-21 to 2262-04-11)",
                go_quote(text)
            )
        };
        assert_eq!(parse_timestamp("9999999999"), Err(outside("9999999999")));
        assert_eq!(parse_timestamp("-9999999999"), Ok(-9_999_999_999));
        assert_eq!(parse_timestamp("9223372036.5"), Err(outside("9223372036.5")));
        assert_eq!(parse_timestamp("1.5e300"), Err(outside("1.5e300")));
        assert_eq!(parse_timestamp("9223372035.5"), Ok(9_223_372_035_500_000_000));
        assert_eq!(parse_timestamp("9999-12-31T23:59:59Z"), Err(outside("9999-12-31T23:59:59Z")));
        assert_eq!(parse_timestamp("1600-01-01T00:00:00Z"), Err(outside("1600-01-01T00:00:00Z")));
        assert_eq!(parse_timestamp("2261-12-31T23:59:59Z"), Ok(9_214_646_399_000_000_000));
        assert_eq!(parse_timestamp("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(
            bounds(None, Some("-9223372036854775808"), None, 0),
            Err("could not parse 'start' parameter: end minus since is outside the timestamps an int64 of \
                 nanoseconds holds (1677-09-21 to 2262-04-11)"
                .into())
        );
        let params = |pairs: &'static [(&'static str, &'static str)]| {
            range_params(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()), 0)
        };
        assert_eq!(
            params(&[("start", "-9000000000000000000"), ("end", "9000000000000000000"), ("step", "1")]).unwrap_err(),
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter"
        );
        assert_eq!(
            params(&[("start", "-9000000000000000000"), ("end", "9000000000000000000")]).unwrap().step,
            72_000_000_000_000_000
        );
        assert_eq!(points(i64::MIN, i64::MAX, 1), u64::MAX as i128);
        assert_eq!(
            params(&[("step", "0.0000000001")]).unwrap_err(),
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(768 * 3600 * SECOND), "768h0m0s");
        assert_eq!(go_duration(90 * SECOND), "1m30s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(18_000_000_000_000_000_000i128), "5000000h0m0s");
    }
}
