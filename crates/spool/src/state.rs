//! The write side of the spool, guarded by one mutex: the active segment, the
//! list of live segments, the next seq and the backlog. Everything here is
//! cheap (a `write` into the page cache, some bookkeeping); fsyncs happen
//! outside this lock, on file handles taken out of it as a [`SyncBatch`].

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use super::error::SpoolError;
use super::record::{encode_header, record_len};
use super::recovery::Recovered;
use super::Backlog;

/// A live segment holding records `first_seq..end_seq`.
#[derive(Debug)]
pub struct Span {
    pub first_seq: u64,
    pub end_seq: u64,
    pub path: PathBuf,
}

/// What one group-commit round must fsync so that every record up to
/// `through_seq` is durable.
pub struct SyncBatch {
    pub through_seq: u64,
    pub files: Vec<Arc<File>>,
    pub directory: bool,
}

pub struct WriteState {
    active: Arc<File>,
    active_len: u64,
    /// Length the active file had before it was reused (0 for a new file):
    /// bytes from `active_len` up to here are stale records of its earlier life.
    stale_end: u64,
    /// Oldest first; the last one is the active segment.
    segments: VecDeque<Span>,
    next_seq: u64,
    /// Segments rolled away from since the last sync round; still need an fsync.
    unsynced: Vec<Arc<File>>,
    /// A segment file was created since the last sync round.
    directory_dirty: bool,
    /// Disk size of every record not yet released, ending at `next_seq - 1`.
    unreleased: VecDeque<u32>,
    unreleased_bytes: u64,
    /// Set by a failed write or fsync; all later appends are refused.
    failure: Option<String>,
}

impl WriteState {
    /// `active` is the open handle of the last recovered segment.
    pub fn from_recovered(recovered: Recovered, active: File) -> Self {
        let active_len = recovered.segments.last().map_or(0, |segment| segment.len);
        let next_seq = recovered.next_seq();
        let segments = recovered
            .segments
            .into_iter()
            .map(|segment| Span { first_seq: segment.first_seq, end_seq: segment.end_seq, path: segment.path })
            .collect();
        let unreleased_bytes = recovered.record_sizes.iter().map(|&size| u64::from(size)).sum();
        WriteState {
            active: Arc::new(active),
            active_len,
            stale_end: 0,
            segments,
            next_seq,
            unsynced: Vec::new(),
            directory_dirty: false,
            unreleased: recovered.record_sizes,
            unreleased_bytes,
            failure: None,
        }
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn check_usable(&self) -> Result<(), SpoolError> {
        match &self.failure {
            Some(reason) => Err(SpoolError::Failed { reason: reason.clone() }),
            None => Ok(()),
        }
    }

    pub fn fail(&mut self, reason: &str) {
        self.failure.get_or_insert_with(|| reason.to_string());
    }

    pub fn check_room(&self, payload_len: usize, limit: u64) -> Result<(), SpoolError> {
        if self.unreleased_bytes + record_len(payload_len) > limit {
            return Err(SpoolError::Full { backlog_bytes: self.unreleased_bytes, limit });
        }
        Ok(())
    }

    /// The active segment is past its size and holds at least one record.
    pub fn needs_roll(&self, segment_bytes: u64) -> bool {
        self.active_len >= segment_bytes && self.active_len > 0
    }

    /// Makes `file` the active segment, starting at the next seq: a new empty
    /// file, or a reused one written over from its start, whose old length is
    /// `stale_end`. The old segment waits for the next sync round, which also
    /// syncs the directory so the new file's name is durable before any record
    /// in it is acknowledged. Call [`trim_stale_tail`](Self::trim_stale_tail)
    /// first.
    pub fn switch_to(&mut self, file: File, path: PathBuf, stale_end: u64) {
        debug_assert!(self.stale_end <= self.active_len, "the segment left behind was trimmed");
        let previous = std::mem::replace(&mut self.active, Arc::new(file));
        self.unsynced.push(previous);
        self.directory_dirty = true;
        self.active_len = 0;
        self.stale_end = stale_end;
        self.segments.push_back(Span { first_seq: self.next_seq, end_seq: self.next_seq, path });
    }

    /// Like [`switch_to`](Self::switch_to), but the new segment starts at
    /// `first_seq` beyond the next seq: every seq before it counts as released.
    pub fn skip_to(&mut self, file: File, path: PathBuf, stale_end: u64, first_seq: u64) {
        debug_assert!(first_seq > self.next_seq);
        self.unreleased.clear();
        self.unreleased_bytes = 0;
        self.next_seq = first_seq;
        self.switch_to(file, path, stale_end);
    }

    /// Cuts a reused active segment's stale bytes off before the spool moves on
    /// to another segment: recovery ends the spool at the first invalid byte,
    /// so stale bytes in a segment that is not the last would cut every later
    /// one. The cut becomes durable in the next sync round (fdatasync persists
    /// a size change), before any record of the next segment is acknowledged.
    pub fn trim_stale_tail(&mut self) -> Result<(), SpoolError> {
        if self.stale_end <= self.active_len {
            return Ok(());
        }
        if let Err(source) = self.active.set_len(self.active_len) {
            let context = "cut the stale tail of a reused spool segment".to_string();
            self.fail(&format!("{context}: {source}"));
            return Err(SpoolError::Io { context, source });
        }
        self.stale_end = 0;
        Ok(())
    }

    /// Writes one record to the active segment and returns its seq. A failed
    /// write may leave part of the record in the file, so it fails the spool.
    pub fn write(&mut self, kind: u8, payload: &[u8]) -> Result<u64, SpoolError> {
        let seq = self.next_seq;
        let header = encode_header(seq, kind, payload);
        let mut file = &*self.active;
        if let Err(source) = file.write_all(&header).and_then(|()| file.write_all(payload)) {
            let context = format!("write spool record seq {seq}");
            self.fail(&format!("{context}: {source}"));
            return Err(SpoolError::Io { context, source });
        }
        let size = record_len(payload.len());
        self.next_seq += 1;
        self.active_len += size;
        self.segments.back_mut().expect("an active segment").end_seq = self.next_seq;
        self.unreleased.push_back(size as u32);
        self.unreleased_bytes += size;
        Ok(seq)
    }

    pub fn sync_active(&self) -> std::io::Result<()> {
        self.active.sync_data()
    }

    /// Everything a sync round started now must fsync.
    pub fn take_sync_batch(&mut self) -> SyncBatch {
        let mut files = std::mem::take(&mut self.unsynced);
        files.push(Arc::clone(&self.active));
        SyncBatch { through_seq: self.next_seq - 1, files, directory: std::mem::take(&mut self.directory_dirty) }
    }

    /// Drops records up to `seq` from the backlog and hands back the paths of
    /// segments that now hold only released records (never the active one).
    pub fn release_through(&mut self, seq: u64) -> Vec<PathBuf> {
        self.release_all_before(seq.saturating_add(1));
        let mut released = Vec::new();
        while self.segments.len() > 1 && self.segments[0].end_seq <= seq.saturating_add(1) {
            released.push(self.segments.pop_front().expect("checked length").path);
        }
        released
    }

    fn release_all_before(&mut self, end_seq: u64) {
        let mut first_unreleased = self.next_seq - self.unreleased.len() as u64;
        while first_unreleased < end_seq {
            let Some(size) = self.unreleased.pop_front() else { break };
            self.unreleased_bytes -= u64::from(size);
            first_unreleased += 1;
        }
    }

    pub fn oldest_seq(&self) -> u64 {
        self.segments.front().map_or(self.next_seq, |span| span.first_seq)
    }

    pub fn backlog(&self) -> Backlog {
        Backlog { records: self.unreleased.len() as u64, bytes: self.unreleased_bytes }
    }

    /// First seq and path of every segment holding a record after `after_seq`.
    pub fn segments_after(&self, after_seq: u64) -> Vec<(u64, PathBuf)> {
        self.segments
            .iter()
            .filter(|span| span.end_seq > after_seq.saturating_add(1))
            .map(|span| (span.first_seq, span.path.clone()))
            .collect()
    }
}
