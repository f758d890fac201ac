//! The database the APIs query, as they need it: a pool of sessions, each a
//! [`Store`] that a watchdog thread can interrupt at the request's deadline.
//! The extension implements both over its pool of DuckDB connections.

use canardstack_query::store::{Store, StoreError};

/// Hands out sessions; never the writer's connection.
pub trait Lake: Send + Sync {
    fn session(&self) -> Result<Box<dyn Session>, StoreError>;
}

/// One session of the pool.
pub trait Session: Store {
    /// Something that interrupts what this session is executing, callable
    /// from another thread while the session runs a statement.
    fn interrupter(&self) -> Box<dyn Fn() + Send>;
}
