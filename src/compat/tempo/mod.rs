//! Tempo HTTP API (`/api/traces`, `/api/search`, ...) over the TraceQL engine.

use super::{ApiRequest, CompatContext};
use crate::server::Reply;

/// Tempo's routes share `/api/` with Prometheus' `/api/v1/`, so they are listed.
pub fn serves(path: &str) -> bool {
    path == "/api/echo"
        || path == "/api/status/buildinfo"
        || path.starts_with("/api/traces/")
        || path.starts_with("/api/v2/traces/")
        || path == "/api/search"
        || path.starts_with("/api/search/")
        || path.starts_with("/api/v2/search/")
}

pub fn route(request: &ApiRequest, _context: &CompatContext) -> Reply {
    Reply::text(404, &format!("not found: {}", request.path))
}
