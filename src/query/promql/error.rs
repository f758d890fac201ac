//! The closed set of things that can go wrong with a PromQL query.

#[derive(Debug, thiserror::Error)]
pub enum PromqlError {
    #[error("promql parse error in {query:?}: {message}")]
    Parse { query: String, message: String },
    #[error("promql: {0} is not supported")]
    Unsupported(String),
    #[error("promql: {0}")]
    Eval(String),
    #[error("promql storage: {0}")]
    Storage(String),
    /// the caller's deadline passed (checked between evaluation steps)
    #[error("query timed out in expression evaluation")]
    Timeout,
}

pub type Result<T> = std::result::Result<T, PromqlError>;

pub fn unsupported(construct: impl Into<String>) -> PromqlError {
    PromqlError::Unsupported(construct.into())
}

pub fn eval_error(message: impl Into<String>) -> PromqlError {
    PromqlError::Eval(message.into())
}
