//! The OTLP messages as a table: every field's name, number and wire kind,
//! for the two walks that need the shape without the generated types: the
//! JSON transcoder and the item and nesting bounds checked before decoding.

use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};

/// How a field is written on the wire.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Nested(&'static Msg),
    Text,
    /// Trace and span ids: hex in JSON, bytes in protobuf.
    HexBytes,
    Base64Bytes,
    Bool,
    /// An enum: integer, or a proto name that `fn` maps to its number.
    Enum(fn(&str) -> Option<i32>),
    UInt32,
    SInt32,
    Int64,
    UInt64,
    Fixed32,
    Fixed64,
    SFixed64,
    Double,
}

pub(crate) struct Field {
    /// The proto (snake_case) name; its lowerCamelCase form is the JSON key.
    pub(crate) name: &'static str,
    pub(crate) tag: u32,
    pub(crate) kind: Kind,
    pub(crate) repeated: bool,
}

pub(crate) struct Msg {
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [Field],
}

pub(crate) const fn one(name: &'static str, tag: u32, kind: Kind) -> Field {
    Field { name, tag, kind, repeated: false }
}

const fn many(name: &'static str, tag: u32, kind: Kind) -> Field {
    Field { name, tag, kind, repeated: true }
}

fn severity_number(name: &str) -> Option<i32> {
    SeverityNumber::from_str_name(name).map(|v| v as i32)
}
fn span_kind(name: &str) -> Option<i32> {
    SpanKind::from_str_name(name).map(|v| v as i32)
}
fn status_code(name: &str) -> Option<i32> {
    StatusCode::from_str_name(name).map(|v| v as i32)
}
fn aggregation_temporality(name: &str) -> Option<i32> {
    AggregationTemporality::from_str_name(name).map(|v| v as i32)
}

use Kind::*;

// common.proto, resource.proto
pub(crate) static ANY_VALUE: Msg = Msg {
    name: "AnyValue",
    fields: &[
        one("string_value", 1, Text),
        one("bool_value", 2, Bool),
        one("int_value", 3, Int64),
        one("double_value", 4, Double),
        one("array_value", 5, Nested(&ARRAY_VALUE)),
        one("kvlist_value", 6, Nested(&KEY_VALUE_LIST)),
        one("bytes_value", 7, Base64Bytes),
    ],
};
pub(crate) static ARRAY_VALUE: Msg = Msg { name: "ArrayValue", fields: &[many("values", 1, Nested(&ANY_VALUE))] };
pub(crate) static KEY_VALUE_LIST: Msg = Msg { name: "KeyValueList", fields: &[many("values", 1, Nested(&KEY_VALUE))] };
pub(crate) static KEY_VALUE: Msg =
    Msg { name: "KeyValue", fields: &[one("key", 1, Text), one("value", 2, Nested(&ANY_VALUE))] };
pub(crate) static SCOPE: Msg = Msg {
    name: "InstrumentationScope",
    fields: &[
        one("name", 1, Text),
        one("version", 2, Text),
        many("attributes", 3, Nested(&KEY_VALUE)),
        one("dropped_attributes_count", 4, UInt32),
    ],
};
pub(crate) static RESOURCE: Msg = Msg {
    name: "Resource",
    fields: &[
        many("attributes", 1, Nested(&KEY_VALUE)),
        one("dropped_attributes_count", 2, UInt32),
        many("entity_refs", 3, Nested(&ENTITY_REF)),
    ],
};
// Not stored, but prost decodes it, so the item count (see `limits`) must see it.
static ENTITY_REF: Msg = Msg {
    name: "EntityRef",
    fields: &[
        one("schema_url", 1, Text),
        one("type", 2, Text),
        many("id_keys", 3, Text),
        many("description_keys", 4, Text),
    ],
};

// logs.proto
pub(crate) static EXPORT_LOGS: Msg =
    Msg { name: "ExportLogsServiceRequest", fields: &[many("resource_logs", 1, Nested(&RESOURCE_LOGS))] };
static RESOURCE_LOGS: Msg = Msg {
    name: "ResourceLogs",
    fields: &[
        one("resource", 1, Nested(&RESOURCE)),
        many("scope_logs", 2, Nested(&SCOPE_LOGS)),
        one("schema_url", 3, Text),
    ],
};
static SCOPE_LOGS: Msg = Msg {
    name: "ScopeLogs",
    fields: &[one("scope", 1, Nested(&SCOPE)), many("log_records", 2, Nested(&LOG_RECORD)), one("schema_url", 3, Text)],
};
static LOG_RECORD: Msg = Msg {
    name: "LogRecord",
    fields: &[
        one("time_unix_nano", 1, Fixed64),
        one("observed_time_unix_nano", 11, Fixed64),
        one("severity_number", 2, Enum(severity_number)),
        one("severity_text", 3, Text),
        one("body", 5, Nested(&ANY_VALUE)),
        many("attributes", 6, Nested(&KEY_VALUE)),
        one("dropped_attributes_count", 7, UInt32),
        one("flags", 8, Fixed32),
        one("trace_id", 9, HexBytes),
        one("span_id", 10, HexBytes),
        one("event_name", 12, Text),
    ],
};

// trace.proto
pub(crate) static EXPORT_TRACE: Msg =
    Msg { name: "ExportTraceServiceRequest", fields: &[many("resource_spans", 1, Nested(&RESOURCE_SPANS))] };
static RESOURCE_SPANS: Msg = Msg {
    name: "ResourceSpans",
    fields: &[
        one("resource", 1, Nested(&RESOURCE)),
        many("scope_spans", 2, Nested(&SCOPE_SPANS)),
        one("schema_url", 3, Text),
    ],
};
static SCOPE_SPANS: Msg = Msg {
    name: "ScopeSpans",
    fields: &[one("scope", 1, Nested(&SCOPE)), many("spans", 2, Nested(&SPAN)), one("schema_url", 3, Text)],
};
static SPAN: Msg = Msg {
    name: "Span",
    fields: &[
        one("trace_id", 1, HexBytes),
        one("span_id", 2, HexBytes),
        one("trace_state", 3, Text),
        one("parent_span_id", 4, HexBytes),
        one("flags", 16, Fixed32),
        one("name", 5, Text),
        one("kind", 6, Enum(span_kind)),
        one("start_time_unix_nano", 7, Fixed64),
        one("end_time_unix_nano", 8, Fixed64),
        many("attributes", 9, Nested(&KEY_VALUE)),
        one("dropped_attributes_count", 10, UInt32),
        many("events", 11, Nested(&SPAN_EVENT)),
        one("dropped_events_count", 12, UInt32),
        many("links", 13, Nested(&SPAN_LINK)),
        one("dropped_links_count", 14, UInt32),
        one("status", 15, Nested(&STATUS)),
    ],
};
static SPAN_EVENT: Msg = Msg {
    name: "Span.Event",
    fields: &[
        one("time_unix_nano", 1, Fixed64),
        one("name", 2, Text),
        many("attributes", 3, Nested(&KEY_VALUE)),
        one("dropped_attributes_count", 4, UInt32),
    ],
};
static SPAN_LINK: Msg = Msg {
    name: "Span.Link",
    fields: &[
        one("trace_id", 1, HexBytes),
        one("span_id", 2, HexBytes),
        one("trace_state", 3, Text),
        many("attributes", 4, Nested(&KEY_VALUE)),
        one("dropped_attributes_count", 5, UInt32),
        one("flags", 6, Fixed32),
    ],
};
static STATUS: Msg = Msg { name: "Status", fields: &[one("message", 2, Text), one("code", 3, Enum(status_code))] };

// metrics.proto
pub(crate) static EXPORT_METRICS: Msg =
    Msg { name: "ExportMetricsServiceRequest", fields: &[many("resource_metrics", 1, Nested(&RESOURCE_METRICS))] };
static RESOURCE_METRICS: Msg = Msg {
    name: "ResourceMetrics",
    fields: &[
        one("resource", 1, Nested(&RESOURCE)),
        many("scope_metrics", 2, Nested(&SCOPE_METRICS)),
        one("schema_url", 3, Text),
    ],
};
static SCOPE_METRICS: Msg = Msg {
    name: "ScopeMetrics",
    fields: &[one("scope", 1, Nested(&SCOPE)), many("metrics", 2, Nested(&METRIC)), one("schema_url", 3, Text)],
};
static METRIC: Msg = Msg {
    name: "Metric",
    fields: &[
        one("name", 1, Text),
        one("description", 2, Text),
        one("unit", 3, Text),
        one("gauge", 5, Nested(&GAUGE)),
        one("sum", 7, Nested(&SUM)),
        one("histogram", 9, Nested(&HISTOGRAM)),
        one("exponential_histogram", 10, Nested(&EXPONENTIAL_HISTOGRAM)),
        one("summary", 11, Nested(&SUMMARY)),
        many("metadata", 12, Nested(&KEY_VALUE)),
    ],
};
static GAUGE: Msg = Msg { name: "Gauge", fields: &[many("data_points", 1, Nested(&NUMBER_DATA_POINT))] };
static SUM: Msg = Msg {
    name: "Sum",
    fields: &[
        many("data_points", 1, Nested(&NUMBER_DATA_POINT)),
        one("aggregation_temporality", 2, Enum(aggregation_temporality)),
        one("is_monotonic", 3, Bool),
    ],
};
static HISTOGRAM: Msg = Msg {
    name: "Histogram",
    fields: &[
        many("data_points", 1, Nested(&HISTOGRAM_DATA_POINT)),
        one("aggregation_temporality", 2, Enum(aggregation_temporality)),
    ],
};
static EXPONENTIAL_HISTOGRAM: Msg = Msg {
    name: "ExponentialHistogram",
    fields: &[
        many("data_points", 1, Nested(&EXPONENTIAL_HISTOGRAM_DATA_POINT)),
        one("aggregation_temporality", 2, Enum(aggregation_temporality)),
    ],
};
static SUMMARY: Msg = Msg { name: "Summary", fields: &[many("data_points", 1, Nested(&SUMMARY_DATA_POINT))] };
static NUMBER_DATA_POINT: Msg = Msg {
    name: "NumberDataPoint",
    fields: &[
        many("attributes", 7, Nested(&KEY_VALUE)),
        one("start_time_unix_nano", 2, Fixed64),
        one("time_unix_nano", 3, Fixed64),
        one("as_double", 4, Double),
        one("as_int", 6, SFixed64),
        many("exemplars", 5, Nested(&EXEMPLAR)),
        one("flags", 8, UInt32),
    ],
};
static HISTOGRAM_DATA_POINT: Msg = Msg {
    name: "HistogramDataPoint",
    fields: &[
        many("attributes", 9, Nested(&KEY_VALUE)),
        one("start_time_unix_nano", 2, Fixed64),
        one("time_unix_nano", 3, Fixed64),
        one("count", 4, Fixed64),
        one("sum", 5, Double),
        many("bucket_counts", 6, Fixed64),
        many("explicit_bounds", 7, Double),
        many("exemplars", 8, Nested(&EXEMPLAR)),
        one("flags", 10, UInt32),
        one("min", 11, Double),
        one("max", 12, Double),
    ],
};
static EXPONENTIAL_HISTOGRAM_DATA_POINT: Msg = Msg {
    name: "ExponentialHistogramDataPoint",
    fields: &[
        many("attributes", 1, Nested(&KEY_VALUE)),
        one("start_time_unix_nano", 2, Fixed64),
        one("time_unix_nano", 3, Fixed64),
        one("count", 4, Fixed64),
        one("sum", 5, Double),
        one("scale", 6, SInt32),
        one("zero_count", 7, Fixed64),
        one("positive", 8, Nested(&BUCKETS)),
        one("negative", 9, Nested(&BUCKETS)),
        one("flags", 10, UInt32),
        many("exemplars", 11, Nested(&EXEMPLAR)),
        one("min", 12, Double),
        one("max", 13, Double),
        one("zero_threshold", 14, Double),
    ],
};
static BUCKETS: Msg = Msg { name: "Buckets", fields: &[one("offset", 1, SInt32), many("bucket_counts", 2, UInt64)] };
static SUMMARY_DATA_POINT: Msg = Msg {
    name: "SummaryDataPoint",
    fields: &[
        many("attributes", 7, Nested(&KEY_VALUE)),
        one("start_time_unix_nano", 2, Fixed64),
        one("time_unix_nano", 3, Fixed64),
        one("count", 4, Fixed64),
        one("sum", 5, Double),
        many("quantile_values", 6, Nested(&VALUE_AT_QUANTILE)),
        one("flags", 8, UInt32),
    ],
};
static VALUE_AT_QUANTILE: Msg =
    Msg { name: "ValueAtQuantile", fields: &[one("quantile", 1, Double), one("value", 2, Double)] };
static EXEMPLAR: Msg = Msg {
    name: "Exemplar",
    fields: &[
        many("filtered_attributes", 7, Nested(&KEY_VALUE)),
        one("time_unix_nano", 2, Fixed64),
        one("as_double", 3, Double),
        one("as_int", 6, SFixed64),
        one("span_id", 4, HexBytes),
        one("trace_id", 5, HexBytes),
    ],
};
