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

#[cfg(test)]
mod tests {
    use super::super::limits;
    use super::super::metrics::tests::{check_sample, sample_request};
    use super::super::wire::tests::*;
    use super::super::wire::{value_depth, MAX_VALUE_DEPTH};
    use super::super::{DecodeError, Table};
    use super::*;
    use crate::attributes::tests::{kv, map_entries, s};
    use crate::fixtures::realistic_metrics;
    use crate::metrics::{validate, MetricBatcher};
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int32Type, TimestampNanosecondType, UInt32Type, UInt64Type};
    use arrow_array::{Array, MapArray, RecordBatch};
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
    use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::{
        Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric,
        NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use prost::Message;
    use std::borrow::Cow;

    const METRICS: Paths = Paths {
        walker: super::decode,
        prost: super::super::metrics::decode_with_prost,
        decode: super::super::metrics::decode,
    };

    /// The walker handles `body` on all three of its paths (decode,
    /// validation, flush-time build), each agreeing with prost; returns
    /// prost's result.
    fn handled(body: &[u8]) -> Decoded {
        let reference = METRICS.handled(body);
        let (points, rejections) = super::validate(body, &NO_LIMITS).expect("validation walks the body");
        assert_eq!(points.total(), reference.rows());
        assert_eq!((rejections.count, rejections.message()), (reference.rejected, reference.rejection_message.clone()));
        assert_eq!(built(body), reference.batches.iter().map(|b| (b.table, b.batch.clone())).collect::<Vec<_>>());
        reference
    }

    /// What the ingest path stores for `body`: validated, then built alone.
    fn built(body: &[u8]) -> Vec<(Table, RecordBatch)> {
        let (valid, _) = validate(Cow::Borrowed(body), &NO_LIMITS).unwrap();
        let mut batcher = MetricBatcher::for_requests([&valid]);
        batcher.append(&valid);
        batcher.finish().unwrap().into_iter().map(|b| (b.table, b.batch)).collect()
    }

    /// The walker declines `body` everywhere; `decode` and the ingest path
    /// give prost's answer.
    fn declined(body: &[u8]) -> Result<Decoded, DecodeError> {
        assert!(super::validate(body, &NO_LIMITS).is_none(), "validation should decline");
        let mut nothing = MetricBatcher::with_capacity(&PointCounts::default());
        assert!(super::append(body, &mut nothing).is_err(), "building should decline");
        assert!(nothing.finish().unwrap().is_empty(), "a declined build appends nothing");
        let reference = METRICS.declined(body);
        if let Ok(reference) = &reference {
            assert_eq!(built(body), reference.batches.iter().map(|b| (b.table, b.batch.clone())).collect::<Vec<_>>());
        } else {
            assert!(validate(Cow::Borrowed(body), &NO_LIMITS).is_err());
        }
        reference
    }

    fn batch(decoded: &Decoded, table: Table) -> &RecordBatch {
        &decoded.batches.iter().find(|b| b.table == table).unwrap_or_else(|| panic!("no {}", table.name())).batch
    }

    fn f64s(decoded: &Decoded, table: Table, column: &str) -> Vec<Option<f64>> {
        let column = batch(decoded, table).column_by_name(column).unwrap().as_primitive::<Float64Type>().clone();
        column.iter().collect()
    }

    fn i32s(decoded: &Decoded, table: Table, column: &str) -> Vec<i32> {
        batch(decoded, table).column_by_name(column).unwrap().as_primitive::<Int32Type>().values().to_vec()
    }

    fn u64_lists(decoded: &Decoded, table: Table, column: &str) -> Vec<Vec<u64>> {
        let list = batch(decoded, table).column_by_name(column).unwrap().as_list::<i32>().clone();
        list.iter().map(|row| row.unwrap().as_primitive::<UInt64Type>().values().to_vec()).collect()
    }

    fn texts(decoded: &Decoded, table: Table, column: &str) -> Vec<String> {
        let column = batch(decoded, table).column_by_name(column).unwrap().as_string::<i32>().clone();
        column.iter().map(|v| v.unwrap().to_string()).collect()
    }

    fn attributes(decoded: &Decoded, table: Table, column: &str, row: usize) -> Vec<(String, String)> {
        let column = batch(decoded, table).column_by_name(column).unwrap();
        map_entries(column.as_any().downcast_ref::<MapArray>().unwrap(), row)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn metric(name: &str, data: Data) -> Metric {
        Metric { name: name.into(), description: "d".into(), unit: "1".into(), data: Some(data), ..Default::default() }
    }

    fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource { attributes: vec![kv("service.name", s("svc"))], ..Default::default() }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope { name: "m".into(), version: "1".into(), ..Default::default() }),
                    metrics,
                    schema_url: "s".into(),
                }],
                schema_url: "r".into(),
            }],
        }
    }

    fn gauge(points: Vec<NumberDataPoint>) -> Metric {
        metric("g", Data::Gauge(Gauge { data_points: points }))
    }

    fn number(value: number_data_point::Value) -> NumberDataPoint {
        NumberDataPoint { time_unix_nano: 20, start_time_unix_nano: 10, value: Some(value), ..Default::default() }
    }

    /// A body of one resource entry holding one scope entry holding these
    /// encoded metrics.
    fn body_of_metrics(metrics: &[Vec<u8>]) -> Vec<u8> {
        let scope_entry: Vec<u8> = metrics.iter().flat_map(|m| len_field(2, m)).collect();
        request_of(&[len_field(2, &scope_entry)])
    }

    /// A metric named `m` whose data field `tag` holds these data points.
    fn metric_of_points(tag: u32, points: &[Vec<u8>]) -> Vec<u8> {
        let data: Vec<u8> = points.iter().flat_map(|p| len_field(1, p)).collect();
        [len_field(1, b"m"), len_field(tag, &data)].concat()
    }

    // -- differential tests

    #[test]
    fn sample_and_realistic_requests() {
        check_sample(&handled(&sample_request().encode_to_vec()));
        for per_kind in [0, 1, 5, 40] {
            let decoded = handled(&realistic_metrics(per_kind).encode_to_vec());
            assert_eq!((decoded.rows(), decoded.rejected), (5 * per_kind, 0));
        }
        let decoded = handled(&realistic_metrics(5).encode_to_vec());
        assert_eq!(u64_lists(&decoded, Table::MetricsHistogram, "bucket_counts")[4], (1..=10).collect::<Vec<_>>());
        assert_eq!(f64s(&decoded, Table::MetricsSum, "value")[2], Some(49.0));
        assert_eq!(
            attributes(&decoded, Table::MetricsSummary, "attributes", 1)[2],
            ("instance".into(), "pod-10".into())
        );
        assert!(handled(&[]).batches.is_empty());
    }

    #[test]
    fn every_metric_kind() {
        let exponential_point = |positive, negative, zero_threshold| ExponentialHistogramDataPoint {
            count: 12,
            sum: Some(-1.5),
            scale: -3,
            zero_count: 2,
            zero_threshold,
            positive,
            negative,
            min: Some(-4.0),
            max: Some(8.0),
            flags: 1,
            ..Default::default()
        };
        let metrics = vec![
            gauge(vec![
                number(number_data_point::Value::AsInt(-42)),
                number(number_data_point::Value::AsDouble(2.5)),
                NumberDataPoint { value: None, flags: 7, ..Default::default() },
            ]),
            metric(
                "delta",
                Data::Sum(Sum {
                    data_points: vec![number(number_data_point::Value::AsInt(i64::MAX))],
                    aggregation_temporality: 1,
                    is_monotonic: false,
                }),
            ),
            metric(
                "cumulative",
                Data::Sum(Sum {
                    data_points: vec![number(number_data_point::Value::AsDouble(f64::NAN))],
                    aggregation_temporality: 2,
                    is_monotonic: true,
                }),
            ),
            metric(
                "h",
                Data::Histogram(Histogram {
                    data_points: vec![
                        HistogramDataPoint {
                            count: 6,
                            sum: Some(12.5),
                            bucket_counts: vec![1, 2, 3],
                            explicit_bounds: vec![1.0, 5.0],
                            min: Some(0.5),
                            max: Some(9.0),
                            ..Default::default()
                        },
                        HistogramDataPoint { count: 3, bucket_counts: vec![3], ..Default::default() },
                        HistogramDataPoint { sum: Some(0.0), min: Some(-0.0), ..Default::default() },
                    ],
                    aggregation_temporality: 1,
                }),
            ),
            metric(
                "e",
                Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![
                        exponential_point(
                            Some(Buckets { offset: -5, bucket_counts: vec![1, 300, 70_000] }),
                            Some(Buckets { offset: 7, bucket_counts: vec![u64::MAX, 0] }),
                            0.25,
                        ),
                        exponential_point(None, Some(Buckets::default()), 0.0),
                    ],
                    aggregation_temporality: 2,
                }),
            ),
            metric(
                "q",
                Data::Summary(Summary {
                    data_points: vec![
                        SummaryDataPoint {
                            count: 100,
                            sum: 250.0,
                            quantile_values: vec![
                                ValueAtQuantile { quantile: 0.0, value: 0.1 },
                                ValueAtQuantile { quantile: 0.5, value: 2.0 },
                                ValueAtQuantile { quantile: 1.0, value: 9.5 },
                            ],
                            flags: 1,
                            ..Default::default()
                        },
                        SummaryDataPoint::default(),
                    ],
                }),
            ),
        ];
        let decoded = handled(&request(metrics).encode_to_vec());
        assert_eq!((decoded.rows(), decoded.rejected), (12, 0));

        let gauge_values = f64s(&decoded, Table::MetricsGauge, "value");
        assert_eq!(gauge_values, vec![Some(-42.0), Some(2.5), None]);
        let flags = batch(&decoded, Table::MetricsGauge).column_by_name("flags").unwrap().as_primitive::<UInt32Type>();
        assert_eq!(flags.values().to_vec(), vec![0, 0, 7]);
        let times = batch(&decoded, Table::MetricsGauge).column_by_name("start_timestamp").unwrap();
        assert_eq!(times.as_primitive::<TimestampNanosecondType>().value(0), 10);

        let sum_values = f64s(&decoded, Table::MetricsSum, "value");
        assert_eq!(sum_values[0], Some(i64::MAX as f64));
        assert!(sum_values[1].unwrap().is_nan());
        assert_eq!(i32s(&decoded, Table::MetricsSum, "aggregation_temporality"), vec![1, 2]);
        let monotonic = batch(&decoded, Table::MetricsSum).column_by_name("is_monotonic").unwrap().as_boolean().clone();
        assert_eq!(monotonic.iter().collect::<Vec<_>>(), vec![Some(false), Some(true)]);
        assert_eq!(texts(&decoded, Table::MetricsSum, "metric_name"), vec!["delta", "cumulative"]);

        let h = Table::MetricsHistogram;
        assert_eq!(f64s(&decoded, h, "sum"), vec![Some(12.5), None, Some(0.0)]);
        assert_eq!(f64s(&decoded, h, "min"), vec![Some(0.5), None, Some(-0.0)]);
        assert_eq!(f64s(&decoded, h, "max"), vec![Some(9.0), None, None]);
        assert_eq!(u64_lists(&decoded, h, "bucket_counts"), vec![vec![1, 2, 3], vec![3], vec![]]);
        let bounds = batch(&decoded, h).column_by_name("explicit_bounds").unwrap().as_list::<i32>().value(0);
        assert_eq!(bounds.as_primitive::<Float64Type>().values().to_vec(), vec![1.0, 5.0]);

        let e = Table::MetricsExponentialHistogram;
        assert_eq!(i32s(&decoded, e, "scale"), vec![-3, -3]);
        assert_eq!(i32s(&decoded, e, "positive_offset"), vec![-5, 0]);
        assert_eq!(i32s(&decoded, e, "negative_offset"), vec![7, 0]);
        assert_eq!(u64_lists(&decoded, e, "positive_bucket_counts"), vec![vec![1, 300, 70_000], vec![]]);
        assert_eq!(u64_lists(&decoded, e, "negative_bucket_counts"), vec![vec![u64::MAX, 0], vec![]]);
        assert_eq!(f64s(&decoded, e, "zero_threshold"), vec![Some(0.25), Some(0.0)]);
        assert_eq!(f64s(&decoded, e, "sum"), vec![Some(-1.5), Some(-1.5)]);
        assert_eq!(f64s(&decoded, e, "min"), vec![Some(-4.0), Some(-4.0)]);

        let q = Table::MetricsSummary;
        assert_eq!(f64s(&decoded, q, "sum"), vec![Some(250.0), Some(0.0)]);
        let quantiles = batch(&decoded, q).column_by_name("quantile_values").unwrap().as_list::<i32>().clone();
        assert_eq!((quantiles.value_length(0), quantiles.value_length(1)), (3, 0));
        let first = quantiles.value(0);
        assert_eq!(first.as_struct().column(1).as_primitive::<Float64Type>().values().to_vec(), vec![0.1, 2.0, 9.5]);
    }

    fn exemplar(value: Option<exemplar::Value>, trace_id: Vec<u8>, span_id: Vec<u8>) -> Exemplar {
        Exemplar {
            filtered_attributes: vec![kv("user", s("u1")), kv("n", any_value::Value::IntValue(3)), kv("user", s("u2"))],
            time_unix_nano: 15,
            value,
            trace_id,
            span_id,
        }
    }

    #[test]
    fn exemplars_and_their_ids() {
        let good = exemplar(Some(exemplar::Value::AsInt(7)), vec![0x22; 16], vec![0x11; 8]);
        let double = exemplar(Some(exemplar::Value::AsDouble(0.5)), Vec::new(), Vec::new());
        let no_value = Exemplar::default();
        let with =
            |exemplars: Vec<Exemplar>| NumberDataPoint { exemplars, ..number(number_data_point::Value::AsInt(1)) };
        let short_trace = exemplar(None, vec![1; 15], vec![1; 8]);
        let long_span = exemplar(None, vec![1; 16], vec![1; 9]);
        let histogram_point = |exemplars| HistogramDataPoint { exemplars, count: 1, ..Default::default() };
        let exponential_point = |exemplars| ExponentialHistogramDataPoint { exemplars, ..Default::default() };
        let metrics = vec![
            gauge(vec![
                with(vec![good.clone(), double.clone(), no_value]),
                with(vec![double.clone(), short_trace.clone()]),
                with(Vec::new()),
            ]),
            metric(
                "s",
                Data::Sum(Sum {
                    data_points: vec![with(vec![long_span.clone()]), with(vec![good.clone()])],
                    ..Default::default()
                }),
            ),
            metric(
                "h",
                Data::Histogram(Histogram {
                    data_points: vec![histogram_point(vec![good.clone()]), histogram_point(vec![short_trace])],
                    ..Default::default()
                }),
            ),
            metric(
                "e",
                Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![exponential_point(vec![long_span]), exponential_point(vec![double])],
                    ..Default::default()
                }),
            ),
        ];
        let decoded = handled(&request(metrics).encode_to_vec());
        assert_eq!((decoded.rows(), decoded.rejected), (5, 4));
        assert_eq!(decoded.rejection_message, r#"metric "g": exemplar trace_id has 15 bytes, expected 16"#);
        let g = batch(&decoded, Table::MetricsGauge);
        assert_eq!(g.num_rows(), 2);
        let exemplars = g.column_by_name("exemplars").unwrap().as_list::<i32>().clone();
        assert_eq!((exemplars.value_length(0), exemplars.value_length(1)), (3, 0));
        let first = exemplars.value(0);
        let first = first.as_struct();
        let filtered = first.column(0).as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(map_entries(filtered, 0), pairs(&[("n", "3"), ("user", "u2")]));
        assert_eq!(map_entries(filtered, 2), vec![]);
        let values: Vec<Option<f64>> = first.column(2).as_primitive::<Float64Type>().iter().collect();
        assert_eq!(values, vec![Some(7.0), Some(0.5), None]);
        assert_eq!(first.column(3).as_string::<i32>().value(0), "1111111111111111");
        assert_eq!(first.column(4).as_string::<i32>().value(0), "22".repeat(16));
        assert_eq!(first.column(4).as_string::<i32>().value(1), "");
        assert_eq!(first.column(1).as_primitive::<TimestampNanosecondType>().value(0), 15);

        // a point whose only exemplar has a bad span id, alone in its request
        let bad_span = with(vec![exemplar(None, vec![], vec![1; 3])]);
        let sum = metric("s", Data::Sum(Sum { data_points: vec![bad_span], ..Default::default() }));
        let decoded = handled(&request(vec![sum]).encode_to_vec());
        assert_eq!((decoded.rows(), decoded.rejected), (0, 1));
        assert_eq!(decoded.rejection_message, r#"metric "s": exemplar span_id has 3 bytes, expected 8"#);
        assert!(decoded.batches.is_empty());
    }

    #[test]
    fn metrics_without_data_are_rejected() {
        let no_data = Metric { name: "nothing \"here\"".into(), ..Default::default() };
        let empty_gauge = metric("empty", Data::Gauge(Gauge::default()));
        let empty_summary = metric("empty summary", Data::Summary(Summary::default()));
        let metrics = vec![
            no_data.clone(),
            empty_gauge,
            gauge(vec![number(number_data_point::Value::AsInt(1))]),
            no_data,
            empty_summary,
        ];
        let decoded = handled(&request(metrics).encode_to_vec());
        assert_eq!((decoded.rows(), decoded.rejected), (1, 2));
        assert_eq!(decoded.rejection_message, r#"metric "nothing \"here\"" has no data"#);
        assert_eq!(decoded.batches.len(), 1);
        // only metrics without data
        let decoded = handled(&request(vec![Metric::default()]).encode_to_vec());
        assert_eq!(
            (decoded.rows(), decoded.rejected, decoded.rejection_message.as_str()),
            (0, 1, r#"metric "" has no data"#)
        );
        assert!(decoded.batches.is_empty());
    }

    #[test]
    fn several_resources_and_scopes_present_empty_or_missing() {
        let point = || number(number_data_point::Value::AsInt(5));
        let mut first = request(vec![gauge(vec![point()])]).resource_metrics.remove(0);
        first.scope_metrics.push(ScopeMetrics::default());
        first.scope_metrics.push(ScopeMetrics { metrics: vec![gauge(vec![point(), point()])], ..Default::default() });
        first.scope_metrics.push(ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: "s2".into(),
                version: "v2".into(),
                attributes: vec![kv("scope.k", any_value::Value::BoolValue(true))],
                ..Default::default()
            }),
            metrics: vec![gauge(vec![point()])],
            schema_url: "u2".into(),
        });
        let second = ResourceMetrics {
            resource: None,
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope::default()),
                metrics: vec![gauge(vec![point()])],
                ..Default::default()
            }],
            schema_url: String::new(),
        };
        let third = ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("host", s("h")), kv("service.name", any_value::Value::IntValue(9))],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics { metrics: vec![gauge(vec![point()])], ..Default::default() }],
            schema_url: "third".into(),
        };
        let request =
            ExportMetricsServiceRequest { resource_metrics: vec![first, second, ResourceMetrics::default(), third] };
        let decoded = handled(&request.encode_to_vec());
        assert_eq!(decoded.rows(), 6);
        let g = Table::MetricsGauge;
        assert_eq!(texts(&decoded, g, "service_name"), vec!["svc", "svc", "svc", "svc", "", "9"]);
        assert_eq!(texts(&decoded, g, "scope_name"), vec!["m", "", "", "s2", "", ""]);
        assert_eq!(texts(&decoded, g, "scope_schema_url"), vec!["s", "", "", "u2", "", ""]);
        assert_eq!(texts(&decoded, g, "resource_schema_url"), vec!["r", "r", "r", "r", "", "third"]);
        assert_eq!(attributes(&decoded, g, "scope_attributes", 3), pairs(&[("scope.k", "true")]));
        assert_eq!(attributes(&decoded, g, "resource_attributes", 4), vec![]);
        assert_eq!(attributes(&decoded, g, "resource_attributes", 5), pairs(&[("host", "h"), ("service.name", "9")]));
    }

    #[test]
    fn every_value_kind_in_every_attribute_list() {
        let every: Vec<KeyValue> = every_value()
            .into_iter()
            .enumerate()
            .map(|(i, value)| KeyValue { key: format!("k{i}"), value: Some(AnyValue { value }), ..Default::default() })
            .collect();
        let mut point = number(number_data_point::Value::AsInt(1));
        point.attributes = every.clone();
        point.exemplars = vec![Exemplar { filtered_attributes: every.clone(), ..Default::default() }];
        let mut with_metadata = gauge(vec![point]);
        with_metadata.metadata = every.clone();
        let mut request = request(vec![with_metadata]);
        request.resource_metrics[0].resource.as_mut().unwrap().attributes.extend(every.clone());
        request.resource_metrics[0].scope_metrics[0].scope.as_mut().unwrap().attributes = every.clone();
        let decoded = handled(&request.encode_to_vec());
        let g = Table::MetricsGauge;
        let rendered = attributes(&decoded, g, "attributes", 0);
        assert_eq!(rendered.len(), every.len());
        assert_eq!(rendered[1], ("k1".into(), "plain".into()));
        assert_eq!(rendered[3], ("k3".into(), "true".into()));
        assert_eq!(rendered[9], ("k9".into(), "AAH+/w==".into()));
        assert_eq!(rendered[13].1, r#"{"a":["q\"x",null],"z":"NaN"}"#);
        assert_eq!(attributes(&decoded, g, "scope_attributes", 0), rendered);
        assert_eq!(attributes(&decoded, g, "resource_attributes", 0)[1..], rendered[..]);
        let exemplars = batch(&decoded, g).column_by_name("exemplars").unwrap().as_list::<i32>().value(0);
        let filtered = exemplars.as_struct().column(0).as_any().downcast_ref::<MapArray>().unwrap().clone();
        assert_eq!(map_entries(&filtered, 0), rendered);
    }

    #[test]
    fn repeated_scalars_packed_or_not_and_last_wins() {
        // a histogram point's bucket counts and bounds unpacked and in
        // several packed runs, interleaved; an exponential point's counts as
        // single varints and packed runs; value oneofs set twice
        let histogram_point = [
            fixed64_field(6, 1),
            len_field(6, &[2u64.to_le_bytes(), 3u64.to_le_bytes()].concat()),
            fixed64_field(7, 1.5f64.to_bits()),
            fixed64_field(6, 4),
            len_field(7, &2.5f64.to_le_bytes()),
            fixed64_field(4, 9),
            fixed64_field(4, 10),
            fixed64_field(5, 1.0f64.to_bits()),
            fixed64_field(5, 2.0f64.to_bits()),
        ]
        .concat();
        let buckets =
            [varint_field(2, 300), len_field(2, &[1, 0x80, 0x01, 5]), varint_field(1, 3), varint_field(2, 7)].concat();
        let exponential_point = [len_field(8, &buckets), varint_field(6, 5), varint_field(6, 4)].concat();
        let number_point =
            [fixed64_field(4, 1.5f64.to_bits()), fixed64_field(6, (-3i64) as u64), varint_field(8, 1 << 33 | 5)]
                .concat();
        let exemplar =
            [fixed64_field(6, 4), fixed64_field(3, 0.25f64.to_bits()), len_field(5, &[1; 3]), len_field(5, &[2; 16])]
                .concat();
        let number_with_exemplar = [len_field(5, &exemplar), fixed64_field(4, 8.0f64.to_bits())].concat();
        let quantile = [
            fixed64_field(1, 0.5f64.to_bits()),
            fixed64_field(2, 1.0f64.to_bits()),
            fixed64_field(1, 0.9f64.to_bits()),
        ]
        .concat();
        let summary_point = [len_field(6, &quantile), len_field(6, &[])].concat();
        let sum = [len_field(1, &number_point), varint_field(2, 1 << 32 | 1), varint_field(3, 2), varint_field(3, 0)]
            .concat();
        let body = body_of_metrics(&[
            metric_of_points(9, &[histogram_point]),
            metric_of_points(10, &[exponential_point]),
            metric_of_points(5, &[number_point.clone(), number_with_exemplar]),
            [len_field(1, b"sum"), len_field(7, &sum)].concat(),
            metric_of_points(11, &[summary_point]),
        ]);
        let decoded = handled(&body);
        assert_eq!((decoded.rows(), decoded.rejected), (6, 0));
        let h = Table::MetricsHistogram;
        assert_eq!(u64_lists(&decoded, h, "bucket_counts"), vec![vec![1, 2, 3, 4]]);
        let bounds = batch(&decoded, h).column_by_name("explicit_bounds").unwrap().as_list::<i32>().value(0);
        assert_eq!(bounds.as_primitive::<Float64Type>().values().to_vec(), vec![1.5, 2.5]);
        assert_eq!(batch(&decoded, h).column_by_name("count").unwrap().as_primitive::<UInt64Type>().value(0), 10);
        assert_eq!(f64s(&decoded, h, "sum"), vec![Some(2.0)]);
        let e = Table::MetricsExponentialHistogram;
        assert_eq!(u64_lists(&decoded, e, "positive_bucket_counts"), vec![vec![300, 1, 128, 5, 7]]);
        assert_eq!((i32s(&decoded, e, "positive_offset"), i32s(&decoded, e, "scale")), (vec![-2], vec![2]));
        let g = Table::MetricsGauge;
        assert_eq!(f64s(&decoded, g, "value"), vec![Some(-3.0), Some(8.0)]);
        let flags = batch(&decoded, g).column_by_name("flags").unwrap().as_primitive::<UInt32Type>().value(0);
        assert_eq!(flags, 5, "a uint32 varint past 32 bits is truncated as prost does");
        let exemplars = batch(&decoded, g).column_by_name("exemplars").unwrap().as_list::<i32>().value(1);
        assert_eq!(exemplars.as_struct().column(2).as_primitive::<Float64Type>().value(0), 0.25);
        assert_eq!(exemplars.as_struct().column(4).as_string::<i32>().value(0), "02".repeat(16));
        let s = Table::MetricsSum;
        assert_eq!(i32s(&decoded, s, "aggregation_temporality"), vec![1]);
        assert!(!batch(&decoded, s).column_by_name("is_monotonic").unwrap().as_boolean().value(0));
        let quantiles =
            batch(&decoded, Table::MetricsSummary).column_by_name("quantile_values").unwrap().as_list::<i32>().value(0);
        let quantiles = quantiles.as_struct();
        assert_eq!(quantiles.column(0).as_primitive::<Float64Type>().values().to_vec(), vec![0.9, 0.0]);
        assert_eq!(quantiles.column(1).as_primitive::<Float64Type>().values().to_vec(), vec![1.0, 0.0]);
    }

    /// One metric of each kind with a point carrying attributes and an
    /// exemplar, with unknown fields at every level or without.
    fn body_with_unknowns(unknowns: bool) -> Vec<u8> {
        let unknown = || if unknowns { unknown_fields() } else { Vec::new() };
        let any = [unknown(), AnyValue { value: Some(s("x")) }.encode_to_vec()].concat();
        let kv_bytes = [len_field(1, b"k"), unknown(), len_field(2, &any)].concat();
        let exemplar = [fixed64_field(2, 12), unknown(), len_field(7, &kv_bytes), fixed64_field(6, 3)].concat();
        let number =
            [unknown(), len_field(7, &kv_bytes), len_field(5, &exemplar), fixed64_field(4, 2), unknown()].concat();
        let histogram =
            [len_field(9, &kv_bytes), unknown(), len_field(8, &exemplar), len_field(6, &7u64.to_le_bytes())].concat();
        let buckets = [unknown(), varint_field(1, 4), len_field(2, &[1, 2])].concat();
        let exponential =
            [len_field(1, &kv_bytes), len_field(8, &buckets), unknown(), len_field(11, &exemplar)].concat();
        let quantile = [unknown(), fixed64_field(1, 0.5f64.to_bits())].concat();
        let summary = [len_field(7, &kv_bytes), len_field(6, &quantile), unknown()].concat();
        let data = |point: &[u8], extra: Vec<u8>| [unknown(), len_field(1, point), extra, unknown()].concat();
        let metric = |name: &[u8], tag: u32, data: Vec<u8>| {
            [len_field(1, name), unknown(), len_field(tag, &data), len_field(12, &kv_bytes), unknown()].concat()
        };
        let metrics = [
            metric(b"g", 5, data(&number, Vec::new())),
            metric(b"s", 7, data(&number, [varint_field(2, 2), varint_field(3, 1)].concat())),
            metric(b"h", 9, data(&histogram, varint_field(2, 1))),
            metric(b"e", 10, data(&exponential, varint_field(2, 2))),
            metric(b"q", 11, data(&summary, Vec::new())),
        ];
        // `request_with_unknowns` wraps one item; the others follow in the
        // same scope entry
        let body = request_with_unknowns(&metrics[0], unknown);
        let resource_entry = split_fields(&body).into_iter().find(|f| f[0] == 1 << 3 | 2).unwrap();
        let resource_fields = split_fields(&field_payload(&resource_entry));
        let rebuilt: Vec<Vec<u8>> = resource_fields
            .into_iter()
            .map(|f| {
                if f[0] == 2 << 3 | 2 {
                    let scope_entry =
                        [field_payload(&f), metrics[1..].iter().flat_map(|m| len_field(2, m)).collect()].concat();
                    len_field(2, &scope_entry)
                } else {
                    f
                }
            })
            .collect();
        [unknown(), request_of(&[rebuilt.concat()]), unknown()].concat()
    }

    #[test]
    fn unknown_fields_are_skipped_like_prost() {
        let with = handled(&body_with_unknowns(true));
        let without = handled(&body_with_unknowns(false));
        assert_eq!((with.rows(), with.rejected), (5, 0));
        assert_eq!(with.batches.len(), 5);
        assert_eq!(texts(&with, Table::MetricsGauge, "service_name"), vec!["svc"]);
        assert_eq!(attributes(&with, Table::MetricsSummary, "attributes", 0), pairs(&[("k", "x")]));
        assert_eq!(u64_lists(&with, Table::MetricsExponentialHistogram, "positive_bucket_counts"), vec![vec![1, 2]]);
        assert!(same(&with, &without), "unknown fields change nothing");
    }

    /// `message` (of type `msg`) with its fields, and those of every message
    /// inside, in descending tag order; a repeated field keeps the order of
    /// its elements. So names follow data points, values follow exemplars,
    /// resources follow their scopes, and so on.
    fn tags_descending(msg: &'static crate::messages::Msg, message: &[u8]) -> Vec<u8> {
        let mut fields = split_fields(message);
        fields.sort_by_key(|field| std::cmp::Reverse(Fields::of(field).next_field().unwrap().unwrap().0));
        fields
            .into_iter()
            .map(|field| {
                let (tag, _) = Fields::of(&field).next_field().unwrap().unwrap();
                match msg.fields.iter().find(|f| f.tag == tag).map(|f| f.kind) {
                    Some(crate::messages::Kind::Nested(inner)) => {
                        len_field(tag, &tags_descending(inner, &field_payload(&field)))
                    }
                    _ => field,
                }
            })
            .collect::<Vec<_>>()
            .concat()
    }

    #[test]
    fn fields_out_of_canonical_order() {
        let canonical = sample_request().encode_to_vec();
        let body = tags_descending(&crate::messages::EXPORT_METRICS, &canonical);
        assert_ne!(body, canonical);
        assert_eq!(body.len(), canonical.len());
        check_sample(&handled(&body));
        let realistic = realistic_metrics(3).encode_to_vec();
        let decoded = handled(&tags_descending(&crate::messages::EXPORT_METRICS, &realistic));
        assert!(same(&decoded, &handled(&realistic)));
    }

    #[test]
    fn enums_and_signed_varints_as_prost_reads_them() {
        // temporality past i32 truncated; scale and offset zigzag of a
        // truncated varint
        let exponential = [varint_field(6, (1 << 32) | 7), len_field(8, &varint_field(1, u64::MAX))].concat();
        let data = [len_field(1, &exponential), varint_field(2, (1 << 32) | 2)].concat();
        let body = body_of_metrics(&[[len_field(1, b"e"), len_field(10, &data)].concat()]);
        let decoded = handled(&body);
        let e = Table::MetricsExponentialHistogram;
        assert_eq!(i32s(&decoded, e, "aggregation_temporality"), vec![2]);
        assert_eq!(i32s(&decoded, e, "scale"), vec![-4]);
        assert_eq!(i32s(&decoded, e, "positive_offset"), vec![i32::MIN]);
    }

    // -- declined cases

    #[test]
    fn merged_messages_and_groups_fall_back_to_prost() {
        let point = NumberDataPoint { time_unix_nano: 5, ..number(number_data_point::Value::AsInt(1)) }.encode_to_vec();
        let gauge_data = len_field(1, &point);
        // the same data field twice: prost merges the points
        let twice = [len_field(1, b"g"), len_field(5, &gauge_data), len_field(5, &gauge_data)].concat();
        assert_eq!(declined(&body_of_metrics(&[twice])).unwrap().rows(), 2);
        // two different data fields: the last replaces
        let replaced = [len_field(1, b"g"), len_field(5, &gauge_data), len_field(11, &len_field(1, &[]))].concat();
        let decoded = declined(&body_of_metrics(&[replaced])).unwrap();
        assert_eq!(decoded.batches.iter().map(|b| b.table).collect::<Vec<_>>(), vec![Table::MetricsSummary]);
        // positive buckets twice: merged
        let buckets = len_field(8, &len_field(2, &[1]));
        let exponential =
            [len_field(1, b"e"), len_field(10, &len_field(1, &[buckets.clone(), buckets].concat()))].concat();
        let decoded = declined(&body_of_metrics(&[exponential])).unwrap();
        assert_eq!(u64_lists(&decoded, Table::MetricsExponentialHistogram, "positive_bucket_counts"), vec![vec![1, 1]]);

        let scope = message_field(1, &InstrumentationScope { name: "n".into(), ..Default::default() });
        let scope_twice =
            [scope.clone(), len_field(2, &metric_of_points(5, std::slice::from_ref(&point))), scope].concat();
        assert_eq!(declined(&request_of(&[len_field(2, &scope_twice)])).unwrap().rows(), 1);
        let resource = message_field(1, &Resource { attributes: vec![kv("a", s("b"))], ..Default::default() });
        declined(&request_of(&[[resource.clone(), resource].concat()])).unwrap();
        let value = len_field(2, &AnyValue { value: Some(s("a")) }.encode_to_vec());
        let kv_twice = len_field(7, &[len_field(1, b"k"), value.clone(), value].concat());
        let point_with = [point.clone(), kv_twice].concat();
        declined(&body_of_metrics(&[metric_of_points(5, &[point_with])])).unwrap();

        for (what, body) in [
            (
                "request",
                [body_of_metrics(&[metric_of_points(5, std::slice::from_ref(&point))]), group_field(50)].concat(),
            ),
            (
                "metric",
                body_of_metrics(&[[metric_of_points(5, std::slice::from_ref(&point)), group_field(50)].concat()]),
            ),
            (
                "data",
                body_of_metrics(&[
                    [len_field(1, b"m"), len_field(5, &[gauge_data.clone(), group_field(50)].concat())].concat()
                ]),
            ),
            ("point", body_of_metrics(&[metric_of_points(5, &[[point.clone(), group_field(50)].concat()])])),
            (
                "exemplar",
                body_of_metrics(&[metric_of_points(5, &[[point.clone(), len_field(5, &group_field(50))].concat()])]),
            ),
            ("quantile", body_of_metrics(&[metric_of_points(11, &[len_field(6, &group_field(50))])])),
            ("buckets", body_of_metrics(&[metric_of_points(10, &[len_field(8, &group_field(50))])])),
        ] {
            assert_eq!(declined(&body).unwrap().rows(), 1, "group in {what}");
        }
    }

    #[test]
    fn malformed_bodies_give_prosts_error() {
        let mut request = sample_request();
        request.resource_metrics[0].scope_metrics[0].metrics[0].name = "é-name".into();
        let body = request.encode_to_vec();
        let mut bad = body.clone();
        let at = bad.windows(2).position(|w| w == "é".as_bytes()).unwrap();
        bad[at + 1] = 0xff;
        assert!(declined(&bad).is_err());

        let point = number(number_data_point::Value::AsInt(1)).encode_to_vec();
        let wrong_wire_types = [
            (5, [point.clone(), varint_field(7, 1)].concat()),
            (5, [point.clone(), fixed32_field(2, 1)].concat()),
            (5, [point.clone(), len_field(4, b"x")].concat()),
            (5, [point.clone(), fixed64_field(8, 1)].concat()),
            (5, [point.clone(), len_field(5, &varint_field(2, 1))].concat()),
            (5, [point.clone(), len_field(5, &fixed64_field(4, 1))].concat()),
            (9, len_field(6, &[0; 12])),
            (9, len_field(7, &[0; 7])),
            (9, varint_field(6, 1)),
            (9, fixed32_field(7, 1)),
            (10, varint_field(8, 1)),
            (10, len_field(8, &fixed64_field(2, 1))),
            (10, len_field(8, &len_field(2, &[0x80]))),
            (10, fixed64_field(6, 1)),
            (11, len_field(6, &varint_field(1, 1))),
            (11, varint_field(5, 1)),
        ];
        for (tag, point) in wrong_wire_types {
            let body = body_of_metrics(&[metric_of_points(tag, std::slice::from_ref(&point))]);
            assert!(declined(&body).is_err(), "{tag} {point:?}");
        }
        let wrong_in_data =
            [(7, varint_field(1, 1)), (7, len_field(2, b"x")), (7, fixed64_field(3, 1)), (9, len_field(2, b"x"))];
        for (tag, data) in wrong_in_data {
            let body = body_of_metrics(&[[len_field(1, b"m"), len_field(tag, &data)].concat()]);
            assert!(declined(&body).is_err(), "{tag} {data:?}");
        }
        for metric in [varint_field(1, 1), varint_field(5, 1), len_field(12, &varint_field(1, 1)), fixed32_field(2, 0)]
        {
            assert!(declined(&body_of_metrics(std::slice::from_ref(&metric))).is_err(), "{metric:?}");
        }
        // but fields unknown to a kind are skipped whatever their wire type
        let gauge_extras = [len_field(1, &point), len_field(2, b"x"), fixed32_field(3, 1)].concat();
        let summary_extras = [len_field(1, &[]), fixed64_field(2, 1), len_field(3, b"y")].concat();
        let body = body_of_metrics(&[
            [len_field(1, b"g"), len_field(5, &gauge_extras)].concat(),
            [len_field(1, b"q"), len_field(11, &summary_extras)].concat(),
        ]);
        assert_eq!(handled(&body).rows(), 2);
    }

    #[test]
    fn every_nesting_depth_declines_or_agrees() {
        let mut prost_limit = None;
        for depth in 0..60 {
            let value = nested_value(s("leaf"), depth);
            let mut point = number(number_data_point::Value::AsInt(1));
            point.attributes = vec![kv("a", value.clone())];
            point.exemplars =
                vec![Exemplar { filtered_attributes: vec![kv("e", value.clone())], ..Default::default() }];
            let mut deep = gauge(vec![point]);
            deep.metadata = vec![kv("m", value.clone())];
            let body = request(vec![deep]).encode_to_vec();
            let answered = METRICS.consistent(&body);
            let within = value_depth(Some(&value)) <= MAX_VALUE_DEPTH && depth <= limits::MAX_VALUE_NESTING;
            assert_eq!(answered, within, "depth {depth}");
            assert_eq!(super::validate(&body, &NO_LIMITS).is_some(), within, "depth {depth}");
            let reference = if within {
                handled(&body);
                (METRICS.prost)(&body, &NO_LIMITS)
            } else {
                declined(&body)
            };
            prost_limit = prost_limit.or(reference.is_err().then_some(depth));
        }
        assert_eq!(prost_limit, Some(limits::MAX_VALUE_NESTING + 1), "the nesting bound comes before prost's limit");
    }

    #[test]
    fn item_and_copy_bounds_decline() {
        let body = realistic_metrics(4).encode_to_vec();
        // 1 resource entry + 2 attributes, 1 scope entry, 5 metrics, 20
        // points with 3 attributes each, the exponential points' 6 bucket
        // counts, the summary points' 3 quantiles
        let items = 1 + 2 + 1 + 5 + 20 * 4 + 4 * 6 + 4 * 3;
        let bounded = |max_items| DecodeLimits { max_items, ..NO_LIMITS };
        assert_eq!(super::decode(&body, &bounded(items)).unwrap().rows(), 20);
        assert_eq!(super::validate(&body, &bounded(items)).unwrap().0.total(), 20);
        assert!(super::decode(&body, &bounded(items - 1)).is_none());
        assert!(super::validate(&body, &bounded(items - 1)).is_none());
        let message = format!("request has more than {} items (max_items_per_request)", items - 1);
        assert_eq!(super::super::metrics::decode(&body, &bounded(items - 1)).unwrap_err().to_string(), message);
        let err = validate(Cow::Borrowed(&body), &bounded(items - 1)).map(|_| ()).unwrap_err();
        assert_eq!(err.to_string(), message);

        // per point: the resource (2 attributes and the service name), the
        // scope name and each metric's name and unit
        let resource = realistic_metrics(0).resource_metrics.remove(0);
        let context = super::super::attributes::ResourceContext::new(resource.resource.as_ref(), "");
        let shared = context.row_bytes() + "bench".len();
        let metrics = [
            ("process.memory.usage", "By"),
            ("http.server.requests", ""),
            ("http.server.duration", "ms"),
            ("rpc.server.duration", "ms"),
            ("gc.pause", "ms"),
        ];
        let copied: usize = metrics.iter().map(|(name, unit)| 4 * (shared + name.len() + unit.len())).sum();
        let copies = |max_copied_bytes| DecodeLimits { max_copied_bytes, ..NO_LIMITS };
        assert!(super::decode(&body, &copies(copied)).is_some());
        assert!(super::validate(&body, &copies(copied)).is_some());
        assert!(super::decode(&body, &copies(copied - 1)).is_none());
        assert!(super::validate(&body, &copies(copied - 1)).is_none());
        assert!(super::super::metrics::decode(&body, &copies(copied - 1)).is_err());
        assert!(validate(Cow::Borrowed(&body), &copies(copied - 1)).is_err());
    }

    // -- robustness

    fn small_body() -> Vec<u8> {
        let mut request = realistic_metrics(1);
        let metrics = &mut request.resource_metrics[0].scope_metrics[0].metrics;
        if let Some(Data::Gauge(g)) = &mut metrics[0].data {
            g.data_points[0].exemplars = vec![exemplar(Some(exemplar::Value::AsDouble(1.0)), vec![1; 16], vec![2; 8])];
        }
        metrics.push(Metric { name: "none".into(), ..Default::default() });
        request.encode_to_vec()
    }

    #[test]
    fn every_truncation_declines_or_agrees() {
        let answered = METRICS.truncations(&small_body());
        assert!(answered >= 2, "the empty body and the whole body decode");
        let realistic = realistic_metrics(5).encode_to_vec();
        assert!(METRICS.truncations(&realistic) >= 2);
        for len in (0..=realistic.len()).step_by(7) {
            let prefix = &realistic[..len];
            let walked = super::validate(prefix, &NO_LIMITS);
            assert_eq!(walked.is_some(), super::decode(prefix, &NO_LIMITS).is_some(), "prefix {len}");
        }
    }

    #[test]
    fn random_byte_flips_decline_or_agree() {
        let bodies = [small_body(), sample_request().encode_to_vec(), body_with_unknowns(true)];
        let answered = METRICS.random_byte_flips(&bodies, 6000);
        assert!(answered > 200, "only {answered} mutated bodies were handled");
    }
}
