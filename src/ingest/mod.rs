//! Ingest: one OTLP request from body to durable spool record to writer queue.
//!
//! The order is the durability contract: decode fully first (bad input is
//! refused before anything is stored), then append the raw body to the spool
//! and wait for its fsync, and only then hand the decoded rows to the
//! writer and acknowledge. Decoding happens once; the writer never re-parses
//! what a handler already decoded (only replay after a restart decodes again).

pub mod flusher;
pub mod maintenance;
pub mod queue;
pub mod service_graph;
pub mod stats;

use crate::otlp::{self, DecodeError, DecodeLimits, RequestKind, Rows};
use crate::spool::{Spool, SpoolError};
use queue::CommitQueue;
use stats::Stats;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct IngestLimits {
    pub max_decompressed_bytes: usize,
    /// `max_items_per_request`: see `otlp::limits`
    pub max_items_per_request: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    BadRequest(DecodeError),
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Unavailable(String),
}

impl IngestError {
    /// Short reason used as a counter key in `otlp_status()`.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::BadRequest(DecodeError::TooLarge { .. }) => "too large",
            IngestError::BadRequest(_) => "bad request",
            IngestError::Busy(_) => "busy",
            IngestError::Unavailable(_) => "unavailable",
        }
    }
}

/// What an accepted request tells its client (OTLP partial_success).
#[derive(Debug, PartialEq)]
pub struct Accepted {
    pub rejected_items: u64,
    pub rejection_message: String,
}

pub struct Ingest {
    pub spool: Spool,
    pub queue: CommitQueue<Rows>,
    pub stats: Stats,
    limits: IngestLimits,
    writer_failing: AtomicBool,
}

impl Ingest {
    pub fn new(spool: Spool, queue: CommitQueue<Rows>, limits: IngestLimits) -> Arc<Self> {
        Arc::new(Ingest { spool, queue, stats: Stats::default(), limits, writer_failing: AtomicBool::new(false) })
    }

    /// One OTLP export, whichever transport brought it (OTLP/HTTP and OTLP/gRPC
    /// both call this): [`Ingest::accept`], counted in the counters
    /// `otlp_status()` and `/metrics` show.
    pub fn export(&self, kind: RequestKind, body: &[u8]) -> Result<Accepted, IngestError> {
        let signal = kind.signal.name();
        let outcome = self.accept(kind, body);
        match &outcome {
            Ok(accepted) => self.stats.accepted(signal, body.len(), accepted.rejected_items),
            Err(error) => self.stats.rejected(signal, error.reason(), body.len()),
        }
        outcome
    }

    pub fn accept(&self, kind: RequestKind, body: &[u8]) -> Result<Accepted, IngestError> {
        self.admit(body.len())?;
        let limits = DecodeLimits {
            max_items: self.limits.max_items_per_request,
            ..DecodeLimits::new(self.limits.max_decompressed_bytes)
        };
        let decoded = otlp::decode_for_ingest(kind, body, &limits).map_err(IngestError::BadRequest)?;
        let accepted = Accepted { rejected_items: decoded.rejected, rejection_message: decoded.rejection_message };
        if decoded.rows.is_empty() {
            return Ok(accepted); // nothing to store: no spool record, no commit
        }
        let seq = self.spool.append(kind.to_byte(), body).map_err(spool_error)?;
        let bytes = decoded.rows.memory_size();
        self.queue.push(seq, decoded.rows, bytes);
        Ok(accepted)
    }

    /// Refuse early (before reading or decoding a body of `body_bytes`) when
    /// the pipeline is saturated or failing.
    pub fn admit(&self, body_bytes: usize) -> Result<(), IngestError> {
        if self.writer_failing.load(Ordering::Relaxed) {
            return Err(IngestError::Unavailable("storage is failing; see otlp_status().last_error".into()));
        }
        if self.queue.is_full() {
            return Err(IngestError::Busy(format!(
                "write queue is full ({} bytes waiting for commit)",
                self.queue.bytes()
            )));
        }
        if !self.spool.has_room(body_bytes) {
            let backlog = self.spool.backlog();
            return Err(IngestError::Busy(format!(
                "spool is full ({} records, {} bytes waiting for commit)",
                backlog.records, backlog.bytes
            )));
        }
        Ok(())
    }

    pub fn set_writer_failing(&self, failing: bool) {
        self.writer_failing.store(failing, Ordering::Relaxed);
    }

    pub fn is_healthy(&self) -> bool {
        !self.writer_failing.load(Ordering::Relaxed)
    }
}

fn spool_error(error: SpoolError) -> IngestError {
    match error {
        SpoolError::Full { .. } => IngestError::Busy(error.to_string()),
        other => IngestError::Unavailable(format!("spool: {other}")),
    }
}
