//! One row's arguments of a scalar SQL function, read from DuckDB's input
//! chunk. Every read checks the column exists, holds the type asked for, and
//! has the row, before the one unchecked slice access; an argument a shorter
//! overload does not pass reads as absent, like a NULL.

use duckdb::core::{DataChunkHandle, LogicalTypeId};
use duckdb::types::DuckString;
use libduckdb_sys::{duckdb_interval, duckdb_string_t};

pub struct ScalarArgs<'a> {
    input: &'a DataChunkHandle,
    row: usize,
}

/// A calendar interval as DuckDB stores it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

impl<'a> ScalarArgs<'a> {
    pub fn new(input: &'a DataChunkHandle, row: usize) -> Self {
        ScalarArgs { input, row }
    }

    /// A VARCHAR argument.
    pub fn text(&self, column: usize) -> Option<String> {
        let mut raw = self.value::<duckdb_string_t>(column, &[LogicalTypeId::Varchar])?;
        Some(DuckString::new(&mut raw).as_str().into_owned())
    }

    /// A BIGINT argument.
    pub fn bigint(&self, column: usize) -> Option<i64> {
        self.value::<i64>(column, &[LogicalTypeId::Bigint])
    }

    /// A TIMESTAMPTZ argument, in microseconds since the epoch as DuckDB keeps it.
    pub fn timestamp_micros(&self, column: usize) -> Option<i64> {
        self.value::<i64>(column, &[LogicalTypeId::TimestampTZ, LogicalTypeId::Timestamp])
    }

    /// An INTERVAL argument.
    pub fn interval(&self, column: usize) -> Option<Interval> {
        let raw = self.value::<duckdb_interval>(column, &[LogicalTypeId::Interval])?;
        Some(Interval { months: raw.months, days: raw.days, micros: raw.micros })
    }

    /// The row's value of `column` if the column exists, is of one of `types`
    /// (whose storage is `T`) and is not NULL there.
    fn value<T: Copy>(&self, column: usize, types: &[LogicalTypeId]) -> Option<T> {
        if column >= self.input.num_columns() || self.row >= self.input.len() {
            return None;
        }
        let vector = self.input.flat_vector(column);
        let declared = vector.logical_type().id();
        if !types.contains(&declared) || vector.row_is_null(self.row as u64) {
            return None;
        }
        // SAFETY: the column is a flat vector of `len` values whose storage is `T` (its type is one of
        // `types`, each stored as `T`), and row < len
        Some(unsafe { vector.as_slice_with_len::<T>(self.input.len()) }[self.row])
    }
}
