//! Durations and byte sizes as LogQL writes them, shared by the parser (range
//! literals, label filter values) and evaluation (`unwrap duration()/bytes()`).

/// A Go `time.ParseDuration` string (`1.5s`, `1h30m`, `250ms`, `-2us`) in seconds.
/// Day and week units are accepted too, as Prometheus range literals allow them.
pub fn parse_duration_seconds(text: &str) -> Option<f64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "w" => 7.0 * 86400.0,
            "y" => 365.0 * 86400.0,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    Some(if negative { -total } else { total })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("not a duration")]
    Invalid,
    #[error("longer than an int64 of nanoseconds holds")]
    Overflow,
}

/// A duration literal in whole nanoseconds; one beyond what an i64 holds
/// (about 292 years) is an error, never a saturated or wrapped value.
pub fn parse_duration_ns(text: &str) -> Result<i64, DurationError> {
    let seconds = parse_duration_seconds(text).ok_or(DurationError::Invalid)?;
    let nanos = (seconds * 1e9).round();
    // i64::MAX as f64 rounds up to 2^63, itself out of range
    if !nanos.is_finite() || nanos >= i64::MAX as f64 || nanos < i64::MIN as f64 {
        return Err(DurationError::Overflow);
    }
    Ok(nanos as i64)
}

/// A humanized byte size (`42`, `10KB`, `1.5MiB`, `3 kb`) in bytes; SI units
/// are powers of 1000, IEC units powers of 1024, as go-humanize reads them.
pub fn parse_bytes(text: &str) -> Option<f64> {
    let text = text.trim();
    let number_len = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')).unwrap_or(text.len());
    let number: f64 = text[..number_len].parse().ok()?;
    let unit = text[number_len..].trim().to_ascii_lowercase();
    let scale = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "p" | "pb" => 1e15,
        "ki" | "kib" => 1024.0,
        "mi" | "mib" => 1024f64.powi(2),
        "gi" | "gib" => 1024f64.powi(3),
        "ti" | "tib" => 1024f64.powi(4),
        "pi" | "pib" => 1024f64.powi(5),
        _ => return None,
    };
    Some(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_and_prometheus_write_them() {
        assert_eq!(parse_duration_seconds("1.5s"), Some(1.5));
        assert_eq!(parse_duration_seconds("1h30m"), Some(5400.0));
        assert_eq!(parse_duration_seconds("250ms"), Some(0.25));
        assert_eq!(parse_duration_seconds("-2us"), Some(-2e-6));
        assert_eq!(parse_duration_seconds("1d"), Some(86400.0));
        assert_eq!(parse_duration_seconds("0"), Some(0.0));
        assert_eq!(parse_duration_seconds("5"), None);
        assert_eq!(parse_duration_seconds("5x"), None);
        assert_eq!(parse_duration_ns("5m"), Ok(300_000_000_000));
        assert_eq!(parse_duration_ns("292y"), Ok(9_208_512_000_000_000_000));
        assert_eq!(parse_duration_ns("99999999999999h"), Err(DurationError::Overflow));
        assert_eq!(parse_duration_ns("1e400s"), Err(DurationError::Invalid));
    }

    #[test]
    fn bytes_in_si_and_iec_units() {
        assert_eq!(parse_bytes("42"), Some(42.0));
        assert_eq!(parse_bytes("10KB"), Some(10_000.0));
        assert_eq!(parse_bytes("1.5KiB"), Some(1536.0));
        assert_eq!(parse_bytes("2 mb"), Some(2e6));
        assert_eq!(parse_bytes("lots"), None);
    }
}
