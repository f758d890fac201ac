//! Go's `time.ParseDuration`, the one duration syntax Loki and Tempo read
//! from label values and HTTP parameters, and the literal syntax their query
//! lexers build on it. Every caller keeps its own restrictions (signs,
//! minimums, error wording) on top of these.

use crate::go_text::{prometheus_duration_ms, quote, PrometheusDurationError};

const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// Go accumulates in a uint64 and accepts up to 2^63 before the sign is
/// applied, so `-9223372036854775808ns` is valid and its positive twin is not.
const LIMIT: u64 = 1 << 63;

/// Why a duration did not parse. Go words an overflow as an invalid
/// duration; it is a variant of its own because some callers say more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    Invalid,
    MissingUnit,
    UnknownUnit(String),
    Overflow,
}

impl DurationError {
    /// The error text Go's `time.ParseDuration` returns for `text`.
    pub fn go_message(&self, text: &str) -> String {
        match self {
            DurationError::Invalid | DurationError::Overflow => format!("time: invalid duration {}", quote(text)),
            DurationError::MissingUnit => format!("time: missing unit in duration {}", quote(text)),
            DurationError::UnknownUnit(unit) => {
                format!("time: unknown unit {} in duration {}", quote(unit), quote(text))
            }
        }
    }
}

fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        // U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Go's `time.ParseDuration` in nanoseconds: an optional sign, then one or
/// more decimal numbers (fractions allowed) each with a unit, or a bare `0`.
/// The arithmetic is integral as in Go: fractions are truncated towards zero
/// at nanoseconds, and anything past an int64 is an error, never saturated.
pub fn parse_go_duration(text: &str) -> Result<i64, DurationError> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(DurationError::Invalid);
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(DurationError::Invalid);
        }
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mut whole: u64 = 0;
        for digit in rest[..int_len].bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u64::from(digit - b'0')))
                .filter(|w| *w <= LIMIT)
                .ok_or(DurationError::Overflow)?;
        }
        rest = &rest[int_len..];
        // digits past what a u64 holds only refine below a nanosecond, so they are read and dropped
        let (mut fraction, mut scale, mut fraction_len) = (0u64, 1f64, 0);
        if let Some(after_dot) = rest.strip_prefix('.') {
            fraction_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            let mut full = false;
            for digit in after_dot[..fraction_len].bytes() {
                match fraction.checked_mul(10).and_then(|f| f.checked_add(u64::from(digit - b'0'))) {
                    Some(next) if !full && next <= LIMIT => {
                        fraction = next;
                        scale *= 10.0;
                    }
                    _ => full = true,
                }
            }
            rest = &after_dot[fraction_len..];
        }
        if int_len == 0 && fraction_len == 0 {
            return Err(DurationError::Invalid);
        }
        let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit);
        }
        let unit = &rest[..unit_len];
        let nanos = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit(unit.to_string()))?;
        rest = &rest[unit_len..];
        let mut value = whole.checked_mul(nanos).filter(|v| *v <= LIMIT).ok_or(DurationError::Overflow)?;
        if fraction > 0 {
            value = value
                .checked_add((fraction as f64 * (nanos as f64 / scale)) as u64)
                .filter(|v| *v <= LIMIT)
                .ok_or(DurationError::Overflow)?;
        }
        total = total.checked_add(value).filter(|t| *t <= LIMIT).ok_or(DurationError::Overflow)?;
    }
    if negative {
        Ok((total as i64).wrapping_neg())
    } else {
        i64::try_from(total).map_err(|_| DurationError::Overflow)
    }
}

/// A duration literal in a Loki or Tempo query (`5m`, `1.5s`, `2d`): both
/// lexers try Prometheus' `model.ParseDuration` first, for its `d`, `w` and
/// `y`, then Go's syntax. Neither lexer reads U+03BC as part of a duration
/// (only the micro sign), so `10μs` is no literal there although Go's parser
/// would take it.
pub fn parse_query_duration(text: &str) -> Result<i64, DurationError> {
    let prometheus = match prometheus_duration_ms(text) {
        Ok(ms) => return i64::try_from(ms * 1_000_000).map_err(|_| DurationError::Overflow),
        Err(error) => error,
    };
    if text.contains('\u{3bc}') {
        return Err(DurationError::UnknownUnit("\u{3bc}s".into()));
    }
    match parse_go_duration(text) {
        // `99999999999d` is Go's unknown unit but Prometheus' overflow; the overflow says more
        Err(_) if prometheus == PrometheusDurationError::Overflow => Err(DurationError::Overflow),
        other => other,
    }
}

/// Go's `Duration.Seconds()`: whole seconds plus the remainder, so `1.5s`
/// is exactly 1.5.
pub fn seconds(nanos: i64) -> f64 {
    (nanos / NANOS_PER_SECOND) as f64 + (nanos % NANOS_PER_SECOND) as f64 / 1e9
}

/// A Go duration in seconds, as Loki reads durations out of label values
/// (`unwrap duration()`, duration label filters, detected field types).
pub fn parse_go_duration_seconds(text: &str) -> Option<f64> {
    parse_go_duration(text).ok().map(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use DurationError::*;

    #[test]
    fn values_as_go_documents_them() {
        let cases: [(&str, i64); 22] = [
            ("0", 0),
            ("+0", 0),
            ("-0", 0),
            ("5s", 5_000_000_000),
            ("30s", 30_000_000_000),
            ("1478s", 1_478_000_000_000),
            ("-5s", -5_000_000_000),
            ("+5s", 5_000_000_000),
            ("-0s", 0),
            ("5.0s", 5_000_000_000),
            ("5.6s", 5_600_000_000),
            ("5.s", 5_000_000_000),
            (".5s", 500_000_000),
            ("1.004s", 1_004_000_000),
            ("100.00100s", 100_001_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12\u{b5}s", 12_000),
            ("13\u{3bc}s", 13_000),
            ("3h30m", 12_600_000_000_000),
            ("-2m3.4s", -123_400_000_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
        ];
        for (text, nanos) in cases {
            assert_eq!(parse_go_duration(text), Ok(nanos), "{text}");
        }
        // units in any order and repeated, unlike Prometheus' syntax
        assert_eq!(parse_go_duration("39h9m14.425s"), Ok(140_954_425_000_000));
        assert_eq!(parse_go_duration("1s1h1s"), Ok(3_602_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
    }

    #[test]
    fn fractions_truncate_at_nanoseconds() {
        assert_eq!(parse_go_duration("0.3333333333333333333h"), Ok(1_200_000_000_000));
        assert_eq!(parse_go_duration("1.0000000005s"), Ok(1_000_000_000));
        assert_eq!(parse_go_duration("0.9999999999ns"), Ok(0));
        // more fraction digits than a u64 holds are read and ignored
        assert_eq!(parse_go_duration("0.100000000000000000000h"), Ok(360_000_000_000));
        assert_eq!(parse_go_duration("9007199254740993ns"), Ok(9_007_199_254_740_993));
    }

    #[test]
    fn the_int64_edges() {
        assert_eq!(parse_go_duration("9223372036854775807ns"), Ok(i64::MAX));
        assert_eq!(parse_go_duration("-9223372036854775808ns"), Ok(i64::MIN));
        assert_eq!(parse_go_duration("9223372036854775808ns"), Err(Overflow));
        assert_eq!(parse_go_duration("-9223372036854775809ns"), Err(Overflow));
        assert_eq!(parse_go_duration("9223372036.854775807s"), Ok(i64::MAX));
        assert_eq!(parse_go_duration("2562047h47m16.854775807s"), Ok(i64::MAX));
        assert_eq!(parse_go_duration("2562048h"), Err(Overflow));
        assert_eq!(parse_go_duration("9999999999999999h"), Err(Overflow));
        assert_eq!(parse_go_duration("99999999999999999999999999ns"), Err(Overflow));
        assert_eq!(parse_go_duration("5000000h5000000h"), Err(Overflow));
    }

    #[test]
    fn errors_with_go_texts() {
        let message = |text: &str| parse_go_duration(text).unwrap_err().go_message(text);
        assert_eq!(message(""), "time: invalid duration \"\"");
        assert_eq!(message("3"), "time: missing unit in duration \"3\"");
        assert_eq!(message("-"), "time: invalid duration \"-\"");
        assert_eq!(message("s"), "time: invalid duration \"s\"");
        assert_eq!(message("."), "time: invalid duration \".\"");
        assert_eq!(message("-."), "time: invalid duration \"-.\"");
        assert_eq!(message(".s"), "time: invalid duration \".s\"");
        assert_eq!(message("+.s"), "time: invalid duration \"+.s\"");
        assert_eq!(message("1d"), "time: unknown unit \"d\" in duration \"1d\"");
        assert_eq!(message("1..5s"), "time: missing unit in duration \"1..5s\"");
        assert_eq!(message("1e3s"), "time: unknown unit \"e\" in duration \"1e3s\"");
        assert_eq!(message("+-1s"), "time: invalid duration \"+-1s\"");
        assert_eq!(message("1s "), "time: unknown unit \"s \" in duration \"1s \"");
        assert_eq!(message("00"), "time: missing unit in duration \"00\"");
        assert_eq!(message("3000000h3000000h"), "time: invalid duration \"3000000h3000000h\"");
        assert_eq!(message("1\u{1}"), "time: unknown unit \"\\x01\" in duration \"1\\x01\"");
    }

    #[test]
    fn query_literals_add_prometheus_units() {
        assert_eq!(parse_query_duration("1d"), Ok(86_400_000_000_000));
        assert_eq!(parse_query_duration("1w2d"), Ok(9 * 86_400_000_000_000));
        assert_eq!(parse_query_duration("292y"), Ok(9_208_512_000_000_000_000));
        assert_eq!(parse_query_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_query_duration("1s1m"), Ok(61_000_000_000));
        assert_eq!(parse_query_duration("10\u{b5}s"), Ok(10_000));
        assert_eq!(parse_query_duration("0"), Ok(0));
        // neither syntax mixes Prometheus' units with fractions or with Go's order
        assert_eq!(parse_query_duration("1.5d"), Err(UnknownUnit("d".into())));
        assert_eq!(parse_query_duration("1h1d"), Err(UnknownUnit("d".into())));
        assert_eq!(parse_query_duration("10\u{3bc}s"), Err(UnknownUnit("\u{3bc}s".into())));
        assert_eq!(parse_query_duration("99999999999999h"), Err(Overflow));
        assert_eq!(parse_query_duration("99999999999d"), Err(Overflow));
        assert_eq!(parse_query_duration("293y"), Err(Overflow));
        assert_eq!(parse_query_duration("1e400s"), Err(UnknownUnit("e".into())));
    }

    #[test]
    fn seconds_as_go_computes_them() {
        assert_eq!(parse_go_duration_seconds("1.5s"), Some(1.5));
        assert_eq!(parse_go_duration_seconds("-2us"), Some(-2e-6));
        assert_eq!(parse_go_duration_seconds("1h30m"), Some(5400.0));
        assert_eq!(parse_go_duration_seconds("250ms"), Some(0.25));
        assert_eq!(parse_go_duration_seconds("1d"), None);
        assert_eq!(parse_go_duration_seconds("5"), None);
        assert_eq!(seconds(-1), -1e-9);
        assert_eq!(seconds(90_000_000_001), 90.000000001);
    }
}
