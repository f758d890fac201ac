//! OTLP/gRPC (`grpc_port`): tonic's HTTP/2 server on one small tokio runtime
//! this server owns, beside the OTLP/HTTP transport and sharing everything
//! behind it: the bearer key, the admission checks, the spool and the
//! writer, through the same [`crate::ingest::Ingest::export`] call.
//!
//! The runtime is sized for a guest in someone else's process: two async
//! threads (HTTP/2 framing and decompression) and at most `workers` blocking
//! threads, the ones that wait for the spool's fsync, as many as HTTP has
//! workers. Nothing of it outlives [`GrpcServer::stop`], which stops
//! accepting, lets the calls under way finish (their records are in the
//! queue before the writer drains it), then shuts the runtime down.

mod codec;
mod connections;
mod export;
mod pace;
pub mod status;
#[cfg(test)]
mod tests;

pub use export::MessageLimits;

use super::ServerError;
use crate::ingest::Ingest;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;

#[derive(Clone, Debug)]
pub struct GrpcConfig {
    pub api_key: Option<String>,
    pub limits: MessageLimits,
    /// Export calls handled at once (the `workers` option, as for HTTP)
    pub workers: usize,
}

/// HTTP/2 framing and decompression; the fsync waits run on blocking threads.
const ASYNC_THREADS: usize = 2;
/// One call, from its headers to its answer: a message must arrive within this
/// (a client at the pace HTTP requires, 1 KiB/s, sends 120 KiB in it; a
/// default-sized 16 MiB message needs 140 KiB/s).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Calls under way that `stop` waits for before it shuts the runtime down.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections are ended gracefully (GOAWAY, calls under way finish) this old,
/// so none holds one of the bounded connection slots for ever.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(300);
/// Streams one connection may have open; more wait in the client.
const STREAMS_PER_CONNECTION: u32 = 64;

pub struct GrpcServer {
    runtime: Runtime,
    shutdown: oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    pub local_addr: SocketAddr,
}

impl GrpcServer {
    /// Binds the port; connections queue in the kernel until [`GrpcServer::serve`].
    pub fn bind(host: &str, port: u16) -> Result<TcpListener, ServerError> {
        let address = format!("{host}:{port}");
        TcpListener::bind(&address).map_err(|e| ServerError::Bind { address, message: e.to_string() })
    }

    pub fn serve(listener: TcpListener, ingest: Arc<Ingest>, config: GrpcConfig) -> Result<GrpcServer, ServerError> {
        let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let failed = |e: std::io::Error| ServerError::Bind { address: address.clone(), message: e.to_string() };
        let local_addr = listener.local_addr().map_err(failed)?;
        listener.set_nonblocking(true).map_err(failed)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(ASYNC_THREADS)
            .max_blocking_threads(config.workers.max(1))
            .thread_name("canardstack-grpc")
            .enable_io()
            .enable_time()
            .build()
            .map_err(failed)?;
        let incoming = {
            let _context = runtime.enter();
            TcpIncoming::from(tokio::net::TcpListener::from_std(listener).map_err(failed)?).with_nodelay(Some(true))
        };
        let incoming =
            connections::CappedIncoming::new(incoming, connections::MAX_CONNECTIONS, connections::FIRST_BYTES_DEADLINE);
        let service = export::OtlpExport::new(ingest, config.api_key, config.limits, config.workers);
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tonic::transport::Server::builder()
            .timeout(CALL_TIMEOUT)
            .max_concurrent_streams(STREAMS_PER_CONNECTION)
            .http2_keepalive_interval(Some(Duration::from_secs(60)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            .max_connection_age(MAX_CONNECTION_AGE)
            .max_connection_age_grace(CALL_TIMEOUT);
        let serving = runtime.spawn(server.serve_with_incoming_shutdown(service, incoming, async {
            let _ = stopped.await;
        }));
        Ok(GrpcServer { runtime, shutdown, serving, local_addr })
    }

    /// Stops accepting, waits for the calls under way, shuts the runtime down.
    pub fn stop(self) {
        let GrpcServer { runtime, shutdown, serving, .. } = self;
        let _ = shutdown.send(());
        let _ = runtime.block_on(async { tokio::time::timeout(DRAIN_TIMEOUT, serving).await });
        runtime.shutdown_timeout(Duration::from_secs(5));
    }
}
