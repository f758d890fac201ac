//! Prometheus HTTP API (`/api/v1/...`) over the PromQL engine.

use super::{ApiRequest, CompatContext};
use crate::server::Reply;

pub fn route(request: &ApiRequest, _context: &CompatContext) -> Reply {
    let body = serde_json::json!({"status": "error", "errorType": "not_found", "error": format!("not found: {}", request.path)});
    Reply::json(404, &body)
}
