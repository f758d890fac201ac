//! The three OTLP Export methods, routed by path, and what happens before and
//! after tonic reads a message.
//!
//! Before: the bearer key and the pipeline's admission are checked from the
//! request headers alone, so a refused client has not sent its message for
//! nothing and a saturated server buffers nothing (HTTP refuses before the
//! body for the same reason); then a worker is taken, which bounds the
//! messages buffered at once, and the message must then keep arriving at
//! HTTP's minimum pace (`pace.rs`). tonic then reads, bounds and decompresses the
//! message, and the handler hands the bytes to [`Ingest::export`], the call
//! OTLP/HTTP makes too: decode, spool with fsync, queue, count.
//!
//! After: tonic's own refusals (a message over the size bound, a corrupt gzip
//! stream, an unsupported encoding) are counted in `otlp_status()` like any
//! other and given the codes OTLP assigns: tonic answers `OUT_OF_RANGE` for an
//! oversized frame, which OTLP clients retry forever, and `INTERNAL` for bad
//! compressed data.

use super::codec::RawCodec;
use super::pace::{Pace, PacedBody};
use super::status::Refusal;
use crate::ingest::Ingest;
use crate::otlp::{export_response, Compression, Format, RequestKind, Signal};
use crate::server::auth::authorized;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Semaphore;
use tonic::body::Body;
use tonic::codec::CompressionEncoding;
use tonic::server::{Grpc, UnaryService};
use tonic::{Code, Status};

/// Bounds on one message, with OTLP/HTTP's meaning: an uncompressed message
/// may be `max_body_bytes`; a compressed one `max_decompressed_bytes` once
/// decompressed (tonic applies one bound to the frame and to its decompressed
/// form, so a compressed frame may also be up to that).
#[derive(Clone, Copy, Debug)]
pub struct MessageLimits {
    pub max_body_bytes: usize,
    pub max_decompressed_bytes: usize,
}

/// How long a message waits for a worker before it is refused (as HTTP's 503).
const WORKER_WAIT: Duration = Duration::from_secs(30);

/// The tower service tonic's server calls for every request.
#[derive(Clone)]
pub struct OtlpExport {
    shared: Arc<Shared>,
}

struct Shared {
    ingest: Arc<Ingest>,
    api_key: Option<String>,
    limits: MessageLimits,
    workers: Arc<Semaphore>,
    worker_count: usize,
    pace: Pace,
}

impl OtlpExport {
    pub fn new(ingest: Arc<Ingest>, api_key: Option<String>, limits: MessageLimits, workers: usize) -> Self {
        Self::with_pace(ingest, api_key, limits, workers, Pace::default())
    }

    /// As [`OtlpExport::new`], with the minimum pace a message must arrive at.
    pub fn with_pace(
        ingest: Arc<Ingest>,
        api_key: Option<String>,
        limits: MessageLimits,
        workers: usize,
        pace: Pace,
    ) -> Self {
        let workers = workers.max(1);
        let semaphore = Arc::new(Semaphore::new(workers));
        let shared = Shared { ingest, api_key, limits, workers: semaphore, worker_count: workers, pace };
        OtlpExport { shared: Arc::new(shared) }
    }
}

/// The signal whose Export method `path` names.
pub fn signal_of(path: &str) -> Option<Signal> {
    match path {
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export" => Some(Signal::Logs),
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export" => Some(Signal::Traces),
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export" => Some(Signal::Metrics),
        _ => None,
    }
}

impl tower_service::Service<http::Request<Body>> for OtlpExport {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move { Ok(shared.export(request).await) })
    }
}

impl Shared {
    async fn export(self: Arc<Self>, request: http::Request<Body>) -> http::Response<Body> {
        let path = request.uri().path();
        let Some(signal) = signal_of(path) else {
            return Status::unimplemented(format!(
                "unknown method {path}: this server implements the OTLP Export methods"
            ))
            .into_http();
        };
        let authorization = request.headers().get("authorization").and_then(|value| value.to_str().ok());
        if !authorized(self.api_key.as_deref(), authorization) {
            return self.refuse(signal, Refusal::Unauthenticated);
        }
        // a saturated or failing pipeline refuses before the message is read; the handler checks again
        if let Err(error) = self.ingest.admit(0) {
            return self.refuse(signal, Refusal::Ingest(error));
        }
        let Ok(Ok(_worker)) = tokio::time::timeout(WORKER_WAIT, self.workers.clone().acquire_owned()).await else {
            let busy = Refusal::WorkersBusy { workers: self.worker_count, waited_seconds: WORKER_WAIT.as_secs() };
            return self.refuse(signal, busy);
        };
        let compressed = request
            .headers()
            .get("grpc-encoding")
            .is_some_and(|encoding| !encoding.as_bytes().eq_ignore_ascii_case(b"identity"));
        let (limit, bound) = if compressed {
            (self.limits.max_decompressed_bytes, "max_decompressed_bytes")
        } else {
            (self.limits.max_body_bytes, "max_body_bytes")
        };
        // the worker is taken: from now on the message must keep arriving
        let pace = self.pace;
        let request = request.map(|body| Body::new(PacedBody::new(body, pace)));
        let handled = Arc::new(AtomicBool::new(false));
        let call = ExportCall { ingest: self.ingest.clone(), signal, handled: handled.clone() };
        let mut grpc = Grpc::new(RawCodec)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .max_decoding_message_size(limit);
        let response = grpc.unary(call, request).await;
        if handled.load(Ordering::Acquire) {
            return response; // the handler counted it
        }
        match Status::from_header_map(response.headers()) {
            Some(status) if status.code() != Code::Ok => {
                let (status, reason) = tonic_refusal(status, limit, bound);
                self.ingest.stats.rejected(signal.name(), reason, 0);
                status.into_http()
            }
            _ => response,
        }
    }

    fn refuse(&self, signal: Signal, refusal: Refusal) -> http::Response<Body> {
        self.ingest.stats.rejected(signal.name(), refusal.reason(), 0);
        refusal.to_status().into_http()
    }
}

/// A refusal tonic made while reading the message, with the code OTLP assigns
/// and the `otlp_status()` reason HTTP would count it under.
pub fn tonic_refusal(status: Status, limit: usize, bound: &str) -> (Status, &'static str) {
    match status.code() {
        // an oversized frame (tonic: OUT_OF_RANGE, which OTLP clients retry) or one that
        // decompresses past the bound: RESOURCE_EXHAUSTED without RetryInfo is final
        Code::OutOfRange | Code::ResourceExhausted => {
            let message = format!("message exceeds {limit} bytes ({bound})");
            (Status::resource_exhausted(message), "too large")
        }
        Code::Internal if status.message().starts_with("Error decompressing") => {
            (Status::invalid_argument(format!("undecodable message: {}", status.message())), "bad request")
        }
        Code::Unimplemented => (status, "unsupported encoding"),
        Code::Cancelled | Code::DeadlineExceeded => (status, "too slow"),
        _ => (status, "bad request"),
    }
}

/// One Export call once tonic has the message: the shared ingest path, on a
/// blocking thread because it waits for the spool's fsync.
struct ExportCall {
    ingest: Arc<Ingest>,
    signal: Signal,
    handled: Arc<AtomicBool>,
}

impl UnaryService<bytes::Bytes> for ExportCall {
    type Response = Vec<u8>;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<Vec<u8>>, Status>> + Send>>;

    fn call(&mut self, request: tonic::Request<bytes::Bytes>) -> Self::Future {
        self.handled.store(true, Ordering::Release);
        let (ingest, signal) = (self.ingest.clone(), self.signal);
        Box::pin(async move {
            let message = request.into_inner();
            let stats_ingest = ingest.clone();
            let kind = RequestKind { signal, format: Format::Protobuf, compression: Compression::None };
            let bytes = message.len();
            let outcome = tokio::task::spawn_blocking(move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ingest.export(kind, &message)))
            })
            .await;
            match outcome {
                Ok(Ok(Ok(accepted))) => Ok(tonic::Response::new(export_response(
                    signal,
                    Format::Protobuf,
                    accepted.rejected_items,
                    &accepted.rejection_message,
                ))),
                Ok(Ok(Err(error))) => Err(Refusal::Ingest(error).to_status()),
                Ok(Err(_)) | Err(_) => {
                    stats_ingest.stats.error("grpc: internal error (panic) while answering a request".into());
                    stats_ingest.stats.rejected(signal.name(), Refusal::Panicked.reason(), bytes);
                    Err(Refusal::Panicked.to_status())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_export_methods_and_nothing_else() {
        assert_eq!(signal_of("/opentelemetry.proto.collector.logs.v1.LogsService/Export"), Some(Signal::Logs));
        assert_eq!(signal_of("/opentelemetry.proto.collector.trace.v1.TraceService/Export"), Some(Signal::Traces));
        assert_eq!(signal_of("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"), Some(Signal::Metrics));
        for other in [
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export2",
            "/opentelemetry.proto.collector.logs.v1.TraceService/Export",
            "/v1/logs",
            "",
        ] {
            assert_eq!(signal_of(other), None, "{other}");
        }
    }

    #[test]
    fn an_oversized_frame_is_final_not_retried() {
        let tonic_says =
            Status::out_of_range("Error, decoded message length too large: found 70 bytes, the limit is: 64 bytes");
        let (status, reason) = tonic_refusal(tonic_says, 64, "max_body_bytes");
        assert_eq!(
            (status.code(), status.message()),
            (Code::ResourceExhausted, "message exceeds 64 bytes (max_body_bytes)")
        );
        assert!(status.details().is_empty(), "no RetryInfo: OTLP clients then give up");
        assert_eq!(reason, "too large");
        let tonic_says = Status::resource_exhausted("Error decompressing: size limit, of 64 bytes, exceeded");
        let (status, _) = tonic_refusal(tonic_says, 64, "max_decompressed_bytes");
        assert_eq!(status.message(), "message exceeds 64 bytes (max_decompressed_bytes)");
    }

    #[test]
    fn corrupt_compressed_data_is_invalid_argument() {
        let tonic_says = Status::internal("Error decompressing: invalid gzip header, while sending request");
        let (status, reason) = tonic_refusal(tonic_says, 64, "max_decompressed_bytes");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "undecodable message: Error decompressing: invalid gzip header, while sending request"
        );
        assert_eq!(reason, "bad request");
        let other_internal = tonic_refusal(Status::internal("protocol error"), 64, "max_body_bytes").0;
        assert_eq!(other_internal.code(), Code::Internal, "only decompression failures are the client's data");
    }

    #[test]
    fn an_unsupported_encoding_keeps_tonics_unimplemented() {
        let tonic_says = Status::unimplemented("Content is compressed with `snappy` which isn't supported");
        let (status, reason) = tonic_refusal(tonic_says, 64, "max_decompressed_bytes");
        assert_eq!((status.code(), reason), (Code::Unimplemented, "unsupported encoding"));
    }
}
