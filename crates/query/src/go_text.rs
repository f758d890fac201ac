//! Texts as the Go standard library and Prometheus' `model` package read and
//! write them. Prometheus, Loki and Tempo are Go programs, so their APIs share
//! these formats (RFC 3339 times, Prometheus durations, `%q` quoting in error
//! messages); the three protocol folders use this one copy.

use crate::civil::{days_from_civil, days_in_month};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Go's `%q` for the texts we quote (printable ASCII as is, the rest escaped).
pub fn quote(text: &str) -> String {
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

/// `2006-01-02T15:04:05.999999999Z07:00` (Go's `time.RFC3339Nano` layout when
/// parsing), in nanoseconds since the epoch.
pub fn parse_rfc3339_ns(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        (!part.is_empty() && part.bytes().all(|c| c.is_ascii_digit())).then(|| part.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
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
        zone => {
            let z = zone.as_bytes();
            if z.len() != 6 || !matches!(z[0], b'+' | b'-') || z[3] != b':' {
                return None;
            }
            let (hours, minutes): (i64, i64) = (zone[1..3].parse().ok()?, zone[4..6].parse().ok()?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let sign = if z[0] == b'-' { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * NANOS_PER_SECOND + nanos)
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`, with Prometheus' spellings of
/// the infinities and NaN: how Loki writes sample values and Prometheus' text
/// exposition writes metric values.
pub fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{value}")
    }
}

/// Prometheus' `model.ParseDuration`: units y w d h m s ms, each at most once,
/// largest first; `0` alone is allowed. Milliseconds, None when unparsable or
/// beyond what nanoseconds in an i64 can hold.
pub fn parse_prometheus_duration_ms(text: &str) -> Option<i128> {
    prometheus_duration_ms(text).ok()
}

/// Why [`prometheus_duration_ms`] refused a text: Prometheus says "out of
/// range" for the second, and the query lexers report it apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrometheusDurationError {
    Invalid,
    Overflow,
}

pub fn prometheus_duration_ms(text: &str) -> Result<i128, PrometheusDurationError> {
    use PrometheusDurationError::*;
    if text == "0" {
        return Ok(0);
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
    if text.is_empty() {
        return Err(Invalid);
    }
    let mut rest = text;
    let mut next_unit = 0;
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(Invalid);
        }
        // past i128, certainly past the range; the unit is still checked first, as Prometheus reads it
        let number: Option<i128> = rest[..digits].parse().ok();
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let index = UNITS.iter().position(|(name, _)| *name == &rest[..unit_len]).ok_or(Invalid)?;
        rest = &rest[unit_len..];
        if index < next_unit {
            return Err(Invalid);
        }
        next_unit = index + 1;
        total += number.and_then(|n| n.checked_mul(UNITS[index].1)).ok_or(Overflow)?;
        if total > i64::MAX as i128 / 1_000_000 {
            return Err(Overflow);
        }
    }
    Ok(total)
}

/// A duration in nanoseconds as the Prometheus and Loki APIs read `step`,
/// `timeout` and `interval`: float seconds, else a Prometheus duration.
pub fn parse_duration(text: &str) -> Result<i128, String> {
    if let Some(seconds) = parse_go_float(text) {
        let nanos = seconds * 1e9;
        if nanos > i64::MAX as f64 || nanos < i64::MIN as f64 || nanos.is_nan() {
            return Err(format!("cannot parse {} to a valid duration. It overflows int64", quote(text)));
        }
        return Ok(nanos as i128);
    }
    parse_prometheus_duration_ms(text)
        .map(|ms| ms * 1_000_000)
        .ok_or_else(|| format!("cannot parse {} to a valid duration", quote(text)))
}

/// Go's `strconv.ParseFloat` accepts decimal numbers with exponents and
/// `Inf`/`NaN`; Rust's parser agrees on those, but also on forms Go refuses
/// (`inf` is accepted by both). Hex floats (`0x1p3`) are not read.
pub fn parse_go_float(text: &str) -> Option<f64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_fractions_and_offsets() {
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ns("2026-01-01T00:00:00.5Z"), Some(1_767_225_600_500_000_000));
        assert_eq!(parse_rfc3339_ns("2026-01-01T02:00:00.000000001+02:00"), Some(1_767_225_600_000_000_001));
        assert_eq!(parse_rfc3339_ns("1969-12-31T23:59:59Z"), Some(-1_000_000_000));
        assert_eq!(parse_rfc3339_ns("2024-02-29T00:00:00Z"), Some(1_709_164_800_000_000_000));
        for bad in ["2023-02-29T00:00:00Z", "2026-01-01 00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z"] {
            assert_eq!(parse_rfc3339_ns(bad), None, "{bad}");
        }
    }

    #[test]
    fn prometheus_durations() {
        assert_eq!(parse_prometheus_duration_ms("1m30s"), Some(90_000));
        assert_eq!(parse_prometheus_duration_ms("1d"), Some(86_400_000));
        assert_eq!(parse_prometheus_duration_ms("500ms"), Some(500));
        assert_eq!(parse_prometheus_duration_ms("0"), Some(0));
        for bad in ["", "1s1m", "1x", "s", "1.5s", "1s1s"] {
            assert_eq!(parse_prometheus_duration_ms(bad), None, "{bad}");
        }
        assert_eq!(prometheus_duration_ms("1s1m"), Err(PrometheusDurationError::Invalid));
        assert_eq!(prometheus_duration_ms("106751d"), Ok(106_751 * 86_400_000));
        assert_eq!(prometheus_duration_ms("106752d"), Err(PrometheusDurationError::Overflow));
        assert_eq!(
            prometheus_duration_ms("99999999999999999999999999999999999999999y"),
            Err(PrometheusDurationError::Overflow)
        );
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(quote("\u{1}"), "\"\\x01\"");
    }
}
