//! TIMESTAMPTZ and INTERVAL arguments, read from DuckDB's text form.
//!
//! duckdb-rs' `Value` has no timestamp or interval getters, and its pointer is
//! private, so we read `value.to_string()`: for TIMESTAMPTZ DuckDB prints
//! `2026-11-26 12:51:07.51408+00` (UTC offset always present), for INTERVAL
//! `00:00:30`, `01:30:00`, `1 day 00:00:01`, `00:00:01.5`, `2 months`.
//! Both are parsed here into milliseconds; months and years are refused as a
//! step because they have no fixed length.

use crate::guard::BoxError;

fn fraction_ms(text: &str) -> Result<i64, String> {
    // ".51408" -> 514 ms (truncated to milliseconds, as Prometheus works in ms)
    let digits: String = text.chars().take(3).collect();
    let padded = format!("{digits:0<3}");
    padded.parse::<i64>().map_err(|_| format!("bad fraction {text:?}"))
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

/// Parses `YYYY-MM-DD[ HH:MM:SS[.ffffff]][+HH[:MM]|-HH[:MM]|Z]` into epoch milliseconds.
pub fn parse_timestamp_ms(text: &str) -> Result<i64, String> {
    let bad = || format!("cannot read timestamp {text:?}");
    let text = text.trim();
    let (date, rest) = text.split_once([' ', 'T']).unwrap_or((text, ""));
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let month: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let day: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let (clock, offset_sign, offset) = match rest.find(['+', '-', 'Z']) {
        Some(i) => {
            let sign = match &rest[i..i + 1] {
                "-" => -1,
                _ => 1,
            };
            (&rest[..i], sign, &rest[i + 1..])
        }
        None => (rest, 1, ""),
    };
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    if !clock.is_empty() {
        let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
        let fields: Vec<i64> = hms.split(':').map(|f| f.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
        if fields.len() != 3 {
            return Err(bad());
        }
        ms += (fields[0] * 3600 + fields[1] * 60 + fields[2]) * 1000 + fraction_ms(fraction)?;
    }
    if !offset.is_empty() {
        let fields: Vec<i64> = offset.split(':').map(|f| f.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
        let minutes = fields[0] * 60 + fields.get(1).copied().unwrap_or(0);
        ms -= offset_sign * minutes * 60_000;
    }
    Ok(ms)
}

/// Parses DuckDB's INTERVAL text into milliseconds (days are 24 hours).
pub fn parse_interval_ms(text: &str) -> Result<i64, String> {
    let bad = || format!("cannot read interval {text:?}");
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut ms = 0i64;
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        if word.contains(':') {
            let (negative, clock) = match word.strip_prefix('-') {
                Some(c) => (true, c),
                None => (false, word),
            };
            let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
            let fields: Vec<i64> = hms.split(':').map(|f| f.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
            if fields.len() != 3 {
                return Err(bad());
            }
            let value = (fields[0] * 3600 + fields[1] * 60 + fields[2]) * 1000 + fraction_ms(fraction)?;
            ms += if negative { -value } else { value };
            i += 1;
            continue;
        }
        let n: i64 = word.parse().map_err(|_| bad())?;
        let unit = words.get(i + 1).ok_or_else(bad)?;
        match unit.trim_end_matches('s') {
            "day" => ms += n * 86_400_000,
            "year" | "mon" | "month" => return Err(format!("interval {text:?} has months or years, which have no fixed length")),
            _ => return Err(bad()),
        }
        i += 2;
    }
    Ok(ms)
}

pub fn named_timestamp_ms(bind: &duckdb::vtab::BindInfo, name: &str) -> Result<Option<i64>, BoxError> {
    match super::args::named(bind, name) {
        None => Ok(None),
        Some(value) => Ok(Some(parse_timestamp_ms(&value.to_string()).map_err(|e| format!("{name}: {e}"))?)),
    }
}

pub fn named_interval_ms(bind: &duckdb::vtab::BindInfo, name: &str) -> Result<Option<i64>, BoxError> {
    match super::args::named(bind, name) {
        None => Ok(None),
        Some(value) => Ok(Some(parse_interval_ms(&value.to_string()).map_err(|e| format!("{name}: {e}"))?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_duckdb_text_form() {
        assert_eq!(parse_timestamp_ms("1970-01-01 00:00:00+00").unwrap(), 0);
        assert_eq!(parse_timestamp_ms("2026-11-26 12:51:07.51408+00").unwrap(), 1_795_697_467_514);
        assert_eq!(parse_timestamp_ms("1970-01-01 01:00:00+01").unwrap(), 0);
        assert_eq!(parse_timestamp_ms("1969-12-31 19:00:00-05:00").unwrap(), 0);
        assert_eq!(parse_timestamp_ms("1970-01-02").unwrap(), 86_400_000);
        assert!(parse_timestamp_ms("yesterday").is_err());
    }

    #[test]
    fn intervals_in_duckdb_text_form() {
        assert_eq!(parse_interval_ms("00:00:30").unwrap(), 30_000);
        assert_eq!(parse_interval_ms("01:30:00").unwrap(), 5_400_000);
        assert_eq!(parse_interval_ms("1 day 00:00:01").unwrap(), 86_401_000);
        assert_eq!(parse_interval_ms("00:00:01.5").unwrap(), 1_500);
        assert_eq!(parse_interval_ms("2 days").unwrap(), 172_800_000);
        assert!(parse_interval_ms("1 month").unwrap_err().contains("no fixed length"));
    }
}
