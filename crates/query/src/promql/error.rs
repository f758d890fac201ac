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
    /// the query text nests deeper than [`super::nesting::MAX_NESTING`]
    #[error("query nesting exceeds the limit of {limit} levels of operators and brackets")]
    TooDeep { limit: usize },
    /// a time, duration or step of the query falls outside what can be computed
    #[error("{0}")]
    OutOfRange(String),
    /// loading or computing more samples than [`QueryBounds::max_samples`](super::eval::QueryBounds)
    #[error("query processing would load too many samples into memory in query execution (limit: {limit} samples)")]
    TooManySamples { limit: usize },
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
