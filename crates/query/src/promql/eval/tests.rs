//! Unit tests of the evaluator over an in-memory source: exact values and
//! labels of instant vectors, range results, NaN and Inf, functions, and
//! binary operators with vector matching. The expected numbers are worked out
//! by hand from Prometheus' definitions (in the comments).

use super::{eval_instant, eval_range, QueryTimes};
use crate::promql::source::MemorySource;
use crate::promql::value::{stale_nan, Labels, Point, Series, Value};

const MIN: i64 = 60_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A series sampled every minute from 0: `values[k]` at `k` minutes.
fn series(pairs: &[(&str, &str)], values: &[f64]) -> Series {
    let points = values.iter().enumerate().map(|(k, v)| Point { t: k as i64 * MIN, v: *v }).collect();
    Series { labels: labels(pairs), points }
}

fn source(series: Vec<Series>) -> MemorySource {
    MemorySource { series }
}

fn instant(src: &MemorySource, query: &str, t: i64) -> Value {
    let expr = crate::promql::parse(query).unwrap();
    eval_instant(&expr, src, t).unwrap()
}

/// An instant vector as `(labels, value)`, sorted by labels.
fn vector(src: &MemorySource, query: &str, t: i64) -> Vec<(Labels, f64)> {
    match instant(src, query, t) {
        Value::Vector(samples) => {
            let mut out: Vec<(Labels, f64)> = samples.into_iter().map(|s| (s.labels, s.v)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        other => panic!("{query}: expected an instant vector, got {other:?}"),
    }
}

fn two_series() -> MemorySource {
    source(vec![
        series(&[("__name__", "m"), ("a", "1")], &[1.0, 2.0, 3.0]),
        series(&[("__name__", "m"), ("a", "2")], &[10.0, 20.0, 30.0]),
    ])
}

#[test]
fn instant_selector_takes_the_newest_sample_in_the_lookback_window() {
    let src = two_series();
    let m1 = labels(&[("__name__", "m"), ("a", "1")]);
    let m2 = labels(&[("__name__", "m"), ("a", "2")]);
    assert_eq!(vector(&src, "m", 90_000), vec![(m1.clone(), 2.0), (m2.clone(), 20.0)]);
    assert_eq!(vector(&src, "m{a=\"2\"}", 2 * MIN), vec![(m2, 30.0)]);
    // the window is (t - 5m, t]: the sample at 2m is seen until just before 7m
    assert_eq!(vector(&src, "m{a=\"1\"}", 7 * MIN - 1), vec![(m1, 3.0)]);
    assert_eq!(vector(&src, "m{a=\"1\"}", 7 * MIN), vec![]);
    // a plain selector reports each sample's own time
    let Value::Vector(samples) = instant(&src, "m{a=\"1\"}", 90_000) else { panic!() };
    assert_eq!(samples[0].t, MIN);
}

#[test]
fn a_staleness_marker_ends_the_series_and_offset_looks_back() {
    let src = source(vec![series(&[("__name__", "s")], &[1.0, 2.0, stale_nan(), 4.0])]);
    let s = labels(&[("__name__", "s")]);
    assert_eq!(vector(&src, "s", 90_000), vec![(s.clone(), 2.0)]);
    assert_eq!(vector(&src, "s", 150_000), vec![], "the marker at 2m hides the sample at 1m");
    assert_eq!(vector(&src, "s", 3 * MIN), vec![(s.clone(), 4.0)]);
    assert_eq!(vector(&src, "s offset 2m", 3 * MIN), vec![(s, 2.0)]);
}

#[test]
fn a_range_selector_is_left_open_and_skips_staleness_markers() {
    let src = source(vec![series(&[("__name__", "s"), ("a", "1")], &[1.0, 2.0, stale_nan(), 4.0])]);
    let Value::Matrix(result) = instant(&src, "s[2m]", 3 * MIN) else { panic!("not a matrix") };
    // (1m, 3m] holds the marker at 2m and 4 at 3m: only 4 is returned, the name is kept
    assert_eq!(
        result,
        vec![Series { labels: labels(&[("__name__", "s"), ("a", "1")]), points: vec![Point { t: 3 * MIN, v: 4.0 }] }]
    );
}

#[test]
fn rate_and_increase_extrapolate_to_the_window_edges() {
    let src = source(vec![series(&[("__name__", "c"), ("job", "api")], &[0.0, 10.0, 20.0, 30.0, 40.0])]);
    let job = labels(&[("job", "api")]);
    // (2m, 4m] holds 30 at 3m and 40 at 4m: 10 over 60s sampled, extended by the
    // 60s gap to the window start (under 1.1 average intervals), so 20 over 120s
    assert_eq!(vector(&src, "increase(c[2m])", 4 * MIN), vec![(job.clone(), 20.0)]);
    let rate = vector(&src, "rate(c[2m])", 4 * MIN);
    assert_eq!(rate[0].0, job);
    assert!((rate[0].1 - 20.0 / 120.0).abs() < 1e-12, "{rate:?}");
}

#[test]
fn increase_corrects_a_counter_reset_and_stops_extrapolating_at_zero() {
    let src = source(vec![series(&[("__name__", "r")], &[0.0, 10.0, 20.0, 5.0, 15.0])]);
    // the reset 20 -> 5 adds 20: 0 10 20 25 35, an increase of 35 over 4m; the
    // window (-1m, 4m] starts 1m before the first sample, but a counter at 0
    // cannot be extrapolated below zero, so nothing is added
    assert_eq!(vector(&src, "increase(r[5m])", 4 * MIN), vec![(Labels::new(), 35.0)]);
    assert_eq!(vector(&src, "resets(r[5m])", 4 * MIN), vec![(Labels::new(), 1.0)]);
}

#[test]
fn division_by_zero_gives_inf_and_nan() {
    let src = source(vec![
        series(&[("__name__", "z"), ("x", "neg")], &[-1.0]),
        series(&[("__name__", "z"), ("x", "pos")], &[1.0]),
        series(&[("__name__", "z"), ("x", "zero")], &[0.0]),
    ]);
    let result = vector(&src, "z / 0", 0);
    assert_eq!(result.len(), 3);
    assert_eq!(result[0], (labels(&[("x", "neg")]), f64::NEG_INFINITY));
    assert_eq!(result[1], (labels(&[("x", "pos")]), f64::INFINITY));
    assert_eq!(result[2].0, labels(&[("x", "zero")]));
    assert!(result[2].1.is_nan());
    // Inf + -Inf is NaN in a sum too
    let Value::Vector(sum) = instant(&src, "sum(z{x!=\"zero\"} / 0)", 0) else { panic!() };
    assert!(sum.len() == 1 && sum[0].v.is_nan(), "{sum:?}");
}

#[test]
fn comparisons_filter_and_keep_the_name_unless_bool() {
    let src = two_series();
    assert_eq!(
        vector(&src, "m > 2", 2 * MIN),
        vec![(labels(&[("__name__", "m"), ("a", "1")]), 3.0), (labels(&[("__name__", "m"), ("a", "2")]), 30.0)]
    );
    assert_eq!(vector(&src, "m > 20", 2 * MIN), vec![(labels(&[("__name__", "m"), ("a", "2")]), 30.0)]);
    assert_eq!(vector(&src, "m > bool 20", 2 * MIN), vec![(labels(&[("a", "1")]), 0.0), (labels(&[("a", "2")]), 1.0)]);
    assert_eq!(instant(&src, "2 > bool 1", 0), Value::Scalar(1.0));
}

fn matching_source() -> MemorySource {
    source(vec![
        series(&[("__name__", "errors"), ("path", "/a"), ("code", "500")], &[3.0]),
        series(&[("__name__", "errors"), ("path", "/a"), ("code", "503")], &[1.0]),
        series(&[("__name__", "errors"), ("path", "/b"), ("code", "500")], &[2.0]),
        series(&[("__name__", "total"), ("path", "/a")], &[100.0]),
        series(&[("__name__", "total"), ("path", "/b")], &[50.0]),
        series(&[("__name__", "total"), ("path", "/c")], &[10.0]),
    ])
}

#[test]
fn many_to_one_matching_with_group_left() {
    let src = matching_source();
    // each errors series divided by the total of its path; /c has no errors
    assert_eq!(
        vector(&src, "errors / on(path) group_left total", 0),
        vec![
            (labels(&[("code", "500"), ("path", "/a")]), 0.03),
            (labels(&[("code", "500"), ("path", "/b")]), 0.04),
            (labels(&[("code", "503"), ("path", "/a")]), 0.01),
        ]
    );
    // one-to-one on path after summing away code
    assert_eq!(
        vector(&src, "sum by (path) (errors) / ignoring(code) total", 0),
        vec![(labels(&[("path", "/a")]), 0.04), (labels(&[("path", "/b")]), 0.04)]
    );
}

#[test]
fn many_to_one_without_group_left_is_an_error() {
    let src = matching_source();
    let expr = crate::promql::parse("errors / on(path) total").unwrap();
    let message = eval_instant(&expr, &src, 0).unwrap_err().to_string();
    assert!(message.contains("many-to-one matching must be explicit (group_left/group_right)"), "{message}");
}

#[test]
fn set_operators_match_on_all_labels_or_the_listed_ones() {
    let src = matching_source();
    let total = |path: &str| (labels(&[("__name__", "total"), ("path", path)]), 0.0);
    let paths = |v: Vec<(Labels, f64)>| v.into_iter().map(|(l, _)| l).collect::<Vec<_>>();
    assert_eq!(paths(vector(&src, "total and on(path) errors", 0)), vec![total("/a").0, total("/b").0]);
    assert_eq!(paths(vector(&src, "total unless on(path) errors", 0)), vec![total("/c").0]);
    // `or` adds the right side's series whose labels the left does not have
    let either = vector(&src, "total{path=\"/c\"} or on(path) total", 0);
    assert_eq!(either.iter().map(|(_, v)| *v).collect::<Vec<_>>(), vec![100.0, 50.0, 10.0]);
}

#[test]
fn aggregations_by_and_without() {
    let src = matching_source();
    assert_eq!(
        vector(&src, "sum by (path) (errors)", 0),
        vec![(labels(&[("path", "/a")]), 4.0), (labels(&[("path", "/b")]), 2.0)]
    );
    assert_eq!(
        vector(&src, "count without (path) (errors)", 0),
        vec![(labels(&[("code", "500")]), 2.0), (labels(&[("code", "503")]), 1.0)]
    );
    assert_eq!(vector(&src, "avg(total)", 0), vec![(Labels::new(), 160.0 / 3.0)]);
    // topk keeps the full labels, name included
    assert_eq!(
        vector(&src, "topk(1, errors)", 0),
        vec![(labels(&[("__name__", "errors"), ("code", "500"), ("path", "/a")]), 3.0)]
    );
}

#[test]
fn functions_clamp_label_replace_absent_and_scalar() {
    let src = two_series();
    assert_eq!(vector(&src, "clamp_max(m, 15)", 0), vec![(labels(&[("a", "1")]), 1.0), (labels(&[("a", "2")]), 10.0)]);
    assert_eq!(
        vector(&src, "label_replace(m{a=\"2\"}, \"b\", \"x-$1\", \"a\", \"(.*)\")", 0),
        vec![(labels(&[("__name__", "m"), ("a", "2"), ("b", "x-2")]), 10.0)]
    );
    assert_eq!(vector(&src, "absent(nothing{job=\"x\"})", 0), vec![(labels(&[("job", "x")]), 1.0)]);
    assert_eq!(vector(&src, "absent(m)", 0), vec![]);
    assert_eq!(instant(&src, "scalar(m{a=\"2\"})", MIN), Value::Scalar(20.0));
    // more than one series: NaN
    let Value::Scalar(v) = instant(&src, "scalar(m)", MIN) else { panic!() };
    assert!(v.is_nan());
}

#[test]
fn over_time_functions_and_a_subquery() {
    let src = two_series();
    // (0, 2m] holds 2 and 3 of m{a="1"}
    assert_eq!(vector(&src, "sum_over_time(m{a=\"1\"}[2m])", 2 * MIN), vec![(labels(&[("a", "1")]), 5.0)]);
    assert_eq!(vector(&src, "count_over_time(m[2m])", 2 * MIN).len(), 2);
    // the subquery evaluates m * 2 at 1m and 2m (multiples of the step in (0, 2m])
    assert_eq!(vector(&src, "max_over_time((m{a=\"2\"} * 2)[2m:1m])", 2 * MIN), vec![(labels(&[("a", "2")]), 60.0)]);
    assert_eq!(vector(&src, "min_over_time((m{a=\"2\"} * 2)[2m:1m])", 2 * MIN), vec![(labels(&[("a", "2")]), 40.0)]);
}

#[test]
fn a_range_query_has_a_point_per_step() {
    let src = two_series();
    let expr = crate::promql::parse("m{a=\"1\"} * 2").unwrap();
    let result = eval_range(&expr, &src, QueryTimes::range(0, 2 * MIN, MIN).unwrap()).unwrap();
    assert_eq!(
        result,
        vec![Series {
            labels: labels(&[("a", "1")]),
            points: vec![Point { t: 0, v: 2.0 }, Point { t: MIN, v: 4.0 }, Point { t: 2 * MIN, v: 6.0 }],
        }]
    );
    // a series that stops leaves no point once it falls out of the lookback window
    let expr = crate::promql::parse("m{a=\"1\"}").unwrap();
    let late = eval_range(&expr, &src, QueryTimes::range(6 * MIN, 8 * MIN, MIN).unwrap()).unwrap();
    assert_eq!(late[0].points, vec![Point { t: 6 * MIN, v: 3.0 }]);
    // a scalar has one point per step, with no labels
    let expr = crate::promql::parse("time()").unwrap();
    let times = eval_range(&expr, &src, QueryTimes::range(0, MIN, 30_000).unwrap()).unwrap();
    assert_eq!(
        times,
        vec![Series {
            labels: Labels::new(),
            points: vec![Point { t: 0, v: 0.0 }, Point { t: 30_000, v: 30.0 }, Point { t: MIN, v: 60.0 }],
        }]
    );
}

#[test]
fn dropping_the_name_must_not_merge_two_series() {
    let src = source(vec![
        series(&[("__name__", "a"), ("x", "1")], &[1.0]),
        series(&[("__name__", "b"), ("x", "1")], &[2.0]),
    ]);
    let expr = crate::promql::parse("abs({x=\"1\"})").unwrap();
    let message = eval_instant(&expr, &src, 0).unwrap_err().to_string();
    assert_eq!(message, "promql: vector cannot contain metrics with the same labelset");
    // with the name kept they stay apart
    assert_eq!(vector(&src, "{x=\"1\"}", 0).len(), 2);
}
