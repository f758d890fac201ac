//! The signal tables, defined once as SQL column types.
//!
//! The SQL type strings in [`Table::columns`] are the single source of truth:
//! the DDL is printed from them and the Arrow schema the OTLP decoder builds
//! batches against is *parsed* from them, so the two cannot drift apart. The
//! Arrow side is chosen so that duckdb-rs' Arrow -> DuckDB type mapping gives
//! back exactly these SQL types (Utf8 -> VARCHAR, Timestamp(ns) -> TIMESTAMP_NS,
//! Map -> MAP, List -> X[], ...). Nested field names and nullability follow the
//! defaults of Arrow's builders (`entries`/`keys`/`values` for maps, `item` for
//! lists), so a batch built with those builders validates against the schema.
//! The writer inserts positionally: column order here is the table's order.

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, OnceLock};

/// One destination table of decoded OTLP data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Logs,
    Spans,
    MetricsGauge,
    MetricsSum,
    MetricsHistogram,
    MetricsExponentialHistogram,
    MetricsSummary,
}

/// One column: its name and its DuckDB SQL type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub sql_type: &'static str,
}

const fn c(name: &'static str, sql_type: &'static str) -> Column {
    Column { name, sql_type }
}

const ATTRS: &str = "MAP(VARCHAR, VARCHAR)";

const LOGS: &[Column] = &[
    c("timestamp", "TIMESTAMP_NS"),
    c("observed_timestamp", "TIMESTAMP_NS"),
    c("trace_id", "VARCHAR"),
    c("span_id", "VARCHAR"),
    c("trace_flags", "UINTEGER"),
    c("severity_text", "VARCHAR"),
    c("severity_number", "INTEGER"),
    c("service_name", "VARCHAR"),
    c("body", "VARCHAR"),
    c("event_name", "VARCHAR"),
    c("resource_schema_url", "VARCHAR"),
    c("resource_attributes", ATTRS),
    c("scope_schema_url", "VARCHAR"),
    c("scope_name", "VARCHAR"),
    c("scope_version", "VARCHAR"),
    c("scope_attributes", ATTRS),
    c("log_attributes", ATTRS),
];

const SPANS: &[Column] = &[
    c("timestamp", "TIMESTAMP_NS"),
    c("trace_id", "VARCHAR"),
    c("span_id", "VARCHAR"),
    c("parent_span_id", "VARCHAR"),
    c("trace_state", "VARCHAR"),
    c("span_name", "VARCHAR"),
    c("span_kind", "VARCHAR"),
    c("service_name", "VARCHAR"),
    c("resource_schema_url", "VARCHAR"),
    c("resource_attributes", ATTRS),
    c("scope_name", "VARCHAR"),
    c("scope_version", "VARCHAR"),
    c("span_attributes", ATTRS),
    c("duration", "BIGINT"),
    c("end_timestamp", "TIMESTAMP_NS"),
    c("status_code", "VARCHAR"),
    c("status_message", "VARCHAR"),
    c("events", "STRUCT(timestamp TIMESTAMP_NS, name VARCHAR, attributes MAP(VARCHAR, VARCHAR))[]"),
    c("links", "STRUCT(trace_id VARCHAR, span_id VARCHAR, trace_state VARCHAR, attributes MAP(VARCHAR, VARCHAR))[]"),
];

const EXEMPLARS: Column = c(
    "exemplars",
    "STRUCT(filtered_attributes MAP(VARCHAR, VARCHAR), timestamp TIMESTAMP_NS, value DOUBLE, span_id VARCHAR, trace_id VARCHAR)[]",
);

/// The leading columns shared by every `metrics_*` table, then the table's own.
macro_rules! metric_columns {
    ($($extra:expr),* $(,)?) => {
        &[
            c("resource_attributes", ATTRS),
            c("resource_schema_url", "VARCHAR"),
            c("scope_name", "VARCHAR"),
            c("scope_version", "VARCHAR"),
            c("scope_attributes", ATTRS),
            c("scope_schema_url", "VARCHAR"),
            c("service_name", "VARCHAR"),
            c("metric_name", "VARCHAR"),
            c("metric_description", "VARCHAR"),
            c("metric_unit", "VARCHAR"),
            c("attributes", ATTRS),
            c("start_timestamp", "TIMESTAMP_NS"),
            c("timestamp", "TIMESTAMP_NS"),
            c("flags", "UINTEGER"),
            $($extra),*
        ]
    };
}

const METRICS_GAUGE: &[Column] = metric_columns![EXEMPLARS, c("value", "DOUBLE")];

const METRICS_SUM: &[Column] = metric_columns![
    EXEMPLARS,
    c("value", "DOUBLE"),
    c("aggregation_temporality", "INTEGER"),
    c("is_monotonic", "BOOLEAN"),
];

const METRICS_HISTOGRAM: &[Column] = metric_columns![
    EXEMPLARS,
    c("count", "UBIGINT"),
    c("sum", "DOUBLE"),
    c("bucket_counts", "UBIGINT[]"),
    c("explicit_bounds", "DOUBLE[]"),
    c("min", "DOUBLE"),
    c("max", "DOUBLE"),
    c("aggregation_temporality", "INTEGER"),
];

const METRICS_EXPONENTIAL_HISTOGRAM: &[Column] = metric_columns![
    EXEMPLARS,
    c("count", "UBIGINT"),
    c("sum", "DOUBLE"),
    c("scale", "INTEGER"),
    c("zero_count", "UBIGINT"),
    c("zero_threshold", "DOUBLE"),
    c("positive_offset", "INTEGER"),
    c("positive_bucket_counts", "UBIGINT[]"),
    c("negative_offset", "INTEGER"),
    c("negative_bucket_counts", "UBIGINT[]"),
    c("min", "DOUBLE"),
    c("max", "DOUBLE"),
    c("aggregation_temporality", "INTEGER"),
];

const METRICS_SUMMARY: &[Column] = metric_columns![
    c("count", "UBIGINT"),
    c("sum", "DOUBLE"),
    c("quantile_values", "STRUCT(quantile DOUBLE, value DOUBLE)[]"),
];

impl Table {
    pub fn all() -> [Table; 7] {
        [
            Table::Logs,
            Table::Spans,
            Table::MetricsGauge,
            Table::MetricsSum,
            Table::MetricsHistogram,
            Table::MetricsExponentialHistogram,
            Table::MetricsSummary,
        ]
    }

    pub fn name(self) -> &'static str {
        match self {
            Table::Logs => "logs",
            Table::Spans => "spans",
            Table::MetricsGauge => "metrics_gauge",
            Table::MetricsSum => "metrics_sum",
            Table::MetricsHistogram => "metrics_histogram",
            Table::MetricsExponentialHistogram => "metrics_exponential_histogram",
            Table::MetricsSummary => "metrics_summary",
        }
    }

    /// The table called `name`, if it is one of ours.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::all().into_iter().find(|table| table.name() == name)
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            Table::Logs => LOGS,
            Table::Spans => SPANS,
            Table::MetricsGauge => METRICS_GAUGE,
            Table::MetricsSum => METRICS_SUM,
            Table::MetricsHistogram => METRICS_HISTOGRAM,
            Table::MetricsExponentialHistogram => METRICS_EXPONENTIAL_HISTOGRAM,
            Table::MetricsSummary => METRICS_SUMMARY,
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The Arrow schema of this table's batches, parsed once from `columns()`.
    /// Every field is nullable (except map keys, which Arrow requires non-null).
    pub fn arrow_schema(self) -> SchemaRef {
        static SCHEMAS: [OnceLock<SchemaRef>; 7] = [const { OnceLock::new() }; 7];
        SCHEMAS[self.index()]
            .get_or_init(|| {
                let fields: Vec<Field> =
                    self.columns().iter().map(|col| Field::new(col.name, parse_sql_type(col.sql_type), true)).collect();
                Arc::new(Schema::new(fields))
            })
            .clone()
    }

    /// `CREATE TABLE IF NOT EXISTS {qualified_schema}.{name} (...)`; column
    /// names are quoted (several, such as `timestamp` or `count`, are keywords).
    pub fn create_sql(self, qualified_schema: &str) -> String {
        let mut sql = format!("CREATE TABLE IF NOT EXISTS {qualified_schema}.{} (", self.name());
        for (i, col) in self.columns().iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('"');
            sql.push_str(col.name);
            sql.push_str("\" ");
            sql.push_str(col.sql_type);
        }
        sql.push(')');
        sql
    }
}

/// Parses the small SQL type language used in `columns()`: scalar names,
/// `MAP(K, V)`, `STRUCT(name T, ...)` and the `[]` list suffix. The input is
/// static and covered by tests, so malformed input is a programming error.
fn parse_sql_type(sql: &str) -> DataType {
    let mut parser = TypeParser { rest: sql };
    let ty = parser.parse();
    assert!(parser.rest.trim().is_empty(), "trailing text in SQL type {sql:?}");
    ty
}

struct TypeParser<'a> {
    rest: &'a str,
}

impl TypeParser<'_> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn ident(&mut self) -> &str {
        self.skip_ws();
        let end = self.rest.find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')).unwrap_or(self.rest.len());
        let (ident, rest) = self.rest.split_at(end);
        assert!(!ident.is_empty(), "expected a name at {:?}", self.rest);
        self.rest = rest;
        ident
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, token: &str) {
        assert!(self.eat(token), "expected {token:?} at {:?}", self.rest);
    }

    fn parse(&mut self) -> DataType {
        let name = self.ident().to_ascii_uppercase();
        let mut ty = match name.as_str() {
            "VARCHAR" => DataType::Utf8,
            "TIMESTAMP_NS" => DataType::Timestamp(TimeUnit::Nanosecond, None),
            "BIGINT" => DataType::Int64,
            "UBIGINT" => DataType::UInt64,
            "INTEGER" => DataType::Int32,
            "UINTEGER" => DataType::UInt32,
            "DOUBLE" => DataType::Float64,
            "BOOLEAN" => DataType::Boolean,
            "MAP" => {
                self.expect("(");
                let key = self.parse();
                self.expect(",");
                let value = self.parse();
                self.expect(")");
                map_type(key, value)
            }
            "STRUCT" => {
                self.expect("(");
                let mut fields = Vec::new();
                loop {
                    let field_name = self.ident().to_string();
                    let field_type = self.parse();
                    fields.push(Field::new(field_name, field_type, true));
                    if !self.eat(",") {
                        break;
                    }
                }
                self.expect(")");
                DataType::Struct(Fields::from(fields))
            }
            other => panic!("unknown SQL type {other}"),
        };
        while self.eat("[]") {
            ty = DataType::List(Arc::new(Field::new_list_field(ty, true)));
        }
        ty
    }
}

/// The type `MapBuilder` produces with default field names.
fn map_type(key: DataType, value: DataType) -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![Field::new("keys", key, false), Field::new("values", value, true)])),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{MapBuilder, StringBuilder};
    use arrow_array::Array;

    /// The SQL type DuckDB gives an Arrow type (mirrors duckdb-rs'
    /// `to_duckdb_logical_type` for the types this crate uses).
    fn duckdb_sql_type(ty: &DataType) -> String {
        match ty {
            DataType::Utf8 => "VARCHAR".into(),
            DataType::Timestamp(TimeUnit::Nanosecond, None) => "TIMESTAMP_NS".into(),
            DataType::Int64 => "BIGINT".into(),
            DataType::UInt64 => "UBIGINT".into(),
            DataType::Int32 => "INTEGER".into(),
            DataType::UInt32 => "UINTEGER".into(),
            DataType::Float64 => "DOUBLE".into(),
            DataType::Boolean => "BOOLEAN".into(),
            DataType::List(item) => format!("{}[]", duckdb_sql_type(item.data_type())),
            DataType::Struct(fields) => {
                let inner: Vec<String> =
                    fields.iter().map(|f| format!("{} {}", f.name(), duckdb_sql_type(f.data_type()))).collect();
                format!("STRUCT({})", inner.join(", "))
            }
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => {
                    assert!(!kv[0].is_nullable(), "map keys must be non-null");
                    format!("MAP({}, {})", duckdb_sql_type(kv[0].data_type()), duckdb_sql_type(kv[1].data_type()))
                }
                other => panic!("map entries must be a 2-field struct, got {other}"),
            },
            other => panic!("type {other} is not used by canardstack tables"),
        }
    }

    #[test]
    fn arrow_schema_agrees_with_columns() {
        for table in Table::all() {
            let schema = table.arrow_schema();
            let columns = table.columns();
            assert_eq!(schema.fields().len(), columns.len(), "{}", table.name());
            for (field, col) in schema.fields().iter().zip(columns) {
                assert_eq!(field.name(), col.name, "{}", table.name());
                assert_eq!(duckdb_sql_type(field.data_type()), col.sql_type, "{}.{}", table.name(), col.name);
            }
        }
    }

    #[test]
    fn explicit_type_mappings() {
        assert_eq!(parse_sql_type("VARCHAR"), DataType::Utf8);
        assert_eq!(parse_sql_type("TIMESTAMP_NS"), DataType::Timestamp(TimeUnit::Nanosecond, None));
        assert_eq!(parse_sql_type("UBIGINT"), DataType::UInt64);
        assert_eq!(parse_sql_type("UINTEGER"), DataType::UInt32);
        assert_eq!(parse_sql_type("BOOLEAN"), DataType::Boolean);
        match parse_sql_type("DOUBLE[]") {
            DataType::List(item) => {
                assert_eq!(item.data_type(), &DataType::Float64);
                assert_eq!(item.name(), "item");
            }
            other => panic!("{other}"),
        }
        match parse_sql_type("STRUCT(quantile DOUBLE, value DOUBLE)[]") {
            DataType::List(item) => match item.data_type() {
                DataType::Struct(fields) => {
                    assert_eq!(fields[0].name(), "quantile");
                    assert_eq!(fields[1].name(), "value");
                }
                other => panic!("{other}"),
            },
            other => panic!("{other}"),
        }
    }

    #[test]
    fn map_type_is_what_map_builder_produces() {
        let mut builder = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        builder.keys().append_value("k");
        builder.values().append_value("v");
        builder.append(true).unwrap();
        let array = builder.finish();
        assert_eq!(array.data_type(), &parse_sql_type("MAP(VARCHAR, VARCHAR)"));
    }

    #[test]
    fn tables_are_found_by_their_names() {
        for table in Table::all() {
            assert_eq!(Table::from_name(table.name()), Some(table));
        }
        assert_eq!(Table::from_name("canardstack_checkpoints"), None);
    }

    #[test]
    fn names_are_unique_and_snake_case() {
        let mut names: Vec<&str> = Table::all().iter().map(|t| t.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 7);
        for table in Table::all() {
            let mut cols: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
            let n = cols.len();
            cols.sort();
            cols.dedup();
            assert_eq!(cols.len(), n, "duplicate column in {}", table.name());
            for col in cols {
                assert!(col.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            }
        }
    }

    #[test]
    fn metrics_tables_share_leading_columns() {
        let gauge = Table::MetricsGauge.columns();
        assert_eq!(gauge[14].name, "exemplars");
        for table in
            [Table::MetricsSum, Table::MetricsHistogram, Table::MetricsExponentialHistogram, Table::MetricsSummary]
        {
            assert_eq!(&table.columns()[..14], &gauge[..14], "{}", table.name());
        }
        assert!(Table::MetricsSummary.columns().iter().all(|c| c.name != "exemplars"));
    }

    #[test]
    fn create_sql_lists_columns_in_order() {
        let sql = Table::MetricsSummary.create_sql("lake.otel");
        assert!(sql.starts_with(
            "CREATE TABLE IF NOT EXISTS lake.otel.metrics_summary (\"resource_attributes\" MAP(VARCHAR, VARCHAR), "
        ));
        assert!(sql.ends_with(
            "\"count\" UBIGINT, \"sum\" DOUBLE, \"quantile_values\" STRUCT(quantile DOUBLE, value DOUBLE)[])"
        ));
        let logs = Table::Logs.create_sql("otel");
        assert!(logs.starts_with(
            "CREATE TABLE IF NOT EXISTS otel.logs (\"timestamp\" TIMESTAMP_NS, \"observed_timestamp\" TIMESTAMP_NS, "
        ));
    }
}
