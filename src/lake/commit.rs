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
use super::gate::CommitGate;
use super::maintenance::{DueTables, Touched};
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
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

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
    /// the tables the next maintenance round has to look at (`maintenance`)
    due: Arc<DueTables>,
    /// taken for each commit, so maintenance can delete between them
    gate: Arc<CommitGate>,
}

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
        let due = Arc::new(DueTables::starting_with(Touched::everything()));
        let gate = Arc::new(CommitGate::default());
        Ok(LakeWriter { con, target, writer_id, checkpoint, parquet_dir, direct_rows, due, gate })
    }

    /// The turn this writer's commits take; maintenance deletes in it.
    pub fn commit_gate(&self) -> Arc<CommitGate> {
        self.gate.clone()
    }

    /// What this writer has given rows to since the last maintenance round.
    pub fn due_tables(&self) -> Arc<DueTables> {
        self.due.clone()
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
        // from the first file written to the commit: a file not yet committed is not an orphan
        let gate = self.gate.clone();
        let _turn = gate.enter();
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
            self.due.record(*table, matches!(route, Route::Staged { .. }));
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
        // commit's time); `prune_checkpoints` drops the old rows now and then instead
        let checkpoints = self.target.qualified(CHECKPOINT_TABLE);
        let writer = quote_literal(&self.writer_id);
        sql.push_str(&format!("INSERT INTO {checkpoints} VALUES ({writer}, {through_seq}, now());\nCOMMIT;"));
        self.con.execute_batch(&sql).map_err(|source| {
            let _ = self.con.execute_batch("ROLLBACK");
            CommitError::Sql { context: format!("committing through spool seq {through_seq}"), source }
        })
    }

    /// Drops this writer's superseded checkpoint rows.
    pub fn prune_checkpoints(&mut self) -> Result<(), CommitError> {
        let sql = format!(
            "DELETE FROM {} WHERE writer_id = {} AND seq < {}",
            self.target.qualified(CHECKPOINT_TABLE),
            quote_literal(&self.writer_id),
            self.checkpoint
        );
        let _turn = self.gate.enter();
        self.con
            .execute_batch(&sql)
            .map_err(|source| CommitError::Sql { context: "pruning old checkpoint rows".into(), source })
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
