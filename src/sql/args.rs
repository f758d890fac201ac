//! Reading SQL function arguments into Rust values, with errors that name the
//! argument. DuckDB has already cast each argument to its declared type.

use crate::guard::BoxError;
use duckdb::vtab::{BindInfo, Value};

pub fn named(bind: &BindInfo, name: &str) -> Option<Value> {
    bind.get_named_parameter(name).filter(|value| !value.is_null())
}

pub fn named_string(bind: &BindInfo, name: &str) -> Option<String> {
    named(bind, name).map(|value| value.to_string())
}

pub fn named_bool(bind: &BindInfo, name: &str) -> Option<bool> {
    named(bind, name).map(|value| value.to_string() == "true")
}

/// A non-negative integer argument that must fit `T`.
pub fn named_count<T: TryFrom<i64>>(bind: &BindInfo, name: &str) -> Result<Option<T>, BoxError> {
    named(bind, name).map(|value| count(name, value.to_int64())).transpose()
}

pub fn count<T: TryFrom<i64>>(name: &str, raw: i64) -> Result<T, BoxError> {
    if raw < 0 {
        return Err(format!("{name} must not be negative, got {raw}").into());
    }
    T::try_from(raw).map_err(|_| format!("{name} is out of range: {raw}").into())
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_are_range_checked_by_name() {
        assert_eq!(count::<u16>("port", 4318).unwrap(), 4318);
        assert_eq!(count::<u16>("port", 70000).unwrap_err().to_string(), "port is out of range: 70000");
        assert_eq!(count::<u16>("port", -1).unwrap_err().to_string(), "port must not be negative, got -1");
    }
}
