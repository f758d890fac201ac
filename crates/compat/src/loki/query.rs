//! `query` and `query_range`: LogQL through the engine, bounded by the
//! context's limits (timeout, range, entries, series), rendered as streams,
//! a matrix, a vector or a scalar as Loki does. Log queries on the instant
//! endpoint are refused with Loki's message.

use super::params::{go_duration, now_ns, parse_direction, parse_limit, parse_timestamp, range_params};
use super::render::{matrix_json, query_envelope, scalar_json, streams_json, thin_by_interval, vector_json, Summary};
use super::{connect, wants_categories, Answer, LokiError};
use crate::limits::{interrupt_at, Deadline};
use crate::{ApiRequest, CompatContext};
use canardstack_query::logql::ast::{LogSelector, MetricExpr, Query};
use canardstack_query::logql::engine::{run_log_query_counted, run_metric_query_counted, LogRequest, ScanStats};
use canardstack_query::logql::eval::{QueryBounds, Series, Steps};
use canardstack_query::logql::parser::parse;
use canardstack_query::logql::plan::Direction;
use std::time::Instant;

pub fn parse_query(request: &ApiRequest) -> Result<Query, LokiError> {
    let text = request.params.get("query").unwrap_or("");
    parse(text).map_err(|e| LokiError::BadRequest(e.to_string()))
}

/// Loki refuses a limit above `max_entries_limit_per_query`.
fn check_entries(limit: u64, context: &CompatContext) -> Result<(), LokiError> {
    let max = context.limits.max_entries as u64;
    if limit > max {
        return Err(LokiError::BadRequest(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max})"
        )));
    }
    Ok(())
}

pub fn check_range(start: i64, end: i64, context: &CompatContext) -> Result<(), LokiError> {
    let max = context.limits.max_range.as_nanos() as i128;
    if end as i128 - start as i128 > max {
        return Err(LokiError::BadRequest(format!(
            "the query time range exceeds the limit (query length: {}, limit: {})",
            go_duration(end as i128 - start as i128),
            go_duration(max)
        )));
    }
    Ok(())
}

/// One request's bounds: the server's series cap and the request's single deadline.
pub fn query_bounds(context: &CompatContext, deadline: Deadline) -> QueryBounds {
    QueryBounds::new(context.limits.max_series, Some(Instant::now() + deadline.remaining()))
}

/// Whether an expression has no vector in it (Loki answers such instant queries with a scalar).
fn is_scalar(expr: &MetricExpr) -> bool {
    match expr {
        MetricExpr::Scalar(_) => true,
        MetricExpr::Binary { lhs, rhs, .. } => is_scalar(lhs) && is_scalar(rhs),
        _ => false,
    }
}

struct Lines {
    selector: LogSelector,
    start: i64,
    end: i64,
    limit: u64,
    interval: i64,
    direction: Direction,
}

fn run_lines(lines: Lines, request: &ApiRequest, context: &CompatContext) -> Answer {
    check_entries(lines.limit, context)?;
    let started = Instant::now();
    let con = connect(context)?;
    let table = context.target.qualified("logs");
    let mut scanned = ScanStats::default();
    // with an interval, lines are thinned after reading, so read up to the entries bound
    let read_limit = if lines.interval > 0 { context.limits.max_entries as u64 } else { lines.limit };
    let log_request =
        LogRequest { start_ns: lines.start, end_ns: lines.end, limit: read_limit, direction: lines.direction };
    let deadline = Deadline::after(context.limits.timeout);
    let bounds = query_bounds(context, deadline);
    let rows = interrupt_at(&*con, deadline, || {
        run_log_query_counted(&*con, &table, &lines.selector, log_request, &bounds, &mut scanned)
    })?;
    if deadline.expired() {
        return Err(LokiError::Timeout);
    }
    let rows = thin_by_interval(rows, lines.interval, lines.direction, lines.limit);
    let summary = Summary { scanned, entries_returned: rows.len() as u64, exec_time: started.elapsed() };
    let categorize = wants_categories(request);
    Ok(query_envelope("streams", streams_json(&rows, categorize), &summary, categorize))
}

fn run_metric(expr: &MetricExpr, steps: Steps, context: &CompatContext) -> Result<(Vec<Series>, Summary), LokiError> {
    let started = Instant::now();
    let con = connect(context)?;
    let table = context.target.qualified("logs");
    let mut scanned = ScanStats::default();
    // one deadline for the whole request, however many selectors the expression has
    let deadline = Deadline::after(context.limits.timeout);
    let bounds = query_bounds(context, deadline);
    let series =
        interrupt_at(&*con, deadline, || run_metric_query_counted(&*con, &table, expr, &steps, &bounds, &mut scanned))?;
    if deadline.expired() {
        return Err(LokiError::Timeout);
    }
    let returned = series.iter().map(|s| s.points.len() as u64).sum();
    Ok((series, Summary { scanned, entries_returned: returned, exec_time: started.elapsed() }))
}

/// `GET|POST /loki/api/v1/query`: `query`, `time`, `limit`, `direction`.
pub fn instant(request: &ApiRequest, context: &CompatContext) -> Answer {
    let params = &request.params;
    // validated as Loki validates it, though it bounds log lines only
    parse_limit(params.get("limit"))?;
    let time = match params.get("time") {
        Some(text) => parse_timestamp(text)?,
        None => now_ns(),
    };
    parse_direction(params.get("direction"))?;
    let expr = match parse_query(request)? {
        Query::Log(_) => return Err(LokiError::BadRequest(
            "log queries are not supported as an instant query type, please change your query to a range query type"
                .into(),
        )),
        Query::Metric(expr) => expr,
    };
    let steps = Steps { start_ns: time, end_ns: time, step_ns: 1 };
    let (series, summary) = run_metric(&expr, steps, context)?;
    if is_scalar(&expr) {
        // Loki counts no entries for a scalar
        let summary = Summary { entries_returned: 0, ..summary };
        let value = series.first().and_then(|s| s.points.first()).map(|(_, v)| *v).unwrap_or(f64::NAN);
        return Ok(query_envelope("scalar", scalar_json(time, value), &summary, wants_categories(request)));
    }
    Ok(query_envelope("vector", vector_json(&series), &summary, wants_categories(request)))
}

/// `GET|POST /loki/api/v1/query_range`: `query`, `start`, `end`, `since`, `limit`, `direction`, `step`, `interval`.
pub fn range(request: &ApiRequest, context: &CompatContext) -> Answer {
    let p = range_params(|name| request.params.get(name).map(str::to_string), now_ns())?;
    let query = parse_query(request)?;
    check_range(p.start, p.end, context)?;
    match query {
        Query::Log(selector) => run_lines(
            Lines {
                selector,
                start: p.start,
                end: p.end,
                limit: p.limit,
                interval: p.interval,
                direction: p.direction,
            },
            request,
            context,
        ),
        Query::Metric(expr) => {
            let steps = Steps { start_ns: p.start, end_ns: p.end, step_ns: p.step };
            let (series, summary) = run_metric(&expr, steps, context)?;
            Ok(query_envelope("matrix", matrix_json(&series), &summary, wants_categories(request)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_expressions_are_recognised() {
        let metric = |q: &str| match parse(q).unwrap() {
            Query::Metric(expr) => expr,
            _ => panic!("not a metric query"),
        };
        assert!(is_scalar(&metric("1 + 1")));
        assert!(!is_scalar(&metric("vector(1) + vector(1)")));
        assert!(!is_scalar(&metric("sum(count_over_time({a=\"b\"}[1m])) * 2")));
    }
}
