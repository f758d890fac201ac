//! `logql_sql(query [, start, end [, limit [, catalog [, schema]]]])`: the DuckDB
//! SQL of a LogQL log query whose whole pipeline runs in SQL (stream selector
//! and line filters), runnable in any DuckDB client attached to the same lake.
//! Anything else (parsers, label filters, formatters, metric queries) is
//! finished in Rust by `loki_query`, so it is refused with the construct
//! named. Defaults as `loki_query`: the last hour, limit 100, newest first.

use super::edge::SqlScalar;
use super::lake_choice::LakeChoice;
use super::loki_query::time_range;
use super::scalar_args::ScalarArgs;
use crate::guard::BoxError;
use crate::query::logql::ast::Query;
use crate::query::logql::parser::parse;
use crate::query::logql::plan::{plan_logs, stage_name, Direction, Shape, TimeBounds};
use duckdb::core::{DataChunkHandle, Inserter, LogicalTypeHandle, LogicalTypeId};
use duckdb::vscalar::ScalarFunctionSignature;
use duckdb::vtab::arrow::WritableVector;

pub struct LogqlSql;

/// The SQL plan of one log query over `logs_table`, or why there is none.
pub fn pure_sql_plan(
    query: &str,
    start_ns: i64,
    end_ns: i64,
    limit: u64,
    logs_table: &str,
) -> Result<String, BoxError> {
    let selector = match parse(query)? {
        Query::Log(selector) => selector,
        Query::Metric(_) => {
            return Err("logql_sql: metric queries are evaluated in Rust and have no SQL plan; use loki_query".into())
        }
    };
    let bounds = TimeBounds { from_ns: start_ns, from_inclusive: true, to_ns: end_ns, to_inclusive: false };
    let plan = plan_logs(&selector, logs_table, bounds, Some(Direction::Backward), Some(limit), Shape::Portable);
    match plan.residual.first() {
        None => Ok(plan.sql),
        Some(stage) => {
            Err(format!("logql_sql: the {} stage runs in Rust and has no SQL plan; use loki_query", stage_name(stage))
                .into())
        }
    }
}

/// DuckDB's TIMESTAMPTZ spans about ±290,000 years; nanoseconds in an i64 only 1677 to 2262.
fn micros_to_ns(name: &str, micros: i64) -> Result<i64, BoxError> {
    micros.checked_mul(1000).ok_or_else(|| {
        format!("logql_sql: {name} is outside the timestamps an int64 of nanoseconds holds (1677-09-21 to 2262-04-11)")
            .into()
    })
}

fn plan_row(input: &DataChunkHandle, row: usize) -> Result<String, BoxError> {
    let args = ScalarArgs::new(input, row);
    let timestamp = |column, name| args.timestamp_micros(column).map(|micros| micros_to_ns(name, micros)).transpose();
    let query = args.text(0).ok_or("logql_sql: query must not be NULL")?;
    let (start, end) = (timestamp(1, "start")?, timestamp(2, "end")?);
    let (start_ns, end_ns) = match (start, end) {
        (Some(start), Some(end)) if start > end => return Err("logql_sql: start must not be after end".into()),
        (Some(start), Some(end)) => (start, end),
        (None, Some(end)) => (end.saturating_sub(3_600_000_000_000), end),
        (start, None) => {
            let (default_start, default_end) = time_range(None, None)?;
            (start.unwrap_or(default_start), default_end)
        }
    };
    let limit = match args.bigint(3) {
        Some(limit) => super::args::count::<u64>("limit", limit)?,
        None => 100,
    };
    let target = LakeChoice { catalog: args.text(4), schema: args.text(5) }.planned();
    pure_sql_plan(&query, start_ns, end_ns, limit, &target.qualified("logs"))
}

impl SqlScalar for LogqlSql {
    const NAME: &'static str = "logql_sql";
    type State = ();

    fn signatures() -> Vec<ScalarFunctionSignature> {
        let varchar = || LogicalTypeHandle::from(LogicalTypeId::Varchar);
        let timestamp = || LogicalTypeHandle::from(LogicalTypeId::TimestampTZ);
        let bigint = || LogicalTypeHandle::from(LogicalTypeId::Bigint);
        vec![
            ScalarFunctionSignature::exact(vec![varchar()], varchar()),
            ScalarFunctionSignature::exact(vec![varchar(), timestamp(), timestamp()], varchar()),
            ScalarFunctionSignature::exact(vec![varchar(), timestamp(), timestamp(), bigint()], varchar()),
            ScalarFunctionSignature::exact(vec![varchar(), timestamp(), timestamp(), bigint(), varchar()], varchar()),
            ScalarFunctionSignature::exact(
                vec![varchar(), timestamp(), timestamp(), bigint(), varchar(), varchar()],
                varchar(),
            ),
        ]
    }

    fn invoke(_: &(), input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> Result<(), BoxError> {
        let out = output.flat_vector();
        for row in 0..input.len() {
            out.insert(row, plan_row(input, row)?.as_str());
        }
        Ok(())
    }

    fn volatile() -> bool {
        // the default time range moves with the clock
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_beyond_nanoseconds_are_refused_by_name() {
        assert_eq!(micros_to_ns("start", 1_700_000_000_000_000).unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(
            micros_to_ns("end", i64::MAX / 10).unwrap_err().to_string(),
            "logql_sql: end is outside the timestamps an int64 of nanoseconds holds (1677-09-21 to 2262-04-11)"
        );
    }

    #[test]
    fn refuses_constructs_without_a_sql_plan_by_name() {
        let plan = |q: &str| pure_sql_plan(q, 0, 1, 10, "logs").map_err(|e| e.to_string());
        assert!(plan(r#"{service_name="api"} |= "x""#).unwrap().contains(" LIMIT 10), keyed AS"));
        assert_eq!(
            plan(r#"{service_name="api"} | json"#).unwrap_err(),
            "logql_sql: the json stage runs in Rust and has no SQL plan; use loki_query"
        );
        assert_eq!(
            plan(r#"count_over_time({service_name="api"}[1m])"#).unwrap_err(),
            "logql_sql: metric queries are evaluated in Rust and have no SQL plan; use loki_query"
        );
    }
}
