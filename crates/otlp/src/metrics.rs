//! `ExportMetricsServiceRequest` -> the five `metrics_*` tables.
//!
//! One row per data point. The columns every metrics table shares (resource,
//! scope, metric identity, point attributes and times, exemplars) are built by
//! one `CommonColumns`, embedded in each table's builder next to its own value
//! columns, so the shared part is written once and stays in the same order in
//! all five tables. Integer gauge/sum points and exemplars are stored as
//! DOUBLE. A metric with no data counts as one rejected data point; a point
//! whose exemplar carries a malformed id is rejected on its own.
//!
//! The builders take borrowed views of a point ([`Point`], [`Values`]), so
//! the prost path below and the zero-copy wire walker (`metrics_wire`) feed
//! the same code; whatever the walker declines is decoded here with prost,
//! which stays the reference behaviour. The ingest path keeps a request as
//! its protobuf bytes between validation and the flush, and walks them twice
//! (counting, then building): cheaper than holding prost's tree of a request,
//! which took about three times the body in memory.

use super::attributes::{attr_map_builder, AttrMapBuilder, AttributeList, ResourceContext, ScopeContext};
use super::columns::{append_hex, column_type, nanos, table_batch, ListOffsets};
use super::limits::{self, CopyBudget, DecodeLimits, ItemBudget};
use super::{id_problem, DecodeError, Decoded, Rejections, Table, TableBatch};
use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Float64Builder, Int32Builder, ListBuilder, StringBuilder, TimestampNanosecondBuilder,
    UInt32Builder, UInt64Builder,
};
use arrow_array::ArrayRef;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{exemplar, metric::Data, number_data_point, Exemplar, Metric};
use prost::Message;
use std::borrow::Cow;
use std::sync::Arc;

/// Decodes a request: the wire walker, or prost where it declines.
pub(super) fn decode(body: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    match super::metrics_wire::decode(body, limits) {
        Some(decoded) => Ok(decoded),
        None => decode_with_prost(body, limits),
    }
}

/// The reference decoder: items counted, prost messages, then columns.
pub(super) fn decode_with_prost(body: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    let (request, points, rejections) = validate_with_prost(body, limits)?;
    let mut batcher = MetricBatcher::with_capacity(&points);
    batcher.append_request(&request);
    Ok(rejections.into_decoded(batcher.finish()?))
}

/// Counts what a request will store and what cannot be stored, within
/// `limits`, without building any column yet; keeps the protobuf for the
/// flush (owned already when it was decompressed or transcoded).
pub(super) fn validate(body: Cow<'_, [u8]>, limits: &DecodeLimits) -> Result<(ValidMetrics, Rejections), DecodeError> {
    let (points, rejections, walked) = match super::metrics_wire::validate(&body, limits) {
        Some((points, rejections)) => (points, rejections, true),
        None => {
            let (_, points, rejections) = validate_with_prost(&body, limits)?;
            (points, rejections, false)
        }
    };
    Ok((ValidMetrics { protobuf: body.into_owned(), points, walked }, rejections))
}

/// The prost path of [`validate`]: the parsed request with its counts.
fn validate_with_prost(
    body: &[u8],
    limits: &DecodeLimits,
) -> Result<(ExportMetricsServiceRequest, PointCounts, Rejections), DecodeError> {
    limits::check(&super::messages::EXPORT_METRICS, body, &mut ItemBudget::new(limits.max_items))?;
    let request = ExportMetricsServiceRequest::decode(body)?;
    let mut copies = CopyBudget::new(limits.max_copied_bytes);
    let mut rejections = Rejections::default();
    let mut storable = PointCounts::default();
    for resource_metrics in &request.resource_metrics {
        let resource = ResourceContext::new(resource_metrics.resource.as_ref(), &resource_metrics.schema_url);
        for scope_metrics in &resource_metrics.scope_metrics {
            let scope = ScopeContext::new(scope_metrics.scope.as_ref(), &scope_metrics.schema_url);
            for metric in &scope_metrics.metrics {
                let ctx = MetricContext::of(&resource, &scope, metric);
                copies.charge(points(metric), ctx.row_bytes())?;
                let problems = prost_points(metric).map(|p| exemplar_problem(prost_exemplar_ids(p.exemplars)));
                count_metric(&metric.name, data_kind(metric), problems, &mut storable, &mut rejections);
            }
        }
    }
    Ok((request, storable, rejections))
}

/// Counts each point of a metric as a row of its kind or, when it cannot be
/// stored (`problems` holds each point's exemplar problem), as rejected; a
/// metric without data (`kind` None) counts as one rejected point.
pub(super) fn count_metric(
    name: &str,
    kind: Option<PointKind>,
    problems: impl Iterator<Item = Option<String>>,
    counts: &mut PointCounts,
    rejections: &mut Rejections,
) {
    let Some(kind) = kind else {
        return rejections.reject(1, || format!("metric {name:?} has no data"));
    };
    for problem in problems {
        match problem {
            Some(problem) => rejections.reject(1, || format!("metric {name:?}: {problem}")),
            None => *counts.slot(kind) += 1,
        }
    }
}

/// A validated metrics request waiting for its flush: its protobuf bytes and
/// its storable points, counted. The writer builds the rows of a whole flush
/// of requests at once ([`MetricBatcher`]).
///
/// Why rows are not built per request: an SDK's request holds a few points of
/// each kind, and building five tables' Arrow columns for it (some 150 arrays)
/// and merging them again at flush time cost more than everything else a
/// metrics request costs.
pub struct ValidMetrics {
    protobuf: Vec<u8>,
    points: PointCounts,
    /// The wire walker validated it (and so will build it); false when prost had to.
    walked: bool,
}

impl std::fmt::Debug for ValidMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidMetrics")
            .field("protobuf_bytes", &self.protobuf.len())
            .field("points", &self.points)
            .field("walked", &self.walked)
            .finish()
    }
}

impl ValidMetrics {
    /// Data points that will become rows.
    pub fn rows(&self) -> usize {
        self.points.total()
    }

    /// What the request holds in memory while it waits for its flush: the
    /// bytes allocated for its protobuf plus this struct (measured, not
    /// estimated; no parsed tree is kept).
    pub fn memory_estimate(&self) -> usize {
        self.protobuf.capacity() + std::mem::size_of::<Self>()
    }
}

/// The rows of many metrics requests, appended in order and finished into
/// one batch per metrics table.
pub struct MetricBatcher {
    gauge: GaugeColumns,
    sum: GaugeColumns,
    histogram: HistogramColumns,
    exponential: ExponentialHistogramColumns,
    summary: SummaryColumns,
    /// Stored bytes that prost could not decode although they were validated:
    /// a bug, reported by [`MetricBatcher::finish`].
    failed: Option<DecodeError>,
}

impl MetricBatcher {
    /// A batcher for the requests `all`, sized by their points.
    pub fn for_requests<'a>(all: impl IntoIterator<Item = &'a ValidMetrics>) -> Self {
        let mut points = PointCounts::default();
        for request in all {
            points.add(&request.points);
        }
        Self::with_capacity(&points)
    }

    pub(super) fn with_capacity(rows: &PointCounts) -> Self {
        MetricBatcher {
            gauge: GaugeColumns::new(Table::MetricsGauge, rows.gauge),
            sum: GaugeColumns::new(Table::MetricsSum, rows.sum),
            histogram: HistogramColumns::new(rows.histogram),
            exponential: ExponentialHistogramColumns::new(rows.exponential),
            summary: SummaryColumns::new(rows.summary),
            failed: None,
        }
    }

    /// Appends the storable points of `valid` (what [`validate`] counted as
    /// rejected is left out). The wire walker appends nothing unless it reads
    /// the whole request, so falling back to prost cannot repeat rows.
    pub fn append(&mut self, valid: &ValidMetrics) {
        if valid.walked && super::metrics_wire::append(&valid.protobuf, self).is_ok() {
            return;
        }
        match ExportMetricsServiceRequest::decode(&valid.protobuf[..]) {
            Ok(request) => self.append_request(&request),
            Err(err) => {
                let err = DecodeError::Internal(format!("validated metrics request no longer decodes: {err}"));
                self.failed.get_or_insert(err);
            }
        }
    }

    fn append_request(&mut self, request: &ExportMetricsServiceRequest) {
        for resource_metrics in &request.resource_metrics {
            let resource = ResourceContext::new(resource_metrics.resource.as_ref(), &resource_metrics.schema_url);
            for scope_metrics in &resource_metrics.scope_metrics {
                let scope = ScopeContext::new(scope_metrics.scope.as_ref(), &scope_metrics.schema_url);
                for metric in &scope_metrics.metrics {
                    self.append_metric(&MetricContext::of(&resource, &scope, metric), metric);
                }
            }
        }
    }

    fn append_metric(&mut self, ctx: &MetricContext, metric: &Metric) {
        for point in prost_points(metric) {
            if exemplar_problem(prost_exemplar_ids(point.exemplars)).is_some() {
                continue;
            }
            let exemplars = point.exemplars.iter().map(|e| (ExemplarScalars::of(e), &e.filtered_attributes[..]));
            let header = Point { times: point.times, attributes: point.attributes, exemplars };
            self.append_point(ctx, header, point.values);
        }
    }

    /// Appends one storable point to the table of its kind.
    pub(super) fn append_point<'p, A, E>(&mut self, ctx: &MetricContext, point: Point<'p, A, E>, values: Values<'p>)
    where
        A: AttributeList + ?Sized + 'p,
        E: Iterator<Item = (ExemplarScalars<'p>, &'p A)>,
    {
        match values {
            Values::Gauge(value) => self.gauge.append(ctx, point, value, None),
            Values::Sum { value, temporality, monotonic } => {
                self.sum.append(ctx, point, value, Some((temporality, monotonic)))
            }
            Values::Histogram(values) => self.histogram.append(ctx, point, &values),
            Values::Exponential(values) => self.exponential.append(ctx, point, &values),
            Values::Summary(values) => self.summary.append(ctx, point, &values),
        }
    }

    /// One batch per metrics table given rows.
    pub fn finish(self) -> Result<Vec<TableBatch>, DecodeError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let mut batches: Vec<TableBatch> = Vec::new();
        batches.extend(table_batch(Table::MetricsGauge, self.gauge.finish()?)?);
        batches.extend(table_batch(Table::MetricsSum, self.sum.finish()?)?);
        batches.extend(table_batch(Table::MetricsHistogram, self.histogram.finish()?)?);
        batches.extend(table_batch(Table::MetricsExponentialHistogram, self.exponential.finish()?)?);
        batches.extend(table_batch(Table::MetricsSummary, self.summary.finish()?)?);
        Ok(batches)
    }
}

// ---------------------------------------------------------------------------
// Points as the builders take them, whichever decoder read them

/// The five kinds of data point, one table each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PointKind {
    Gauge,
    Sum,
    Histogram,
    Exponential,
    Summary,
}

fn data_kind(metric: &Metric) -> Option<PointKind> {
    Some(match metric.data.as_ref()? {
        Data::Gauge(_) => PointKind::Gauge,
        Data::Sum(_) => PointKind::Sum,
        Data::Histogram(_) => PointKind::Histogram,
        Data::ExponentialHistogram(_) => PointKind::Exponential,
        Data::Summary(_) => PointKind::Summary,
    })
}

/// The times and flags every data point kind has.
#[derive(Clone, Copy, Default)]
pub(super) struct PointTimes {
    pub start: u64,
    pub time: u64,
    pub flags: u32,
}

/// One point's shared columns: times, attributes (`A`: prost's `KeyValue`s
/// or the walker's borrowed pairs) and exemplars, each with its filtered
/// attributes.
pub(super) struct Point<'p, A: ?Sized, E> {
    pub times: PointTimes,
    pub attributes: &'p A,
    pub exemplars: E,
}

/// The scalar fields of one exemplar.
#[derive(Clone, Copy, Default)]
pub(super) struct ExemplarScalars<'a> {
    pub time: u64,
    pub value: Option<exemplar::Value>,
    pub span_id: &'a [u8],
    pub trace_id: &'a [u8],
}

impl<'a> ExemplarScalars<'a> {
    fn of(exemplar: &'a Exemplar) -> Self {
        ExemplarScalars {
            time: exemplar.time_unix_nano,
            value: exemplar.value,
            span_id: &exemplar.span_id,
            trace_id: &exemplar.trace_id,
        }
    }
}

/// The columns of one point beyond the shared ones, per kind (with the
/// fields of its metric that go into every row).
pub(super) enum Values<'p> {
    Gauge(Option<number_data_point::Value>),
    Sum { value: Option<number_data_point::Value>, temporality: i32, monotonic: bool },
    Histogram(HistogramValues<'p>),
    Exponential(ExponentialValues<'p>),
    Summary(SummaryValues<'p>),
}

pub(super) struct HistogramValues<'p> {
    pub count: u64,
    pub sum: Option<f64>,
    pub bucket_counts: &'p [u64],
    pub explicit_bounds: &'p [f64],
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub temporality: i32,
}

pub(super) struct ExponentialValues<'p> {
    pub count: u64,
    pub sum: Option<f64>,
    pub scale: i32,
    pub zero_count: u64,
    pub zero_threshold: f64,
    /// (offset, bucket counts); an absent `Buckets` is offset 0, no counts
    pub positive: (i32, &'p [u64]),
    pub negative: (i32, &'p [u64]),
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub temporality: i32,
}

pub(super) struct SummaryValues<'p> {
    pub count: u64,
    pub sum: f64,
    pub quantiles: &'p [ValueAtQuantile],
}

/// A prost data point of any kind, as views.
struct ProstPoint<'p> {
    times: PointTimes,
    attributes: &'p [KeyValue],
    exemplars: &'p [Exemplar],
    values: Values<'p>,
}

/// The points of a prost metric in order (none without data).
fn prost_points(metric: &Metric) -> Box<dyn Iterator<Item = ProstPoint<'_>> + '_> {
    let times = |start, time, flags| PointTimes { start, time, flags };
    match &metric.data {
        None => Box::new(std::iter::empty()),
        Some(Data::Gauge(data)) => Box::new(data.data_points.iter().map(move |p| ProstPoint {
            times: times(p.start_time_unix_nano, p.time_unix_nano, p.flags),
            attributes: &p.attributes,
            exemplars: &p.exemplars,
            values: Values::Gauge(p.value),
        })),
        Some(Data::Sum(data)) => Box::new(data.data_points.iter().map(move |p| ProstPoint {
            times: times(p.start_time_unix_nano, p.time_unix_nano, p.flags),
            attributes: &p.attributes,
            exemplars: &p.exemplars,
            values: Values::Sum {
                value: p.value,
                temporality: data.aggregation_temporality,
                monotonic: data.is_monotonic,
            },
        })),
        Some(Data::Histogram(data)) => Box::new(data.data_points.iter().map(move |p| ProstPoint {
            times: times(p.start_time_unix_nano, p.time_unix_nano, p.flags),
            attributes: &p.attributes,
            exemplars: &p.exemplars,
            values: Values::Histogram(HistogramValues {
                count: p.count,
                sum: p.sum,
                bucket_counts: &p.bucket_counts,
                explicit_bounds: &p.explicit_bounds,
                min: p.min,
                max: p.max,
                temporality: data.aggregation_temporality,
            }),
        })),
        Some(Data::ExponentialHistogram(data)) => Box::new(data.data_points.iter().map(move |p| ProstPoint {
            times: times(p.start_time_unix_nano, p.time_unix_nano, p.flags),
            attributes: &p.attributes,
            exemplars: &p.exemplars,
            values: Values::Exponential(ExponentialValues {
                count: p.count,
                sum: p.sum,
                scale: p.scale,
                zero_count: p.zero_count,
                zero_threshold: p.zero_threshold,
                positive: buckets(p.positive.as_ref()),
                negative: buckets(p.negative.as_ref()),
                min: p.min,
                max: p.max,
                temporality: data.aggregation_temporality,
            }),
        })),
        Some(Data::Summary(data)) => Box::new(data.data_points.iter().map(move |p| ProstPoint {
            times: times(p.start_time_unix_nano, p.time_unix_nano, p.flags),
            attributes: &p.attributes,
            exemplars: &[],
            values: Values::Summary(SummaryValues { count: p.count, sum: p.sum, quantiles: &p.quantile_values }),
        })),
    }
}

fn prost_exemplar_ids(exemplars: &[Exemplar]) -> impl Iterator<Item = (&[u8], &[u8])> {
    exemplars.iter().map(|e| (&e.trace_id[..], &e.span_id[..]))
}

/// An exponential histogram's buckets; absent ones are offset 0, no counts.
fn buckets(buckets: Option<&Buckets>) -> (i32, &[u64]) {
    buckets.map_or((0, &[][..]), |b| (b.offset, &b.bucket_counts[..]))
}

/// The data points (rows) of a metric.
fn points(metric: &Metric) -> usize {
    match &metric.data {
        None => 0,
        Some(Data::Gauge(data)) => data.data_points.len(),
        Some(Data::Sum(data)) => data.data_points.len(),
        Some(Data::Histogram(data)) => data.data_points.len(),
        Some(Data::ExponentialHistogram(data)) => data.data_points.len(),
        Some(Data::Summary(data)) => data.data_points.len(),
    }
}

/// Data points per metric kind, the row counts the column builders are sized
/// by. A request of a few points fills a few rows of each table; builders left
/// at arrow's default capacity (1,024 rows) allocated and zeroed about a
/// megabyte per request across the five tables, which was most of the cost of
/// decoding a small metrics request.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct PointCounts {
    gauge: usize,
    sum: usize,
    histogram: usize,
    exponential: usize,
    summary: usize,
}

impl PointCounts {
    fn add(&mut self, other: &PointCounts) {
        self.gauge += other.gauge;
        self.sum += other.sum;
        self.histogram += other.histogram;
        self.exponential += other.exponential;
        self.summary += other.summary;
    }

    fn slot(&mut self, kind: PointKind) -> &mut usize {
        match kind {
            PointKind::Gauge => &mut self.gauge,
            PointKind::Sum => &mut self.sum,
            PointKind::Histogram => &mut self.histogram,
            PointKind::Exponential => &mut self.exponential,
            PointKind::Summary => &mut self.summary,
        }
    }

    pub(super) fn total(&self) -> usize {
        self.gauge + self.sum + self.histogram + self.exponential + self.summary
    }
}

/// Builders of `rows` values, with `bytes_per_row` of text each.
fn text_builder(rows: usize, bytes_per_row: usize) -> StringBuilder {
    StringBuilder::with_capacity(rows, rows * bytes_per_row)
}

/// A point carries a handful of attributes; resources and scopes more or fewer.
const ATTRIBUTES_PER_ROW_GUESS: usize = 4;

fn attributes_builder(rows: usize) -> AttrMapBuilder {
    attr_map_builder(rows, rows * ATTRIBUTES_PER_ROW_GUESS)
}

/// Why a data point cannot be stored: an exemplar with a malformed id;
/// `exemplars` are their (trace id, span id) pairs in order.
pub(super) fn exemplar_problem<'a>(mut exemplars: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Option<String> {
    exemplars.find_map(|(trace_id, span_id)| {
        id_problem("exemplar trace_id", trace_id, 16, false)
            .or_else(|| id_problem("exemplar span_id", span_id, 8, false))
    })
}

/// What the rows of one metric share.
pub(super) struct MetricContext<'a> {
    pub resource: &'a ResourceContext<'a>,
    pub scope: &'a ScopeContext<'a>,
    pub name: &'a str,
    pub description: &'a str,
    pub unit: &'a str,
}

impl<'a> MetricContext<'a> {
    fn of(resource: &'a ResourceContext<'a>, scope: &'a ScopeContext<'a>, metric: &'a Metric) -> Self {
        MetricContext { resource, scope, name: &metric.name, description: &metric.description, unit: &metric.unit }
    }

    /// Bytes every row of this metric copies from its resource, scope and
    /// metric fields.
    pub(super) fn row_bytes(&self) -> usize {
        self.resource.row_bytes() + self.scope.row_bytes() + self.name.len() + self.description.len() + self.unit.len()
    }
}

/// The exemplars column: `STRUCT(filtered_attributes, timestamp, value,
/// span_id, trace_id)[]`.
struct ExemplarColumns {
    offsets: ListOffsets,
    filtered_attributes: AttrMapBuilder,
    timestamp: TimestampNanosecondBuilder,
    value: Float64Builder,
    span_id: StringBuilder,
    trace_id: StringBuilder,
}

/// The leading columns of every `metrics_*` table.
struct CommonColumns {
    table: Table,
    resource_attributes: AttrMapBuilder,
    resource_schema_url: StringBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    scope_attributes: AttrMapBuilder,
    scope_schema_url: StringBuilder,
    service_name: StringBuilder,
    metric_name: StringBuilder,
    metric_description: StringBuilder,
    metric_unit: StringBuilder,
    attributes: AttrMapBuilder,
    start_timestamp: TimestampNanosecondBuilder,
    timestamp: TimestampNanosecondBuilder,
    flags: UInt32Builder,
    exemplars: Option<ExemplarColumns>,
    scratch: String,
}

/// Integer points and exemplars are stored as DOUBLE.
fn number_value(value: number_data_point::Value) -> f64 {
    match value {
        number_data_point::Value::AsDouble(d) => d,
        number_data_point::Value::AsInt(i) => i as f64,
    }
}

fn exemplar_value(value: exemplar::Value) -> f64 {
    match value {
        exemplar::Value::AsDouble(d) => d,
        exemplar::Value::AsInt(i) => i as f64,
    }
}

impl CommonColumns {
    fn new(table: Table, rows: usize) -> Self {
        // exemplars are rare: their builders start empty and grow if needed
        let exemplars = (table != Table::MetricsSummary).then(|| ExemplarColumns {
            offsets: ListOffsets::with_capacity(rows),
            filtered_attributes: attr_map_builder(0, 0),
            timestamp: TimestampNanosecondBuilder::with_capacity(0),
            value: Float64Builder::with_capacity(0),
            span_id: text_builder(0, 0),
            trace_id: text_builder(0, 0),
        });
        CommonColumns {
            table,
            resource_attributes: attributes_builder(rows),
            resource_schema_url: text_builder(rows, 0),
            scope_name: text_builder(rows, 16),
            scope_version: text_builder(rows, 8),
            scope_attributes: attr_map_builder(rows, 0),
            scope_schema_url: text_builder(rows, 0),
            service_name: text_builder(rows, 16),
            metric_name: text_builder(rows, 24),
            metric_description: text_builder(rows, 16),
            metric_unit: text_builder(rows, 4),
            attributes: attributes_builder(rows),
            start_timestamp: TimestampNanosecondBuilder::with_capacity(rows),
            timestamp: TimestampNanosecondBuilder::with_capacity(rows),
            flags: UInt32Builder::with_capacity(rows),
            exemplars,
            scratch: String::new(),
        }
    }

    fn append<'p, A, E>(&mut self, ctx: &MetricContext, point: Point<'p, A, E>)
    where
        A: AttributeList + ?Sized + 'p,
        E: Iterator<Item = (ExemplarScalars<'p>, &'p A)>,
    {
        ctx.resource.attributes.append_to(&mut self.resource_attributes);
        self.resource_schema_url.append_value(ctx.resource.schema_url);
        self.scope_name.append_value(ctx.scope.name);
        self.scope_version.append_value(ctx.scope.version);
        ctx.scope.attributes.append_to(&mut self.scope_attributes);
        self.scope_schema_url.append_value(ctx.scope.schema_url);
        self.service_name.append_value(&ctx.resource.service_name);
        self.metric_name.append_value(ctx.name);
        self.metric_description.append_value(ctx.description);
        self.metric_unit.append_value(ctx.unit);
        point.attributes.append_row(&mut self.attributes, &mut self.scratch);
        self.start_timestamp.append_option(nanos(point.times.start));
        self.timestamp.append_option(nanos(point.times.time));
        self.flags.append_value(point.times.flags);
        if let Some(ex) = &mut self.exemplars {
            for (exemplar, filtered_attributes) in point.exemplars {
                filtered_attributes.append_row(&mut ex.filtered_attributes, &mut self.scratch);
                ex.timestamp.append_option(nanos(exemplar.time));
                ex.value.append_option(exemplar.value.map(exemplar_value));
                append_hex(&mut ex.span_id, exemplar.span_id);
                append_hex(&mut ex.trace_id, exemplar.trace_id);
            }
            ex.offsets.close_row(ex.value.len());
        }
    }

    fn finish(mut self) -> Result<Vec<ArrayRef>, DecodeError> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.resource_attributes.finish()),
            Arc::new(self.resource_schema_url.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            Arc::new(self.scope_attributes.finish()),
            Arc::new(self.scope_schema_url.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.metric_name.finish()),
            Arc::new(self.metric_description.finish()),
            Arc::new(self.metric_unit.finish()),
            Arc::new(self.attributes.finish()),
            Arc::new(self.start_timestamp.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.flags.finish()),
        ];
        if let Some(mut ex) = self.exemplars {
            columns.push(ex.offsets.finish(
                &column_type(self.table, "exemplars"),
                vec![
                    Arc::new(ex.filtered_attributes.finish()),
                    Arc::new(ex.timestamp.finish()),
                    Arc::new(ex.value.finish()),
                    Arc::new(ex.span_id.finish()),
                    Arc::new(ex.trace_id.finish()),
                ],
            )?);
        }
        Ok(columns)
    }
}

/// `metrics_gauge`, and `metrics_sum` (which adds temporality and monotonicity).
struct GaugeColumns {
    common: CommonColumns,
    value: Float64Builder,
    aggregation_temporality: Int32Builder,
    is_monotonic: BooleanBuilder,
}

impl GaugeColumns {
    fn new(table: Table, rows: usize) -> Self {
        let sum_rows = if table == Table::MetricsSum { rows } else { 0 };
        GaugeColumns {
            common: CommonColumns::new(table, rows),
            value: Float64Builder::with_capacity(rows),
            aggregation_temporality: Int32Builder::with_capacity(sum_rows),
            is_monotonic: BooleanBuilder::with_capacity(sum_rows),
        }
    }

    fn append<'p, A, E>(
        &mut self,
        ctx: &MetricContext,
        point: Point<'p, A, E>,
        value: Option<number_data_point::Value>,
        sum: Option<(i32, bool)>,
    ) where
        A: AttributeList + ?Sized + 'p,
        E: Iterator<Item = (ExemplarScalars<'p>, &'p A)>,
    {
        self.common.append(ctx, point);
        self.value.append_option(value.map(number_value));
        if let Some((temporality, monotonic)) = sum {
            self.aggregation_temporality.append_value(temporality);
            self.is_monotonic.append_value(monotonic);
        }
    }

    fn finish(mut self) -> Result<Vec<ArrayRef>, DecodeError> {
        let is_sum = self.common.table == Table::MetricsSum;
        let mut columns = self.common.finish()?;
        columns.push(Arc::new(self.value.finish()));
        if is_sum {
            columns.push(Arc::new(self.aggregation_temporality.finish()));
            columns.push(Arc::new(self.is_monotonic.finish()));
        }
        Ok(columns)
    }
}

/// Typical sizes, only for the builders' first allocation (more just grows them).
const BUCKETS_PER_HISTOGRAM_GUESS: usize = 12;
const QUANTILES_PER_SUMMARY_GUESS: usize = 4;

struct HistogramColumns {
    common: CommonColumns,
    count: UInt64Builder,
    sum: Float64Builder,
    bucket_counts: ListBuilder<UInt64Builder>,
    explicit_bounds: ListBuilder<Float64Builder>,
    min: Float64Builder,
    max: Float64Builder,
    aggregation_temporality: Int32Builder,
}

impl HistogramColumns {
    fn new(rows: usize) -> Self {
        let buckets = rows * BUCKETS_PER_HISTOGRAM_GUESS;
        HistogramColumns {
            common: CommonColumns::new(Table::MetricsHistogram, rows),
            count: UInt64Builder::with_capacity(rows),
            sum: Float64Builder::with_capacity(rows),
            bucket_counts: ListBuilder::with_capacity(UInt64Builder::with_capacity(buckets), rows),
            explicit_bounds: ListBuilder::with_capacity(Float64Builder::with_capacity(buckets), rows),
            min: Float64Builder::with_capacity(rows),
            max: Float64Builder::with_capacity(rows),
            aggregation_temporality: Int32Builder::with_capacity(rows),
        }
    }

    fn append<'p, A, E>(&mut self, ctx: &MetricContext, point: Point<'p, A, E>, values: &HistogramValues)
    where
        A: AttributeList + ?Sized + 'p,
        E: Iterator<Item = (ExemplarScalars<'p>, &'p A)>,
    {
        self.common.append(ctx, point);
        self.count.append_value(values.count);
        self.sum.append_option(values.sum);
        self.bucket_counts.values().append_slice(values.bucket_counts);
        self.bucket_counts.append(true);
        self.explicit_bounds.values().append_slice(values.explicit_bounds);
        self.explicit_bounds.append(true);
        self.min.append_option(values.min);
        self.max.append_option(values.max);
        self.aggregation_temporality.append_value(values.temporality);
    }

    fn finish(mut self) -> Result<Vec<ArrayRef>, DecodeError> {
        let mut columns = self.common.finish()?;
        columns.push(Arc::new(self.count.finish()));
        columns.push(Arc::new(self.sum.finish()));
        columns.push(Arc::new(self.bucket_counts.finish()));
        columns.push(Arc::new(self.explicit_bounds.finish()));
        columns.push(Arc::new(self.min.finish()));
        columns.push(Arc::new(self.max.finish()));
        columns.push(Arc::new(self.aggregation_temporality.finish()));
        Ok(columns)
    }
}

struct ExponentialHistogramColumns {
    common: CommonColumns,
    count: UInt64Builder,
    sum: Float64Builder,
    scale: Int32Builder,
    zero_count: UInt64Builder,
    zero_threshold: Float64Builder,
    positive_offset: Int32Builder,
    positive_bucket_counts: ListBuilder<UInt64Builder>,
    negative_offset: Int32Builder,
    negative_bucket_counts: ListBuilder<UInt64Builder>,
    min: Float64Builder,
    max: Float64Builder,
    aggregation_temporality: Int32Builder,
}

impl ExponentialHistogramColumns {
    fn new(rows: usize) -> Self {
        let buckets = rows * BUCKETS_PER_HISTOGRAM_GUESS;
        ExponentialHistogramColumns {
            common: CommonColumns::new(Table::MetricsExponentialHistogram, rows),
            count: UInt64Builder::with_capacity(rows),
            sum: Float64Builder::with_capacity(rows),
            scale: Int32Builder::with_capacity(rows),
            zero_count: UInt64Builder::with_capacity(rows),
            zero_threshold: Float64Builder::with_capacity(rows),
            positive_offset: Int32Builder::with_capacity(rows),
            positive_bucket_counts: ListBuilder::with_capacity(UInt64Builder::with_capacity(buckets), rows),
            negative_offset: Int32Builder::with_capacity(rows),
            negative_bucket_counts: ListBuilder::with_capacity(UInt64Builder::with_capacity(0), rows),
            min: Float64Builder::with_capacity(rows),
            max: Float64Builder::with_capacity(rows),
            aggregation_temporality: Int32Builder::with_capacity(rows),
        }
    }

    fn append<'p, A, E>(&mut self, ctx: &MetricContext, point: Point<'p, A, E>, values: &ExponentialValues)
    where
        A: AttributeList + ?Sized + 'p,
        E: Iterator<Item = (ExemplarScalars<'p>, &'p A)>,
    {
        self.common.append(ctx, point);
        self.count.append_value(values.count);
        self.sum.append_option(values.sum);
        self.scale.append_value(values.scale);
        self.zero_count.append_value(values.zero_count);
        self.zero_threshold.append_value(values.zero_threshold);
        let (positive_offset, positive_counts) = values.positive;
        self.positive_offset.append_value(positive_offset);
        self.positive_bucket_counts.values().append_slice(positive_counts);
        self.positive_bucket_counts.append(true);
        let (negative_offset, negative_counts) = values.negative;
        self.negative_offset.append_value(negative_offset);
        self.negative_bucket_counts.values().append_slice(negative_counts);
        self.negative_bucket_counts.append(true);
        self.min.append_option(values.min);
        self.max.append_option(values.max);
        self.aggregation_temporality.append_value(values.temporality);
    }

    fn finish(mut self) -> Result<Vec<ArrayRef>, DecodeError> {
        let mut columns = self.common.finish()?;
        columns.push(Arc::new(self.count.finish()));
        columns.push(Arc::new(self.sum.finish()));
        columns.push(Arc::new(self.scale.finish()));
        columns.push(Arc::new(self.zero_count.finish()));
        columns.push(Arc::new(self.zero_threshold.finish()));
        columns.push(Arc::new(self.positive_offset.finish()));
        columns.push(Arc::new(self.positive_bucket_counts.finish()));
        columns.push(Arc::new(self.negative_offset.finish()));
        columns.push(Arc::new(self.negative_bucket_counts.finish()));
        columns.push(Arc::new(self.min.finish()));
        columns.push(Arc::new(self.max.finish()));
        columns.push(Arc::new(self.aggregation_temporality.finish()));
        Ok(columns)
    }
}

struct SummaryColumns {
    common: CommonColumns,
    count: UInt64Builder,
    sum: Float64Builder,
    quantile_values: ListOffsets,
    quantile: Float64Builder,
    value: Float64Builder,
}

impl SummaryColumns {
    fn new(rows: usize) -> Self {
        let quantiles = rows * QUANTILES_PER_SUMMARY_GUESS;
        SummaryColumns {
            common: CommonColumns::new(Table::MetricsSummary, rows),
            count: UInt64Builder::with_capacity(rows),
            sum: Float64Builder::with_capacity(rows),
            quantile_values: ListOffsets::with_capacity(rows),
            quantile: Float64Builder::with_capacity(quantiles),
            value: Float64Builder::with_capacity(quantiles),
        }
    }

    /// Summary points have no exemplars (the table has no such column).
    fn append<'p, A, E>(&mut self, ctx: &MetricContext, point: Point<'p, A, E>, values: &SummaryValues)
    where
        A: AttributeList + ?Sized + 'p,
        E: Iterator<Item = (ExemplarScalars<'p>, &'p A)>,
    {
        self.common.append(ctx, point);
        self.count.append_value(values.count);
        self.sum.append_value(values.sum);
        for q in values.quantiles {
            self.quantile.append_value(q.quantile);
            self.value.append_value(q.value);
        }
        self.quantile_values.close_row(self.value.len());
    }

    fn finish(mut self) -> Result<Vec<ArrayRef>, DecodeError> {
        let mut columns = self.common.finish()?;
        columns.push(Arc::new(self.count.finish()));
        columns.push(Arc::new(self.sum.finish()));
        columns.push(self.quantile_values.finish(
            &column_type(Table::MetricsSummary, "quantile_values"),
            vec![Arc::new(self.quantile.finish()), Arc::new(self.value.finish())],
        )?);
        Ok(columns)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn decode(body: &[u8]) -> Result<Decoded, DecodeError> {
        super::decode(body, &crate::DecodeLimits::unbounded(usize::MAX))
    }
    use crate::attributes::tests::{kv, map_entries, s};
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int32Type, TimestampNanosecondType, UInt32Type, UInt64Type};
    use arrow_array::{Array, MapArray, RecordBatch};
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, InstrumentationScope};
    use opentelemetry_proto::tonic::metrics::v1::{
        ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, NumberDataPoint,
        ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;

    #[test]
    fn builders_are_sized_by_the_points_of_each_kind() {
        let request = crate::fixtures::realistic_metrics(3);
        let (valid, _) = validate(Cow::Owned(request.encode_to_vec()), &DecodeLimits::unbounded(usize::MAX)).unwrap();
        assert_eq!(valid.points, PointCounts { gauge: 3, sum: 3, histogram: 3, exponential: 3, summary: 3 });
        let decoded = decode(&request.encode_to_vec()).unwrap();
        let rows: Vec<(Table, usize)> = decoded.batches.iter().map(|b| (b.table, b.batch.num_rows())).collect();
        assert_eq!(
            rows,
            [
                (Table::MetricsGauge, 3),
                (Table::MetricsSum, 3),
                (Table::MetricsHistogram, 3),
                (Table::MetricsExponentialHistogram, 3),
                (Table::MetricsSummary, 3)
            ]
        );
    }

    const T0: u64 = 1_700_000_000_000_000_000;
    const T1: u64 = 1_700_000_060_000_000_000;

    fn metric(name: &str, data: Data) -> Metric {
        Metric {
            name: name.into(),
            description: format!("{name} description"),
            unit: "ms".into(),
            data: Some(data),
            ..Default::default()
        }
    }

    fn number(value: number_data_point::Value, attrs: Vec<KeyValue>) -> NumberDataPoint {
        NumberDataPoint {
            attributes: attrs,
            start_time_unix_nano: T0,
            time_unix_nano: T1,
            value: Some(value),
            ..Default::default()
        }
    }

    pub(crate) fn sample_request() -> ExportMetricsServiceRequest {
        let exemplar = Exemplar {
            filtered_attributes: vec![kv("user", s("u1"))],
            time_unix_nano: T1 - 5,
            span_id: vec![0x11; 8],
            trace_id: vec![0x22; 16],
            value: Some(exemplar::Value::AsInt(7)),
        };
        let mut gauge_int = number(number_data_point::Value::AsInt(42), vec![kv("cpu", s("0"))]);
        gauge_int.exemplars = vec![exemplar.clone()];
        gauge_int.flags = 1;
        let gauge_double = number(number_data_point::Value::AsDouble(0.75), vec![kv("cpu", s("1"))]);
        let metrics = vec![
            metric("system.cpu.utilization", Data::Gauge(Gauge { data_points: vec![gauge_int, gauge_double] })),
            metric(
                "http.requests",
                Data::Sum(Sum {
                    data_points: vec![number(
                        number_data_point::Value::AsInt(10),
                        vec![kv("code", Value::IntValue(200))],
                    )],
                    aggregation_temporality: 2,
                    is_monotonic: true,
                }),
            ),
            metric(
                "http.duration",
                Data::Histogram(Histogram {
                    data_points: vec![
                        HistogramDataPoint {
                            start_time_unix_nano: T0,
                            time_unix_nano: T1,
                            count: 6,
                            sum: Some(12.5),
                            bucket_counts: vec![1, 2, 3],
                            explicit_bounds: vec![1.0, 5.0],
                            exemplars: vec![exemplar.clone()],
                            min: Some(0.5),
                            max: Some(9.0),
                            ..Default::default()
                        },
                        HistogramDataPoint { time_unix_nano: T1, count: 0, ..Default::default() },
                    ],
                    aggregation_temporality: 1,
                }),
            ),
            metric(
                "latency.exp",
                Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint {
                        start_time_unix_nano: T0,
                        time_unix_nano: T1,
                        count: 9,
                        sum: Some(30.0),
                        scale: -2,
                        zero_count: 1,
                        zero_threshold: 0.001,
                        positive: Some(Buckets { offset: -3, bucket_counts: vec![4, 4] }),
                        negative: None,
                        exemplars: vec![exemplar],
                        max: Some(20.0),
                        ..Default::default()
                    }],
                    aggregation_temporality: 2,
                }),
            ),
            metric(
                "rpc.latency",
                Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        start_time_unix_nano: T0,
                        time_unix_nano: T1,
                        count: 100,
                        sum: 250.0,
                        quantile_values: vec![
                            ValueAtQuantile { quantile: 0.5, value: 2.0 },
                            ValueAtQuantile { quantile: 0.99, value: 9.5 },
                        ],
                        ..Default::default()
                    }],
                }),
            ),
        ];
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource { attributes: vec![kv("service.name", s("api"))], ..Default::default() }),
                schema_url: "res-url".into(),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "meter".into(),
                        version: "2.0".into(),
                        attributes: vec![kv("k", s("v"))],
                        ..Default::default()
                    }),
                    schema_url: "scope-url".into(),
                    metrics,
                }],
            }],
        }
    }

    fn batch(decoded: &Decoded, table: Table) -> &RecordBatch {
        &decoded.batches.iter().find(|b| b.table == table).unwrap_or_else(|| panic!("no {} batch", table.name())).batch
    }

    fn f64_at(b: &RecordBatch, name: &str, row: usize) -> Option<f64> {
        let col = b.column_by_name(name).unwrap().as_primitive::<Float64Type>();
        col.is_valid(row).then(|| col.value(row))
    }

    fn u64_list(b: &RecordBatch, name: &str, row: usize) -> Vec<u64> {
        let list = b.column_by_name(name).unwrap().as_list::<i32>().value(row);
        list.as_primitive::<UInt64Type>().values().to_vec()
    }

    pub(crate) fn check_sample(decoded: &Decoded) {
        assert_eq!(decoded.rejected, 0, "{}", decoded.rejection_message);
        let tables: Vec<Table> = decoded.batches.iter().map(|b| b.table).collect();
        assert_eq!(
            tables,
            vec![
                Table::MetricsGauge,
                Table::MetricsSum,
                Table::MetricsHistogram,
                Table::MetricsExponentialHistogram,
                Table::MetricsSummary
            ]
        );

        let gauge = batch(decoded, Table::MetricsGauge);
        assert_eq!(gauge.num_rows(), 2);
        assert_eq!(f64_at(gauge, "value", 0), Some(42.0));
        assert_eq!(f64_at(gauge, "value", 1), Some(0.75));
        let text = |b: &RecordBatch, name: &str, row: usize| {
            b.column_by_name(name).unwrap().as_string::<i32>().value(row).to_string()
        };
        assert_eq!(text(gauge, "metric_name", 0), "system.cpu.utilization");
        assert_eq!(text(gauge, "metric_description", 0), "system.cpu.utilization description");
        assert_eq!(text(gauge, "metric_unit", 1), "ms");
        assert_eq!(text(gauge, "service_name", 1), "api");
        assert_eq!(text(gauge, "resource_schema_url", 0), "res-url");
        assert_eq!(text(gauge, "scope_schema_url", 0), "scope-url");
        assert_eq!(text(gauge, "scope_name", 0), "meter");
        assert_eq!(text(gauge, "scope_version", 0), "2.0");
        let scope_attrs = gauge.column_by_name("scope_attributes").unwrap();
        let scope_attrs = scope_attrs.as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(map_entries(scope_attrs, 1), vec![("k".into(), "v".into())]);
        let attrs = gauge.column_by_name("attributes").unwrap();
        let attrs = attrs.as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(map_entries(attrs, 1), vec![("cpu".into(), "1".into())]);
        let ts = |b: &RecordBatch, name: &str, row: usize| {
            b.column_by_name(name).unwrap().as_primitive::<TimestampNanosecondType>().value(row)
        };
        assert_eq!(ts(gauge, "start_timestamp", 0), T0 as i64);
        assert_eq!(ts(gauge, "timestamp", 0), T1 as i64);
        assert_eq!(gauge.column_by_name("flags").unwrap().as_primitive::<UInt32Type>().value(0), 1);
        let exemplars = gauge.column_by_name("exemplars").unwrap().as_list::<i32>();
        assert_eq!(exemplars.value_length(0), 1);
        assert_eq!(exemplars.value_length(1), 0);
        let ex = exemplars.value(0);
        let ex = ex.as_struct();
        let filtered = ex.column(0).as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(map_entries(filtered, 0), vec![("user".into(), "u1".into())]);
        assert_eq!(ex.column(1).as_primitive::<TimestampNanosecondType>().value(0), (T1 - 5) as i64);
        assert_eq!(ex.column(2).as_primitive::<Float64Type>().value(0), 7.0);
        assert_eq!(ex.column(3).as_string::<i32>().value(0), "1111111111111111");
        assert_eq!(ex.column(4).as_string::<i32>().value(0), "22222222222222222222222222222222");

        let sum = batch(decoded, Table::MetricsSum);
        assert_eq!(sum.num_rows(), 1);
        assert_eq!(f64_at(sum, "value", 0), Some(10.0));
        assert_eq!(sum.column_by_name("aggregation_temporality").unwrap().as_primitive::<Int32Type>().value(0), 2);
        assert!(sum.column_by_name("is_monotonic").unwrap().as_boolean().value(0));
        let sum_attrs = sum.column_by_name("attributes").unwrap();
        let sum_attrs = sum_attrs.as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(map_entries(sum_attrs, 0), vec![("code".into(), "200".into())]);

        let hist = batch(decoded, Table::MetricsHistogram);
        assert_eq!(hist.num_rows(), 2);
        assert_eq!(hist.column_by_name("count").unwrap().as_primitive::<UInt64Type>().value(0), 6);
        assert_eq!(f64_at(hist, "sum", 0), Some(12.5));
        assert_eq!(f64_at(hist, "sum", 1), None);
        assert_eq!(u64_list(hist, "bucket_counts", 0), vec![1, 2, 3]);
        assert_eq!(u64_list(hist, "bucket_counts", 1), Vec::<u64>::new());
        let bounds = hist.column_by_name("explicit_bounds").unwrap().as_list::<i32>().value(0);
        assert_eq!(bounds.as_primitive::<Float64Type>().values().to_vec(), vec![1.0, 5.0]);
        assert_eq!(f64_at(hist, "min", 0), Some(0.5));
        assert_eq!(f64_at(hist, "max", 0), Some(9.0));
        assert_eq!(f64_at(hist, "min", 1), None);
        assert_eq!(hist.column_by_name("aggregation_temporality").unwrap().as_primitive::<Int32Type>().value(0), 1);
        assert_eq!(hist.column_by_name("exemplars").unwrap().as_list::<i32>().value_length(0), 1);

        let exp = batch(decoded, Table::MetricsExponentialHistogram);
        assert_eq!(exp.num_rows(), 1);
        let i32_at = |name: &str| exp.column_by_name(name).unwrap().as_primitive::<Int32Type>().value(0);
        assert_eq!(i32_at("scale"), -2);
        assert_eq!(i32_at("positive_offset"), -3);
        assert_eq!(i32_at("negative_offset"), 0);
        assert_eq!(i32_at("aggregation_temporality"), 2);
        assert_eq!(exp.column_by_name("zero_count").unwrap().as_primitive::<UInt64Type>().value(0), 1);
        assert_eq!(f64_at(exp, "zero_threshold", 0), Some(0.001));
        assert_eq!(f64_at(exp, "sum", 0), Some(30.0));
        assert_eq!(f64_at(exp, "min", 0), None);
        assert_eq!(f64_at(exp, "max", 0), Some(20.0));
        assert_eq!(u64_list(exp, "positive_bucket_counts", 0), vec![4, 4]);
        assert_eq!(u64_list(exp, "negative_bucket_counts", 0), Vec::<u64>::new());

        let summary = batch(decoded, Table::MetricsSummary);
        assert_eq!(summary.num_rows(), 1);
        assert!(summary.column_by_name("exemplars").is_none());
        assert_eq!(summary.column_by_name("count").unwrap().as_primitive::<UInt64Type>().value(0), 100);
        assert_eq!(f64_at(summary, "sum", 0), Some(250.0));
        let q = summary.column_by_name("quantile_values").unwrap().as_list::<i32>().value(0);
        let q = q.as_struct();
        assert_eq!(q.len(), 2);
        assert_eq!(q.column(0).as_primitive::<Float64Type>().value(1), 0.99);
        assert_eq!(q.column(1).as_primitive::<Float64Type>().value(1), 9.5);
    }

    #[test]
    fn decodes_all_metric_types() {
        check_sample(&decode(&sample_request().encode_to_vec()).unwrap());
    }

    #[test]
    fn rejects_metrics_without_data_and_bad_exemplars() {
        let mut request = sample_request();
        let metrics = &mut request.resource_metrics[0].scope_metrics[0].metrics;
        metrics.insert(0, Metric { name: "empty".into(), ..Default::default() });
        if let Some(Data::Histogram(h)) = &mut metrics[3].data {
            h.data_points[0].exemplars[0].trace_id = vec![0; 8];
        } else {
            panic!("metric 3 should be the histogram");
        }
        let decoded = decode(&request.encode_to_vec()).unwrap();
        assert_eq!(decoded.rejected, 2);
        assert_eq!(decoded.rejection_message, "metric \"empty\" has no data");
        assert_eq!(batch(&decoded, Table::MetricsHistogram).num_rows(), 1);
        assert_eq!(batch(&decoded, Table::MetricsGauge).num_rows(), 2);
    }

    #[test]
    fn only_touched_tables_get_batches() {
        let mut request = sample_request();
        request.resource_metrics[0].scope_metrics[0].metrics.truncate(1);
        let decoded = decode(&request.encode_to_vec()).unwrap();
        assert_eq!(decoded.batches.len(), 1);
        assert_eq!(decoded.batches[0].table, Table::MetricsGauge);
    }

    #[test]
    fn missing_point_value_is_null() {
        let mut request = sample_request();
        if let Some(Data::Gauge(g)) = &mut request.resource_metrics[0].scope_metrics[0].metrics[0].data {
            g.data_points[1].value = None;
        }
        let decoded = decode(&request.encode_to_vec()).unwrap();
        assert_eq!(f64_at(batch(&decoded, Table::MetricsGauge), "value", 1), None);
    }

    /// The request of `rejects_metrics_without_data_and_bad_exemplars`.
    fn request_with_rejections() -> ExportMetricsServiceRequest {
        let mut request = sample_request();
        let metrics = &mut request.resource_metrics[0].scope_metrics[0].metrics;
        metrics.insert(0, Metric { name: "empty".into(), ..Default::default() });
        if let Some(Data::Histogram(h)) = &mut metrics[3].data {
            h.data_points[0].exemplars[0].trace_id = vec![0; 8];
        }
        request
    }

    #[test]
    fn rows_built_for_many_requests_at_once_equal_each_request_decoded_alone() {
        let bodies = [
            sample_request().encode_to_vec(),
            request_with_rejections().encode_to_vec(),
            crate::fixtures::realistic_metrics(4).encode_to_vec(),
        ];
        let limits = DecodeLimits::unbounded(usize::MAX);
        let valid: Vec<ValidMetrics> = bodies
            .iter()
            .map(|body| {
                let (valid, rejections) = validate(Cow::Borrowed(body), &limits).unwrap();
                let alone = decode(body).unwrap();
                assert_eq!((rejections.count, valid.rows()), (alone.rejected, alone.rows()));
                assert_eq!(rejections.message(), alone.rejection_message);
                valid
            })
            .collect();
        let mut batcher = MetricBatcher::for_requests(&valid);
        for request in &valid {
            batcher.append(request);
        }
        let together = batcher.finish().unwrap();
        let alone: Vec<Decoded> = bodies.iter().map(|body| decode(body).unwrap()).collect();
        for table in Table::all().into_iter().filter(|t| t.name().starts_with("metrics")) {
            let expected: Vec<RecordBatch> =
                alone.iter().flat_map(|d| &d.batches).filter(|b| b.table == table).map(|b| b.batch.clone()).collect();
            let got: Vec<&RecordBatch> = together.iter().filter(|b| b.table == table).map(|b| &b.batch).collect();
            assert_eq!(got.len(), 1, "one batch for {}", table.name());
            let schema = expected[0].schema();
            let expected = arrow_select::concat::concat_batches(&schema, &expected).unwrap();
            assert_eq!(got[0], &expected, "{}", table.name());
        }
    }

    /// `sample_request` followed by a resource whose one metric has its
    /// gauge field twice (prost merges them; the walker declines there, after
    /// reading everything before it).
    fn body_declined_at_its_end() -> Vec<u8> {
        use crate::wire::tests::len_field;
        let point = number(number_data_point::Value::AsInt(3), vec![kv("late", s("yes"))]).encode_to_vec();
        let gauge = len_field(5, &len_field(1, &point));
        let metric = [len_field(1, b"late"), gauge.clone(), gauge].concat();
        let resource_entry = len_field(2, &len_field(2, &metric));
        [sample_request().encode_to_vec(), len_field(1, &resource_entry)].concat()
    }

    #[test]
    fn a_build_the_walker_declines_falls_back_to_prost_without_repeating_rows() {
        let body = body_declined_at_its_end();
        let reference = decode_with_prost(&body, &DecodeLimits::unbounded(usize::MAX)).unwrap();
        assert_eq!(reference.rows(), 9);
        let (valid, rejections) = validate(Cow::Borrowed(&body), &DecodeLimits::unbounded(usize::MAX)).unwrap();
        assert!(!valid.walked, "validation fell back to prost");
        assert_eq!((valid.rows(), rejections.count), (9, 0));
        // even told that the walker validated it, the build gives prost's rows once
        let as_if_walked = ValidMetrics { protobuf: body.clone(), points: valid.points.clone(), walked: true };
        for valid in [&valid, &as_if_walked] {
            let mut batcher = MetricBatcher::for_requests([valid]);
            batcher.append(valid);
            let built = batcher.finish().unwrap();
            assert_eq!(built.len(), reference.batches.len());
            for (got, want) in built.iter().zip(&reference.batches) {
                assert_eq!((got.table, &got.batch), (want.table, &want.batch));
            }
        }
        let gauge = batch(&reference, Table::MetricsGauge);
        assert_eq!(gauge.num_rows(), 4, "2 sample points and the 2 merged late ones");
        assert_eq!(f64_at(gauge, "value", 3), Some(3.0));
    }

    #[test]
    fn stored_bytes_that_no_longer_decode_are_an_internal_error() {
        let broken = ValidMetrics { protobuf: vec![0xff, 0xff], points: PointCounts::default(), walked: true };
        let mut batcher = MetricBatcher::for_requests([&broken]);
        batcher.append(&broken);
        let err = batcher.finish().unwrap_err();
        assert!(matches!(err, DecodeError::Internal(_)), "{err}");
    }

    #[test]
    fn memory_is_the_held_protobuf() {
        let body = crate::fixtures::realistic_metrics(5).encode_to_vec();
        let (valid, _) = validate(Cow::Borrowed(&body), &DecodeLimits::unbounded(usize::MAX)).unwrap();
        assert!(valid.walked);
        assert_eq!(valid.protobuf, body);
        assert_eq!(valid.memory_estimate(), body.len() + std::mem::size_of::<ValidMetrics>());
        assert!(valid.memory_estimate() < body.len() + 128);
        // an owned body (decompressed, transcoded) is kept without a copy
        let owned = body.clone();
        let address = owned.as_ptr();
        let (valid, _) = validate(Cow::Owned(owned), &DecodeLimits::unbounded(usize::MAX)).unwrap();
        assert_eq!(valid.protobuf.as_ptr(), address);
    }
}
