//! The HTTP server that runs inside the DuckDB process: the transport in
//! `http/` (a thread per connection), and the routes, behind a panic guard so
//! a bug in one request can neither kill the server nor unwind into DuckDB.
//!
//! Routing is a match on (method, path) in `routes.rs`; each route family is
//! its own file and turns a request into a [`Reply`]. OTLP/gRPC is a second
//! transport in `grpc/` (tonic), for the ingest routes only.

mod auth;
mod compat_routes;
pub mod grpc;
pub mod http;
mod otlp_routes;
mod routes;

pub use crate::compat::Reply;

use crate::compat::CompatContext;
use crate::ingest::Ingest;
use http::{Busy, Held, Request};
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub api_key: Option<String>,
    pub max_body_bytes: usize,
    pub workers: usize,
}

/// What a route handler can see of the running service.
pub struct Context {
    pub ingest: Arc<Ingest>,
    pub config: ServerConfig,
    /// the query APIs; None when started with `compat := false`
    pub compat: Option<CompatContext>,
    pub started: std::time::Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {address}: {message}")]
    Bind { address: String, message: String },
}

pub struct HttpServer {
    server: http::Server,
    pub local_addr: SocketAddr,
}

impl HttpServer {
    /// Binds the port; connections queue in the kernel until [`HttpServer::serve`].
    pub fn bind(config: &ServerConfig) -> Result<TcpListener, ServerError> {
        let address = format!("{}:{}", config.host, config.port);
        TcpListener::bind(&address).map_err(|e| ServerError::Bind { address, message: e.to_string() })
    }

    pub fn serve(listener: TcpListener, context: Arc<Context>) -> Result<HttpServer, ServerError> {
        let workers = context.config.workers;
        let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let limits = http::Limits { body_budget: body_budget(&context.config), ..http::Limits::default() };
        let handler = Box::new(move |request: &mut Request<'_>| handle(request, &context));
        let server = http::Server::start(listener, workers, limits, handler)
            .map_err(|e| ServerError::Bind { address, message: e.to_string() })?;
        Ok(HttpServer { local_addr: server.local_addr, server })
    }

    /// Stops accepting, answers the requests in flight, closes the socket.
    pub fn stop(self) {
        self.server.stop();
    }
}

/// Routes a request; a panic in a route becomes a 500 and a `last_error`,
/// never an unwinding thread.
fn handle(request: &mut Request<'_>, context: &Context) -> Reply {
    catch_unwind(AssertUnwindSafe(|| routes::route(request, context))).unwrap_or_else(|_| {
        context.ingest.stats.error("http: internal error (panic) while answering a request".into());
        Reply::text(500, "internal error")
    })
}

/// Bodies buffered at once: two maximal bodies per worker, within [64 MiB, 1 GiB],
/// and always room for one maximal body.
fn body_budget(config: &ServerConfig) -> usize {
    let per_workers = config.max_body_bytes.saturating_mul(2).saturating_mul(config.workers.max(1));
    per_workers.clamp(64 << 20, 1 << 30).max(config.max_body_bytes.saturating_add(BODY_STEP))
}

/// A body is buffered in steps of this, each reserved from the shared body budget
/// first: a client holds no more of the budget than it has sent, plus a step.
const BODY_STEP: usize = 1 << 20;

/// A request body read into memory, with its share of the body budget.
pub struct BufferedBody<'a> {
    bytes: Vec<u8>,
    _budget: Vec<Held<'a>>,
}

impl std::ops::Deref for BufferedBody<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Reads a request body, refusing more than `limit` bytes. Call it before
/// [`Request::worker`]: reading at the client's pace must not hold a worker.
pub fn read_body<'a>(request: &mut Request<'a>, limit: usize) -> Result<BufferedBody<'a>, BodyError> {
    if request.body_length().is_some_and(|declared| declared > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let wanted = limit.saturating_add(1);
    let declared = request.body_length().map_or(usize::MAX, |declared| declared as usize);
    let mut bytes = Vec::with_capacity(declared.min(BODY_STEP));
    let mut budget = Vec::new();
    let mut reserved = 0usize;
    loop {
        let step = BODY_STEP.min(wanted - reserved).min(declared.saturating_sub(reserved).max(1));
        budget.push(request.body_budget(step).map_err(BodyError::Busy)?);
        reserved += step;
        let room = (reserved - bytes.len()) as u64;
        let read = request.body().take(room).read_to_end(&mut bytes).map_err(BodyError::from_io)?;
        if (read as u64) < room || reserved >= wanted {
            break;
        }
    }
    if bytes.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(BufferedBody { bytes, _budget: budget })
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body exceeds {limit} bytes")]
    TooLarge { limit: usize },
    #[error("reading request body: {0}")]
    TooSlow(String),
    #[error("{0}")]
    Busy(Busy),
    #[error("reading request body: {0}")]
    Io(String),
}

impl BodyError {
    fn from_io(error: std::io::Error) -> Self {
        match http::pace_error(&error) {
            Some(pace) => BodyError::TooSlow(pace.to_string()),
            None => BodyError::Io(error.to_string()),
        }
    }

    /// The refusal as text; a busy server tells when to try again.
    pub fn reply(&self) -> Reply {
        match self {
            BodyError::Busy(busy) => busy_reply(busy),
            other => Reply::text(other.status(), &other.to_string()),
        }
    }

    /// The status a refusal of this kind gets.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge { .. } => 413,
            BodyError::TooSlow(_) => 408,
            BodyError::Busy(_) => 503,
            BodyError::Io(_) => 400,
        }
    }
}

/// A refusal for want of capacity: 503, and when to try again.
pub fn busy_reply(busy: &Busy) -> Reply {
    Reply::text(503, &busy.to_string()).with_header("Retry-After", "1")
}
