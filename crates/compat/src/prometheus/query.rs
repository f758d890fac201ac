//! `/api/v1/query`, `/api/v1/query_range` and `/api/v1/format_query`:
//! parameters checked in Prometheus' order (limit, times, step, timeout,
//! query), the engine run under the request's bounds, the value rendered as
//! Prometheus renders it.

use super::params::{limit_param, parse_duration, required_time, time_param};
use super::render::{self, ApiError};
use super::{deadline, with_lake, Answer};
use crate::{ApiRequest, CompatContext, Params, QueryLimits};
use canardstack_query::promql::eval::{self, QueryBounds, QueryTimes};
use canardstack_query::promql::value::{Series, Value};
use canardstack_query::promql::{self, PromqlError};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::Expr;
use std::time::{Instant, SystemTime};

const TRUNCATED: &str = "results truncated due to limit";

fn parse_query(request: &ApiRequest) -> Result<Expr, ApiError> {
    let text = request.params.get("query").unwrap_or("");
    promql::parse(text).map_err(|e| match e {
        PromqlError::Parse { message, .. } => ApiError::invalid_param("query", &format!("parse error: {message}")),
        other => ApiError::invalid_param("query", &other.to_string()),
    })
}

/// The evaluator's bounds: the request's one deadline (the same one DuckDB
/// is interrupted at) and the sample limit.
fn engine_bounds(deadline: crate::Deadline, context: &CompatContext) -> QueryBounds {
    QueryBounds { deadline: Some(Instant::now() + deadline.remaining()), max_samples: context.limits.max_samples }
}

/// `GET|POST /api/v1/query?query=&time=&timeout=&limit=`
pub fn instant(request: &ApiRequest, context: &CompatContext) -> Result<Answer, ApiError> {
    let limit = limit_param(&request.params)?;
    let now = eval::millis(SystemTime::now());
    let time = time_param(&request.params, "time", now)?;
    let deadline = deadline(request, context)?;
    let expr = parse_query(request)?;
    let value = with_lake(context, deadline, |source| {
        eval::eval_instant_until(&expr, source, time, engine_bounds(deadline, context))
    })?;
    let mut warnings = Vec::new();
    let data = match value {
        Value::Scalar(v) => result("scalar", render::scalar_pair(time, v)),
        Value::String(s) => result("string", render::string_pair(time, &s)),
        Value::Vector(mut samples) => {
            check_series_count(samples.len(), context)?;
            truncate(&mut samples, limit, &mut warnings);
            let items: Vec<String> = samples
                .iter()
                .map(|s| {
                    format!("{{\"metric\":{},\"value\":{}}}", render::labels(&s.labels), render::sample_pair(time, s.v))
                })
                .collect();
            result("vector", format!("[{}]", items.join(",")))
        }
        Value::Matrix(mut series) => {
            check_series_count(series.len(), context)?;
            truncate(&mut series, limit, &mut warnings);
            result("matrix", matrix(&series))
        }
    };
    Ok(Answer { data: Some(data), warnings })
}

/// `GET|POST /api/v1/query_range?query=&start=&end=&step=&timeout=&limit=`
pub fn range(request: &ApiRequest, context: &CompatContext) -> Result<Answer, ApiError> {
    let limit = limit_param(&request.params)?;
    let (start, end, step) = range_parameters(&request.params, &context.limits)?;
    let deadline = deadline(request, context)?;
    let expr = parse_query(request)?;
    let value_type = expr.value_type();
    if value_type != ValueType::Vector && value_type != ValueType::Scalar {
        let documented = if value_type == ValueType::Matrix { "range vector" } else { "string" };
        return Err(ApiError::invalid_param(
            "query",
            &format!("invalid expression type \"{documented}\" for range query, must be Scalar or instant Vector"),
        ));
    }
    // the engine steps in whole milliseconds, as Prometheus does
    let step_ms = (step / 1_000_000) as i64;
    let times = QueryTimes::range(start, end, step_ms).map_err(|e| ApiError::bad_data(e.to_string()))?;
    let mut series = with_lake(context, deadline, |source| {
        eval::eval_range_until(&expr, source, times, engine_bounds(deadline, context))
    })?;
    check_series_count(series.len(), context)?;
    let mut warnings = Vec::new();
    truncate(&mut series, limit, &mut warnings);
    Ok(Answer { data: Some(result("matrix", matrix(&series))), warnings })
}

/// `start`, `end` (ms) and `step` (ns) of a range query, checked as Prometheus does,
/// then against our bound on the range.
fn range_parameters(params: &Params, limits: &QueryLimits) -> Result<(i64, i64, i128), ApiError> {
    let start = required_time(params, "start")?;
    let end = required_time(params, "end")?;
    if end < start {
        return Err(ApiError::invalid_param("end", "end timestamp must not be before start time"));
    }
    let step = parse_duration(params.get("step").unwrap_or("")).map_err(|e| ApiError::invalid_param("step", &e))?;
    if step <= 0 {
        return Err(ApiError::invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if step < 1_000_000 {
        return Err(ApiError::invalid_param("step", "the step rounds to 0ms; it must be at least 1ms"));
    }
    let length = end as i128 - start as i128;
    let max_points = limits.max_points_per_series as i128;
    if length * 1_000_000 / step > max_points {
        return Err(ApiError::bad_data(format!(
            "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
            thousands(max_points)
        )));
    }
    let max_range = limits.max_range.as_millis() as i128;
    if length > max_range {
        return Err(ApiError::bad_data(format!(
            "the query time range exceeds the limit (query length: {}s, limit: {}s)",
            length / 1000,
            max_range / 1000
        )));
    }
    Ok((start, end, step))
}

/// `GET|POST /api/v1/format_query?query=`: the query pretty-printed.
pub fn format(request: &ApiRequest, _: &CompatContext) -> Result<Answer, ApiError> {
    let expr = parse_query(request)?;
    Ok(Answer::data(render::string(&expr.prettify())))
}

fn result(kind: &str, result: String) -> String {
    format!("{{\"resultType\":\"{kind}\",\"result\":{result}}}")
}

fn matrix(series: &[Series]) -> String {
    let items: Vec<String> = series
        .iter()
        .map(|s| {
            let mut item = format!("{{\"metric\":{}", render::labels(&s.labels));
            if !s.points.is_empty() {
                let points: Vec<String> = s.points.iter().map(|p| render::sample_pair(p.t, p.v)).collect();
                item.push_str(&format!(",\"values\":[{}]", points.join(",")));
            }
            item.push('}');
            item
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn check_series_count(count: usize, context: &CompatContext) -> Result<(), ApiError> {
    if count > context.limits.max_series {
        return Err(ApiError::new(super::ErrorKind::Execution, super::max_series_message(context.limits.max_series)));
    }
    Ok(())
}

/// Prometheus' `limit`: keep the first `limit` series and warn.
fn truncate<T>(items: &mut Vec<T>, limit: usize, warnings: &mut Vec<String>) {
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        warnings.push(TRUNCATED.into());
    }
}

/// `11000` -> `11,000`, as Prometheus spells its limit.
fn thousands(n: i128) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_print_with_separators() {
        assert_eq!(thousands(11_000), "11,000");
        assert_eq!(thousands(500), "500");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn matrices_render_like_prometheus() {
        use canardstack_query::promql::value::{Labels, Point};
        let labels: Labels = [("__name__".to_string(), "up".to_string())].into_iter().collect();
        let series = vec![Series { labels, points: vec![Point { t: 1000, v: 1.0 }, Point { t: 1500, v: f64::NAN }] }];
        assert_eq!(
            result("matrix", matrix(&series)),
            "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"__name__\":\"up\"},\"values\":[[1,\"1\"],[1.500,\"NaN\"]]}]}"
        );
    }

    #[test]
    fn parameters_fail_before_the_lake_is_touched() {
        let bad =
            |query: &str| -> ApiError { range_parameters(&Params::parse(query), &QueryLimits::default()).unwrap_err() };
        assert_eq!(
            bad("query=up&end=2&step=1").message,
            "invalid parameter \"start\": cannot parse \"\" to a valid timestamp"
        );
        assert_eq!(
            bad("query=up&start=2&end=1&step=1").message,
            "invalid parameter \"end\": end timestamp must not be before start time"
        );
        assert_eq!(
            bad("query=up&start=1&end=2&step=0").message,
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"
        );
        assert_eq!(
            bad("query=up&start=0&end=11001&step=1").message,
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
        );
        assert_eq!(
            range_parameters(&Params::parse("start=0&end=11000&step=1"), &QueryLimits::default()),
            Ok((0, 11_000_000, 1_000_000_000))
        );
        assert_eq!(
            range_parameters(&Params::parse("start=0.5&end=1&step=0.25"), &QueryLimits::default()),
            Ok((500, 1000, 250_000_000))
        );
        assert_eq!(
            bad("start=0&end=1&step=0.0000001").message,
            "invalid parameter \"step\": the step rounds to 0ms; it must be at least 1ms"
        );
        assert_eq!(
            bad("start=0&end=1&step=1e-300").message,
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"
        );
        assert_eq!(
            bad("start=-9000000000000000000&end=9000000000000000000&step=1").message,
            "invalid parameter \"start\": cannot parse \"-9000000000000000000\" to a valid timestamp"
        );
        assert_eq!(
            bad("start=-9e15&end=9e15&step=9e9").message,
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
        );
        assert_eq!(
            bad("start=0&end=1&step=1e300").message,
            "invalid parameter \"step\": cannot parse \"1e300\" to a valid duration. It overflows int64"
        );
        assert_eq!(
            bad("start=0&end=3000000&step=1000").message,
            "the query time range exceeds the limit (query length: 3000000s, limit: 2764800s)"
        );
    }
}
