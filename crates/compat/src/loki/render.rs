//! Loki's JSON shapes: the `{"status":"success","data":{...}}` envelope with
//! its `stats` block, streams (two-element values, or three with
//! `categorize-labels`), vectors and matrices with Prometheus-style
//! `[<seconds>, "<value>"]` pairs. Numbers are printed the way Loki's Go
//! encoder prints them (millisecond timestamps as seconds without a trailing
//! `.0`, sample values with Go's shortest `'f'` format), so responses compare
//! equal to upstream's, not merely parse.

pub use canardstack_query::go_text::format_float as sample_text;
use canardstack_query::logql::engine::{LogRow, ScanStats};
use canardstack_query::logql::eval::Series;
use canardstack_query::logql::pipeline::Labels;
use canardstack_query::logql::plan::Direction;
use serde_json::{json, Map, Number, Value};
use std::collections::BTreeMap;
use std::time::Duration;

pub const CATEGORIZE_LABELS: &str = "categorize-labels";

/// A sample timestamp (ns) as Loki prints it: seconds with millisecond precision.
pub fn seconds_value(ns: i64) -> Value {
    let ms = ns.div_euclid(1_000_000);
    if ms % 1000 == 0 {
        Value::Number(Number::from(ms / 1000))
    } else {
        Number::from_f64(ms as f64 / 1000.0).map(Value::Number).unwrap_or(Value::Null)
    }
}

pub fn labels_json(labels: &Labels) -> Value {
    Value::Object(labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

/// `{a="b", c="d"}`, the label string Loki sorts streams by.
pub fn label_string(labels: &Labels) -> String {
    let inner: Vec<String> =
        labels.iter().map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default())).collect();
    format!("{{{}}}", inner.join(", "))
}

/// What the `stats` block reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub scanned: ScanStats,
    pub entries_returned: u64,
    pub exec_time: Duration,
}

fn cache_block() -> Value {
    json!({"entriesFound": 0, "entriesRequested": 0, "entriesStored": 0, "bytesReceived": 0, "bytesSent": 0,
           "requests": 0, "downloadTime": 0, "queryLengthServed": 0})
}

fn store_block(scanned: ScanStats) -> Value {
    json!({
        "chunk": {"compressedBytes": 0, "decompressedBytes": scanned.bytes, "decompressedLines": scanned.lines,
                  "decompressedStructuredMetadataBytes": 0, "headChunkBytes": 0, "headChunkLines": 0,
                  "headChunkStructuredMetadataBytes": 0, "postFilterLines": scanned.post_filter_lines, "totalDuplicates": 0},
        "chunksDownloadTime": 0, "congestionControlLatency": 0,
        "dataobj": {"pageBatches": 0, "pagesDownloaded": 0, "pagesDownloadedBytes": 0, "pagesScanned": 0,
                    "postFilterRows": 0, "postPredicateRows": 0, "postPredicateDecompressedBytes": 0,
                    "postPredicateStructuredMetadataBytes": 0, "prePredicateDecompressedRows": 0,
                    "prePredicateDecompressedBytes": 0, "prePredicateDecompressedStructuredMetadataBytes": 0,
                    "totalPageDownloadTime": 0, "totalRowsAvailable": 0, "wireBytesTransferred": 0},
        "totalChunksRef": 0, "totalChunksDownloaded": 0, "chunkRefsFetchTime": 0,
        "queryReferencedStructuredMetadata": false, "queryUsedV2Engine": false, "pipelineWrapperFilteredLines": 0
    })
}

/// Loki's `stats` block: everything we read is reported as the querier's store
/// work (there is no ingester); caches and index are zeros.
pub fn stats_json(summary: &Summary) -> Value {
    let seconds = summary.exec_time.as_secs_f64();
    let per_second = |n: u64| if seconds > 0.0 { (n as f64 / seconds) as u64 } else { 0 };
    let scanned = summary.scanned;
    let zero = ScanStats::default();
    let caches = [
        "chunk",
        "index",
        "statsResult",
        "seriesResult",
        "labelResult",
        "volumeResult",
        "instantMetricResult",
        "result",
        "logResult",
        "taskResult",
    ];
    json!({
        "summary": {
            "bytesProcessedPerSecond": per_second(scanned.bytes),
            "linesProcessedPerSecond": per_second(scanned.lines),
            "totalBytesProcessed": scanned.bytes,
            "totalLinesProcessed": scanned.lines,
            "totalStructuredMetadataBytesProcessed": 0,
            "totalPostFilterLines": scanned.post_filter_lines,
            "execTime": seconds,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": summary.entries_returned,
            "splits": 0,
            "shards": 0,
        },
        "querier": {"querierExecTime": 0, "store": store_block(scanned)},
        "ingester": {"store": store_block(zero), "totalBatches": 0, "totalChunksMatched": 0,
                     "totalLinesSent": 0, "totalReached": 0},
        "cache": Value::Object(caches.iter().map(|name| (name.to_string(), cache_block())).collect()),
        "index": {"bloomFilterTime": 0, "chunkRefsLookupTime": 0, "postFilterChunks": 0, "totalChunks": 0,
                  "totalStreams": 0, "shardsDuration": 0, "usedBloomFilters": false},
    })
}

/// The success envelope of `query` / `query_range`.
pub fn query_envelope(result_type: &str, result: Value, summary: &Summary, categorize: bool) -> Value {
    let mut data = Map::new();
    data.insert("resultType".into(), json!(result_type));
    if categorize {
        data.insert("encodingFlags".into(), json!([CATEGORIZE_LABELS]));
    }
    data.insert("result".into(), result);
    data.insert("stats".into(), stats_json(summary));
    json!({"status": "success", "data": Value::Object(data)})
}

/// Drops entries closer than `interval` to the previous one kept, as Loki's
/// `interval` parameter does, then keeps at most `limit`.
pub fn thin_by_interval(rows: Vec<LogRow>, interval_ns: i64, direction: Direction, limit: u64) -> Vec<LogRow> {
    let mut kept: Vec<LogRow> = Vec::new();
    for row in rows {
        if kept.len() as u64 >= limit {
            break;
        }
        let keep = match kept.last() {
            None => true,
            Some(_) if interval_ns == 0 => true,
            Some(last) => match direction {
                // saturating: an interval beyond the time range keeps only the first line
                Direction::Forward => row.timestamp_ns >= last.timestamp_ns.saturating_add(interval_ns),
                Direction::Backward => row.timestamp_ns <= last.timestamp_ns.saturating_sub(interval_ns),
            },
        };
        if keep {
            kept.push(row);
        }
    }
    kept
}

/// Log lines grouped into streams. Without `categorize`, a stream is every
/// label of the line (stream labels, structured metadata, parsed labels), as
/// Loki answers clients that do not ask for categories; with it, the stream
/// labels alone, and the other two categories ride on each value (an empty
/// category is left out, as Loki does).
pub fn streams_json(rows: &[LogRow], categorize: bool) -> Value {
    let mut streams: BTreeMap<String, (Labels, Vec<Value>)> = BTreeMap::new();
    for row in rows {
        let labels = if categorize {
            row.stream.clone()
        } else {
            let mut all = row.stream.clone();
            all.extend(row.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
            all.extend(row.parsed.iter().map(|(k, v)| (k.clone(), v.clone())));
            all
        };
        let mut value = vec![json!(row.timestamp_ns.to_string()), json!(row.line)];
        if categorize {
            let mut categories = Map::new();
            if !row.metadata.is_empty() {
                categories.insert("structuredMetadata".into(), labels_json(&row.metadata));
            }
            if !row.parsed.is_empty() {
                categories.insert("parsed".into(), labels_json(&row.parsed));
            }
            value.push(Value::Object(categories));
        }
        streams.entry(label_string(&labels)).or_insert_with(|| (labels, Vec::new())).1.push(Value::Array(value));
    }
    Value::Array(
        streams
            .into_values()
            .map(|(labels, values)| json!({"stream": labels_json(&labels), "values": values}))
            .collect(),
    )
}

pub fn matrix_json(series: &[Series]) -> Value {
    Value::Array(
        series
            .iter()
            .map(|s| {
                let values: Vec<Value> =
                    s.points.iter().map(|(t, v)| json!([seconds_value(*t), sample_text(*v)])).collect();
                json!({"metric": labels_json(&s.labels), "values": values})
            })
            .collect(),
    )
}

/// An instant result: each series' single point.
pub fn vector_json(series: &[Series]) -> Value {
    Value::Array(
        series
            .iter()
            .filter_map(|s| s.points.last().map(|(t, v)| (s, *t, *v)))
            .map(|(s, t, v)| json!({"metric": labels_json(&s.labels), "value": [seconds_value(t), sample_text(v)]}))
            .collect(),
    )
}

pub fn scalar_json(t: i64, value: f64) -> Value {
    json!([seconds_value(t), sample_text(value)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: i64, line: &str, stream: &[(&str, &str)], metadata: &[(&str, &str)], parsed: &[(&str, &str)]) -> LogRow {
        let labels =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Labels>();
        let mut all = labels(stream);
        all.extend(labels(parsed));
        LogRow {
            timestamp_ns: t,
            labels: all,
            line: line.into(),
            metadata: labels(metadata),
            stream: labels(stream),
            parsed: labels(parsed),
        }
    }

    #[test]
    fn numbers_print_like_go() {
        assert_eq!(seconds_value(4_000_000_000_000_000_000).to_string(), "4000000000");
        assert_eq!(seconds_value(1_700_000_000_123_456_789).to_string(), "1700000000.123");
        assert_eq!(sample_text(2.0), "2");
        assert_eq!(sample_text(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(sample_text(f64::INFINITY), "+Inf");
        assert_eq!(sample_text(1e21), "1000000000000000000000");
    }

    #[test]
    fn streams_with_and_without_categories() {
        let rows = vec![
            row(3, "c", &[("service_name", "api")], &[("detected_level", "info")], &[]),
            row(2, "b", &[("service_name", "api")], &[], &[("status", "200")]),
            row(1, "a", &[("service_name", "web")], &[], &[]),
        ];
        assert_eq!(
            streams_json(&rows, true),
            json!([
                {"stream": {"service_name": "api"}, "values": [
                    ["3", "c", {"structuredMetadata": {"detected_level": "info"}}],
                    ["2", "b", {"parsed": {"status": "200"}}]]},
                {"stream": {"service_name": "web"}, "values": [["1", "a", {}]]}
            ])
        );
        assert_eq!(
            streams_json(&rows, false),
            json!([
                {"stream": {"detected_level": "info", "service_name": "api"}, "values": [["3", "c"]]},
                {"stream": {"service_name": "api", "status": "200"}, "values": [["2", "b"]]},
                {"stream": {"service_name": "web"}, "values": [["1", "a"]]}
            ])
        );
    }

    #[test]
    fn interval_thins_lines() {
        let rows = (0..10).map(|t| row(t * 10, "x", &[], &[], &[])).collect();
        let kept = thin_by_interval(rows, 25, Direction::Forward, 100);
        assert_eq!(kept.iter().map(|r| r.timestamp_ns).collect::<Vec<_>>(), vec![0, 30, 60, 90]);
    }

    #[test]
    fn envelope_lists_the_encoding_flag_only_when_asked() {
        let summary = Summary::default();
        let plain = query_envelope("streams", json!([]), &summary, false);
        assert!(plain["data"].get("encodingFlags").is_none());
        let flagged = query_envelope("streams", json!([]), &summary, true);
        assert_eq!(flagged["data"]["encodingFlags"], json!(["categorize-labels"]));
        assert_eq!(flagged["data"]["stats"]["summary"]["totalEntriesReturned"], json!(0));
    }
}
