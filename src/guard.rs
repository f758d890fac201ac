//! The panic guard at the FFI edge.
//!
//! A Rust panic unwinding into DuckDB's C++ would abort the user's database
//! process. Every SQL function body runs inside [`guarded`], which turns a
//! panic into an ordinary error that DuckDB reports for that one query. The
//! SQL glue in `sql/` registers functions only through wrappers built on this
//! function, so no callback can bypass it. (duckdb-rs contains panics too; we
//! keep our own guard so the guarantee does not depend on a dependency's
//! internals, and so the message names the function that failed.)

use std::any::Any;
use std::error::Error;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub type BoxError = Box<dyn Error>;

/// Runs `body`, converting a panic into an error naming `function`.
pub fn guarded<T>(function: &str, body: impl FnOnce() -> Result<T, BoxError>) -> Result<T, BoxError> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => Err(format!("{function}: internal error (panic): {}", panic_message(payload.as_ref())).into()),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_values_through() {
        assert_eq!(guarded("f", || Ok(41 + 1)).unwrap(), 42);
    }

    #[test]
    fn passes_errors_through_unchanged() {
        let err = guarded::<()>("f", || Err("bad argument".into())).unwrap_err();
        assert_eq!(err.to_string(), "bad argument");
    }

    #[test]
    fn turns_str_panic_into_error_naming_function() {
        let err = guarded::<()>("loki_query", || panic!("boom")).unwrap_err();
        assert_eq!(err.to_string(), "loki_query: internal error (panic): boom");
    }

    #[test]
    fn turns_formatted_panic_into_error() {
        let n = 7;
        let err = guarded::<()>("f", || panic!("index {n} out of range")).unwrap_err();
        assert_eq!(err.to_string(), "f: internal error (panic): index 7 out of range");
    }

    #[test]
    fn turns_non_string_panic_into_error() {
        let err = guarded::<()>("f", || std::panic::panic_any(17u8)).unwrap_err();
        assert_eq!(err.to_string(), "f: internal error (panic): unknown panic payload");
    }

    #[test]
    fn survives_real_runtime_panics() {
        let err = guarded::<i32>("f", || {
            let v: Vec<i32> = Vec::new();
            Ok(v[3])
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("f: internal error (panic): index out of bounds"), "{err}");
    }
}
