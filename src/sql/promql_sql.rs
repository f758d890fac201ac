//! `promql_sql(query, start, end, step [, catalog, schema]) -> VARCHAR`: the
//! portable DuckDB SQL that computes `promql_range`'s rows for plans that are
//! pure SQL (plain selectors), for clients that cannot load canardstack.
//! Without a catalog it names the lake a running `otlp_serve` writes to, else
//! the embedded default (`canardstack`.`otel`). A scalar function may have
//! several signatures, so the catalog form is a second overload.

use super::edge::SqlScalar;
use crate::guard::BoxError;
use crate::lake::catalog::DEFAULT_CATALOG;
use crate::query::promql::{self, eval::QueryTimes};
use crate::query::sql_text::LakeTarget;
use duckdb::core::{DataChunkHandle, Inserter, LogicalTypeHandle, LogicalTypeId};
use duckdb::types::DuckString;
use duckdb::vscalar::ScalarFunctionSignature;
use duckdb::vtab::arrow::WritableVector;
use libduckdb_sys::{duckdb_interval, duckdb_string_t};

pub struct PromqlSql;

fn text(input: &DataChunkHandle, column: usize, row: usize, name: &str) -> Result<String, BoxError> {
    let vector = input.flat_vector(column);
    if vector.row_is_null(row as u64) {
        return Err(format!("{name} must not be NULL").into());
    }
    // SAFETY: the column is declared VARCHAR and row < input.len()
    let mut value = unsafe { vector.as_slice_with_len::<duckdb_string_t>(input.len()) }[row];
    Ok(DuckString::new(&mut value).as_str().to_string())
}

fn micros(input: &DataChunkHandle, column: usize, row: usize, name: &str) -> Result<i64, BoxError> {
    let vector = input.flat_vector(column);
    if vector.row_is_null(row as u64) {
        return Err(format!("{name} must not be NULL").into());
    }
    // SAFETY: TIMESTAMPTZ is stored as i64 microseconds since the epoch
    Ok(unsafe { vector.as_slice_with_len::<i64>(input.len()) }[row])
}

fn step_ms(input: &DataChunkHandle, row: usize) -> Result<i64, BoxError> {
    let vector = input.flat_vector(3);
    if vector.row_is_null(row as u64) {
        return Err("step must not be NULL".into());
    }
    // SAFETY: the column is declared INTERVAL
    let interval = unsafe { vector.as_slice_with_len::<duckdb_interval>(input.len()) }[row];
    if interval.months != 0 {
        return Err("step has months, which have no fixed length".into());
    }
    Ok(i64::from(interval.days) * 86_400_000 + interval.micros / 1000)
}

fn plan(input: &DataChunkHandle, row: usize) -> Result<String, BoxError> {
    let query = text(input, 0, row, "query")?;
    let times = QueryTimes::range(
        micros(input, 1, row, "start")? / 1000,
        micros(input, 2, row, "end")? / 1000,
        step_ms(input, row)?,
    )?;
    let target = if input.num_columns() >= 6 {
        LakeTarget { catalog: text(input, 4, row, "catalog")?, schema: text(input, 5, row, "schema")? }
    } else {
        crate::service::running_target()
            .unwrap_or(LakeTarget { catalog: DEFAULT_CATALOG.into(), schema: "otel".into() })
    };
    let expr = promql::parse(&query)?;
    Ok(promql::sql::portable_sql(&expr, times, &target)?)
}

impl SqlScalar for PromqlSql {
    const NAME: &'static str = "promql_sql";
    type State = ();

    fn signatures() -> Vec<ScalarFunctionSignature> {
        let t = |id: LogicalTypeId| LogicalTypeHandle::from(id);
        let base = || {
            vec![
                t(LogicalTypeId::Varchar),
                t(LogicalTypeId::TimestampTZ),
                t(LogicalTypeId::TimestampTZ),
                t(LogicalTypeId::Interval),
            ]
        };
        let mut with_lake = base();
        with_lake.extend([t(LogicalTypeId::Varchar), t(LogicalTypeId::Varchar)]);
        vec![
            ScalarFunctionSignature::exact(base(), t(LogicalTypeId::Varchar)),
            ScalarFunctionSignature::exact(with_lake, t(LogicalTypeId::Varchar)),
        ]
    }

    fn invoke(_: &(), input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> Result<(), BoxError> {
        let out = output.flat_vector();
        for row in 0..input.len() {
            out.insert(row, plan(input, row)?.as_str());
        }
        Ok(())
    }
}
