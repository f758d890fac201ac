//! The writer thread: takes in-order batches from the queue and commits them
//! to the lake, one transaction per flush, with the highest spool sequence
//! number the flush covers.
//!
//! A flush is due when the oldest pending record has waited `interval` since
//! its handler pushed it (query visibility: a record that arrived while the
//! previous flush was committing has already waited), when `max_rows` are
//! pending (memory, file size), or when the pending rows take `max_bytes`
//! (half the queue's bound: waiting out the interval with a full queue would
//! refuse requests while the writer idles). A failed
//! commit keeps its batches and retries with backoff; before retrying it reads
//! the checkpoint back, because a commit that reported failure may still have
//! landed, and committing it twice would duplicate rows.

use super::queue::Entry;
use super::Ingest;
use crate::lake::commit::LakeWriter;
use crate::otlp::{DecodeError, MetricBatcher, Rows, TableBatch, ValidMetrics};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct FlushPolicy {
    pub interval: Duration,
    pub max_rows: usize,
    pub max_bytes: usize,
    /// how often superseded checkpoint rows are pruned (with the maintenance rounds)
    pub compact_interval: Duration,
}

/// What waits for the next flush.
#[derive(Clone, Copy, Debug, Default)]
pub struct PendingSize {
    pub rows: usize,
    pub bytes: usize,
}

impl FlushPolicy {
    pub fn due(&self, pending: PendingSize, oldest: Option<Instant>, closing: bool, now: Instant) -> bool {
        match oldest {
            None => false,
            Some(_) if closing => true,
            Some(_) if pending.rows >= self.max_rows || pending.bytes >= self.max_bytes => true,
            Some(since) => now.duration_since(since) >= self.interval,
        }
    }

    /// How long the writer may sleep before the oldest pending record is due.
    pub fn wait(&self, oldest: Option<Instant>, now: Instant) -> Duration {
        match oldest {
            None => self.interval,
            Some(since) => self.interval.saturating_sub(now.duration_since(since)),
        }
    }
}

/// What the writer did over its lifetime, reported by `otlp_stop()`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlushReport {
    pub rows_by_table: BTreeMap<String, u64>,
    pub last_seq: u64,
    pub abandoned_records: u64,
}

struct Pending {
    entries: Vec<Entry<Rows>>,
    size: PendingSize,
    since: Option<Instant>,
}

const RETRY_BACKOFF: Duration = Duration::from_millis(500);
/// After `close`, how long to keep trying (stragglers, failing commits) before
/// leaving the rest to replay from the spool.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

pub fn run(ingest: Arc<Ingest>, mut lake: LakeWriter, policy: FlushPolicy) -> FlushReport {
    let mut report = FlushReport { last_seq: lake.checkpoint_seq(), ..FlushReport::default() };
    let mut pending = Pending { entries: Vec::new(), size: PendingSize::default(), since: None };
    let mut closed_at: Option<Instant> = None;
    let mut last_prune = Instant::now();
    loop {
        let now = Instant::now();
        let taken = ingest.queue.take(policy.wait(pending.since, now).max(Duration::from_millis(1)));
        if pending.since.is_none() {
            pending.since = taken.entries.iter().map(|entry| entry.arrived).min();
        }
        for entry in taken.entries {
            pending.size.rows += entry.item.len();
            pending.size.bytes += entry.bytes;
            pending.entries.push(entry);
        }
        let closing = ingest.queue.is_closed();
        if closing && closed_at.is_none() {
            closed_at = Some(Instant::now());
        }
        if policy.due(pending.size, pending.since, closing, Instant::now()) {
            match commit(&ingest, &mut lake, &pending.entries) {
                Ok(rows) => {
                    for (table, n) in rows {
                        *report.rows_by_table.entry(table).or_default() += n;
                    }
                    report.last_seq = lake.checkpoint_seq();
                    pending = Pending { entries: Vec::new(), size: PendingSize::default(), since: None };
                    if last_prune.elapsed() >= policy.compact_interval || closing {
                        if let Err(error) = lake.prune_checkpoints() {
                            ingest.stats.error(format!("writer: {error}"));
                        }
                        last_prune = Instant::now();
                    }
                }
                Err(()) => std::thread::sleep(RETRY_BACKOFF),
            }
        }
        let gave_up = closed_at.is_some_and(|t| t.elapsed() > DRAIN_GRACE);
        if closing && ((pending.entries.is_empty() && taken.drained) || gave_up) {
            // whatever is left stays in the spool and replays on the next start
            report.abandoned_records = (pending.entries.len() + ingest.queue.waiting()) as u64;
            return report;
        }
    }
}

/// Commits pending entries; on success returns rows per table and releases the spool.
fn commit(ingest: &Ingest, lake: &mut LakeWriter, entries: &[Entry<Rows>]) -> Result<BTreeMap<String, u64>, ()> {
    let Some(last) = entries.last() else { return Ok(BTreeMap::new()) };
    let through_seq = last.seq;
    let started = Instant::now();
    // only a retry can find its batches already committed; a healthy writer skips the catalog read
    let retrying = !ingest.is_healthy();
    let result = if retrying && lake.reload_checkpoint().map(|seq| seq >= through_seq).unwrap_or(false) {
        Ok(BTreeMap::new()) // an earlier attempt that reported failure did land
    } else {
        match table_batches(entries) {
            Ok(batches) => lake.commit(batches.iter(), through_seq),
            Err(error) => {
                ingest.stats.error(format!("building the rows through spool seq {through_seq}: {error}"));
                ingest.set_writer_failing(true);
                return Err(());
            }
        }
    };
    match result {
        Ok(rows) => {
            ingest.stats.committed(&rows, started.elapsed());
            ingest.queue.release(through_seq, entries.iter().map(|e| e.bytes).sum());
            if let Err(error) = ingest.spool.release_through(through_seq) {
                ingest.stats.error(format!("spool cleanup: {error}"));
            }
            ingest.set_writer_failing(false);
            Ok(rows)
        }
        Err(error) => {
            ingest.stats.error(format!("commit through spool seq {through_seq}: {error}"));
            ingest.set_writer_failing(true);
            Err(())
        }
    }
}

/// The flush's rows as table batches: Arrow batches as the handlers decoded
/// them, and the rows of all its metrics requests built together.
fn table_batches(entries: &[Entry<Rows>]) -> Result<Vec<TableBatch>, DecodeError> {
    let mut batches = Vec::new();
    let mut metrics: Vec<&ValidMetrics> = Vec::new();
    for entry in entries {
        match &entry.item {
            Rows::Batches(decoded) => batches.extend(decoded.iter().cloned()),
            Rows::Metrics(valid) => metrics.push(valid),
        }
    }
    if !metrics.is_empty() {
        let mut batcher = MetricBatcher::for_requests(metrics.iter().copied());
        for valid in metrics {
            batcher.append(valid);
        }
        batches.extend(batcher.finish()?);
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> FlushPolicy {
        FlushPolicy {
            interval: Duration::from_millis(100),
            max_rows: 10,
            max_bytes: 1000,
            compact_interval: Duration::from_secs(60),
        }
    }

    fn rows(rows: usize) -> PendingSize {
        PendingSize { rows, bytes: rows * 10 }
    }

    #[test]
    fn nothing_pending_is_never_due() {
        let policy = policy();
        assert!(!policy.due(rows(0), None, true, Instant::now()));
    }

    #[test]
    fn due_by_age_rows_or_closing() {
        let policy = policy();
        let start = Instant::now();
        assert!(!policy.due(rows(3), Some(start), false, start + Duration::from_millis(50)));
        assert!(policy.due(rows(3), Some(start), false, start + Duration::from_millis(100)));
        assert!(policy.due(rows(10), Some(start), false, start));
        assert!(policy.due(rows(1), Some(start), true, start));
    }

    #[test]
    fn due_early_when_the_pending_rows_fill_half_the_queue() {
        let policy = policy();
        let start = Instant::now();
        let big = PendingSize { rows: 2, bytes: 999 };
        assert!(!policy.due(big, Some(start), false, start));
        assert!(policy.due(PendingSize { bytes: 1000, ..big }, Some(start), false, start));
    }

    #[test]
    fn waits_only_until_the_oldest_record_is_due() {
        let policy = policy();
        let start = Instant::now();
        assert_eq!(policy.wait(None, start), Duration::from_millis(100));
        assert_eq!(policy.wait(Some(start), start + Duration::from_millis(30)), Duration::from_millis(70));
        assert_eq!(policy.wait(Some(start), start + Duration::from_millis(300)), Duration::ZERO);
    }
}
