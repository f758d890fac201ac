//! The spool's closed set of errors. The server maps them to statuses: `Full` is
//! back-pressure (429), `Failed` and `Io` mean storage is broken (503), `TooLarge` is
//! the client's fault (413), `Corrupt` is an operator problem reported at start-up.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("spool full: {backlog_bytes} unreleased bytes, limit {limit}")]
    Full { backlog_bytes: u64, limit: u64 },
    #[error("spool record too large: {bytes} bytes, limit {limit}")]
    TooLarge { bytes: u64, limit: u64 },
    /// Another open spool (in this process or another) holds the directory.
    #[error("spool directory {} is in use by another spool (another otlp_serve in this or another process): give this one its own spool_dir", dir.display())]
    InUse { dir: std::path::PathBuf },
    #[error("spool corrupt: {0}")]
    Corrupt(String),
    /// An earlier write or fsync failed; the file state is unknown, so the spool
    /// refuses all further appends until it is reopened.
    #[error("spool failed: {reason}")]
    Failed { reason: String },
}

impl SpoolError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        SpoolError::Io { context: context.into(), source }
    }
}

/// Shorthand for attaching a lowercase context to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, SpoolError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, SpoolError> {
        self.map_err(|source| SpoolError::io(context(), source))
    }
}
