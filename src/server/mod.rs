//! The HTTP server that runs inside the DuckDB process: the transport in
//! `http/` (a thread per connection), and the routes, behind a panic guard so
//! a bug in one request can neither kill the server nor unwind into DuckDB.
//!
//! Routing is a match on (method, path) in `routes.rs`; each route family is
//! its own file and turns a request into a [`Reply`].

mod auth;
mod compat_routes;
pub mod http;
mod otlp_routes;
mod reply;
mod routes;

pub use reply::Reply;

use crate::compat::CompatContext;
use crate::ingest::Ingest;
use http::Request;
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
        let handler = Box::new(move |request: &mut Request<'_>| handle(request, &context));
        let server = http::Server::start(listener, workers, handler)
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

/// Reads a request body, refusing more than `limit` bytes.
pub fn read_body(request: &mut Request<'_>, limit: usize) -> Result<Vec<u8>, BodyError> {
    if request.body_length().is_some_and(|declared| declared > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(request.body_length().unwrap_or(0).min(limit as u64) as usize);
    request.body().take(limit as u64 + 1).read_to_end(&mut body).map_err(|e| BodyError::Io(e.to_string()))?;
    if body.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(body)
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body exceeds {limit} bytes")]
    TooLarge { limit: usize },
    #[error("reading request body: {0}")]
    Io(String),
}
