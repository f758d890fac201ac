//! Retention: rows older than a table's retention are deleted, in slices of
//! a bounded number of data files.
//!
//! Why by file: the writer's files each hold one flush, so they are narrow in
//! time, and a DuckLake DELETE that covers every row of a file ends that file
//! instead of writing a delete file; once the snapshots that still see it
//! expire, the file leaves storage. Which files a slice touches is read from
//! the per-file statistics of the `timestamp` column in the DuckLake catalog.
//!
//! Why slices: DuckLake refuses to commit a DELETE when another transaction
//! inserted into the same table meanwhile, so each slice runs while the
//! writer's commits wait (`CommitGate`). A slice of a bounded number of files
//! keeps that wait short even when a long backlog expires at once (retention
//! turned on over a lake holding months).

use super::catalog::metadata_database;
use crate::otlp::schema::Table;
use crate::query::sql_text::{quote_literal, LakeTarget};
use std::time::Duration;

/// Files one DELETE statement may reach. A slice scans only their
/// `timestamp` column; some 50 ms of writer wait at this size.
pub const FILES_PER_SLICE: usize = 256;

/// How long each signal's rows are kept; `None` keeps them forever.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retention {
    pub logs: Option<Duration>,
    pub traces: Option<Duration>,
    pub metrics: Option<Duration>,
}

impl Retention {
    pub fn keep_forever() -> Self {
        Retention { logs: None, traces: None, metrics: None }
    }

    pub fn for_table(&self, table: Table) -> Option<Duration> {
        match table {
            Table::Logs => self.logs,
            Table::Spans => self.traces,
            Table::MetricsGauge
            | Table::MetricsSum
            | Table::MetricsHistogram
            | Table::MetricsExponentialHistogram
            | Table::MetricsSummary => self.metrics,
        }
    }
}

/// One live data file and the time range of its rows, from catalog statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FileSpan {
    /// oldest `timestamp` in nanoseconds; None when the file has no statistics
    pub min_ns: Option<i64>,
    pub max_ns: Option<i64>,
    pub bytes: u64,
}

impl FileSpan {
    /// A file without statistics is assumed to reach everywhere: it is always
    /// scanned and never counted as dropped whole.
    fn oldest(&self) -> i64 {
        self.min_ns.unwrap_or(i64::MIN)
    }

    fn entirely_before(&self, bound_ns: i64) -> bool {
        self.max_ns.is_some_and(|max| max < bound_ns)
    }
}

/// One DELETE: rows older than `bound_ns` go.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slice {
    pub bound_ns: i64,
    /// files all of whose rows are older than the bound: DuckLake ends them whole
    pub files_dropped: u64,
    pub bytes_dropped: u64,
    /// this is the last slice up to the cutoff
    pub reaches_cutoff: bool,
}

/// The next slice toward `cutoff_ns`: the bound is the cutoff when at most
/// `max_files` files hold older rows, else the oldest row of the first file
/// beyond those, so the statement reaches at most `max_files` files. None when
/// no file holds rows older than the cutoff.
///
/// `floor_ns` is the previous slice's bound: the next bound lies beyond it, so
/// slicing always moves on. (Statistics are not updated by deletes: files the
/// previous slice cut in part still show their old oldest row, and a slice
/// then reaches them once more.)
pub fn next_slice(files: &[FileSpan], floor_ns: Option<i64>, cutoff_ns: i64, max_files: usize) -> Option<Slice> {
    let mut older: Vec<&FileSpan> = files.iter().filter(|file| file.oldest() < cutoff_ns).collect();
    if older.is_empty() {
        return None;
    }
    older.sort_by_key(|file| file.oldest());
    let first = older[0].oldest();
    // files sharing the oldest time cannot be split apart; the slice then takes the next distinct one
    let bound = older
        .iter()
        .skip(max_files.max(1))
        .map(|file| file.oldest())
        .find(|&oldest| oldest > first && floor_ns.is_none_or(|floor| oldest > floor))
        .unwrap_or(cutoff_ns)
        .min(cutoff_ns);
    let dropped: Vec<&&FileSpan> = older.iter().filter(|file| file.entirely_before(bound)).collect();
    Some(Slice {
        bound_ns: bound,
        files_dropped: dropped.len() as u64,
        bytes_dropped: dropped.iter().map(|file| file.bytes).sum(),
        reaches_cutoff: bound == cutoff_ns,
    })
}

/// The live data files of `table` with the range of their `timestamp` column,
/// read from the DuckLake catalog's own tables (as the DuckLake specification
/// defines them), in the catalog's default metadata schema.
pub fn file_spans_sql(target: &LakeTarget, table: Table) -> String {
    let meta = metadata_database(target);
    format!(
        "SELECT epoch_ns(TRY_CAST(s.min_value AS TIMESTAMP_NS)), epoch_ns(TRY_CAST(s.max_value AS TIMESTAMP_NS)), \
         f.file_size_bytes \
         FROM {meta}.ducklake_data_file f \
         JOIN {meta}.ducklake_table t ON t.table_id = f.table_id AND t.end_snapshot IS NULL \
         JOIN {meta}.ducklake_schema sc ON sc.schema_id = t.schema_id AND sc.end_snapshot IS NULL \
         JOIN {meta}.ducklake_column c ON c.table_id = t.table_id AND c.end_snapshot IS NULL \
           AND c.parent_column IS NULL AND c.column_name = 'timestamp' \
         LEFT JOIN {meta}.ducklake_file_column_stats s ON s.data_file_id = f.data_file_id AND s.column_id = c.column_id \
         WHERE f.end_snapshot IS NULL AND sc.schema_name = {} AND t.table_name = {}",
        quote_literal(&target.schema),
        quote_literal(table.name()),
    )
}

pub fn delete_sql(target: &LakeTarget, table: Table, bound_ns: i64) -> String {
    format!("DELETE FROM {} WHERE \"timestamp\" < make_timestamp_ns({bound_ns})", target.qualified(table.name()))
}

/// What a dry run reports as deleted: the rows older than the cutoff.
pub fn count_sql(target: &LakeTarget, table: Table, cutoff_ns: i64) -> String {
    format!(
        "SELECT count(*) FROM {} WHERE \"timestamp\" < make_timestamp_ns({cutoff_ns})",
        target.qualified(table.name())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(min: i64, max: i64) -> FileSpan {
        FileSpan { min_ns: Some(min), max_ns: Some(max), bytes: 100 }
    }

    #[test]
    fn a_short_backlog_is_one_slice_to_the_cutoff() {
        let files = [span(0, 9), span(10, 19), span(20, 29), span(30, 39)];
        let slice = next_slice(&files, None, 25, 256).unwrap();
        assert_eq!(slice, Slice { bound_ns: 25, files_dropped: 2, bytes_dropped: 200, reaches_cutoff: true });
        assert_eq!(next_slice(&files, None, 0, 256), None, "nothing is older than the cutoff");
    }

    #[test]
    fn a_long_backlog_is_cut_so_each_statement_reaches_at_most_max_files() {
        let files: Vec<FileSpan> = (0..10).rev().map(|i| span(i * 10, i * 10 + 9)).collect();
        let slice = next_slice(&files, None, 95, 3).unwrap();
        assert_eq!(slice, Slice { bound_ns: 30, files_dropped: 3, bytes_dropped: 300, reaches_cutoff: false });
        let rest: Vec<FileSpan> = files.iter().copied().filter(|f| f.max_ns.unwrap() >= 30).collect();
        assert_eq!(next_slice(&rest, Some(30), 95, 3).unwrap().bound_ns, 60);
    }

    #[test]
    fn files_sharing_the_oldest_time_do_not_stall_the_slicing() {
        let files = [span(5, 50), span(5, 60), span(5, 70), span(8, 9)];
        let slice = next_slice(&files, None, 100, 1).unwrap();
        assert_eq!(slice.bound_ns, 8, "the next distinct oldest time, beyond the shared one");
        let same = [span(5, 50), span(5, 60)];
        assert_eq!(next_slice(&same, None, 100, 1).unwrap().bound_ns, 100);
    }

    #[test]
    fn files_cut_in_part_by_a_slice_do_not_hold_the_next_one_back() {
        // four files straddle the first bound: after it they still show their old oldest row
        let straddling = [span(0, 50), span(1, 50), span(2, 50), span(3, 50)];
        let later = [span(60, 69), span(70, 79)];
        let files: Vec<FileSpan> = straddling.iter().chain(&later).copied().collect();
        let first = next_slice(&files, None, 100, 2).unwrap();
        assert_eq!(first.bound_ns, 2);
        let second = next_slice(&files, Some(first.bound_ns), 100, 2).unwrap();
        assert_eq!(second.bound_ns, 3, "beyond the previous bound");
        let third = next_slice(&files, Some(second.bound_ns), 100, 2).unwrap();
        assert_eq!((third.bound_ns, third.files_dropped), (60, 4));
    }

    #[test]
    fn files_without_statistics_are_reached_but_never_counted_as_dropped() {
        let unknown = FileSpan { min_ns: None, max_ns: None, bytes: 7 };
        let slice = next_slice(&[unknown, span(0, 1)], None, 10, 256).unwrap();
        assert_eq!((slice.bound_ns, slice.files_dropped, slice.bytes_dropped), (10, 1, 100));
    }

    #[test]
    fn signals_map_to_their_tables() {
        let day = Duration::from_secs(86_400);
        let retention = Retention { logs: Some(day), traces: None, metrics: Some(day * 30) };
        assert_eq!(retention.for_table(Table::Logs), Some(day));
        assert_eq!(retention.for_table(Table::Spans), None);
        assert_eq!(retention.for_table(Table::MetricsSummary), Some(day * 30));
        assert_eq!(Retention::keep_forever().for_table(Table::MetricsGauge), None);
    }

    #[test]
    fn statements_name_the_table_and_the_bound() {
        let target = LakeTarget { catalog: "lake".into(), schema: "otel".into() };
        assert_eq!(
            delete_sql(&target, Table::Spans, 1_700_000_000_000_000_000),
            "DELETE FROM \"lake\".\"otel\".\"spans\" WHERE \"timestamp\" < make_timestamp_ns(1700000000000000000)"
        );
        let spans = file_spans_sql(&target, Table::Logs);
        assert!(spans.contains("\"__ducklake_metadata_lake\".ducklake_data_file f"), "{spans}");
        assert!(spans.ends_with("sc.schema_name = 'otel' AND t.table_name = 'logs'"), "{spans}");
    }
}
