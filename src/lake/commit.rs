//! One flush = one DuckLake transaction: the rows of every table plus the
//! checkpoint row naming the highest spool sequence number they cover.
//!
//! Each table's rows take one of two routes, chosen by size:
//! - small flushes go through the Arrow appender into a TEMP staging table of
//!   the writer's own connection and then `INSERT INTO lake ... SELECT`, so
//!   DuckLake can keep them inlined in its catalog instead of a tiny file;
//! - large flushes (and only when the lake's data path is local) are written
//!   as a zstd Parquet file from Arrow directly and registered with
//!   `ducklake_add_data_files`, skipping DuckDB's row conversion entirely.
//!
//! Either way, every table's rows and the checkpoint update run in a single
//! transaction: a crash before COMMIT leaves neither rows nor checkpoint
//! (at most an unreferenced Parquet file); after it, both.

use super::catalog::{read_checkpoint, CatalogError, CHECKPOINT_TABLE};
use super::coalesce::coalesce;
use super::database::Pooled;
use super::parquet_file::{write_parquet, WriteError};
use crate::otlp::schema::Table;
use crate::otlp::TableBatch;
use crate::query::sql_text::LakeTarget;
use crate::query::sql_text::{quote_ident, quote_literal};
use duckdb::arrow::array::UInt32Array;
use duckdb::arrow::compute::take_record_batch;
use duckdb::arrow::error::ArrowError;
use duckdb::arrow::record_batch::RecordBatch;
use parquet::errors::ParquetError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("{context}: {source}")]
    Sql { context: String, source: duckdb::Error },
    #[error("{context}: {source}")]
    Arrow { context: String, source: ArrowError },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("{context}: {source}")]
    Parquet { context: String, source: ParquetError },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl From<WriteError> for CommitError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::Io { context, source } => CommitError::Io { context, source },
            WriteError::Arrow { context, source } => CommitError::Arrow { context, source },
            WriteError::Parquet { context, source } => CommitError::Parquet { context, source },
        }
    }
}

pub struct LakeWriter {
    con: Pooled,
    target: LakeTarget,
    writer_id: String,
    checkpoint: u64,
    /// local data path of the lake, when Parquet files can be written directly
    parquet_dir: Option<PathBuf>,
    /// tables with at least this many rows in a flush go straight to Parquet
    direct_rows: u64,
    /// what [`LakeWriter::maintain`] has to look at: tables given rows
    /// inlined in the catalog, and tables given any rows, since its last round
    since_maintenance: Touched,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Touched {
    inlined: BTreeSet<Table>,
    written: BTreeSet<Table>,
}

impl Touched {
    /// A round after (re)start looks at every table: rows inlined before a
    /// crash are flushed then too.
    fn everything() -> Self {
        Touched { inlined: Table::all().into_iter().collect(), written: Table::all().into_iter().collect() }
    }
}

/// Files below this size are merged by [`LakeWriter::maintain`]: flushes of
/// up to some 50,000 log rows, and the files that inlined rows are flushed into.
const SMALL_FILE_BYTES: u64 = 2 << 20;

/// How one table's rows of a flush reach the lake.
enum Route {
    /// staged in a TEMP table, then `INSERT INTO lake ... SELECT` (small flushes stay inlined)
    Staged { rows: u64 },
    /// written as a Parquet file here, then `ducklake_add_data_files`
    File { rows: u64, path: PathBuf },
}

impl Route {
    fn rows(&self) -> u64 {
        match self {
            Route::Staged { rows } | Route::File { rows, .. } => *rows,
        }
    }
}

/// The appender converts one DuckDB vector (2048 rows) at a time. It would
/// slice a larger batch, and for a sliced LIST or MAP column duckdb-rs copies
/// the whole child array for every slice (quadratic in the batch size), so
/// larger batches are cut into compact, independent pieces here with `take`.
fn vector_sized_pieces(batch: &RecordBatch) -> Result<Vec<RecordBatch>, ArrowError> {
    const VECTOR_ROWS: usize = 2048;
    if batch.num_rows() <= VECTOR_ROWS {
        return Ok(vec![batch.clone()]);
    }
    (0..batch.num_rows())
        .step_by(VECTOR_ROWS)
        .map(|start| {
            let end = (start + VECTOR_ROWS).min(batch.num_rows());
            let indices = UInt32Array::from_iter_values(start as u32..end as u32);
            take_record_batch(batch, &indices)
        })
        .collect()
}

fn staging_name(table: Table) -> String {
    format!("canardstack_staging_{}", table.name())
}

impl LakeWriter {
    pub fn open(con: Pooled, target: LakeTarget, writer_id: String, direct_rows: u64) -> Result<Self, CommitError> {
        for table in Table::all() {
            let sql = format!(
                "CREATE OR REPLACE TEMP TABLE {} AS SELECT * FROM {} LIMIT 0",
                quote_ident(&staging_name(table)),
                target.qualified(table.name())
            );
            con.execute_batch(&sql).map_err(|source| CommitError::Sql {
                context: format!("creating staging table for {}", table.name()),
                source,
            })?;
        }
        let checkpoint = read_checkpoint(&con, &target, &writer_id)?;
        let parquet_dir = local_data_path(&con, &target)?.map(|data| data.join(&target.schema));
        let since_maintenance = Touched::everything();
        Ok(LakeWriter { con, target, writer_id, checkpoint, parquet_dir, direct_rows, since_maintenance })
    }

    pub fn checkpoint_seq(&self) -> u64 {
        self.checkpoint
    }

    pub fn reload_checkpoint(&mut self) -> Result<u64, CommitError> {
        self.checkpoint = read_checkpoint(&self.con, &self.target, &self.writer_id)?;
        Ok(self.checkpoint)
    }

    /// Commits the batches and the checkpoint `through_seq` atomically.
    /// Returns rows committed per table name.
    pub fn commit<'a>(
        &mut self,
        batches: impl Iterator<Item = &'a TableBatch>,
        through_seq: u64,
    ) -> Result<BTreeMap<String, u64>, CommitError> {
        let mut by_table: BTreeMap<Table, Vec<&RecordBatch>> = BTreeMap::new();
        for batch in batches {
            by_table.entry(batch.table).or_default().push(&batch.batch);
        }
        let mut routes = BTreeMap::new();
        let mut result = Ok(());
        for (table, batches) in &by_table {
            let coalesced = match coalesce(batches) {
                Ok(coalesced) => coalesced,
                Err(source) => {
                    result =
                        Err(CommitError::Arrow { context: format!("merging batches for {}", table.name()), source });
                    break;
                }
            };
            let batches: Vec<&RecordBatch> = coalesced.iter().collect();
            match self.route(*table, &batches, through_seq) {
                Ok(route) => {
                    routes.insert(*table, route);
                }
                Err(error) => {
                    result = Err(error);
                    break;
                }
            }
        }
        let result = result.and_then(|_| self.publish(&routes, through_seq));
        let cleanup = self.clear_staging(&routes);
        if let Err(error) = result {
            // a COMMIT that reported failure may still have landed; only then are the files referenced
            match read_checkpoint(&self.con, &self.target, &self.writer_id) {
                Ok(seq) if seq >= through_seq => {}
                Ok(_) => {
                    remove_files(&routes);
                    return Err(error);
                }
                // unknown whether it landed: keep the files (at worst unreferenced), never delete referenced ones
                Err(_) => return Err(error),
            }
        }
        cleanup?;
        self.checkpoint = through_seq;
        for (table, route) in &routes {
            self.since_maintenance.written.insert(*table);
            if let Route::Staged { .. } = route {
                self.since_maintenance.inlined.insert(*table);
            }
        }
        Ok(routes.into_iter().map(|(table, route)| (table.name().to_string(), route.rows())).collect())
    }

    fn route(&self, table: Table, batches: &[&RecordBatch], through_seq: u64) -> Result<Route, CommitError> {
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        match &self.parquet_dir {
            Some(dir) if rows >= self.direct_rows => {
                let folder = dir.join(table.name());
                let path = folder.join(format!("canardstack-{}-{through_seq:020}.parquet", self.writer_id));
                write_parquet(&folder, &path, table, batches)?;
                Ok(Route::File { rows, path })
            }
            _ => self.stage(table, batches).map(|rows| Route::Staged { rows }),
        }
    }

    fn stage(&self, table: Table, batches: &[&RecordBatch]) -> Result<u64, CommitError> {
        let staging = staging_name(table);
        let sql_error = |source| CommitError::Sql { context: format!("staging rows for {}", table.name()), source };
        let mut appender = self.con.appender_to_catalog_and_db(&staging, "temp", "main").map_err(sql_error)?;
        let mut count = 0;
        for batch in batches {
            let pieces = vector_sized_pieces(batch).map_err(|source| CommitError::Arrow {
                context: format!("splitting a batch for {}", table.name()),
                source,
            })?;
            for piece in pieces {
                count += piece.num_rows() as u64;
                appender.append_record_batch(piece).map_err(sql_error)?;
            }
        }
        appender.flush().map_err(sql_error)?;
        Ok(count)
    }

    fn publish(&self, routes: &BTreeMap<Table, Route>, through_seq: u64) -> Result<(), CommitError> {
        let catalog = quote_literal(&self.target.catalog);
        let schema = quote_literal(&self.target.schema);
        let mut sql = String::from("BEGIN TRANSACTION;\n");
        for (table, route) in routes {
            match route {
                Route::Staged { .. } => sql.push_str(&format!(
                    "INSERT INTO {} SELECT * FROM temp.main.{};\n",
                    self.target.qualified(table.name()),
                    quote_ident(&staging_name(*table))
                )),
                Route::File { path, .. } => sql.push_str(&format!(
                    "CALL ducklake_add_data_files({catalog}, {}, {}, schema => {schema});\n",
                    quote_literal(table.name()),
                    quote_literal(&path.display().to_string())
                )),
            }
        }
        // a new row per flush; the checkpoint is the highest seq (`read_checkpoint`). Deleting
        // the previous row here cost a DuckLake delete in every commit (a quarter of a
        // commit's time); `maintain` prunes the old rows instead
        let checkpoints = self.target.qualified(CHECKPOINT_TABLE);
        let writer = quote_literal(&self.writer_id);
        sql.push_str(&format!("INSERT INTO {checkpoints} VALUES ({writer}, {through_seq}, now());\nCOMMIT;"));
        self.con.execute_batch(&sql).map_err(|source| {
            let _ = self.con.execute_batch("ROLLBACK");
            CommitError::Sql { context: format!("committing through spool seq {through_seq}"), source }
        })
    }

    /// Drops this writer's superseded checkpoint rows, then keeps the file
    /// count down, only where rows arrived since the last round: writes rows
    /// inlined in the catalog out to Parquet, then merges adjacent files under
    /// [`SMALL_FILE_BYTES`]. Larger files (a busy writer's flushes) are left
    /// alone: DuckDB rewrites MAP-heavy rows slower than the writer produces
    /// them, so merging every file stalled commits for seconds under load.
    /// Flushing the whole schema's inlined data each round took 0.5-0.9 s of
    /// the writer's time under load even with nothing to flush but
    /// checkpoint rows, which are pruned here instead.
    pub fn maintain(&mut self) -> Result<(), CommitError> {
        let sql = maintenance_sql(&self.target, &self.writer_id, self.checkpoint, &self.since_maintenance);
        self.con
            .execute_batch(&sql)
            .map_err(|source| CommitError::Sql { context: "compacting the lake's files".into(), source })?;
        self.since_maintenance = Touched::default();
        Ok(())
    }

    fn clear_staging(&self, routes: &BTreeMap<Table, Route>) -> Result<(), CommitError> {
        for (table, route) in routes {
            if let Route::Staged { .. } = route {
                let sql = format!("DELETE FROM temp.main.{}", quote_ident(&staging_name(*table)));
                self.con.execute_batch(&sql).map_err(|source| CommitError::Sql {
                    context: format!("clearing staging for {}", table.name()),
                    source,
                })?;
            }
        }
        Ok(())
    }
}

fn maintenance_sql(target: &LakeTarget, writer_id: &str, checkpoint: u64, touched: &Touched) -> String {
    let catalog = quote_literal(&target.catalog);
    let schema = quote_literal(&target.schema);
    let mut sql = format!(
        "DELETE FROM {} WHERE writer_id = {} AND seq < {checkpoint};\n",
        target.qualified(CHECKPOINT_TABLE),
        quote_literal(writer_id)
    );
    for table in &touched.inlined {
        let table = quote_literal(table.name());
        sql.push_str(&format!(
            "CALL ducklake_flush_inlined_data({catalog}, schema_name => {schema}, table_name => {table});\n"
        ));
    }
    for table in &touched.written {
        let table = quote_literal(table.name());
        sql.push_str(&format!(
            "CALL ducklake_merge_adjacent_files({catalog}, {table}, schema => {schema}, \
             max_file_size => {SMALL_FILE_BYTES});\n"
        ));
    }
    sql
}

/// The lake's data path when it is a local directory (object storage is
/// written through DuckDB instead).
fn local_data_path(con: &Pooled, target: &LakeTarget) -> Result<Option<PathBuf>, CommitError> {
    let sql = "SELECT value FROM ducklake_options(?) WHERE option_name = 'data_path'";
    let value: Option<String> = con
        .query_row(sql, [&target.catalog], |row| row.get(0))
        .map_err(|source| CommitError::Sql { context: "reading the lake's data path".into(), source })?;
    Ok(value.filter(|path| !path.contains("://")).map(PathBuf::from))
}

fn remove_files(routes: &BTreeMap<Table, Route>) {
    for route in routes.values() {
        if let Route::File { path, .. } = route {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_looks_only_at_tables_given_rows_since_its_last_round() {
        let target = LakeTarget { catalog: "lake".into(), schema: "otel".into() };
        let touched = Touched { inlined: [Table::Spans].into(), written: [Table::Logs, Table::Spans].into() };
        assert_eq!(
            maintenance_sql(&target, "w1", 42, &touched),
            "DELETE FROM \"lake\".\"otel\".\"canardstack_checkpoints\" WHERE writer_id = 'w1' AND seq < 42;\n\
             CALL ducklake_flush_inlined_data('lake', schema_name => 'otel', table_name => 'spans');\n\
             CALL ducklake_merge_adjacent_files('lake', 'logs', schema => 'otel', max_file_size => 2097152);\n\
             CALL ducklake_merge_adjacent_files('lake', 'spans', schema => 'otel', max_file_size => 2097152);\n"
        );
        let idle = maintenance_sql(&target, "w1", 42, &Touched::default());
        assert!(!idle.contains("CALL"), "an idle writer only prunes its checkpoint rows: {idle}");
        let first = maintenance_sql(&target, "w1", 0, &Touched::everything());
        assert_eq!(first.matches("ducklake_flush_inlined_data").count(), Table::all().len());
        assert_eq!(first.matches("ducklake_merge_adjacent_files").count(), Table::all().len());
    }
}
