//! `histogram_quantile` over classic buckets, step for step as the engine's
//! `histogram::bucket_quantile` (Prometheus' `bucketQuantile`): the rows of
//! one step and label set (all labels but `le` and the name) are buckets;
//! buckets with one bound are merged, sorted by bound, their counts forced
//! monotonic (a fold, since a count within 1e-12 of its predecessor counts
//! as equal to it), and the quantile is interpolated inside the bucket that
//! holds the rank.

use super::float::number_sql;
use super::{series_order_sql, Names, Plan, Planned, Vector};
use crate::promql::error::Result;

/// Counts closer than this, relatively, are equal (`SMALL_DELTA_TOLERANCE`).
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// The engine's `almost_equal(a, b)` on columns, false when either is NaN.
fn almost_equal_sql(a: &str, b: &str) -> String {
    let tiny = number_sql(SMALL_DELTA_TOLERANCE * f64::MIN_POSITIVE);
    let (min_positive, max) = (number_sql(f64::MIN_POSITIVE), number_sql(f64::MAX));
    format!(
        "(NOT isnan({a}) AND NOT isnan({b}) AND CASE WHEN {a} = {b} THEN true \
         WHEN {a} = 0 OR {b} = 0 OR abs({a}) + abs({b}) < {min_positive} THEN abs({a} - {b}) < {tiny} \
         ELSE abs({a} - {b}) / least(abs({a}) + abs({b}), {max}) < {} END)",
        number_sql(SMALL_DELTA_TOLERANCE)
    )
}

/// A `le` label as the engine reads it (Go's float syntax, infinities
/// spelled any way); NULL when there is none or it is no number.
fn upper_bound_sql() -> String {
    "CASE lower(trim(labels['le'])) WHEN '+inf' THEN 'Infinity'::DOUBLE WHEN 'inf' THEN 'Infinity'::DOUBLE \
     WHEN '+infinity' THEN 'Infinity'::DOUBLE WHEN 'infinity' THEN 'Infinity'::DOUBLE \
     WHEN '-inf' THEN '-Infinity'::DOUBLE WHEN '-infinity' THEN '-Infinity'::DOUBLE WHEN 'nan' THEN 'NaN'::DOUBLE \
     ELSE TRY_CAST(trim(labels['le']) AS DOUBLE) END"
        .into()
}

pub(super) fn histogram_quantile(plan: &mut Plan, q: f64, buckets: Vector, about: &str) -> Result<Planned> {
    let merged = plan.grouped_cte(
        "buckets",
        "",
        format!(
            "  SELECT step_ms, grouping, upper_bound,
    list_reduce(list(value ORDER BY {order}), lambda a, b: a + b) AS count
  FROM (SELECT *, {bound} AS upper_bound,
          map_from_entries(list_filter(map_entries(labels), lambda e: e.key <> 'le')) AS grouping
        FROM {inner})
  WHERE upper_bound IS NOT NULL
  GROUP BY step_ms, grouping, upper_bound",
            order = series_order_sql("metric", "labels"),
            bound = upper_bound_sql(),
            inner = buckets.cte,
        ),
    );
    // the monotonic fold carries the running count in `prev`; each element's `prev` is its raw count
    let kept = almost_equal_sql("acc.prev", "x.prev");
    let monotonic = plan.grouped_cte(
        "histograms",
        "",
        format!(
            "  SELECT step_ms, grouping, bounds, len(bounds) AS n, list_reduce(
      [{{prev: raw[1], counts: [raw[1]]}}] || list_transform(raw[2:], lambda c: {{prev: c, counts: []::DOUBLE[]}}),
      lambda acc, x: CASE
        WHEN x.prev = acc.prev AND NOT isnan(x.prev) THEN {{prev: acc.prev, counts: acc.counts || [x.prev]}}
        WHEN {kept} OR (x.prev < acc.prev AND NOT isnan(acc.prev)) THEN {{prev: acc.prev, counts: acc.counts || [acc.prev]}}
        ELSE {{prev: x.prev, counts: acc.counts || [x.prev]}} END).counts AS counts
  FROM (SELECT step_ms, grouping, list(upper_bound ORDER BY upper_bound) AS bounds, list(count ORDER BY upper_bound) AS raw
        FROM {merged} GROUP BY step_ms, grouping)"
        ),
    );
    // the bucket holding the rank: how many buckets before the last hold fewer (counts are monotonic)
    let ranked = plan.cte(
        "ranks",
        "",
        format!(
            "  SELECT *, len(list_filter(counts[1:n - 1], lambda c: c < rank AND NOT isnan(rank))) AS b FROM (
    SELECT *, counts[n] AS observations, {q} * counts[n] AS rank FROM {monotonic}
  )",
            q = number_sql(q)
        ),
    );
    let value = if q.is_nan() || !(0.0..=1.0).contains(&q) {
        number_sql(if q < 0.0 {
            f64::NEG_INFINITY
        } else if q > 1.0 {
            f64::INFINITY
        } else {
            f64::NAN
        })
    } else {
        "CASE WHEN bounds[n] <> 'Infinity'::DOUBLE OR n < 2 OR observations = 0 THEN 'NaN'::DOUBLE
      WHEN b = n - 1 THEN bounds[n - 1]
      WHEN b = 0 AND bounds[1] <= 0 THEN bounds[1]
      WHEN b = 0 THEN 0::DOUBLE + (bounds[1] - 0::DOUBLE) * (rank / counts[1])
      ELSE bounds[b] + (bounds[b + 1] - bounds[b]) * ((rank - counts[b]) / (counts[b + 1] - counts[b])) END"
            .into()
    };
    let cte = plan.cte(
        "histogram_quantile",
        about,
        format!(
            "  SELECT step_ms, NULL::VARCHAR AS metric, grouping AS labels,\n    {value} AS value\n  FROM {ranked}"
        ),
    );
    Ok(Planned::Vector(Vector { cte, names: Names::Dropped }))
}
