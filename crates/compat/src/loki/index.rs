//! `index/stats`, `index/volume` and `index/volume_range`: what a selector
//! would read, from one grouped DuckDB query ([`super::labels::stream_volumes`]).
//! Loki counts chunks; DuckLake has none, so `chunks` is 0. Volumes are bytes
//! of log lines, named by the selector's label names (or `targetLabels`), or
//! per label name with `aggregateBy=labels`, sorted largest first and cut at
//! `limit` as Loki does.

use super::labels::{metadata_range, parse_matchers, stream_volumes};
use super::params::{bounds, now_ns, parse_seconds_or_duration};
use super::render::{label_string, labels_json, sample_text, seconds_value, stats_json, Summary};
use super::{Answer, LokiError};
use crate::{ApiRequest, CompatContext, Deadline};
use canardstack_query::logql::pipeline::Labels;
use canardstack_query::logql::resolution::{default_step_ns, points};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const DEFAULT_VOLUME_LIMIT: usize = 100;

/// `GET|POST /loki/api/v1/index/stats`: `query`, `start`, `end`.
pub fn stats(request: &ApiRequest, context: &CompatContext) -> Answer {
    let (start, end) = metadata_range(request, context)?;
    let matchers = parse_matchers(request.params.get("query").unwrap_or(""))?;
    let volumes = stream_volumes(context, Deadline::after(context.limits.timeout), &matchers, start, end, None)?;
    let entries: u64 = volumes.values().map(|v| v.entries).sum();
    let bytes: u64 = volumes.values().map(|v| v.bytes).sum();
    Ok(json!({"streams": volumes.len(), "chunks": 0, "bytes": bytes, "entries": entries}))
}

fn volume_limit(text: Option<&str>) -> Result<usize, LokiError> {
    match text {
        None => Ok(DEFAULT_VOLUME_LIMIT),
        Some(text) => match text.parse::<i64>() {
            Ok(0) => Ok(DEFAULT_VOLUME_LIMIT),
            Ok(n) if n < 0 => Err(LokiError::BadRequest("limit must be a positive value".into())),
            Ok(n) => Ok(n as usize),
            Err(_) => Err(LokiError::BadRequest(format!("strconv.Atoi: parsing {text:?}: invalid syntax"))),
        },
    }
}

/// `GET|POST /loki/api/v1/index/volume[_range]`: `query`, `start`, `end`,
/// `step` (range), `limit`, `targetLabels`, `aggregateBy`.
pub fn volume(request: &ApiRequest, context: &CompatContext, ranged: bool) -> Answer {
    let params = &request.params;
    let limit = volume_limit(params.get("limit"))?;
    let (start, end) = bounds(params.get("start"), params.get("end"), params.get("since"), now_ns())?;
    if end < start {
        return Err(LokiError::BadRequest("end timestamp must not be before or equal to start time".into()));
    }
    let by_labels = match params.get("aggregateBy") {
        None | Some("series") => false,
        Some("labels") => true,
        Some(_) => return Err(LokiError::BadRequest("invalid aggregation option".into())),
    };
    let step = match (ranged, params.get("step")) {
        (false, _) => None,
        (true, Some(text)) => Some(parse_seconds_or_duration(text)?),
        (true, None) => Some(default_step_ns(start, end)),
    };
    if step.is_some_and(|s| s <= 0) {
        return Err(LokiError::BadRequest(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if step.is_some_and(|s| points(start, end, s) > context.limits.max_points_per_series as i128) {
        return Err(LokiError::BadRequest(
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter"
                .into(),
        ));
    }
    super::query::check_range(start, end, context)?;
    let matchers = parse_matchers(params.get("query").unwrap_or(""))?;
    let targets: Vec<String> = params
        .get("targetLabels")
        .map(|t| t.split(',').map(str::to_string).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let names: Vec<String> =
        if targets.is_empty() { matchers.iter().map(|m| m.name.clone()).collect() } else { targets };
    let volumes = stream_volumes(context, Deadline::after(context.limits.timeout), &matchers, start, end, step)?;
    // name -> bucket -> bytes
    let mut named: BTreeMap<Labels, BTreeMap<i64, u64>> = BTreeMap::new();
    for ((labels, bucket), volume) in volumes {
        let keys: Vec<Labels> = if by_labels {
            labels
                .keys()
                .filter(|k| names.is_empty() || names.contains(k))
                .map(|k| Labels::from([(k.clone(), String::new())]))
                .collect()
        } else {
            vec![labels.into_iter().filter(|(k, _)| names.contains(k)).collect()]
        };
        for key in keys {
            *named.entry(key).or_default().entry(bucket).or_default() += volume.bytes;
        }
    }
    let bucket_time = |bucket: i64| match step {
        Some(step) => bucket.saturating_add(1).saturating_mul(step).saturating_add(start).min(end),
        None => end,
    };
    let mut series: Vec<(Labels, Vec<(i64, u64)>)> = named
        .into_iter()
        .map(|(labels, buckets)| (labels, buckets.into_iter().map(|(b, v)| (bucket_time(b), v)).collect()))
        .collect();
    series.sort_by(|a, b| b.1[0].1.cmp(&a.1[0].1).then_with(|| label_string(&a.0).cmp(&label_string(&b.0))));
    series.truncate(limit);
    let matrix = series.iter().any(|(_, points)| points.len() > 1);
    let point = |(t, v): &(i64, u64)| json!([seconds_value(*t), sample_text(*v as f64)]);
    let result: Vec<Value> = series
        .iter()
        .map(|(labels, points)| {
            if matrix {
                json!({"metric": labels_json(labels), "values": points.iter().map(point).collect::<Vec<_>>()})
            } else {
                json!({"metric": labels_json(labels), "value": point(&points[0])})
            }
        })
        .collect();
    let result_type = if matrix { "matrix" } else { "vector" };
    Ok(json!({"status": "success", "data": {"resultType": result_type, "result": result,
        "stats": stats_json(&Summary::default())}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_limits_follow_loki() {
        assert_eq!(volume_limit(None), Ok(100));
        assert_eq!(volume_limit(Some("0")), Ok(100));
        assert_eq!(volume_limit(Some("5")), Ok(5));
        assert_eq!(volume_limit(Some("-1")), Err(LokiError::BadRequest("limit must be a positive value".into())));
    }
}
