//! `POST /v1/{logs,traces,metrics}`: OTLP/HTTP export, status codes as the
//! OTLP specification assigns them. Error bodies are `google.rpc.Status` in
//! the request's encoding (JSON when the encoding itself was the problem).

use super::auth::authorized;
use super::http::Request;
use super::{read_body, BodyError, Context, Reply};
use crate::ingest::IngestError;
use crate::otlp::{error_status, export_response, Compression, Format, RequestKind, Signal};

pub fn export(request: &mut Request<'_>, context: &Context, signal: Signal) -> Reply {
    let name = signal.name();
    let content_type = request.header("Content-Type").unwrap_or("");
    let Some(format) = Format::from_content_type(content_type) else {
        context.ingest.stats.rejected(name, "unsupported media type", 0);
        let message =
            format!("unsupported content type {content_type:?}: use application/x-protobuf or application/json");
        return status_reply(415, Format::Json, &message);
    };
    if !authorized(context.config.api_key.as_deref(), request.header("Authorization")) {
        context.ingest.stats.rejected(name, "unauthorized", 0);
        return status_reply(401, format, "missing or wrong bearer token").with_header("WWW-Authenticate", "Bearer");
    }
    let compression = match Compression::from_content_encoding(request.header("Content-Encoding")) {
        Ok(compression) => compression,
        Err(error) => {
            context.ingest.stats.rejected(name, "unsupported encoding", 0);
            return status_reply(415, format, &error.to_string());
        }
    };
    // a saturated or failing pipeline refuses before the upload is read (`accept` checks again);
    // a body declared too large is left to `read_body`, whose 413 tells the client not to retry
    let declared = request.body_length().unwrap_or(0);
    let admitted = match usize::try_from(declared) {
        Ok(bytes) if bytes <= context.config.max_body_bytes => context.ingest.admit(bytes),
        _ => Ok(()),
    };
    if let Err(error) = admitted {
        context.ingest.stats.rejected(name, error.reason(), 0);
        request.refuse_body();
        return error_reply(format, &error);
    }
    let body = match read_body(request, context.config.max_body_bytes) {
        Ok(body) => body,
        Err(error) => {
            context.ingest.stats.rejected(name, body_refusal_reason(&error), 0);
            return body_refusal(format, &error);
        }
    };
    // taken only now: reading the body goes at the client's pace and must not hold a worker
    let _worker = match request.worker() {
        Ok(worker) => worker,
        Err(busy) => {
            context.ingest.stats.rejected(name, "busy", body.len());
            return status_reply(503, format, &busy.to_string()).with_header("Retry-After", "1");
        }
    };
    let kind = RequestKind { signal, format, compression };
    match context.ingest.export(kind, &body) {
        Ok(accepted) => {
            let response = export_response(signal, format, accepted.rejected_items, &accepted.rejection_message);
            Reply::new(200, content_type_of(format), response)
        }
        Err(error) => error_reply(format, &error),
    }
}

fn body_refusal_reason(error: &BodyError) -> &'static str {
    match error {
        BodyError::TooLarge { .. } => "too large",
        BodyError::TooSlow(_) => "too slow",
        BodyError::Busy(_) => "busy",
        BodyError::Io(_) => "bad request",
    }
}

fn body_refusal(format: Format, error: &BodyError) -> Reply {
    let reply = status_reply(error.status(), format, &error.to_string());
    match error {
        BodyError::Busy(_) => reply.with_header("Retry-After", "1"),
        _ => reply,
    }
}

/// A refusal before the body is looked at (403 from the browser rule), in
/// the request's encoding when it names one, else JSON.
pub fn refuse(request: &Request<'_>, status: u16, message: &str) -> Reply {
    let format = Format::from_content_type(request.header("Content-Type").unwrap_or("")).unwrap_or(Format::Json);
    status_reply(status, format, message)
}

fn error_reply(format: Format, error: &IngestError) -> Reply {
    match error {
        IngestError::BadRequest(crate::otlp::DecodeError::TooLarge { .. }) => {
            status_reply(413, format, &error.to_string())
        }
        IngestError::BadRequest(_) => status_reply(400, format, &error.to_string()),
        IngestError::Busy(_) => status_reply(429, format, &error.to_string()).with_header("Retry-After", "1"),
        IngestError::Unavailable(_) => status_reply(503, format, &error.to_string()).with_header("Retry-After", "5"),
    }
}

fn status_reply(status: u16, format: Format, message: &str) -> Reply {
    Reply::new(status, content_type_of(format), error_status(format, message))
}

fn content_type_of(format: Format) -> &'static str {
    match format {
        Format::Protobuf => "application/x-protobuf",
        Format::Json => "application/json",
    }
}
