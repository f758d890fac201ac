//! `loki_query(query, start :=, "end" :=, "limit" :=, direction :=, step :=, catalog :=, schema :=)`.
//!
//! The query is parsed at bind time, because a log query and a metric query
//! return different columns: log queries give `timestamp, labels, line,
//! structured_metadata` (newest first unless `direction := 'forward'`), metric
//! queries give `labels, timestamp, value` per step. The work happens once in
//! `init`, on a pooled connection, through `crate::query::logql::engine`; it
//! therefore sees committed data only. Omitted times default as in Loki:
//! `end` now, `start` one hour earlier; `limit` defaults to 100 and `step` to
//! Loki's default (the range / 250 rounded down to whole seconds, at least one).

use super::args::{named, named_string};
use super::duckdb_time::{parse_interval_text, parse_timestamp_text};
use super::edge::{declare_columns, BatchStream, SqlTable};
use super::lake_choice::{lake_parameters, LakeChoice};
use crate::guard::BoxError;
use crate::lake::database::Database;
use crate::query::logql::ast::Query;
use crate::query::logql::engine::{run_log_query, run_metric_query, LogRequest, LogRow};
use crate::query::logql::eval::{Series, Steps, MAX_POINTS_PER_SERIES};
use crate::query::logql::parser::parse;
use crate::query::logql::pipeline::Labels;
use crate::query::logql::plan::Direction;
use crate::query::logql::resolution::points;
use crate::query::sql_text::LakeTarget;
use duckdb::arrow::array::{
    Array, ArrayRef, Float64Array, MapBuilder, StringArray, StringBuilder, TimestampNanosecondArray,
};
use duckdb::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct LokiQuery;

const DEFAULT_LIMIT: u64 = 100;
const DEFAULT_RANGE_NS: i64 = 3_600_000_000_000;

pub struct Bind {
    db: Database,
    target: LakeTarget,
    query: Query,
    start_ns: i64,
    end_ns: i64,
    limit: u64,
    direction: Direction,
    step_ns: i64,
}

/// Loki's default step: the range split in 250 points, rounded down to whole seconds, at least one.
pub fn default_step_ns(start_ns: i64, end_ns: i64) -> i64 {
    crate::query::logql::resolution::default_step_ns(start_ns, end_ns)
}

/// Loki's bound on points per series, which also bounds our memory.
pub fn check_resolution(start_ns: i64, end_ns: i64, step_ns: i64) -> Result<(), BoxError> {
    if points(start_ns, end_ns, step_ns) >= MAX_POINTS_PER_SERIES {
        return Err(format!(
            "exceeded maximum resolution of {MAX_POINTS_PER_SERIES} points per timeseries; increase step or shorten the range"
        )
        .into());
    }
    Ok(())
}

/// The time range of a query: explicit bounds, else Loki's (end = now, start = end - 1h).
pub fn time_range(start: Option<String>, end: Option<String>) -> Result<(i64, i64), BoxError> {
    let end_ns = match end {
        Some(text) => parse_timestamp_text("end", &text)?,
        None => SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0),
    };
    let start_ns = match start {
        Some(text) => parse_timestamp_text("start", &text)?,
        None => end_ns
            .checked_sub(DEFAULT_RANGE_NS)
            .ok_or("start: end minus one hour is before the earliest nanosecond timestamp (1677-09-21)")?,
    };
    if start_ns > end_ns {
        return Err("start must not be after end".into());
    }
    Ok((start_ns, end_ns))
}

fn map_type() -> DataType {
    MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()).finish().data_type().clone()
}

fn log_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Nanosecond, None), false),
        Field::new("labels", map_type(), false),
        Field::new("line", DataType::Utf8, false),
        Field::new("structured_metadata", map_type(), false),
    ]))
}

fn metric_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("labels", map_type(), false),
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Nanosecond, None), false),
        Field::new("value", DataType::Float64, false),
    ]))
}

fn label_maps<'a>(rows: impl IntoIterator<Item = &'a Labels>) -> ArrayRef {
    let mut builder = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for labels in rows {
        for (key, value) in labels {
            builder.keys().append_value(key);
            builder.values().append_value(value);
        }
        builder.append(true).expect("keys and values appended in pairs");
    }
    Arc::new(builder.finish())
}

fn log_batch(rows: &[LogRow]) -> Result<RecordBatch, BoxError> {
    Ok(RecordBatch::try_new(
        log_schema(),
        vec![
            Arc::new(rows.iter().map(|r| Some(r.timestamp_ns)).collect::<TimestampNanosecondArray>()),
            label_maps(rows.iter().map(|r| &r.labels)),
            Arc::new(rows.iter().map(|r| Some(r.line.as_str())).collect::<StringArray>()),
            label_maps(rows.iter().map(|r| &r.metadata)),
        ],
    )?)
}

fn metric_batch(series: &[Series]) -> Result<RecordBatch, BoxError> {
    let points = || series.iter().flat_map(|s| s.points.iter().map(move |p| (&s.labels, p)));
    Ok(RecordBatch::try_new(
        metric_schema(),
        vec![
            label_maps(points().map(|(labels, _)| labels)),
            Arc::new(points().map(|(_, (t, _))| Some(*t)).collect::<TimestampNanosecondArray>()),
            Arc::new(points().map(|(_, (_, v))| *v).collect::<Float64Array>()),
        ],
    )?)
}

fn direction(text: Option<String>) -> Result<Direction, BoxError> {
    match text.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("backward") => Ok(Direction::Backward),
        Some("forward") => Ok(Direction::Forward),
        Some(other) => Err(format!("direction must be 'backward' or 'forward', got {other:?}").into()),
    }
}

impl SqlTable for LokiQuery {
    const NAME: &'static str = "loki_query";
    type State = Database;
    type BindData = Bind;
    type InitData = BatchStream;

    fn parameters() -> Vec<LogicalTypeHandle> {
        vec![LogicalTypeId::Varchar.into()]
    }

    fn named_parameters() -> Vec<(String, LogicalTypeHandle)> {
        vec![
            ("start".into(), LogicalTypeId::TimestampTZ.into()),
            ("end".into(), LogicalTypeId::TimestampTZ.into()),
            ("limit".into(), LogicalTypeId::Bigint.into()),
            ("direction".into(), LogicalTypeId::Varchar.into()),
            ("step".into(), LogicalTypeId::Interval.into()),
        ]
        .into_iter()
        .chain(lake_parameters())
        .collect()
    }

    fn bind(db: &Database, bind: &BindInfo) -> Result<Bind, BoxError> {
        let text = bind.get_parameter(0);
        if text.is_null() {
            return Err("query must not be NULL".into());
        }
        let query = parse(&text.to_string())?;
        let (start_ns, end_ns) = time_range(named_string(bind, "start"), named_string(bind, "end"))?;
        let limit = match named(bind, "limit") {
            Some(value) => super::args::count::<u64>("limit", value.to_int64())?,
            None => DEFAULT_LIMIT,
        };
        let step_ns = match named_string(bind, "step") {
            Some(text) => parse_interval_text("step", &text)?,
            None => default_step_ns(start_ns, end_ns),
        };
        if step_ns <= 0 {
            return Err("step must be positive".into());
        }
        check_resolution(start_ns, end_ns, step_ns)?;
        let con = db.connect()?;
        let target = LakeChoice::named(bind).resolve(&con)?;
        let schema = match query {
            Query::Log(_) => log_schema(),
            Query::Metric(_) => metric_schema(),
        };
        declare_columns(bind, &schema)?;
        let direction = direction(named_string(bind, "direction"))?;
        Ok(Bind { db: db.clone(), target, query, start_ns, end_ns, limit, direction, step_ns })
    }

    fn init(bind: &Bind, _: &InitInfo) -> Result<BatchStream, BoxError> {
        let con = bind.db.connect()?;
        let table = bind.target.qualified("logs");
        let batch = match &bind.query {
            Query::Log(selector) => {
                let request = LogRequest {
                    start_ns: bind.start_ns,
                    end_ns: bind.end_ns,
                    limit: bind.limit,
                    direction: bind.direction,
                };
                log_batch(&run_log_query(&con, &table, selector, request)?)?
            }
            Query::Metric(expr) => {
                let steps = Steps::aligned(bind.start_ns, bind.end_ns, bind.step_ns)?;
                metric_batch(&run_metric_query(&con, &table, expr, &steps)?)?
            }
        };
        Ok(BatchStream::new([batch]))
    }

    fn scan(_: &Bind, result: &BatchStream, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        result.emit_next(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_step_is_the_range_over_250_at_least_a_second() {
        assert_eq!(default_step_ns(0, 3_600_000_000_000), 14_000_000_000);
        assert_eq!(default_step_ns(0, 60_000_000_000), 1_000_000_000);
    }

    #[test]
    fn resolution_is_bounded_as_in_loki() {
        assert!(check_resolution(0, 10_999, 1).is_ok());
        assert_eq!(
            check_resolution(0, 11_000, 1).unwrap_err().to_string(),
            "exceeded maximum resolution of 11000 points per timeseries; increase step or shorten the range"
        );
    }

    #[test]
    fn resolution_is_counted_without_overflow() {
        assert_eq!(
            check_resolution(-9_000_000_000_000_000_000, 9_000_000_000_000_000_000, 1).unwrap_err().to_string(),
            "exceeded maximum resolution of 11000 points per timeseries; increase step or shorten the range"
        );
        assert!(check_resolution(i64::MIN, i64::MAX, i64::MAX).is_ok());
    }

    #[test]
    fn time_range_defaults_to_the_last_hour() {
        let (start, end) = time_range(None, Some("2024-01-01 01:00:00+00".into())).unwrap();
        assert_eq!(end - start, DEFAULT_RANGE_NS);
        assert_eq!(
            time_range(Some("2024-01-02 00:00:00+00".into()), Some("2024-01-01 00:00:00+00".into()))
                .unwrap_err()
                .to_string(),
            "start must not be after end"
        );
    }
}
