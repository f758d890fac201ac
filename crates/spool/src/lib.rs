//! The durable write-ahead spool between the OTLP receiver and the lake writer.
//!
//! The receiver acknowledges a request only once its raw body is on stable
//! storage here; the lake writer commits rows together with the highest seq they
//! cover, and after a crash the spool replays what came after that checkpoint.
//! Exactly-once therefore rests on three properties kept by this module: seqs
//! are consecutive and never reused (not even after everything is released and
//! the directory is reopened), an acknowledged record is durable along with
//! every record before it, and replay returns records in seq order.
//!
//! **Group commit.** An append writes its record into the active segment under
//! a mutex (a `write` into the page cache, microseconds), then waits until some
//! fsync that *started after* its write has finished. The first waiter to find
//! no fsync in flight becomes the leader: it notes the last seq written so far
//! and takes handles to the files holding unsynced records (segments rolled away
//! from since the last round, the active segment, and the directory if a
//! segment was created), releases every lock, fsyncs them, then publishes the
//! noted seq as durable and wakes everyone on a condvar. Appenders that arrive
//! during that fsync keep writing and queue for the next round, so N concurrent
//! appends cost about two fsyncs, not N. A failed fsync leaves the page cache in
//! an unknown state, so it fails the spool for good: every waiter not yet
//! durable gets [`SpoolError::Failed`], and so does every later append.
//!
//! **On-disk format.** A directory holds `writer_id` (32 lowercase hex chars and
//! a newline), `lock` (empty; flocked while a spool has the directory open) and
//! segment files named by the seq of their first record, zero-padded to 20
//! digits (`00000000000000000001.seg`), so name order is seq order and an empty
//! segment still records the next seq. A segment is a plain
//! concatenation of records; a new one starts once the active one reaches
//! `segment_bytes`. Each record is a 20-byte header and the payload:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | magic `0xC5` |
//! | 1 | 1 | format version, `1` |
//! | 2 | 1 | kind (the caller's tag) |
//! | 3 | 1 | reserved, `0` |
//! | 4 | 4 | payload length, u32 little-endian |
//! | 8 | 8 | seq, u64 little-endian |
//! | 16 | 4 | CRC-32 (IEEE) of bytes 0..16 followed by the payload, little-endian |
//!
//! A record is valid only if all of it is present, the checksum matches and its
//! seq follows the previous one. Opening validates every segment; the first
//! invalid byte (a torn tail after a crash, a flipped bit) ends the spool there:
//! that segment is truncated and later segments are removed, all reported in
//! [`OpenReport`]. Released segments leave oldest first with a directory
//! fsync after each, so a crash can never leave a gap at the front.
//!
//! **Reused segments.** A released segment is not deleted while fewer than
//! [`SPARE_SEGMENTS`] spares wait: it is renamed to `<first seq>.spare` and the
//! next new segment is written over it from its start. Deleting a segment frees
//! its blocks, and on ext4 (worse when mounted with `discard`) the journal
//! commit that frees 64 MB held every concurrent fsync for up to 100 ms;
//! overwriting allocated blocks frees and allocates nothing (PostgreSQL recycles
//! its WAL segments for the same reason). A reused segment's old bytes beyond
//! the new records fail validation (their seqs are older than any new one), so
//! after a crash recovery cuts them like a torn tail; the spool cuts them itself
//! before moving on to the next segment and when it closes.

mod error;
mod record;
mod recovery;
mod replay;
mod segment;
mod state;
mod writer_id;

#[cfg(test)]
mod tests;

use std::fs::{File, OpenOptions};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

pub use error::SpoolError;
pub use record::{Record, MAX_PAYLOAD};
pub use replay::Replay;

use error::IoContext;
use recovery::Recovered;
use state::{SyncBatch, WriteState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolOptions {
    /// A new segment file starts once the active one has reached this size.
    pub segment_bytes: u64,
    /// Appends are refused with [`SpoolError::Full`] while the unreleased
    /// records would exceed this many bytes (headers included).
    pub max_backlog_bytes: u64,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        SpoolOptions { segment_bytes: 64 << 20, max_backlog_bytes: 1 << 30 }
    }
}

/// What opening found and what it had to cut.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Valid records kept.
    pub records: u64,
    /// Bytes of valid records kept, headers included.
    pub bytes: u64,
    /// Bytes cut off or removed with whole segments.
    pub truncated_bytes: u64,
    pub truncation_reason: Option<String>,
    /// Segment files kept.
    pub segments: usize,
}

/// Records appended but not yet released, and their size on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub records: u64,
    pub bytes: u64,
}

/// Progress of group commit, under its own mutex so that waiting for an fsync
/// never blocks writers.
struct SyncState {
    durable_seq: u64,
    in_flight: bool,
    failure: Option<String>,
}

#[cfg(test)]
type SyncHook = std::sync::Arc<dyn Fn() -> io::Result<()> + Send + Sync>;

pub struct Spool {
    /// Held for the spool's lifetime: two writers on one directory would
    /// interleave records and reuse seqs.
    _directory_lock: File,
    dir: PathBuf,
    options: SpoolOptions,
    writer_id: String,
    write: Mutex<WriteState>,
    sync: Mutex<SyncState>,
    sync_finished: Condvar,
    /// Serializes segment deletion so it always proceeds oldest first.
    release_order: Mutex<()>,
    /// Released segment files waiting to be written over, oldest first.
    spares: Mutex<Vec<PathBuf>>,
    sync_rounds: AtomicU64,
    /// Runs inside every sync round before the fsyncs (tests stall or fail rounds).
    #[cfg(test)]
    sync_hook: Mutex<Option<SyncHook>>,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, recovering from whatever a
    /// crash left behind. Everything kept is fsynced before this returns.
    pub fn open(dir: &Path, options: SpoolOptions) -> Result<(Spool, OpenReport), SpoolError> {
        std::fs::create_dir_all(dir).context(|| format!("create spool directory {}", dir.display()))?;
        let directory_lock = lock_directory(dir)?;
        let writer_id = writer_id::load_or_create(dir)?;
        let mut recovered = recovery::recover(dir)?;
        let spares = list_spares(dir)?;
        if recovered.segments.is_empty() {
            create_first_segment(dir, &mut recovered)?;
        }
        let report = recovered.report.clone();
        let durable_seq = recovered.next_seq() - 1;
        let active_path = &recovered.segments.last().expect("at least one segment").path;
        let active = OpenOptions::new()
            .append(true)
            .open(active_path)
            .context(|| format!("open segment {}", active_path.display()))?;
        let spool = Spool {
            _directory_lock: directory_lock,
            dir: dir.to_path_buf(),
            options,
            writer_id,
            write: Mutex::new(WriteState::from_recovered(recovered, active)),
            sync: Mutex::new(SyncState { durable_seq, in_flight: false, failure: None }),
            sync_finished: Condvar::new(),
            release_order: Mutex::new(()),
            spares: Mutex::new(spares),
            sync_rounds: AtomicU64::new(0),
            #[cfg(test)]
            sync_hook: Mutex::new(None),
        };
        Ok((spool, report))
    }

    /// The id stored in `<dir>/writer_id`, the same on every open.
    pub fn writer_id(&self) -> &str {
        &self.writer_id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record and returns its seq once it is durable.
    pub fn append(&self, kind: u8, payload: &[u8]) -> Result<u64, SpoolError> {
        let seq = self.write_record(kind, payload)?;
        self.wait_until_durable(seq)?;
        Ok(seq)
    }

    /// The durable records with `seq > after_seq`, read back from the segment
    /// files in seq order. Meant for start-up: releasing concurrently may delete
    /// a segment the iterator has yet to open, which it reports as an error.
    pub fn replay(&self, after_seq: u64) -> Result<Replay, SpoolError> {
        let through_seq = lock(&self.sync).durable_seq;
        let segments = lock(&self.write).segments_after(after_seq);
        Ok(Replay::new(segments, after_seq, through_seq))
    }

    /// Declares every record up to `seq` committed downstream: they leave the
    /// backlog and segments holding nothing else are deleted. The active segment
    /// stays (at most `segment_bytes` of released data on disk) unless `seq` is
    /// beyond the last seq, as when the lake's checkpoint is ahead of a spool
    /// directory that was wiped: then a new segment starts at `seq + 1`, so new
    /// records are never hidden behind the checkpoint.
    pub fn release_through(&self, seq: u64) -> Result<(), SpoolError> {
        let _oldest_first = lock(&self.release_order);
        let released = {
            let mut write = lock(&self.write);
            if seq >= write.next_seq() {
                self.skip_to(&mut write, seq)?;
            }
            write.release_through(seq)
        };
        self.delete_segments(released)
    }

    /// The lowest seq still on disk (the next seq if there is none). After a
    /// clean history it is at most the lake's checkpoint + 1; anything higher
    /// means records were lost outside the spool's control.
    pub fn oldest_seq(&self) -> u64 {
        lock(&self.write).oldest_seq()
    }

    /// Whether a record of `payload_len` bytes would fit under the backlog
    /// bound now (for refusing a request before its body is read).
    pub fn has_room(&self, payload_len: usize) -> bool {
        lock(&self.write).check_room(payload_len, self.options.max_backlog_bytes).is_ok()
    }

    /// Unreleased records. Right after `open` that is everything on disk, since
    /// the spool does not know the lake's checkpoint until `release_through`.
    pub fn backlog(&self) -> Backlog {
        lock(&self.write).backlog()
    }

    /// Bytes the spool's files take on disk now: live segments (released
    /// records the active segment still holds included) and spare segments
    /// waiting to be written over. More than the backlog, which counts only
    /// unreleased records. Files that vanish while they are listed count as 0.
    pub fn disk_bytes(&self) -> Result<u64, SpoolError> {
        let segments = segment::list(&self.dir)?.into_iter().map(|listed| listed.path);
        let spares = segment::list_spares(&self.dir)?;
        Ok(segments.chain(spares).map(|path| std::fs::metadata(path).map_or(0, |meta| meta.len())).sum())
    }

    /// The seq of the last record written (durable, or about to be); 0 if none.
    pub fn last_seq(&self) -> u64 {
        lock(&self.write).next_seq() - 1
    }

    /// Group-commit rounds run so far; each fsyncs what it covers (usually the
    /// active segment only) once.
    pub fn sync_count(&self) -> u64 {
        self.sync_rounds.load(Ordering::Relaxed)
    }

    fn write_record(&self, kind: u8, payload: &[u8]) -> Result<u64, SpoolError> {
        if payload.len() as u64 > MAX_PAYLOAD {
            return Err(SpoolError::TooLarge { bytes: payload.len() as u64, limit: MAX_PAYLOAD });
        }
        let mut write = lock(&self.write);
        write.check_usable()?;
        write.check_room(payload.len(), self.options.max_backlog_bytes)?;
        if write.needs_roll(self.options.segment_bytes) {
            write.trim_stale_tail()?;
            let (file, path, stale_end) = self.create_segment(write.next_seq())?;
            write.switch_to(file, path, stale_end);
        }
        write.write(kind, payload)
    }

    fn skip_to(&self, write: &mut WriteState, released_seq: u64) -> Result<(), SpoolError> {
        let first_seq = released_seq
            .checked_add(1)
            .ok_or_else(|| SpoolError::Corrupt(format!("cannot release through seq {released_seq}")))?;
        write.trim_stale_tail()?;
        let (file, path, stale_end) = self.create_segment(first_seq)?;
        write.skip_to(file, path, stale_end, first_seq);
        Ok(())
    }

    /// A new segment file: a spare written over from its start, or a new empty
    /// file. Returns the file's old length with it (0 for a new file). Creating
    /// a segment changes nothing already written, so a failure here is returned
    /// without failing the spool.
    fn create_segment(&self, first_seq: u64) -> Result<(File, PathBuf, u64), SpoolError> {
        let path = self.dir.join(segment::file_name(first_seq));
        if let Some(reused) = self.reuse_spare(&path) {
            return Ok(reused);
        }
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .context(|| format!("create segment {}", path.display()))?;
        Ok((file, path, 0))
    }

    /// The oldest spare renamed to `path`, opened for writing from its start. A
    /// spare that cannot be taken is dropped from the list and a new file is made
    /// instead.
    fn reuse_spare(&self, path: &Path) -> Option<(File, PathBuf, u64)> {
        let spare = {
            let mut spares = lock(&self.spares);
            (!spares.is_empty()).then(|| spares.remove(0))?
        };
        std::fs::rename(&spare, path).ok()?;
        let reused = OpenOptions::new().write(true).open(path).and_then(|file| Ok((file.metadata()?.len(), file)));
        match reused {
            Ok((stale_end, file)) => Some((file, path.to_path_buf(), stale_end)),
            Err(_) => {
                // the name must be free for a new file; until the directory is synced
                // the spare may come back under its old name, which is harmless
                let _ = std::fs::remove_file(path);
                None
            }
        }
    }

    /// Released segments leave oldest first: kept as spares while there are
    /// fewer than [`SPARE_SEGMENTS`], deleted otherwise.
    fn delete_segments(&self, paths: Vec<PathBuf>) -> Result<(), SpoolError> {
        for path in paths {
            let kept_as_spare = lock(&self.spares).len() < SPARE_SEGMENTS && self.keep_as_spare(&path);
            if !kept_as_spare {
                match std::fs::remove_file(&path) {
                    Err(error) if error.kind() != io::ErrorKind::NotFound => {
                        return Err(SpoolError::io(format!("delete segment {}", path.display()), error));
                    }
                    _ => {}
                }
            }
            segment::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    fn keep_as_spare(&self, path: &Path) -> bool {
        let Some(spare) = path.file_name().and_then(|name| name.to_str()).and_then(segment::spare_name) else {
            return false;
        };
        let spare = self.dir.join(spare);
        if std::fs::rename(path, &spare).is_err() {
            return false;
        }
        lock(&self.spares).push(spare);
        true
    }

    /// Returns once `seq` is durable, leading sync rounds while needed.
    fn wait_until_durable(&self, seq: u64) -> Result<(), SpoolError> {
        let mut sync = lock(&self.sync);
        loop {
            if sync.durable_seq >= seq {
                return Ok(());
            }
            if let Some(reason) = &sync.failure {
                return Err(SpoolError::Failed { reason: reason.clone() });
            }
            if sync.in_flight {
                sync = self.sync_finished.wait(sync).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            sync.in_flight = true;
            drop(sync);
            let outcome = self.lead_sync_round();
            sync = self.finish_sync_round(outcome);
        }
    }

    /// One group-commit round, run with no lock held during the fsyncs.
    /// Returns the seq through which everything is now durable.
    fn lead_sync_round(&self) -> Result<u64, String> {
        let batch = lock(&self.write).take_sync_batch();
        self.sync_rounds.fetch_add(1, Ordering::Relaxed);
        let outcome = catch_unwind(AssertUnwindSafe(|| self.sync_batch(&batch)))
            .unwrap_or_else(|_| Err("sync round panicked".to_string()));
        if let Err(reason) = &outcome {
            lock(&self.write).fail(reason);
        }
        outcome.map(|()| batch.through_seq)
    }

    fn sync_batch(&self, batch: &SyncBatch) -> Result<(), String> {
        #[cfg(test)]
        self.run_sync_hook().map_err(|error| format!("fsync segment: {error}"))?;
        for file in &batch.files {
            file.sync_data().map_err(|error| format!("fsync segment: {error}"))?;
        }
        if batch.directory {
            segment::sync_dir(&self.dir).map_err(|error| error.to_string())?;
        }
        Ok(())
    }

    fn finish_sync_round(&self, outcome: Result<u64, String>) -> MutexGuard<'_, SyncState> {
        let mut sync = lock(&self.sync);
        sync.in_flight = false;
        match outcome {
            Ok(through_seq) => sync.durable_seq = sync.durable_seq.max(through_seq),
            Err(reason) => {
                sync.failure.get_or_insert(reason);
            }
        }
        self.sync_finished.notify_all();
        sync
    }

    #[cfg(test)]
    fn set_sync_hook(&self, hook: Option<SyncHook>) {
        *lock(&self.sync_hook) = hook;
    }

    #[cfg(test)]
    fn run_sync_hook(&self) -> io::Result<()> {
        let hook = lock(&self.sync_hook).clone();
        hook.map_or(Ok(()), |hook| hook())
    }
}

/// Released segment files kept for reuse, at most; each is up to
/// `segment_bytes` (plus its last record) on disk.
pub const SPARE_SEGMENTS: usize = 2;

/// Spare segments left by an earlier run, oldest first; any beyond
/// [`SPARE_SEGMENTS`] are deleted.
fn list_spares(dir: &Path) -> Result<Vec<PathBuf>, SpoolError> {
    let mut spares = segment::list_spares(dir)?;
    for extra in spares.split_off(spares.len().min(SPARE_SEGMENTS)) {
        std::fs::remove_file(&extra).context(|| format!("delete spare segment {}", extra.display()))?;
    }
    Ok(spares)
}

impl Drop for Spool {
    /// A reused active segment loses its stale bytes at a clean close, so the
    /// next open has nothing to cut and nothing to report. Best effort: if this
    /// fails, the next open cuts them instead.
    fn drop(&mut self) {
        let mut write = lock(&self.write);
        if write.trim_stale_tail().is_ok() {
            let _ = write.sync_active();
        }
    }
}

/// Takes an exclusive advisory lock on `<dir>/lock` (flock on Unix), released
/// when the returned file is closed, including when the process dies.
fn lock_directory(dir: &Path) -> Result<File, SpoolError> {
    let path = dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .context(|| format!("open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(SpoolError::InUse { dir: dir.to_path_buf() }),
        Err(std::fs::TryLockError::Error(error)) => Err(SpoolError::io(format!("lock {}", path.display()), error)),
    }
}

fn create_first_segment(dir: &Path, recovered: &mut Recovered) -> Result<(), SpoolError> {
    let path = dir.join(segment::file_name(1));
    OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&path)
        .context(|| format!("create segment {}", path.display()))?;
    segment::sync_dir(dir)?;
    recovered.segments.push(recovery::KeptSegment { first_seq: 1, end_seq: 1, path, len: 0 });
    Ok(())
}

/// The spool's critical sections leave consistent state at every point a
/// panic could occur, so a poisoned lock is taken over rather than propagated.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
