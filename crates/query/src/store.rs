//! What the engines need from the database, and nothing more: run one SQL
//! statement their planners wrote and hand its result over as Arrow batches.
//!
//! The extension implements [`Store`] over a DuckDB connection; this crate
//! never links DuckDB, so planning and evaluation build and test without it.

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_cast::cast::cast;
use arrow_schema::DataType;
use std::ops::ControlFlow;

/// A database error, with the database's own message (a timeout shows as
/// DuckDB's "Interrupted" in it).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Runs SQL and streams its result.
pub trait Store {
    /// Runs `sql` and hands its result batches to `visit` as they are
    /// produced, until `visit` breaks or the result ends.
    fn scan(&self, sql: &str, visit: &mut dyn FnMut(RecordBatch) -> ControlFlow<()>) -> Result<(), StoreError>;
}

/// [`Store::scan`] with a visitor that can fail with the caller's own error,
/// which ends the scan. The outer result is the store's, the inner the visitor's.
pub fn for_each_batch<E>(
    store: &dyn Store,
    sql: &str,
    mut visit: impl FnMut(RecordBatch) -> Result<ControlFlow<()>, E>,
) -> Result<Result<(), E>, StoreError> {
    let mut failure = None;
    store.scan(sql, &mut |batch| match visit(batch) {
        Ok(flow) => flow,
        Err(error) => {
            failure = Some(error);
            ControlFlow::Break(())
        }
    })?;
    Ok(failure.map_or(Ok(()), Err))
}

/// Every batch of the result of `sql`.
pub fn all_batches(store: &dyn Store, sql: &str) -> Result<Vec<RecordBatch>, StoreError> {
    let mut batches = Vec::new();
    store.scan(sql, &mut |batch| {
        batches.push(batch);
        ControlFlow::Continue(())
    })?;
    Ok(batches)
}

/// Column `index` of a result as text, whatever string type the database
/// exported it as.
pub fn text_column(batch: &RecordBatch, index: usize) -> Result<ArrayRef, StoreError> {
    converted(batch, index, &DataType::Utf8)
}

/// Column `index` of a result as 64-bit integers, whatever integer type the
/// database exported it as.
pub fn int64_column(batch: &RecordBatch, index: usize) -> Result<ArrayRef, StoreError> {
    converted(batch, index, &DataType::Int64)
}

fn converted(batch: &RecordBatch, index: usize, to: &DataType) -> Result<ArrayRef, StoreError> {
    let column = batch.columns().get(index).ok_or_else(|| StoreError(format!("the result has no column {index}")))?;
    cast(column, to).map_err(|e| StoreError(format!("reading column {index}: {e}")))
}

/// Row `row` of a [`text_column`]; None when NULL (or not a text column).
pub fn text_at(column: &ArrayRef, row: usize) -> Option<&str> {
    let strings = column.as_string_opt::<i32>()?;
    (!strings.is_null(row)).then(|| strings.value(row))
}

/// Row `row` of an [`int64_column`]; None when NULL (or not an integer column).
pub fn int64_at(column: &ArrayRef, row: usize) -> Option<i64> {
    let ints = column.as_primitive_opt::<Int64Type>()?;
    (!ints.is_null(row)).then(|| ints.value(row))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int32Array, StringArray};
    use std::sync::Arc;

    /// A store that answers every statement with the same batches.
    struct Fixed(Vec<RecordBatch>);

    impl Store for Fixed {
        fn scan(&self, _sql: &str, visit: &mut dyn FnMut(RecordBatch) -> ControlFlow<()>) -> Result<(), StoreError> {
            for batch in &self.0 {
                if visit(batch.clone()).is_break() {
                    break;
                }
            }
            Ok(())
        }
    }

    fn batch(numbers: Vec<Option<i32>>, names: Vec<Option<&str>>) -> RecordBatch {
        RecordBatch::try_from_iter([
            ("n", Arc::new(Int32Array::from(numbers)) as ArrayRef),
            ("s", Arc::new(StringArray::from(names)) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn a_visitor_error_ends_the_scan_and_is_returned() {
        let store = Fixed(vec![batch(vec![Some(1)], vec![Some("a")]), batch(vec![Some(2)], vec![Some("b")])]);
        let mut seen = 0;
        let result = for_each_batch(&store, "SELECT", |_| {
            seen += 1;
            Err::<ControlFlow<()>, _>("stop")
        });
        assert_eq!((result, seen), (Ok(Err("stop")), 1));
        let mut rows = 0;
        for_each_batch(&store, "SELECT", |b| {
            rows += b.num_rows();
            Ok::<_, ()>(ControlFlow::Continue(()))
        })
        .unwrap()
        .unwrap();
        assert_eq!(rows, 2);
    }

    #[test]
    fn columns_read_as_text_and_integers_with_nulls() {
        let b = batch(vec![Some(7), None], vec![None, Some("x")]);
        let (ints, texts) = (int64_column(&b, 0).unwrap(), text_column(&b, 1).unwrap());
        assert_eq!((int64_at(&ints, 0), int64_at(&ints, 1)), (Some(7), None));
        assert_eq!((text_at(&texts, 0), text_at(&texts, 1)), (None, Some("x")));
        assert_eq!(text_column(&b, 2).unwrap_err(), StoreError("the result has no column 2".into()));
        assert_eq!((int64_at(&texts, 1), text_at(&ints, 0)), (None, None), "a column of another type is no value");
        assert_eq!(all_batches(&Fixed(vec![b.clone(), b]), "SELECT").unwrap().len(), 2);
    }
}
