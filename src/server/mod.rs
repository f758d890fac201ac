//! The HTTP server that runs inside the DuckDB process: tiny_http, a fixed
//! pool of worker threads, each catching its own panics so a bug in one
//! request can neither kill the pool nor unwind into DuckDB.
//!
//! Routing is a match on (method, path) in `routes.rs`; each route family is
//! its own file and turns a request into a [`Reply`].

mod auth;
mod compat_routes;
mod otlp_routes;
mod reply;
mod routes;

pub use reply::Reply;

use crate::compat::CompatContext;
use crate::ingest::Ingest;
use std::io::Read;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

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
    server: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    pub local_addr: SocketAddr,
}

impl HttpServer {
    /// Binds the port; requests queue in the kernel until [`HttpServer::serve`].
    pub fn bind(config: &ServerConfig) -> Result<tiny_http::Server, ServerError> {
        let address = format!("{}:{}", config.host, config.port);
        tiny_http::Server::http(&address).map_err(|e| ServerError::Bind { address, message: e.to_string() })
    }

    pub fn serve(server: tiny_http::Server, context: Arc<Context>) -> HttpServer {
        let local_addr = server.server_addr().to_ip().unwrap_or_else(|| ([127, 0, 0, 1], context.config.port).into());
        let server = Arc::new(server);
        let stopping = Arc::new(AtomicBool::new(false));
        let workers = (0..context.config.workers.max(1))
            .map(|i| {
                let (server, stopping, context) = (server.clone(), stopping.clone(), context.clone());
                std::thread::Builder::new()
                    .name(format!("canardstack-http-{i}"))
                    .spawn(move || worker(&server, &stopping, &context))
                    .expect("spawning an HTTP worker thread")
            })
            .collect();
        HttpServer { server, stopping, workers, local_addr }
    }

    /// Stops accepting, finishes the requests in flight, closes the socket.
    pub fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        for _ in &self.workers {
            self.server.unblock();
        }
        for worker in self.workers {
            let _ = worker.join();
        }
    }
}

fn worker(server: &tiny_http::Server, stopping: &AtomicBool, context: &Context) {
    while !stopping.load(Ordering::SeqCst) {
        let request = match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(request)) => request,
            Ok(None) => continue,
            Err(_) => continue,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| handle(request, context)));
        if outcome.is_err() {
            context.ingest.stats.error("http worker: internal error (panic) while answering a request".into());
        }
    }
}

fn handle(mut request: tiny_http::Request, context: &Context) {
    let reply = routes::route(&mut request, context);
    let _ = request.respond(reply.into_response());
}

/// Reads a request body, refusing more than `limit` bytes.
pub fn read_body(request: &mut tiny_http::Request, limit: usize) -> Result<Vec<u8>, BodyError> {
    if request.body_length().is_some_and(|declared| declared > limit) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(request.body_length().unwrap_or(0).min(limit));
    request.as_reader().take(limit as u64 + 1).read_to_end(&mut body).map_err(|e| BodyError::Io(e.to_string()))?;
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

pub fn header<'a>(request: &'a tiny_http::Request, name: &str) -> Option<&'a str> {
    request.headers().iter().find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
}
