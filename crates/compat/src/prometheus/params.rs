//! Parameters the way Prometheus' HTTP API reads them: times as unix seconds
//! (fractions rounded to the millisecond) or RFC 3339, durations as float
//! seconds or Prometheus duration strings (`1m30s`), `limit`, and `match[]`
//! selectors. Error texts are Prometheus' own, because clients show them.

use super::render::ApiError;
use crate::Params;
pub use canardstack_query::go_text::parse_duration;
pub use canardstack_query::go_text::quote as go_quote;
use canardstack_query::go_text::{parse_go_float, parse_rfc3339_ns};
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
    if let Some(ns) = parse_rfc3339_ns(text) {
        // rounded down to the millisecond, like Prometheus' timestamp.FromTime
        return Ok(ns.div_euclid(1_000_000));
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
    let expr = canardstack_query::promql::parse(text).map_err(|e| match e {
        canardstack_query::promql::PromqlError::Parse { message, .. } => format!("parse error: {message}"),
        other => other.to_string(),
    })?;
    match expr {
        Expr::VectorSelector(vs) if vs.offset.is_none() && vs.at.is_none() => {
            canardstack_query::promql::eval::selector_matchers(&vs).map_err(|e| e.to_string())
        }
        _ => Err(format!("parse error: expected a series selector, got {}", go_quote(text))),
    }
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
