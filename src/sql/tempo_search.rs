//! `tempo_search(traceql, start := ..., "end" := ..., "limit" := 20, spss := 3)`:
//! one row per matching trace, newest first, like Tempo's search API.

use super::args::named_count;
use super::duckdb_time::named_timestamp_ns;
use super::edge::{declare_columns, BatchStream, SqlTable};
use super::lake_choice::{lake_parameters, LakeChoice};
use super::planned_query::run;
use crate::guard::BoxError;
use crate::lake::database::Database;
use crate::query::traceql::{parse, search_sql, SearchOptions};
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo};

pub const DEFAULT_LIMIT: u64 = 20;
pub const DEFAULT_SPANS_PER_SPANSET: u64 = 3;

/// The query is positional; the time range, limits and lake are named.
pub struct TempoSearch;

impl SqlTable for TempoSearch {
    const NAME: &'static str = "tempo_search";
    type State = Database;
    type BindData = BatchStream;
    type InitData = ();

    fn parameters() -> Vec<LogicalTypeHandle> {
        vec![LogicalTypeId::Varchar.into()]
    }

    fn named_parameters() -> Vec<(String, LogicalTypeHandle)> {
        vec![
            ("start".into(), LogicalTypeId::TimestampTZ.into()),
            ("end".into(), LogicalTypeId::TimestampTZ.into()),
            ("limit".into(), LogicalTypeId::Bigint.into()),
            ("spss".into(), LogicalTypeId::Bigint.into()),
        ]
        .into_iter()
        .chain(lake_parameters())
        .collect()
    }

    fn bind(db: &Database, bind: &BindInfo) -> Result<BatchStream, BoxError> {
        let query = bind.get_parameter(0);
        if query.is_null() {
            return Err("tempo_search: the traceql query must not be NULL".into());
        }
        let expr = parse(&query.to_string())?;
        let options = SearchOptions {
            spans_table: LakeChoice::named(bind).resolve(&*db.connect()?)?.qualified("spans"),
            start_ns: named_timestamp_ns(bind, "start")?,
            end_ns: named_timestamp_ns(bind, "end")?,
            limit: named_count(bind, "limit")?.unwrap_or(DEFAULT_LIMIT),
            spans_per_spanset: named_count(bind, "spss")?.unwrap_or(DEFAULT_SPANS_PER_SPANSET),
        };
        let con = db.connect()?;
        let result = run(&con, &search_sql(&expr, &options)?)?;
        declare_columns(bind, &result.schema)?;
        Ok(BatchStream::new(result.batches))
    }

    fn init(_: &BatchStream, _: &InitInfo) -> Result<(), BoxError> {
        Ok(())
    }

    fn scan(stream: &BatchStream, _: &(), output: &mut DataChunkHandle) -> Result<(), BoxError> {
        stream.emit_next(output)
    }
}
