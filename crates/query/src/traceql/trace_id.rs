//! Trace lookup by id: id normalisation and the SQL that returns one trace.
//!
//! Ids are stored as 32 lowercase hex characters. Like Tempo, shorter hex
//! ids (64-bit ids from older tracers) are left-padded with zeros, and upper
//! case is accepted. The SQL filters on `trace_id = <constant>` so DuckLake
//! and Parquet statistics can skip files, then walks parent links once to
//! give each span its depth.

use super::TraceqlError;
use crate::sql_text::quote_literal;

/// The stored form of a trace id, or an error naming `argument`.
pub fn normalize(raw: &str, argument: &str) -> Result<String, TraceqlError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.len() > 32 || !trimmed.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(TraceqlError::TraceId { argument: argument.to_string(), value: shorten(raw) });
    }
    Ok(format!("{:0>32}", trimmed.to_ascii_lowercase()))
}

/// [`normalize`] written in SQL, of the VARCHAR expression `raw` (a table
/// macro's parameter): the stored id, or DuckDB's `error()` with the message
/// `normalize` gives, prefixed by `function`.
pub fn normalize_sql(raw: &str, argument: &str, function: &str) -> String {
    let message =
        quote_literal(&format!("{function}: {argument} must be a trace id of up to 32 hex characters, got \""));
    format!(
        "CASE WHEN regexp_full_match(trim({raw}), '[0-9a-fA-F]{{1,32}}') THEN lpad(lower(trim({raw})), 32, '0') \
         ELSE error({message} || CASE WHEN length(coalesce({raw}, 'NULL')) > 40 THEN left({raw}, 40) || '...' ELSE coalesce({raw}, 'NULL') END || '\"') END"
    )
}

fn shorten(raw: &str) -> String {
    match raw.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &raw[..cut]),
        None => raw.to_string(),
    }
}

/// Every span of the trace, all columns of `spans_table` plus `depth` (0 for
/// roots and for spans whose parent is missing), ordered by start time.
pub fn trace_sql(spans_table: &str, trace_id: &str) -> String {
    trace_sql_of(spans_table, &quote_literal(trace_id))
}

/// [`trace_sql`] of the trace whose stored id the SQL expression `id` gives
/// (a table macro's parameter, which may be named `trace_id`: the spans'
/// column is qualified so the parameter cannot hide it).
pub fn trace_sql_of(spans_table: &str, id: &str) -> String {
    format!(
        "WITH RECURSIVE trace AS MATERIALIZED (SELECT s.* FROM {spans_table} s WHERE s.trace_id = {id}), \
         depths(span_id, depth) AS (\
           SELECT span_id, 0 FROM trace \
           WHERE parent_span_id = '' OR parent_span_id NOT IN (SELECT span_id FROM trace) \
           UNION \
           SELECT c.span_id, d.depth + 1 FROM trace c JOIN depths d ON c.parent_span_id = d.span_id \
           WHERE d.depth < (SELECT count(*) FROM trace)) \
         SELECT t.*, (SELECT min(d.depth) FROM depths d WHERE d.span_id = t.span_id)::INTEGER AS depth \
         FROM trace t ORDER BY t.timestamp, t.span_id"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_normalised() {
        assert_eq!(
            normalize("4BF92F3577B34DA6A3CE929D0E0E4736", "trace_id").unwrap(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(normalize("a3ce929d0e0e4736", "trace_id").unwrap(), "0000000000000000a3ce929d0e0e4736");
    }

    #[test]
    fn malformed_ids_name_the_argument() {
        let err = |raw: &str| normalize(raw, "trace_id").unwrap_err().to_string();
        assert_eq!(err("xyz"), "trace_id must be a trace id of up to 32 hex characters, got \"xyz\"");
        assert_eq!(err(""), "trace_id must be a trace id of up to 32 hex characters, got \"\"");
        assert_eq!(
            err(&"a".repeat(33)),
            format!("trace_id must be a trace id of up to 32 hex characters, got \"{}\"", "a".repeat(33))
        );
        assert!(err("'; DROP TABLE spans; --").contains("DROP TABLE"));
    }

    #[test]
    fn the_sql_normalisation_pads_and_names_the_argument() {
        let sql = normalize_sql("id", "trace_id", "otel_trace");
        assert!(sql.starts_with(
            "CASE WHEN regexp_full_match(trim(id), '[0-9a-fA-F]{1,32}') THEN lpad(lower(trim(id)), 32, '0')"
        ));
        assert!(
            sql.contains("error('otel_trace: trace_id must be a trace id of up to 32 hex characters, got \"' || "),
            "{sql}"
        );
    }

    #[test]
    fn lookup_is_a_constant_comparison() {
        let sql = trace_sql("\"lake\".\"otel\".\"spans\"", "00000000000000000000000000000001");
        assert!(
            sql.contains("FROM \"lake\".\"otel\".\"spans\" s WHERE s.trace_id = '00000000000000000000000000000001'")
        );
    }
}
