//! The HTTP/1.1 transport: an accept loop and a thread per connection, which
//! reads its requests (heads parsed by httparse, bodies by Content-Length or
//! chunked coding), calls the handler and writes the answers.
//!
//! It replaced tiny_http 0.12, whose connection pool counts a woken thread
//! as idle until that thread runs again: when several connections arrive at
//! once, one of them can be handed to a thread that is already taken and
//! wait, unread, until some other connection closes (seen as a request
//! without an answer in the ingest benchmark). Here every accepted
//! connection gets its own thread at once; `workers` permits bound how many
//! requests are handled at the same time (a route takes one after it read
//! the body, see [`capacity`]).
//!
//! Against clients that hold threads by sending slowly ([`Limits`]): a head
//! must arrive within a deadline, a body at a minimum rate, and when every
//! connection slot is taken the connection that has waited longest for a
//! request (a half-sent head, an idle keep-alive) is closed for the new one.

mod body;
mod capacity;
mod chunked;
mod connection;
mod pace;
mod request;
mod response;
#[cfg(test)]
mod tests;

pub use body::Body;
pub use capacity::{Busy, Held};
pub use chunked::ChunkedError;
pub use pace::{pace_error, MinRate, PaceError};
pub use request::{Head, Method, Request};

use crate::server::Reply;
use capacity::{Capacity, Semaphore};
use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What answers a request: the routes, behind a panic guard.
pub type Handler = dyn Fn(&mut Request<'_>) -> Reply + Send + Sync;

/// Connections open at once; past it the one waiting longest for a request is closed.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long `stop` waits for requests in flight to be answered.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// Connection threads parse queries with recursive descent; the parsers bound
/// nesting to a few hundred levels, far inside this.
const CONNECTION_STACK: usize = 8 << 20;

/// The pace and the shares a connection must keep to.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_connections: usize,
    /// a request head must be complete this long after its first byte (the
    /// first request on a connection: after the connection was accepted)
    pub head_timeout: Duration,
    /// a kept-alive connection waits this long for its next request
    pub idle_timeout: Duration,
    /// a body must keep this rate, or the request is answered 408
    pub body_rate: MinRate,
    /// an answer must be written within this, plus a second per [`WRITE_RATE`] bytes
    pub write_timeout: Duration,
    /// request bodies buffered by routes at once, in bytes
    pub body_budget: usize,
    /// how long a request waits for a worker or body budget before 503
    pub capacity_wait: Duration,
}

/// Bytes per second an answer's write deadline grants beyond [`Limits::write_timeout`].
pub const WRITE_RATE: u64 = 64 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS,
            head_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(300),
            body_rate: MinRate { min_bytes: 10 * 1024, window: Duration::from_secs(10) },
            write_timeout: Duration::from_secs(60),
            body_budget: 256 << 20,
            capacity_wait: Duration::from_secs(30),
        }
    }
}

pub struct Server {
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    pub local_addr: SocketAddr,
}

pub(super) struct Shared {
    handler: Box<Handler>,
    capacity: Capacity,
    limits: Limits,
    connections: Mutex<Registry>,
    left: Condvar,
}

#[derive(Default)]
struct Registry {
    stopping: bool,
    next_id: u64,
    open: HashMap<u64, Open>,
}

impl Registry {
    /// Wakes the threads of connections waiting for a request: their read ends.
    fn close_idle(&self) {
        for open in self.open.values().filter(|open| !open.busy) {
            let _ = open.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Closes the connection that has waited longest for a request (its head
    /// half-sent, or idle between requests) to make room; false when every
    /// connection is inside a request.
    fn evict_longest_waiting(&mut self) -> bool {
        let oldest = self.open.iter().filter(|(_, open)| !open.busy).min_by_key(|(_, open)| open.waiting_since);
        let Some((&id, _)) = oldest else { return false };
        if let Some(open) = self.open.remove(&id) {
            let _ = open.stream.shutdown(std::net::Shutdown::Both);
        }
        true
    }
}

struct Open {
    /// a handle to shut the socket down at stop, while its thread waits for a request
    stream: TcpStream,
    busy: bool,
    /// when it began waiting for its current request (accept, or the end of the last)
    waiting_since: Instant,
}

impl Server {
    /// Starts accepting on `listener`; at most `workers` requests are handled at once.
    pub fn start(
        listener: TcpListener,
        workers: usize,
        limits: Limits,
        handler: Box<Handler>,
    ) -> std::io::Result<Server> {
        let local_addr = listener.local_addr()?;
        let capacity = Capacity {
            workers: Semaphore::new(workers.max(1)),
            body_bytes: Semaphore::new(limits.body_budget.max(1)),
            wait: limits.capacity_wait,
        };
        let shared = Arc::new(Shared {
            handler,
            capacity,
            limits,
            connections: Mutex::new(Registry::default()),
            left: Condvar::new(),
        });
        let accepting = shared.clone();
        let accept = std::thread::Builder::new()
            .name("canardstack-accept".into())
            .spawn(move || accept_loop(listener, &accepting))?;
        Ok(Server { shared, accept: Some(accept), local_addr })
    }

    /// Stops accepting, closes idle connections, answers the requests in
    /// flight (up to [`STOP_GRACE`]) and returns once no handler runs.
    pub fn stop(mut self) {
        {
            let mut registry = self.shared.lock();
            registry.stopping = true;
            registry.close_idle();
        }
        // the accept loop sits in accept(): a connection of our own wakes it to see `stopping`
        let _ = TcpStream::connect_timeout(&wake_address(self.local_addr), Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let deadline = Instant::now() + STOP_GRACE;
        let mut registry = self.shared.lock();
        while !registry.open.is_empty() && Instant::now() < deadline {
            registry = self
                .shared
                .left
                .wait_timeout(registry, Duration::from_millis(100))
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
            // a connection that finished its request since is idle now
            registry.close_idle();
        }
    }
}

fn wake_address(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

fn accept_loop(listener: TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.is_stopping() {
            return;
        }
        let Ok(mut stream) = stream else {
            // out of file descriptors and the like: do not spin on it
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let accepted = Instant::now();
        let Some(id) = shared.register(&stream, accepted) else {
            let refusal = Reply::text(503, "too many connections: try again later").with_header("Retry-After", "1");
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = stream.write_all(&response::encode(&refusal, true, false));
            continue;
        };
        let serving = shared.clone();
        let spawned =
            std::thread::Builder::new().name("canardstack-conn".into()).stack_size(CONNECTION_STACK).spawn(move || {
                let _leave = Leave { shared: &serving, id };
                // the handler catches its own panics; this guards the transport's
                let _ = catch_unwind(AssertUnwindSafe(|| connection::serve(stream, &serving, id, accepted)));
            });
        if spawned.is_err() {
            shared.leave(id);
        }
    }
}

/// Removes a connection from the registry however its thread ends.
struct Leave<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.shared.leave(self.id);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.connections.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_stopping(&self) -> bool {
        self.lock().stopping
    }

    fn register(&self, stream: &TcpStream, accepted: Instant) -> Option<u64> {
        let mut registry = self.lock();
        if registry.stopping {
            return None;
        }
        if registry.open.len() >= self.limits.max_connections && !registry.evict_longest_waiting() {
            return None;
        }
        let stream = stream.try_clone().ok()?;
        registry.next_id += 1;
        let id = registry.next_id;
        registry.open.insert(id, Open { stream, busy: false, waiting_since: accepted });
        Some(id)
    }

    /// False once stopping, or when the connection was closed to make room:
    /// the request is not started.
    fn begin_request(&self, id: u64) -> bool {
        let mut registry = self.lock();
        if registry.stopping {
            return false;
        }
        match registry.open.get_mut(&id) {
            Some(open) => {
                open.busy = true;
                true
            }
            None => false,
        }
    }

    fn end_request(&self, id: u64) {
        if let Some(open) = self.lock().open.get_mut(&id) {
            open.busy = false;
            open.waiting_since = Instant::now();
        }
    }

    fn leave(&self, id: u64) {
        self.lock().open.remove(&id);
        self.left.notify_all();
    }
}
