//! The gRPC service in process, without a socket: request frames in, tonic's
//! real decoding (framing, size bound, gzip and zstd) and the shared ingest
//! path behind it, statuses and the spool record out. Python's grpcio cannot
//! send zstd or corrupt gzip, so these cases are pinned here.

use super::export::{MessageLimits, OtlpExport};
use super::pace::Pace;
use crate::ingest::queue::CommitQueue;
use crate::ingest::{Ingest, IngestLimits};
use crate::otlp::fixtures::realistic_logs;
use crate::otlp::{Compression, Format, RequestKind, Signal};
use crate::spool::{Spool, SpoolOptions};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use prost::Message;
use std::io::Write;
use std::sync::Arc;
use tonic::body::Body;
use tower_service::Service;

const LOGS: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

struct Fixture {
    service: OtlpExport,
    ingest: Arc<Ingest>,
    _dir: tempfile::TempDir,
}

fn fixture(api_key: Option<&str>, limits: MessageLimits) -> Fixture {
    fixture_with_pace(api_key, limits, Pace::default())
}

fn fixture_with_pace(api_key: Option<&str>, limits: MessageLimits, pace: Pace) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
    let limits_for_ingest =
        IngestLimits { max_decompressed_bytes: limits.max_decompressed_bytes, max_items_per_request: 1_000_000 };
    let ingest = Ingest::new(spool, CommitQueue::new(1, 1 << 30), limits_for_ingest);
    let service = OtlpExport::with_pace(ingest.clone(), api_key.map(String::from), limits, 2, pace);
    Fixture { service, ingest, _dir: dir }
}

const ROOMY: MessageLimits = MessageLimits { max_body_bytes: 1 << 20, max_decompressed_bytes: 4 << 20 };

/// One length-prefixed gRPC message, its compressed flag set when `compressed`.
fn frame(message: &[u8], compressed: bool) -> Bytes {
    let mut framed = vec![u8::from(compressed)];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    framed.into()
}

struct Answer {
    code: i32,
    message: String,
    body: Vec<u8>,
}

/// Calls the service; the status comes from the headers (a refusal) or the trailers.
fn call(fixture: &mut Fixture, path: &str, headers: &[(&str, &str)], body: Bytes) -> Answer {
    call_with(fixture, path, headers, Body::new(Full::new(body)))
}

fn call_with(fixture: &mut Fixture, path: &str, headers: &[(&str, &str)], body: Body) -> Answer {
    let mut request = http::Request::builder().method("POST").uri(format!("http://localhost{path}"));
    request = request.header("content-type", "application/grpc").header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(body).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    runtime.block_on(async {
        let response = fixture.service.call(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let body = collected.to_bytes().to_vec();
        let status = tonic::Status::from_header_map(&parts.headers)
            .or_else(|| tonic::Status::from_header_map(&trailers))
            .expect("a grpc-status in the headers or the trailers");
        Answer { code: status.code() as i32, message: status.message().to_string(), body }
    })
}

fn spooled(fixture: &Fixture) -> Vec<(u8, Vec<u8>)> {
    fixture.ingest.spool.replay(0).unwrap().map(|record| record.unwrap()).map(|r| (r.kind, r.payload)).collect()
}

fn rejected(fixture: &Fixture) -> Vec<(String, u64)> {
    fixture.ingest.stats.snapshot().requests_rejected.into_iter().collect()
}

const RAW_PROTOBUF: RequestKind =
    RequestKind { signal: Signal::Logs, format: Format::Protobuf, compression: Compression::None };

#[test]
fn a_zstd_message_is_acknowledged_after_its_decompressed_bytes_are_spooled() {
    let mut fixture = fixture(None, ROOMY);
    let message = realistic_logs(20).encode_to_vec();
    let compressed = zstd::encode_all(&message[..], 3).unwrap();
    let answer = call(&mut fixture, LOGS, &[("grpc-encoding", "zstd")], frame(&compressed, true));
    assert_eq!((answer.code, answer.message.as_str()), (0, ""));
    // the body is one frame holding the response message
    let response = ExportLogsServiceResponse::decode(&answer.body[5..]).unwrap();
    assert_eq!(response.partial_success, None);
    assert_eq!(spooled(&fixture), vec![(RAW_PROTOBUF.to_byte(), message.clone())]);
    let stats = fixture.ingest.stats.snapshot();
    assert_eq!(stats.requests_accepted["logs"], 1);
    assert_eq!(stats.bytes_accepted["logs"], message.len() as u64);
}

#[test]
fn corrupt_gzip_is_invalid_argument_and_stores_nothing() {
    let mut fixture = fixture(None, ROOMY);
    let answer = call(&mut fixture, LOGS, &[("grpc-encoding", "gzip")], frame(b"\x1f\x8b not gzip at all", true));
    assert_eq!(answer.code, tonic::Code::InvalidArgument as i32);
    assert!(answer.message.starts_with("undecodable message: Error decompressing: "), "{}", answer.message);
    assert_eq!(spooled(&fixture), vec![]);
    assert_eq!(rejected(&fixture), vec![("logs: bad request".to_string(), 1)]);
}

#[test]
fn size_bounds_are_final_refusals() {
    let limits = MessageLimits { max_body_bytes: 100, max_decompressed_bytes: 1000 };
    let mut fixture = fixture(None, limits);
    let answer = call(&mut fixture, LOGS, &[], frame(&[0u8; 101], false));
    assert_eq!(answer.code, tonic::Code::ResourceExhausted as i32);
    assert_eq!(answer.message, "message exceeds 100 bytes (max_body_bytes)");
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&[0u8; 100_000]).unwrap();
    let bomb = bomb.finish().unwrap();
    assert!(bomb.len() < 1000);
    let answer = call(&mut fixture, LOGS, &[("grpc-encoding", "gzip")], frame(&bomb, true));
    assert_eq!(answer.code, tonic::Code::ResourceExhausted as i32);
    assert_eq!(answer.message, "message exceeds 1000 bytes (max_decompressed_bytes)");
    assert_eq!(spooled(&fixture), vec![]);
    assert_eq!(rejected(&fixture), vec![("logs: too large".to_string(), 2)]);
}

#[test]
fn the_key_is_checked_before_the_message_and_unsupported_encodings_are_unimplemented() {
    let mut fixture = fixture(Some("k3y"), ROOMY);
    let message = realistic_logs(2).encode_to_vec();
    let answer = call(&mut fixture, LOGS, &[("authorization", "Bearer wrong")], frame(&message, false));
    assert_eq!(
        (answer.code, answer.message.as_str()),
        (tonic::Code::Unauthenticated as i32, "missing or wrong bearer token")
    );
    let keyed = [("authorization", "Bearer k3y"), ("grpc-encoding", "snappy")];
    let answer = call(&mut fixture, LOGS, &keyed, frame(&message, true));
    assert_eq!(answer.code, tonic::Code::Unimplemented as i32, "{}", answer.message);
    let answer = call(&mut fixture, LOGS, &keyed[..1], frame(&message, false));
    assert_eq!(answer.code, 0, "{}", answer.message);
    assert_eq!(spooled(&fixture).len(), 1);
    assert_eq!(
        rejected(&fixture),
        vec![("logs: unauthorized".to_string(), 1), ("logs: unsupported encoding".to_string(), 1)]
    );
}

/// A body sending `chunks` one every `every`, then ending (or stalling, with `stall`).
struct Dribble {
    chunks: std::collections::VecDeque<Bytes>,
    every: std::time::Duration,
    next: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    stall: bool,
}

impl http_body::Body for Dribble {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::convert::Infallible>>> {
        use std::future::Future;
        use std::task::Poll;
        let every = self.every;
        let timer = self.next.get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.next = None;
        match self.chunks.pop_front() {
            Some(chunk) => Poll::Ready(Some(Ok(http_body::Frame::data(chunk)))),
            None if self.stall => Poll::Pending, // never another byte, and no wake-up
            None => Poll::Ready(None),
        }
    }
}

fn dribble(message: &[u8], chunk: usize, every_ms: u64, stall: bool) -> Body {
    let framed = frame(message, false);
    let chunks = framed.chunks(chunk).map(Bytes::copy_from_slice).collect();
    Body::new(Dribble { chunks, every: std::time::Duration::from_millis(every_ms), next: None, stall })
}

const BRISK: Pace = Pace { window: std::time::Duration::from_millis(200), min_bytes: 1000 };

#[test]
fn a_message_that_stops_arriving_frees_its_worker_with_deadline_exceeded() {
    let mut fixture = fixture_with_pace(None, ROOMY, BRISK);
    let message = realistic_logs(20).encode_to_vec();
    // the first 2000 bytes, then nothing: the next window sees no bytes
    let stalled = dribble(&message[..2000], 2000, 1, true);
    let answer = call_with(&mut fixture, LOGS, &[], stalled);
    assert_eq!(answer.code, tonic::Code::DeadlineExceeded as i32, "{}", answer.message);
    assert_eq!(answer.message, "message arrived slower than 1000 bytes in 0.2 s");
    assert_eq!(rejected(&fixture), vec![("logs: too slow".to_string(), 1)]);
    assert_eq!(spooled(&fixture), vec![]);
}

#[test]
fn a_message_arriving_at_the_pace_is_accepted() {
    let mut fixture = fixture_with_pace(None, ROOMY, BRISK);
    let message = realistic_logs(100).encode_to_vec();
    // 1500 bytes every 50 ms: 6000 bytes a window, over several windows
    assert!(message.len() > 4 * 1500 * 2, "long enough to span windows: {}", message.len());
    let answer = call_with(&mut fixture, LOGS, &[], dribble(&message, 1500, 50, false));
    assert_eq!((answer.code, answer.message.as_str()), (0, ""));
    assert_eq!(spooled(&fixture), vec![(RAW_PROTOBUF.to_byte(), message)]);
}
