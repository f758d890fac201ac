//! Segment files: naming, listing and validating scans. A segment is named by
//! the seq of its first record, zero-padded to 20 digits, so a directory listing
//! sorted by name is sorted by seq, and an empty segment still says which seq
//! comes next.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::error::{IoContext, SpoolError};
use super::record::{Header, Next, RecordReader};

const SUFFIX: &str = ".seg";
const DIGITS: usize = 20;

pub fn file_name(first_seq: u64) -> String {
    format!("{first_seq:0width$}{SUFFIX}", width = DIGITS)
}

pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

const SPARE_SUFFIX: &str = ".spare";

/// The name a released segment gets while it waits to be reused: its own,
/// with another suffix, so listings of segments ignore it.
pub fn spare_name(segment_name: &str) -> Option<String> {
    let first_seq = parse_file_name(segment_name)?;
    Some(format!("{first_seq:0width$}{SPARE_SUFFIX}", width = DIGITS))
}

/// Spare segment files in `dir`, oldest first.
pub fn list_spares(dir: &Path) -> Result<Vec<PathBuf>, SpoolError> {
    let read_error = || format!("list spool directory {}", dir.display());
    let mut spares = Vec::new();
    for entry in fs::read_dir(dir).context(read_error)? {
        let entry = entry.context(read_error)?;
        if entry.file_name().to_str().is_some_and(|name| name.ends_with(SPARE_SUFFIX)) {
            spares.push(entry.path());
        }
    }
    spares.sort();
    Ok(spares)
}

/// A segment file found in the spool directory.
#[derive(Debug, Clone)]
pub struct Listed {
    pub first_seq: u64,
    pub path: PathBuf,
}

impl Listed {
    pub fn name(&self) -> String {
        file_name(self.first_seq)
    }
}

/// Every segment file in `dir`, in seq order; other files are ignored.
pub fn list(dir: &Path) -> Result<Vec<Listed>, SpoolError> {
    let read_error = || format!("list spool directory {}", dir.display());
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).context(read_error)? {
        let entry = entry.context(read_error)?;
        let name = entry.file_name();
        if let Some(first_seq) = name.to_str().and_then(parse_file_name) {
            segments.push(Listed { first_seq, path: entry.path() });
        }
    }
    segments.sort_by_key(|segment| segment.first_seq);
    Ok(segments)
}

/// The outcome of validating one segment from its start.
#[derive(Debug)]
pub struct Scan {
    /// Disk size of each valid record, in seq order.
    pub record_sizes: Vec<u32>,
    /// One past the last valid record's seq (the first seq if there is none).
    pub end_seq: u64,
    /// Bytes covered by valid records: where a cut would go.
    pub valid_len: u64,
    pub file_len: u64,
    pub problem: Option<String>,
}

/// Reads every record, verifying checksums and that seqs run on from `first_seq`.
pub fn scan(path: &Path, first_seq: u64) -> Result<Scan, SpoolError> {
    let read_error = || format!("read segment {}", path.display());
    let file = File::open(path).context(read_error)?;
    let mut reader = RecordReader::new(file).context(read_error)?;
    let mut scan =
        Scan { record_sizes: Vec::new(), end_seq: first_seq, valid_len: 0, file_len: reader.file_len(), problem: None };
    while let Some(header) = next_valid_header(&mut reader, &mut scan).context(read_error)? {
        if reader.read_payload(&header).context(read_error)?.is_none() {
            scan.problem = Some(format!("checksum mismatch in record seq {}", header.seq));
            break;
        }
        scan.record_sizes.push(header.record_len() as u32);
        scan.end_seq += 1;
        scan.valid_len = reader.offset();
    }
    Ok(scan)
}

/// The next header if it is structurally valid and carries the expected seq;
/// otherwise records the problem in `scan` and returns `None`.
fn next_valid_header(reader: &mut RecordReader, scan: &mut Scan) -> std::io::Result<Option<Header>> {
    match reader.next_header()? {
        Next::End => Ok(None),
        Next::Invalid(problem) => {
            scan.problem = Some(problem);
            Ok(None)
        }
        Next::Header(header) if header.seq != scan.end_seq => {
            scan.problem = Some(format!("seq {} where {} was expected", header.seq, scan.end_seq));
            Ok(None)
        }
        Next::Header(header) => Ok(Some(header)),
    }
}

/// Makes a directory's entries (created, renamed or removed files) durable.
pub fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir).and_then(|handle| handle.sync_all()).context(|| format!("sync spool directory {}", dir.display()))
}
