//! `labels`, `label/<name>/values` and `series`: the stream label sets in a
//! time range, optionally restricted by a selector, as
//! [`canardstack_query::logql::volumes`] finds them.

use super::params::{bounds, now_ns};
use super::query::check_range;
use super::{connect, series_limit, Answer, LokiError};
use crate::limits::{interrupt_at, Deadline};
use crate::{ApiRequest, CompatContext};
use canardstack_query::logql::ast::{LogSelector, Matcher, Query};
use canardstack_query::logql::parser::parse;
use canardstack_query::logql::pipeline::Labels;
pub use canardstack_query::logql::volumes::StreamVolume;
use canardstack_query::logql::volumes::{volumes, VolumeError, VolumeQuery};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

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
    let query = VolumeQuery { logs_table: &context.target.qualified("logs"), matchers, start, end, bucket_ns };
    let con = connect(context)?;
    let max_series = context.limits.max_series;
    let grouped = interrupt_at(&*con, deadline, || volumes(&*con, &query, max_series));
    if deadline.expired() {
        return Err(LokiError::Timeout);
    }
    grouped.map_err(|error| match error {
        VolumeError::TooManyStreams(limit) => series_limit(limit),
        VolumeError::Store(e) => LokiError::from(e),
        unreadable @ VolumeError::Unreadable(_) => LokiError::Internal(unreadable.to_string()),
    })
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
