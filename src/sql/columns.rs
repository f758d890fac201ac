//! Small Arrow column builders shared by the SQL functions' result batches.

use duckdb::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, MapBuilder, StringArray, StringBuilder, TimestampMicrosecondArray,
    UInt16Array, UInt64Array, UInt64Builder,
};
use duckdb::arrow::datatypes::{DataType, Field, TimeUnit};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn text(values: impl IntoIterator<Item = Option<String>>) -> ArrayRef {
    Arc::new(values.into_iter().collect::<StringArray>())
}

pub fn u16s(values: impl IntoIterator<Item = u16>) -> ArrayRef {
    Arc::new(values.into_iter().collect::<UInt16Array>())
}

pub fn u64s(values: impl IntoIterator<Item = u64>) -> ArrayRef {
    Arc::new(values.into_iter().map(Some).collect::<UInt64Array>())
}

pub fn optional_u64s(values: impl IntoIterator<Item = Option<u64>>) -> ArrayRef {
    Arc::new(values.into_iter().collect::<UInt64Array>())
}

pub fn f64s(values: impl IntoIterator<Item = Option<f64>>) -> ArrayRef {
    Arc::new(values.into_iter().collect::<Float64Array>())
}

pub fn bools(values: impl IntoIterator<Item = bool>) -> ArrayRef {
    Arc::new(values.into_iter().map(Some).collect::<BooleanArray>())
}

pub fn timestamps(values: impl IntoIterator<Item = Option<SystemTime>>) -> ArrayRef {
    let micros = |t: SystemTime| t.duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0);
    Arc::new(values.into_iter().map(|t| t.map(micros)).collect::<TimestampMicrosecondArray>())
}

pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

/// `MAP(VARCHAR, UBIGINT)` of counters, one map per row.
pub fn counter_maps<'a>(rows: impl IntoIterator<Item = &'a BTreeMap<String, u64>>) -> ArrayRef {
    let mut builder = MapBuilder::new(None, StringBuilder::new(), UInt64Builder::new());
    for row in rows {
        for (key, value) in row {
            builder.keys().append_value(key);
            builder.values().append_value(*value);
        }
        builder.append(true).expect("keys and values appended in pairs");
    }
    Arc::new(builder.finish())
}

pub fn counter_map_type() -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(
            vec![Field::new("keys", DataType::Utf8, false), Field::new("values", DataType::UInt64, true)].into(),
        ),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}
