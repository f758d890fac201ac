//! Start-up recovery. Segments are validated in seq order; the first invalid
//! byte (torn write, checksum mismatch, seq gap, a segment that does not start
//! where the previous one ended) ends the spool: its segment is truncated there
//! and every later segment is removed. Nothing after such a point can have been
//! acknowledged, because an acknowledgement implies every earlier record was
//! durable. Everything kept is fsynced before the spool is used, so what replay
//! hands out can never vanish in a later power loss.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use super::error::{IoContext, SpoolError};
use super::segment::{self, Listed, Scan};
use super::OpenReport;

/// A segment kept by recovery: records `first_seq..end_seq`.
#[derive(Debug)]
pub struct KeptSegment {
    pub first_seq: u64,
    pub end_seq: u64,
    pub path: PathBuf,
    pub len: u64,
}

#[derive(Debug)]
pub struct Recovered {
    pub segments: Vec<KeptSegment>,
    /// Disk size of every kept record, in seq order.
    pub record_sizes: VecDeque<u32>,
    pub report: OpenReport,
}

impl Recovered {
    /// The seq the next append gets: after the last kept record, or the name of
    /// a trailing empty segment, or 1 for an empty spool.
    pub fn next_seq(&self) -> u64 {
        self.segments.last().map_or(1, |segment| segment.end_seq)
    }
}

/// Where validation stopped: segments from `remove_from` on go entirely.
struct Cut {
    remove_from: usize,
    reason: String,
}

pub fn recover(dir: &Path) -> Result<Recovered, SpoolError> {
    let listed = segment::list(dir)?;
    let (mut kept, cut) = validate(&listed)?;
    let mut report = OpenReport::default();
    if let Some(cut) = cut {
        report.truncated_bytes += truncate_invalid_tail(kept.last_mut())?;
        let removed = &listed[cut.remove_from..];
        report.truncated_bytes += remove_segments(removed)?;
        report.truncation_reason = Some(describe_cut(cut.reason, removed.len()));
    }
    sync_kept(dir, &kept)?;
    Ok(summarize(kept, report))
}

/// The valid prefix of the listed segments (the last one possibly invalid from
/// some byte on) and where validation stopped, if it did.
type Validated = (Vec<(Listed, Scan)>, Option<Cut>);

fn validate(listed: &[Listed]) -> Result<Validated, SpoolError> {
    let mut kept: Vec<(Listed, Scan)> = Vec::new();
    for (index, entry) in listed.iter().enumerate() {
        let expected = kept.last().map_or(entry.first_seq, |(_, scan)| scan.end_seq);
        if let Some(reason) = misplaced(entry, expected) {
            return Ok((kept, Some(Cut { remove_from: index, reason })));
        }
        let scan = segment::scan(&entry.path, entry.first_seq)?;
        let problem = scan
            .problem
            .as_ref()
            .map(|problem| format!("segment {} at byte {}: {problem}", entry.name(), scan.valid_len));
        kept.push((entry.clone(), scan));
        if let Some(reason) = problem {
            return Ok((kept, Some(Cut { remove_from: index + 1, reason })));
        }
    }
    Ok((kept, None))
}

fn misplaced(entry: &Listed, expected_first_seq: u64) -> Option<String> {
    if entry.first_seq == 0 {
        return Some(format!("segment {} has seq 0, seqs start at 1", entry.name()));
    }
    (entry.first_seq != expected_first_seq)
        .then(|| format!("segment {} starts at seq {}, expected {expected_first_seq}", entry.name(), entry.first_seq))
}

/// Cuts the invalid bytes off the last kept segment; returns how many went.
fn truncate_invalid_tail(last: Option<&mut (Listed, Scan)>) -> Result<u64, SpoolError> {
    let Some((entry, scan)) = last else { return Ok(0) };
    if scan.problem.is_none() {
        return Ok(0);
    }
    let cut_bytes = scan.file_len - scan.valid_len;
    OpenOptions::new()
        .write(true)
        .open(&entry.path)
        .and_then(|file| {
            file.set_len(scan.valid_len)?;
            file.sync_all()
        })
        .context(|| format!("truncate segment {}", entry.path.display()))?;
    scan.file_len = scan.valid_len;
    Ok(cut_bytes)
}

/// Deletes whole segments after a cut; returns the bytes removed. A crash
/// midway is harmless: the next open finds the same gap and cuts again.
fn remove_segments(removed: &[Listed]) -> Result<u64, SpoolError> {
    let mut bytes = 0;
    for entry in removed {
        let remove_error = || format!("remove segment {}", entry.path.display());
        bytes += fs::metadata(&entry.path).context(remove_error)?.len();
        fs::remove_file(&entry.path).context(remove_error)?;
    }
    Ok(bytes)
}

fn describe_cut(reason: String, removed_segments: usize) -> String {
    match removed_segments {
        0 => reason,
        1 => format!("{reason}; 1 segment removed"),
        n => format!("{reason}; {n} segments removed"),
    }
}

fn sync_kept(dir: &Path, kept: &[(Listed, Scan)]) -> Result<(), SpoolError> {
    for (entry, _) in kept {
        File::open(&entry.path)
            .and_then(|file| file.sync_all())
            .context(|| format!("sync segment {}", entry.path.display()))?;
    }
    segment::sync_dir(dir)
}

fn summarize(kept: Vec<(Listed, Scan)>, mut report: OpenReport) -> Recovered {
    let mut record_sizes = VecDeque::new();
    let mut segments = Vec::with_capacity(kept.len());
    for (entry, scan) in kept {
        report.records += scan.record_sizes.len() as u64;
        report.bytes += scan.valid_len;
        record_sizes.extend(scan.record_sizes);
        segments.push(KeptSegment {
            first_seq: entry.first_seq,
            end_seq: scan.end_seq,
            path: entry.path,
            len: scan.valid_len,
        });
    }
    report.segments = segments.len();
    Recovered { segments, record_sizes, report }
}
