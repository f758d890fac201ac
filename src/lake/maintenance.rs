//! Keeping the lake in shape beside the writer, one round at a time: rows the
//! writer left inlined in the catalog are written out to Parquet, rows past
//! their retention are deleted (`retention`), small adjacent files are merged,
//! old snapshots are expired and the files no snapshot references any more
//! leave storage.
//!
//! Why a connection of its own: a round under mixed load merges hundreds of
//! small files (some 8 ms each) and took seconds; run on the writer's
//! connection it stalled every commit behind it (visibility p99 of 20 s over
//! ten minutes). DuckLake resolves a merge or an inlined-data flush that
//! commits beside the writer's inserts without a conflict, so the two run
//! side by side. Deleting is different: DuckLake refuses a DELETE from a
//! table that another transaction inserted into meanwhile, so retention and
//! the removal of orphaned files wait for the writer's turn (`CommitGate`).

use super::catalog::metadata_database;
use super::commit::CommitError;
use super::compaction::{self, Candidate, CompactionPolicy, SETTLED_GROUPS_PER_ROUND};
use super::database::{in_transaction, Pooled};
use super::gate::CommitGate;
use super::retention::{self, FileSpan, Retention, FILES_PER_SLICE};
use crate::otlp::schema::Table;
use crate::query::sql_text::{quote_literal, LakeTarget};
use duckdb::{Connection, InterruptHandle};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

    fn merge(&mut self, other: Touched) {
        self.inlined.extend(other.inlined);
        self.written.extend(other.written);
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
        self.lock().merge(unfinished);
    }

    fn lock(&self) -> MutexGuard<'_, Touched> {
        self.due.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What maintenance keeps and for how long.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaintenancePolicy {
    pub retention: Retention,
    /// snapshots older than this expire, and files that only they (or no
    /// snapshot at all) reference are deleted once this old: a query running
    /// longer than this may lose its files
    pub snapshot_retention: Duration,
    pub compaction: CompactionPolicy,
}

/// Why a round runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RoundKind {
    /// every `compact_interval`: inlined rows and merges only where rows came
    Scheduled,
    /// `otlp_maintenance()`: every table; a dry run changes nothing and reports
    /// what retention and cleanup would delete
    OnDemand { dry_run: bool },
    /// at stop, once the writer is done: inlined rows are written out, nothing else
    Final,
}

/// What one round did to one table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableReport {
    pub rows_flushed: u64,
    pub rows_deleted: u64,
    /// data files retention ended whole
    pub files_dropped: u64,
    pub bytes_dropped: u64,
    /// files merged into larger ones (small files and settled ones)
    pub files_merged: u64,
    /// files deleted from storage (replaced, expired or orphaned)
    pub files_removed: u64,
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoundReport {
    pub dry_run: bool,
    pub tables: BTreeMap<Table, TableReport>,
    pub snapshots_expired: u64,
    /// files removed from storage outside the signal tables' folders
    pub other_files_removed: u64,
    /// files and bytes per table after the round (data and delete files), when measured
    pub footprint: BTreeMap<Table, Footprint>,
    /// the first failure; what it left undone is retried in the next round
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Footprint {
    pub files: u64,
    pub bytes: u64,
}

impl RoundReport {
    fn table(&mut self, table: Table) -> &mut TableReport {
        self.tables.entry(table).or_default()
    }

    fn fail(&mut self, context: String, source: duckdb::Error) {
        self.error.get_or_insert_with(|| CommitError::Sql { context, source }.to_string());
    }

    pub fn files_removed(&self) -> u64 {
        self.other_files_removed + self.tables.values().map(|t| t.files_removed).sum::<u64>()
    }
}

pub struct Maintainer {
    con: Pooled,
    target: LakeTarget,
    policy: MaintenancePolicy,
    gate: Arc<CommitGate>,
    cancel: Arc<Cancel>,
    /// listing every file of the lake costs, so orphans are looked for at the
    /// first round and then once per `snapshot_retention`
    last_orphan_sweep: Option<Instant>,
}

/// Stops maintenance for good (at `otlp_stop`): a statement under way is
/// interrupted (its transaction rolls back, nothing is lost) and only inlined
/// rows are written out from then on, so stopping never waits for seconds of
/// merging or deleting. What was skipped is done by the first round after the
/// next start, which looks at every table.
pub struct Cancel {
    stopping: AtomicBool,
    interrupt: Arc<InterruptHandle>,
}

impl Cancel {
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.interrupt.interrupt();
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

impl Maintainer {
    pub fn new(con: Pooled, target: LakeTarget, policy: MaintenancePolicy, gate: Arc<CommitGate>) -> Self {
        let cancel = Arc::new(Cancel { stopping: AtomicBool::new(false), interrupt: con.interrupt_handle() });
        Maintainer { con, target, policy, gate, cancel, last_orphan_sweep: None }
    }

    pub fn cancel(&self) -> Arc<Cancel> {
        self.cancel.clone()
    }

    /// Runs one round, each table and step in its own statement, so one
    /// failing table leaves the others done.
    pub fn round(&mut self, due: &DueTables, kind: RoundKind) -> RoundReport {
        let dry_run = matches!(kind, RoundKind::OnDemand { dry_run: true });
        let mut report = RoundReport { dry_run, ..RoundReport::default() };
        let taken = due.take();
        // a dry run flushes and merges nothing: what the writer recorded stays due
        let mut unfinished = if dry_run { taken.clone() } else { Touched::default() };
        let mut touched = taken;
        if matches!(kind, RoundKind::OnDemand { .. }) {
            touched.merge(Touched::everything());
        }
        if !dry_run {
            for table in touched.inlined.clone() {
                self.flush_inlined(table, &mut unfinished, &mut report);
            }
        }
        if kind != RoundKind::Final {
            for table in Table::all() {
                self.apply_retention(table, dry_run, &mut report);
            }
            if !dry_run {
                for table in touched.written.clone() {
                    self.merge_small_files(table, &mut unfinished, &mut report);
                }
                // every table: files settle with time, whether or not rows came
                for table in Table::all() {
                    self.merge_settled_files(table, &mut report);
                }
            }
            self.expire_and_clean(dry_run, matches!(kind, RoundKind::OnDemand { .. }), &mut report);
            if !dry_run {
                self.measure(&mut report);
            }
        } else {
            unfinished.written.extend(touched.written);
        }
        due.restore(unfinished);
        report
    }

    fn flush_inlined(&self, table: Table, unfinished: &mut Touched, report: &mut RoundReport) {
        let sql = format!(
            "CALL ducklake_flush_inlined_data({}, schema_name => {}, table_name => {})",
            quote_literal(&self.target.catalog),
            quote_literal(&self.target.schema),
            quote_literal(table.name())
        );
        match self.sum_column(&sql, "rows_flushed") {
            Ok(rows) => report.table(table).rows_flushed += rows,
            Err(source) => {
                unfinished.inlined.insert(table);
                report.fail(format!("flushing inlined rows for {}", table.name()), source);
            }
        }
    }

    fn merge_small_files(&self, table: Table, unfinished: &mut Touched, report: &mut RoundReport) {
        if self.cancel.stopping() {
            unfinished.written.insert(table);
            return;
        }
        let sql = compaction::merge_small_sql(&self.target, table);
        match self.sum_column(&sql, "files_processed") {
            Ok(files) => report.table(table).files_merged += files,
            Err(source) => {
                unfinished.written.insert(table);
                // an interrupted merge is not a failure: stopping asked for it
                if !self.cancel.stopping() {
                    report.fail(format!("merging small files for {}", table.name()), source);
                }
            }
        }
    }

    /// Merges the groups of `table`'s settled files (see `compaction`), a
    /// bounded number per round; what is left waits for the next round.
    fn merge_settled_files(&self, table: Table, report: &mut RoundReport) {
        if self.cancel.stopping() {
            return;
        }
        let policy = self.policy.compaction;
        let below = policy.settled_below();
        let candidates = match self.settled_candidates(table, below) {
            Ok(candidates) => candidates,
            Err(source) => return report.fail(format!("listing settled files of {}", table.name()), source),
        };
        let settled_before_ms = cutoff_ns(policy.settle_after) / 1_000_000;
        let groups = compaction::settled_groups(
            &candidates,
            policy.target_file_bytes,
            settled_before_ms,
            SETTLED_GROUPS_PER_ROUND,
        );
        if groups == 0 {
            return;
        }
        let sql = compaction::merge_settled_sql(&self.target, table, below, groups);
        match self.sum_column(&sql, "files_processed") {
            Ok(files) => report.table(table).files_merged += files,
            Err(source) => {
                if !self.cancel.stopping() {
                    report.fail(format!("merging settled files of {}", table.name()), source);
                }
            }
        }
    }

    fn settled_candidates(&self, table: Table, below: u64) -> Result<Vec<Candidate>, duckdb::Error> {
        self.rows(&compaction::candidates_sql(&self.target, table, below), |row| {
            Ok(Candidate { bytes: row.get(0)?, newest_ms: row.get(1)? })
        })
    }

    /// Deletes the rows of `table` older than its retention, slice by slice,
    /// each slice in the writer's turn.
    fn apply_retention(&self, table: Table, dry_run: bool, report: &mut RoundReport) {
        let Some(keep) = self.policy.retention.for_table(table) else { return };
        let cutoff = cutoff_ns(keep);
        let context = || format!("applying retention to {}", table.name());
        let mut floor = None;
        loop {
            if self.cancel.stopping() {
                return;
            }
            let files = match self.file_spans(table) {
                Ok(files) => files,
                Err(source) => return report.fail(context(), source),
            };
            let max_files = if dry_run { usize::MAX } else { FILES_PER_SLICE };
            let Some(slice) = retention::next_slice(&files, floor, cutoff, max_files) else { return };
            floor = Some(slice.bound_ns);
            let deleted = if dry_run {
                self.count(&retention::count_sql(&self.target, table, cutoff))
            } else {
                let _turn = self.gate.enter();
                let delete = retention::delete_sql(&self.target, table, slice.bound_ns);
                self.in_transaction(|con| con.execute(&delete, []).map(|rows| rows as u64))
            };
            match deleted {
                Ok(rows) => {
                    let entry = report.table(table);
                    entry.rows_deleted += rows;
                    entry.files_dropped += slice.files_dropped;
                    entry.bytes_dropped += slice.bytes_dropped;
                }
                Err(source) => {
                    if !self.cancel.stopping() {
                        report.fail(context(), source);
                    }
                    return;
                }
            }
            if slice.reaches_cutoff || dry_run {
                return;
            }
        }
    }

    fn file_spans(&self, table: Table) -> Result<Vec<FileSpan>, duckdb::Error> {
        self.rows(&retention::file_spans_sql(&self.target, table), |row| {
            Ok(FileSpan { min_ns: row.get(0)?, max_ns: row.get(1)?, bytes: row.get::<_, Option<u64>>(2)?.unwrap_or(0) })
        })
    }

    /// Expires old snapshots, then deletes the files no kept snapshot
    /// references, and (at the first round, on demand, and once per
    /// `snapshot_retention`) files no snapshot ever referenced, such as a
    /// merge's output when the process died before its commit.
    fn expire_and_clean(&mut self, dry_run: bool, on_demand: bool, report: &mut RoundReport) {
        if self.cancel.stopping() {
            return;
        }
        let catalog = quote_literal(&self.target.catalog);
        let older_than = format!("now() - INTERVAL '{} milliseconds'", self.policy.snapshot_retention.as_millis());
        let expire = format!(
            "SELECT count(*)::UBIGINT FROM ducklake_expire_snapshots({catalog}, older_than => {older_than}, dry_run => {dry_run})"
        );
        match self.count(&expire) {
            Ok(expired) => report.snapshots_expired += expired,
            Err(source) => return report.fail("expiring old snapshots".into(), source),
        }
        let cleanup = format!(
            "SELECT path FROM ducklake_cleanup_old_files({catalog}, older_than => {older_than}, dry_run => {dry_run})"
        );
        match self.paths(&cleanup) {
            Ok(paths) => self.count_removed(&paths, report),
            Err(source) => return report.fail("deleting files of expired snapshots".into(), source),
        }
        let sweep_due = self.last_orphan_sweep.is_none_or(|at| at.elapsed() >= self.policy.snapshot_retention);
        if !(sweep_due || on_demand) {
            return;
        }
        let orphans = format!(
            "SELECT path FROM ducklake_delete_orphaned_files({catalog}, older_than => {older_than}, dry_run => {dry_run})"
        );
        // in the writer's turn: a file it has written but not yet committed is not an orphan
        let listed = {
            let _turn = self.gate.enter();
            self.paths(&orphans)
        };
        match listed {
            Ok(paths) => {
                self.count_removed(&paths, report);
                if !dry_run {
                    self.last_orphan_sweep = Some(Instant::now());
                }
            }
            Err(source) => report.fail("deleting orphaned files".into(), source),
        }
    }

    /// Runs `work` in a transaction of its own (see `database::in_transaction`).
    fn in_transaction<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, duckdb::Error>,
    ) -> Result<T, duckdb::Error> {
        in_transaction(&self.con, work)
    }

    /// Runs a maintenance CALL and adds up one counter column of its rows.
    fn sum_column(&self, sql: &str, column: &str) -> Result<u64, duckdb::Error> {
        self.in_transaction(|con| {
            let mut stmt = con.prepare(sql)?;
            let mut rows = stmt.query([])?;
            let index = rows.as_ref().map(|s| s.column_index(column)).transpose()?.unwrap_or(0);
            let mut total = 0u64;
            while let Some(row) = rows.next()? {
                total += row.get::<_, Option<i64>>(index)?.unwrap_or(0).max(0) as u64;
            }
            Ok(total)
        })
    }

    fn count(&self, sql: &str) -> Result<u64, duckdb::Error> {
        self.in_transaction(|con| con.query_row(sql, [], |row| row.get::<_, u64>(0)))
    }

    fn paths(&self, sql: &str) -> Result<Vec<String>, duckdb::Error> {
        self.rows(sql, |row| row.get::<_, String>(0))
    }

    /// Every row of a query, each read by `read`, in a transaction of its own.
    fn rows<T>(
        &self,
        sql: &str,
        read: impl FnMut(&duckdb::Row<'_>) -> Result<T, duckdb::Error>,
    ) -> Result<Vec<T>, duckdb::Error> {
        self.in_transaction(|con| con.prepare(sql)?.query_map([], read)?.collect())
    }

    fn count_removed(&self, paths: &[String], report: &mut RoundReport) {
        for path in paths {
            match table_of_path(path, &self.target.schema) {
                Some(table) => report.table(table).files_removed += 1,
                None => report.other_files_removed += 1,
            }
        }
    }

    /// Files and bytes per table now, for `/metrics`.
    fn measure(&self, report: &mut RoundReport) {
        let sql = footprint_sql(&self.target);
        let measured =
            self.rows(&sql, |row| Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?, row.get::<_, u64>(2)?)));
        match measured {
            Ok(rows) => {
                report.footprint = Table::all().into_iter().map(|table| (table, Footprint::default())).collect();
                for (name, files, bytes) in rows {
                    if let Some(table) = Table::from_name(&name) {
                        report.footprint.insert(table, Footprint { files, bytes });
                    }
                }
            }
            Err(source) => report.fail("measuring the tables' files".into(), source),
        }
    }
}

/// Nanoseconds since the epoch `keep` ago; 0 (nothing is older) when `keep`
/// reaches back past the epoch.
fn cutoff_ns(keep: Duration) -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.saturating_sub(keep).as_nanos()).unwrap_or(i64::MAX)
}

/// The signal table whose folder (`<schema>/<table>/`) holds `path`.
fn table_of_path(path: &str, schema: &str) -> Option<Table> {
    let segments: Vec<&str> = path.split(['/', '\\']).collect();
    segments.windows(2).rev().find_map(|pair| (pair[0] == schema).then(|| Table::from_name(pair[1])).flatten())
}

/// Live data and delete files per table of the schema, from the catalog.
fn footprint_sql(target: &LakeTarget) -> String {
    let meta = metadata_database(target);
    format!(
        "WITH tables AS (SELECT t.table_id, t.table_name FROM {meta}.ducklake_table t \
           JOIN {meta}.ducklake_schema sc ON sc.schema_id = t.schema_id AND sc.end_snapshot IS NULL \
           WHERE t.end_snapshot IS NULL AND sc.schema_name = {schema}), \
         files AS (SELECT table_id, file_size_bytes FROM {meta}.ducklake_data_file WHERE end_snapshot IS NULL \
           UNION ALL SELECT table_id, file_size_bytes FROM {meta}.ducklake_delete_file WHERE end_snapshot IS NULL) \
         SELECT tables.table_name, count(files.table_id)::UBIGINT, coalesce(sum(files.file_size_bytes), 0)::UBIGINT \
         FROM tables LEFT JOIN files USING (table_id) GROUP BY tables.table_name",
        schema = quote_literal(&target.schema),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_files_are_counted_for_the_table_whose_folder_held_them() {
        assert_eq!(table_of_path("/lake/data/otel/spans/ducklake-0193.parquet", "otel"), Some(Table::Spans));
        assert_eq!(
            table_of_path("s3://bucket/lake/otel/metrics_sum/x-delete.parquet", "otel"),
            Some(Table::MetricsSum)
        );
        assert_eq!(table_of_path("otel/logs/canardstack-w-00000000000000000007.parquet", "otel"), Some(Table::Logs));
        assert_eq!(table_of_path("/lake/data/otel/canardstack_checkpoints/a.parquet", "otel"), None);
        assert_eq!(table_of_path("/lake/data/other/logs/a.parquet", "otel"), None, "another schema's table");
    }

    #[test]
    fn the_footprint_counts_live_data_and_delete_files_of_our_schema() {
        let target = LakeTarget { catalog: "lake".into(), schema: "otel".into() };
        let sql = footprint_sql(&target);
        assert!(sql.contains("\"__ducklake_metadata_lake\".ducklake_delete_file WHERE end_snapshot IS NULL"), "{sql}");
        assert!(sql.contains("sc.schema_name = 'otel'"), "{sql}");
    }

    #[test]
    fn cutoffs_are_the_retention_before_now() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
        let day = cutoff_ns(Duration::from_secs(86_400));
        assert!((now - day - 86_400_000_000_000).abs() < 5_000_000_000, "{now} {day}");
        assert_eq!(cutoff_ns(Duration::from_secs(u64::MAX)), 0, "a retention longer than the epoch keeps everything");
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
        let everything = Touched::everything();
        assert_eq!((everything.inlined.len(), everything.written.len()), (Table::all().len(), Table::all().len()));
    }
}
