//! The rows `promql_range` and `promql_query` return, shared by both:
//! `labels MAP(VARCHAR, VARCHAR)` (without `__name__`), `metric VARCHAR`
//! (the `__name__` label, NULL when the series has none), `timestamp
//! TIMESTAMP`, `value DOUBLE`; and running the engine on a pooled connection.

use crate::guard::BoxError;
use crate::query::promql::value::{Series, METRIC_NAME};
use duckdb::arrow::array::{ArrayRef, Float64Array, MapBuilder, StringArray, StringBuilder, TimestampMicrosecondArray};
use duckdb::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use duckdb::arrow::record_batch::RecordBatch;
use std::sync::Arc;

fn label_map_type() -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(
            vec![Field::new("keys", DataType::Utf8, false), Field::new("values", DataType::Utf8, true)].into(),
        ),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

pub fn result_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("labels", label_map_type(), false),
        Field::new("metric", DataType::Utf8, true),
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Microsecond, None), false),
        Field::new("value", DataType::Float64, false),
    ]))
}

/// One row per point of every series, series in label order.
pub fn result_batch(series: &[Series]) -> Result<RecordBatch, BoxError> {
    let mut labels = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    let (mut metrics, mut times, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for s in series {
        for p in &s.points {
            for (k, v) in s.labels.iter().filter(|(k, _)| k.as_str() != METRIC_NAME) {
                labels.keys().append_value(k);
                labels.values().append_value(v);
            }
            labels.append(true)?;
            metrics.push(s.labels.get(METRIC_NAME).cloned());
            times.push(p.t * 1000);
            values.push(p.v);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(labels.finish()),
        Arc::new(metrics.into_iter().collect::<StringArray>()),
        Arc::new(TimestampMicrosecondArray::from(times)),
        Arc::new(Float64Array::from(values)),
    ];
    Ok(RecordBatch::try_new(result_schema(), columns)?)
}
