//! Response bodies: `Export*ServiceResponse` on success, `google.rpc.Status`
//! on error, each in the request's format.
//!
//! Protobuf bodies are encoded with the generated OTLP types (and a two-field
//! prost message for `Status`, the only part of `google.rpc` we need); JSON
//! bodies are small enough to be printed directly, with int64 counts as
//! strings as OTLP/JSON requires.

use super::text::json_string;
use super::{Format, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use prost::Message;

/// gRPC `INVALID_ARGUMENT`, the code OTLP/HTTP uses for a 400.
const INVALID_ARGUMENT: i32 = 3;

/// The success body; `partial_success` only when something was rejected.
pub fn export_response(signal: Signal, format: Format, rejected: u64, message: &str) -> Vec<u8> {
    let count = i64::try_from(rejected).unwrap_or(i64::MAX);
    let message = message.to_string();
    match format {
        Format::Protobuf => match signal {
            Signal::Logs => ExportLogsServiceResponse {
                partial_success: (rejected > 0)
                    .then_some(ExportLogsPartialSuccess { rejected_log_records: count, error_message: message }),
            }
            .encode_to_vec(),
            Signal::Traces => ExportTraceServiceResponse {
                partial_success: (rejected > 0)
                    .then_some(ExportTracePartialSuccess { rejected_spans: count, error_message: message }),
            }
            .encode_to_vec(),
            Signal::Metrics => ExportMetricsServiceResponse {
                partial_success: (rejected > 0)
                    .then_some(ExportMetricsPartialSuccess { rejected_data_points: count, error_message: message }),
            }
            .encode_to_vec(),
        },
        Format::Json if rejected == 0 => b"{}".to_vec(),
        Format::Json => {
            let field = match signal {
                Signal::Logs => "rejectedLogRecords",
                Signal::Traces => "rejectedSpans",
                Signal::Metrics => "rejectedDataPoints",
            };
            let mut out = format!("{{\"partialSuccess\":{{\"{field}\":\"{count}\",\"errorMessage\":");
            json_string(&message, &mut out);
            out.push_str("}}");
            out.into_bytes()
        }
    }
}

/// `google.rpc.Status` without `details`.
#[derive(Clone, PartialEq, Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The body of a 400 answer: `Status { code: INVALID_ARGUMENT, message }`.
pub fn error_status(format: Format, message: &str) -> Vec<u8> {
    match format {
        Format::Protobuf => Status { code: INVALID_ARGUMENT, message: message.to_string() }.encode_to_vec(),
        Format::Json => {
            let mut out = format!("{{\"code\":{INVALID_ARGUMENT},\"message\":");
            json_string(message, &mut out);
            out.push('}');
            out.into_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn protobuf_success_without_rejections_is_empty() {
        for signal in [Signal::Logs, Signal::Traces, Signal::Metrics] {
            assert!(export_response(signal, Format::Protobuf, 0, "").is_empty());
        }
    }

    #[test]
    fn protobuf_partial_success_round_trips() {
        let logs = ExportLogsServiceResponse::decode(&export_response(Signal::Logs, Format::Protobuf, 2, "bad id")[..])
            .unwrap();
        let partial = logs.partial_success.unwrap();
        assert_eq!(partial.rejected_log_records, 2);
        assert_eq!(partial.error_message, "bad id");

        let traces =
            ExportTraceServiceResponse::decode(&export_response(Signal::Traces, Format::Protobuf, 3, "x")[..]).unwrap();
        assert_eq!(traces.partial_success.unwrap().rejected_spans, 3);

        let metrics =
            ExportMetricsServiceResponse::decode(&export_response(Signal::Metrics, Format::Protobuf, 4, "y")[..])
                .unwrap();
        let partial = metrics.partial_success.unwrap();
        assert_eq!(partial.rejected_data_points, 4);
        assert_eq!(partial.error_message, "y");
    }

    #[test]
    fn json_responses() {
        assert_eq!(export_response(Signal::Logs, Format::Json, 0, ""), b"{}");
        let body = export_response(Signal::Logs, Format::Json, 2, "span \"a\": bad");
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value, json!({"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "span \"a\": bad"}}));
        let body = export_response(Signal::Traces, Format::Json, 1, "m");
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["partialSuccess"]["rejectedSpans"], "1");
        let body = export_response(Signal::Metrics, Format::Json, 5, "m");
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["partialSuccess"]["rejectedDataPoints"], "5");
    }

    #[test]
    fn error_status_bodies() {
        let status = Status::decode(&error_status(Format::Protobuf, "invalid protobuf: x")[..]).unwrap();
        assert_eq!(status.code, 3);
        assert_eq!(status.message, "invalid protobuf: x");
        let value: serde_json::Value = serde_json::from_slice(&error_status(Format::Json, "bad \"json\"\n")).unwrap();
        assert_eq!(value, json!({"code": 3, "message": "bad \"json\"\n"}));
    }
}
