//! `labels`, `label/<name>/values` and `series`: the stream label sets in a
//! time range, optionally restricted by a selector. Streams are the distinct
//! (`service_name`, resource attributes) pairs DuckDB groups in one query over
//! the planner's prunable time predicate; labels are built in Rust with the
//! same label model as log queries, so every route names streams alike.

use super::params::{bounds, now_ns};
use super::query::check_range;
use super::{connect, series_limit, Answer, LokiError};
use crate::compat::limits::{interrupt_at, Deadline};
use crate::compat::{ApiRequest, CompatContext};
use crate::query::logql::ast::{LogSelector, Matcher, Query};
use crate::query::logql::model::{stream_labels, StoredLog};
use crate::query::logql::parser::parse;
use crate::query::logql::pipeline::Labels;
use crate::query::logql::plan::{plan_logs, Shape, TimeBounds};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One stream's lines and bytes (of log lines) in the range, per bucket when asked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamVolume {
    pub entries: u64,
    pub bytes: u64,
}

/// A stream selector's matchers; pipelines are refused as Loki refuses them here.
pub fn parse_matchers(text: &str) -> Result<Vec<Matcher>, LokiError> {
    match parse(text).map_err(|e| LokiError::BadRequest(e.to_string()))? {
        Query::Log(LogSelector { matchers, stages }) if stages.is_empty() => Ok(matchers),
        _ => Err(LokiError::BadRequest("only label matchers are supported".into())),
    }
}

/// Time range of the metadata routes: `start`/`end`/`since` with Loki's defaults.
pub fn metadata_range(request: &ApiRequest, context: &CompatContext) -> Result<(i64, i64), LokiError> {
    let params = &request.params;
    let (start, end) = bounds(params.get("start"), params.get("end"), params.get("since"), now_ns())?;
    if end < start {
        return Err(LokiError::BadRequest("end timestamp must not be before or equal to start time".into()));
    }
    check_range(start, end, context)?;
    Ok((start, end))
}

/// Streams in `[start, end]` matching `matchers`, with their volume per bucket
/// (`bucket_ns` splits the range from `start`; None gives one bucket, 0).
pub fn stream_volumes(
    context: &CompatContext,
    deadline: Deadline,
    matchers: &[Matcher],
    start: i64,
    end: i64,
    bucket_ns: Option<i64>,
) -> Result<BTreeMap<(Labels, i64), StreamVolume>, LokiError> {
    let selector = LogSelector { matchers: matchers.to_vec(), stages: Vec::new() };
    let bounds = TimeBounds { from_ns: start, from_inclusive: true, to_ns: end, to_inclusive: true };
    let plan = plan_logs(&selector, &context.target.qualified("logs"), bounds, None, None, Shape::Raw);
    let bucket = match bucket_ns {
        Some(step) => format!("CAST((epoch_ns(\"timestamp\") - {start}) // {step} AS BIGINT)"),
        None => "CAST(0 AS BIGINT)".into(),
    };
    let sql = format!(
        "SELECT coalesce(service_name, '') AS service, coalesce(to_json(map_entries(resource_attributes))::VARCHAR, '[]') AS resource, \
         {bucket} AS bucket, count(*) AS entries, CAST(sum(strlen(line)) AS BIGINT) AS bytes FROM ({}) GROUP BY ALL",
        plan.sql
    );
    let con = connect(context)?;
    let max_series = context.limits.max_series;
    let grouped = interrupt_at(&con, deadline, || -> Result<_, LokiError> {
        let mut stmt = con.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let mut out: BTreeMap<(Labels, i64), StreamVolume> = BTreeMap::new();
        let mut streams: BTreeSet<Labels> = BTreeSet::new();
        while let Some(row) = rows.next()? {
            let (service, resource, bucket, entries, bytes): (String, String, i64, i64, i64) =
                (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?);
            // DuckDB's to_json escapes every byte of a stored key or value, NUL included
            let pairs: Vec<Value> = serde_json::from_str(&resource)
                .map_err(|e| LokiError::Internal(format!("reading resource attributes: {e}")))?;
            let pairs: Vec<(&str, &str)> =
                pairs.iter().filter_map(|p| Some((p.get("key")?.as_str()?, p.get("value")?.as_str()?))).collect();
            let labels = stream_labels(&StoredLog { service_name: &service, ..StoredLog::default() }, pairs);
            // the series limit holds as streams are found, before the rest are read
            if !streams.contains(&labels) {
                streams.insert(labels.clone());
                if streams.len() > max_series {
                    return Err(series_limit(max_series));
                }
            }
            let volume = out.entry((labels, bucket)).or_default();
            volume.entries += entries as u64;
            volume.bytes += bytes as u64;
        }
        Ok(out)
    });
    if deadline.expired() {
        return Err(LokiError::Timeout);
    }
    grouped
}

/// The distinct stream label sets of the request's range and optional `query`.
fn streams(
    request: &ApiRequest,
    context: &CompatContext,
    deadline: Deadline,
    selector: Option<&str>,
) -> Result<Vec<Labels>, LokiError> {
    let (start, end) = metadata_range(request, context)?;
    let matchers = match selector {
        Some(text) => parse_matchers(text)?,
        None => Vec::new(),
    };
    let volumes = stream_volumes(context, deadline, &matchers, start, end, None)?;
    let set: BTreeSet<Labels> = volumes.into_keys().map(|(labels, _)| labels).collect();
    Ok(set.into_iter().collect())
}

/// `GET|POST /loki/api/v1/labels`: `start`, `end`, `since`, `query`.
pub fn names(request: &ApiRequest, context: &CompatContext) -> Answer {
    let streams = streams(request, context, Deadline::after(context.limits.timeout), request.params.get("query"))?;
    let names: BTreeSet<&String> = streams.iter().flat_map(|labels| labels.keys()).collect();
    Ok(json!({"status": "success", "data": names}))
}

/// `GET|POST /loki/api/v1/label/<name>/values`: `start`, `end`, `since`, `query`.
pub fn values(request: &ApiRequest, context: &CompatContext, name: &str) -> Answer {
    let streams = streams(request, context, Deadline::after(context.limits.timeout), request.params.get("query"))?;
    let values: BTreeSet<&String> = streams.iter().filter_map(|labels| labels.get(name)).collect();
    Ok(json!({"status": "success", "data": values}))
}

/// `GET|POST /loki/api/v1/series`: `match[]` (any number, OR-ed), `start`, `end`, `since`.
pub fn series(request: &ApiRequest, context: &CompatContext) -> Answer {
    let selectors = request.params.get_all("match[]");
    // one deadline for the request, not one per selector
    let deadline = Deadline::after(context.limits.timeout);
    let mut found: BTreeSet<Labels> = BTreeSet::new();
    if selectors.is_empty() {
        found.extend(streams(request, context, deadline, None)?);
    }
    for selector in selectors {
        found.extend(streams(request, context, deadline, Some(selector))?);
        if found.len() > context.limits.max_series {
            return Err(series_limit(context.limits.max_series));
        }
    }
    let data: Vec<&Labels> = found.iter().collect();
    Ok(json!({"status": "success", "data": data}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_must_be_plain_matchers() {
        assert_eq!(parse_matchers(r#"{service_name="api"}"#).unwrap().len(), 1);
        assert_eq!(
            parse_matchers(r#"{service_name="api"} |= "x""#),
            Err(LokiError::BadRequest("only label matchers are supported".into()))
        );
        assert!(matches!(parse_matchers("{"), Err(LokiError::BadRequest(m)) if m.starts_with("parse error")));
    }
}
