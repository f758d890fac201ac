//! Running trace lookups and searches on a [`Store`] and reading the
//! rows into plain structs, for callers that render them (the Tempo API).
//!
//! Nested columns (attribute maps, events, links, matched spans) are turned
//! into JSON text by DuckDB itself (`to_json(map_entries(...))`), which keeps
//! attribute order and spares a hand-written walk over Arrow's nested arrays;
//! every timestamp leaves DuckDB as integer nanoseconds (`epoch_ns`), so no
//! text form of a time is ever parsed.

use super::ast::SpansetExpr;
use super::plan::{search_sql, SearchOptions};
use super::TraceqlError;
use crate::sql_text::quote_literal;
use crate::store::{for_each_batch, int64_at, int64_column, text_at, text_column, Store, StoreError};
use arrow_array::{ArrayRef, RecordBatch};
use serde::Deserialize;
use std::ops::ControlFlow;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Traceql(#[from] TraceqlError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("unreadable row: {0}")]
    Row(String),
    /// a search or listing read more than [`MAX_RESULT_BYTES`] of text
    #[error("the result exceeds {limit} bytes; narrow the query or its time range, or lower limit")]
    TooLarge { limit: usize },
}

/// The most text (ids, names, attributes) one search or tag listing may read
/// from DuckDB: rows are capped by `limit`, but stored values are any size.
pub const MAX_RESULT_BYTES: usize = 256 * 1024 * 1024;

/// Counts bytes read against [`MAX_RESULT_BYTES`].
#[derive(Default)]
pub(crate) struct ResultBytes(usize);

impl ResultBytes {
    pub(crate) fn add(&mut self, bytes: usize) -> Result<(), FetchError> {
        self.0 = self.0.saturating_add(bytes);
        if self.0 > MAX_RESULT_BYTES {
            return Err(FetchError::TooLarge { limit: MAX_RESULT_BYTES });
        }
        Ok(())
    }
}

/// One attribute as stored: key and text value.
pub type Attribute = (String, String);

/// One stored span, every column of `spans`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanRecord {
    pub start_ns: i64,
    pub end_ns: i64,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub trace_state: String,
    pub name: String,
    /// `Server`, `Client`, ... as stored
    pub kind: String,
    pub service_name: String,
    pub resource_schema_url: String,
    pub resource_attributes: Vec<Attribute>,
    pub scope_name: String,
    pub scope_version: String,
    pub attributes: Vec<Attribute>,
    /// `Unset`, `Ok`, `Error` as stored
    pub status_code: String,
    pub status_message: String,
    pub events: Vec<EventRecord>,
    pub links: Vec<LinkRecord>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct EventRecord {
    pub time: i64,
    pub name: String,
    #[serde(deserialize_with = "attributes")]
    pub attributes: Vec<Attribute>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct LinkRecord {
    pub trace_id: String,
    pub span_id: String,
    pub trace_state: String,
    #[serde(deserialize_with = "attributes")]
    pub attributes: Vec<Attribute>,
}

/// The spans of one trace, ordered by start time then span id; at most
/// `max_spans + 1` so callers can tell a trace over their bound. With a
/// range, only spans overlapping it (the start bound is on span start, a
/// constant comparison DuckLake can prune on).
pub fn trace_spans(
    store: &dyn Store,
    spans_table: &str,
    trace_id: &str,
    range: (Option<i64>, Option<i64>),
    max_spans: usize,
) -> Result<Vec<SpanRecord>, FetchError> {
    let sql = trace_spans_sql(spans_table, trace_id, range, max_spans + 1);
    let mut spans = Vec::new();
    for_each_batch(store, &sql, |batch| -> Result<_, FetchError> {
        let columns = Columns::of(&batch)?;
        for row in 0..batch.num_rows() {
            let text = |i: usize| columns.text(i, row);
            spans.push(SpanRecord {
                start_ns: columns.int64(0, row)?,
                end_ns: columns.int64(1, row)?,
                trace_id: text(2),
                span_id: text(3),
                parent_span_id: text(4),
                trace_state: text(5),
                name: text(6),
                kind: text(7),
                service_name: text(8),
                resource_schema_url: text(9),
                resource_attributes: json_list(&text(10))?.into_iter().map(KeyValue::pair).collect(),
                scope_name: text(11),
                scope_version: text(12),
                attributes: json_list(&text(13))?.into_iter().map(KeyValue::pair).collect(),
                status_code: text(14),
                status_message: text(15),
                events: json_list(&text(16))?,
                links: json_list(&text(17))?,
            });
        }
        Ok(ControlFlow::Continue(()))
    })??;
    Ok(spans)
}

/// The columns of one result batch, each read as text or as integers.
struct Columns(Vec<ArrayRef>);

impl Columns {
    /// Integer columns (ids, times, counts) are cast to BIGINT and all others
    /// to text; a column that is neither is an error.
    fn of(batch: &RecordBatch) -> Result<Columns, FetchError> {
        (0..batch.num_columns())
            .map(|i| match batch.column(i).data_type().is_integer() {
                true => int64_column(batch, i),
                false => text_column(batch, i),
            })
            .collect::<Result<_, _>>()
            .map(Columns)
            .map_err(FetchError::from)
    }

    /// Text, empty when NULL.
    fn text(&self, index: usize, row: usize) -> String {
        self.optional_text(index, row).unwrap_or_default()
    }

    fn optional_text(&self, index: usize, row: usize) -> Option<String> {
        text_at(&self.0[index], row).map(str::to_string)
    }

    /// A number that is never NULL in the rows the plans select.
    fn int64(&self, index: usize, row: usize) -> Result<i64, FetchError> {
        int64_at(&self.0[index], row).ok_or_else(|| FetchError::Row(format!("column {index} is NULL or not a number")))
    }
}

fn trace_spans_sql(spans_table: &str, trace_id: &str, range: (Option<i64>, Option<i64>), limit: usize) -> String {
    let mut filter = format!("trace_id = {}", quote_literal(trace_id));
    if let Some(start) = range.0 {
        filter.push_str(&format!(" AND end_timestamp >= make_timestamp_ns({start})"));
    }
    if let Some(end) = range.1 {
        filter.push_str(&format!(" AND timestamp <= make_timestamp_ns({end})"));
    }
    format!(
        "SELECT epoch_ns(timestamp), epoch_ns(end_timestamp), trace_id, span_id, parent_span_id, trace_state, \
         span_name, span_kind, service_name, resource_schema_url, to_json(map_entries(resource_attributes))::VARCHAR, \
         scope_name, scope_version, to_json(map_entries(span_attributes))::VARCHAR, status_code, status_message, \
         to_json(list_transform(events, lambda e: {{'time': epoch_ns(e.timestamp), 'name': coalesce(e.name, ''), \
           'attributes': map_entries(e.attributes)}}))::VARCHAR, \
         to_json(list_transform(links, lambda l: {{'trace_id': coalesce(l.trace_id, ''), 'span_id': coalesce(l.span_id, ''), \
           'trace_state': coalesce(l.trace_state, ''), 'attributes': map_entries(l.attributes)}}))::VARCHAR \
         FROM {spans_table} WHERE {filter} ORDER BY timestamp, span_id LIMIT {limit}"
    )
}

/// One trace a search found, as Tempo lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceHit {
    pub trace_id: String,
    /// None when the root span is not in the searched range
    pub root_service_name: Option<String>,
    pub root_span_name: Option<String>,
    pub start_ns: i64,
    pub duration_ms: i64,
    /// how many spans of the trace matched
    pub matched: i64,
    /// the first `spans_per_spanset` matched spans
    pub spans: Vec<MatchedSpan>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct MatchedSpan {
    pub span_id: String,
    pub name: String,
    pub start_ns: i64,
    pub duration_ns: i64,
    pub service_name: String,
    #[serde(deserialize_with = "attributes")]
    pub attributes: Vec<Attribute>,
}

/// Runs the search plan of `query`; traces newest first.
pub fn search(store: &dyn Store, query: &SpansetExpr, options: &SearchOptions) -> Result<Vec<TraceHit>, FetchError> {
    // rows written by hand may lack end times or durations; they count as zero rather than failing the search
    let sql = format!(
        "SELECT r.trace_id, r.root_service_name, r.root_span_name, coalesce(epoch_ns(r.start_time), 0), \
           coalesce(r.duration_ms, 0), r.matched_spans, \
         to_json(list_transform(r.spans, lambda s: {{'span_id': s.span_id, 'name': coalesce(s.name, ''), \
           'start_ns': coalesce(epoch_ns(s.start_time), 0), 'duration_ns': coalesce(s.duration, 0), \
           'service_name': coalesce(s.service_name, ''), \
           'attributes': map_entries(s.attributes)}}))::VARCHAR \
         FROM ({}) r ORDER BY r.start_time DESC, r.trace_id",
        search_sql(query, options)?
    );
    let mut hits = Vec::new();
    let mut read = ResultBytes::default();
    for_each_batch(store, &sql, |batch| -> Result<_, FetchError> {
        let columns = Columns::of(&batch)?;
        for row in 0..batch.num_rows() {
            let spans = columns.text(6, row);
            read.add(spans.len())?;
            hits.push(TraceHit {
                trace_id: columns.optional_text(0, row).ok_or_else(|| FetchError::Row("NULL trace id".into()))?,
                root_service_name: columns.optional_text(1, row),
                root_span_name: columns.optional_text(2, row),
                start_ns: columns.int64(3, row)?,
                duration_ms: columns.int64(4, row)?,
                matched: columns.int64(5, row)?,
                spans: json_list(&spans)?,
            });
        }
        Ok(ControlFlow::Continue(()))
    })??;
    Ok(hits)
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    value: Option<String>,
}

impl KeyValue {
    fn pair(self) -> Attribute {
        (self.key, self.value.unwrap_or_default())
    }
}

fn attributes<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Attribute>, D::Error> {
    let entries: Option<Vec<KeyValue>> = Deserialize::deserialize(deserializer)?;
    Ok(entries.unwrap_or_default().into_iter().map(KeyValue::pair).collect())
}

/// A JSON list made by `to_json`; empty text (a NULL column) is an empty list.
fn json_list<T: for<'de> Deserialize<'de>>(text: &str) -> Result<Vec<T>, FetchError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str::<Option<Vec<T>>>(text)
        .map(Option::unwrap_or_default)
        .map_err(|e| FetchError::Row(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_columns_read_from_json() {
        let events: Vec<EventRecord> =
            json_list(r#"[{"time":1767225600000000001,"name":"x","attributes":[{"key":"k","value":"v"}]}]"#).unwrap();
        assert_eq!(
            events,
            vec![EventRecord {
                time: 1_767_225_600_000_000_001,
                name: "x".into(),
                attributes: vec![("k".into(), "v".into())]
            }]
        );
        let none: Vec<LinkRecord> = json_list("").unwrap();
        assert!(none.is_empty());
        let null_map: Vec<MatchedSpan> = json_list(
            r#"[{"span_id":"a","name":"n","start_ns":1,"duration_ns":2,"service_name":"s","attributes":null}]"#,
        )
        .unwrap();
        assert!(null_map[0].attributes.is_empty());
        assert!(matches!(json_list::<LinkRecord>("{"), Err(FetchError::Row(_))));
    }

    #[test]
    fn trace_lookup_compares_constants() {
        let sql = trace_spans_sql("t", "00000000000000000000000000000001", (Some(5), Some(9)), 11);
        assert!(sql.contains(
            "WHERE trace_id = '00000000000000000000000000000001' AND end_timestamp >= make_timestamp_ns(5) \
             AND timestamp <= make_timestamp_ns(9) ORDER BY timestamp, span_id LIMIT 11"
        ));
    }
}
