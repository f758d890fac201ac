//! `traceql_sql(query [, start, end [, limit [, catalog [, schema]]]])`: the
//! DuckDB SQL `tempo_search` runs, for `FROM query(traceql_sql(...))` or for
//! clients without canardstack. A scalar cannot attach a lake, so without
//! `catalog` it names the lake of the running `otlp_serve`, else the embedded
//! default `canardstack.otel`.

use super::edge::SqlScalar;
use super::tempo_search::{DEFAULT_LIMIT, DEFAULT_SPANS_PER_SPANSET};
use crate::guard::BoxError;
use crate::lake::catalog::DEFAULT_CATALOG;
use crate::query::sql_text::LakeTarget;
use crate::query::traceql::{parse, search_sql, SearchOptions};
use duckdb::core::{DataChunkHandle, FlatVector, Inserter, LogicalTypeHandle, LogicalTypeId};
use duckdb::ffi::duckdb_string_t;
use duckdb::types::DuckString;
use duckdb::vscalar::ScalarFunctionSignature;
use duckdb::vtab::arrow::WritableVector;

pub struct TraceqlSql;

fn text_at(vector: &FlatVector, len: usize, row: usize) -> Option<String> {
    if vector.row_is_null(row as u64) {
        return None;
    }
    // SAFETY: the vector holds `len` VARCHAR values (DuckDB flattens scalar inputs)
    let mut value = unsafe { vector.as_slice_with_len::<duckdb_string_t>(len) }[row];
    Some(DuckString::new(&mut value).as_str().to_string())
}

fn i64_at(vector: &FlatVector, len: usize, row: usize) -> Option<i64> {
    if vector.row_is_null(row as u64) {
        return None;
    }
    // SAFETY: the vector holds `len` 64-bit values (BIGINT or TIMESTAMPTZ microseconds)
    Some(unsafe { vector.as_slice_with_len::<i64>(len) }[row])
}

/// The lake a plan reads: as `resolve_target` decides, without attaching anything.
fn plan_target(catalog: Option<String>, schema: Option<String>) -> LakeTarget {
    let schema_or = |fallback: String| schema.clone().unwrap_or(fallback);
    match (catalog, crate::service::running_target()) {
        (Some(catalog), _) => LakeTarget { catalog, schema: schema_or("otel".into()) },
        (None, Some(running)) => LakeTarget { catalog: running.catalog, schema: schema_or(running.schema) },
        (None, None) => LakeTarget { catalog: DEFAULT_CATALOG.into(), schema: schema_or("otel".into()) },
    }
}

fn micros_to_nanos(micros: i64) -> Result<i64, BoxError> {
    micros.checked_mul(1000).ok_or_else(|| "traceql_sql: timestamp out of range".into())
}

/// The plan for one row; NULL query, NULL plan (DuckDB already turns any other NULL argument into NULL).
fn row_sql(input: &DataChunkHandle, row: usize) -> Result<Option<String>, BoxError> {
    let (len, columns) = (input.len(), input.num_columns());
    let integer = |index: usize| if index < columns { i64_at(&input.flat_vector(index), len, row) } else { None };
    let text = |index: usize| if index < columns { text_at(&input.flat_vector(index), len, row) } else { None };
    let Some(query) = text(0) else {
        return Ok(None);
    };
    let options = SearchOptions {
        spans_table: plan_target(text(4), text(5)).qualified("spans"),
        start_ns: integer(1).map(micros_to_nanos).transpose()?,
        end_ns: integer(2).map(micros_to_nanos).transpose()?,
        limit: integer(3).map(|raw| super::args::count("limit", raw)).transpose()?.unwrap_or(DEFAULT_LIMIT),
        spans_per_spanset: DEFAULT_SPANS_PER_SPANSET,
    };
    Ok(Some(search_sql(&parse(&query)?, &options)?))
}

impl SqlScalar for TraceqlSql {
    const NAME: &'static str = "traceql_sql";
    type State = ();

    fn signatures() -> Vec<ScalarFunctionSignature> {
        let varchar = || LogicalTypeHandle::from(LogicalTypeId::Varchar);
        let time = || LogicalTypeHandle::from(LogicalTypeId::TimestampTZ);
        let bigint = || LogicalTypeHandle::from(LogicalTypeId::Bigint);
        [
            vec![varchar()],
            vec![varchar(), time(), time()],
            vec![varchar(), time(), time(), bigint()],
            vec![varchar(), time(), time(), bigint(), varchar()],
            vec![varchar(), time(), time(), bigint(), varchar(), varchar()],
        ]
        .into_iter()
        .map(|params| ScalarFunctionSignature::exact(params, varchar()))
        .collect()
    }

    fn invoke(_: &(), input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> Result<(), BoxError> {
        let mut out = output.flat_vector();
        for row in 0..input.len() {
            match row_sql(input, row)? {
                Some(sql) => out.insert(row, sql.as_str()),
                None => out.set_null(row),
            }
        }
        Ok(())
    }
}
