//! Refusals as gRPC statuses, mapped as the OTLP specification assigns them.
//!
//! The HTTP routes and this module refuse for the same reasons; only the
//! vocabulary differs. A refusal the client may retry carries
//! `google.rpc.RetryInfo` (the gRPC form of `Retry-After`) twice: inside the
//! `google.rpc.Status` of `grpc-status-details-bin` (gRPC's convention for
//! error details, where the Collector's exporter looks) and as the
//! `google.rpc.retryinfo-bin` trailer, where Python's exporter looks. OTLP reads `RESOURCE_EXHAUSTED` as retryable
//! only with RetryInfo, so a message over a size bound gets it without: sent
//! again, it would be refused again.

use crate::ingest::IngestError;
use crate::otlp::DecodeError;
use prost::Message;
use std::time::Duration;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

/// Why a gRPC export was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("missing or wrong bearer token")]
    Unauthenticated,
    #[error("all {workers} workers busy for {waited_seconds} s")]
    WorkersBusy { workers: usize, waited_seconds: u64 },
    #[error("internal error while answering a request")]
    Panicked,
}

/// What a retryable refusal asks the client to wait, as HTTP's `Retry-After`.
const BUSY_RETRY_DELAY: Duration = Duration::from_secs(1);
const UNAVAILABLE_RETRY_DELAY: Duration = Duration::from_secs(5);

/// The trailer Python's OTLP exporter reads the retry delay from.
pub const RETRY_INFO_TRAILER: &str = "google.rpc.retryinfo-bin";
const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

impl Refusal {
    /// The status code and, for refusals worth retrying, the delay to suggest.
    pub fn code_and_retry(&self) -> (Code, Option<Duration>) {
        match self {
            Refusal::Ingest(IngestError::BadRequest(DecodeError::TooLarge { .. })) => (Code::ResourceExhausted, None),
            Refusal::Ingest(IngestError::BadRequest(_)) => (Code::InvalidArgument, None),
            Refusal::Ingest(IngestError::Busy(_)) => (Code::ResourceExhausted, Some(BUSY_RETRY_DELAY)),
            Refusal::Ingest(IngestError::Unavailable(_)) => (Code::Unavailable, Some(UNAVAILABLE_RETRY_DELAY)),
            Refusal::Unauthenticated => (Code::Unauthenticated, None),
            Refusal::WorkersBusy { .. } => (Code::Unavailable, Some(BUSY_RETRY_DELAY)),
            Refusal::Panicked => (Code::Internal, None),
        }
    }

    /// The counter key of `otlp_status().requests_rejected`, as HTTP counts it.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Ingest(error) => error.reason(),
            Refusal::Unauthenticated => "unauthorized",
            Refusal::WorkersBusy { .. } => "busy",
            Refusal::Panicked => "internal error",
        }
    }

    pub fn to_status(&self) -> Status {
        let (code, retry) = self.code_and_retry();
        status_with_retry(code, self.to_string(), retry)
    }
}

/// A status with `retry` as RetryInfo in its details and in its own trailer.
pub fn status_with_retry(code: Code, message: String, retry: Option<Duration>) -> Status {
    let Some(delay) = retry else { return Status::new(code, message) };
    let retry_info = RetryInfo { retry_delay: Some(ProtoDuration::from(delay)) }.encode_to_vec();
    let details = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![Any { type_url: RETRY_INFO_TYPE_URL.into(), value: retry_info.clone() }],
    }
    .encode_to_vec();
    let mut status = Status::with_details(code, message, details.into());
    status.metadata_mut().insert_bin(RETRY_INFO_TRAILER, MetadataValue::from_bytes(&retry_info));
    status
}

// The three google.rpc / protobuf messages a status with RetryInfo needs,
// field numbers as in google/rpc/status.proto, error_details.proto and
// google/protobuf/{any,duration}.proto.

#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl From<Duration> for ProtoDuration {
    fn from(delay: Duration) -> Self {
        // delays here are a few seconds; saturate rather than wrap if that ever changes
        ProtoDuration {
            seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
            nanos: delay.subsec_nanos() as i32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingest(error: IngestError) -> Refusal {
        Refusal::Ingest(error)
    }

    fn retry_delay_in_details(status: &Status) -> Option<ProtoDuration> {
        let details = RpcStatus::decode(status.details()).ok()?;
        assert_eq!(details.code, status.code() as i32);
        assert_eq!(details.message, status.message());
        let [any] = &details.details[..] else { panic!("one detail expected, got {:?}", details.details) };
        assert_eq!(any.type_url, "type.googleapis.com/google.rpc.RetryInfo");
        RetryInfo::decode(&any.value[..]).unwrap().retry_delay
    }

    fn retry_delay_in_trailer(status: &Status) -> Option<ProtoDuration> {
        let value = status.metadata().get_bin(RETRY_INFO_TRAILER)?;
        RetryInfo::decode(&value.to_bytes().unwrap()[..]).unwrap().retry_delay
    }

    #[test]
    fn backpressure_is_resource_exhausted_with_a_one_second_retry_info() {
        let status = ingest(IngestError::Busy("write queue is full (600 bytes waiting for commit)".into())).to_status();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(status.message(), "write queue is full (600 bytes waiting for commit)");
        let one_second = Some(ProtoDuration { seconds: 1, nanos: 0 });
        assert_eq!(retry_delay_in_details(&status), one_second);
        assert_eq!(retry_delay_in_trailer(&status), one_second);
    }

    #[test]
    fn failing_storage_is_unavailable_with_a_five_second_retry_info() {
        let status = ingest(IngestError::Unavailable("spool: disk full".into())).to_status();
        assert_eq!((status.code(), status.message()), (Code::Unavailable, "spool: disk full"));
        assert_eq!(retry_delay_in_details(&status), Some(ProtoDuration { seconds: 5, nanos: 0 }));
        let busy = Refusal::WorkersBusy { workers: 8, waited_seconds: 30 }.to_status();
        assert_eq!((busy.code(), busy.message()), (Code::Unavailable, "all 8 workers busy for 30 s"));
        assert_eq!(retry_delay_in_trailer(&busy), Some(ProtoDuration { seconds: 1, nanos: 0 }));
    }

    #[test]
    fn bad_data_is_invalid_argument_and_not_retryable() {
        let status = ingest(IngestError::BadRequest(DecodeError::Protobuf("invalid wire type".into()))).to_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "invalid protobuf: invalid wire type");
        assert!(status.details().is_empty(), "no RetryInfo: the same message would fail again");
        assert!(status.metadata().get_bin(RETRY_INFO_TRAILER).is_none());
    }

    #[test]
    fn a_message_over_a_size_bound_is_resource_exhausted_without_retry_info() {
        let too_large = DecodeError::TooLarge { limit: 1000, what: crate::otlp::Exceeded::Items };
        let refusal = ingest(IngestError::BadRequest(too_large));
        let status = refusal.to_status();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(status.message(), "request has more than 1000 items (max_items_per_request)");
        assert!(status.details().is_empty() && status.metadata().get_bin(RETRY_INFO_TRAILER).is_none());
        assert_eq!(refusal.reason(), "too large");
    }

    #[test]
    fn a_wrong_key_is_unauthenticated_and_counted_as_http_counts_it() {
        let status = Refusal::Unauthenticated.to_status();
        assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "missing or wrong bearer token"));
        assert_eq!(Refusal::Unauthenticated.reason(), "unauthorized");
        assert_eq!(ingest(IngestError::Busy(String::new())).reason(), "busy");
    }

    #[test]
    fn sub_second_delays_keep_their_nanoseconds() {
        assert_eq!(ProtoDuration::from(Duration::from_millis(1500)), ProtoDuration { seconds: 1, nanos: 500_000_000 });
    }
}
