//! Parameters the way Prometheus' HTTP API reads them: times as unix seconds
//! (fractions rounded to the millisecond) or RFC 3339, durations as float
//! seconds or Prometheus duration strings (`1m30s`), `limit`, and `match[]`
//! selectors. Error texts are Prometheus' own, because clients show them.

use super::render::ApiError;
use crate::compat::Params;
use promql_parser::label::Matcher;
use promql_parser::parser::Expr;

/// Prometheus' `MinTime`/`MaxTime` (the defaults of optional ranges), in
/// milliseconds, and the RFC 3339 text clients send for them.
pub const MIN_TIME_MS: i64 = -9_223_309_901_258_974_000;
pub const MAX_TIME_MS: i64 = 9_223_309_901_258_974_999;
const MIN_TIME_TEXT: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_TEXT: &str = "292277025-08-18T07:12:54.999999999Z";

/// A time in milliseconds, as `parseTime` in Prometheus' API reads it.
pub fn parse_time(text: &str) -> Result<i64, String> {
    if let Some(seconds) = parse_go_float(text) {
        if seconds.is_finite() && seconds.abs() < 9.2e15 {
            let whole = seconds.trunc();
            let fraction = ((seconds - whole) * 1000.0).round() / 1000.0;
            let nanos = whole as i128 * 1_000_000_000 + (fraction * 1e9) as i128;
            return Ok(nanos.div_euclid(1_000_000) as i64);
        }
    }
    if let Some(ms) = parse_rfc3339(text) {
        return Ok(ms);
    }
    match text {
        MIN_TIME_TEXT => Ok(MIN_TIME_MS),
        MAX_TIME_TEXT => Ok(MAX_TIME_MS),
        _ => Err(format!("cannot parse {} to a valid timestamp", go_quote(text))),
    }
}

/// An optional time parameter (`parseTimeParam`): absent or empty gives `default`.
pub fn time_param(params: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    match params.get(name) {
        None => Ok(default),
        Some(text) => parse_time(text)
            .map_err(|e| ApiError::invalid_param(name, &format!("invalid time value for '{name}': {e}"))),
    }
}

/// A required time parameter (`query_range`'s `start` and `end`).
pub fn required_time(params: &Params, name: &str) -> Result<i64, ApiError> {
    parse_time(params.get(name).unwrap_or("")).map_err(|e| ApiError::invalid_param(name, &e))
}

/// A duration in nanoseconds, as `parseDuration` in Prometheus' API reads it.
pub fn parse_duration(text: &str) -> Result<i128, String> {
    if let Some(seconds) = parse_go_float(text) {
        let nanos = seconds * 1e9;
        if nanos > i64::MAX as f64 || nanos < i64::MIN as f64 || nanos.is_nan() {
            return Err(format!("cannot parse {} to a valid duration. It overflows int64", go_quote(text)));
        }
        return Ok(nanos as i128);
    }
    parse_prometheus_duration(text)
        .map(|ms| ms * 1_000_000)
        .ok_or_else(|| format!("cannot parse {} to a valid duration", go_quote(text)))
}

/// `limit`: empty is 0 (no limit); otherwise a non-negative integer.
pub fn limit_param(params: &Params) -> Result<usize, ApiError> {
    let Some(text) = params.get("limit") else { return Ok(0) };
    let limit = go_atoi(text).map_err(|e| ApiError::invalid_param("limit", &e))?;
    if limit < 0 {
        return Err(ApiError::invalid_param("limit", "limit must be non-negative"));
    }
    Ok(limit as usize)
}

/// Go's `strconv.Atoi`, with its error text.
pub fn go_atoi(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {}: invalid syntax", go_quote(text)));
    }
    text.parse::<i64>().map_err(|_| format!("strconv.Atoi: parsing {}: value out of range", go_quote(text)))
}

/// Every `match[]` selector, each at least one matcher that does not match
/// the empty string (Prometheus refuses `{}` and `{a=""}`).
pub fn matcher_sets(params: &Params) -> Result<Vec<Vec<Matcher>>, String> {
    let mut sets = Vec::new();
    for text in params.get_all("match[]") {
        let matchers = parse_selector(text)?;
        if !matchers.iter().any(|m| !m.is_match("")) {
            return Err("match[] must contain at least one non-empty matcher".into());
        }
        sets.push(matchers);
    }
    Ok(sets)
}

/// A series selector (`up{job="a"}` or `{__name__=~"x.*"}`) as matchers.
pub fn parse_selector(text: &str) -> Result<Vec<Matcher>, String> {
    let expr = crate::query::promql::parse(text).map_err(|e| match e {
        crate::query::promql::PromqlError::Parse { message, .. } => format!("parse error: {message}"),
        other => other.to_string(),
    })?;
    match expr {
        Expr::VectorSelector(vs) if vs.offset.is_none() && vs.at.is_none() => {
            crate::query::promql::eval::selector_matchers(&vs).map_err(|e| e.to_string())
        }
        _ => Err(format!("parse error: expected a series selector, got {}", go_quote(text))),
    }
}

/// Go's `strconv.ParseFloat` accepts decimal numbers with exponents and
/// `Inf`/`NaN`; Rust's parser agrees on those, but also on forms Go refuses
/// (`inf` is accepted by both). Hex floats (`0x1p3`) are not read.
fn parse_go_float(text: &str) -> Option<f64> {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let numeric = !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && body.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'.');
    let special = matches!(body.to_ascii_lowercase().as_str(), "inf" | "infinity" | "nan");
    if numeric || special {
        text.parse::<f64>().ok()
    } else {
        None
    }
}

/// `model.ParseDuration`: units y w d h m s ms, each at most once, largest first;
/// `0` alone is allowed. Milliseconds.
pub fn parse_prometheus_duration(text: &str) -> Option<i128> {
    if text == "0" {
        return Some(0);
    }
    const UNITS: [(&str, i128); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut rest = text;
    let mut next_unit = 0;
    let mut total: i128 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: i128 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let index = UNITS.iter().position(|(name, _)| *name == unit)?;
        if index < next_unit {
            return None;
        }
        next_unit = index + 1;
        total += number.checked_mul(UNITS[index].1)?;
        if total > i64::MAX as i128 / 1_000_000 {
            return None;
        }
    }
    Some(total)
}

/// RFC 3339 with optional fractional seconds (Go's `time.RFC3339Nano` layout
/// when parsing): `2026-01-02T03:04:05.123Z`, `...+02:00`. Milliseconds,
/// rounded down like Prometheus' `timestamp.FromTime`.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
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
    let mut nanos: i64 = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = fraction[..digits].parse::<i64>().ok()? * 10i64.pow(9 - digits as u32);
        rest = &fraction[digits..];
    }
    let offset_seconds = match rest {
        "Z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                return None;
            }
            let hours: i64 = rest[1..3].parse().ok()?;
            let minutes: i64 = rest[4..6].parse().ok()?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let sign = if rb[0] == b'-' { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1000 + nanos / 1_000_000)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Go's `%q` for the texts we quote (ASCII printable as is, the rest escaped).
pub fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_unix_seconds_round_to_the_millisecond() {
        assert_eq!(parse_time("4"), Ok(4000));
        assert_eq!(parse_time("1435781451.781"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("1.0006"), Ok(1001));
        assert_eq!(parse_time("1.0005"), Ok(1000)); // 1.0005 - 1 is 0.000499999... in binary, as in Go
        assert_eq!(parse_time("-1.5"), Ok(-1500));
        assert_eq!(parse_time("1e3"), Ok(1_000_000));
        assert_eq!(parse_time("+5"), Ok(5000));
    }

    #[test]
    fn times_as_rfc3339() {
        assert_eq!(parse_time("1970-01-01T00:00:04Z"), Ok(4000));
        assert_eq!(parse_time("2015-07-01T20:10:51.781Z"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("2015-07-01T22:10:51.7819Z"), Ok(1_435_788_651_781));
        assert_eq!(parse_time("2015-07-01T22:10:51+02:00"), Ok(1_435_781_451_000));
        assert_eq!(parse_time("1969-12-31T23:59:59.5Z"), Ok(-500));
        assert_eq!(parse_time(MAX_TIME_TEXT), Ok(MAX_TIME_MS));
        assert_eq!(parse_time(MIN_TIME_TEXT), Ok(MIN_TIME_MS));
    }

    #[test]
    fn bad_times_name_the_text() {
        for text in ["", "abc", "2015-07-01", "2015-13-01T00:00:00Z", "2015-07-01T00:00:00", "0x10", "1h"] {
            assert_eq!(parse_time(text), Err(format!("cannot parse {} to a valid timestamp", go_quote(text))));
        }
    }

    #[test]
    fn durations_as_seconds_or_prometheus_text() {
        assert_eq!(parse_duration("15"), Ok(15_000_000_000));
        assert_eq!(parse_duration("0.5"), Ok(500_000_000));
        assert_eq!(parse_duration("15s"), Ok(15_000_000_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("1h5ms"), Ok(3_600_005_000_000));
        assert_eq!(parse_duration("1y2w3d"), Ok((365 + 14 + 3) * 86_400_000_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("-1"), Ok(-1_000_000_000));
        assert_eq!(parse_duration("1s1m"), Err("cannot parse \"1s1m\" to a valid duration".into()));
        assert_eq!(parse_duration("5x"), Err("cannot parse \"5x\" to a valid duration".into()));
        assert_eq!(parse_duration(""), Err("cannot parse \"\" to a valid duration".into()));
        assert_eq!(parse_duration("1e10"), Err("cannot parse \"1e10\" to a valid duration. It overflows int64".into()));
    }

    #[test]
    fn limits_and_matchers() {
        assert_eq!(limit_param(&Params::parse("limit=5")).unwrap(), 5);
        assert_eq!(limit_param(&Params::parse("")).unwrap(), 0);
        assert_eq!(
            limit_param(&Params::parse("limit=x")).unwrap_err().message,
            "invalid parameter \"limit\": strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            limit_param(&Params::parse("limit=-1")).unwrap_err().message,
            "invalid parameter \"limit\": limit must be non-negative"
        );
        let sets = matcher_sets(&Params::parse("match[]=up&match[]=%7Bjob%3D%22a%22%7D")).unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0][0].name, "__name__");
        assert_eq!(
            matcher_sets(&Params::parse("match[]=%7Bjob%3D%22%22%7D")).unwrap_err(),
            "parse error: vector selector must contain at least one non-empty matcher"
        );
        assert!(matcher_sets(&Params::parse("match[]=rate(x%5B1m%5D)")).unwrap_err().starts_with("parse error"));
    }
}
