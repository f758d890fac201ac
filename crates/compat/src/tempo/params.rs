//! Tempo's query parameters, parsed the way Tempo's `pkg/api` parses them:
//! `start`/`end` in whole unix seconds (`strconv.ParseUint(s, 10, 32)` on
//! search, `ParseInt(s, 10, 64)` on trace lookups, `ParseInt(s, 10, 32)` on
//! tag routes), durations in Go's `time.ParseDuration` syntax, `tags` as
//! logfmt, counts with `ParseUint(s, 10, 32)`. Error texts are Tempo's
//! (`invalid start: strconv.ParseUint: ...`), since Grafana shows them as
//! they come. An empty parameter counts as absent, as in Tempo.

use super::TempoError;
use crate::Params;
use canardstack_query::go_duration::parse_go_duration;
use canardstack_query::promql::lake::{LAKE_FIRST_MS, LAKE_LAST_MS};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// A time range in nanoseconds: start inclusive, end exclusive, either open.
pub type Range = (Option<i64>, Option<i64>);

/// Search's `start` / `end` (unix seconds, 0 or absent: no bound); once either
/// is given, `end` must be after `start`, as Tempo's search requires.
pub fn search_range(params: &Params) -> Result<Range, TempoError> {
    let start = unsigned_seconds(params, "start")?;
    let end = unsigned_seconds(params, "end")?;
    if (start != 0 || end != 0) && end <= start {
        return Err(start_after_end(start as i64, end as i64));
    }
    Ok((bound(start as i64, 0), bound(end as i64, 1)))
}

/// A trace lookup's `start` / `end`: signed 64-bit seconds, each optional,
/// and `end` after `start` when both are given.
pub fn trace_range(params: &Params) -> Result<Range, TempoError> {
    let start = signed_seconds(params, "start", 64)?;
    let end = signed_seconds(params, "end", 64)?;
    if let (Some(start), Some(end)) = (start, end) {
        if end <= start {
            return Err(start_after_end(start, end));
        }
    }
    // clamped to what a TIMESTAMP_NS holds: DuckDB refuses make_timestamp_ns(i64::MAX)
    let (first, last) = (LAKE_FIRST_MS * 1_000_000, LAKE_LAST_MS * 1_000_000);
    let nanos = |s: i64, extra: i64| s.saturating_add(extra).saturating_mul(NANOS_PER_SECOND).clamp(first, last);
    Ok((start.map(|s| nanos(s, 0)), end.map(|s| nanos(s, 1))))
}

/// The tag routes' `start` / `end`: signed 32-bit seconds, not checked
/// against each other (Tempo does not); 0 or less is no bound.
pub fn tag_range(params: &Params) -> Result<Range, TempoError> {
    let start = signed_seconds(params, "start", 32)?.unwrap_or(0);
    let end = signed_seconds(params, "end", 32)?.unwrap_or(0);
    Ok((bound(start, 0), bound(end, 1)))
}

/// Seconds -> nanoseconds, `extra` seconds added: the end second is included
/// whole, because clients send a truncated "now".
fn bound(seconds: i64, extra: i64) -> Option<i64> {
    (seconds > 0).then(|| (seconds + extra) * NANOS_PER_SECOND)
}

fn start_after_end(start: i64, end: i64) -> TempoError {
    TempoError::bad(format!("http parameter start must be before end. received start={start} end={end}"))
}

fn unsigned_seconds(params: &Params, name: &str) -> Result<u64, TempoError> {
    Ok(unsigned(params, name)?.unwrap_or(0))
}

fn signed_seconds(params: &Params, name: &str, bits: u32) -> Result<Option<i64>, TempoError> {
    params
        .get(name)
        .map(|text| go_parse_int(text, bits).map_err(|e| TempoError::bad(format!("invalid {name}: {e}"))))
        .transpose()
}

/// A `strconv.ParseUint(s, 10, 32)` parameter (`limit`, `spss`), None when absent.
pub fn unsigned(params: &Params, name: &str) -> Result<Option<u64>, TempoError> {
    params
        .get(name)
        .map(|text| go_parse_uint(text, 32).map_err(|e| TempoError::bad(format!("invalid {name}: {e}"))))
        .transpose()
}

/// Search's `limit`: a positive count, `default` when absent.
pub fn search_limit(params: &Params, default: u64) -> Result<u64, TempoError> {
    match unsigned(params, "limit")? {
        None => Ok(default),
        Some(0) => Err(TempoError::bad("invalid limit: must be a positive number")),
        Some(limit) => Ok(limit),
    }
}

/// Go's `strconv.ParseInt(text, 10, bits)`, with its error text.
pub fn go_parse_int(text: &str, bits: u32) -> Result<i64, String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseInt: parsing {text:?}: invalid syntax"));
    }
    let limit = 1i128 << (bits - 1);
    let value: i128 = text.parse().unwrap_or(i128::MAX);
    if value >= limit || value < -limit {
        return Err(format!("strconv.ParseInt: parsing {text:?}: value out of range"));
    }
    Ok(value as i64)
}

/// Go's `strconv.ParseUint(text, 10, bits)`: digits only (no sign), with its error text.
pub fn go_parse_uint(text: &str, bits: u32) -> Result<u64, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseUint: parsing {text:?}: invalid syntax"));
    }
    let value: u128 = text.parse().unwrap_or(u128::MAX);
    if value >= 1u128 << bits {
        return Err(format!("strconv.ParseUint: parsing {text:?}: value out of range"));
    }
    Ok(value as u64)
}

/// A Go duration parameter in nanoseconds, None when absent.
pub fn duration(params: &Params, name: &str) -> Result<Option<i64>, TempoError> {
    params
        .get(name)
        .map(|text| go_duration(text).map_err(|e| TempoError::bad(format!("invalid {name}: {e}"))))
        .transpose()
}

/// Go's `time.ParseDuration` with its error text, as Tempo reads
/// `minDuration` and `maxDuration`.
pub fn go_duration(text: &str) -> Result<i64, String> {
    parse_go_duration(text).map_err(|e| e.go_message(text))
}

/// Go's `time.Duration.String()` for whole seconds and up (`768h0m0s`), for messages.
pub fn go_duration_text(seconds: u64) -> String {
    format!("{}h{}m{}s", seconds / 3600, seconds % 3600 / 60, seconds % 60)
}

/// The most tags one search may give (`tags=` or legacy parameters): each
/// becomes one `&&` of the query, whose tree is bounded by the TraceQL
/// parser's nesting limit, and repeats are found by comparing with all
/// earlier tags.
pub const MAX_SEARCH_TAGS: usize = canardstack_query::traceql::parser::MAX_NESTING;

pub fn too_many_tags() -> TempoError {
    TempoError::bad(format!("invalid tags: more than {MAX_SEARCH_TAGS} tags"))
}

/// `tags` in logfmt (`service.name=cart http.url="/a b"`): keys in order, no repeats.
pub fn logfmt(text: &str) -> Result<Vec<(String, String)>, TempoError> {
    let fail = |message: &str, at: usize| TempoError::bad(format!("invalid tags: {message} at pos {}", at + 1));
    let bytes: Vec<char> = text.chars().collect();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_whitespace() {
            i += 1;
            continue;
        }
        let key_start = i;
        while i < bytes.len() && !bytes[i].is_whitespace() && bytes[i] != '=' {
            if bytes[i] == '"' {
                return Err(fail("unexpected '\"'", i));
            }
            i += 1;
        }
        if i == key_start {
            return Err(fail("unexpected '='", i));
        }
        let key: String = bytes[key_start..i].iter().collect();
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == '=' {
            i += 1;
            if i < bytes.len() && bytes[i] == '"' {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(fail("unterminated quoted value", i)),
                        Some('"') => break,
                        Some('\\') => {
                            match bytes.get(i + 1) {
                                Some('n') => value.push('\n'),
                                Some('t') => value.push('\t'),
                                Some(&c @ ('"' | '\\')) => value.push(c),
                                _ => return Err(fail("invalid quoted value", i)),
                            }
                            i += 2;
                        }
                        Some(&c) => {
                            value.push(c);
                            i += 1;
                        }
                    }
                }
                i += 1;
                if i < bytes.len() && !bytes[i].is_whitespace() {
                    return Err(fail("unexpected character after quoted value", i));
                }
            } else {
                while i < bytes.len() && !bytes[i].is_whitespace() {
                    if bytes[i] == '=' || bytes[i] == '"' {
                        return Err(fail(&format!("unexpected '{}'", bytes[i]), i));
                    }
                    value.push(bytes[i]);
                    i += 1;
                }
            }
        }
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(TempoError::bad(format!("invalid tags: tag {key} has been set twice")));
        }
        if pairs.len() == MAX_SEARCH_TAGS {
            return Err(too_many_tags());
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// A tag taken from a path: `%XX` escapes decoded, `+` kept, as Go decodes
/// request paths before Tempo's router reads the tag.
pub fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(error: TempoError) -> String {
        match error {
            TempoError::BadRequest(message) => message,
            other => panic!("not a bad request: {other:?}"),
        }
    }

    #[test]
    fn search_ranges_are_unsigned_seconds() {
        let range = |query: &str| search_range(&Params::parse(query));
        assert_eq!(range("").unwrap(), (None, None));
        assert_eq!(range("start=10&end=20").unwrap(), (Some(10_000_000_000), Some(21_000_000_000)));
        assert_eq!(range("start=0&end=20").unwrap(), (None, Some(21_000_000_000)));
        assert_eq!(
            message(range("start=abc").unwrap_err()),
            "invalid start: strconv.ParseUint: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            message(range("start=-1&end=5").unwrap_err()),
            "invalid start: strconv.ParseUint: parsing \"-1\": invalid syntax"
        );
        assert_eq!(
            message(range("end=99999999999").unwrap_err()),
            "invalid end: strconv.ParseUint: parsing \"99999999999\": value out of range"
        );
        assert_eq!(
            message(range("start=20&end=10").unwrap_err()),
            "http parameter start must be before end. received start=20 end=10"
        );
        assert_eq!(
            message(range("start=20").unwrap_err()),
            "http parameter start must be before end. received start=20 end=0"
        );
    }

    #[test]
    fn trace_ranges_are_signed_and_optional() {
        let range = |query: &str| trace_range(&Params::parse(query));
        assert_eq!(range("").unwrap(), (None, None));
        assert_eq!(range("start=10").unwrap(), (Some(10_000_000_000), None));
        assert_eq!(range("start=-1&end=0").unwrap(), (Some(-1_000_000_000), Some(1_000_000_000)));
        // the extremes are clamped to what a TIMESTAMP_NS holds (1678 to 2262), never wrapped
        assert_eq!(
            range("start=-9223372036854775808&end=9223372036854775807").unwrap(),
            (Some(-9_214_560_000_000_000_000), Some(9_214_646_400_000_000_000))
        );
        assert_eq!(
            message(range("start=x").unwrap_err()),
            "invalid start: strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            message(range("start=0&end=0").unwrap_err()),
            "http parameter start must be before end. received start=0 end=0"
        );
    }

    #[test]
    fn tag_ranges_are_not_ordered() {
        let range = |query: &str| tag_range(&Params::parse(query));
        assert_eq!(range("start=20&end=10").unwrap(), (Some(20_000_000_000), Some(11_000_000_000)));
        assert_eq!(range("start=-5").unwrap(), (None, None));
        assert_eq!(
            message(range("end=4294967296").unwrap_err()),
            "invalid end: strconv.ParseInt: parsing \"4294967296\": value out of range"
        );
    }

    #[test]
    fn counts_are_unsigned() {
        let limit = |query: &str| search_limit(&Params::parse(query), 20);
        assert_eq!(limit("").unwrap(), 20);
        assert_eq!(limit("limit=5").unwrap(), 5);
        assert_eq!(message(limit("limit=0").unwrap_err()), "invalid limit: must be a positive number");
        assert_eq!(
            message(limit("limit=x").unwrap_err()),
            "invalid limit: strconv.ParseUint: parsing \"x\": invalid syntax"
        );
        let spss = |query: &str| unsigned(&Params::parse(query), "spss");
        assert_eq!(spss("spss=0").unwrap(), Some(0));
        assert_eq!(
            message(spss("spss=-1").unwrap_err()),
            "invalid spss: strconv.ParseUint: parsing \"-1\": invalid syntax"
        );
        assert_eq!(go_parse_uint("4294967295", 32), Ok(4_294_967_295));
        assert!(go_parse_uint("+1", 32).is_err());
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("300ms"), Ok(300_000_000));
        assert_eq!(go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(go_duration("2µs"), Ok(2_000));
        assert_eq!(go_duration("-1s"), Ok(-1_000_000_000));
        assert_eq!(go_duration("0"), Ok(0));
        assert_eq!(go_duration("5"), Err("time: missing unit in duration \"5\"".into()));
        assert_eq!(go_duration("5x"), Err("time: unknown unit \"x\" in duration \"5x\"".into()));
        assert_eq!(go_duration("abc"), Err("time: invalid duration \"abc\"".into()));
        assert_eq!(go_duration(""), Err("time: invalid duration \"\"".into()));
        assert_eq!(go_duration("2\u{3bc}s"), Ok(2_000));
        // past an int64 of nanoseconds is Go's invalid duration, not a saturated value
        assert_eq!(go_duration("9223372036854775807ns"), Ok(i64::MAX));
        assert_eq!(
            go_duration("9223372036854775808ns"),
            Err("time: invalid duration \"9223372036854775808ns\"".into())
        );
        assert_eq!(go_duration("-9223372036854775808ns"), Ok(i64::MIN));
        // Go truncates fractions at nanoseconds
        assert_eq!(go_duration("1.0000000005s"), Ok(1_000_000_000));
        assert_eq!(go_duration("1..5s"), Err("time: missing unit in duration \"1..5s\"".into()));
        assert_eq!(go_duration_text(32 * 24 * 3600), "768h0m0s");
    }

    #[test]
    fn logfmt_tags() {
        assert_eq!(
            logfmt(r#"service.name=cart http.url="/a b" flag"#).unwrap(),
            vec![
                ("service.name".into(), "cart".into()),
                ("http.url".into(), "/a b".into()),
                ("flag".into(), String::new())
            ]
        );
        assert_eq!(logfmt(r#"a="x\"y""#).unwrap(), vec![("a".into(), "x\"y".into())]);
        assert_eq!(message(logfmt("a=1 a=2").unwrap_err()), "invalid tags: tag a has been set twice");
        assert_eq!(message(logfmt("=x").unwrap_err()), "invalid tags: unexpected '=' at pos 1");
        assert_eq!(message(logfmt("a=\"x").unwrap_err()), "invalid tags: unterminated quoted value at pos 5");
    }

    #[test]
    fn path_tags_are_unescaped() {
        assert_eq!(unescape("span.http%2Emethod").as_deref(), Some("span.http.method"));
        assert_eq!(unescape("a+b%20c").as_deref(), Some("a+b c"));
        assert_eq!(unescape("bad%zz"), None);
        assert_eq!(unescape("cut%2"), None);
    }
}
