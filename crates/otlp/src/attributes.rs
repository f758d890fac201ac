//! Attribute values as text, and attribute lists as `MAP(VARCHAR, VARCHAR)`.
//!
//! Values are rendered the way the Collector's ClickHouse exporter stores them
//! (pdata `Value.AsString()`), so queries written for that schema keep
//! working: strings as they are, scalars in their canonical text, bytes as
//! base64, arrays and key-value lists as compact JSON (object keys sorted and
//! de-duplicated, as Go's `encoding/json` writes a map). String values, by far
//! the most common, are copied straight into the Arrow builder; everything else
//! goes through one reused scratch string. Duplicate keys in an attribute list
//! keep the last value. Resource and scope attributes are rendered once per
//! resource/scope and then copied into every row that carries them.

use super::text::{base64_encode, format_double, json_string};
use arrow_array::builder::{MapBuilder, StringBuilder};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::collections::HashSet;
use std::fmt::Write as _;

/// Builder of a `MAP(VARCHAR, VARCHAR)` column.
pub(crate) type AttrMapBuilder = MapBuilder<StringBuilder, StringBuilder>;

pub(crate) fn attr_map_builder(rows: usize, entries: usize) -> AttrMapBuilder {
    MapBuilder::with_capacity(
        None,
        StringBuilder::with_capacity(entries, entries * 16),
        StringBuilder::with_capacity(entries, entries * 24),
        rows,
    )
}

/// Ends the current map row. Keys and values are always appended in pairs,
/// which is the only failure condition of `MapBuilder::append`.
pub(crate) fn close_map(map: &mut AttrMapBuilder) {
    map.append(true).expect("attribute keys and values are appended in pairs");
}

/// Calls `f` on every attribute whose key does not occur again later in the
/// list (last one wins), in list order.
pub(crate) fn for_each_unique<'a>(attrs: &'a [KeyValue], f: impl FnMut(&'a KeyValue)) {
    for_each_unique_by(attrs, |kv| kv.key.as_str(), f);
}

/// [`for_each_unique`] over any list of keyed items.
pub(crate) fn for_each_unique_by<'a, T>(items: &'a [T], key: impl Fn(&'a T) -> &'a str, mut f: impl FnMut(&'a T)) {
    if items.len() <= 16 {
        for (i, item) in items.iter().enumerate() {
            if !items[i + 1..].iter().any(|later| key(later) == key(item)) {
                f(item);
            }
        }
    } else {
        let mut seen = HashSet::with_capacity(items.len());
        let mut keep: Vec<bool> = items.iter().rev().map(|item| seen.insert(key(item))).collect();
        keep.reverse();
        for (item, keep) in items.iter().zip(keep) {
            if keep {
                f(item);
            }
        }
    }
}

/// Appends one map row holding `attrs`.
pub(crate) fn append_attributes(map: &mut AttrMapBuilder, attrs: &[KeyValue], scratch: &mut String) {
    for_each_unique(attrs, |kv| {
        map.keys().append_value(&kv.key);
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => map.values().append_value(s),
            other => {
                scratch.clear();
                render_value(other, scratch);
                map.values().append_value(scratch.as_str());
            }
        }
    });
    close_map(map);
}

/// An attribute list, however it was decoded, as one map row: the column
/// builders shared by the prost path and the wire walkers take either.
pub(crate) trait AttributeList {
    fn append_row(&self, map: &mut AttrMapBuilder, scratch: &mut String);
}

impl AttributeList for [KeyValue] {
    fn append_row(&self, map: &mut AttrMapBuilder, scratch: &mut String) {
        append_attributes(map, self, scratch);
    }
}

/// `AnyValue.AsString()`: the text stored for an attribute value or log body.
pub(crate) fn render_any(value: Option<&AnyValue>, out: &mut String) {
    render_value(value.and_then(|v| v.value.as_ref()), out);
}

pub(crate) fn render_value(value: Option<&Value>, out: &mut String) {
    match value {
        None | Some(Value::StringValueStrindex(_)) => {}
        Some(Value::StringValue(s)) => out.push_str(s),
        Some(Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Value::DoubleValue(d)) => format_double(*d, out),
        Some(Value::BytesValue(bytes)) => base64_encode(bytes, out),
        Some(v @ (Value::ArrayValue(_) | Value::KvlistValue(_))) => write_json(Some(v), out),
    }
}

/// A value inside an array or key-value list: typed JSON.
fn write_json(value: Option<&Value>, out: &mut String) {
    match value {
        None | Some(Value::StringValueStrindex(_)) => out.push_str("null"),
        Some(Value::StringValue(s)) => json_string(s, out),
        Some(Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Value::DoubleValue(d)) if d.is_finite() => format_double(*d, out),
        Some(Value::DoubleValue(d)) => {
            out.push('"');
            format_double(*d, out);
            out.push('"');
        }
        Some(Value::BytesValue(bytes)) => {
            out.push('"');
            base64_encode(bytes, out);
            out.push('"');
        }
        Some(Value::ArrayValue(array)) => {
            out.push('[');
            for (i, item) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item.value.as_ref(), out);
            }
            out.push(']');
        }
        Some(Value::KvlistValue(list)) => {
            let mut entries: Vec<&KeyValue> = Vec::with_capacity(list.values.len());
            for_each_unique(&list.values, |kv| entries.push(kv));
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            out.push('{');
            for (i, kv) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(&kv.key, out);
                out.push(':');
                write_json(kv.value.as_ref().and_then(|v| v.value.as_ref()), out);
            }
            out.push('}');
        }
    }
}

/// An attribute list rendered once, to be copied into many rows.
#[derive(Debug, Default)]
pub(crate) struct RenderedAttributes {
    pairs: Vec<(String, String)>,
}

impl RenderedAttributes {
    pub(crate) fn new(attrs: &[KeyValue]) -> Self {
        let mut pairs = Vec::with_capacity(attrs.len());
        for_each_unique(attrs, |kv| {
            let mut value = String::new();
            render_any(kv.value.as_ref(), &mut value);
            pairs.push((kv.key.clone(), value));
        });
        RenderedAttributes { pairs }
    }

    /// What one more row holding these attributes stores: keys, values and
    /// two offsets per entry.
    pub(crate) fn row_bytes(&self) -> usize {
        self.pairs.iter().map(|(k, v)| k.len() + v.len() + 8).sum()
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Appends one map row holding these attributes.
    pub(crate) fn append_to(&self, map: &mut AttrMapBuilder) {
        for (key, value) in &self.pairs {
            map.keys().append_value(key);
            map.values().append_value(value);
        }
        close_map(map);
    }
}

/// What every row of one resource shares.
pub(crate) struct ResourceContext<'a> {
    pub attributes: RenderedAttributes,
    /// The `service.name` resource attribute, empty when absent.
    pub service_name: String,
    pub schema_url: &'a str,
}

impl<'a> ResourceContext<'a> {
    pub(crate) fn new(resource: Option<&Resource>, schema_url: &'a str) -> Self {
        let attributes = RenderedAttributes::new(resource.map_or(&[][..], |r| &r.attributes));
        let service_name = attributes.get("service.name").unwrap_or_default().to_string();
        ResourceContext { attributes, service_name, schema_url }
    }

    /// Bytes every row of this resource copies from it.
    pub(crate) fn row_bytes(&self) -> usize {
        self.attributes.row_bytes() + self.service_name.len() + self.schema_url.len()
    }
}

/// What every row of one instrumentation scope shares.
pub(crate) struct ScopeContext<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub attributes: RenderedAttributes,
    pub schema_url: &'a str,
}

impl<'a> ScopeContext<'a> {
    pub(crate) fn new(scope: Option<&'a InstrumentationScope>, schema_url: &'a str) -> Self {
        ScopeContext {
            name: scope.map_or("", |s| s.name.as_str()),
            version: scope.map_or("", |s| s.version.as_str()),
            attributes: RenderedAttributes::new(scope.map_or(&[][..], |s| &s.attributes)),
            schema_url,
        }
    }

    /// Bytes every row of this scope copies from it.
    pub(crate) fn row_bytes(&self) -> usize {
        self.name.len() + self.version.len() + self.attributes.row_bytes() + self.schema_url.len()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arrow_array::{Array, MapArray, StringArray};
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    pub(crate) use crate::fixtures::{kv, s};

    /// The entries of map row `row` as (key, value) pairs.
    pub(crate) fn map_entries(map: &MapArray, row: usize) -> Vec<(String, String)> {
        let entries = map.value(row);
        let keys = entries.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        let values = entries.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        (0..entries.len()).map(|i| (keys.value(i).to_string(), values.value(i).to_string())).collect()
    }

    fn render(value: Value) -> String {
        let mut out = String::new();
        render_value(Some(&value), &mut out);
        out
    }

    #[test]
    fn scalars_render_like_pdata() {
        assert_eq!(render(s("plain")), "plain");
        assert_eq!(render(Value::BoolValue(true)), "true");
        assert_eq!(render(Value::IntValue(-42)), "-42");
        assert_eq!(render(Value::DoubleValue(1.5)), "1.5");
        assert_eq!(render(Value::DoubleValue(2.0)), "2");
        assert_eq!(render(Value::BytesValue(b"hi!".to_vec())), "aGkh");
        let mut empty = String::new();
        render_any(Some(&AnyValue { value: None }), &mut empty);
        assert_eq!(empty, "");
    }

    #[test]
    fn nested_values_render_as_compact_json() {
        let array = Value::ArrayValue(ArrayValue {
            values: vec![
                AnyValue { value: Some(s("a\"b")) },
                AnyValue { value: Some(Value::IntValue(5)) },
                AnyValue { value: Some(Value::DoubleValue(2.5)) },
                AnyValue { value: Some(Value::BoolValue(false)) },
                AnyValue { value: None },
            ],
        });
        assert_eq!(render(array), r#"["a\"b",5,2.5,false,null]"#);
        let list = Value::KvlistValue(KeyValueList {
            values: vec![
                kv("z", Value::IntValue(1)),
                kv("a", s("x")),
                kv("z", Value::IntValue(2)),
                kv(
                    "m",
                    Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue { value: Some(Value::BytesValue(vec![1])) }],
                    }),
                ),
            ],
        });
        assert_eq!(render(list), r#"{"a":"x","m":["AQ=="],"z":2}"#);
    }

    #[test]
    fn maps_deduplicate_keys_last_wins() {
        let attrs = vec![kv("a", s("1")), kv("b", Value::IntValue(2)), kv("a", s("3"))];
        let mut builder = attr_map_builder(2, 4);
        let mut scratch = String::new();
        append_attributes(&mut builder, &attrs, &mut scratch);
        append_attributes(&mut builder, &[], &mut scratch);
        let map = builder.finish();
        assert_eq!(map_entries(&map, 0), vec![("b".into(), "2".into()), ("a".into(), "3".into())]);
        assert_eq!(map_entries(&map, 1), vec![]);
        assert!(!map.is_null(1));
    }

    #[test]
    fn long_lists_deduplicate_too() {
        let mut attrs: Vec<KeyValue> = (0..40).map(|i| kv(&format!("k{i}"), Value::IntValue(i))).collect();
        attrs.push(kv("k3", s("last")));
        let rendered = RenderedAttributes::new(&attrs);
        assert_eq!(rendered.pairs.len(), 40);
        assert_eq!(rendered.get("k3"), Some("last"));
        assert_eq!(rendered.pairs.last().unwrap().0, "k3");
    }

    #[test]
    fn service_name_comes_from_resource() {
        let resource =
            Resource { attributes: vec![kv("service.name", s("checkout")), kv("host", s("h1"))], ..Default::default() };
        let ctx = ResourceContext::new(Some(&resource), "https://schema");
        assert_eq!(ctx.service_name, "checkout");
        assert_eq!(ctx.schema_url, "https://schema");
        assert_eq!(ResourceContext::new(None, "").service_name, "");
    }
}
