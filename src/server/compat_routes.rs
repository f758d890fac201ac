//! The edge between the HTTP transport and the query APIs in `crate::compat`: auth,
//! reading GET query strings and POST form bodies into an [`ApiRequest`], and
//! `/metrics`.

use super::auth::authorized;
use super::http::{Method, Request};
use super::{busy_reply, read_body, BodyError, Context, Reply};
use crate::compat::metrics::{self, MetricsInput};
use crate::compat::{self, Api, ApiMethod, ApiRequest, CompatContext, Params};

/// Form bodies are query parameters; a megabyte is far beyond any real query.
const MAX_FORM_BYTES: usize = 1 << 20;

pub fn query_api(request: &mut Request<'_>, context: &Context, api: Api) -> Reply {
    let Some(compat) = &context.compat else {
        return Reply::text(404, "query APIs are off (otlp_serve(..., compat := false))");
    };
    if !authorized(context.config.api_key.as_deref(), request.header("Authorization")) {
        return Reply::text(401, "missing or wrong bearer token").with_header("WWW-Authenticate", "Bearer");
    }
    let api_request = match api_request(request) {
        Ok(api_request) => api_request,
        Err(error) => return error.reply(),
    };
    // taken after the form body was read: a slow body must not hold a worker
    match request.worker() {
        Ok(_worker) => compat::route(api, &api_request, compat),
        Err(busy) => busy_reply(&busy),
    }
}

fn api_request(request: &mut Request<'_>) -> Result<ApiRequest, BodyError> {
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let method = match request.method() {
        Method::Get | Method::Head => ApiMethod::Get,
        Method::Post => ApiMethod::Post,
        other => ApiMethod::Other(other.as_str().to_string()),
    };
    let is_form = request
        .header("Content-Type")
        .is_some_and(|value| value.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    // form values first, as Go's Request.FormValue (which upstream uses) prefers the body
    let mut params = Params::default();
    if method == ApiMethod::Post && is_form {
        let body = read_body(request, MAX_FORM_BYTES)?;
        params = Params::parse(&String::from_utf8_lossy(&body));
    }
    params.extend(Params::parse(query));
    let headers = request.head.headers.iter().map(|(name, value)| (name.to_ascii_lowercase(), value.clone())).collect();
    Ok(ApiRequest { method: Some(method), path: path.to_string(), params, headers })
}

pub fn metrics(request: &Request<'_>, context: &Context) -> Reply {
    if !authorized(context.config.api_key.as_deref(), request.header("Authorization")) {
        return Reply::text(401, "missing or wrong bearer token").with_header("WWW-Authenticate", "Bearer");
    }
    let ingest = context.ingest.stats.snapshot();
    let backlog = context.ingest.spool.backlog();
    let queries = context.compat.as_ref().map(|c: &CompatContext| c.stats.snapshot()).unwrap_or_default();
    let input = MetricsInput {
        ingest: &ingest,
        spool_backlog_records: backlog.records,
        spool_backlog_bytes: backlog.bytes,
        spool_disk_bytes: context.ingest.spool.disk_bytes().ok(),
        queue_bytes: context.ingest.queue.bytes() as u64,
        ingest_lag_seconds: context.ingest.queue.oldest_wait().as_secs_f64(),
        writer_healthy: context.ingest.is_healthy(),
        uptime_seconds: context.started.elapsed().as_secs_f64(),
        queries: &queries,
    };
    Reply::new(200, metrics::CONTENT_TYPE, metrics::render(&input).into_bytes())
}
