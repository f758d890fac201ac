//! `promql_sql(query, start, end, step [, catalog, schema]) -> VARCHAR`: the
//! portable DuckDB SQL that computes `promql_range`'s rows for the queries
//! `promql::sql` can plan (selectors, range functions, aggregations,
//! operators, ...), for clients that cannot load canardstack.
//! Without a catalog it names the lake a running `otlp_serve` writes to, else
//! the embedded default (`canardstack`.`otel`). A scalar function may have
//! several signatures, so the catalog form is a second overload.

use super::edge::SqlScalar;
use super::lake_choice::LakeChoice;
use super::scalar_args::ScalarArgs;
use crate::guard::BoxError;
use crate::query::promql::{self, eval::QueryTimes};
use duckdb::core::{DataChunkHandle, Inserter, LogicalTypeHandle, LogicalTypeId};
use duckdb::vscalar::ScalarFunctionSignature;
use duckdb::vtab::arrow::WritableVector;

pub struct PromqlSql;

fn required<T>(value: Option<T>, name: &str) -> Result<T, BoxError> {
    value.ok_or_else(|| format!("{name} must not be NULL").into())
}

fn step_ms(args: &ScalarArgs) -> Result<i64, BoxError> {
    let interval = required(args.interval(3), "step")?;
    if interval.months != 0 {
        return Err("step has months, which have no fixed length".into());
    }
    Ok(i64::from(interval.days) * 86_400_000 + interval.micros / 1000)
}

fn plan(input: &DataChunkHandle, row: usize) -> Result<String, BoxError> {
    let args = ScalarArgs::new(input, row);
    let query = required(args.text(0), "query")?;
    let times = QueryTimes::range(
        required(args.timestamp_micros(1), "start")? / 1000,
        required(args.timestamp_micros(2), "end")? / 1000,
        step_ms(&args)?,
    )?;
    // the overload with a lake takes both parts
    let lake = match input.num_columns() >= 6 {
        true => LakeChoice {
            catalog: Some(required(args.text(4), "catalog")?),
            schema: Some(required(args.text(5), "schema")?),
        },
        false => LakeChoice::default(),
    };
    let expr = promql::parse(&query)?;
    Ok(promql::sql::portable_sql(&expr, times, &lake.planned())?)
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
