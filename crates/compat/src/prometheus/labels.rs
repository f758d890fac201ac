//! The discovery routes Grafana's metrics browser and autocomplete call:
//! `series`, `labels`, `label/<name>/values`, `metadata`, and
//! `query_exemplars`. They list what exists from the lake's label columns
//! (never reading points) through `canardstack_query::promql::lake_meta`.

use super::params::{self, limit_param, matcher_sets, time_param, MAX_TIME_MS, MIN_TIME_MS};
use super::render::{self, ApiError, ErrorKind};
use super::{lake_time, with_lake, Answer};
use crate::{ApiRequest, CompatContext, Deadline};
use canardstack_query::promql::value::{Labels, METRIC_NAME};
use promql_parser::label::{MatchOp, Matcher};
use std::collections::{BTreeMap, BTreeSet};

const TRUNCATED: &str = "results truncated due to limit";

/// The label name in `/api/v1/label/<name>/values`.
pub fn label_of_values_path(path: &str) -> Option<&str> {
    path.strip_prefix("/api/v1/label/")?.strip_suffix("/values").filter(|name| !name.is_empty() && !name.contains('/'))
}

/// `[start, end]` of a discovery request (open ends by default), as the
/// lake's left-open window `(start - 1, end]`.
fn window(request: &ApiRequest) -> Result<(i64, i64), ApiError> {
    let start = time_param(&request.params, "start", MIN_TIME_MS)?;
    let end = time_param(&request.params, "end", MAX_TIME_MS)?;
    Ok((lake_time(start).saturating_sub(1), lake_time(end)))
}

fn deadline(context: &CompatContext) -> Deadline {
    Deadline::after(context.limits.timeout)
}

/// The series matching any of `sets` (a union, as Prometheus merges them).
fn matching_series(
    context: &CompatContext,
    sets: &[Vec<Matcher>],
    (start, end): (i64, i64),
) -> Result<BTreeSet<Labels>, ApiError> {
    let found = with_lake(context, deadline(context), |source| {
        let mut found = BTreeSet::new();
        for matchers in sets {
            found.extend(source.inner.series_labels(matchers, start, end)?);
        }
        Ok(found)
    })?;
    if found.len() > context.limits.max_series {
        return Err(ApiError::new(ErrorKind::Execution, super::max_series_message(context.limits.max_series)));
    }
    Ok(found)
}

/// Every series: what `labels` and `label/<name>/values` read without `match[]`.
fn all_series() -> Vec<Vec<Matcher>> {
    vec![vec![Matcher::new(MatchOp::NotEqual, METRIC_NAME, "")]]
}

fn truncated(mut items: Vec<String>, limit: usize) -> Answer {
    let mut warnings = Vec::new();
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        warnings.push(TRUNCATED.to_string());
    }
    Answer { data: Some(render::string_array(items.iter().map(String::as_str))), warnings }
}

/// `GET|POST /api/v1/series?match[]=&start=&end=&limit=`
pub fn series(request: &ApiRequest, context: &CompatContext) -> Result<Answer, ApiError> {
    if request.params.get_all("match[]").is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let limit = limit_param(&request.params)?;
    let window = window(request)?;
    let sets = matcher_sets(&request.params).map_err(|e| ApiError::invalid_param("match[]", &e))?;
    let mut found: Vec<Labels> = matching_series(context, &sets, window)?.into_iter().collect();
    let mut warnings = Vec::new();
    if limit > 0 && found.len() > limit {
        found.truncate(limit);
        warnings.push(TRUNCATED.to_string());
    }
    let items: Vec<String> = found.iter().map(render::labels).collect();
    Ok(Answer { data: Some(format!("[{}]", items.join(","))), warnings })
}

/// `GET|POST /api/v1/labels?match[]=&start=&end=&limit=`
pub fn label_names(request: &ApiRequest, context: &CompatContext) -> Result<Answer, ApiError> {
    let limit = limit_param(&request.params)?;
    let window = window(request)?;
    let mut sets = matcher_sets(&request.params).map_err(ApiError::bad_data)?;
    if sets.is_empty() {
        sets = all_series();
    }
    let names: BTreeSet<String> =
        matching_series(context, &sets, window)?.into_iter().flat_map(|labels| labels.into_keys()).collect();
    Ok(truncated(names.into_iter().collect(), limit))
}

/// `GET /api/v1/label/<name>/values?match[]=&start=&end=&limit=`
pub fn label_values(request: &ApiRequest, context: &CompatContext) -> Result<Answer, ApiError> {
    let name = label_of_values_path(&request.path).unwrap_or("");
    let name = unescape_name(name);
    if !is_valid_label_name(&name) {
        return Err(ApiError::bad_data(format!("invalid label name: {}", params::go_quote(&name))));
    }
    let limit = limit_param(&request.params)?;
    let (start, end) = window(request)?;
    let sets = matcher_sets(&request.params).map_err(ApiError::bad_data)?;
    let values: BTreeSet<String> = if sets.is_empty() && name == METRIC_NAME {
        // metric names alone need no label columns
        with_lake(context, deadline(context), |source| source.inner.series_names_in_window(start, end))?
    } else {
        let sets = if sets.is_empty() { all_series() } else { sets };
        matching_series(context, &sets, (start, end))?
            .into_iter()
            .filter_map(|mut labels| labels.remove(name.as_str()))
            .collect()
    };
    Ok(truncated(values.into_iter().collect(), limit))
}

/// Prometheus 3 accepts any UTF-8 label name here; `U__` names are escaped
/// (`U__http_2e_method` is `http.method`).
fn unescape_name(name: &str) -> String {
    let Some(escaped) = name.strip_prefix("U__") else { return name.to_string() };
    let mut out = String::new();
    let mut rest = escaped;
    while let Some(c) = rest.chars().next() {
        if c == '_' {
            if let Some(stripped) = rest[1..].strip_prefix('_') {
                out.push('_');
                rest = stripped;
                continue;
            }
            let hex_len = rest[1..].find('_');
            match hex_len.and_then(|n| u32::from_str_radix(&rest[1..1 + n], 16).ok()).and_then(char::from_u32) {
                Some(decoded) => {
                    out.push(decoded);
                    rest = &rest[2 + hex_len.unwrap_or(0)..];
                }
                None => return name.to_string(),
            }
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

/// `GET /api/v1/metadata?metric=&limit=&limit_per_metric=`
pub fn metadata(request: &ApiRequest, context: &CompatContext) -> Result<Answer, ApiError> {
    let number = |name: &str| -> Result<i64, ApiError> {
        match request.params.get(name) {
            None => Ok(-1),
            Some(text) => params::go_atoi(text).map_err(|_| ApiError::bad_data(format!("{name} must be a number"))),
        }
    };
    let limit = number("limit")?;
    let limit_per_metric = number("limit_per_metric")?;
    let metric = request.params.get("metric");
    let all = with_lake(context, deadline(context), |source| source.inner.metadata())?;
    let mut by_family: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in all.into_iter().filter(|m| metric.is_none_or(|name| name == m.family)) {
        let entries = by_family.entry(m.family.clone()).or_default();
        if limit_per_metric > 0 && entries.len() as i64 >= limit_per_metric {
            continue;
        }
        entries.push(format!(
            "{{\"type\":{},\"help\":{},\"unit\":{}}}",
            render::string(m.kind),
            render::string(&m.help),
            render::string(&m.unit)
        ));
    }
    let items: Vec<String> = by_family
        .into_iter()
        .take(if limit >= 0 { limit as usize } else { usize::MAX })
        .map(|(family, entries)| format!("{}:[{}]", render::string(&family), entries.join(",")))
        .collect();
    Ok(Answer::data(format!("{{{}}}", items.join(","))))
}

/// `GET|POST /api/v1/query_exemplars?query=&start=&end=`
pub fn exemplars(request: &ApiRequest, context: &CompatContext) -> Result<Answer, ApiError> {
    let start = time_param(&request.params, "start", MIN_TIME_MS)?;
    let end = time_param(&request.params, "end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data("end timestamp must not be before start timestamp"));
    }
    let text = request.params.get("query").unwrap_or("");
    let expr = canardstack_query::promql::parse(text).map_err(|e| match e {
        canardstack_query::promql::PromqlError::Parse { message, .. } => {
            ApiError::bad_data(format!("parse error: {message}"))
        }
        other => ApiError::bad_data(other.to_string()),
    })?;
    let sets = selectors(&expr).map_err(|e| ApiError::new(ErrorKind::Execution, e.to_string()))?;
    if sets.is_empty() {
        return Ok(Answer { data: None, warnings: Vec::new() });
    }
    let (start, end) = (lake_time(start), lake_time(end));
    let found = with_lake(context, deadline(context), |source| {
        let mut found: BTreeMap<Labels, Vec<canardstack_query::promql::lake_meta::Exemplar>> = BTreeMap::new();
        for matchers in &sets {
            for (labels, exemplars) in source.inner.exemplars(matchers, start, end)? {
                let entry = found.entry(labels).or_default();
                if entry.is_empty() {
                    *entry = exemplars;
                }
            }
        }
        Ok(found)
    })?;
    let items: Vec<String> = found
        .iter()
        .map(|(labels, exemplars)| {
            let list: Vec<String> = exemplars
                .iter()
                .map(|e| {
                    format!(
                        "{{\"labels\":{},\"value\":{},\"timestamp\":{}}}",
                        render::labels(&e.labels),
                        render::sample_value(e.value),
                        render::sample_time(e.t)
                    )
                })
                .collect();
            format!("{{\"seriesLabels\":{},\"exemplars\":[{}]}}", render::labels(labels), list.join(","))
        })
        .collect();
    Ok(Answer::data(format!("[{}]", items.join(","))))
}

/// The matchers of every selector in a query (Prometheus' `ExtractSelectors`).
fn selectors(expr: &promql_parser::parser::Expr) -> canardstack_query::promql::Result<Vec<Vec<Matcher>>> {
    use promql_parser::parser::Expr;
    let mut out = Vec::new();
    let mut stack = vec![expr];
    while let Some(expr) = stack.pop() {
        match expr {
            Expr::VectorSelector(vs) => out.push(canardstack_query::promql::eval::selector_matchers(vs)?),
            Expr::MatrixSelector(ms) => out.push(canardstack_query::promql::eval::selector_matchers(&ms.vs)?),
            Expr::Aggregate(a) => {
                stack.push(&a.expr);
                if let Some(param) = &a.param {
                    stack.push(param);
                }
            }
            Expr::Unary(u) => stack.push(&u.expr),
            Expr::Binary(b) => {
                stack.push(&b.rhs);
                stack.push(&b.lhs);
            }
            Expr::Paren(p) => stack.push(&p.expr),
            Expr::Subquery(s) => stack.push(&s.expr),
            Expr::Call(c) => stack.extend(c.args.args.iter().map(|a| a.as_ref())),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_value_paths() {
        assert_eq!(label_of_values_path("/api/v1/label/job/values"), Some("job"));
        assert_eq!(label_of_values_path("/api/v1/label/__name__/values"), Some("__name__"));
        assert_eq!(label_of_values_path("/api/v1/label//values"), None);
        assert_eq!(label_of_values_path("/api/v1/label/a/b/values"), None);
    }

    #[test]
    fn escaped_label_names() {
        assert_eq!(unescape_name("job"), "job");
        assert_eq!(unescape_name("U__http_2e_method"), "http.method");
        assert_eq!(unescape_name("U__a__b"), "a_b");
    }

    #[test]
    fn selectors_of_a_query() {
        let expr = canardstack_query::promql::parse("sum(rate(a_bucket[5m])) / on() b + 1").unwrap();
        let sets = selectors(&expr).unwrap();
        let name_of = |set: &Vec<Matcher>| set.iter().find(|m| m.name == METRIC_NAME).map(|m| m.value.clone());
        let names: Vec<Option<String>> = sets.iter().map(name_of).collect();
        assert_eq!(names, [Some("a_bucket".to_string()), Some("b".to_string())]);
        assert!(selectors(&canardstack_query::promql::parse("1+1").unwrap()).unwrap().is_empty());
    }
}
