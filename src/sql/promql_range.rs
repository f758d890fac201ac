//! `promql_range(query, start := TIMESTAMPTZ, "end" := TIMESTAMPTZ, step := INTERVAL,
//! catalog := ..., schema := ...)`: a PromQL range query, one row per series per step.
//!
//! DuckDB allows one signature per table function, so the query is
//! positional and everything else named; `start`, `end` and `step` are
//! required (a missing one is an error naming it). The engine runs in `init`,
//! once per execution, on a pooled connection.

use super::duckdb_time::{named_interval_ns, named_timestamp_ns, ns_to_ms};
use super::edge::{declare_columns, BatchStream, SqlTable};
use super::lake_choice::{lake_parameters, LakeChoice};
use super::promql_result::{result_batch, result_schema};
use crate::guard::BoxError;
use crate::lake::database::Database;
use crate::query::promql::{self, eval::QueryTimes};
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo};

pub struct PromqlRange;

pub struct RangeBind {
    db: Database,
    query: String,
    times: QueryTimes,
    lake: LakeChoice,
}

pub fn query_arg(bind: &BindInfo) -> Result<String, BoxError> {
    let query = bind.get_parameter(0);
    if query.is_null() {
        return Err("query must not be NULL".into());
    }
    let query = query.to_string();
    promql::parse(&query)?;
    Ok(query)
}

impl SqlTable for PromqlRange {
    const NAME: &'static str = "promql_range";
    type State = Database;
    type BindData = RangeBind;
    type InitData = BatchStream;

    fn parameters() -> Vec<LogicalTypeHandle> {
        vec![LogicalTypeId::Varchar.into()]
    }

    fn named_parameters() -> Vec<(String, LogicalTypeHandle)> {
        let mut params = vec![
            ("start".to_string(), LogicalTypeHandle::from(LogicalTypeId::TimestampTZ)),
            ("end".to_string(), LogicalTypeHandle::from(LogicalTypeId::TimestampTZ)),
            ("step".to_string(), LogicalTypeHandle::from(LogicalTypeId::Interval)),
        ];
        params.extend(lake_parameters());
        params
    }

    fn bind(db: &Database, bind: &BindInfo) -> Result<RangeBind, BoxError> {
        declare_columns(bind, &result_schema())?;
        let query = query_arg(bind)?;
        let required = |name: &str, value: Option<i64>| value.ok_or_else(|| format!("{name} := is required"));
        let start = required("start", named_timestamp_ns(bind, "start")?.map(ns_to_ms))?;
        let end = required("end", named_timestamp_ns(bind, "end")?.map(ns_to_ms))?;
        let step = required("step", named_interval_ns(bind, "step")?.map(ns_to_ms))?;
        let times = QueryTimes::range(start, end, step)?;
        Ok(RangeBind { db: db.clone(), query, times, lake: LakeChoice::named(bind) })
    }

    fn init(bind: &RangeBind, _: &InitInfo) -> Result<BatchStream, BoxError> {
        let expr = promql::parse(&bind.query)?;
        let series =
            bind.lake.with_source(&bind.db, |source| Ok(promql::eval::eval_range(&expr, source, bind.times)?))?;
        Ok(BatchStream::new([result_batch(&series)?]))
    }

    fn scan(_: &RangeBind, result: &BatchStream, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        result.emit_next(output)
    }
}
