//! Replay streams records back from the segment files instead of collecting
//! them, so a backlog of a gigabyte costs one record of memory at a time.
//! Records at or before the caller's checkpoint are skipped without reading
//! their payloads; records past what was durable when replay started are not
//! handed out.

use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;

use super::error::{IoContext, SpoolError};
use super::record::{Header, Next, Record, RecordReader};

/// Iterator over the records with `after_seq < seq <= through_seq`, in seq
/// order. It ends after the first error.
pub struct Replay {
    pending: VecDeque<(u64, PathBuf)>,
    current: Option<(RecordReader, PathBuf)>,
    after_seq: u64,
    through_seq: u64,
    expected_seq: Option<u64>,
    finished: bool,
}

impl Replay {
    pub(crate) fn new(segments: Vec<(u64, PathBuf)>, after_seq: u64, through_seq: u64) -> Self {
        Replay {
            expected_seq: segments.first().map(|(first_seq, _)| *first_seq),
            pending: segments.into(),
            current: None,
            after_seq,
            through_seq,
            finished: false,
        }
    }

    fn next_record(&mut self) -> Result<Option<Record>, SpoolError> {
        while let Some(header) = self.next_header()? {
            let (reader, path) = self.current.as_mut().expect("a header came from the current segment");
            let read_error = || format!("read segment {}", path.display());
            if header.seq <= self.after_seq {
                reader.skip_payload(&header).context(read_error)?;
                continue;
            }
            let Some(payload) = reader.read_payload(&header).context(read_error)? else {
                return Err(corrupt(path, &format!("checksum mismatch in record seq {}", header.seq)));
            };
            return Ok(Some(Record { seq: header.seq, kind: header.kind, payload }));
        }
        self.check_complete()?;
        Ok(None)
    }

    /// The next header in seq order, moving on to later segments as each ends;
    /// `None` once past `through_seq` (bytes beyond it may still be in flight).
    fn next_header(&mut self) -> Result<Option<Header>, SpoolError> {
        loop {
            let expected = match self.expected_seq {
                Some(expected) if expected <= self.through_seq => expected,
                _ => return Ok(None),
            };
            if !self.open_next_segment_if_needed()? {
                return Ok(None);
            }
            let (reader, path) = self.current.as_mut().expect("just opened");
            match reader.next_header().context(|| format!("read segment {}", path.display()))? {
                Next::End => self.current = None,
                Next::Invalid(problem) => return Err(corrupt(path, &problem)),
                Next::Header(header) if header.seq != expected => {
                    return Err(corrupt(path, &format!("seq {} where {expected} was expected", header.seq)));
                }
                Next::Header(header) => {
                    self.expected_seq = Some(expected + 1);
                    return Ok(Some(header));
                }
            }
        }
    }

    /// Returns false when no segment is left.
    fn open_next_segment_if_needed(&mut self) -> Result<bool, SpoolError> {
        if self.current.is_some() {
            return Ok(true);
        }
        let Some((_, path)) = self.pending.pop_front() else { return Ok(false) };
        let reader =
            File::open(&path).and_then(RecordReader::new).context(|| format!("open segment {}", path.display()))?;
        self.current = Some((reader, path));
        Ok(true)
    }

    /// Every durable record must have been found on disk.
    fn check_complete(&self) -> Result<(), SpoolError> {
        match self.expected_seq {
            Some(expected) if expected <= self.through_seq => Err(SpoolError::Corrupt(format!(
                "replay found records only up to seq {}, expected through {}",
                expected - 1,
                self.through_seq
            ))),
            _ => Ok(()),
        }
    }
}

fn corrupt(path: &std::path::Path, problem: &str) -> SpoolError {
    SpoolError::Corrupt(format!("segment {} changed after open: {problem}", path.display()))
}

impl Iterator for Replay {
    type Item = Result<Record, SpoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let outcome = self.next_record();
        if !matches!(outcome, Ok(Some(_))) {
            self.finished = true;
        }
        outcome.transpose()
    }
}
