//! Tempo's query parameters, parsed the way Tempo's handlers parse them:
//! `start`/`end` as whole unix seconds, durations in Go's `time.ParseDuration`
//! syntax, `tags` as logfmt, positive `limit`/`spss`. Error texts follow
//! Tempo's (`invalid start: strconv.ParseInt: ...`), since Grafana shows
//! them to the user as they come.

use super::TempoError;
use crate::compat::Params;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// A time range in nanoseconds: start inclusive, end exclusive, either open.
pub type Range = (Option<i64>, Option<i64>);

/// `start` / `end` in unix seconds (0 or absent: no bound), as Tempo's search reads them.
pub fn seconds_range(params: &Params) -> Result<Range, TempoError> {
    let start = seconds(params, "start")?;
    let end = seconds(params, "end")?;
    if start != 0 && end != 0 && end <= start {
        return Err(TempoError::bad(format!(
            "http parameter start must be before end. received start={start} end={end}"
        )));
    }
    // the end second is included whole: clients send a truncated "now"
    let nanos = |s: i64, extra: i64| (s != 0).then(|| (s + extra) * NANOS_PER_SECOND);
    Ok((nanos(start, 0), nanos(end, 1)))
}

fn seconds(params: &Params, name: &str) -> Result<i64, TempoError> {
    let Some(text) = params.get(name) else { return Ok(0) };
    let value = go_parse_int(text, 32).map_err(|e| TempoError::bad(format!("invalid {name}: {e}")))?;
    if value < 0 {
        return Err(TempoError::bad(format!("invalid {name}: must not be negative")));
    }
    Ok(value)
}

/// Go's `strconv.ParseInt(text, 10, bits)`, with its error text.
pub fn go_parse_int(text: &str, bits: u32) -> Result<i64, String> {
    let syntax = || format!("strconv.ParseInt: parsing {text:?}: invalid syntax");
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    let limit = 1i128 << (bits - 1);
    let value: i128 = text.parse().unwrap_or(i128::MAX);
    if value >= limit || value < -limit {
        return Err(format!("strconv.ParseInt: parsing {text:?}: value out of range"));
    }
    Ok(value as i64)
}

/// A positive count (`limit`, `spss`), or the default when absent.
pub fn positive(params: &Params, name: &str, default: u64) -> Result<u64, TempoError> {
    let Some(text) = params.get(name) else { return Ok(default) };
    let value = go_parse_int(text, 64)
        .map_err(|e| TempoError::bad(format!("invalid {name}: {}", e.replace("ParseInt", "Atoi"))))?;
    if value <= 0 {
        return Err(TempoError::bad(format!("invalid {name}: must be a positive number")));
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

/// Go's `time.ParseDuration`: `300ms`, `-1.5h`, `2h45m`; units ns us µs ms s m h.
pub fn go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let scale = match unit {
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => return Err(format!("time: unknown unit {other:?} in duration {text:?}")),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    let nanos = total.round() as i64;
    Ok(if negative { -nanos } else { nanos })
}

/// Go's `time.Duration.String()` for whole seconds and up (`768h0m0s`), for messages.
pub fn go_duration_text(seconds: u64) -> String {
    format!("{}h{}m{}s", seconds / 3600, seconds % 3600 / 60, seconds % 60)
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
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Go's `url.QueryUnescape` for a tag in a path: `%XX` escapes and `+` as a space.
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
            b'+' => {
                out.push(b' ');
                i += 1;
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
    fn ranges_are_unix_seconds() {
        let range = |query: &str| seconds_range(&Params::parse(query));
        assert_eq!(range("").unwrap(), (None, None));
        assert_eq!(range("start=10&end=20").unwrap(), (Some(10_000_000_000), Some(21_000_000_000)));
        assert_eq!(range("start=0&end=20").unwrap(), (None, Some(21_000_000_000)));
        assert_eq!(
            message(range("start=abc").unwrap_err()),
            "invalid start: strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            message(range("end=99999999999").unwrap_err()),
            "invalid end: strconv.ParseInt: parsing \"99999999999\": value out of range"
        );
        assert_eq!(
            message(range("start=20&end=10").unwrap_err()),
            "http parameter start must be before end. received start=20 end=10"
        );
    }

    #[test]
    fn counts_are_positive() {
        let count = |query: &str| positive(&Params::parse(query), "limit", 20);
        assert_eq!(count("").unwrap(), 20);
        assert_eq!(count("limit=5").unwrap(), 5);
        assert_eq!(message(count("limit=0").unwrap_err()), "invalid limit: must be a positive number");
        assert_eq!(
            message(count("limit=x").unwrap_err()),
            "invalid limit: strconv.Atoi: parsing \"x\": invalid syntax"
        );
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
        assert_eq!(unescape("a+b").as_deref(), Some("a b"));
        assert_eq!(unescape("bad%zz"), None);
        assert_eq!(unescape("cut%2"), None);
    }
}
