//! `promql_query(query, "time" := TIMESTAMPTZ, catalog := ..., schema := ...)`:
//! a PromQL instant query (default time: now). `time` is a keyword in DuckDB's
//! grammar and must be quoted as a parameter name, so `at :=` is accepted too. A scalar is one row with empty
//! labels; a range vector (`foo[5m]`) one row per sample at its own time.

use super::duckdb_time::{named_timestamp_ns, ns_to_ms};
use super::edge::{declare_columns, BatchStream, SqlTable};
use super::lake_choice::{lake_parameters, LakeChoice};
use super::promql_range::query_arg;
use super::promql_result::{result_batch, result_schema};
use crate::guard::BoxError;
use crate::lake::database::Database;
use crate::query::promql::{
    self,
    value::{Labels, Point, Series, Value},
};
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo};
use std::time::SystemTime;

pub struct PromqlQuery;

pub struct QueryBind {
    db: Database,
    query: String,
    time: i64,
    lake: LakeChoice,
}

fn as_series(value: Value, t: i64) -> Result<Vec<Series>, BoxError> {
    Ok(match value {
        Value::Scalar(v) => vec![Series { labels: Labels::new(), points: vec![Point { t, v }] }],
        Value::Vector(samples) => {
            samples.into_iter().map(|s| Series { labels: s.labels, points: vec![Point { t, v: s.v }] }).collect()
        }
        Value::Matrix(series) => series,
        Value::String(_) => {
            return Err("promql_query: string results are not supported (the value column is DOUBLE)".into())
        }
    })
}

impl SqlTable for PromqlQuery {
    const NAME: &'static str = "promql_query";
    type State = Database;
    type BindData = QueryBind;
    type InitData = BatchStream;

    fn parameters() -> Vec<LogicalTypeHandle> {
        vec![LogicalTypeId::Varchar.into()]
    }

    fn named_parameters() -> Vec<(String, LogicalTypeHandle)> {
        let timestamp = || LogicalTypeHandle::from(LogicalTypeId::TimestampTZ);
        let mut params = vec![("time".to_string(), timestamp()), ("at".to_string(), timestamp())];
        params.extend(lake_parameters());
        params
    }

    fn bind(db: &Database, bind: &BindInfo) -> Result<QueryBind, BoxError> {
        declare_columns(bind, &result_schema())?;
        let query = query_arg(bind)?;
        let time =
            match (named_timestamp_ns(bind, "time")?.map(ns_to_ms), named_timestamp_ns(bind, "at")?.map(ns_to_ms)) {
                (Some(_), Some(_)) => return Err("give either \"time\" := or at :=, not both".into()),
                (Some(t), None) | (None, Some(t)) => t,
                (None, None) => promql::eval::millis(SystemTime::now()),
            };
        Ok(QueryBind { db: db.clone(), query, time, lake: LakeChoice::named(bind) })
    }

    fn init(bind: &QueryBind, _: &InitInfo) -> Result<BatchStream, BoxError> {
        let expr = promql::parse(&bind.query)?;
        let value =
            bind.lake.with_source(&bind.db, |source| Ok(promql::eval::eval_instant(&expr, source, bind.time)?))?;
        Ok(BatchStream::new([result_batch(&as_series(value, bind.time)?)?]))
    }

    fn scan(_: &QueryBind, result: &BatchStream, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        result.emit_next(output)
    }
}
