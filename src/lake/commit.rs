//! One flush = one DuckLake transaction: the rows of every table plus the
//! checkpoint row naming the highest spool sequence number they cover.
//!
//! Rows enter DuckDB through the Arrow appender into per-table TEMP staging
//! tables of the writer's own connection (in memory, outside the lake), then
//! `INSERT INTO lake ... SELECT * FROM staging` for every table and the
//! checkpoint update run in a single transaction. A crash before COMMIT
//! leaves neither rows nor checkpoint; after it, both. Staging is emptied
//! after every attempt, successful or not.

use super::catalog::{read_checkpoint, CatalogError, LakeTarget, CHECKPOINT_TABLE};
use super::database::{quote_ident, quote_literal};
use super::schema::Table;
use crate::otlp::TableBatch;
use duckdb::arrow::array::UInt32Array;
use duckdb::arrow::compute::take_record_batch;
use duckdb::arrow::error::ArrowError;
use duckdb::arrow::record_batch::RecordBatch;
use super::database::Pooled;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("{context}: {source}")]
    Sql { context: String, source: duckdb::Error },
    #[error("{context}: {source}")]
    Arrow { context: String, source: ArrowError },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

pub struct LakeWriter {
    con: Pooled,
    target: LakeTarget,
    writer_id: String,
    checkpoint: u64,
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
    pub fn open(con: Pooled, target: LakeTarget, writer_id: String) -> Result<Self, CommitError> {
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
        Ok(LakeWriter { con, target, writer_id, checkpoint })
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
        let result = self.stage(&by_table).and_then(|rows| self.publish(&rows, through_seq).map(|_| rows));
        let cleanup = self.clear_staging(by_table.keys().copied());
        let rows = result?;
        cleanup?;
        self.checkpoint = through_seq;
        Ok(rows.into_iter().map(|(table, n)| (table.name().to_string(), n)).collect())
    }

    fn stage(&self, by_table: &BTreeMap<Table, Vec<&RecordBatch>>) -> Result<BTreeMap<Table, u64>, CommitError> {
        let mut rows = BTreeMap::new();
        for (table, batches) in by_table {
            let staging = staging_name(*table);
            let sql_error = |source| CommitError::Sql { context: format!("staging rows for {}", table.name()), source };
            let mut appender = self.con.appender_to_catalog_and_db(&staging, "temp", "main").map_err(sql_error)?;
            let mut count = 0;
            for batch in batches {
                for piece in vector_sized_pieces(batch).map_err(|source| CommitError::Arrow {
                    context: format!("splitting a batch for {}", table.name()),
                    source,
                })? {
                    count += piece.num_rows() as u64;
                    appender.append_record_batch(piece).map_err(sql_error)?;
                }
            }
            appender.flush().map_err(sql_error)?;
            rows.insert(*table, count);
        }
        Ok(rows)
    }

    fn publish(&self, rows: &BTreeMap<Table, u64>, through_seq: u64) -> Result<(), CommitError> {
        let mut sql = String::from("BEGIN TRANSACTION;\n");
        for table in rows.keys() {
            sql.push_str(&format!(
                "INSERT INTO {} SELECT * FROM temp.main.{};\n",
                self.target.qualified(table.name()),
                quote_ident(&staging_name(*table))
            ));
        }
        let checkpoints = self.target.qualified(CHECKPOINT_TABLE);
        let writer = quote_literal(&self.writer_id);
        sql.push_str(&format!("DELETE FROM {checkpoints} WHERE writer_id = {writer};\n"));
        sql.push_str(&format!("INSERT INTO {checkpoints} VALUES ({writer}, {through_seq}, now());\nCOMMIT;"));
        self.con.execute_batch(&sql).map_err(|source| {
            let _ = self.con.execute_batch("ROLLBACK");
            CommitError::Sql { context: format!("committing through spool seq {through_seq}"), source }
        })
    }

    /// Keeps the file count down: writes rows inlined in the catalog out to
    /// Parquet, then merges adjacent small files of every signal table.
    pub fn maintain(&self) -> Result<(), CommitError> {
        let catalog = quote_literal(&self.target.catalog);
        let schema = quote_literal(&self.target.schema);
        let mut sql = format!("CALL ducklake_flush_inlined_data({catalog}, schema_name => {schema});\n");
        for table in Table::all() {
            let table = quote_literal(table.name());
            sql.push_str(&format!("CALL ducklake_merge_adjacent_files({catalog}, {table}, schema => {schema});\n"));
        }
        self.con
            .execute_batch(&sql)
            .map_err(|source| CommitError::Sql { context: "compacting the lake's files".into(), source })
    }

    fn clear_staging(&self, tables: impl Iterator<Item = Table>) -> Result<(), CommitError> {
        for table in tables {
            let sql = format!("DELETE FROM temp.main.{}", quote_ident(&staging_name(table)));
            self.con.execute_batch(&sql).map_err(|source| CommitError::Sql {
                context: format!("clearing staging for {}", table.name()),
                source,
            })?;
        }
        Ok(())
    }
}
