//! The hand-off from HTTP handlers to the writer thread.
//!
//! Handlers push decoded batches after their spool record is durable, but
//! concurrent handlers finish in any order. The checkpoint a flush writes means
//! "every record up to this sequence number is in the lake", so the writer may
//! only take records in sequence order: early arrivals wait in a reorder buffer
//! until the gap before them fills. Memory is bounded by `max_bytes`, counted
//! from push until the writer reports the rows committed.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub struct Entry<T> {
    pub seq: u64,
    pub item: T,
    pub bytes: usize,
    /// when the handler pushed it: visibility lag counts from here, not from
    /// when a writer busy with the previous flush got round to taking it
    pub arrived: Instant,
}

pub struct Taken<T> {
    pub entries: Vec<Entry<T>>,
    /// the queue was closed and everything pushed before closing has been taken
    pub drained: bool,
}

struct State<T> {
    next_seq: u64,
    ready: Vec<Entry<T>>,
    early: BTreeMap<u64, Entry<T>>,
    bytes: usize,
    /// when each acknowledged record not yet committed arrived, by sequence number
    arrivals: BTreeMap<u64, Instant>,
    closed: bool,
}

pub struct CommitQueue<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
    max_bytes: usize,
}

impl<T> CommitQueue<T> {
    /// `next_seq` is the first sequence number the writer expects.
    pub fn new(next_seq: u64, max_bytes: usize) -> Self {
        let state = State {
            next_seq,
            ready: Vec::new(),
            early: BTreeMap::new(),
            bytes: 0,
            arrivals: BTreeMap::new(),
            closed: false,
        };
        CommitQueue { state: Mutex::new(state), changed: Condvar::new(), max_bytes }
    }

    /// Over the memory bound: new requests should be refused (429).
    pub fn is_full(&self) -> bool {
        self.lock().bytes >= self.max_bytes
    }

    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Records (seq, bytes) waiting for a gap to fill: a diagnostic for status.
    pub fn waiting(&self) -> usize {
        let state = self.lock();
        state.ready.len() + state.early.len()
    }

    pub fn push(&self, seq: u64, item: T, bytes: usize) {
        let mut state = self.lock();
        state.bytes += bytes;
        let arrived = Instant::now();
        state.arrivals.insert(seq, arrived);
        state.early.insert(seq, Entry { seq, item, bytes, arrived });
        while let Some(entry) = {
            let next = state.next_seq;
            state.early.remove(&next)
        } {
            state.next_seq += 1;
            state.ready.push(entry);
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Waits up to `timeout` for in-order entries, then takes all of them.
    pub fn take(&self, timeout: Duration) -> Taken<T> {
        let mut state = self.lock();
        if state.ready.is_empty() && !state.closed {
            state = self
                .changed
                .wait_timeout(state, timeout)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        let entries = std::mem::take(&mut state.ready);
        Taken { entries, drained: state.closed && state.early.is_empty() }
    }

    /// The writer committed the entries through `through_seq`, worth `bytes`:
    /// make room for new requests.
    pub fn release(&self, through_seq: u64, bytes: usize) {
        let mut state = self.lock();
        state.bytes = state.bytes.saturating_sub(bytes);
        state.arrivals = state.arrivals.split_off(&(through_seq + 1));
    }

    /// How long the oldest acknowledged record not yet committed has waited:
    /// the ingest-to-query lag (zero when everything acknowledged is queryable).
    pub fn oldest_wait(&self) -> Duration {
        let state = self.lock();
        state.arrivals.values().next().map(|arrived| arrived.elapsed()).unwrap_or_default()
    }

    /// Whether every record through `seq` that was acknowledged is committed.
    pub fn committed_through(&self, seq: u64) -> bool {
        self.lock().arrivals.keys().next().is_none_or(|oldest| *oldest > seq)
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// No more pushes are coming; wake the writer so it can drain and stop.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(taken: &Taken<&str>) -> Vec<u64> {
        taken.entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn committed_through_waits_for_every_acknowledged_record_up_to_it() {
        let queue = CommitQueue::new(1, 1 << 20);
        assert!(queue.committed_through(5), "nothing acknowledged yet");
        queue.push(1, "a", 1);
        queue.push(2, "b", 1);
        queue.push(7, "later", 1);
        assert!(!queue.committed_through(2));
        queue.release(1, 1);
        assert!(!queue.committed_through(2));
        queue.release(2, 1);
        assert!(queue.committed_through(2), "7 is after the bound");
        assert!(!queue.committed_through(7));
    }

    #[test]
    fn in_order_pushes_are_ready_at_once() {
        let queue = CommitQueue::new(1, 1000);
        queue.push(1, "a", 10);
        queue.push(2, "b", 10);
        let taken = queue.take(Duration::ZERO);
        assert_eq!(seqs(&taken), vec![1, 2]);
        assert_eq!(taken.entries[1].item, "b");
        assert!(!taken.drained);
    }

    #[test]
    fn early_records_wait_for_the_gap() {
        let queue = CommitQueue::new(5, 1000);
        queue.push(7, "c", 1);
        queue.push(6, "b", 1);
        assert!(queue.take(Duration::ZERO).entries.is_empty());
        assert_eq!(queue.waiting(), 2);
        queue.push(5, "a", 1);
        assert_eq!(seqs(&queue.take(Duration::ZERO)), vec![5, 6, 7]);
        queue.push(8, "d", 1);
        assert_eq!(seqs(&queue.take(Duration::ZERO)), vec![8]);
    }

    #[test]
    fn bytes_count_until_released() {
        let queue = CommitQueue::new(1, 100);
        queue.push(1, "a", 60);
        assert!(!queue.is_full());
        queue.push(2, "b", 40);
        assert!(queue.is_full());
        let taken = queue.take(Duration::ZERO);
        assert!(queue.is_full(), "taking is not committing");
        assert!(queue.oldest_wait() > Duration::ZERO, "acknowledged but not yet queryable");
        queue.release(2, taken.entries.iter().map(|e| e.bytes).sum());
        assert_eq!(queue.bytes(), 0);
        assert!(!queue.is_full());
        assert_eq!(queue.oldest_wait(), Duration::ZERO);
    }

    #[test]
    fn close_reports_drained_only_without_stragglers() {
        let queue = CommitQueue::new(1, 100);
        queue.push(1, "a", 1);
        queue.push(3, "c", 1);
        queue.close();
        let taken = queue.take(Duration::from_secs(5));
        assert_eq!(seqs(&taken), vec![1]);
        assert!(!taken.drained, "seq 3 still waits for seq 2");
        queue.push(2, "b", 1);
        let taken = queue.take(Duration::from_secs(5));
        assert_eq!(seqs(&taken), vec![2, 3]);
        assert!(taken.drained);
    }

    #[test]
    fn take_wakes_on_push_from_another_thread() {
        let queue = std::sync::Arc::new(CommitQueue::new(1, 100));
        let pusher = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.push(1, "a", 1))
        };
        let mut got = Vec::new();
        for _ in 0..100 {
            got.extend(queue.take(Duration::from_millis(100)).entries.into_iter().map(|e| e.seq));
            if !got.is_empty() {
                break;
            }
        }
        pusher.join().unwrap();
        assert_eq!(got, vec![1]);
    }
}
