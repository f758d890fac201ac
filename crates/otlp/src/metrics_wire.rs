//! A zero-copy reader of protobuf `ExportMetricsServiceRequest` bodies.
//!
//! Why it exists: the ingest path validated each metrics request with a full
//! prost decode (a `String` or `Vec` for every name, attribute, exemplar and
//! bucket list of every point), kept that tree until the flush (about three
//! times the body in memory) and built the rows from it. This walker reads
//! the wire format instead, borrowing `&str`/`&[u8]` slices from the body, so
//! the ingest path keeps only the bytes and walks them twice: once to count
//! points and rejections and charge the bounds ([`validate`]), once at flush
//! time into the column builders ([`append`]), which are the prost path's
//! (`metrics::MetricBatcher`, fed borrowed views). Resources, scopes and
//! non-string `AnyValue`s still go through prost one small message at a time
//! (`wire`), so their rendering is exactly the existing one.
//!
//! A request is read whole before anything is appended (the [`Request`]
//! pass): a metric's fields may come in any order (its name after its data
//! points), and a decline halfway must leave the builders untouched, so that
//! the caller can fall back to prost for the same request.
//!
//! It must produce exactly what [`super::metrics::decode_with_prost`]
//! produces, so it declines (returns `None`/`Err(Decline)`, and the caller
//! uses prost) whenever the body is not plain canonical-ish protobuf: any
//! malformed input (truncation, bad varint or key, invalid UTF-8, a length
//! past the end, a known field with an unexpected wire type, a packed list
//! of fixed-width values whose length is not a multiple of their width), a
//! metric with more than one data field (prost would merge or replace them),
//! a singular embedded message (`resource`, `scope`, `positive`, `negative`,
//! `KeyValue.value`) occurring twice (prost would merge the occurrences), an
//! unknown field encoded as a group, nested values deep enough to come near
//! prost's recursion limit, and any request past a bound of `DecodeLimits`
//! (the prost path counts the same items and answers the error). Declining
//! is always safe; prost then gives today's result or today's error.

use super::attributes::{ResourceContext, ScopeContext};
use super::limits::{CopyBudget, DecodeLimits, ItemBudget};
use super::metrics::{
    count_metric, exemplar_problem, ExemplarScalars, ExponentialValues, HistogramValues, MetricBatcher, MetricContext,
    Point, PointCounts, PointKind, PointTimes, SummaryValues, Values,
};
use super::wire::{count, scan_key_value, set_once, Decline, Fields, Layout, Payload, Value, Walk};
use super::{Decoded, Rejections};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{exemplar, number_data_point};
use prost::encoding::decode_varint;
use std::ops::Range;

/// Decodes a protobuf metrics request, or `None` when prost must do it.
pub(super) fn decode(body: &[u8], limits: &DecodeLimits) -> Option<Decoded> {
    let mut budget = ItemBudget::new(limits.max_items);
    let decoded = read(body, &mut budget, |request| {
        let (points, rejections) = request.count(limits)?;
        let mut batcher = MetricBatcher::with_capacity(&points);
        request.append_to(&mut batcher);
        let batches = batcher.finish().map_err(|_| Decline)?;
        Ok(rejections.into_decoded(batches))
    });
    decoded.ok()
}

/// Counts the storable points and the rejections of a request within
/// `limits`, or `None` when prost must.
pub(super) fn validate(body: &[u8], limits: &DecodeLimits) -> Option<(PointCounts, Rejections)> {
    read(body, &mut ItemBudget::new(limits.max_items), |request| request.count(limits)).ok()
}

/// Appends the storable points of a request that [`validate`] accepted. On
/// `Err` nothing was appended.
pub(super) fn append(body: &[u8], batcher: &mut MetricBatcher) -> Walk<()> {
    // the request passed its bounds when it was validated
    read(body, &mut ItemBudget::new(usize::MAX), |request| {
        request.append_to(batcher);
        Ok(())
    })
}

/// Reads the whole request, then hands it to `then`.
fn read<T>(body: &[u8], budget: &mut ItemBudget, then: impl FnOnce(&Request) -> Walk<T>) -> Walk<T> {
    let layout = Layout::scan(body, budget)?;
    let resources = layout.resource_contexts(budget)?;
    let decoded_scopes: Vec<Option<InstrumentationScope>> = layout.decoded_scopes(budget)?;
    let scopes: Vec<ScopeContext> = layout
        .scopes
        .iter()
        .zip(&decoded_scopes)
        .map(|(entry, scope)| ScopeContext::new(scope.as_ref(), entry.schema_url))
        .collect();
    let mut parts = Parts::with_capacity(layout.items.len(), body.len());
    let mut metrics = Vec::with_capacity(layout.items.len());
    for item in &layout.items {
        metrics.push(parts.scan_metric(item.bytes, item.scope, budget)?);
    }
    then(&Request { layout: &layout, resources: &resources, scopes: &scopes, metrics: &metrics, parts: &parts })
}

// ---------------------------------------------------------------------------
// A request, read

/// Everything of one request, borrowed from its body, in prost's order.
struct Request<'r, 'a> {
    layout: &'r Layout<'a>,
    resources: &'r [ResourceContext<'a>],
    scopes: &'r [ScopeContext<'r>],
    metrics: &'r [MetricParts<'a>],
    parts: &'r Parts<'a>,
}

impl Request<'_, '_> {
    fn context<'s>(&'s self, metric: &MetricParts<'s>) -> MetricContext<'s> {
        MetricContext {
            resource: &self.resources[self.layout.scopes[metric.scope].resource],
            scope: &self.scopes[metric.scope],
            name: metric.name,
            description: metric.description,
            unit: metric.unit,
        }
    }

    fn points(&self, metric: &MetricParts) -> &[PointParts] {
        &self.parts.points[metric.points.clone()]
    }

    fn exemplar_ids(&self, point: &PointParts) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.parts.exemplars[point.exemplars.clone()].iter().map(|e| (e.scalars.trace_id, e.scalars.span_id))
    }

    /// Charges the copy bound and counts points and rejections, as
    /// `metrics::validate_with_prost` does.
    fn count(&self, limits: &DecodeLimits) -> Walk<(PointCounts, Rejections)> {
        let mut copies = CopyBudget::new(limits.max_copied_bytes);
        let mut points = PointCounts::default();
        let mut rejections = Rejections::default();
        for metric in self.metrics {
            copies.charge(metric.points.len(), self.context(metric).row_bytes()).map_err(|_| Decline)?;
            let problems = self.points(metric).iter().map(|p| exemplar_problem(self.exemplar_ids(p)));
            count_metric(metric.name, metric.data.map(|d| d.kind), problems, &mut points, &mut rejections);
        }
        Ok((points, rejections))
    }

    fn append_to(&self, batcher: &mut MetricBatcher) {
        let parts = self.parts;
        for metric in self.metrics {
            let Some(data) = metric.data else { continue };
            let ctx = self.context(metric);
            for point in self.points(metric) {
                if exemplar_problem(self.exemplar_ids(point)).is_some() {
                    continue;
                }
                let exemplars = parts.exemplars[point.exemplars.clone()]
                    .iter()
                    .map(|e| (e.scalars, &parts.exemplar_attributes[e.attributes.clone()]));
                let header =
                    Point { times: point.times, attributes: &parts.attributes[point.attributes.clone()], exemplars };
                batcher.append_point(&ctx, header, parts.values(&point.values, data));
            }
        }
    }
}

/// An attribute borrowed from the body.
type Attribute<'a> = (&'a str, Value<'a>);

/// What a metric's data field holds besides its points.
#[derive(Clone, Copy)]
struct DataParts {
    kind: PointKind,
    temporality: i32,
    monotonic: bool,
}

struct MetricParts<'a> {
    /// into [`Layout::scopes`]
    scope: usize,
    name: &'a str,
    description: &'a str,
    unit: &'a str,
    /// `None`: no data field
    data: Option<DataParts>,
    /// into [`Parts::points`]
    points: Range<usize>,
}

struct PointParts {
    times: PointTimes,
    /// into [`Parts::attributes`]
    attributes: Range<usize>,
    /// into [`Parts::exemplars`]
    exemplars: Range<usize>,
    values: ValueParts,
}

/// [`Values`] with ranges into [`Parts`] for what is repeated; the fields of
/// the metric's data (kind, temporality) are added when appending.
enum ValueParts {
    Number(Option<number_data_point::Value>),
    Histogram {
        count: u64,
        sum: Option<f64>,
        bucket_counts: Range<usize>,
        explicit_bounds: Range<usize>,
        min: Option<f64>,
        max: Option<f64>,
    },
    Exponential {
        count: u64,
        sum: Option<f64>,
        scale: i32,
        zero_count: u64,
        zero_threshold: f64,
        positive: (i32, Range<usize>),
        negative: (i32, Range<usize>),
        min: Option<f64>,
        max: Option<f64>,
    },
    Summary {
        count: u64,
        sum: f64,
        quantiles: Range<usize>,
    },
}

struct ExemplarParts<'a> {
    scalars: ExemplarScalars<'a>,
    /// into [`Parts::exemplar_attributes`]
    attributes: Range<usize>,
}

/// The repeated contents of every point of a request, each point's as one
/// range per vector. Point attributes and exemplar attributes have vectors
/// of their own because a point's attributes and exemplars may interleave on
/// the wire, and so do bucket counts and bounds.
struct Parts<'a> {
    points: Vec<PointParts>,
    attributes: Vec<Attribute<'a>>,
    exemplars: Vec<ExemplarParts<'a>>,
    exemplar_attributes: Vec<Attribute<'a>>,
    /// histogram and exponential histogram bucket counts
    counts: Vec<u64>,
    explicit_bounds: Vec<f64>,
    quantiles: Vec<ValueAtQuantile>,
}

/// Guesses for the first allocation, bounded by the body: a point takes at
/// least 2 bytes, an attribute more.
const POINTS_PER_METRIC_GUESS: usize = 8;
const ATTRIBUTES_PER_POINT_GUESS: usize = 4;

impl<'a> Parts<'a> {
    fn with_capacity(metrics: usize, body_bytes: usize) -> Self {
        let points = (metrics * POINTS_PER_METRIC_GUESS).min(body_bytes / 2);
        Parts {
            points: Vec::with_capacity(points),
            attributes: Vec::with_capacity((points * ATTRIBUTES_PER_POINT_GUESS).min(body_bytes / 4)),
            exemplars: Vec::new(),
            exemplar_attributes: Vec::new(),
            counts: Vec::new(),
            explicit_bounds: Vec::new(),
            quantiles: Vec::new(),
        }
    }

    fn values(&self, values: &ValueParts, data: DataParts) -> Values<'_> {
        match values {
            ValueParts::Number(value) if data.kind == PointKind::Sum => {
                Values::Sum { value: *value, temporality: data.temporality, monotonic: data.monotonic }
            }
            ValueParts::Number(value) => Values::Gauge(*value),
            ValueParts::Histogram { count, sum, bucket_counts, explicit_bounds, min, max } => {
                Values::Histogram(HistogramValues {
                    count: *count,
                    sum: *sum,
                    bucket_counts: &self.counts[bucket_counts.clone()],
                    explicit_bounds: &self.explicit_bounds[explicit_bounds.clone()],
                    min: *min,
                    max: *max,
                    temporality: data.temporality,
                })
            }
            ValueParts::Exponential { count, sum, scale, zero_count, zero_threshold, positive, negative, min, max } => {
                Values::Exponential(ExponentialValues {
                    count: *count,
                    sum: *sum,
                    scale: *scale,
                    zero_count: *zero_count,
                    zero_threshold: *zero_threshold,
                    positive: (positive.0, &self.counts[positive.1.clone()]),
                    negative: (negative.0, &self.counts[negative.1.clone()]),
                    min: *min,
                    max: *max,
                    temporality: data.temporality,
                })
            }
            ValueParts::Summary { count, sum, quantiles } => Values::Summary(SummaryValues {
                count: *count,
                sum: *sum,
                quantiles: &self.quantiles[quantiles.clone()],
            }),
        }
    }

    // -----------------------------------------------------------------------
    // Reading

    /// `Metric`: 1 name, 2 description, 3 unit, the `data` oneof (5 gauge,
    /// 7 sum, 9 histogram, 10 exponential_histogram, 11 summary), 12 metadata
    /// (not stored, but counted and checked as prost would).
    fn scan_metric(&mut self, message: &'a [u8], scope: usize, budget: &mut ItemBudget) -> Walk<MetricParts<'a>> {
        let mut metric = MetricParts { scope, name: "", description: "", unit: "", data: None, points: 0..0 };
        let mut data: Option<(PointKind, &'a [u8])> = None;
        let mut fields = Fields::of(message);
        while let Some((tag, payload)) = fields.next_field()? {
            let kind = match tag {
                1 => {
                    metric.name = payload.text()?;
                    continue;
                }
                2 => {
                    metric.description = payload.text()?;
                    continue;
                }
                3 => {
                    metric.unit = payload.text()?;
                    continue;
                }
                12 => {
                    count(budget, 1)?;
                    scan_key_value(payload.bytes()?, budget)?;
                    continue;
                }
                5 => PointKind::Gauge,
                7 => PointKind::Sum,
                9 => PointKind::Histogram,
                10 => PointKind::Exponential,
                11 => PointKind::Summary,
                _ => continue,
            };
            // a second data field: prost merges or replaces
            if data.is_some() {
                return Err(Decline);
            }
            data = Some((kind, payload.bytes()?));
        }
        if let Some((kind, message)) = data {
            let first = self.points.len();
            metric.data = Some(self.scan_data(kind, message, budget)?);
            metric.points = first..self.points.len();
        }
        Ok(metric)
    }

    /// `Gauge`, `Sum`, `Histogram`, `ExponentialHistogram`, `Summary`: 1
    /// data_points, 2 aggregation_temporality (not in gauges and summaries),
    /// 3 is_monotonic (sums only).
    fn scan_data(&mut self, kind: PointKind, message: &'a [u8], budget: &mut ItemBudget) -> Walk<DataParts> {
        let mut data = DataParts { kind, temporality: 0, monotonic: false };
        let has_temporality = matches!(kind, PointKind::Sum | PointKind::Histogram | PointKind::Exponential);
        let mut fields = Fields::of(message);
        while let Some((tag, payload)) = fields.next_field()? {
            match tag {
                1 => {
                    count(budget, 1)?;
                    let point = self.scan_point(kind, payload.bytes()?, budget)?;
                    self.points.push(point);
                }
                2 if has_temporality => data.temporality = payload.varint()? as i32,
                3 if kind == PointKind::Sum => data.monotonic = payload.varint()? != 0,
                _ => {}
            }
        }
        Ok(data)
    }

    fn scan_point(&mut self, kind: PointKind, message: &'a [u8], budget: &mut ItemBudget) -> Walk<PointParts> {
        let attributes = self.attributes.len();
        let exemplars = self.exemplars.len();
        let mut point = match kind {
            PointKind::Gauge | PointKind::Sum => self.scan_number(message, budget)?,
            PointKind::Histogram => self.scan_histogram(message, budget)?,
            PointKind::Exponential => self.scan_exponential(message, budget)?,
            PointKind::Summary => self.scan_summary(message, budget)?,
        };
        point.attributes = attributes..self.attributes.len();
        point.exemplars = exemplars..self.exemplars.len();
        Ok(point)
    }

    /// `NumberDataPoint`: 7 attributes, 2 start_time_unix_nano, 3
    /// time_unix_nano, the `value` oneof (4 as_double, 6 as_int; the last
    /// one wins, as in prost), 5 exemplars, 8 flags.
    fn scan_number(&mut self, message: &'a [u8], budget: &mut ItemBudget) -> Walk<PointParts> {
        let mut times = PointTimes::default();
        let mut value = None;
        let mut fields = Fields::of(message);
        while let Some((tag, payload)) = fields.next_field()? {
            match tag {
                7 => self.scan_attribute(&payload, budget)?,
                2 => times.start = payload.fixed64()?,
                3 => times.time = payload.fixed64()?,
                4 => value = Some(number_data_point::Value::AsDouble(f64::from_bits(payload.fixed64()?))),
                6 => value = Some(number_data_point::Value::AsInt(payload.fixed64()? as i64)),
                5 => self.scan_exemplar(&payload, budget)?,
                8 => times.flags = payload.varint()? as u32,
                _ => {}
            }
        }
        Ok(PointParts { times, attributes: 0..0, exemplars: 0..0, values: ValueParts::Number(value) })
    }

    /// `HistogramDataPoint`: 9 attributes, 2 start_time_unix_nano, 3
    /// time_unix_nano, 4 count, 5 sum, 6 bucket_counts, 7 explicit_bounds, 8
    /// exemplars, 10 flags, 11 min, 12 max.
    fn scan_histogram(&mut self, message: &'a [u8], budget: &mut ItemBudget) -> Walk<PointParts> {
        let mut times = PointTimes::default();
        let (mut count, mut sum, mut min, mut max) = (0, None, None, None);
        let (counts, bounds) = (self.counts.len(), self.explicit_bounds.len());
        let mut fields = Fields::of(message);
        while let Some((tag, payload)) = fields.next_field()? {
            match tag {
                9 => self.scan_attribute(&payload, budget)?,
                2 => times.start = payload.fixed64()?,
                3 => times.time = payload.fixed64()?,
                4 => count = payload.fixed64()?,
                5 => sum = Some(double(&payload)?),
                6 => fixed64s(&payload, &mut self.counts, |bits| bits)?,
                7 => fixed64s(&payload, &mut self.explicit_bounds, f64::from_bits)?,
                8 => self.scan_exemplar(&payload, budget)?,
                10 => times.flags = payload.varint()? as u32,
                11 => min = Some(double(&payload)?),
                12 => max = Some(double(&payload)?),
                _ => {}
            }
        }
        let values = ValueParts::Histogram {
            count,
            sum,
            bucket_counts: counts..self.counts.len(),
            explicit_bounds: bounds..self.explicit_bounds.len(),
            min,
            max,
        };
        Ok(PointParts { times, attributes: 0..0, exemplars: 0..0, values })
    }

    /// `ExponentialHistogramDataPoint`: 1 attributes, 2 start_time_unix_nano,
    /// 3 time_unix_nano, 4 count, 5 sum, 6 scale, 7 zero_count, 8 positive,
    /// 9 negative, 10 flags, 11 exemplars, 12 min, 13 max, 14 zero_threshold.
    fn scan_exponential(&mut self, message: &'a [u8], budget: &mut ItemBudget) -> Walk<PointParts> {
        let mut times = PointTimes::default();
        let (mut count, mut sum, mut scale, mut zero_count, mut zero_threshold) = (0, None, 0, 0, 0.0);
        let (mut min, mut max) = (None, None);
        let (mut positive, mut negative) = (None, None);
        let mut fields = Fields::of(message);
        while let Some((tag, payload)) = fields.next_field()? {
            match tag {
                1 => self.scan_attribute(&payload, budget)?,
                2 => times.start = payload.fixed64()?,
                3 => times.time = payload.fixed64()?,
                4 => count = payload.fixed64()?,
                5 => sum = Some(double(&payload)?),
                6 => scale = sint32(payload.varint()?),
                7 => zero_count = payload.fixed64()?,
                8 => set_once(&mut positive, &payload)?,
                9 => set_once(&mut negative, &payload)?,
                10 => times.flags = payload.varint()? as u32,
                11 => self.scan_exemplar(&payload, budget)?,
                12 => min = Some(double(&payload)?),
                13 => max = Some(double(&payload)?),
                14 => zero_threshold = double(&payload)?,
                _ => {}
            }
        }
        let values = ValueParts::Exponential {
            count,
            sum,
            scale,
            zero_count,
            zero_threshold,
            positive: self.scan_buckets(positive, budget)?,
            negative: self.scan_buckets(negative, budget)?,
            min,
            max,
        };
        Ok(PointParts { times, attributes: 0..0, exemplars: 0..0, values })
    }

    /// `ExponentialHistogramDataPoint.Buckets`: 1 offset, 2 bucket_counts
    /// (varints, each an item); absent, offset 0 and no counts.
    fn scan_buckets(&mut self, message: Option<&'a [u8]>, budget: &mut ItemBudget) -> Walk<(i32, Range<usize>)> {
        let first = self.counts.len();
        let mut offset = 0;
        let mut fields = Fields::of(message.unwrap_or_default());
        while let Some((tag, payload)) = fields.next_field()? {
            match tag {
                1 => offset = sint32(payload.varint()?),
                2 => varints(&payload, &mut self.counts, budget)?,
                _ => {}
            }
        }
        Ok((offset, first..self.counts.len()))
    }

    /// `SummaryDataPoint`: 7 attributes, 2 start_time_unix_nano, 3
    /// time_unix_nano, 4 count, 5 sum, 6 quantile_values, 8 flags.
    fn scan_summary(&mut self, message: &'a [u8], budget: &mut ItemBudget) -> Walk<PointParts> {
        let mut times = PointTimes::default();
        let (mut total, mut sum) = (0, 0.0);
        let quantiles = self.quantiles.len();
        let mut fields = Fields::of(message);
        while let Some((tag, payload)) = fields.next_field()? {
            match tag {
                7 => self.scan_attribute(&payload, budget)?,
                2 => times.start = payload.fixed64()?,
                3 => times.time = payload.fixed64()?,
                4 => total = payload.fixed64()?,
                5 => sum = double(&payload)?,
                6 => {
                    count(budget, 1)?;
                    self.quantiles.push(scan_quantile(payload.bytes()?)?);
                }
                8 => times.flags = payload.varint()? as u32,
                _ => {}
            }
        }
        let values = ValueParts::Summary { count: total, sum, quantiles: quantiles..self.quantiles.len() };
        Ok(PointParts { times, attributes: 0..0, exemplars: 0..0, values })
    }

    /// One point attribute, counted as an item.
    fn scan_attribute(&mut self, payload: &Payload<'a>, budget: &mut ItemBudget) -> Walk<()> {
        count(budget, 1)?;
        self.attributes.push(scan_key_value(payload.bytes()?, budget)?);
        Ok(())
    }

    /// `Exemplar`, counted as an item: 7 filtered_attributes, 2
    /// time_unix_nano, the `value` oneof (3 as_double, 6 as_int), 4 span_id,
    /// 5 trace_id.
    fn scan_exemplar(&mut self, payload: &Payload<'a>, budget: &mut ItemBudget) -> Walk<()> {
        count(budget, 1)?;
        let first = self.exemplar_attributes.len();
        let mut scalars = ExemplarScalars::default();
        let mut fields = Fields::of(payload.bytes()?);
        while let Some((tag, payload)) = fields.next_field()? {
            match tag {
                7 => {
                    count(budget, 1)?;
                    self.exemplar_attributes.push(scan_key_value(payload.bytes()?, budget)?);
                }
                2 => scalars.time = payload.fixed64()?,
                3 => scalars.value = Some(exemplar::Value::AsDouble(f64::from_bits(payload.fixed64()?))),
                6 => scalars.value = Some(exemplar::Value::AsInt(payload.fixed64()? as i64)),
                4 => scalars.span_id = payload.bytes()?,
                5 => scalars.trace_id = payload.bytes()?,
                _ => {}
            }
        }
        self.exemplars.push(ExemplarParts { scalars, attributes: first..self.exemplar_attributes.len() });
        Ok(())
    }
}

/// `ValueAtQuantile`: 1 quantile, 2 value.
fn scan_quantile(message: &[u8]) -> Walk<ValueAtQuantile> {
    let mut quantile = ValueAtQuantile::default();
    let mut fields = Fields::of(message);
    while let Some((tag, payload)) = fields.next_field()? {
        match tag {
            1 => quantile.quantile = double(&payload)?,
            2 => quantile.value = double(&payload)?,
            _ => {}
        }
    }
    Ok(quantile)
}

fn double(payload: &Payload) -> Walk<f64> {
    Ok(f64::from_bits(payload.fixed64()?))
}

/// A zigzag-encoded `sint32`, truncated to 32 bits first as prost does.
fn sint32(varint: u64) -> i32 {
    let value = varint as u32;
    ((value >> 1) as i32) ^ -((value & 1) as i32)
}

/// One occurrence of a repeated 64-bit field: packed (a length-delimited run,
/// a whole number of values) or a single value; prost accepts both and
/// appends. Fixed-width values are not items (see `limits`).
fn fixed64s<T>(payload: &Payload, out: &mut Vec<T>, convert: impl Fn(u64) -> T) -> Walk<()> {
    match payload {
        Payload::Fixed64(bits) => out.push(convert(*bits)),
        Payload::Bytes(bytes) => {
            let (values, rest) = bytes.as_chunks::<8>();
            if !rest.is_empty() {
                return Err(Decline);
            }
            out.extend(values.iter().map(|value| convert(u64::from_le_bytes(*value))));
        }
        _ => return Err(Decline),
    }
    Ok(())
}

/// One occurrence of a repeated varint field, packed or single; each value is
/// an item (a packed run's are counted before they are read, as the bytes
/// that end a varint).
fn varints(payload: &Payload, out: &mut Vec<u64>, budget: &mut ItemBudget) -> Walk<()> {
    match payload {
        Payload::Varint(value) => {
            count(budget, 1)?;
            out.push(*value);
        }
        Payload::Bytes(mut bytes) => {
            let values = bytes.iter().filter(|&&b| b < 0x80).count();
            count(budget, values)?;
            out.reserve(values);
            while !bytes.is_empty() {
                out.push(decode_varint(&mut bytes).map_err(|_| Decline)?);
            }
        }
        _ => return Err(Decline),
    }
    Ok(())
}
