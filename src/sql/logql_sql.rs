//! `logql_sql(query [, start, end [, limit | step [, catalog [, schema]]]])`:
//! the DuckDB SQL of a LogQL query, runnable in any DuckDB client attached to
//! the same lake, with `loki_query`'s rows. A log query takes a limit, a metric
//! query a step (an INTERVAL). The plans are written by
//! `query::logql::portable`; what they cannot express exactly is refused with
//! the construct named. Defaults as `loki_query`: the last hour, limit 100,
//! newest first.

use super::edge::SqlScalar;
use super::lake_choice::LakeChoice;
use super::loki_query::time_range;
use super::scalar_args::ScalarArgs;
use crate::guard::BoxError;
use crate::query::logql::ast::Query;
use crate::query::logql::eval::Steps;
use crate::query::logql::parser::parse;
use crate::query::logql::plan::Direction;
use crate::query::logql::portable::{log_query_sql, metric_query_sql};
use duckdb::core::{DataChunkHandle, Inserter, LogicalTypeHandle, LogicalTypeId};
use duckdb::vscalar::ScalarFunctionSignature;
use duckdb::vtab::arrow::WritableVector;

pub struct LogqlSql;

/// How the caller bounds the answer: lines for a log query, the step for a metric query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    Limit(u64),
    StepNs(i64),
}

/// The SQL plan of one query over `logs_table`, or why there is none.
pub fn pure_sql_plan(
    query: &str,
    start_ns: i64,
    end_ns: i64,
    bound: Bound,
    logs_table: &str,
) -> Result<String, BoxError> {
    match (parse(query)?, bound) {
        (Query::Log(selector), Bound::Limit(limit)) => {
            Ok(log_query_sql(&selector, logs_table, start_ns, end_ns, limit, Direction::Backward)?)
        }
        (Query::Metric(expr), Bound::StepNs(step_ns)) => {
            if step_ns <= 0 {
                return Err("logql_sql: step must be positive".into());
            }
            let steps = Steps::aligned(start_ns, end_ns, step_ns)?;
            Ok(metric_query_sql(&expr, logs_table, &steps)?)
        }
        (Query::Log(_), Bound::StepNs(_)) => Err("logql_sql: a log query takes a limit (BIGINT), not a step".into()),
        (Query::Metric(_), Bound::Limit(_)) => {
            Err("logql_sql: a metric query takes a step (an INTERVAL) in place of the limit".into())
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
    let bound = match (args.bigint(3), args.interval(3)) {
        (Some(limit), _) => Bound::Limit(super::args::count::<u64>("limit", limit)?),
        (None, Some(step)) if step.months != 0 => {
            return Err("logql_sql: step has months, which have no fixed length".into())
        }
        (None, Some(step)) => Bound::StepNs(
            (i64::from(step.days) * 86_400_000_000 + step.micros)
                .checked_mul(1000)
                .ok_or("logql_sql: step is too long")?,
        ),
        (None, None) => match parse(&query)? {
            Query::Metric(_) => return Err("logql_sql: a metric query needs a step".into()),
            Query::Log(_) => Bound::Limit(100),
        },
    };
    let target = LakeChoice { catalog: args.text(4), schema: args.text(5) }.planned();
    pure_sql_plan(&query, start_ns, end_ns, bound, &target.qualified("logs"))
}

impl SqlScalar for LogqlSql {
    const NAME: &'static str = "logql_sql";
    type State = ();

    fn signatures() -> Vec<ScalarFunctionSignature> {
        let varchar = || LogicalTypeHandle::from(LogicalTypeId::Varchar);
        let timestamp = || LogicalTypeHandle::from(LogicalTypeId::TimestampTZ);
        let bigint = || LogicalTypeHandle::from(LogicalTypeId::Bigint);
        let interval = || LogicalTypeHandle::from(LogicalTypeId::Interval);
        vec![
            ScalarFunctionSignature::exact(vec![varchar(), timestamp(), timestamp(), interval()], varchar()),
            ScalarFunctionSignature::exact(vec![varchar(), timestamp(), timestamp(), interval(), varchar()], varchar()),
            ScalarFunctionSignature::exact(
                vec![varchar(), timestamp(), timestamp(), interval(), varchar(), varchar()],
                varchar(),
            ),
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
        let plan = |q: &str, bound| pure_sql_plan(q, 0, 1, bound, "logs").map_err(|e| e.to_string());
        assert!(plan(r#"{service_name="api"} |= "x""#, Bound::Limit(10)).unwrap().contains(" LIMIT 10), keyed AS"));
        assert_eq!(
            plan(r#"{service_name="api"} | unpack"#, Bound::Limit(10)).unwrap_err(),
            "logql_sql: the unpack stage has no SQL plan; use loki_query"
        );
        assert_eq!(
            plan(r#"count_over_time({service_name="api"}[1m])"#, Bound::Limit(10)).unwrap_err(),
            "logql_sql: a metric query takes a step (an INTERVAL) in place of the limit"
        );
        assert!(plan(r#"count_over_time({service_name="api"}[1m])"#, Bound::StepNs(60_000_000_000)).is_ok());
    }
}
