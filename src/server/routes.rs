//! Request routing: (method, path) to a route function returning a [`Reply`].

use super::auth::{browser_refusal, BrowserHeaders};
use super::http::{Method, Request};
use super::{compat_routes, otlp_routes, Context, Reply};
use crate::compat::Api;
use crate::otlp::Signal;

pub fn route(request: &mut Request<'_>, context: &Context) -> Reply {
    let path = request.path().to_string();
    let browser = BrowserHeaders {
        host: request.header("Host"),
        origin: request.header("Origin"),
        fetch_site: request.header("Sec-Fetch-Site"),
    };
    let refusal = browser_refusal(context.config.api_key.as_deref(), &context.config.host, browser);
    if let Some(message) = refusal {
        return match path.as_str() {
            "/v1/logs" | "/v1/traces" | "/v1/metrics" => otlp_routes::refuse(request, 403, &message),
            _ => Reply::text(403, &message),
        };
    }
    let method = request.method().clone();
    match (method, path.as_str()) {
        (Method::Post, "/v1/logs") => otlp_routes::export(request, context, Signal::Logs),
        (Method::Post, "/v1/traces") => otlp_routes::export(request, context, Signal::Traces),
        (Method::Post, "/v1/metrics") => otlp_routes::export(request, context, Signal::Metrics),
        (_, "/v1/logs" | "/v1/traces" | "/v1/metrics") => {
            Reply::text(405, "method not allowed: OTLP export takes POST").with_header("Allow", "POST")
        }
        (Method::Get | Method::Head, "/health" | "/ready" | "/-/healthy" | "/-/ready") => health(context),
        (_, "/health" | "/ready") => Reply::text(405, "method not allowed").with_header("Allow", "GET"),
        (Method::Get | Method::Head, "/metrics") => compat_routes::metrics(request, context),
        (_, path) if Api::for_path(path).is_some() => {
            let api = Api::for_path(path).expect("checked by the guard");
            compat_routes::query_api(request, context, api)
        }
        (_, path) => Reply::text(404, &format!("not found: {path}")),
    }
}

fn health(context: &Context) -> Reply {
    if context.ingest.is_healthy() {
        Reply::text(200, "ready")
    } else {
        let error = context.ingest.stats.snapshot().last_error.unwrap_or_default();
        Reply::text(503, &format!("writer is failing: {error}"))
    }
}
