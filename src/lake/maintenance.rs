//! Keeping the file count down beside the writer: rows the writer left
//! inlined in the catalog are written out to Parquet, and small adjacent
//! files are merged.
//!
//! Why a connection of its own: a round under mixed load merges hundreds of
//! small files (some 8 ms each) and took seconds; run on the writer's
//! connection it stalled every commit behind it (visibility p99 of 20 s over
//! ten minutes). DuckLake resolves a merge or an inlined-data flush that
//! commits beside the writer's inserts without a conflict, so the two run
//! side by side. The writer's checkpoint rows are pruned by the writer
//! itself: a DELETE beside its INSERTs into the same table could conflict.

use super::commit::CommitError;
use super::database::Pooled;
use crate::otlp::schema::Table;
use crate::query::sql_text::{quote_literal, LakeTarget};
use duckdb::InterruptHandle;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Files below this size are merged: flushes of up to some 50,000 log rows,
/// and the files that inlined rows are flushed into. Larger files (a busy
/// writer's flushes) are left alone: DuckDB rewrites MAP-heavy rows slower
/// than the writer produces them.
pub const SMALL_FILE_BYTES: u64 = 2 << 20;

/// Tables given rows since the last maintenance round, recorded by the
/// writer and taken by the maintenance round.
#[derive(Default)]
pub struct DueTables {
    due: Mutex<Touched>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Touched {
    /// tables given rows inlined in the catalog
    pub inlined: BTreeSet<Table>,
    /// tables given any rows
    pub written: BTreeSet<Table>,
}

impl Touched {
    /// After a (re)start every table is looked at: rows inlined before a crash
    /// are flushed then too.
    pub fn everything() -> Self {
        Touched { inlined: Table::all().into_iter().collect(), written: Table::all().into_iter().collect() }
    }

    fn is_empty(&self) -> bool {
        self.inlined.is_empty() && self.written.is_empty()
    }

    /// Marks the table of `step` as due for that step again.
    fn add(&mut self, step: Step) {
        match step.kind {
            StepKind::FlushInlined => self.inlined.insert(step.table),
            StepKind::MergeSmallFiles => self.written.insert(step.table),
        };
    }
}

impl DueTables {
    pub fn starting_with(touched: Touched) -> Self {
        DueTables { due: Mutex::new(touched) }
    }

    pub fn record(&self, table: Table, inlined: bool) {
        let mut due = self.lock();
        due.written.insert(table);
        if inlined {
            due.inlined.insert(table);
        }
    }

    fn take(&self) -> Touched {
        std::mem::take(&mut *self.lock())
    }

    /// Puts back what a failed round did not finish, for the next round.
    fn restore(&self, unfinished: Touched) {
        let mut due = self.lock();
        due.inlined.extend(unfinished.inlined);
        due.written.extend(unfinished.written);
    }

    fn lock(&self) -> MutexGuard<'_, Touched> {
        self.due.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoundReport {
    /// statements run (one per table and step)
    pub steps: usize,
    /// the first failure; its tables are due again in the next round
    pub error: Option<String>,
}

pub struct Compactor {
    con: Pooled,
    target: LakeTarget,
    cancel: Arc<Cancel>,
}

/// Stops merging for good (at `otlp_stop`): a merge under way is interrupted
/// (its transaction rolls back, nothing is lost) and later ones are skipped,
/// so stopping never waits for seconds of merging. Inlined rows are still
/// written out; skipped merges are done by the first round after the next
/// start, which looks at every table.
pub struct Cancel {
    merges_off: AtomicBool,
    interrupt: Arc<InterruptHandle>,
}

impl Cancel {
    pub fn stop_merging(&self) {
        self.merges_off.store(true, Ordering::SeqCst);
        self.interrupt.interrupt();
    }

    fn merges_off(&self) -> bool {
        self.merges_off.load(Ordering::SeqCst)
    }
}

impl Compactor {
    pub fn new(con: Pooled, target: LakeTarget) -> Self {
        let cancel = Arc::new(Cancel { merges_off: AtomicBool::new(false), interrupt: con.interrupt_handle() });
        Compactor { con, target, cancel }
    }

    pub fn cancel(&self) -> Arc<Cancel> {
        self.cancel.clone()
    }

    /// Runs the steps `due` asks for, each table in its own statement, so one
    /// failing table leaves the others done.
    pub fn round(&self, due: &DueTables) -> RoundReport {
        let touched = due.take();
        let mut report = RoundReport::default();
        if touched.is_empty() {
            return report;
        }
        let mut unfinished = Touched::default();
        for step in steps(&touched) {
            let merge = step.kind == StepKind::MergeSmallFiles;
            if merge && self.cancel.merges_off() {
                unfinished.add(step);
                continue;
            }
            report.steps += 1;
            if let Err(source) = self.con.execute_batch(&step.sql(&self.target)) {
                unfinished.add(step);
                // an interrupted merge is not a failure: stopping asked for it
                if !(merge && self.cancel.merges_off()) {
                    let context = format!("{} for {}", step.describe(), step.table.name());
                    report.error.get_or_insert_with(|| CommitError::Sql { context, source }.to_string());
                }
            }
        }
        due.restore(unfinished);
        report
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum StepKind {
    FlushInlined,
    MergeSmallFiles,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Step {
    kind: StepKind,
    table: Table,
}

/// Inlined rows are flushed first, so the files they become are merged in the same round.
fn steps(touched: &Touched) -> Vec<Step> {
    let flushes = touched.inlined.iter().map(|&table| Step { kind: StepKind::FlushInlined, table });
    let merges = touched.written.iter().map(|&table| Step { kind: StepKind::MergeSmallFiles, table });
    flushes.chain(merges).collect()
}

impl Step {
    fn sql(&self, target: &LakeTarget) -> String {
        let catalog = quote_literal(&target.catalog);
        let schema = quote_literal(&target.schema);
        let table = quote_literal(self.table.name());
        match self.kind {
            StepKind::FlushInlined => {
                format!("CALL ducklake_flush_inlined_data({catalog}, schema_name => {schema}, table_name => {table})")
            }
            StepKind::MergeSmallFiles => format!(
                "CALL ducklake_merge_adjacent_files({catalog}, {table}, schema => {schema}, \
                 max_file_size => {SMALL_FILE_BYTES})"
            ),
        }
    }

    fn describe(&self) -> &'static str {
        match self.kind {
            StepKind::FlushInlined => "flushing inlined rows",
            StepKind::MergeSmallFiles => "merging small files",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_looks_only_at_tables_given_rows_since_the_last() {
        let target = LakeTarget { catalog: "lake".into(), schema: "otel".into() };
        let touched = Touched { inlined: [Table::Spans].into(), written: [Table::Logs, Table::Spans].into() };
        let sql: Vec<String> = steps(&touched).iter().map(|step| step.sql(&target)).collect();
        assert_eq!(
            sql,
            [
                "CALL ducklake_flush_inlined_data('lake', schema_name => 'otel', table_name => 'spans')",
                "CALL ducklake_merge_adjacent_files('lake', 'logs', schema => 'otel', max_file_size => 2097152)",
                "CALL ducklake_merge_adjacent_files('lake', 'spans', schema => 'otel', max_file_size => 2097152)",
            ]
        );
        assert!(steps(&Touched::default()).is_empty());
        let first = steps(&Touched::everything());
        assert_eq!(first.iter().filter(|s| s.kind == StepKind::FlushInlined).count(), Table::all().len());
        assert_eq!(first.iter().filter(|s| s.kind == StepKind::MergeSmallFiles).count(), Table::all().len());
    }

    #[test]
    fn recorded_tables_are_taken_once_and_unfinished_ones_come_back() {
        let due = DueTables::default();
        due.record(Table::Logs, false);
        due.record(Table::Spans, true);
        let taken = due.take();
        assert_eq!(taken, Touched { inlined: [Table::Spans].into(), written: [Table::Logs, Table::Spans].into() });
        assert_eq!(due.take(), Touched::default());
        due.record(Table::MetricsGauge, false);
        due.restore(Touched { inlined: [Table::Spans].into(), written: BTreeSet::new() });
        assert_eq!(due.take(), Touched { inlined: [Table::Spans].into(), written: [Table::MetricsGauge].into() });
    }
}
