//! `traceql_sql(query [, start, end [, limit [, catalog [, schema]]]])`: the
//! DuckDB SQL `tempo_search` runs, for `FROM query(traceql_sql(...))` or for
//! clients without canardstack. A scalar cannot attach a lake, so without
//! `catalog` it names the lake of the running `otlp_serve`, else the embedded
//! default `canardstack.otel`.

use super::edge::SqlScalar;
use super::lake_choice::LakeChoice;
use super::scalar_args::ScalarArgs;
use super::tempo_search::{DEFAULT_LIMIT, DEFAULT_SPANS_PER_SPANSET};
use crate::guard::BoxError;
use crate::query::traceql::{parse, search_sql, SearchOptions};
use duckdb::core::{DataChunkHandle, Inserter, LogicalTypeHandle, LogicalTypeId};
use duckdb::vscalar::ScalarFunctionSignature;
use duckdb::vtab::arrow::WritableVector;

pub struct TraceqlSql;

fn micros_to_nanos(micros: i64) -> Result<i64, BoxError> {
    micros.checked_mul(1000).ok_or_else(|| "traceql_sql: timestamp out of range".into())
}

/// The plan for one row; NULL query, NULL plan (DuckDB already turns any other NULL argument into NULL).
fn row_sql(input: &DataChunkHandle, row: usize) -> Result<Option<String>, BoxError> {
    let args = ScalarArgs::new(input, row);
    let Some(query) = args.text(0) else {
        return Ok(None);
    };
    let options = SearchOptions {
        spans_table: LakeChoice { catalog: args.text(4), schema: args.text(5) }.planned().qualified("spans"),
        start_ns: args.timestamp_micros(1).map(micros_to_nanos).transpose()?,
        end_ns: args.timestamp_micros(2).map(micros_to_nanos).transpose()?,
        limit: args.bigint(3).map(|raw| super::args::count("limit", raw)).transpose()?.unwrap_or(DEFAULT_LIMIT),
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
