//! Loki HTTP API (`/loki/api/v1/...`) over the LogQL engine.

use super::{ApiRequest, CompatContext};
use crate::server::Reply;

pub fn route(request: &ApiRequest, _context: &CompatContext) -> Reply {
    Reply::text(404, &format!("not found: {}", request.path))
}
