//! Small Arrow helpers shared by the signal decoders.
//!
//! Columns are built with Arrow's typed builders, straight from the decoded
//! protobuf, with no row structs in between. Lists of structs (span events,
//! links, exemplars, quantiles) are assembled by hand from one builder per
//! struct field plus an offsets vector, which avoids the dynamic downcasts of
//! `StructBuilder`; their Arrow types are taken from the table schema so the
//! finished batch always matches [`Table::arrow_schema`].

use super::{DecodeError, TableBatch};
use crate::schema::Table;
use arrow_array::builder::StringBuilder;
use arrow_array::RecordBatch;
use arrow_array::{ArrayRef, ListArray, StructArray};
use arrow_buffer::OffsetBuffer;
use arrow_schema::DataType;
use std::sync::Arc;

/// Appends `bytes` as lowercase hex (empty string for no bytes).
pub(crate) fn append_hex(builder: &mut StringBuilder, bytes: &[u8]) {
    let mut buf = [0u8; 64];
    if bytes.len() <= 32 {
        builder.append_value(super::text::hex_into(bytes, &mut buf));
    } else {
        builder.append_value(super::text::hex_string(bytes));
    }
}

/// An OTLP `*_unix_nano` as a `TIMESTAMP_NS` value; NULL past year 2262.
pub(crate) fn nanos(unix_nano: u64) -> Option<i64> {
    i64::try_from(unix_nano).ok()
}

/// Offsets of a `LIST(STRUCT(...))` column under construction.
pub(crate) struct ListOffsets {
    offsets: Vec<i32>,
}

impl ListOffsets {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        ListOffsets { offsets }
    }

    /// Ends the current row, whose elements brought the children to `child_len`.
    pub(crate) fn close_row(&mut self, child_len: usize) {
        self.offsets.push(i32::try_from(child_len).unwrap_or(i32::MAX));
    }

    /// Assembles the list column of type `list_type` from its struct children.
    pub(crate) fn finish(self, list_type: &DataType, children: Vec<ArrayRef>) -> Result<ArrayRef, DecodeError> {
        let DataType::List(item) = list_type else {
            return Err(DecodeError::Internal(format!("expected a list type, got {list_type}")));
        };
        let DataType::Struct(fields) = item.data_type() else {
            return Err(DecodeError::Internal(format!("expected a list of structs, got {list_type}")));
        };
        let values = StructArray::try_new(fields.clone(), children, None).map_err(arrow_error)?;
        let offsets = OffsetBuffer::new(self.offsets.into());
        let list = ListArray::try_new(item.clone(), offsets, Arc::new(values), None).map_err(arrow_error)?;
        Ok(Arc::new(list))
    }
}

/// The Arrow type of column `name` of `table`.
pub(crate) fn column_type(table: Table, name: &str) -> DataType {
    let schema = table.arrow_schema();
    match schema.field_with_name(name) {
        Ok(field) => field.data_type().clone(),
        Err(_) => DataType::Null,
    }
}

fn arrow_error(err: arrow_schema::ArrowError) -> DecodeError {
    DecodeError::Internal(err.to_string())
}

/// Wraps finished columns into the table's batch; `None` when there are no rows.
pub(crate) fn table_batch(table: Table, columns: Vec<ArrayRef>) -> Result<Option<TableBatch>, DecodeError> {
    if columns.first().is_none_or(|c| c.is_empty()) {
        return Ok(None);
    }
    let batch = RecordBatch::try_new(table.arrow_schema(), columns)
        .map_err(|e| DecodeError::Internal(format!("{} batch: {e}", table.name())))?;
    Ok(Some(TableBatch { table, batch }))
}
