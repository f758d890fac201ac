//! PromQL values: label sets, samples, instant vectors, range vectors.
//!
//! Labels are a `BTreeMap`, so a label set is always sorted and two sets
//! compare and hash by content; that is what series identity and vector
//! matching need. Timestamps are milliseconds since the epoch, as in Prometheus.

use std::collections::BTreeMap;

pub type Labels = BTreeMap<String, String>;

pub const METRIC_NAME: &str = "__name__";

/// Prometheus' staleness marker: a NaN with this exact bit pattern.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

pub fn is_stale(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// One point of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub t: i64,
    pub v: f64,
}

/// A series with its points sorted by time.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<Point>,
}

/// An element of an instant vector. `t` is the evaluation time, except for
/// the output of a plain selector, where it is the sample's own time (what
/// `timestamp()` reports).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(f64),
    String(String),
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "instant vector",
            Value::Matrix(_) => "range vector",
        }
    }
}

pub fn without_name(labels: &Labels) -> Labels {
    let mut labels = labels.clone();
    labels.remove(METRIC_NAME);
    labels
}

/// Formats a float the way Prometheus prints label values (`le`, `quantile`,
/// `count_values`): shortest round-trip decimal, `+Inf`, `-Inf`, `NaN`.
pub fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_prometheus_labels() {
        assert_eq!(format_float(0.25), "0.25");
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(-0.5), "-0.5");
        assert!(is_stale(stale_nan()));
        assert!(!is_stale(f64::NAN));
    }
}
