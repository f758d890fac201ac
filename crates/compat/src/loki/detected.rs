//! `detected_fields`, `detected_labels` and `patterns`, which Grafana's Logs
//! Drilldown and Explore use to offer filters. Fields are the structured
//! metadata and parsed labels of the newest `line_limit` lines the query
//! returns, typed the way Loki types them (int, float, boolean, duration,
//! bytes, else string), parsed ones listing the query's parsers. Labels are
//! the stream labels with their cardinality, without those whose values all
//! look like ids, as Loki filters them. Patterns need Loki's pattern
//! ingester: we answer an empty, valid list.

use super::labels::{metadata_range, parse_matchers, stream_volumes};
use super::params::parse_limit;
use super::query::{parse_query, query_bounds};
use super::{connect, Answer, LokiError};
use crate::limits::{interrupt_at, Deadline};
use crate::{ApiRequest, CompatContext};
use canardstack_query::go_duration::parse_go_duration_seconds;
use canardstack_query::logql::ast::{Query, Stage};
use canardstack_query::logql::engine::{run_log_query_counted, LogRequest, ScanStats};
use canardstack_query::logql::plan::Direction;
use canardstack_query::logql::units::parse_bytes;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const DEFAULT_FIELD_LIMIT: u64 = 1000;

/// Loki's type for one value.
fn value_type(value: &str) -> &'static str {
    if value.parse::<i64>().is_ok() {
        "int"
    } else if value.parse::<f64>().is_ok() {
        "float"
    } else if matches!(value, "true" | "false" | "TRUE" | "FALSE" | "True" | "False") {
        "boolean"
    } else if parse_go_duration_seconds(value).is_some() {
        "duration"
    } else if parse_bytes(value).is_some() {
        "bytes"
    } else {
        "string"
    }
}

/// The name Loki gives the parser a stage runs, if it is one.
fn parser_name(stage: &Stage) -> Option<&'static str> {
    match stage {
        Stage::Json(_) => Some("json"),
        Stage::Logfmt { .. } => Some("logfmt"),
        Stage::Regexp(_) => Some("regexp"),
        Stage::Pattern(_) => Some("pattern"),
        Stage::Unpack => Some("unpack"),
        _ => None,
    }
}

/// `GET /loki/api/v1/detected_fields`: `query`, `start`, `end`, `line_limit`, `limit`.
pub fn fields(request: &ApiRequest, context: &CompatContext) -> Answer {
    let (start, end) = metadata_range(request, context)?;
    let line_limit = parse_limit(request.params.get("line_limit"))?;
    let limit = match request.params.get("limit").or(request.params.get("field_limit")) {
        None => DEFAULT_FIELD_LIMIT,
        some => parse_limit(some)?,
    };
    let Query::Log(selector) = parse_query(request)? else {
        return Err(LokiError::BadRequest("only log queries are supported".into()));
    };
    let parsers: Vec<&str> = selector.stages.iter().filter_map(parser_name).collect();
    let line_limit = line_limit.min(context.limits.max_entries as u64);
    let con = connect(context)?;
    let table = context.target.qualified("logs");
    let log_request = LogRequest { start_ns: start, end_ns: end, limit: line_limit, direction: Direction::Backward };
    let deadline = Deadline::after(context.limits.timeout);
    let bounds = query_bounds(context, deadline);
    let rows = interrupt_at(&*con, deadline, || {
        run_log_query_counted(&*con, &table, &selector, log_request, &bounds, &mut ScanStats::default())
    })?;
    // name -> (is parsed, values)
    let mut found: BTreeMap<String, (bool, BTreeSet<String>)> = BTreeMap::new();
    for row in &rows {
        for (parsed, labels) in [(false, &row.metadata), (true, &row.parsed)] {
            for (name, value) in labels.iter().filter(|(n, _)| !n.starts_with("__")) {
                let slot = found.entry(name.clone()).or_insert((parsed, BTreeSet::new()));
                slot.1.insert(value.clone());
            }
        }
    }
    let fields: Vec<Value> = found
        .into_iter()
        .take(limit as usize)
        .map(|(name, (parsed, values))| {
            let types: BTreeSet<&str> = values.iter().map(|v| value_type(v)).collect();
            let kind = if types.len() == 1 { types.into_iter().next().unwrap_or("string") } else { "string" };
            let parsers = if parsed { json!(parsers) } else { Value::Null };
            json!({"label": name, "type": kind, "cardinality": values.len(), "parsers": parsers})
        })
        .collect();
    Ok(json!({"fields": fields, "limit": limit}))
}

/// `GET /loki/api/v1/detected_labels`: `query` (a selector, optional), `start`, `end`.
pub fn labels(request: &ApiRequest, context: &CompatContext) -> Answer {
    let (start, end) = metadata_range(request, context)?;
    let matchers = match request.params.get("query") {
        Some(text) => parse_matchers(text)?,
        None => Vec::new(),
    };
    let volumes = stream_volumes(context, Deadline::after(context.limits.timeout), &matchers, start, end, None)?;
    let mut values: BTreeMap<&String, BTreeSet<&String>> = BTreeMap::new();
    for (labels, _) in volumes.keys() {
        for (name, value) in labels {
            values.entry(name).or_default().insert(value);
        }
    }
    let detected: Vec<Value> = values
        .into_iter()
        .filter(|(name, set)| STATIC_LABELS.contains(&name.as_str()) || !looks_like_ids(set))
        .map(|(name, set)| json!({"label": name, "cardinality": set.len()}))
        .collect();
    Ok(json!({"detectedLabels": detected}))
}

/// Labels Loki always offers, whatever their values.
const STATIC_LABELS: [&str; 4] = ["cluster", "namespace", "instance", "pod"];

/// Loki hides a label whose values are all numbers or UUIDs (ids are no
/// use as filters), except one or two values of `0` and `1` (a flag).
fn looks_like_ids(values: &BTreeSet<&String>) -> bool {
    let is_id = |v: &&String| v.parse::<f64>().is_ok() || is_uuid(v);
    if values.len() <= 2 && values.iter().all(|v| v.as_str() == "0" || v.as_str() == "1") {
        return false;
    }
    values.iter().all(is_id)
}

/// The UUID spellings Go's `uuid.Parse` accepts: plain, hyphenated, `urn:uuid:` or braces.
fn is_uuid(text: &str) -> bool {
    let inner = text
        .strip_prefix("urn:uuid:")
        .or_else(|| text.strip_prefix('{').and_then(|t| t.strip_suffix('}')))
        .unwrap_or(text);
    let hex = |part: &str| part.bytes().all(|c| c.is_ascii_hexdigit());
    match inner.len() {
        32 => hex(inner),
        36 => {
            let parts: Vec<&str> = inner.split('-').collect();
            parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| hex(p))
        }
        _ => false,
    }
}

/// `GET /loki/api/v1/patterns`: always an empty list (no pattern detection yet).
pub fn patterns(request: &ApiRequest, context: &CompatContext) -> Answer {
    metadata_range(request, context)?;
    parse_query(request)?;
    Ok(json!({"status": "success", "data": []}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_like_labels_are_hidden() {
        let set = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<String>>();
        let hidden = |values: &[&str]| {
            let owned = set(values);
            looks_like_ids(&owned.iter().collect())
        };
        assert!(hidden(&["12", "13", "14"]));
        assert!(hidden(&["0af7651916cd43dd8448eb211c80319c", "123e4567-e89b-12d3-a456-426614174000"]));
        assert!(!hidden(&["0", "1"]));
        assert!(!hidden(&["api", "12"]));
        assert!(hidden(&["7"]));
    }

    #[test]
    fn values_are_typed_like_loki() {
        assert_eq!(value_type("200"), "int");
        assert_eq!(value_type("0.5"), "float");
        assert_eq!(value_type("true"), "boolean");
        assert_eq!(value_type("15ms"), "duration");
        assert_eq!(value_type("10KB"), "bytes");
        assert_eq!(value_type("GET"), "string");
    }
}
