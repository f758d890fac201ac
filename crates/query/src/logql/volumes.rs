//! Streams and what they hold (lines, bytes of lines) per time bucket: what
//! Loki's labels, series, index and volume routes list. Streams are the
//! distinct (`service_name`, resource attributes) pairs the database groups in
//! one query over the planner's prunable time predicate; labels are built here
//! with the same label model as log queries, so every route names streams alike.

use super::ast::{LogSelector, Matcher};
use super::model::{stream_labels, StoredLog};
use super::pipeline::Labels;
use super::plan::{plan_logs, Shape, TimeBounds};
use crate::store::{for_each_batch, int64_at, int64_column, text_at, text_column, Store, StoreError};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

/// One stream's lines and bytes (of log lines) in the range, per bucket when asked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamVolume {
    pub entries: u64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// more distinct streams than the caller allows
    #[error("more than {0} streams")]
    TooManyStreams(usize),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("reading resource attributes: {0}")]
    Unreadable(String),
}

/// Streams in `[start, end]` of `logs_table` matching `matchers`, counted per
/// bucket (`bucket_ns` splits the range from `start`; None gives one bucket, 0).
pub struct VolumeQuery<'a> {
    pub logs_table: &'a str,
    pub matchers: &'a [Matcher],
    pub start: i64,
    pub end: i64,
    pub bucket_ns: Option<i64>,
}

impl VolumeQuery<'_> {
    fn sql(&self) -> String {
        let selector = LogSelector { matchers: self.matchers.to_vec(), stages: Vec::new() };
        let bounds = TimeBounds { from_ns: self.start, from_inclusive: true, to_ns: self.end, to_inclusive: true };
        let plan = plan_logs(&selector, self.logs_table, bounds, None, None, Shape::Raw);
        let bucket = match self.bucket_ns {
            Some(step) => format!("CAST((epoch_ns(\"timestamp\") - {}) // {step} AS BIGINT)", self.start),
            None => "CAST(0 AS BIGINT)".into(),
        };
        format!(
            "SELECT coalesce(service_name, '') AS service, coalesce(to_json(map_entries(resource_attributes))::VARCHAR, '[]') AS resource, \
             {bucket} AS bucket, count(*) AS entries, CAST(sum(strlen(line)) AS BIGINT) AS bytes FROM ({}) GROUP BY ALL",
            plan.sql
        )
    }
}

/// Runs `query`; more than `max_streams` distinct streams is an error, found
/// as they are read rather than after.
pub fn volumes(
    store: &dyn Store,
    query: &VolumeQuery,
    max_streams: usize,
) -> Result<BTreeMap<(Labels, i64), StreamVolume>, VolumeError> {
    let mut out: BTreeMap<(Labels, i64), StreamVolume> = BTreeMap::new();
    let mut streams: BTreeSet<Labels> = BTreeSet::new();
    for_each_batch(store, &query.sql(), |batch| -> Result<_, VolumeError> {
        let (service, resource) = (text_column(&batch, 0)?, text_column(&batch, 1)?);
        let (bucket, entries, bytes) = (int64_column(&batch, 2)?, int64_column(&batch, 3)?, int64_column(&batch, 4)?);
        for row in 0..batch.num_rows() {
            let number = |column| int64_at(column, row).ok_or_else(|| VolumeError::Unreadable("a NULL count".into()));
            // DuckDB's to_json escapes every byte of a stored key or value, NUL included
            let pairs: Vec<Value> = serde_json::from_str(text_at(&resource, row).unwrap_or("[]"))
                .map_err(|e| VolumeError::Unreadable(e.to_string()))?;
            let pairs: Vec<(&str, &str)> =
                pairs.iter().filter_map(|p| Some((p.get("key")?.as_str()?, p.get("value")?.as_str()?))).collect();
            let service_name = text_at(&service, row).unwrap_or_default();
            let labels = stream_labels(&StoredLog { service_name, ..StoredLog::default() }, pairs);
            // the stream limit holds as streams are found, before the rest are read
            if !streams.contains(&labels) {
                streams.insert(labels.clone());
                if streams.len() > max_streams {
                    return Err(VolumeError::TooManyStreams(max_streams));
                }
            }
            let volume = out.entry((labels, number(&bucket)?)).or_default();
            volume.entries += number(&entries)? as u64;
            volume.bytes += number(&bytes)? as u64;
        }
        Ok(ControlFlow::Continue(()))
    })??;
    Ok(out)
}
