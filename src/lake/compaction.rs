//! Compaction toward a target file size, in two tiers.
//!
//! - **Small files** (under [`SMALL_FILE_BYTES`]: a quiet table's flushes, the
//!   files inlined rows are written out to) are merged every round, whatever
//!   their age, so a table never piles up thousands of tiny files.
//! - **Settled files** (from [`SMALL_FILE_BYTES`] up to half the target: a busy
//!   writer's flushes, earlier merges' output) are merged once every file of a
//!   group is older than `settle_after`. Waiting lets a group fill up to the
//!   target, so a byte is rewritten about once per tier instead of every round,
//!   and keeps the newest minutes, which dashboards read most, out of the way
//!   of the rewrite. Files of at least half the target are final.
//!
//! DuckLake's `ducklake_merge_adjacent_files` has no notion of age: it groups
//! the candidate files oldest first, each until it reaches the target size, and
//! `max_compacted_files` caps how many groups one call takes. So the settled
//! tier reads the same candidates from the catalog, groups them the way
//! DuckLake 1.5 does ([`groups`]), and asks for as many groups, oldest first, as
//! are settled ([`settled_groups`]). Should the two groupings ever differ (a
//! file with inlined deletions that DuckLake skips), one group more or fewer
//! is merged: a matter of timing, never of data.

use super::catalog::metadata_database;
use crate::otlp::schema::Table;
use crate::query::sql_text::{quote_literal, LakeTarget};
use std::ops::Range;
use std::time::Duration;

/// Files below this size are merged every round.
pub const SMALL_FILE_BYTES: u64 = 2 << 20;

/// The default target: large enough that a day of a busy table is a few
/// hundred files, small enough that one merge stays some seconds of work.
pub const DEFAULT_TARGET_FILE_BYTES: u64 = 128 << 20;

/// The default age after which a busy writer's files are merged.
pub const DEFAULT_SETTLE_AFTER: Duration = Duration::from_secs(5 * 60);

/// Settled groups one table merges per round at most: a round stays tens of
/// seconds even when a long backlog of files has settled at once (each group
/// is a merge of up to the target size; some 9 s for 128 MB of logs on two
/// cores), and the rest waits for the next round.
pub const SETTLED_GROUPS_PER_ROUND: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompactionPolicy {
    /// the size merges aim at (DuckLake's `target_file_size` for our schema)
    pub target_file_bytes: u64,
    /// a busy writer's files are merged once they are this old
    pub settle_after: Duration,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy { target_file_bytes: DEFAULT_TARGET_FILE_BYTES, settle_after: DEFAULT_SETTLE_AFTER }
    }
}

impl CompactionPolicy {
    /// Settled candidates are below this size; files this large are final.
    pub fn settled_below(&self) -> u64 {
        (self.target_file_bytes / 2).max(SMALL_FILE_BYTES + 1)
    }
}

/// A live data file the settled tier may merge, in DuckLake's order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    pub bytes: u64,
    /// when the newest rows in the file were committed, in ms since the epoch
    pub newest_ms: i64,
}

/// Splits `files` into consecutive groups the way DuckLake's merge does
/// (DuckLake 1.5): a group takes files until it has reached `target`, so it
/// may overshoot by up to one file. A group of one file is merged with
/// nothing but still counts toward `max_compacted_files`. (DuckLake leaves
/// files at or above the target out of the candidates; ours never hold one,
/// and such a file would stand alone here.)
pub fn groups(files: &[Candidate], target: u64) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < files.len() {
        let mut end = start;
        let mut size = 0u64;
        while end < files.len() && size < target && files[end].bytes < target {
            size += files[end].bytes;
            end += 1;
        }
        let end = end.max(start + 1);
        groups.push(start..end);
        start = end;
    }
    groups
}

/// How many groups, oldest first, to hand to one merge: the leading groups
/// whose files were all committed before `settled_before_ms`, up to
/// `max_merges` groups of two files or more. Zero when none is worth a call.
pub fn settled_groups(files: &[Candidate], target: u64, settled_before_ms: i64, max_merges: usize) -> usize {
    let mut taken = 0;
    let mut merges = 0;
    for group in groups(files, target) {
        if merges == max_merges || files[group.clone()].iter().any(|file| file.newest_ms >= settled_before_ms) {
            break;
        }
        taken += 1;
        if group.len() > 1 {
            merges += 1;
        }
    }
    if merges == 0 {
        0
    } else {
        taken
    }
}

/// The settled tier's candidates of `table`: live data files from the small
/// files' bound up to `below` bytes without delete files, with the commit
/// time of their newest rows, in the order DuckLake groups them. A file whose
/// snapshot has been expired is older than `snapshot_retention`: it counts as
/// committed at the epoch, settled, rather than missing from the list (which
/// would shift every group after it and leave the oldest files unmerged).
pub fn candidates_sql(target: &LakeTarget, table: Table, below: u64) -> String {
    let meta = metadata_database(target);
    format!(
        "SELECT f.file_size_bytes, coalesce(epoch_ms(s.snapshot_time), 0) \
         FROM {meta}.ducklake_data_file f \
         JOIN {meta}.ducklake_table t ON t.table_id = f.table_id AND t.end_snapshot IS NULL \
         JOIN {meta}.ducklake_schema sc ON sc.schema_id = t.schema_id AND sc.end_snapshot IS NULL \
         LEFT JOIN {meta}.ducklake_snapshot s ON s.snapshot_id = coalesce(f.partial_max, f.begin_snapshot) \
         WHERE f.end_snapshot IS NULL AND sc.schema_name = {schema} AND t.table_name = {table} \
           AND f.file_size_bytes >= {SMALL_FILE_BYTES} AND f.file_size_bytes < {below} \
           AND NOT EXISTS (SELECT 1 FROM {meta}.ducklake_delete_file d \
             WHERE d.data_file_id = f.data_file_id AND d.end_snapshot IS NULL) \
         ORDER BY f.begin_snapshot, f.row_id_start, f.data_file_id",
        schema = quote_literal(&target.schema),
        table = quote_literal(table.name()),
    )
}

/// The merge of the small files of `table`, into groups of up to the target.
pub fn merge_small_sql(target: &LakeTarget, table: Table) -> String {
    merge_sql(target, table, &format!("max_file_size => {SMALL_FILE_BYTES}"))
}

/// The merge of the first `groups` settled groups of `table`.
pub fn merge_settled_sql(target: &LakeTarget, table: Table, below: u64, groups: usize) -> String {
    merge_sql(
        target,
        table,
        &format!("min_file_size => {SMALL_FILE_BYTES}, max_file_size => {below}, max_compacted_files => {groups}"),
    )
}

fn merge_sql(target: &LakeTarget, table: Table, bounds: &str) -> String {
    format!(
        "CALL ducklake_merge_adjacent_files({}, {}, schema => {}, {bounds})",
        quote_literal(&target.catalog),
        quote_literal(table.name()),
        quote_literal(&target.schema),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    fn file(mb: u64, newest_ms: i64) -> Candidate {
        Candidate { bytes: mb * MB, newest_ms }
    }

    #[test]
    fn groups_take_files_until_they_reach_the_target() {
        let files = [file(40, 0), file(40, 0), file(40, 0), file(40, 0), file(10, 0), file(10, 0)];
        // 40+40+40 = 120 is short of 128, so a fourth joins (160); the rest is the next group
        assert_eq!(groups(&files, 128 * MB), vec![0..4, 4..6]);
        let big = [file(5, 0), file(200, 0), file(5, 0), file(5, 0)];
        assert_eq!(groups(&big, 128 * MB), vec![0..1, 1..2, 2..4], "a file above the target stays alone");
        assert!(groups(&[], 128 * MB).is_empty());
    }

    #[test]
    fn groups_match_what_ducklake_merged_in_a_measured_case() {
        // ten 3.2 MB files, target 16 MiB: DuckLake 1.5.5 merged six, then the other four
        let files = vec![Candidate { bytes: 3_200_000, newest_ms: 0 }; 10];
        assert_eq!(groups(&files, 16 * MB), vec![0..6, 6..10]);
    }

    #[test]
    fn only_leading_groups_whose_files_have_all_settled_are_merged() {
        let files = [file(40, 1), file(40, 2), file(40, 3), file(40, 4), file(40, 50), file(40, 60), file(40, 70)];
        // groups 0..4 (settled) and 4..7 (one file too new)
        assert_eq!(settled_groups(&files, 128 * MB, 10, 4), 1);
        assert_eq!(settled_groups(&files, 128 * MB, 100, 4), 2);
        assert_eq!(settled_groups(&files, 128 * MB, 1, 4), 0, "nothing has settled yet");
    }

    #[test]
    fn a_round_merges_a_bounded_number_of_groups() {
        let files: Vec<Candidate> = (0..30).map(|i| file(40, i)).collect();
        assert_eq!(settled_groups(&files, 128 * MB, 1_000, 2), 2);
        // groups of four: seven of them, and the last two files an eighth
        assert_eq!(settled_groups(&files, 128 * MB, 1_000, 100), 8);
    }

    #[test]
    fn lone_files_are_counted_as_ducklake_counts_them_but_are_not_worth_a_call() {
        // a file above the target alone, then a pair: max_compacted_files must cover the lone one
        let files = [file(200, 0), file(60, 0), file(60, 0)];
        assert_eq!(settled_groups(&files, 128 * MB, 10, 1), 2);
        assert_eq!(settled_groups(&[file(100, 0)], 128 * MB, 10, 1), 0, "one file merges with nothing");
    }

    #[test]
    fn settled_files_stay_below_half_the_target_and_above_the_small_ones() {
        let policy = CompactionPolicy::default();
        assert_eq!(policy.settled_below(), 64 * MB);
        let tiny = CompactionPolicy { target_file_bytes: MB, ..policy };
        assert_eq!(tiny.settled_below(), SMALL_FILE_BYTES + 1);
    }

    #[test]
    fn the_candidates_are_read_in_ducklakes_order_without_files_with_deletes() {
        let target = LakeTarget { catalog: "lake".into(), schema: "otel".into() };
        let sql = candidates_sql(&target, Table::Logs, 64 * MB);
        assert!(sql.contains("ORDER BY f.begin_snapshot, f.row_id_start, f.data_file_id"), "{sql}");
        assert!(sql.contains(&format!("f.file_size_bytes >= {SMALL_FILE_BYTES} AND f.file_size_bytes < {}", 64 * MB)));
        assert!(sql.contains("ducklake_delete_file d"), "{sql}");
        assert!(sql.contains("LEFT JOIN \"__ducklake_metadata_lake\".ducklake_snapshot s"), "{sql}");
        assert!(sql.contains("coalesce(epoch_ms(s.snapshot_time), 0)"), "expired snapshots count as old: {sql}");
        let merge = merge_settled_sql(&target, Table::Logs, 64 * MB, 3);
        assert!(merge.ends_with(&format!("max_file_size => {}, max_compacted_files => 3)", 64 * MB)), "{merge}");
    }
}
