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
//! requests are handled at the same time.

mod body;
mod connection;
mod request;
mod response;
#[cfg(test)]
mod tests;

pub use body::Body;
pub use request::{Head, Method, Request};

use crate::server::Reply;
use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What answers a request: the routes, behind a panic guard.
pub type Handler = dyn Fn(&mut Request<'_>) -> Reply + Send + Sync;

/// Connections open at once; past it a new one is answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long `stop` waits for requests in flight to be answered.
const STOP_GRACE: Duration = Duration::from_secs(30);

pub struct Server {
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    pub local_addr: SocketAddr,
}

pub(super) struct Shared {
    handler: Box<Handler>,
    permits: Permits,
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
}

struct Open {
    /// a handle to shut the socket down at stop, while its thread waits for a request
    stream: TcpStream,
    busy: bool,
}

impl Server {
    /// Starts accepting on `listener`; at most `workers` requests are handled at once.
    pub fn start(listener: TcpListener, workers: usize, handler: Box<Handler>) -> std::io::Result<Server> {
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            handler,
            permits: Permits::new(workers.max(1)),
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
        let Some(id) = shared.register(&stream) else {
            let refusal = Reply::text(503, "too many connections: try again later").with_header("Retry-After", "1");
            let _ = stream.write_all(&response::encode(&refusal, true, false));
            continue;
        };
        let serving = shared.clone();
        let spawned = std::thread::Builder::new().name("canardstack-conn".into()).spawn(move || {
            let _leave = Leave { shared: &serving, id };
            // the handler catches its own panics; this guards the transport's
            let _ = catch_unwind(AssertUnwindSafe(|| connection::serve(stream, &serving, id)));
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

    fn register(&self, stream: &TcpStream) -> Option<u64> {
        let mut registry = self.lock();
        if registry.stopping || registry.open.len() >= MAX_CONNECTIONS {
            return None;
        }
        let stream = stream.try_clone().ok()?;
        registry.next_id += 1;
        let id = registry.next_id;
        registry.open.insert(id, Open { stream, busy: false });
        Some(id)
    }

    /// False once stopping: the request is not started.
    fn begin_request(&self, id: u64) -> bool {
        let mut registry = self.lock();
        if registry.stopping {
            return false;
        }
        if let Some(open) = registry.open.get_mut(&id) {
            open.busy = true;
        }
        true
    }

    fn end_request(&self, id: u64) {
        if let Some(open) = self.lock().open.get_mut(&id) {
            open.busy = false;
        }
    }

    fn leave(&self, id: u64) {
        self.lock().open.remove(&id);
        self.left.notify_all();
    }
}

/// A counting semaphore: how many requests are handled at once.
struct Permits {
    available: Mutex<usize>,
    returned: Condvar,
}

struct Permit<'a>(&'a Permits);

impl Permits {
    fn new(count: usize) -> Self {
        Permits { available: Mutex::new(count), returned: Condvar::new() }
    }

    fn acquire(&self) -> Permit<'_> {
        let mut available = self.available.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while *available == 0 {
            available = self.returned.wait(available).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *available -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.available.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) += 1;
        self.0.returned.notify_one();
    }
}
