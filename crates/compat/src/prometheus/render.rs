//! Prometheus' JSON envelope, written as text rather than through
//! `serde_json::Value`, because Prometheus' number formats matter to clients
//! and tests: sample times are `<seconds>.<3 digits>` (`4.500`, `4`), sample
//! values are strings in Go's shortest form (exponent below 1e-6 and from
//! 1e21 on, `+Inf`, `NaN`), scalars and strings are timed with a plain float
//! (`4.5`). Errors are a closed set of kinds, each with Prometheus' status.

use crate::Reply;
use canardstack_query::promql::value::Labels;

/// Prometheus' error types and their HTTP statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    BadData,
    Execution,
    Timeout,
    Internal,
    Unavailable,
    NotFound,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::BadData => "bad_data",
            ErrorKind::Execution => "execution",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Internal => "internal",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::NotFound => "not_found",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadData => 400,
            ErrorKind::Execution => 422,
            ErrorKind::Timeout | ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
            ErrorKind::NotFound => 404,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError { kind, message: message.into() }
    }

    pub fn bad_data(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::BadData, message)
    }

    /// Prometheus' `invalidParamError`: `invalid parameter "name": ...`.
    pub fn invalid_param(name: &str, message: &str) -> Self {
        ApiError::bad_data(format!("invalid parameter \"{name}\": {message}"))
    }

    pub fn timeout() -> Self {
        ApiError::new(ErrorKind::Timeout, "query timed out in expression evaluation")
    }

    pub fn reply(&self) -> Reply {
        let body = format!(
            "{{\"status\":\"error\",\"errorType\":{},\"error\":{}}}",
            string(self.kind.name()),
            string(&self.message)
        );
        Reply::new(self.kind.status(), "application/json", body.into_bytes())
    }
}

/// A successful answer: `data` is JSON text; warnings only when there are some.
pub fn success(data: &str, warnings: &[String]) -> Reply {
    let mut body = format!("{{\"status\":\"success\",\"data\":{data}");
    if !warnings.is_empty() {
        body.push_str(",\"warnings\":");
        body.push_str(&string_array(warnings.iter().map(String::as_str)));
    }
    body.push('}');
    Reply::new(200, "application/json", body.into_bytes())
}

/// A success without `data` (Prometheus omits a nil `data`).
pub fn success_without_data() -> Reply {
    Reply::new(200, "application/json", b"{\"status\":\"success\"}".to_vec())
}

/// A JSON string as Go's encoder writes it (`<`, `>`, `&` escaped as `\u003c`...).
pub fn string(text: &str) -> String {
    let json = serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into());
    if json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        json.replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
    } else {
        json
    }
}

pub fn string_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let parts: Vec<String> = items.into_iter().map(string).collect();
    format!("[{}]", parts.join(","))
}

/// A label set as a JSON object, names in order (`__name__` first).
pub fn labels(labels: &Labels) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{}:{}", string(k), string(v))).collect();
    format!("{{{}}}", parts.join(","))
}

/// A sample time: whole seconds, then `.` and three digits when not whole.
pub fn sample_time(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    match abs % 1000 {
        0 => format!("{sign}{}", abs / 1000),
        fraction => format!("{sign}{}.{fraction:03}", abs / 1000),
    }
}

/// A sample value, quoted: Go's shortest decimal, exponent form for tiny and huge.
pub fn sample_value(v: f64) -> String {
    let abs = v.abs();
    if v.is_finite() && abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        format!("\"{}\"", go_exponent(v))
    } else {
        format!("\"{}\"", plain_float(v))
    }
}

/// `[<time>, "<value>"]` of a vector or matrix sample.
pub fn sample_pair(ms: i64, v: f64) -> String {
    format!("[{},{}]", sample_time(ms), sample_value(v))
}

/// `[<time as float>, "<value>"]` of a scalar result (`strconv 'f', -1`).
pub fn scalar_pair(ms: i64, v: f64) -> String {
    format!("[{},\"{}\"]", float_seconds(ms), plain_float(v))
}

/// `[<time as float>, "<text>"]` of a string result.
pub fn string_pair(ms: i64, text: &str) -> String {
    format!("[{},{}]", float_seconds(ms), string(text))
}

/// Milliseconds as Go's JSON writes `float64(ms) / 1000`.
fn float_seconds(ms: i64) -> String {
    let seconds = ms as f64 / 1000.0;
    if seconds != 0.0 && !(1e-6..1e21).contains(&seconds.abs()) {
        // Go's encoder: exponent form without a leading zero in the exponent
        go_exponent(seconds).replace("e-0", "e-").replace("e+0", "e+")
    } else {
        format!("{seconds}")
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`, with `+Inf`, `-Inf`, `NaN`.
pub fn plain_float(v: f64) -> String {
    canardstack_query::promql::value::format_float(v)
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: `1e-07`, `1.5e+21`.
fn go_exponent(v: f64) -> String {
    let rust = format!("{v:e}");
    let (mantissa, exponent) = rust.split_once('e').unwrap_or((&rust, "0"));
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(digits) => ('-', digits),
        None => ('+', exponent),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_times_keep_three_fraction_digits() {
        assert_eq!(sample_time(4000), "4");
        assert_eq!(sample_time(4500), "4.500");
        assert_eq!(sample_time(1_435_781_451_781), "1435781451.781");
        assert_eq!(sample_time(1_435_781_451_007), "1435781451.007");
        assert_eq!(sample_time(-1500), "-1.500");
        assert_eq!(sample_time(0), "0");
    }

    #[test]
    fn sample_values_print_like_go() {
        assert_eq!(sample_value(2.0), "\"2\"");
        assert_eq!(sample_value(0.1), "\"0.1\"");
        assert_eq!(sample_value(-0.25), "\"-0.25\"");
        assert_eq!(sample_value(1234567.5), "\"1234567.5\"");
        assert_eq!(sample_value(1e-7), "\"1e-07\"");
        assert_eq!(sample_value(1.5e-7), "\"1.5e-07\"");
        assert_eq!(sample_value(1e21), "\"1e+21\"");
        assert_eq!(sample_value(1.2345e300), "\"1.2345e+300\"");
        assert_eq!(sample_value(1e20), "\"100000000000000000000\"");
        assert_eq!(sample_value(0.000001), "\"0.000001\"");
        assert_eq!(sample_value(0.0), "\"0\"");
        assert_eq!(sample_value(f64::INFINITY), "\"+Inf\"");
        assert_eq!(sample_value(f64::NEG_INFINITY), "\"-Inf\"");
        assert_eq!(sample_value(f64::NAN), "\"NaN\"");
    }

    #[test]
    fn scalars_use_plain_floats() {
        assert_eq!(scalar_pair(4000, 2.0), "[4,\"2\"]");
        assert_eq!(scalar_pair(4500, 1e-7), "[4.5,\"0.0000001\"]");
        assert_eq!(string_pair(1_435_781_451_781, "a<b"), "[1435781451.781,\"a\\u003cb\"]");
    }

    #[test]
    fn envelopes() {
        let reply = success("[]", &[]);
        assert_eq!(String::from_utf8(reply.body).unwrap(), "{\"status\":\"success\",\"data\":[]}");
        let reply = success("[]", &["results truncated due to limit".into()]);
        assert_eq!(
            String::from_utf8(reply.body).unwrap(),
            "{\"status\":\"success\",\"data\":[],\"warnings\":[\"results truncated due to limit\"]}"
        );
        let reply = ApiError::invalid_param("time", "x").reply();
        assert_eq!(reply.status, 400);
        assert_eq!(
            String::from_utf8(reply.body).unwrap(),
            "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"time\\\": x\"}"
        );
        assert_eq!(ApiError::timeout().reply().status, 503);
        let labels: Labels =
            [("__name__", "up"), ("job", "a&b")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(super::labels(&labels), "{\"__name__\":\"up\",\"job\":\"a\\u0026b\"}");
    }
}
