//! Byte sizes as LogQL writes them, shared by the parser (label filter
//! values) and evaluation (`unwrap bytes()`). Durations are Go's, in
//! [`crate::go_duration`].

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
    fn bytes_in_si_and_iec_units() {
        assert_eq!(parse_bytes("42"), Some(42.0));
        assert_eq!(parse_bytes("10KB"), Some(10_000.0));
        assert_eq!(parse_bytes("1.5KiB"), Some(1536.0));
        assert_eq!(parse_bytes("2 mb"), Some(2e6));
        assert_eq!(parse_bytes("lots"), None);
    }
}
