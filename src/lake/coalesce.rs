//! Many small batches of one table become a few larger ones before a flush
//! is written.
//!
//! Requests of a few records each (an SDK's exports under light load, or spool
//! replay of metrics written by an older version) give a flush hundreds of tiny
//! batches per table. Both write routes pay per batch and per column (the
//! Parquet encoder computes levels and retypes every array; the appender
//! converts every batch): that per-batch cost was most of the writer's time
//! when every metrics request arrived as five tables' batches of five rows.
//! One concatenation per run of small batches pays it once per run instead.
//! Batches of a few hundred rows (full SDK batches) pass through untouched:
//! copying them costs the single writer thread more than it saves the
//! parallel encoder (logs ingest lost 7% when 500-record batches were merged).

use duckdb::arrow::array::{Array, ArrayRef, MapArray, StructArray};
use duckdb::arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer};
use duckdb::arrow::compute::concat;
use duckdb::arrow::datatypes::DataType;
use duckdb::arrow::error::ArrowError;
use duckdb::arrow::record_batch::RecordBatch;
use std::sync::Arc;

/// Batches with fewer rows are merged with their neighbours.
const SMALL_BATCH_ROWS: usize = 128;
/// A run of small batches is closed once it holds this many rows.
const RUN_ROWS: usize = 8192;

/// The batches in the same order, runs of consecutive small ones concatenated.
pub(super) fn coalesce(batches: &[&RecordBatch]) -> Result<Vec<RecordBatch>, ArrowError> {
    let mut out = Vec::new();
    let mut run: Vec<&RecordBatch> = Vec::new();
    let mut run_rows = 0;
    for batch in batches {
        if batch.num_rows() >= SMALL_BATCH_ROWS {
            close_run(&mut run, &mut out)?;
            run_rows = 0;
            out.push((*batch).clone());
            continue;
        }
        run.push(batch);
        run_rows += batch.num_rows();
        if run_rows >= RUN_ROWS {
            close_run(&mut run, &mut out)?;
            run_rows = 0;
        }
    }
    close_run(&mut run, &mut out)?;
    Ok(out)
}

fn close_run(run: &mut Vec<&RecordBatch>, out: &mut Vec<RecordBatch>) -> Result<(), ArrowError> {
    match run.as_slice() {
        [] => {}
        [single] => out.push((*single).clone()),
        [first, ..] => {
            let columns = (0..first.num_columns())
                .map(|index| concat_column(&run.iter().map(|batch| batch.column(index)).collect::<Vec<_>>()))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(RecordBatch::try_new(first.schema(), columns)?);
        }
    }
    run.clear();
    Ok(())
}

/// arrow's `concat` has no fast path for MAP columns (it copies them value by
/// value, and took most of the time of a merge): maps are joined here by
/// concatenating their entries and shifting their offsets.
fn concat_column(arrays: &[&ArrayRef]) -> Result<ArrayRef, ArrowError> {
    match arrays[0].data_type() {
        DataType::Map(_, _) => {
            let maps = arrays
                .iter()
                .map(|array| {
                    array.as_any().downcast_ref::<MapArray>().ok_or_else(|| {
                        ArrowError::InvalidArgumentError(format!("expected a map column, got {}", array.data_type()))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Arc::new(concat_maps(&maps)?))
        }
        _ => concat(&arrays.iter().map(|array| array.as_ref()).collect::<Vec<_>>()),
    }
}

fn concat_maps(maps: &[&MapArray]) -> Result<MapArray, ArrowError> {
    let mut offsets = Vec::with_capacity(maps.iter().map(|m| m.len()).sum::<usize>() + 1);
    offsets.push(0i32);
    let mut entries: Vec<ArrayRef> = Vec::with_capacity(maps.len());
    for map in maps {
        let own = map.value_offsets();
        let (first, last) = (own[0], own[own.len() - 1]);
        let base = offsets[offsets.len() - 1] - first;
        offsets.extend(own[1..].iter().map(|offset| offset + base));
        entries.push(Arc::new(map.entries().slice(first as usize, (last - first) as usize)));
    }
    let entries = concat(&entries.iter().map(|e| e.as_ref()).collect::<Vec<_>>())?;
    let entries = entries
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or_else(|| ArrowError::InvalidArgumentError("map entries are not a struct".into()))?
        .clone();
    let nulls = maps.iter().any(|m| m.null_count() > 0).then(|| {
        let validity = maps.iter().flat_map(|m| (0..m.len()).map(move |row| m.is_valid(row)));
        NullBuffer::new(BooleanBuffer::from_iter(validity))
    });
    let DataType::Map(field, ordered) = maps[0].data_type() else {
        return Err(ArrowError::InvalidArgumentError("expected a map column".into()));
    };
    MapArray::try_new(field.clone(), OffsetBuffer::new(offsets.into()), entries, nulls, *ordered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use duckdb::arrow::array::{Array, Int64Array, MapBuilder, StringBuilder};
    use duckdb::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    /// `rows` rows numbered from `first`, with a one-entry map per row.
    fn batch(first: i64, rows: usize) -> RecordBatch {
        let mut map = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for i in 0..rows {
            map.keys().append_value("k");
            map.values().append_value(format!("v{}", first + i as i64));
            map.append(true).unwrap();
        }
        let map = map.finish();
        let schema = Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("attributes", map.data_type().clone(), true),
        ]);
        let numbers = Int64Array::from_iter_values(first..first + rows as i64);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(numbers), Arc::new(map)]).unwrap()
    }

    fn numbers(batches: &[RecordBatch]) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec())
            .collect()
    }

    #[test]
    fn small_batches_merge_in_order_and_large_ones_pass_through() {
        let inputs = [batch(0, 5), batch(5, 5), batch(10, 200), batch(210, 3), batch(213, 4)];
        let refs: Vec<&RecordBatch> = inputs.iter().collect();
        let out = coalesce(&refs).unwrap();
        assert_eq!(out.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [10, 200, 7]);
        assert_eq!(numbers(&out), (0..217).collect::<Vec<_>>());
        let maps = out[2].column(1).as_any().downcast_ref::<duckdb::arrow::array::MapArray>().unwrap();
        let last = maps.value(6);
        let values = last.column(1).as_any().downcast_ref::<duckdb::arrow::array::StringArray>().unwrap();
        assert_eq!(values.value(0), "v216");
    }

    #[test]
    fn maps_join_sliced_and_null_rows_as_arrow_concat_does() {
        let whole = batch(0, 6);
        let map = whole.column(1);
        let mut builder = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        builder.append(false).unwrap();
        builder.keys().append_value("x");
        builder.values().append_value("y");
        builder.append(true).unwrap();
        let with_null: ArrayRef = Arc::new(builder.finish());
        let pieces = [map.slice(1, 2), with_null, map.slice(4, 2)];
        let refs: Vec<&ArrayRef> = pieces.iter().collect();
        let ours = concat_column(&refs).unwrap();
        let arrows = concat(&pieces.iter().map(|a| a.as_ref()).collect::<Vec<_>>()).unwrap();
        assert_eq!(ours.to_data(), arrows.to_data());
        assert_eq!(ours.len(), 6);
        assert!(ours.is_null(2));
    }

    #[test]
    fn a_run_closes_at_its_row_target() {
        let inputs: Vec<RecordBatch> = (0..200).map(|i| batch(i * 100, 100)).collect();
        let refs: Vec<&RecordBatch> = inputs.iter().collect();
        let out = coalesce(&refs).unwrap();
        assert_eq!(out.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [8200, 8200, 3600]);
        assert_eq!(numbers(&out), (0..20_000).collect::<Vec<_>>());
        assert!(coalesce(&[]).unwrap().is_empty());
    }
}
